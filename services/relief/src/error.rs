//! Every expected failure of the relief service, in one place, each mapped once to the suite's
//! `ApiError`.

use doudi_core::{FieldViolation, Violations};
use doudi_runtime::error::Failure;
use doudi_runtime::{ApiError, ErrorKind, ServiceError};

#[derive(Debug, thiserror::Error)]
pub enum ReliefError {
    #[error("{0}")]
    Invalid(#[from] Violations),
    #[error("case {0} not found")]
    CaseNotFound(i64),
    #[error("case {id} is {state}: {wanted}")]
    WrongState { id: i64, state: String, wanted: String },
    /// A grant over an authority or yearly limit (policy.md): which limit, the amount, what is
    /// left under it and by how much the grant is over.
    #[error("{limit}: {amount} fen asked, {left} fen left under it, {over} fen over")]
    OverLimit { limit: String, amount: i64, left: i64, over: i64 },
    #[error(
        "the relief budget for {year} is {budget} fen, {granted} fen granted: {amount} fen would overdraw it by {over} fen"
    )]
    BudgetExceeded { year: i64, budget: i64, granted: i64, amount: i64, over: i64 },
    /// The wrong role or township for this: the field it concerns, and why.
    #[error("{reason}")]
    Forbidden { field: &'static str, reason: String },
    /// The eligibility or payment service did not answer: nothing was written.
    #[error("{0}")]
    Upstream(String),
    #[error("{0}")]
    Internal(String),
    #[error(transparent)]
    Storage(#[from] sqlx::Error),
}

pub type Result<T, E = ReliefError> = std::result::Result<T, E>;

impl ReliefError {
    pub fn forbidden(field: &'static str, reason: impl Into<String>) -> Self {
        Self::Forbidden { field, reason: reason.into() }
    }
}

impl ServiceError for ReliefError {
    fn classify(self) -> Failure<Self> {
        match self {
            ReliefError::Invalid(violations) => Failure::Invalid(violations),
            ReliefError::Storage(e) => Failure::Storage(e),
            ReliefError::Internal(cause) => Failure::Internal(cause),
            other => Failure::Expected(other),
        }
    }

    fn kind(&self) -> ErrorKind {
        use ReliefError::*;
        match self {
            Invalid(_) => ErrorKind::InvalidArgument,
            CaseNotFound(_) => ErrorKind::NotFound,
            WrongState { .. } | OverLimit { .. } | BudgetExceeded { .. } => ErrorKind::FailedPrecondition,
            Forbidden { .. } => ErrorKind::PermissionDenied,
            Upstream(_) => ErrorKind::Unavailable,
            Internal(_) | Storage(_) => ErrorKind::Internal,
        }
    }

    fn details(&self) -> Vec<FieldViolation> {
        match self {
            ReliefError::OverLimit { limit, left, .. } => {
                vec![FieldViolation::new("amountFen", format!("{limit}: at most {left} fen"))]
            }
            ReliefError::Forbidden { field, reason } => vec![FieldViolation::new(*field, reason.clone())],
            ReliefError::BudgetExceeded { budget, granted, .. } => {
                vec![FieldViolation::new("amountFen", format!("at most {} fen (the budget left)", budget - granted))]
            }
            _ => Vec::new(),
        }
    }
}

impl From<ReliefError> for ApiError {
    fn from(error: ReliefError) -> Self {
        error.into_api_error()
    }
}

impl From<ReliefError> for tonic::Status {
    fn from(error: ReliefError) -> Self {
        error.into_api_error().into_status()
    }
}
