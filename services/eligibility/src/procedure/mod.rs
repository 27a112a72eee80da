//! The dibao procedure: application → acceptance → investigation → economic check (3+X) →
//! appraisal → public notice → township review → county approval (or rejection at any step),
//! within the townships' quotas.

pub mod assessment;
pub mod grpc;
pub mod ops;
pub mod quota_store;
pub mod rules;
pub mod store;
