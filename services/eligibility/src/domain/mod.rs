//! The eligibility rules, pure: no I/O, no tonic, no sqlx.

pub mod assessment;
pub mod coverage;
pub mod household;
pub mod import;
pub mod poverty;
pub mod procedure;
pub mod roll;
pub mod upkeep;
