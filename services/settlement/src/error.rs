//! Every expected failure of the settlement service, in one place, each mapped once to the
//! suite's `ApiError`.

use doudi_core::{FieldViolation, Violations};
use doudi_runtime::error::Failure;
use doudi_runtime::{ApiError, ErrorKind, ServiceError};

#[derive(Debug, thiserror::Error)]
pub enum SettlementError {
    #[error("{0}")]
    Invalid(#[from] Violations),
    #[error("settlement {0} not found")]
    SettlementNotFound(String),
    #[error("settlement of bill {0} not found")]
    BillNotFound(String),
    /// The hospital has no settlement of the patient in the year, so it may not read the year.
    #[error("a settlement of this hospital for the patient in {0} not found")]
    PatientNotKnown(i32),
    #[error(
        "bill {bill_no} was already settled with other content (settlement {settlement_id}); settle a corrected bill under a new bill number"
    )]
    BillConflict { bill_no: String, settlement_id: String },
    /// The patient's category is unknown: a bill is never settled as NONE for want of an answer.
    #[error("the eligibility service did not answer, so the patient's category is unknown: nothing was settled, retry")]
    EligibilityUnavailable,
    /// A concurrent request is settling the same bill number; the outcome is the stored one.
    #[error("concurrent settlement of this bill, retry")]
    ConcurrentSettlement,
    #[error("concurrent change of this settlement, retry")]
    ConcurrentChange,
    /// A fact the service relies on does not hold (an amount overflowed): logged, and the
    /// caller sees only "internal error".
    #[error("{0}")]
    Internal(String),
    #[error(transparent)]
    Storage(#[from] sqlx::Error),
}

pub type Result<T, E = SettlementError> = std::result::Result<T, E>;

impl SettlementError {
    pub fn internal(cause: impl std::fmt::Display) -> Self {
        Self::Internal(cause.to_string())
    }
}

impl ServiceError for SettlementError {
    fn classify(self) -> Failure<Self> {
        match self {
            SettlementError::Invalid(violations) => Failure::Invalid(violations),
            SettlementError::Storage(e) => Failure::Storage(e),
            SettlementError::Internal(cause) => Failure::Internal(cause),
            other => Failure::Expected(other),
        }
    }

    fn kind(&self) -> ErrorKind {
        use SettlementError::*;
        match self {
            Invalid(_) => ErrorKind::InvalidArgument,
            SettlementNotFound(_) | BillNotFound(_) | PatientNotKnown(_) => ErrorKind::NotFound,
            BillConflict { .. } => ErrorKind::AlreadyExists,
            EligibilityUnavailable | ConcurrentSettlement | ConcurrentChange => ErrorKind::Unavailable,
            Internal(_) | Storage(_) => ErrorKind::Internal,
        }
    }

    fn details(&self) -> Vec<FieldViolation> {
        match self {
            SettlementError::BillConflict { bill_no, .. } => vec![FieldViolation::new(
                "billNo",
                format!("bill {bill_no} already has a settlement with other content"),
            )],
            _ => Vec::new(),
        }
    }
}

impl From<SettlementError> for ApiError {
    fn from(error: SettlementError) -> Self {
        error.into_api_error()
    }
}

impl From<SettlementError> for tonic::Status {
    fn from(error: SettlementError) -> Self {
        error.into_api_error().into_status()
    }
}
