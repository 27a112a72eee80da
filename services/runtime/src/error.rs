//! The closed set of error kinds every Doudi service answers with, mapped in one place to a gRPC
//! code and an HTTP status. Clients see a stable code, a lowercase human message and, for bad
//! input, one detail per offending field; never SQL or a stack trace.

use doudi_core::{FieldViolation, Violations};
use tonic::{Code, Status};
use tonic_types::{ErrorDetails, StatusExt};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    InvalidArgument,
    NotFound,
    AlreadyExists,
    FailedPrecondition,
    PermissionDenied,
    Unauthenticated,
    ResourceExhausted,
    /// A transaction lost a race (a serialization failure, a deadlock): nothing was written,
    /// and the same request again is safe.
    Aborted,
    Unavailable,
    Internal,
}

impl ErrorKind {
    pub fn grpc_code(self) -> Code {
        match self {
            ErrorKind::InvalidArgument => Code::InvalidArgument,
            ErrorKind::NotFound => Code::NotFound,
            ErrorKind::AlreadyExists => Code::AlreadyExists,
            ErrorKind::FailedPrecondition => Code::FailedPrecondition,
            ErrorKind::PermissionDenied => Code::PermissionDenied,
            ErrorKind::Unauthenticated => Code::Unauthenticated,
            ErrorKind::ResourceExhausted => Code::ResourceExhausted,
            ErrorKind::Aborted => Code::Aborted,
            ErrorKind::Unavailable => Code::Unavailable,
            ErrorKind::Internal => Code::Internal,
        }
    }

    pub fn http_status(self) -> u16 {
        http_status_of(self.grpc_code())
    }
}

/// The HTTP status of a gRPC code (google.rpc.Code's documented mapping), so an HTTP client
/// sees the same outcome a gRPC client does, including codes passed through from upstream.
pub fn http_status_of(code: Code) -> u16 {
    match code {
        Code::Ok => 200,
        Code::Cancelled => 499,
        Code::Unknown | Code::Internal | Code::DataLoss => 500,
        Code::InvalidArgument | Code::FailedPrecondition | Code::OutOfRange => 400,
        Code::DeadlineExceeded => 504,
        Code::NotFound => 404,
        Code::AlreadyExists | Code::Aborted => 409,
        Code::PermissionDenied => 403,
        Code::ResourceExhausted => 429,
        Code::Unimplemented => 501,
        Code::Unavailable => 503,
        Code::Unauthenticated => 401,
    }
}

/// The code's name as google.rpc.Code spells it (`INVALID_ARGUMENT`), for JSON error bodies.
pub fn code_name(code: Code) -> &'static str {
    match code {
        Code::Ok => "OK",
        Code::Cancelled => "CANCELLED",
        Code::Unknown => "UNKNOWN",
        Code::InvalidArgument => "INVALID_ARGUMENT",
        Code::DeadlineExceeded => "DEADLINE_EXCEEDED",
        Code::NotFound => "NOT_FOUND",
        Code::AlreadyExists => "ALREADY_EXISTS",
        Code::PermissionDenied => "PERMISSION_DENIED",
        Code::ResourceExhausted => "RESOURCE_EXHAUSTED",
        Code::FailedPrecondition => "FAILED_PRECONDITION",
        Code::Aborted => "ABORTED",
        Code::OutOfRange => "OUT_OF_RANGE",
        Code::Unimplemented => "UNIMPLEMENTED",
        Code::Internal => "INTERNAL",
        Code::Unavailable => "UNAVAILABLE",
        Code::DataLoss => "DATA_LOSS",
        Code::Unauthenticated => "UNAUTHENTICATED",
    }
}

/// An error as a client receives it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct ApiError {
    pub kind: ErrorKind,
    pub message: String,
    pub details: Vec<FieldViolation>,
}

impl ApiError {
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        Self { kind, message: message.into(), details: Vec::new() }
    }

    pub fn invalid(violations: Vec<FieldViolation>) -> Self {
        Self::from(Violations::from(violations))
    }

    /// An unexpected failure: the cause is logged here, the client gets only "internal error".
    pub fn internal(cause: &dyn std::fmt::Display) -> Self {
        tracing::error!(error = %cause, "internal error");
        Self::new(ErrorKind::Internal, "internal error")
    }

    pub fn into_status(self) -> Status {
        if self.details.is_empty() {
            return Status::new(self.kind.grpc_code(), self.message);
        }
        let mut details = ErrorDetails::new();
        for v in &self.details {
            details.add_bad_request_violation(v.field.clone(), v.description.clone());
        }
        Status::with_error_details(self.kind.grpc_code(), self.message, details)
    }
}

impl From<Violations> for ApiError {
    fn from(violations: Violations) -> Self {
        let message = violations.to_string();
        Self { kind: ErrorKind::InvalidArgument, message, details: violations.into_vec() }
    }
}

impl From<ApiError> for Status {
    fn from(error: ApiError) -> Self {
        error.into_status()
    }
}

/// Which database answered with an error code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum CodeOf {
    Postgres,
    Sqlite,
}

