//! Resident identity numbers (GB 11643-1999): 6-digit region, 8-digit birth date, 3-digit
//! sequence, 1 check character (ISO 7064 MOD 11-2, `X` for 10).
//!
//! A `NationalId` exists only once validated. Its `Debug` and `Display` show the masked form;
//! the full number is reached only through [`NationalId::expose`], so it cannot slip into a log
//! line by accident.

use crate::date::Date;
use std::fmt;

#[derive(Clone, PartialEq, Eq, Hash)]
pub struct NationalId(String);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NationalIdError {
    #[error("must be 18 characters: 17 digits and a check digit or X")]
    Format,
    #[error("region code is not a province of GB/T 2260")]
    Region,
    #[error("birth date inside the number is not a real date")]
    BirthDate,
    #[error("birth date inside the number is in the future")]
    FutureBirthDate,
    #[error("check digit does not match (GB 11643)")]
    Checksum,
}

const WEIGHTS: [u32; 17] = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2];
const CHECK_CHARACTERS: &[u8; 11] = b"10X98765432";

/// Province-level codes (first two digits) of GB/T 2260.
const PROVINCES: &[u8] = &[
    11, 12, 13, 14, 15, 21, 22, 23, 31, 32, 33, 34, 35, 36, 37, 41, 42, 43, 44, 45, 46, 50, 51, 52, 53, 54, 61, 62, 63,
    64, 65, 71, 81, 82,
];

/// The check character GB 11643 assigns to the first 17 digits.
pub fn check_character(first17: &[u8]) -> u8 {
    let sum: u32 = first17.iter().zip(WEIGHTS).map(|(d, w)| u32::from(d - b'0') * w).sum();
    CHECK_CHARACTERS[(sum % 11) as usize]
}

impl NationalId {
    /// Validates `text` (surrounding spaces ignored, a lowercase `x` accepted) as of `today`.
    pub fn parse_on(text: &str, today: Date) -> Result<Self, NationalIdError> {
        let normalized = text.trim().to_ascii_uppercase();
        let bytes = normalized.as_bytes();
        if bytes.len() != 18
            || !bytes[..17].iter().all(u8::is_ascii_digit)
            || !(bytes[17].is_ascii_digit() || bytes[17] == b'X')
        {
            return Err(NationalIdError::Format);
        }
        let province = (bytes[0] - b'0') * 10 + (bytes[1] - b'0');
        if !PROVINCES.contains(&province) {
            return Err(NationalIdError::Region);
        }
        let birth = birth_date_of(bytes).ok_or(NationalIdError::BirthDate)?;
        if birth > today {
            return Err(NationalIdError::FutureBirthDate);
        }
        if check_character(&bytes[..17]) != bytes[17] {
            return Err(NationalIdError::Checksum);
        }
        Ok(Self(normalized))
    }

    pub fn parse(text: &str) -> Result<Self, NationalIdError> {
        Self::parse_on(text, Date::today_china())
    }

    pub fn birth_date(&self) -> Date {
        birth_date_of(self.0.as_bytes()).unwrap_or_else(|| unreachable!("validated at parse"))
    }

    /// The full number, for encryption and keyed hashing only.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// Region and the last four characters: `110105********123X`.
    pub fn masked(&self) -> String {
        format!("{}********{}", &self.0[..6], &self.0[14..])
    }
}

fn birth_date_of(bytes: &[u8]) -> Option<Date> {
    let n = |range: std::ops::Range<usize>| bytes[range].iter().fold(0u32, |n, b| n * 10 + u32::from(b - b'0'));
    Date::from_ymd(n(6..10) as i32, n(10..12), n(12..14)).ok()
}

impl fmt::Debug for NationalId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "NationalId({})", self.masked())
    }
}

impl fmt::Display for NationalId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.masked())
    }
}

/// Builds a valid number from a region, a birth date and a sequence, for demo data and tests.
pub fn synthesize(region: &str, birth: Date, sequence: u32) -> NationalId {
    let mut digits = format!("{region}{:04}{:02}{:02}{:03}", birth.year(), birth.month(), birth.day(), sequence % 1000);
    let check = check_character(digits.as_bytes());
    digits.push(check as char);
    NationalId(digits)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn today() -> Date {
        "2026-11-29".parse().unwrap()
    }

    #[test]
    fn accepts_valid_numbers() {
        // The example number of GB 11643 itself.
        let id = NationalId::parse_on("11010519491231002X", today()).unwrap();
        assert_eq!(id.birth_date().to_string(), "1949-12-31");
        assert_eq!(id.masked(), "110105********002X");
        assert_eq!(format!("{id:?}"), "NationalId(110105********002X)");
        assert!(NationalId::parse_on(" 11010519491231002x ", today()).is_ok());
    }

    #[test]
    fn rejects_each_kind_of_error() {
        let t = today();
        assert_eq!(NationalId::parse_on("11010519491231002", t), Err(NationalIdError::Format));
        assert_eq!(NationalId::parse_on("1101051949123100X2", t), Err(NationalIdError::Format));
        assert_eq!(NationalId::parse_on("110105194912310021", t), Err(NationalIdError::Checksum));
        assert_eq!(NationalId::parse_on("99010519491231002X", t), Err(NationalIdError::Region));
        let feb30 = synthesize("110105", "2000-02-28".parse().unwrap(), 1).0.replace("20000228", "20000230");
        assert_eq!(NationalId::parse_on(&feb30, t), Err(NationalIdError::BirthDate));
        let future = synthesize("110105", "2027-01-01".parse().unwrap(), 1);
        assert_eq!(NationalId::parse_on(future.expose(), t), Err(NationalIdError::FutureBirthDate));
    }

    proptest! {
        #[test]
        fn synthesized_numbers_validate_and_any_single_digit_change_fails(
            days in -20_000i64..20_000, seq in 0u32..1000, pos in 0usize..17, bump in 1u8..10
        ) {
            let id = synthesize("360730", Date::from_days_since_epoch(days), seq);
            prop_assert_eq!(NationalId::parse_on(id.expose(), today()), Ok(id.clone()));
            let mut bytes = id.expose().as_bytes().to_vec();
            bytes[pos] = b'0' + (bytes[pos] - b'0' + bump) % 10;
            let changed = String::from_utf8(bytes).unwrap();
            prop_assert!(NationalId::parse_on(&changed, today()).is_err());
        }
    }
}
