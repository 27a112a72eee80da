//! Policy data versioned by effective date. The numbers live in a TOML file (the reference
//! policy ships inside the binary; a county points `policy.file` at its own), never in code.

use crate::{Bp, Category, Date, Fen, FieldViolation};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// The reference policy that ships with Doudi (`services/core/policy/reference.toml`).
pub const REFERENCE_POLICY: &str = include_str!("../policy/reference.toml");

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum HospitalLevel {
    Township,
    County,
    Municipal,
    Provincial,
}

impl HospitalLevel {
    pub const ALL: [HospitalLevel; 4] =
        [HospitalLevel::Township, HospitalLevel::County, HospitalLevel::Municipal, HospitalLevel::Provincial];

    pub fn as_str(self) -> &'static str {
        match self {
            HospitalLevel::Township => "TOWNSHIP",
            HospitalLevel::County => "COUNTY",
            HospitalLevel::Municipal => "MUNICIPAL",
            HospitalLevel::Provincial => "PROVINCIAL",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all(serialize = "camelCase"))]
pub struct DeductibleRate {
    pub deductible_fen: Fen,
    pub rate_bp: Bp,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all(serialize = "camelCase"))]
pub struct BasicInsurance {
    pub inpatient_annual_cap_fen: Fen,
    pub outpatient_annual_cap_fen: Fen,
    pub outpatient: DeductibleRate,
    pub inpatient: BTreeMap<HospitalLevel, DeductibleRate>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all(serialize = "camelCase"))]
pub struct Segment {
    /// Absent on the last segment, which takes the rest.
    pub width_fen: Option<Fen>,
    pub rate_bp: Bp,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all(serialize = "camelCase"))]
pub struct CriticalIllness {
    pub threshold_fen: Fen,
    pub poor_threshold_fen: Fen,
    pub annual_cap_fen: Fen,
    pub segments: Vec<Segment>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all(serialize = "camelCase"))]
pub struct AssistanceRule {
    pub deductible_fen: Fen,
    pub rate_bp: Bp,
    /// Absent means no cap.
    pub annual_cap_fen: Option<Fen>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all(serialize = "camelCase"))]
pub struct PriceSubsidy {
    pub cpi_trigger_bp: Bp,
    pub food_trigger_bp: Bp,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all(serialize = "camelCase"))]
pub struct TemporaryRelief {
    pub township_limit_standards: i64,
    pub county_limit_standards: i64,
    pub emergency_limit_standards: i64,
    pub documents_due_days: i64,
    pub grants_per_household_year: i64,
    pub household_year_limit_standards: i64,
}

/// Points of one "X" factor of the 3+X assessment: per occurrence, up to a maximum.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all(serialize = "camelCase"))]
pub struct FactorPoints {
    pub points: i64,
    pub max: i64,
}

/// The "3+X" dibao assessment (policy.md): the savings gate in standards per person, the score
/// that makes a household DIBAO_1, and the points of each factor.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all(serialize = "camelCase"))]
pub struct Assessment {
    pub savings_limit_standards: i64,
    pub dibao_1_min_score: i64,
    pub severely_disabled: FactorPoints,
    pub seriously_ill: FactorPoints,
    pub none_able_to_work: FactorPoints,
    pub elderly_living_alone: FactorPoints,
    pub single_parent_with_minor: FactorPoints,
    pub pupil: FactorPoints,
    pub disaster_this_year: FactorPoints,
}

/// One complete set of numbers, in force from `effective_from` until the next version.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all(serialize = "camelCase"))]
pub struct PolicyVersion {
    pub id: String,
    pub effective_from: Date,
    pub dibao_standard_fen: Fen,
    pub premium_fen: Fen,
    pub monthly_benefit_fen: BTreeMap<Category, Fen>,
    pub premium_subsidy_bp: BTreeMap<Category, Bp>,
    pub review_interval_months: BTreeMap<Category, i64>,
    pub basic_insurance: BasicInsurance,
    pub critical_illness: CriticalIllness,
    pub medical_assistance: BTreeMap<Category, AssistanceRule>,
    pub price_subsidy: PriceSubsidy,
    /// The most of each later payment of a kind withheld to recover an overpayment of it.
    #[serde(default = "half")]
    pub overpayment_recovery_max_bp: Bp,
    pub temporary_relief: TemporaryRelief,
    pub assessment: Assessment,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all(serialize = "camelCase"))]
