//! What a review may decide (policy.md, "Reviews"): KEEP, RAISE, LOWER or STOP, from the next
//! month; a raise or a lower must change the monthly amount in its direction.

use doudi_core::Category;
use doudi_core::policy::PolicyVersion;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReviewDecision {
    Keep,
    Raise,
    Lower,
    Stop,
}

impl ReviewDecision {
    pub fn as_str(self) -> &'static str {
        match self {
            ReviewDecision::Keep => "KEEP",
            ReviewDecision::Raise => "RAISE",
            ReviewDecision::Lower => "LOWER",
            ReviewDecision::Stop => "STOP",
        }
    }

    /// RAISE and LOWER name the new category; KEEP and STOP do not.
    pub fn changes_class(self) -> bool {
        matches!(self, ReviewDecision::Raise | ReviewDecision::Lower)
    }

    /// The category held after the review: the same (KEEP), none (STOP), or `to`.
    pub fn category_after(self, held: Category, to: Option<Category>) -> Option<Category> {
        match self {
            ReviewDecision::Keep => Some(held),
            ReviewDecision::Stop => None,
            ReviewDecision::Raise | ReviewDecision::Lower => to,
        }
    }
}

/// A raise into TEKUN, or a lower out of it, is the county's decision alone (TEKUN is decided by
/// the county, policy.md).
pub fn county_only(decision: ReviewDecision, held: Category, to: Option<Category>) -> bool {
    match decision {
        ReviewDecision::Raise => to == Some(Category::Tekun),
        ReviewDecision::Lower => held == Category::Tekun,
        ReviewDecision::Keep | ReviewDecision::Stop => false,
    }
}

/// Whether the review adds a person to the township's dibao count (a LOWER from TEKUN into
/// dibao): it needs a place in the quota, like an approval.
pub fn takes_dibao_place(held: Category, to: Option<Category>) -> bool {
    held == Category::Tekun && matches!(to, Some(Category::Dibao1 | Category::Dibao2))
}

/// Why a RAISE or LOWER from `held` to `new` does not do what it says under `version`'s
/// amounts, if it does not.
pub fn wrong_direction(
    decision: ReviewDecision,
    held: Category,
    new: Category,
    version: &PolicyVersion,
) -> Option<String> {
    let amount = |c: Category| version.monthly_benefit_fen.get(&c).copied().unwrap_or_default();
    let raises = amount(new) > amount(held);
    ((decision == ReviewDecision::Raise) != raises || new == held).then(|| {
        format!(
            "{} {held} → {new} does not {} the monthly amount",
            decision.as_str(),
            decision.as_str().to_ascii_lowercase()
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use doudi_core::Date;
    use doudi_core::policy::PolicySet;

    #[test]
    fn tekun_changes_are_the_countys_and_a_lower_from_tekun_takes_a_dibao_place() {
        use Category::{Dibao1, Dibao2, Tekun};
        assert!(county_only(ReviewDecision::Raise, Dibao1, Some(Tekun)));
        assert!(county_only(ReviewDecision::Lower, Tekun, Some(Dibao1)));
        assert!(!county_only(ReviewDecision::Raise, Dibao2, Some(Dibao1)));
        assert!(!county_only(ReviewDecision::Lower, Dibao1, Some(Dibao2)));
        assert!(!county_only(ReviewDecision::Stop, Tekun, None));
        assert!(takes_dibao_place(Tekun, Some(Dibao2)));
        assert!(!takes_dibao_place(Dibao1, Some(Dibao2)));
        assert!(!takes_dibao_place(Tekun, None));
    }

    #[test]
    fn a_raise_must_raise_and_a_lower_must_lower() {
        let policy = PolicySet::reference();
        let version = policy.in_force_on(Date::from_ymd(2016, 1, 1).unwrap()).unwrap();
        assert_eq!(wrong_direction(ReviewDecision::Raise, Category::Dibao2, Category::Dibao1, version), None);
        assert_eq!(wrong_direction(ReviewDecision::Lower, Category::Dibao1, Category::Dibao2, version), None);
        assert_eq!(
            wrong_direction(ReviewDecision::Raise, Category::Dibao1, Category::Dibao2, version).as_deref(),
            Some("RAISE DIBAO_1 → DIBAO_2 does not raise the monthly amount")
        );
        assert!(wrong_direction(ReviewDecision::Lower, Category::Dibao2, Category::Dibao2, version).is_some());
    }
}
