//! Registry upkeep: births, marriages, moves and deaths on a day (leaving or dying ends the
//! person's categories with that month), corrections of address and account with history.

pub mod grpc;
pub mod ops;
pub mod rules;
pub mod store;