struct PolicyFile {
    versions: Vec<PolicyVersion>,
}

fn half() -> Bp {
    Bp(5_000)
}

/// Every version, oldest first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicySet {
    versions: Vec<PolicyVersion>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PolicyError {
    #[error("policy file is not valid TOML of the policy's shape: {0}")]
    Syntax(String),
    #[error("policy file is invalid: {}", .0.iter().map(ToString::to_string).collect::<Vec<_>>().join("; "))]
    Invalid(Vec<FieldViolation>),
}

impl PolicySet {
    pub fn reference() -> Self {
        Self::from_toml(REFERENCE_POLICY).unwrap_or_else(|e| panic!("the reference policy is invalid: {e}"))
    }

    pub fn from_toml(text: &str) -> Result<Self, PolicyError> {
        let file: PolicyFile = toml::from_str(text).map_err(|e| PolicyError::Syntax(e.to_string()))?;
        let violations = validate(&file.versions);
        if !violations.is_empty() {
            return Err(PolicyError::Invalid(violations));
        }
        Ok(Self { versions: file.versions })
    }

    /// The version in force on `day`: the latest whose `effective_from` ≤ `day`; `None` before
    /// the first version.
    pub fn in_force_on(&self, day: Date) -> Option<&PolicyVersion> {
        let after = self.versions.partition_point(|v| v.effective_from <= day);
        after.checked_sub(1).map(|i| &self.versions[i])
    }

    pub fn versions(&self) -> &[PolicyVersion] {
        &self.versions
    }
}

