//! The monthly benefit roll (dibao and tekun): who is paid for a month, how much, who is
//! suspended for an overdue review, and each household's sum into its head's account.

pub mod grpc;
pub mod ops;
pub mod rules;
pub mod store;
