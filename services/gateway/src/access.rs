//! Who is calling, and whether they may call now: API key → hospital (checked against the
//! database at most every `key_cache_ms`, so a revoked key is refused within that time and a
//! new key works on its first request), then a token bucket per hospital.

use crate::hospitals::{Hospital, HospitalStore, key_hash};
use doudi_runtime::config::HospitalAccessConfig;
use doudi_runtime::{ApiError, ErrorKind};
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
    rate_per_second: f64,
    burst: f64,
    /// key hash → (hospital, checked at). Only keys that were valid are kept.
    keys: Mutex<HashMap<String, (Hospital, Instant)>>,
    buckets: Mutex<HashMap<String, Bucket>>,
}

fn unauthenticated(message: &str) -> ApiError {
    ApiError::new(ErrorKind::Unauthenticated, message)
}

impl Access {
    pub fn new(store: HospitalStore, config: &HospitalAccessConfig) -> Arc<Self> {
        Arc::new(Self {
            store,
            cache_for: Duration::from_millis(config.key_cache_ms),
            rate_per_second: f64::from(config.requests_per_second),
            burst: f64::from(config.burst.max(1)),
            keys: Mutex::new(HashMap::new()),
            buckets: Mutex::new(HashMap::new()),
        })
    }

    /// The hospital behind an `Authorization: Bearer KEY` value, if it may call now.
    pub async fn admit(&self, authorization: Option<&str>) -> Result<Hospital, ApiError> {
        let hospital = self.authenticate(authorization).await?;
        self.take_token(&hospital.code)?;
        Ok(hospital)
    }

    async fn authenticate(&self, authorization: Option<&str>) -> Result<Hospital, ApiError> {
        let value = authorization.ok_or_else(|| unauthenticated("missing authorization: send `Bearer <API key>`"))?;
        let key = value
            .strip_prefix("Bearer ")
            .or_else(|| value.strip_prefix("bearer "))
            .map(str::trim)
            .filter(|k| !k.is_empty())
            .ok_or_else(|| unauthenticated("authorization must be `Bearer <API key>`"))?;
        let hash = key_hash(key);
        let now = Instant::now();
        if let Some((hospital, checked)) = self.keys.lock().expect("key cache").get(&hash)
            && now.duration_since(*checked) < self.cache_for
        {
            return Ok(hospital.clone());
        }
        let holder = self.store.by_key_hash(&hash).await.map_err(ApiError::from)?;
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
                Err(unauthenticated("this API key has been revoked"))
            }
            None => {
                self.keys.lock().expect("key cache").remove(&hash);
                Err(unauthenticated("unknown API key"))
            }
        }
    }

    fn take_token(&self, code: &str) -> Result<(), ApiError> {
        let now = Instant::now();
        let mut buckets = self.buckets.lock().expect("rate buckets");
        let bucket = buckets.entry(code.to_owned()).or_insert(Bucket { tokens: self.burst, refilled: now });
        let elapsed = now.duration_since(bucket.refilled).as_secs_f64();
        bucket.tokens = (bucket.tokens + elapsed * self.rate_per_second).min(self.burst);
        bucket.refilled = now;
        if bucket.tokens < 1.0 {
            return Err(ApiError::new(
                ErrorKind::ResourceExhausted,
                format!("rate limit of {} requests per second exceeded, retry later", self.rate_per_second),
            ));
        }
        bucket.tokens -= 1.0;
        Ok(())
    }
}
