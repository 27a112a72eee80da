//! The access log (PIPL): every read of a person's data by a hospital — a quote, a settlement,
//! the year's totals — with what was asked and how it was answered, for county staff to see who
//! looked at a person and what a hospital looked at.

pub mod store;

use doudi_runtime::ServiceError;

/// What a hospital asked about a person.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AccessAction {
    Quote,
    Settle,
    YearTotals,
}

impl AccessAction {
    pub fn as_str(self) -> &'static str {
        match self {
            AccessAction::Quote => "QUOTE",
            AccessAction::Settle => "SETTLE",
            AccessAction::YearTotals => "YEAR_TOTALS",
        }
    }
}

/// The outcome of a read that was answered.
pub const ANSWERED: &str = "ANSWERED";

/// How a read was answered: `ANSWERED`, or the code of the error the hospital got.
pub fn outcome_of<T>(result: &crate::error::Result<T>) -> &'static str {
    match result {
        Ok(_) => ANSWERED,
        Err(error) => doudi_runtime::error::code_name(error.kind().grpc_code()),
    }
}