fn validate(versions: &[PolicyVersion]) -> Vec<FieldViolation> {
    let mut out = Vec::new();
    let mut bad = |field: String, description: &str| out.push(FieldViolation::new(field, description));
    if versions.is_empty() {
        bad("versions".into(), "at least one version is required");
    }
    for (i, v) in versions.iter().enumerate() {
        let at = |key: &str| format!("versions[{i}].{key}");
        if i > 0 && versions[i - 1].effective_from >= v.effective_from {
            bad(at("effective_from"), "versions must be in strictly increasing effective_from order");
        }
        if versions[..i].iter().any(|w| w.id == v.id) {
            bad(at("id"), "must be unique");
        }
        for (key, fen) in [("dibao_standard_fen", v.dibao_standard_fen), ("premium_fen", v.premium_fen)] {
            if fen.0 <= 0 {
                bad(at(key), "must be positive");
            }
        }
        for category in [Category::Tekun, Category::Dibao1, Category::Dibao2] {
            match v.monthly_benefit_fen.get(&category) {
                Some(f) if f.0 > 0 => {}
                _ => bad(at(&format!("monthly_benefit_fen.{category}")), "must be given and positive"),
            }
            if v.review_interval_months.get(&category).is_none_or(|m| *m <= 0) {
                bad(at(&format!("review_interval_months.{category}")), "must be given and positive");
            }
        }
        if !(0..=10_000).contains(&v.overpayment_recovery_max_bp.0) {
            bad(at("overpayment_recovery_max_bp"), "must be 0 to 10000 bp");
        }
        for (category, rate) in &v.premium_subsidy_bp {
            if !(0..=10_000).contains(&rate.0) {
                bad(at(&format!("premium_subsidy_bp.{category}")), "must be 0 to 10000 bp");
            }
        }
        let mut rates: Vec<(String, Bp)> =
            vec![("basic_insurance.outpatient.rate_bp".into(), v.basic_insurance.outpatient.rate_bp)];
        for level in HospitalLevel::ALL {
            let key = format!("basic_insurance.inpatient.{}", level.as_str());
            match v.basic_insurance.inpatient.get(&level) {
                Some(rule) => rates.push((format!("{key}.rate_bp"), rule.rate_bp)),
                None => bad(at(&key), "is missing"),
            }
        }
        let segments = &v.critical_illness.segments;
        if segments.is_empty() || segments.last().is_some_and(|s| s.width_fen.is_some()) {
            bad(at("critical_illness.segments"), "the last segment must have no width");
        }
        if segments.iter().rev().skip(1).any(|s| s.width_fen.is_none_or(|w| w.0 <= 0)) {
            bad(at("critical_illness.segments"), "every segment but the last needs a positive width_fen");
        }
        for (j, s) in segments.iter().enumerate() {
            rates.push((format!("critical_illness.segments[{j}].rate_bp"), s.rate_bp));
        }
        for category in Category::ALL {
            match v.medical_assistance.get(&category) {
                Some(rule) => rates.push((format!("medical_assistance.{category}.rate_bp"), rule.rate_bp)),
                None => bad(at(&format!("medical_assistance.{category}")), "is missing"),
            }
        }
        let a = &v.assessment;
        if a.savings_limit_standards <= 0 || a.dibao_1_min_score <= 0 {
            bad(at("assessment"), "savings_limit_standards and dibao_1_min_score must be positive");
        }
        for (key, f) in [
            ("severely_disabled", a.severely_disabled),
            ("seriously_ill", a.seriously_ill),
            ("none_able_to_work", a.none_able_to_work),
            ("elderly_living_alone", a.elderly_living_alone),
            ("single_parent_with_minor", a.single_parent_with_minor),
            ("pupil", a.pupil),
            ("disaster_this_year", a.disaster_this_year),
        ] {
            if f.points < 0 || f.max < f.points {
                bad(at(&format!("assessment.{key}")), "points must be at least 0 and max at least points");
            }
        }
        for (key, rate) in rates {
            if !(0..=10_000).contains(&rate.0) {
                bad(at(&key), "must be 0 to 10000 bp");
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn day(text: &str) -> Date {
        text.parse().unwrap()
    }

    #[test]
    fn reference_policy_loads_and_answers_by_day() {
        let policy = PolicySet::reference();
        assert!(policy.in_force_on(day("2014-12-31")).is_none());
        let v = policy.in_force_on(day("2015-06-30")).unwrap();
        assert_eq!((v.id.as_str(), v.monthly_benefit_fen[&Category::Dibao1]), ("ref-2015-01", Fen(24_600)));
        let v = policy.in_force_on(day("2015-07-01")).unwrap();
        assert_eq!(v.monthly_benefit_fen[&Category::Dibao2], Fen(23_400));
        let v = policy.in_force_on(day("2026-11-29")).unwrap();
        assert_eq!((v.premium_fen, v.critical_illness.poor_threshold_fen), (Fen(12_000), Fen(250_000)));
        assert_eq!(v.basic_insurance.inpatient[&HospitalLevel::County].rate_bp, Bp(7_500));
    }

    #[test]
    fn invalid_files_name_the_key() {
        let broken = REFERENCE_POLICY.replacen(
            "DIBAO_2 = { deductible_fen = 0, rate_bp = 7000",
            "DIBAO_2 = { deductible_fen = 0, rate_bp = 17000",
            1,
        );
        let err = PolicySet::from_toml(&broken).unwrap_err().to_string();
        assert!(err.contains("versions[0].medical_assistance.DIBAO_2.rate_bp: must be 0 to 10000 bp"), "{err}");
        let missing = REFERENCE_POLICY.replacen("inpatient.COUNTY =", "inpatient.COUNTRY =", 1);
        assert!(PolicySet::from_toml(&missing).is_err());
        let reordered =
            REFERENCE_POLICY.replacen("effective_from = \"2015-07-01\"", "effective_from = \"2014-07-01\"", 1);
        assert!(PolicySet::from_toml(&reordered).unwrap_err().to_string().contains("versions[1].effective_from"));
        assert!(matches!(PolicySet::from_toml("versions = 3"), Err(PolicyError::Syntax(_))));
    }
}
