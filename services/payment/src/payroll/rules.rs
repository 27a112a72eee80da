//! The payroll's arithmetic, pure: what a household is still owed (or was overpaid) for a
//! month and kind, and what is withheld from a payment to recover overpayments.

use doudi_core::{Bp, Fen};

/// A household's month and kind, compared with what the roll says now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reconciled {
    /// Owed and not yet paid: a payment (arrears when the month is before the run's).
    Pay(i64),
    /// Paid beyond what is due (net of overpayments already recorded): a new overpayment.
    Overpaid(i64),
    Even,
}

/// `due` by the roll now; `paid` gross by earlier instructions of the month; `overpaid` already
/// recorded for the month.
pub fn reconcile(due: i64, paid: i64, overpaid: i64) -> Reconciled {
    let kept = paid - overpaid;
    match due.cmp(&kept) {
        std::cmp::Ordering::Greater => Reconciled::Pay(due - kept),
        std::cmp::Ordering::Less => Reconciled::Overpaid(kept - due),
        std::cmp::Ordering::Equal => Reconciled::Even,
    }
}

/// An overpayment not yet recovered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Outstanding {
    pub overpayment_id: i64,
    pub remaining: i64,
}

/// What to withhold from a payment of `gross`, oldest overpayment first, at most
/// `round(gross × max_bp / 10000)` in all; `outstanding` is reduced by what is taken. At least
/// one fen is always paid (a payment of nothing is no instruction).
pub fn withhold(gross: i64, max_bp: Bp, outstanding: &mut [Outstanding]) -> Vec<(i64, i64)> {
    let cap = Fen(gross).apply_rate(max_bp).map_or(0, |f| f.0).min(gross - 1).max(0);
    let mut left = cap;
    let mut taken = Vec::new();
    for o in outstanding.iter_mut().filter(|o| o.remaining > 0) {
        if left == 0 {
            break;
        }
        let take = o.remaining.min(left);
        o.remaining -= take;
        left -= take;
        taken.push((o.overpayment_id, take));
    }
    taken
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn a_month_is_paid_up_to_what_is_due_now() {
        assert_eq!(reconcile(27_500, 0, 0), Reconciled::Pay(27_500));
        assert_eq!(reconcile(27_500, 27_500, 0), Reconciled::Even);
        // A death recorded late: nothing is due, the month was paid.
        assert_eq!(reconcile(0, 27_500, 0), Reconciled::Overpaid(27_500));
        assert_eq!(reconcile(0, 27_500, 27_500), Reconciled::Even, "recorded once");
        // A period opened late: due, never paid.
        assert_eq!(reconcile(23_400, 0, 0), Reconciled::Pay(23_400));
        // One of two persons died: half the month was overpaid.
        assert_eq!(reconcile(27_500, 55_000, 0), Reconciled::Overpaid(27_500));
    }

    #[test]
    fn withholding_takes_at_most_half_oldest_first() {
        let mut owed = [
            Outstanding { overpayment_id: 1, remaining: 10_000 },
            Outstanding { overpayment_id: 2, remaining: 50_000 },
        ];
        assert_eq!(withhold(27_500, Bp(5_000), &mut owed), vec![(1, 10_000), (2, 3_750)]);
        assert_eq!(owed[1].remaining, 46_250);
        // Half of an odd amount rounds half-up, as every rate does.
        let mut one = [Outstanding { overpayment_id: 3, remaining: 99_999 }];
        assert_eq!(withhold(23_401, Bp(5_000), &mut one), vec![(3, 11_701)]);
        assert_eq!(withhold(1, Bp(5_000), &mut one), vec![], "a payment of one fen is paid");
    }

    proptest! {
        #[test]
        fn withholding_never_exceeds_the_cap_or_what_is_owed(
            gross in 1i64..10_000_000,
            bp in 0i64..=10_000,
            owed in proptest::collection::vec(0i64..1_000_000, 0..5),
        ) {
            let mut outstanding: Vec<_> = owed.iter().enumerate()
                .map(|(i, r)| Outstanding { overpayment_id: i as i64, remaining: *r }).collect();
            let taken = withhold(gross, Bp(bp), &mut outstanding);
            let total: i64 = taken.iter().map(|(_, t)| t).sum();
            prop_assert!(total <= Fen(gross).apply_rate(Bp(bp)).unwrap().0);
            prop_assert!(total < gross);
            prop_assert!(total <= owed.iter().sum::<i64>());
            for (id, t) in taken {
                prop_assert!(t > 0 && t <= owed[id as usize]);
            }
        }

        #[test]
        fn reconciling_what_was_decided_is_even(due in 0i64..1_000_000, paid in 0i64..1_000_000) {
            let (paid_now, overpaid) = match reconcile(due, paid, 0) {
                Reconciled::Pay(x) => (paid + x, 0),
                Reconciled::Overpaid(x) => (paid, x),
                Reconciled::Even => (paid, 0),
            };
            prop_assert_eq!(reconcile(due, paid_now, overpaid), Reconciled::Even);
        }
    }
}
