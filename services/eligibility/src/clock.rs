//! The service's calendar: shared with the suite (`doudi_runtime::clock`).

pub use doudi_runtime::clock::Clock;
