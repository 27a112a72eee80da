//! The monthly payroll (policy.md, "Payments" and "Arrears and overpayments"): one instruction
//! per household, kind and month from the eligibility service's benefit roll, price subsidy
//! included; each run also revisits the 12 months before it that were paid here, paying
//! shortfalls as arrears and recording excesses as overpayments, withheld from later payments
//! of the kind. A run is streamed chunk by chunk, each chunk one transaction, so a run killed
//! midway leaves whole chunks and the next run adds only what is missing.

pub mod explain;
pub mod ops;
pub mod roll;
pub mod rules;
pub mod store;
