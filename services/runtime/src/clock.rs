//! Today's date as the service sees it: China Standard Time, unless set — a county rehearsing a
//! month, or a test walking a 7-day public notice, moves the service's calendar without waiting.

use doudi_core::Date;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

/// Shared by every clone of a service. Unset means the real date.
#[derive(Debug, Clone, Default)]
pub struct Clock {
    /// Days since 1970-01-01 plus one; 0 while unset.
    set_day: Arc<AtomicI64>,
}

impl Clock {
    pub fn today(&self) -> Date {
        match self.set_day.load(Ordering::Relaxed) {
            0 => Date::today_china(),
            day => Date::from_days_since_epoch(day - 1),
        }
    }

    pub fn set_today(&self, day: Date) {
        self.set_day.store(day.days_since_epoch() + 1, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn real_until_set_and_shared_by_clones() {
        let clock = Clock::default();
        assert_eq!(clock.today(), Date::today_china());
        let other = clock.clone();
        other.set_today("2016-03-08".parse().unwrap());
        assert_eq!(clock.today().to_string(), "2016-03-08");
        clock.set_today("1970-01-01".parse().unwrap());
        assert_eq!(other.today().to_string(), "1970-01-01");
    }
}
