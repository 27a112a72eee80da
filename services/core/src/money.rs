//! Money is integer fen, rates are basis points, and rounding is half-up to the fen, applied
//! once per evaluation. Nothing here touches a float.

use serde::{Deserialize, Serialize};
use std::fmt;

/// An amount of money in fen (1 yuan = 100 fen).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Fen(pub i64);

/// A rate in basis points (10 000 bp = 100 %).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Bp(pub i64);

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("amount out of range")]
pub struct Overflow;

impl Fen {
    pub const ZERO: Fen = Fen(0);

    pub fn checked_add(self, other: Fen) -> Result<Fen, Overflow> {
        self.0.checked_add(other.0).map(Fen).ok_or(Overflow)
    }

    pub fn checked_sub(self, other: Fen) -> Result<Fen, Overflow> {
        self.0.checked_sub(other.0).map(Fen).ok_or(Overflow)
    }

    pub fn checked_mul(self, factor: i64) -> Result<Fen, Overflow> {
        self.0.checked_mul(factor).map(Fen).ok_or(Overflow)
    }

    /// `round(self * rate / 10000)`, half-up: `(2·a·r + 10000) div 20000`, in i128 so no
    /// product of two in-range values can overflow. Negative amounts round half away from zero.
    pub fn apply_rate(self, rate: Bp) -> Result<Fen, Overflow> {
        let product = i128::from(self.0) * i128::from(rate.0);
        let magnitude = (2 * product.abs() + 10_000) / 20_000;
        let rounded = if product < 0 { -magnitude } else { magnitude };
        i64::try_from(rounded).map(Fen).map_err(|_| Overflow)
    }
}

impl fmt::Display for Fen {
    /// Yuan with two decimals, for people; machines get the integer.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let sign = if self.0 < 0 { "-" } else { "" };
        let abs = self.0.unsigned_abs();
        write!(f, "{sign}{}.{:02}", abs / 100, abs % 100)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn half_up_as_policy_says() {
        // policy.md B1: round(0.75 × 1 770 000) = 1 327 500; round(0.7 × 361 250) = 252 875.
        assert_eq!(Fen(1_770_000).apply_rate(Bp(7_500)), Ok(Fen(1_327_500)));
        assert_eq!(Fen(361_250).apply_rate(Bp(7_000)), Ok(Fen(252_875)));
        assert_eq!(Fen(1).apply_rate(Bp(5_000)), Ok(Fen(1))); // 0.5 rounds up
        assert_eq!(Fen(1).apply_rate(Bp(4_999)), Ok(Fen(0)));
        assert_eq!(Fen(i64::MAX).apply_rate(Bp(20_000)), Err(Overflow));
        assert_eq!(Fen(12_345).to_string(), "123.45");
        assert_eq!(Fen(-5).to_string(), "-0.05");
    }

    proptest! {
        #[test]
        fn matches_the_policy_formula(a in 0i64..1_000_000_000_000, r in 0i64..=10_000) {
            let expected = (2 * i128::from(a) * i128::from(r) + 10_000) / 20_000;
            prop_assert_eq!(Fen(a).apply_rate(Bp(r)).unwrap().0 as i128, expected);
        }
    }
}
