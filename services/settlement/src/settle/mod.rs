//! One-stop settlement (一站式即时结算): a hospital bill across basic insurance, critical-illness
//! insurance and medical assistance, on the person's yearly accumulators; quote, settle,
//! reverse, and the patient's year so far.

pub mod bill;
pub mod engine;
pub mod group;
mod group_cas;
#[cfg(test)]
mod group_tests;
mod group_write;
pub mod grpc;
pub mod known_years;
pub mod ops;
pub mod store;
pub mod write;
