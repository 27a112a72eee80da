//! What every Doudi service stands on: layered configuration, storage on SQLite or PostgreSQL,
//! the gRPC server with its middleware, telemetry, PII crypto, the audit chain, error mapping.

pub mod access;
pub mod audit;
pub mod auth;
pub mod channel;
pub mod clock;
pub mod config;
pub mod crypto;
pub mod db;
pub mod error;
pub mod relay;
pub mod sealing;
pub mod server;
pub mod staff;
pub mod storage;
pub mod telemetry;
pub mod tls;

pub use config::Config;
pub use db::{Backend, Db};
pub use error::{ApiError, ErrorKind, ServiceError};
pub use storage::Storage;

/// The current instant as RFC 3339 UTC with milliseconds, the one timestamp format stored.
pub fn now_rfc3339() -> String {
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
    let secs = now.as_secs() as i64;
    let date = doudi_core::Date::from_days_since_epoch(secs.div_euclid(86_400));
    let rem = secs.rem_euclid(86_400);
    format!("{date}T{:02}:{:02}:{:02}.{:03}Z", rem / 3600, rem % 3600 / 60, rem % 60, now.subsec_millis())
}
