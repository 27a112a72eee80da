//! A hospital's identity at the gateway: its code and level, and its API key. A key is shown
//! once, when issued, and stored only as its SHA-256 (keys are 256 random bits, so a plain hash
//! cannot be reversed by guessing).

use doudi_core::policy::HospitalLevel;
use doudi_runtime::crypto::sha256_hex;

/// What a request is allowed to act as.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hospital {
    pub code: String,
    pub level: HospitalLevel,
}

/// A key looked up: the hospital, and whether it may still act.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyHolder {
    pub hospital: Hospital,
    pub revoked: bool,
}

pub const KEY_PREFIX: &str = "dk_";

pub fn new_api_key() -> String {
    let mut bytes = [0u8; 32];
    getrandom::getrandom(&mut bytes).expect("system randomness");
    format!("{KEY_PREFIX}{}", hex::encode(bytes))
}

pub fn key_hash(key: &str) -> String {
    sha256_hex(key.as_bytes())
}

pub fn parse_level(text: &str) -> Option<HospitalLevel> {
    HospitalLevel::ALL.into_iter().find(|l| l.as_str() == text)
}

/// `[A-Za-z0-9_-]{1,32}`.
pub(crate) fn check_code(code: &str) -> Result<(), &'static str> {
    if code.is_empty() || code.len() > 32 {
        return Err("must be 1 to 32 characters");
    }
    if !code.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-') {
        return Err("may contain only letters, digits, '_' and '-'");
    }
    Ok(())
}
