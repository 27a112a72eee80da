//! Public notice (公示): a village's list of applications under notice and of current
//! recipients, names and IDs masked, for its township's staff and the notice board.

pub mod grpc;
pub mod ops;
pub mod store;
