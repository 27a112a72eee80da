//! A hospital bill as the rules accept it: parsed once from what the caller sent, every field
//! checked, every problem reported with its field name.

use crate::settle::engine::VisitType;
use doudi_core::{Date, Fen, FieldViolation, NationalId, Violations};

/// The largest amount a bill may carry (100 million yuan): far above any real bill, far below
/// where sums of a year's bills could overflow.
pub const MAX_BILL_FEN: i64 = 10_000_000_000;

/// A bill as received, before any check. `Debug` masks the national ID.
#[derive(Clone, Copy)]
pub struct RawBill<'a> {
    pub bill_no: &'a str,
    pub national_id: &'a str,
    /// `None` when the caller sent no visit type or one we do not know.
    pub visit: Option<VisitType>,
    pub admitted_on: &'a str,
    pub discharged_on: &'a str,
    pub total_fen: i64,
    pub in_policy_fen: i64,
}

impl std::fmt::Debug for RawBill<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RawBill")
            .field("bill_no", &self.bill_no)
            .field("national_id", &doudi_core::pii::mask_id_text(self.national_id))
            .field("visit", &self.visit)
            .field("admitted_on", &self.admitted_on)
            .field("discharged_on", &self.discharged_on)
            .field("total_fen", &self.total_fen)
            .field("in_policy_fen", &self.in_policy_fen)
            .finish()
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bill {
    pub bill_no: String,
    pub national_id: NationalId,
    pub visit: VisitType,
    pub admitted_on: Date,
    pub discharged_on: Date,
    pub total: Fen,
    pub in_policy: Fen,
}

/// `[A-Za-z0-9_-]{1,64}`.
pub fn check_bill_no(text: &str) -> Result<(), &'static str> {
    if text.is_empty() {
        return Err("is required");
    }
    if text.len() > 64 {
        return Err("is longer than 64 characters");
    }
    if !text.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-') {
        return Err("may contain only letters, digits, '_' and '-'");
    }
    Ok(())
}

fn check_amount(violations: &mut Violations, field: &str, fen: i64) {
    if fen < 0 {
        violations.add(field, "must not be negative");
    } else if fen > MAX_BILL_FEN {
        violations.add(field, format!("must be at most {MAX_BILL_FEN} fen"));
    }
}

fn check_day(violations: &mut Violations, field: &str, text: &str, today: Date) -> Option<Date> {
    let day = violations.check(field, text.parse::<Date>())?;
    if day > today {
        violations.add(field, "is in the future");
        return None;
    }
    Some(day)
}

impl Bill {
    /// Checks every field against `today` (China time); all violations at once.
    pub fn parse(raw: &RawBill<'_>, today: Date) -> Result<Bill, Vec<FieldViolation>> {
        let mut violations = Violations::new();
        let bill_no_ok = violations.check("billNo", check_bill_no(raw.bill_no)).is_some();
        let national_id = violations.check("nationalId", NationalId::parse_on(raw.national_id, today));
        if raw.visit.is_none() {
            violations.add("visitType", "must be INPATIENT or OUTPATIENT");
        }
        let discharged_on = check_day(&mut violations, "dischargedOn", raw.discharged_on, today);
        let admitted_on = if raw.admitted_on.is_empty() && raw.visit == Some(VisitType::Outpatient) {
            discharged_on
        } else {
            check_day(&mut violations, "admittedOn", raw.admitted_on, today)
        };
        if let (Some(admitted), Some(discharged)) = (admitted_on, discharged_on) {
            if discharged < admitted {
                violations.add("dischargedOn", "is before admittedOn");
            } else if raw.visit == Some(VisitType::Outpatient) && admitted != discharged {
                violations.add("admittedOn", "must be the visit day (dischargedOn) for an outpatient bill");
            }
        }
        check_amount(&mut violations, "totalFen", raw.total_fen);
        check_amount(&mut violations, "inPolicyFen", raw.in_policy_fen);
        if raw.in_policy_fen > raw.total_fen && raw.in_policy_fen >= 0 && raw.total_fen >= 0 {
            violations.add("inPolicyFen", "must not exceed totalFen");
        }
        match (bill_no_ok, national_id, raw.visit, admitted_on, discharged_on) {
            (true, Some(national_id), Some(visit), Some(admitted_on), Some(discharged_on)) if violations.is_empty() => {
                Ok(Bill {
                    bill_no: raw.bill_no.to_owned(),
                    national_id,
                    visit,
                    admitted_on,
                    discharged_on,
                    total: Fen(raw.total_fen),
                    in_policy: Fen(raw.in_policy_fen),
                })
            }
            _ => Err(violations.into_vec()),
        }
    }

