//! Calendar dates in China Standard Time (UTC+8, no daylight saving), the only kind of day the
//! policy speaks of. Written and read as `YYYY-MM-DD`; ordered chronologically.

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::{fmt, str::FromStr};

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Date {
    year: i32,
    month: u8,
    day: u8,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DateError {
    #[error("must be a date written YYYY-MM-DD")]
    Format,
    #[error("is not a real calendar date")]
    NotADay,
}

const CHINA_OFFSET_SECONDS: i64 = 8 * 3600;

impl Date {
    /// The years the system accepts; anything outside is a typing error, not a date.
    pub const MIN_YEAR: i32 = 1900;
    pub const MAX_YEAR: i32 = 2199;

    pub fn from_ymd(year: i32, month: u32, day: u32) -> Result<Self, DateError> {
        if !(Self::MIN_YEAR..=Self::MAX_YEAR).contains(&year)
            || !(1..=12).contains(&month)
            || day < 1
            || day > days_in_month(year, month as u8) as u32
        {
            return Err(DateError::NotADay);
        }
        Ok(Self { year, month: month as u8, day: day as u8 })
    }

    pub fn year(self) -> i32 {
        self.year
    }

    pub fn month(self) -> u32 {
        self.month as u32
    }

    pub fn day(self) -> u32 {
        self.day as u32
    }

    /// Today in China Standard Time.
    pub fn today_china() -> Self {
        let unix =
            std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs() as i64).unwrap_or(0);
        Self::from_days_since_epoch((unix + CHINA_OFFSET_SECONDS).div_euclid(86_400))
    }

    /// The first day of the month `months` after this one's month (negative goes back).
    pub fn first_of_month_after(self, months: i32) -> Self {
        let index = self.year * 12 + (self.month as i32 - 1) + months;
        Self { year: index.div_euclid(12), month: (index.rem_euclid(12) + 1) as u8, day: 1 }
    }

    /// Days since 1970-01-01 (negative before), by the civil-from-days algorithm.
    pub fn days_since_epoch(self) -> i64 {
        let (y, m, d) = (self.year as i64, self.month as i64, self.day as i64);
        let y = if m <= 2 { y - 1 } else { y };
        let era = y.div_euclid(400);
        let yoe = y - era * 400;
        let mp = (m + 9) % 12;
        let doy = (153 * mp + 2) / 5 + d - 1;
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
        era * 146_097 + doe - 719_468
    }

    pub fn from_days_since_epoch(days: i64) -> Self {
        let z = days + 719_468;
        let era = z.div_euclid(146_097);
        let doe = z - era * 146_097;
        let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
        let mp = (5 * doy + 2) / 153;
        let day = (doy - (153 * mp + 2) / 5 + 1) as u8;
        let month = if mp < 10 { mp + 3 } else { mp - 9 } as u8;
        let year = (yoe + era * 400 + if month <= 2 { 1 } else { 0 }) as i32;
        Self { year, month, day }
    }

    pub fn add_days(self, days: i64) -> Self {
        Self::from_days_since_epoch(self.days_since_epoch() + days)
    }

    /// The same day `months` later, or the month's last day if it is shorter (Jan 31 + 1 month
    /// is Feb 28 or 29).
    pub fn add_months(self, months: i32) -> Self {
        let first = self.first_of_month_after(months);
        let last = first.first_of_month_after(1).add_days(-1);
        Self { day: self.day.min(last.day), ..first }
    }
}

pub fn is_leap_year(year: i32) -> bool {
    (year % 4 == 0 && year % 100 != 0) || year % 400 == 0
}

fn days_in_month(year: i32, month: u8) -> u8 {
    match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if is_leap_year(year) => 29,
        2 => 28,
        _ => 0,
    }
}

impl FromStr for Date {
    type Err = DateError;

    fn from_str(text: &str) -> Result<Self, DateError> {
        let bytes = text.as_bytes();
        let digits = |range: std::ops::Range<usize>| -> Result<u32, DateError> {
            let part = &bytes[range];
            if !part.iter().all(u8::is_ascii_digit) {
                return Err(DateError::Format);
            }
            Ok(part.iter().fold(0, |n, b| n * 10 + u32::from(b - b'0')))
        };
        if bytes.len() != 10 || bytes[4] != b'-' || bytes[7] != b'-' {
            return Err(DateError::Format);
        }
        Self::from_ymd(digits(0..4)? as i32, digits(5..7)?, digits(8..10)?)
    }
}

impl fmt::Display for Date {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:04}-{:02}-{:02}", self.year, self.month, self.day)
    }
}

impl Serialize for Date {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Date {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        text.parse().map_err(|e: DateError| serde::de::Error::custom(format!("{text:?} {e}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn add_months_clamps_to_the_month_end() {
        let d = |s: &str| s.parse::<Date>().unwrap();
        assert_eq!(d("2016-01-31").add_months(1), d("2016-02-29"));
        assert_eq!(d("2015-01-31").add_months(1), d("2015-02-28"));
        assert_eq!(d("2016-03-15").add_months(6), d("2016-09-15"));
        assert_eq!(d("2016-11-30").add_months(3), d("2017-02-28"));
    }
    use proptest::prelude::*;

    #[test]
    fn parses_and_rejects() {
        assert_eq!("2016-02-29".parse::<Date>().map(|d| d.to_string()), Ok("2016-02-29".into()));
        assert_eq!("2015-02-29".parse::<Date>(), Err(DateError::NotADay));
        assert_eq!("2015-13-01".parse::<Date>(), Err(DateError::NotADay));
        assert_eq!("2015-1-01".parse::<Date>(), Err(DateError::Format));
        assert_eq!("2015/01/01".parse::<Date>(), Err(DateError::Format));
        assert_eq!("1899-12-31".parse::<Date>(), Err(DateError::NotADay));
    }

    #[test]
    fn month_arithmetic() {
        let d: Date = "2015-12-17".parse().unwrap();
        assert_eq!(d.first_of_month_after(1).to_string(), "2016-01-01");
        assert_eq!(d.first_of_month_after(-12).to_string(), "2014-12-01");
        assert_eq!(Date::from_days_since_epoch(0).to_string(), "1970-01-01");
    }

    proptest! {
        #[test]
        fn days_round_trip(days in -25_000i64..80_000) {
            let date = Date::from_days_since_epoch(days);
            prop_assert_eq!(date.days_since_epoch(), days);
            prop_assert_eq!(date.to_string().parse::<Date>().unwrap(), date);
            prop_assert!(date < date.add_days(1));
        }
    }
}
