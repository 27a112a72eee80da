//! Reconciliation with a hospital (NHSA 3201): the net of its settlements (+) and reversals (−)
//! made on a range of days, compared in totals and, when the hospital sends its list, per bill.

use doudi_core::Fen;
use std::collections::BTreeMap;

/// Basic insurance, critical illness, medical assistance.
pub type Amounts = [Fen; 3];

/// One of our settlements touched by the range: settled in it, reversed in it, or both.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OurBill {
    pub bill_no: String,
    pub amounts: Amounts,
    pub settled_in_range: bool,
    pub reversed_in_range: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Totals {
    pub count: i64,
    pub amounts: Amounts,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DifferenceKind {
    AmountsDiffer,
    MissingAtHospital,
    MissingHere,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Difference {
    pub bill_no: String,
    pub kind: DifferenceKind,
    pub ours: Amounts,
    pub theirs: Amounts,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    pub matched: bool,
    pub ours: Totals,
    pub differences: Vec<Difference>,
}

fn is_zero(a: &Amounts) -> bool {
    a.iter().all(|f| f.0 == 0)
}

/// Our net per bill over the range: `+amounts` if settled in it, `−amounts` if reversed in it.
fn nets(ours: &[OurBill]) -> (Totals, BTreeMap<&str, Amounts>) {
    let mut totals = Totals::default();
    let mut per_bill = BTreeMap::new();
    for bill in ours {
        let sign = i64::from(bill.settled_in_range) - i64::from(bill.reversed_in_range);
        if sign == 0 {
            continue;
        }
        totals.count += sign;
        let net = bill.amounts.map(|f| Fen(f.0 * sign));
        for (total, part) in totals.amounts.iter_mut().zip(net) {
            total.0 += part.0;
        }
        per_bill.insert(bill.bill_no.as_str(), net);
    }
    (totals, per_bill)
}

/// Compares the hospital's `claimed` totals (and bills, if it sent them) with `ours`.
pub fn reconcile(ours: &[OurBill], claimed: Totals, claimed_bills: Option<&[(String, Amounts)]>) -> Outcome {
    let (totals, mut our_bills) = nets(ours);
    let mut differences = Vec::new();
    if let Some(theirs) = claimed_bills {
        // A bill whose net is zero (a NONE patient's bill below the deductible, one settled and
        // reversed in the range) counts as absent on either side: listed or not, it matches.
        our_bills.retain(|_, a| !is_zero(a));
        let their_bills: BTreeMap<&str, Amounts> =
            theirs.iter().filter(|(_, a)| !is_zero(a)).map(|(no, a)| (no.as_str(), *a)).collect();
        for (no, ours) in &our_bills {
            match their_bills.get(no) {
                Some(theirs) if theirs == ours => {}
                Some(theirs) => differences.push(Difference {
                    bill_no: (*no).to_owned(),
                    kind: DifferenceKind::AmountsDiffer,
                    ours: *ours,
                    theirs: *theirs,
                }),
                None => differences.push(Difference {
                    bill_no: (*no).to_owned(),
                    kind: DifferenceKind::MissingAtHospital,
                    ours: *ours,
                    theirs: [Fen::ZERO; 3],
                }),
            }
        }
        for (no, theirs) in &their_bills {
            if !our_bills.contains_key(no) {
                differences.push(Difference {
                    bill_no: (*no).to_owned(),
                    kind: DifferenceKind::MissingHere,
                    ours: [Fen::ZERO; 3],
                    theirs: *theirs,
                });
            }
        }
        differences.sort_by(|a, b| a.bill_no.cmp(&b.bill_no));
    }
    Outcome { matched: totals == claimed && differences.is_empty(), ours: totals, differences }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bill(no: &str, amounts: [i64; 3], settled: bool, reversed: bool) -> OurBill {
        OurBill {
            bill_no: no.into(),
            amounts: amounts.map(Fen),
            settled_in_range: settled,
            reversed_in_range: reversed,
        }
    }

    #[test]
    fn nets_settlements_and_reversals_and_names_the_bills_that_differ() {
        let ours = [
            bill("A", [100, 10, 5], true, false),
            bill("B", [200, 0, 0], true, true), // settled and reversed in range: nets to nothing
            bill("C", [50, 0, 1], false, true), // settled before, reversed in range
        ];
        let expected = Totals { count: 0, amounts: [Fen(50), Fen(10), Fen(4)] };
        let outcome = reconcile(&ours, expected, None);
        assert!(outcome.matched, "{outcome:?}");
        assert_eq!(outcome.ours, expected);

        let theirs = vec![
            ("A".to_owned(), [Fen(100), Fen(10), Fen(6)]),
            ("B".to_owned(), [Fen(0); 3]),
            ("D".to_owned(), [Fen(1), Fen(0), Fen(0)]),
        ];
        let outcome = reconcile(&ours, expected, Some(&theirs));
        assert!(!outcome.matched);
        let kinds: Vec<(&str, DifferenceKind)> =
            outcome.differences.iter().map(|d| (d.bill_no.as_str(), d.kind)).collect();
        assert_eq!(
            kinds,
            [
                ("A", DifferenceKind::AmountsDiffer),
                ("C", DifferenceKind::MissingAtHospital),
                ("D", DifferenceKind::MissingHere)
            ]
        );
        assert!(!reconcile(&ours, Totals { count: 1, ..expected }, None).matched);
    }

    #[test]
    fn a_zero_amount_bill_matches_whether_the_hospital_lists_it_or_not() {
        let ours = [bill("A", [100, 0, 0], true, false), bill("Z", [0, 0, 0], true, false)];
        let claimed = Totals { count: 2, amounts: [Fen(100), Fen(0), Fen(0)] };
        let listed = vec![("A".to_owned(), [Fen(100), Fen(0), Fen(0)]), ("Z".to_owned(), [Fen(0); 3])];
        let outcome = reconcile(&ours, claimed, Some(&listed));
        assert!(outcome.matched, "{outcome:?}");
        let outcome = reconcile(&ours, claimed, Some(&listed[..1]));
        assert!(outcome.matched, "{outcome:?}");
    }
}
