//! Every expected failure of the gateway, in one place, each mapped once to the suite's
//! `ApiError`. What the settlement service answers passes through as its `Status`.

use doudi_core::{FieldViolation, Violations};
use doudi_runtime::error::Failure;
use doudi_runtime::{ApiError, ErrorKind, ServiceError};

#[derive(Debug, thiserror::Error)]
pub enum GatewayError {
    #[error("{0}")]
    Invalid(#[from] Violations),
    #[error("missing authorization: send `Bearer <API key>`")]
    MissingKey,
    #[error("authorization must be `Bearer <API key>`")]
    MalformedKey,
    #[error("unknown API key")]
    UnknownKey,
    #[error("this API key has been revoked")]
    RevokedKey,
    #[error("rate limit of {0} requests per second exceeded, retry later")]
    RateLimited(u32),
    #[error("quote rate limit of {0} per second exceeded (quotes are limited apart from settlements), retry later")]
    QuoteRateLimited(u32),
    #[error("too many unknown or revoked API keys from this address, retry later")]
    TooManyFailedKeys,
    #[error("hospital {0} not found")]
    HospitalNotFound(String),
    #[error("hospital {0} already exists")]
    HospitalExists(String),
    #[error(transparent)]
    Storage(#[from] sqlx::Error),
}

pub type Result<T, E = GatewayError> = std::result::Result<T, E>;

impl ServiceError for GatewayError {
    fn classify(self) -> Failure<Self> {
        match self {
            GatewayError::Invalid(violations) => Failure::Invalid(violations),
            GatewayError::Storage(e) => Failure::Storage(e),
            other => Failure::Expected(other),
        }
    }

    fn kind(&self) -> ErrorKind {
        use GatewayError::*;
        match self {
            Invalid(_) => ErrorKind::InvalidArgument,
            MissingKey | MalformedKey | UnknownKey | RevokedKey => ErrorKind::Unauthenticated,
            RateLimited(_) | QuoteRateLimited(_) | TooManyFailedKeys => ErrorKind::ResourceExhausted,
            HospitalNotFound(_) => ErrorKind::NotFound,
            HospitalExists(_) => ErrorKind::AlreadyExists,
            Storage(_) => ErrorKind::Internal,
        }
    }

    fn details(&self) -> Vec<FieldViolation> {
        match self {
            GatewayError::HospitalExists(_) => vec![FieldViolation::new("code", "is taken")],
            _ => Vec::new(),
        }
    }
}

impl From<GatewayError> for ApiError {
    fn from(error: GatewayError) -> Self {
        error.into_api_error()
    }
}

impl From<GatewayError> for tonic::Status {
    fn from(error: GatewayError) -> Self {
        error.into_api_error().into_status()
    }
}
