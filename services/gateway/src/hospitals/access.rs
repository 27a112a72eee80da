//! Who is calling, and whether they may call now: API key → hospital (checked against the
//! database at most every `key_cache_ms`, so a revoked key is refused within that time and a
//! new key works on its first request), then the hospital's rate (a keyed GCRA limiter: a burst,
//! then the sustained rate).

use crate::error::{GatewayError, Result};
use crate::hospitals::keys::{Hospital, key_hash};
use crate::hospitals::store::HospitalStore;
use doudi_runtime::config::HospitalAccessConfig;
use governor::{DefaultKeyedRateLimiter, Quota};
use std::collections::HashMap;
use std::num::NonZeroU32;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

#[derive(Debug)]
pub struct Access {
    store: HospitalStore,
    cache_for: Duration,
    rate_per_second: u32,
    /// key hash → (hospital, checked at). Only keys that were valid are kept.
    keys: Mutex<HashMap<String, (Hospital, Instant)>>,
    /// Per hospital code.
    rates: DefaultKeyedRateLimiter<String>,
}

impl Access {
    pub fn new(store: HospitalStore, config: &HospitalAccessConfig) -> Arc<Self> {
        Arc::new(Self {
            store,
            cache_for: Duration::from_millis(config.key_cache_ms),
            rate_per_second: config.requests_per_second,
            keys: Mutex::new(HashMap::new()),
            rates: DefaultKeyedRateLimiter::keyed(quota(config.requests_per_second, config.burst)),
        })
    }

    /// The hospital behind an `Authorization: Bearer KEY` value, if it may call now.
    pub async fn admit(&self, authorization: Option<&str>) -> Result<Hospital> {
        let hospital = self.authenticate(authorization).await?;
        self.take_token(&hospital.code)?;
        Ok(hospital)
    }

    async fn authenticate(&self, authorization: Option<&str>) -> Result<Hospital> {
        let value = authorization.ok_or(GatewayError::MissingKey)?;
        let key = doudi_runtime::auth::bearer(Some(value)).ok_or(GatewayError::MalformedKey)?;
        let hash = key_hash(key);
        let now = Instant::now();
        if let Some((hospital, checked)) = self.keys.lock().expect("key cache").get(&hash)
            && now.duration_since(*checked) < self.cache_for
        {
            return Ok(hospital.clone());
        }
        let holder = self.store.by_key_hash(&hash).await?;
        match holder {
            Some(holder) if !holder.revoked => {
                let mut keys = self.keys.lock().expect("key cache");
                // Bounded: forget everything stale before growing.
                if keys.len() > 10_000 {
                    keys.retain(|_, (_, checked)| now.duration_since(*checked) < self.cache_for);
                }
                keys.insert(hash, (holder.hospital.clone(), now));
                Ok(holder.hospital)
            }
            Some(_) => {
                self.keys.lock().expect("key cache").remove(&hash);
                Err(GatewayError::RevokedKey)
            }
            None => {
                self.keys.lock().expect("key cache").remove(&hash);
                Err(GatewayError::UnknownKey)
            }
        }
    }

    fn take_token(&self, code: &str) -> Result<()> {
        self.rates.check_key(&code.to_owned()).map_err(|_| GatewayError::RateLimited(self.rate_per_second))
    }
}

/// `per_second` sustained, `burst` at once (the configuration validates both as positive).
fn quota(per_second: u32, burst: u32) -> Quota {
    let at_least_one = |n: u32| NonZeroU32::new(n).unwrap_or(NonZeroU32::MIN);
    Quota::per_second(at_least_one(per_second)).allow_burst(at_least_one(burst))
}
