//! The three-payer engine of policy.md ("One-stop medical settlement"): basic insurance per bill,
//! then critical-illness insurance and medical assistance, each truing the person's year up to
//! `F_k` of the year's base under the rules of the bill's day.
//!
//! Over 400 lines because its property tests (order independence, reversal as the exact inverse)
//! and the worked examples stay beside the rules they pin; the rules themselves are 290 lines.

use doudi_core::money::Overflow;
use doudi_core::policy::{HospitalLevel, PolicyVersion, Segment};
use doudi_core::{Bp, Category, Fen};
use serde::{Deserialize, Serialize};

/// Room under a cap for a payer that has none.
pub const NO_CAP: Fen = Fen(i64::MAX);

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum VisitType {
    Inpatient,
    Outpatient,
}

impl VisitType {
    pub fn as_str(self) -> &'static str {
        match self {
            VisitType::Inpatient => "INPATIENT",
            VisitType::Outpatient => "OUTPATIENT",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "INPATIENT" => Some(VisitType::Inpatient),
            "OUTPATIENT" => Some(VisitType::Outpatient),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Payer {
    Basic,
    CriticalIllness,
    MedicalAssistance,
}

/// A person's accumulators for one calendar year (or, as a delta, what one bill added).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct YearAccumulators {
    pub basic_inpatient_paid: Fen,
    pub basic_outpatient_paid: Fen,
    pub critical_base: Fen,
    pub critical_paid: Fen,
    pub assistance_base: Fen,
    pub assistance_paid: Fen,
}

impl YearAccumulators {
    fn fields(&self) -> [Fen; 6] {
        [
            self.basic_inpatient_paid,
            self.basic_outpatient_paid,
            self.critical_base,
            self.critical_paid,
            self.assistance_base,
            self.assistance_paid,
        ]
    }

    fn from_fields(f: [Fen; 6]) -> Self {
        Self {
            basic_inpatient_paid: f[0],
            basic_outpatient_paid: f[1],
            critical_base: f[2],
            critical_paid: f[3],
            assistance_base: f[4],
            assistance_paid: f[5],
        }
    }

    fn combine(&self, other: &Self, op: fn(Fen, Fen) -> Result<Fen, Overflow>) -> Result<Self, Overflow> {
        let (a, b) = (self.fields(), other.fields());
        let mut out = [Fen::ZERO; 6];
        for i in 0..6 {
            out[i] = op(a[i], b[i])?;
        }
        Ok(Self::from_fields(out))
    }

    pub fn plus(&self, other: &Self) -> Result<Self, Overflow> {
        self.combine(other, Fen::checked_add)
    }

    pub fn minus(&self, other: &Self) -> Result<Self, Overflow> {
        self.combine(other, Fen::checked_sub)
    }
}

/// The parts of a bill the rules look at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BillFigures {
    pub visit: VisitType,
    pub level: HospitalLevel,
    pub total: Fen,
    pub in_policy: Fen,
}