/// What a database error code means for the caller, when it means "retry": PostgreSQL's
/// serialization failure (40001) and deadlock (40P01) abort the transaction, nothing is written;
/// SQLite's busy and locked codes (5, 6 and their extended forms) mean another writer holds the
/// database.
fn retryable(of: CodeOf, code: &str) -> Option<(ErrorKind, &'static str)> {
    match of {
        CodeOf::Postgres if matches!(code, "40001" | "40P01") => {
            Some((ErrorKind::Aborted, "the change conflicted with a concurrent one; nothing was written, retry"))
        }
        CodeOf::Sqlite if code.parse::<u32>().is_ok_and(|c| matches!(c & 0xff, 5 | 6)) => {
            Some((ErrorKind::Unavailable, "the database is busy, retry later"))
        }
        _ => None,
    }
}

impl From<sqlx::Error> for ApiError {
    fn from(error: sqlx::Error) -> Self {
        if matches!(error, sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed | sqlx::Error::Io(_)) {
            tracing::warn!(error = %error, "database unavailable");
            return Self::new(ErrorKind::Unavailable, "database unavailable, retry later");
        }
        if let sqlx::Error::Database(db) = &error {
            let of = if db.try_downcast_ref::<sqlx::sqlite::SqliteError>().is_some() {
                CodeOf::Sqlite
            } else {
                CodeOf::Postgres
            };
            if let Some((kind, message)) = db.code().as_deref().and_then(|code| retryable(of, code)) {
                tracing::warn!(error = %error, "database conflict");
                return Self::new(kind, message);
            }
        }
        Self::internal(&error)
    }
}

/// A service's error enum, mapped to `ApiError` the same way in every service: bad input with
/// its field details, storage failures as UNAVAILABLE or INTERNAL, internal ones logged and
/// answered as "internal error", and the service's own expected failures with their code, their
/// message and (where a field is at fault) its details.
pub trait ServiceError: std::fmt::Display + Sized {
    /// What kind of failure this is; `Expected` carries the error back.
    fn classify(self) -> Failure<Self>;
    /// The code of an expected failure.
    fn kind(&self) -> ErrorKind;
    /// The fields an expected failure is about.
    fn details(&self) -> Vec<FieldViolation> {
        Vec::new()
    }

    fn into_api_error(self) -> ApiError {
        match self.classify() {
            Failure::Invalid(violations) => violations.into(),
            Failure::Storage(error) => error.into(),
            Failure::Internal(cause) => ApiError::internal(&cause),
            Failure::Expected(error) => {
                ApiError { kind: error.kind(), message: error.to_string(), details: error.details() }
            }
        }
    }
}

/// The kinds of failure every service shares, and its own.
#[derive(Debug)]
pub enum Failure<E> {
    Invalid(Violations),
    Storage(sqlx::Error),
    Internal(String),
    Expected(E),
}

/// The field violations carried by a status, for clients and tests.
pub fn field_violations(status: &Status) -> Vec<FieldViolation> {
    status
        .get_details_bad_request()
        .map(|b| b.field_violations.into_iter().map(|v| FieldViolation::new(v.field, v.description)).collect())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_mapping_for_grpc_and_http() {
        let cases = [
            (ErrorKind::InvalidArgument, Code::InvalidArgument, 400),
            (ErrorKind::NotFound, Code::NotFound, 404),
            (ErrorKind::AlreadyExists, Code::AlreadyExists, 409),
            (ErrorKind::Unauthenticated, Code::Unauthenticated, 401),
            (ErrorKind::PermissionDenied, Code::PermissionDenied, 403),
            (ErrorKind::ResourceExhausted, Code::ResourceExhausted, 429),
            (ErrorKind::Aborted, Code::Aborted, 409),
            (ErrorKind::Unavailable, Code::Unavailable, 503),
            (ErrorKind::Internal, Code::Internal, 500),
        ];
        for (kind, code, http) in cases {
            assert_eq!((kind.grpc_code(), kind.http_status()), (code, http), "{kind:?}");
        }
    }

    #[test]
    fn conflicts_and_busy_databases_mean_retry() {
        assert_eq!(retryable(CodeOf::Postgres, "40001").map(|r| r.0), Some(ErrorKind::Aborted));
        assert_eq!(retryable(CodeOf::Postgres, "40P01").map(|r| r.0), Some(ErrorKind::Aborted));
        // SQLITE_BUSY, SQLITE_BUSY_SNAPSHOT (517), SQLITE_LOCKED.
        for code in ["5", "517", "6"] {
            assert_eq!(retryable(CodeOf::Sqlite, code).map(|r| r.0), Some(ErrorKind::Unavailable), "{code}");
        }
        // A unique violation (PostgreSQL 23505, SQLite 2067) is not a retry, nor is a PostgreSQL
        // code that happens to end like SQLite's busy one (42501: insufficient privilege).
        assert_eq!(retryable(CodeOf::Postgres, "23505"), None);
        assert_eq!(retryable(CodeOf::Sqlite, "2067"), None);
        assert_eq!(retryable(CodeOf::Postgres, "42501"), None);
    }

    #[test]
    fn field_violations_travel_in_the_status() {
        let error = ApiError::invalid(vec![
            FieldViolation::new("nationalId", "check digit does not match"),
            FieldViolation::new("date", "is not a real calendar date"),
        ]);
        assert_eq!(
            error.message,
            "invalid input: nationalId: check digit does not match; date: is not a real calendar date"
        );
        let status = error.clone().into_status();
        assert_eq!((status.code(), status.message()), (Code::InvalidArgument, error.message.as_str()));
        assert_eq!(field_violations(&status), error.details);
        assert!(field_violations(&ApiError::new(ErrorKind::NotFound, "gone").into_status()).is_empty());
    }
}
