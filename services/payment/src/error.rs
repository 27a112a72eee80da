//! Every expected failure of the payment service, in one place, each mapped once to the suite's
//! `ApiError`.

use doudi_core::{FieldViolation, Violations};
use doudi_runtime::error::Failure;
use doudi_runtime::{ApiError, ErrorKind, ServiceError};

#[derive(Debug, thiserror::Error)]
pub enum PaymentError {
    #[error("{0}")]
    Invalid(#[from] Violations),
    #[error("instruction {0} not found")]
    InstructionNotFound(i64),
    #[error("there is no bank batch {0}")]
    BatchNotFound(i64),
    /// The sender's key is taken by an instruction with other content.
    #[error("instruction {sender}/{source_ref} already exists with other content (instruction {id})")]
    KeyTaken { sender: String, source_ref: String, id: i64 },
    #[error(
        "the {fund} budget for {year} cannot be lowered to {wanted} fen: {committed} fen is committed and {paid} fen paid"
    )]
    BudgetBelowCommitted { fund: String, year: i64, wanted: i64, committed: i64, paid: i64 },
    #[error("instruction {id} is {state}: only DRAFT, APPROVED or HELD instructions can be cancelled")]
    NotCancellable { id: i64, state: String },
    #[error("{0}")]
    Refused(String),
    /// The eligibility service's roll could not be read: nothing of this chunk was written.
    #[error("the benefit roll could not be read from the eligibility service: {0}")]
    RollUnavailable(String),
    #[error("{0}")]
    Internal(String),
    #[error(transparent)]
    Storage(#[from] sqlx::Error),
}

pub type Result<T, E = PaymentError> = std::result::Result<T, E>;

impl PaymentError {
    pub fn internal(cause: impl std::fmt::Display) -> Self {
        Self::Internal(cause.to_string())
    }
}

impl ServiceError for PaymentError {
    fn classify(self) -> Failure<Self> {
        match self {
            PaymentError::Invalid(violations) => Failure::Invalid(violations),
            PaymentError::Storage(e) => Failure::Storage(e),
            PaymentError::Internal(cause) => Failure::Internal(cause),
            other => Failure::Expected(other),
        }
    }

    fn kind(&self) -> ErrorKind {
        use PaymentError::*;
        match self {
            Invalid(_) => ErrorKind::InvalidArgument,
            InstructionNotFound(_) | BatchNotFound(_) => ErrorKind::NotFound,
            KeyTaken { .. } => ErrorKind::AlreadyExists,
            BudgetBelowCommitted { .. } | NotCancellable { .. } | Refused(_) => ErrorKind::FailedPrecondition,
            RollUnavailable(_) => ErrorKind::Unavailable,
            Internal(_) | Storage(_) => ErrorKind::Internal,
        }
    }

    fn details(&self) -> Vec<FieldViolation> {
        match self {
            PaymentError::KeyTaken { sender, source_ref, .. } => vec![FieldViolation::new(
                "sourceRef",
                format!("{sender}/{source_ref} is already an instruction with other content"),
            )],
            PaymentError::BudgetBelowCommitted { committed, paid, .. } => {
                vec![FieldViolation::new("fen", format!("must be at least {} (committed and paid)", committed + paid))]
            }
            _ => Vec::new(),
        }
    }
}

impl From<PaymentError> for ApiError {
    fn from(error: PaymentError) -> Self {
        error.into_api_error()
    }
}

impl From<PaymentError> for tonic::Status {
    fn from(error: PaymentError) -> Self {
        error.into_api_error().into_status()
    }
}