    /// The bill's day: discharge (outpatient: the visit). Its year is the accumulation year.
    pub fn day(&self) -> Date {
        self.discharged_on
    }

    /// Everything that identifies the bill's content, for "same bill or a different one?".
    pub fn content_key(&self) -> String {
        format!(
            "{}|{}|{}|{}|{}|{}|{}",
            self.bill_no,
            self.national_id.expose(),
            self.visit.as_str(),
            self.admitted_on,
            self.discharged_on,
            self.total.0,
            self.in_policy.0
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_masks_the_national_id() {
        let id = "11010519491231002X";
        let raw = RawBill {
            bill_no: "B1",
            national_id: id,
            visit: None,
            admitted_on: "",
            discharged_on: "",
            total_fen: 0,
            in_policy_fen: 0,
        };
        let shown = format!("{raw:?}");
        assert!(!shown.contains(id) && shown.contains("110105********002X"), "{shown}");
        let subsidy = crate::premium::store::NewPremiumSubsidy {
            person_key: vec![1],
            national_id: id.into(),
            category: doudi_core::Category::Tekun,
            subsidy_bp: 10_000,
            subsidy: doudi_core::Fen(12_000),
        };
        assert!(!format!("{subsidy:?}").contains(id));
    }
    use doudi_core::national_id::synthesize;

    fn today() -> Date {
        "2016-12-31".parse().unwrap()
    }

    fn fields(result: Result<Bill, Vec<FieldViolation>>) -> Vec<String> {
        result.unwrap_err().into_iter().map(|v| v.field).collect()
    }

    #[test]
    fn a_good_bill_parses_and_every_bad_field_is_named() {
        let id = synthesize("110101", "1960-05-01".parse().unwrap(), 7);
        let good = RawBill {
            bill_no: "B-1_x",
            national_id: id.expose(),
            visit: Some(VisitType::Inpatient),
            admitted_on: "2016-03-01",
            discharged_on: "2016-03-10",
            total_fen: 2_000_000,
            in_policy_fen: 1_800_000,
        };
        let bill = Bill::parse(&good, today()).unwrap();
        assert_eq!(bill.day().to_string(), "2016-03-10");

        let bad = RawBill {
            bill_no: "B 1",
            national_id: "110101196005010071",
            visit: None,
            admitted_on: "2016-03-11",
            discharged_on: "2016-03-10",
            total_fen: -1,
            in_policy_fen: 5,
        };
        assert_eq!(
            fields(Bill::parse(&bad, today())),
            ["billNo", "nationalId", "visitType", "dischargedOn", "totalFen"]
        );
        let over = RawBill { in_policy_fen: 2_000_001, ..good };
        assert_eq!(fields(Bill::parse(&over, today())), ["inPolicyFen"]);
        let future = RawBill { discharged_on: "2017-01-01", ..good };
        assert_eq!(fields(Bill::parse(&future, today())), ["dischargedOn"]);
        let long = "x".repeat(65);
        assert_eq!(fields(Bill::parse(&RawBill { bill_no: &long, ..good }, today())), ["billNo"]);
        let outpatient = RawBill { visit: Some(VisitType::Outpatient), admitted_on: "", ..good };
        assert_eq!(Bill::parse(&outpatient, today()).unwrap().admitted_on.to_string(), "2016-03-10");
    }
}
