//! The monthly benefit roll (policy.md, "Dibao and tekun monthly benefits" and "Reviews"): who
//! is paid for a month, in which category, how much, and who is suspended for an overdue review.

use crate::coverage::rules::CategoryPeriod;
use doudi_core::policy::PolicyVersion;
use doudi_core::{Category, Date, Fen};
use serde::Serialize;

/// The categories with a monthly benefit, in priority order (the first three of all categories,
/// so the one that applies to a person holding any of them is one of them).
pub const PAID: [Category; 3] = [Category::Tekun, Category::Dibao1, Category::Dibao2];

/// A paid-category period with the day the recipient last counted as reviewed for it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PaidPeriod {
    pub period: CategoryPeriod,
    pub reviewed_on: Date,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RollDecision {
    pub category: Category,
    pub amount: Fen,
    /// The review was due on this day, and is more than a month overdue: nothing is paid.
    pub suspended_since_due: Option<Date>,
}

/// What a person is paid for the month starting `first_day`: the category of the period that
/// contains the day (the first in priority if several), at the policy's amount; nothing if the
/// review for it (last review + the category's interval) is more than one month overdue.
/// `last_review` is the latest review recorded on or before `first_day`, if any.
pub fn decide(
    periods: &[PaidPeriod],
    last_review: Option<Date>,
    first_day: Date,
    policy: &PolicyVersion,
) -> Option<RollDecision> {
    let held = periods.iter().filter(|p| p.period.contains(first_day)).min_by_key(|p| p.period.category)?;
    let category = held.period.category;
    let amount = *policy.monthly_benefit_fen.get(&category)?;
    let reviewed = last_review.filter(|r| *r <= first_day).map_or(held.reviewed_on, |r| r.max(held.reviewed_on));
    let interval = *policy.review_interval_months.get(&category)?;
    let due = reviewed.add_months(i32::try_from(interval).unwrap_or(i32::MAX));
    let suspended = first_day > due.add_months(1);
    Some(RollDecision {
        category,
        amount: if suspended { Fen::ZERO } else { amount },
        suspended_since_due: suspended.then_some(due),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use doudi_core::policy::PolicySet;

    fn day(s: &str) -> Date {
        s.parse().unwrap()
    }

    fn paid(category: Category, from: &str, to: Option<&str>, reviewed: &str) -> PaidPeriod {
        PaidPeriod { period: CategoryPeriod { category, from: day(from), to: to.map(day) }, reviewed_on: day(reviewed) }
    }

    #[test]
    fn amounts_follow_the_policy_of_the_first_day() {
        let policy = PolicySet::reference();
        let periods = [paid(Category::Dibao1, "2015-01-01", None, "2015-01-01")];
        let on = |d: &str| decide(&periods, None, day(d), policy.in_force_on(day(d)).unwrap());
        assert_eq!(on("2015-06-01").unwrap().amount, Fen(24_600));
        assert_eq!(on("2015-07-01").unwrap().amount, Fen(27_500));
        let first = policy.in_force_on(day("2015-01-01")).unwrap();
        assert_eq!(decide(&periods, None, day("2014-12-01"), first), None, "before the period");
    }

    #[test]
    fn dibao_2_more_than_a_month_overdue_is_suspended_until_reviewed() {
        let policy = PolicySet::reference();
        let v = policy.in_force_on(day("2016-01-01")).unwrap();
        // Reviewed 2015-07-10, every 6 months: due 2016-01-10; more than a month overdue from 2016-02-11.
        let periods = [paid(Category::Dibao2, "2015-01-01", None, "2015-07-10")];
        assert_eq!(decide(&periods, None, day("2016-02-01"), v).unwrap().amount, Fen(23_400));
        let march = decide(&periods, None, day("2016-03-01"), v).unwrap();
        assert_eq!((march.amount, march.suspended_since_due), (Fen(0), Some(day("2016-01-10"))));
        // A review on 2016-03-05 pays April again; it does not reach back to March.
        assert_eq!(decide(&periods, Some(day("2016-03-05")), day("2016-04-01"), v).unwrap().amount, Fen(23_400));
        assert_eq!(decide(&periods, Some(day("2016-03-05")), day("2016-03-01"), v).unwrap().amount, Fen(0));
    }

    #[test]
    fn tekun_comes_first_and_other_categories_are_not_paid() {
        let policy = PolicySet::reference();
        let v = policy.in_force_on(day("2016-01-01")).unwrap();
        let both = [
            paid(Category::Dibao2, "2015-01-01", None, "2016-01-01"),
            paid(Category::Tekun, "2015-06-01", None, "2016-01-01"),
        ];
        assert_eq!(decide(&both, None, day("2016-02-01"), v).unwrap().category, Category::Tekun);
        let ended = [paid(Category::Dibao1, "2015-01-01", Some("2016-01-31"), "2016-01-01")];
        assert_eq!(decide(&ended, None, day("2016-02-01"), v), None);
    }
}
