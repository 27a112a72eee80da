//! Hospitals as the gateway knows them: their identity and API keys, the store that keeps them,
//! and who may call now (key check, per-hospital rate).

pub mod access;
pub mod keys;
pub mod store;

pub use store::{HospitalStore, MIGRATIONS};
