//! Staff: who they are (a token the master key signs), their role and township scope.

pub mod ops;
pub mod rules;
pub mod store;
