//! Who is calling, and whether they may call now.
//!
//! - The API key names the hospital: checked against the database at most every
//!   `key_cache_ms` (a revoked key is refused within that time, a new key works on its first
//!   request). A key the database does not know (or knows as revoked) is remembered as such for
//!   the same time, so repeating it costs no lookup.
//! - An address that presents too many unknown or revoked keys (`failed_keys_per_second`, with a
//!   burst) has its further unknown keys refused for a second without a lookup: nobody guesses
//!   keys at the database's expense. Keys already known keep working from that address.
//! - Then the hospital's rate (a keyed GCRA limiter: a burst, then the sustained rate), and for a
//!   quote also the quote rate, apart, so quotes cannot serve to enumerate the registry.

use crate::error::{GatewayError, Result};
use crate::hospitals::keys::{Hospital, key_hash};
use crate::hospitals::store::HospitalStore;
use doudi_runtime::config::HospitalAccessConfig;
use governor::{DefaultKeyedRateLimiter, Quota};
use std::collections::HashMap;
use std::net::IpAddr;
use std::num::NonZeroU32;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// How long an address that used up its failed-key budget has its unknown keys refused.
const FAILED_KEYS_PAUSE: Duration = Duration::from_secs(1);
/// Entries a cache keeps before it forgets what is stale.
const CACHE_BOUND: usize = 10_000;

/// What a request says about who sends it.
#[derive(Debug, Clone, Default)]
pub struct Caller {
    /// The `authorization` header or metadata value.
    pub authorization: Option<String>,
    /// The peer's address, when the transport knows it.
    pub address: Option<IpAddr>,
}

/// What the database said about a key, and when.
#[derive(Debug, Clone)]
enum KeyCheck {
    Valid(Hospital),
    Unknown,
    Revoked,
}

#[derive(Debug)]
pub struct Access {
    store: HospitalStore,
    cache_for: Duration,
    rate_per_second: u32,
    quotes_per_second: u32,
    /// key hash → (what the database said, when).
    keys: Mutex<HashMap<String, (KeyCheck, Instant)>>,
    /// Per hospital code.
    rates: DefaultKeyedRateLimiter<String>,
    quotes: DefaultKeyedRateLimiter<String>,
    /// Per address: failed key checks, and until when its unknown keys are refused.
    failed_keys: DefaultKeyedRateLimiter<IpAddr>,
    paused: Mutex<HashMap<IpAddr, Instant>>,
}

impl Access {
    pub fn new(store: HospitalStore, config: &HospitalAccessConfig) -> Arc<Self> {
        Arc::new(Self {
            store,
            cache_for: Duration::from_millis(config.key_cache_ms),
            rate_per_second: config.requests_per_second,
            quotes_per_second: config.quotes_per_second,
            keys: Mutex::new(HashMap::new()),
            rates: DefaultKeyedRateLimiter::keyed(quota(config.requests_per_second, config.burst)),
            quotes: DefaultKeyedRateLimiter::keyed(quota(config.quotes_per_second, config.quote_burst)),
            failed_keys: DefaultKeyedRateLimiter::keyed(quota(config.failed_keys_per_second, config.failed_key_burst)),
            paused: Mutex::new(HashMap::new()),
        })
    }

    /// The hospital behind the caller's `Bearer KEY`, if it may call now.
    pub async fn admit(&self, caller: &Caller) -> Result<Hospital> {
        let hospital = self.authenticate(caller).await?;
        self.rates.check_key(&hospital.code).map_err(|_| GatewayError::RateLimited(self.rate_per_second))?;
        Ok(hospital)
    }

    /// The same, for a quote: the hospital's rate and its quote rate.
    pub async fn admit_quote(&self, caller: &Caller) -> Result<Hospital> {
        let hospital = self.admit(caller).await?;
        self.quotes.check_key(&hospital.code).map_err(|_| GatewayError::QuoteRateLimited(self.quotes_per_second))?;
        Ok(hospital)
    }

    async fn authenticate(&self, caller: &Caller) -> Result<Hospital> {
        let value = caller.authorization.as_deref().ok_or(GatewayError::MissingKey)?;
        let key = doudi_runtime::auth::bearer(Some(value)).ok_or(GatewayError::MalformedKey)?;
        let hash = key_hash(key);
        let now = Instant::now();
        let cached = self.keys.lock().expect("key cache").get(&hash).cloned();
        let check = match cached {
            Some((check, at)) if now.duration_since(at) < self.cache_for => check,
            _ => {
                self.may_look_up(caller.address, now)?;
                let check = match self.store.by_key_hash(&hash).await? {
                    Some(holder) if !holder.revoked => KeyCheck::Valid(holder.hospital),
                    Some(_) => KeyCheck::Revoked,
                    None => KeyCheck::Unknown,
                };
                self.remember(hash, check.clone(), now);
                if !matches!(check, KeyCheck::Valid(_)) && !self.count_failure(caller.address, now) {
                    return Err(GatewayError::TooManyFailedKeys);
                }
                check
            }
        };
        match check {
            KeyCheck::Valid(hospital) => Ok(hospital),
            KeyCheck::Revoked => Err(GatewayError::RevokedKey),
            KeyCheck::Unknown => Err(GatewayError::UnknownKey),
        }
    }

    /// Refuses a lookup from an address that is paused for presenting too many bad keys.
    fn may_look_up(&self, address: Option<IpAddr>, now: Instant) -> Result<()> {
        let Some(address) = address else { return Ok(()) };
        match self.paused.lock().expect("paused addresses").get(&address) {
            Some(until) if now < *until => Err(GatewayError::TooManyFailedKeys),
            _ => Ok(()),
        }
    }

    /// Counts a failed key check against the address; `false` once it is over its budget (the
    /// address is then paused).
    fn count_failure(&self, address: Option<IpAddr>, now: Instant) -> bool {
        let Some(address) = address else { return true };
        if self.failed_keys.check_key(&address).is_ok() {
            return true;
        }
        let mut paused = self.paused.lock().expect("paused addresses");
        if paused.len() > CACHE_BOUND {
            paused.retain(|_, until| now < *until);
        }
        paused.insert(address, now + FAILED_KEYS_PAUSE);
        false
    }

    fn remember(&self, hash: String, check: KeyCheck, now: Instant) {
        let mut keys = self.keys.lock().expect("key cache");
        // Bounded: forget everything stale before growing.
        if keys.len() > CACHE_BOUND {
            keys.retain(|_, (_, at)| now.duration_since(*at) < self.cache_for);
        }
        keys.insert(hash, (check, now));
    }
}

/// `per_second` sustained, `burst` at once (the configuration validates both as positive).
fn quota(per_second: u32, burst: u32) -> Quota {
    let at_least_one = |n: u32| NonZeroU32::new(n).unwrap_or(NonZeroU32::MIN);
    Quota::per_second(at_least_one(per_second)).allow_burst(at_least_one(burst))
}
