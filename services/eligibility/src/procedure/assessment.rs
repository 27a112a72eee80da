//! The "3+X" dibao assessment of a household (policy.md): three gates that must all pass, and
//! factors that add points; the score decides the class. Every gate and factor is kept with the
//! figures behind it, so the decision can be explained to the applicant and audited.

use doudi_core::Date;
use doudi_core::policy::{Assessment as Rules, FactorPoints};
use serde::{Deserialize, Serialize};

/// A member's facts as the registry holds them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MemberFacts {
    pub disability_grade: i64,
    pub seriously_ill: bool,
    pub able_to_work: bool,
    pub publicly_funded: bool,
}

/// The household's declared economy, from the registry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Economy {
    pub monthly_income_fen: i64,
    pub savings_fen: i64,
    pub motor_vehicles: i64,
    pub vehicles_exempt: bool,
    pub commercial_properties: i64,
}

/// What the household investigation found that the registry does not hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Findings {
    pub elderly_living_alone: bool,
    pub single_parent_with_minor: bool,
    pub pupils: i64,
    pub disaster_this_year: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum DibaoClass {
    #[serde(rename = "DIBAO_1")]
    Dibao1,
    #[serde(rename = "DIBAO_2")]
    Dibao2,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Gate {
    pub name: String,
    pub passed: bool,
    /// The figures compared, in words.
    pub detail: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Factor {
    pub name: String,
    pub count: i64,
    pub points: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AssessmentResult {
    /// The standard S used (in force on the assessment day) and that day.
    pub standard_fen: i64,
    pub assessed_on: Date,
    pub gates: Vec<Gate>,
    pub factors: Vec<Factor>,
    pub score: i64,
    /// `None` when a gate failed: the household is not eligible for dibao.
    pub class: Option<DibaoClass>,
    /// A severely disabled or seriously ill member, or a single parent: first on the waiting list
    /// after poor villages.
    pub vulnerable: bool,
}

fn factor(name: &str, count: i64, rule: FactorPoints) -> Factor {
    Factor { name: name.to_owned(), count, points: (count.max(0) * rule.points).min(rule.max) }
}

fn gate(name: &str, passed: bool, detail: String) -> Gate {
    Gate { name: name.to_owned(), passed, detail }
}

/// Assesses a household of `members` under `rules` with the standard `standard_fen`.
pub fn assess(
    members: &[MemberFacts],
    economy: &Economy,
    findings: &Findings,
    rules: &Rules,
    standard_fen: i64,
    assessed_on: Date,
) -> AssessmentResult {
    let n = members.len().max(1) as i64;
    // Compared as products, so no division rounds a per-capita figure.
    let income_limit = standard_fen.saturating_mul(n);
    let savings_limit = standard_fen.saturating_mul(rules.savings_limit_standards).saturating_mul(n);
    let vehicles_ok = economy.motor_vehicles == 0 || economy.vehicles_exempt;
    let publicly_funded = members.iter().filter(|m| m.publicly_funded).count();
    let gates = vec![
        gate(
            "income",
            economy.monthly_income_fen < income_limit,
            format!(
                "monthly income {} fen for {n} persons; below {income_limit} fen (S × persons) passes",
                economy.monthly_income_fen
            ),
        ),
        gate(
            "assets",
            vehicles_ok && economy.savings_fen < savings_limit && economy.commercial_properties == 0,
            format!(
                "{} motor vehicles{}; savings {} fen, below {savings_limit} fen ({} S × persons) passes; {} commercial properties",
                economy.motor_vehicles,
                if economy.vehicles_exempt { " (for disability or farm work)" } else { "" },
                economy.savings_fen,
                rules.savings_limit_standards,
                economy.commercial_properties
            ),
        ),
        gate("public_funds", publicly_funded == 0, format!("{publicly_funded} members paid from public funds")),
    ];
    let severely_disabled = members.iter().filter(|m| (1..=2).contains(&m.disability_grade)).count() as i64;
    let seriously_ill = members.iter().filter(|m| m.seriously_ill).count() as i64;
    let none_able = !members.is_empty() && members.iter().all(|m| !m.able_to_work);
    let factors = vec![
        factor("severely_disabled", severely_disabled, rules.severely_disabled),
        factor("seriously_ill", seriously_ill, rules.seriously_ill),
        factor("none_able_to_work", i64::from(none_able), rules.none_able_to_work),
        factor("elderly_living_alone", i64::from(findings.elderly_living_alone), rules.elderly_living_alone),
        factor(
            "single_parent_with_minor",
            i64::from(findings.single_parent_with_minor),
            rules.single_parent_with_minor,
        ),
        factor("pupil", findings.pupils, rules.pupil),
        factor("disaster_this_year", i64::from(findings.disaster_this_year), rules.disaster_this_year),
    ];
    let score = factors.iter().map(|f| f.points).sum();
    let class = gates.iter().all(|g| g.passed).then_some(if score >= rules.dibao_1_min_score {
        DibaoClass::Dibao1
    } else {
        DibaoClass::Dibao2
    });
    let vulnerable = severely_disabled > 0 || seriously_ill > 0 || findings.single_parent_with_minor;
    AssessmentResult { standard_fen, assessed_on, gates, factors, score, class, vulnerable }
}

#[cfg(test)]
mod tests {
    use super::*;
    use doudi_core::policy::PolicySet;

    fn rules() -> Rules {
        PolicySet::reference().in_force_on("2016-01-01".parse().unwrap()).unwrap().assessment.clone()
    }

    fn member(disability_grade: i64, seriously_ill: bool, able_to_work: bool) -> MemberFacts {
        MemberFacts { disability_grade, seriously_ill, able_to_work, publicly_funded: false }
    }

    fn economy(income: i64) -> Economy {
        Economy {
            monthly_income_fen: income,
            savings_fen: 0,
            motor_vehicles: 0,
            vehicles_exempt: false,
            commercial_properties: 0,
        }
    }

    const S: i64 = 27_500;

    /// Hand-worked: three members (a grade-1 disabled parent, a seriously ill parent, a pupil
    /// child able to work), income 60 000 < 3 × 27 500: 20 + 20 + 5 = 45 → DIBAO_2.
    #[test]
    fn hand_worked_dibao_2() {
        let members = [member(1, false, false), member(0, true, false), member(0, false, true)];
        let findings = Findings { pupils: 1, ..Default::default() };
        let a = assess(&members, &economy(60_000), &findings, &rules(), S, "2016-04-01".parse().unwrap());
        assert!(a.gates.iter().all(|g| g.passed), "{a:?}");
        let points: Vec<(&str, i64)> =
            a.factors.iter().filter(|f| f.points > 0).map(|f| (f.name.as_str(), f.points)).collect();
        assert_eq!(points, [("severely_disabled", 20), ("seriously_ill", 20), ("pupil", 5)]);
        assert_eq!((a.score, a.class, a.vulnerable), (45, Some(DibaoClass::Dibao2), true));
    }

    /// Hand-worked: an elderly person alone, unable to work, grade-2 disabled and ill, in a year
    /// of disaster: 20 + 20 + 30 + 15 + 10 = 95 → DIBAO_1.
    #[test]
    fn hand_worked_dibao_1_and_caps() {
        let findings =
            Findings { elderly_living_alone: true, disaster_this_year: true, pupils: 9, ..Default::default() };
        let a = assess(&[member(2, true, false)], &economy(0), &findings, &rules(), S, "2016-04-01".parse().unwrap());
        assert_eq!(a.score, 20 + 20 + 30 + 15 + 15 + 10, "pupils are capped at 15");
        assert_eq!(a.class, Some(DibaoClass::Dibao1));
    }

    #[test]
    fn each_gate_can_fail_on_its_own() {
        let day = "2016-04-01".parse().unwrap();
        let members = [member(0, false, true), member(0, false, true)];
        let failed =
            |a: &AssessmentResult| a.gates.iter().filter(|g| !g.passed).map(|g| g.name.clone()).collect::<Vec<_>>();
        let rich = assess(&members, &economy(2 * S), &Findings::default(), &rules(), S, day);
        assert_eq!((failed(&rich), rich.class), (vec!["income".to_owned()], None));
        let car = Economy { motor_vehicles: 1, ..economy(0) };
        assert_eq!(failed(&assess(&members, &car, &Findings::default(), &rules(), S, day)), ["assets"]);
        let exempt = Economy { motor_vehicles: 1, vehicles_exempt: true, ..economy(0) };
        assert!(failed(&assess(&members, &exempt, &Findings::default(), &rules(), S, day)).is_empty());
        let saver = Economy { savings_fen: 12 * S * 2, ..economy(0) };
        assert_eq!(failed(&assess(&members, &saver, &Findings::default(), &rules(), S, day)), ["assets"]);
        let funded = [MemberFacts { publicly_funded: true, ..member(0, false, true) }];
        assert_eq!(failed(&assess(&funded, &economy(0), &Findings::default(), &rules(), S, day)), ["public_funds"]);
    }
}
