//! Who is calling, and whether they may call now: API key → hospital (checked against the
//! database at most every `key_cache_ms`, so a revoked key is refused within that time and a
//! new key works on its first request), then a token bucket per hospital.

use crate::error::{GatewayError, Result};
use crate::hospitals::keys::{Hospital, key_hash};
use crate::hospitals::store::HospitalStore;
use doudi_runtime::config::HospitalAccessConfig;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

#[derive(Debug)]
struct Bucket {
    tokens: f64,
    refilled: Instant,
}

#[derive(Debug)]
pub struct Access {
    store: HospitalStore,
    cache_for: Duration,
    rate_per_second: u32,
    burst: f64,
    /// key hash → (hospital, checked at). Only keys that were valid are kept.
    keys: Mutex<HashMap<String, (Hospital, Instant)>>,
    buckets: Mutex<HashMap<String, Bucket>>,
}

impl Access {
    pub fn new(store: HospitalStore, config: &HospitalAccessConfig) -> Arc<Self> {
        Arc::new(Self {
            store,
            cache_for: Duration::from_millis(config.key_cache_ms),
            rate_per_second: config.requests_per_second,
            burst: f64::from(config.burst.max(1)),
            keys: Mutex::new(HashMap::new()),
            buckets: Mutex::new(HashMap::new()),
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
        let now = Instant::now();
        let mut buckets = self.buckets.lock().expect("rate buckets");
        let bucket = buckets.entry(code.to_owned()).or_insert(Bucket { tokens: self.burst, refilled: now });
        let elapsed = now.duration_since(bucket.refilled).as_secs_f64();
        bucket.tokens = (bucket.tokens + elapsed * f64::from(self.rate_per_second)).min(self.burst);
        bucket.refilled = now;
        if bucket.tokens < 1.0 {
            return Err(GatewayError::RateLimited(self.rate_per_second));
        }
        bucket.tokens -= 1.0;
        Ok(())
    }
}
