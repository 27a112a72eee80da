//! Reviews (dynamic management): a recipient's benefit kept, raised, lowered or stopped from
//! the next month, with the review history kept.

pub mod grpc;
pub mod ops;
pub mod rules;
pub mod store;
