//! Every expected failure of the eligibility service, in one place, each mapped once to the
//! suite's `ApiError` (a stable code, a human message, field details for bad input). Operations
//! return these; the gRPC adapters and the commands turn them into what their callers see.

use crate::procedure::rules::StepError;
use crate::registry::csv::LineError;
use doudi_core::{FieldViolation, Violations};
use doudi_runtime::error::Failure;
use doudi_runtime::{ApiError, ErrorKind, ServiceError};

#[derive(Debug, thiserror::Error)]
pub enum EligibilityError {
    #[error("{0}")]
    Invalid(#[from] Violations),

    // Who is asking.
    #[error("a staff token is required: `authorization: Bearer st_…`")]
    NoStaffToken,
    #[error("unknown or withdrawn staff token")]
    UnknownStaffToken,
    #[error("this staff token expired after {0}; the county issues a new one (`doudi staff add`)")]
    ExpiredStaffToken(doudi_core::Date),
    #[error("township staff act only on their own township's cases, not {0}'s")]
    OtherTownship(String),
    #[error("only county staff {0}")]
    CountyOnly(&'static str),
    #[error("township staff see the coverage of their own township's registered persons only")]
    NotOwnTownshipPerson,

    // The registry.
    #[error("household {0} is not registered")]
    HouseholdNotRegistered(String),
    #[error("household {0} is already registered with other content")]
    HouseholdNumberTaken(String),
    /// Members (by index in the request) already in another household (its number).
    #[error("members are registered in another household")]
    MembersElsewhere(Vec<(usize, String)>),
    /// The header or the CSV itself is broken: nothing was read.
    #[error("{0}")]
    ImportFile(LineError),
    /// Rows are invalid and skipping them was not asked for: nothing was imported.
    #[error("{} invalid rows", .0.len())]
    ImportRows(Vec<LineError>),

    // Upkeep.
    #[error("{national_id} is not a current member of household {household_no}")]
    NotAMember { national_id: String, household_no: String },
    #[error("{national_id} is already a member of household {household_no}")]
    AlreadyAMember { national_id: String, household_no: String },
    #[error("a newborn is not yet in the registry; this person is")]
    NewbornRegistered,
    #[error("{0} has died: a deceased person does not move")]
    Deceased(String),
    #[error("this person was registered meanwhile; retry")]
    RegisteredMeanwhile,

    // The procedure.
    #[error("application {0} not found")]
    ApplicationNotFound(i64),
    #[error("household {0} already has an open application")]
    OpenApplication(String),
    #[error("{0}")]
    Step(StepError),
    #[error("the application changed meanwhile; read it again")]
    ApplicationMoved,
    #[error("the application has no assessment")]
    NoAssessment,
    #[error("the household has no current member to enrol")]
    NoMemberToEnrol,
    /// The gates the household failed, by name.
    #[error("the household failed the {} gate(s): it cannot be enrolled in dibao", .0.join(", "))]
    GatesFailed(Vec<String>),
    /// `by` is what adds the persons: an approval, or a review that lowers TEKUN into dibao.
    #[error(
        "township {township}'s dibao quota is {quota} persons; {enrolled} are enrolled and this {by} adds {adding}"
    )]
    OverQuota { township: String, quota: i64, enrolled: i64, adding: i64, by: &'static str },
    #[error("township {0} has no dibao quota set; the county sets one first")]
    NoQuota(String),
    #[error("a member already holds {0} from then")]
    AlreadyEnrolled(String),

    // Reviews.
    #[error("the person holds no TEKUN or dibao benefit today")]
    NoPaidBenefit,
    #[error("the benefit changed meanwhile; read it again")]
    BenefitMoved,

    /// A fact the service relies on does not hold (no policy in force, an amount overflowed):
    /// logged, and the caller sees only "internal error".
    #[error("{0}")]
    Internal(String),
    #[error(transparent)]
    Storage(#[from] sqlx::Error),
}

pub type Result<T, E = EligibilityError> = std::result::Result<T, E>;

impl EligibilityError {
    pub fn internal(cause: impl std::fmt::Display) -> Self {
        Self::Internal(cause.to_string())
    }
}

impl ServiceError for EligibilityError {
    fn classify(self) -> Failure<Self> {
        match self {
            EligibilityError::Invalid(violations) => Failure::Invalid(violations),
            EligibilityError::Storage(e) => Failure::Storage(e),
            EligibilityError::Internal(cause) => Failure::Internal(cause),
            other => Failure::Expected(other),
        }
    }

    fn kind(&self) -> ErrorKind {
        use EligibilityError::*;
        match self {
            Invalid(_) | ImportFile(_) | ImportRows(_) => ErrorKind::InvalidArgument,
            NoStaffToken | UnknownStaffToken | ExpiredStaffToken(_) => ErrorKind::Unauthenticated,
            OtherTownship(_) | NotOwnTownshipPerson | CountyOnly(_) | Step(StepError::CountyOnly) => {
                ErrorKind::PermissionDenied
            }
            HouseholdNotRegistered(_) | ApplicationNotFound(_) => ErrorKind::NotFound,
            HouseholdNumberTaken(_)
            | MembersElsewhere(_)
            | OpenApplication(_)
            | NewbornRegistered
            | RegisteredMeanwhile => ErrorKind::AlreadyExists,
            NotAMember { .. }
            | AlreadyAMember { .. }
            | Deceased(_)
            | Step(_)
            | ApplicationMoved
            | NoAssessment
            | NoMemberToEnrol
            | GatesFailed(_)
            | OverQuota { .. }
            | NoQuota(_)
            | AlreadyEnrolled(_)
            | NoPaidBenefit
            | BenefitMoved => ErrorKind::FailedPrecondition,
            Internal(_) | Storage(_) => ErrorKind::Internal,
        }
    }

    fn details(&self) -> Vec<FieldViolation> {
        match self {
            EligibilityError::HouseholdNumberTaken(_) => {
                vec![FieldViolation::new("householdNo", "already registered with other content")]
            }
            EligibilityError::MembersElsewhere(conflicts) => conflicts
                .iter()
                .map(|(i, no)| {
                    FieldViolation::new(
                        format!("members[{i}].nationalId"),
                        format!("already a member of household {no}"),
                    )
                })
                .collect(),
            _ => Vec::new(),
        }
    }
}

impl From<EligibilityError> for ApiError {
    fn from(error: EligibilityError) -> Self {
        error.into_api_error()
    }
}

impl From<EligibilityError> for tonic::Status {
    fn from(error: EligibilityError) -> Self {
        error.into_api_error().into_status()
    }
}
