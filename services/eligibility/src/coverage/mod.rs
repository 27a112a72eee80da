//! Coverage: which categories a person holds on any day (the answer on every hospital bill's
//! path, served from an in-memory index that is never older than the request), and who a year's
//! premium subsidy is for.

pub mod grpc;
pub mod index;
pub mod ops;
pub mod rules;
pub mod store;
