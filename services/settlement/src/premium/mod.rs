//! Premium subsidies (资助参保): a year's subsidy per person, recorded once and queued for payment.

pub mod grpc;
pub mod ops;
pub mod store;
