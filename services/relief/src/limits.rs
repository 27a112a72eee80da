//! The limits of temporary relief (policy.md), in multiples of the dibao standard S in force on
//! the decision day: a township decides a case up to 3 S, the county up to 12 S, and above that
//! only with a recorded special approval; a household gets at most 2 grants and 12 S in a
//! calendar year without one (each case is one grant: an emergency grant and the county's later
//! top-up of the same case count once and add up). The emergency path grants up to 3 S.

use crate::error::ReliefError;

pub const TOWNSHIP_STANDARDS: i64 = 3;
pub const COUNTY_STANDARDS: i64 = 12;
pub const EMERGENCY_STANDARDS: i64 = 3;
pub const GRANTS_PER_YEAR: i64 = 2;
pub const STANDARDS_PER_YEAR: i64 = 12;
pub const PAPERWORK_DAYS: i64 = 10;

/// Who decides.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Authority {
    Township,
    County,
    /// The county with a recorded special approval: no ceiling.
    Special,
}

impl Authority {
    pub fn as_str(self) -> &'static str {
        match self {
            Authority::Township => "TOWNSHIP",
            Authority::County => "COUNTY",
            Authority::Special => "SPECIAL",
        }
    }
}

/// A household's grants in a year so far (without the case at hand's earlier parts when it is
/// already counted).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct YearUse {
    pub grants: i64,
    pub fen: i64,
}

fn over(limit: String, amount: i64, ceiling: i64) -> Result<(), ReliefError> {
    if amount <= ceiling {
        return Ok(());
    }
    Err(ReliefError::OverLimit { limit, amount, left: ceiling.max(0), over: amount - ceiling.max(0) })
}

/// A case's total grant (what it already has plus `amount`) within the decider's authority.
pub fn within_authority(
    authority: Authority,
    standard: i64,
    case_total_before: i64,
    amount: i64,
) -> Result<(), ReliefError> {
    let (name, standards) = match authority {
        Authority::Township => ("the township's authority", TOWNSHIP_STANDARDS),
        Authority::County => ("the county's authority", COUNTY_STANDARDS),
        Authority::Special => return Ok(()),
    };
    let limit = format!("{name} of {standards} S per case (S = {standard} fen, {} fen)", standards * standard);
    over(limit, amount, standards * standard - case_total_before)
}

/// The emergency path's ceiling.
pub fn within_emergency(standard: i64, amount: i64) -> Result<(), ReliefError> {
    let limit = format!(
        "the emergency grant of at most {EMERGENCY_STANDARDS} S (S = {standard} fen, {} fen)",
        EMERGENCY_STANDARDS * standard
    );
    over(limit, amount, EMERGENCY_STANDARDS * standard)
}

/// The household's yearly limits, for `amount` more (a new grant when `new_grant`).
pub fn within_year(standard: i64, used: YearUse, amount: i64, new_grant: bool) -> Result<(), ReliefError> {
    if new_grant && used.grants >= GRANTS_PER_YEAR {
        return Err(ReliefError::OverLimit {
            limit: format!("the household's {GRANTS_PER_YEAR} grants a year ({} granted this year)", used.grants),
            amount,
            left: 0,
            over: amount,
        });
    }
    let ceiling = STANDARDS_PER_YEAR * standard;
    let limit = format!(
        "the household's {STANDARDS_PER_YEAR} S a year (S = {standard} fen, {ceiling} fen; {} fen granted this year)",
        used.fen
    );
    over(limit, amount, ceiling - used.fen)
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: i64 = 27_500;

    fn left_over(e: ReliefError) -> (i64, i64) {
        match e {
            ReliefError::OverLimit { left, over, .. } => (left, over),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn authority_per_case() {
        assert!(within_authority(Authority::Township, S, 0, 3 * S).is_ok());
        assert_eq!(left_over(within_authority(Authority::Township, S, 0, 3 * S + 1).unwrap_err()), (3 * S, 1));
        assert!(within_authority(Authority::County, S, 0, 12 * S).is_ok());
        // A top-up counts with what the case already has.
        assert_eq!(left_over(within_authority(Authority::County, S, 3 * S, 10 * S).unwrap_err()), (9 * S, S));
        assert!(within_authority(Authority::Special, S, 0, 100 * S).is_ok());
        let message = within_authority(Authority::Township, S, 0, 4 * S).unwrap_err().to_string();
        assert!(message.contains("township") && message.contains("82500"), "{message}");
    }

    #[test]
    fn yearly_household_limits() {
        assert!(within_year(S, YearUse { grants: 1, fen: 6 * S }, 6 * S, true).is_ok());
        assert_eq!(left_over(within_year(S, YearUse { grants: 2, fen: S }, S, true).unwrap_err()), (0, S));
        // The same case's top-up is no new grant.
        assert!(within_year(S, YearUse { grants: 2, fen: 3 * S }, 3 * S, false).is_ok());
        assert_eq!(left_over(within_year(S, YearUse { grants: 1, fen: 10 * S }, 3 * S, true).unwrap_err()), (2 * S, S));
        assert!(within_emergency(S, 3 * S).is_ok());
        assert_eq!(left_over(within_emergency(S, 3 * S + 5).unwrap_err()), (3 * S, 5));
    }
}