/// How one payer's amount came about (see `TraceLine` in settlement.proto).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TraceLine {
    pub payer: Payer,
    pub base: Fen,
    pub deductible: Fen,
    pub rate: Bp,
    pub cap_room: Fen,
    pub amount: Fen,
    pub year_base_before: Fen,
    pub paid_before: Fen,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Calculation {
    pub basic: Fen,
    pub critical: Fen,
    pub assistance: Fen,
    pub copay: Fen,
    pub trace: [TraceLine; 3],
    /// What settling this bill adds to the person's year.
    pub added: YearAccumulators,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EngineError {
    #[error("amount out of range")]
    Overflow,
    #[error("the policy version has no rule for {0}")]
    MissingRule(String),
}

impl From<Overflow> for EngineError {
    fn from(_: Overflow) -> Self {
        EngineError::Overflow
    }
}

/// Half-up rounding of a sum of `amount × rate_bp` products, once: `(2p + 10000) div 20000`.
fn round_bp_product(product: i128) -> Result<Fen, Overflow> {
    let rounded = (2 * product + 10_000).div_euclid(20_000);
    i64::try_from(rounded).map(Fen).map_err(|_| Overflow)
}

fn positive_part(amount: Fen) -> Fen {
    Fen(amount.0.max(0))
}

/// `clamp(x, 0, high)`.
fn clamp_to(x: Fen, high: Fen) -> Fen {
    Fen(x.0.max(0).min(high.0.max(0)))
}

/// `F2(x)`: critical illness on the excess of the year's base over the threshold, by segments,
/// rounded once, capped. Returns the amount and the rate of the segment the excess reached.
pub fn critical_illness_due(
    year_base: Fen,
    threshold: Fen,
    segments: &[Segment],
    cap: Fen,
) -> Result<(Fen, Bp), Overflow> {
    let mut rest = positive_part(year_base.checked_sub(threshold)?).0;
    let mut product: i128 = 0;
    let mut reached = Bp(0);
    for segment in segments {
        if rest == 0 {
            break;
        }
        let width = segment.width_fen.map_or(rest, |w| w.0.min(rest));
        product += i128::from(width) * i128::from(segment.rate_bp.0);
        reached = segment.rate_bp;
        rest -= width;
    }
    Ok((round_bp_product(product)?.min(cap), reached))
}

/// `F3(x) = min(cap, round(rate × max(0, x − deductible)))`.
pub fn assistance_due(year_base: Fen, deductible: Fen, rate: Bp, cap: Option<Fen>) -> Result<Fen, Overflow> {
    let due = positive_part(year_base.checked_sub(deductible)?).apply_rate(rate)?;
    Ok(cap.map_or(due, |c| due.min(c)))
}

fn room(cap: Fen, paid: Fen) -> Fen {
    positive_part(Fen(cap.0.saturating_sub(paid.0)))
}

/// Settles `bill` for a person of `category` whose year so far is `before`, under `policy`.
pub fn calculate(
    bill: &BillFigures,
    category: Category,
    policy: &PolicyVersion,
    before: &YearAccumulators,
) -> Result<Calculation, EngineError> {
    // Payer 1: basic insurance, per bill, under a yearly cap per visit type.
    let basic_rules = &policy.basic_insurance;
    let (rule, cap1, paid1_before) = match bill.visit {
        VisitType::Inpatient => (
            *basic_rules
                .inpatient
                .get(&bill.level)
                .ok_or_else(|| EngineError::MissingRule(format!("inpatient {}", bill.level.as_str())))?,
            basic_rules.inpatient_annual_cap_fen,
            before.basic_inpatient_paid,
        ),
        VisitType::Outpatient => {
            (basic_rules.outpatient, basic_rules.outpatient_annual_cap_fen, before.basic_outpatient_paid)
        }
    };
    let room1 = room(cap1, paid1_before);
    let pay1 = positive_part(bill.in_policy.checked_sub(rule.deductible_fen)?).apply_rate(rule.rate_bp)?.min(room1);

    // Payer 2: critical illness on what payer 1 left of the in-policy amount.
    let ci = &policy.critical_illness;
    let base2 = bill.in_policy.checked_sub(pay1)?;
    let threshold = if category.is_poor() { ci.poor_threshold_fen } else { ci.threshold_fen };
    let year_base2 = before.critical_base.checked_add(base2)?;
    let (due2, rate2) = critical_illness_due(year_base2, threshold, &ci.segments, ci.annual_cap_fen)?;
    let pay2 = clamp_to(due2.checked_sub(before.critical_paid)?, base2);

    // Payer 3: medical assistance by category. A bill settled as NONE adds nothing to payer 3's
    // year: assistance never reaches back to costs from before a person was covered.
    let assistance = policy
        .medical_assistance
        .get(&category)
        .ok_or_else(|| EngineError::MissingRule(format!("medical assistance {category}")))?;
    let base3 = base2.checked_sub(pay2)?;
    let counts_for_assistance = category != Category::None;
    let pay3 = if counts_for_assistance {
        let due3 = assistance_due(
            before.assistance_base.checked_add(base3)?,
            assistance.deductible_fen,
            assistance.rate_bp,
            assistance.annual_cap_fen,
        )?;
        clamp_to(due3.checked_sub(before.assistance_paid)?, base3)
    } else {
        Fen::ZERO
    };

    let copay = bill.total.checked_sub(pay1)?.checked_sub(pay2)?.checked_sub(pay3)?;
    let mut added =
        YearAccumulators { critical_base: base2, critical_paid: pay2, assistance_paid: pay3, ..Default::default() };
    match bill.visit {
        VisitType::Inpatient => added.basic_inpatient_paid = pay1,
        VisitType::Outpatient => added.basic_outpatient_paid = pay1,
    }
    if counts_for_assistance {
        added.assistance_base = base3;
    }
    let trace = [
        TraceLine {
            payer: Payer::Basic,
            base: bill.in_policy,
            deductible: rule.deductible_fen,
            rate: rule.rate_bp,
            cap_room: room1,
            amount: pay1,
            year_base_before: Fen::ZERO,
            paid_before: paid1_before,
        },
        TraceLine {
            payer: Payer::CriticalIllness,
            base: base2,
            deductible: threshold,
            rate: rate2,
            cap_room: room(ci.annual_cap_fen, before.critical_paid),
            amount: pay2,
            year_base_before: before.critical_base,
            paid_before: before.critical_paid,
        },
        TraceLine {
            payer: Payer::MedicalAssistance,
            base: base3,
            deductible: assistance.deductible_fen,
            rate: assistance.rate_bp,
            cap_room: assistance.annual_cap_fen.map_or(NO_CAP, |cap| room(cap, before.assistance_paid)),
            amount: pay3,
            year_base_before: before.assistance_base,
            paid_before: before.assistance_paid,
        },
    ];
    Ok(Calculation { basic: pay1, critical: pay2, assistance: pay3, copay, trace, added })
}

#[cfg(test)]
mod tests {
    use super::*;
    use doudi_core::policy::PolicySet;
    use proptest::prelude::*;

    fn policy_on(day: &str) -> PolicyVersion {
        PolicySet::reference().in_force_on(day.parse().unwrap()).unwrap().clone()
    }

    fn inpatient(level: HospitalLevel, total: i64, in_policy: i64) -> BillFigures {
        BillFigures { visit: VisitType::Inpatient, level, total: Fen(total), in_policy: Fen(in_policy) }
    }

    #[test]
    fn worked_examples_of_policy_md() {
        let b1 = inpatient(HospitalLevel::County, 2_000_000, 1_800_000);
        let first = calculate(&b1, Category::Dibao2, &policy_on("2016-03-10"), &YearAccumulators::default()).unwrap();
        assert_eq!(
            (first.basic, first.critical, first.assistance, first.copay),
            (Fen(1_327_500), Fen(111_250), Fen(252_875), Fen(308_375))
        );
        let year = YearAccumulators::default().plus(&first.added).unwrap();
        let b2 = inpatient(HospitalLevel::Municipal, 9_000_000, 8_500_000);
        let second = calculate(&b2, Category::Dibao2, &policy_on("2016-09-02"), &year).unwrap();
        assert_eq!(
            (second.basic, second.critical, second.assistance, second.copay),
            (Fen(5_052_000), Fen(1_724_000), Fen(1_206_800), Fen(1_017_200))
        );
        // The trace explains B2's payer 2: F2(472 500 + 3 448 000) − 111 250.
        let t = second.trace[1];
        assert_eq!(
            (t.base, t.year_base_before, t.paid_before, t.deductible),
            (Fen(3_448_000), Fen(472_500), Fen(111_250), Fen(250_000))
        );
        assert_eq!(t.rate, Bp(5_000));
    }

    #[test]
    fn none_pays_no_assistance_and_accumulates_no_assistance_base() {
        let bill = inpatient(HospitalLevel::Township, 100_000, 100_000);
        let c = calculate(&bill, Category::None, &policy_on("2016-03-10"), &YearAccumulators::default()).unwrap();
        assert_eq!((c.basic, c.assistance, c.added.assistance_base), (Fen(72_250), Fen(0), Fen(0)));
        assert_eq!(c.copay, Fen(100_000 - 72_250));
    }

    #[test]
    fn tekun_has_no_cap_and_outpatient_has_its_own_basic_cap() {
        let bill = BillFigures {
            visit: VisitType::Outpatient,
            level: HospitalLevel::County,
            total: Fen(100_000),
            in_policy: Fen(100_000),
        };
        let before = YearAccumulators { basic_outpatient_paid: Fen(30_000), ..Default::default() };
        let c = calculate(&bill, Category::Tekun, &policy_on("2016-03-10"), &before).unwrap();
        assert_eq!(c.basic, Fen(10_000)); // the outpatient cap 40 000 leaves 10 000
        assert_eq!(c.trace[2].cap_room, NO_CAP);
        assert_eq!(c.assistance, Fen(100_000 - 10_000 - c.critical.0));
        assert_eq!(c.copay, Fen(0));
    }

    #[test]
    fn segments_round_once() {
        let segments =
            [Segment { width_fen: Some(Fen(1)), rate_bp: Bp(5_000) }, Segment { width_fen: None, rate_bp: Bp(5_000) }];
        // 1 × 0.5 + 1 × 0.5 = 1, not round(0.5) + round(0.5) = 2.
        assert_eq!(critical_illness_due(Fen(2), Fen(0), &segments, Fen(100)).unwrap(), (Fen(1), Bp(5_000)));
    }

    fn bill_strategy() -> impl Strategy<Value = BillFigures> {
        (0usize..4, any::<bool>(), 0i64..20_000_000, 0i64..=100).prop_map(
            |(level, outpatient, in_policy, extra_pct)| BillFigures {
                visit: if outpatient { VisitType::Outpatient } else { VisitType::Inpatient },
                level: HospitalLevel::ALL[level],
                in_policy: Fen(in_policy),
                total: Fen(in_policy + in_policy * extra_pct / 100),
            },
        )
    }

    fn category_strategy() -> impl Strategy<Value = Category> {
        (0usize..6).prop_map(|i| Category::ALL[i])
    }

    proptest! {
        /// Without reversals or a change of category within the year, payers 2 and 3 pay `F_k`
        /// of the yearly base in total, whatever the order of the bills.
        #[test]
        fn yearly_totals_are_f_of_the_yearly_base_in_any_order(
            bills in prop::collection::vec(bill_strategy(), 1..12),
            category in category_strategy(),
            seed in any::<u64>(),
        ) {
            let policy = policy_on("2016-06-01");
            let mut order: Vec<usize> = (0..bills.len()).collect();
            // A deterministic shuffle from the seed.
            let mut s = seed | 1;
            for i in (1..order.len()).rev() {
                s ^= s << 13; s ^= s >> 7; s ^= s << 17;
                order.swap(i, (s % (i as u64 + 1)) as usize);
            }
            let mut year = YearAccumulators::default();
            for &i in &order {
                let c = calculate(&bills[i], category, &policy, &year).unwrap();
                prop_assert_eq!(c.copay.0 + c.basic.0 + c.critical.0 + c.assistance.0, bills[i].total.0);
                prop_assert!(c.basic.0 >= 0 && c.critical.0 >= 0 && c.assistance.0 >= 0 && c.copay.0 >= 0);
                year = year.plus(&c.added).unwrap();
            }
            let ci = &policy.critical_illness;
            let threshold = if category.is_poor() { ci.poor_threshold_fen } else { ci.threshold_fen };
            let (f2, _) = critical_illness_due(year.critical_base, threshold, &ci.segments, ci.annual_cap_fen).unwrap();
            prop_assert_eq!(year.critical_paid, f2);
            let rule = policy.medical_assistance[&category];
            let f3 = if category == Category::None { Fen(0) } else {
                assistance_due(year.assistance_base, rule.deductible_fen, rule.rate_bp, rule.annual_cap_fen).unwrap()
            };
            prop_assert_eq!(year.assistance_paid, f3);
            prop_assert!(year.basic_inpatient_paid <= policy.basic_insurance.inpatient_annual_cap_fen);
            prop_assert!(year.basic_outpatient_paid <= policy.basic_insurance.outpatient_annual_cap_fen);
        }

        /// A reversal subtracts exactly what the bill added, so the year returns to before.
        #[test]
        fn plus_then_minus_is_identity(bill in bill_strategy(), category in category_strategy()) {
            let policy = policy_on("2016-06-01");
            let before = YearAccumulators { critical_base: Fen(300_000), critical_paid: Fen(25_000), ..Default::default() };
            let c = calculate(&bill, category, &policy, &before).unwrap();
            prop_assert_eq!(before.plus(&c.added).unwrap().minus(&c.added).unwrap(), before);
        }
    }
}
