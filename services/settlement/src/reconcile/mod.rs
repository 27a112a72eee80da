//! Reconciliation with a hospital (对账): our net per payer over a range of days against theirs.

pub mod grpc;
pub mod ops;
pub mod rules;
pub mod store;
