//! The eligibility rules, pure: no I/O, no tonic, no sqlx.

pub mod coverage;
pub mod household;
pub mod import;
