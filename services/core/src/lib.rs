//! Pure domain types shared by every Doudi service. No I/O lives here.

pub mod category;
pub mod date;
pub mod money;
pub mod named;
pub mod national_id;
pub mod pii;
pub mod policy;
pub mod violation;

pub use category::{Category, Relation};
pub use date::Date;
pub use money::{Bp, Fen};
pub use national_id::NationalId;
pub use violation::{FieldViolation, Violations};
