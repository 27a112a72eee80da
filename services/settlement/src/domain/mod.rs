//! The settlement rules, free of I/O: the three-payer engine, bill validation, reconciliation.

pub mod bill;
pub mod engine;
pub mod reconcile;
