//! The accumulators this process last wrote or read, per person and year: the starting guess of
//! an optimistic settlement. Never trusted: the write compares every value with the database and
//! fails if any differs (another replica, a reversal, a racing bill), and the guess is dropped.
//! A correct guess saves the read, leaving one round trip per settlement.

use crate::settle::engine::YearAccumulators;
use std::collections::HashMap;
use std::sync::Mutex;

/// Bounded: at the limit the map starts over (a guess is only ever an optimisation).
const MAX_ENTRIES: usize = 200_000;

#[derive(Debug, Default)]
pub struct KnownYears {
    years: Mutex<HashMap<(Vec<u8>, i64), YearAccumulators>>,
}

impl KnownYears {
    pub fn get(&self, person_key: &[u8], year: i64) -> Option<YearAccumulators> {
        self.years.lock().expect("known years").get(&(person_key.to_vec(), year)).copied()
    }

    pub fn remember(&self, person_key: &[u8], year: i64, values: YearAccumulators) {
        let mut years = self.years.lock().expect("known years");
        if years.len() >= MAX_ENTRIES {
            years.clear();
        }
        years.insert((person_key.to_vec(), year), values);
    }

    pub fn forget(&self, person_key: &[u8], year: i64) {
        self.years.lock().expect("known years").remove(&(person_key.to_vec(), year));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use doudi_core::Fen;

    #[test]
    fn remembers_forgets_and_stays_bounded() {
        let known = KnownYears::default();
        let values = YearAccumulators { critical_paid: Fen(5), ..Default::default() };
        known.remember(b"p", 2016, values);
        assert_eq!(known.get(b"p", 2016), Some(values));
        assert_eq!(known.get(b"p", 2017), None);
        known.forget(b"p", 2016);
        assert_eq!(known.get(b"p", 2016), None);
        for i in 0..MAX_ENTRIES + 1 {
            known.remember(&i.to_le_bytes(), 2016, values);
        }
        assert!(known.years.lock().unwrap().len() <= MAX_ENTRIES);
    }
}
