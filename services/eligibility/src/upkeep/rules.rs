//! Registry upkeep: members join and leave households (birth, marriage, moving, death). A person
//! who leaves or dies keeps their categories to the end of that month: benefits stop from the next.

use doudi_core::Date;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MemberChange {
    Birth,
    MarriageIn,
    MoveIn,
    MarriageOut,
    MoveAway,
    Death,
}

impl MemberChange {
    pub fn joins(self) -> bool {
        matches!(self, MemberChange::Birth | MemberChange::MarriageIn | MemberChange::MoveIn)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            MemberChange::Birth => "BIRTH",
            MemberChange::MarriageIn => "MARRIAGE_IN",
            MemberChange::MoveIn => "MOVE_IN",
            MemberChange::MarriageOut => "MARRIAGE_OUT",
            MemberChange::MoveAway => "MOVE_AWAY",
            MemberChange::Death => "DEATH",
        }
    }
}

/// The last day a person who leaves or dies on `day` holds their categories.
pub fn categories_end(day: Date) -> Date {
    day.first_of_month_after(1).add_days(-1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_death_ends_categories_at_the_end_of_its_month() {
        let day = |s: &str| s.parse::<Date>().unwrap();
        assert_eq!(categories_end(day("2016-02-10")), day("2016-02-29"));
        assert_eq!(categories_end(day("2016-12-31")), day("2016-12-31"));
        assert!(MemberChange::Birth.joins() && !MemberChange::Death.joins());
    }
}
