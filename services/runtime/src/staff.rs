//! One staff identity for every service: a staff token's holder, role and township scope, read
//! by the same code everywhere. The eligibility service keeps the staff register and answers
//! from it; every other service asks it (`doudi.eligibility.v1.StaffDirectory`, over mutual TLS)
//! and keeps an answer at most `STAFF_ANSWER_TTL`, so a withdrawn token stops working in every
//! service within a second.

use doudi_core::Date;
use doudi_core::pii::mask_name;
use doudi_proto::eligibility::v1 as pb;
use doudi_proto::eligibility::v1::staff_directory_client::StaffDirectoryClient;
use futures_util::future::BoxFuture;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tonic::transport::Channel;

/// How long another service reuses the register's answer about a token.
pub const STAFF_ANSWER_TTL: Duration = Duration::from_millis(500);
/// Answers kept at most; past it the cache starts afresh (tokens are few, callers fewer).
const CACHE_LIMIT: usize = 4096;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Role {
    Township,
    County,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Township => "TOWNSHIP",
            Role::County => "COUNTY",
        }
    }

    pub fn parse(text: &str) -> Option<Role> {
        [Role::Township, Role::County].into_iter().find(|r| r.as_str() == text)
    }
}

/// A member of staff, as a valid token names them. `Debug` masks the name.
#[derive(Clone, PartialEq, Eq)]
pub struct Staff {
    pub id: i64,
    pub name: String,
    pub role: Role,
    /// Township staff only.
    pub township: Option<String>,
}

impl std::fmt::Debug for Staff {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Staff")
            .field("id", &self.id)
            .field("name", &mask_name(&self.name))
            .field("role", &self.role)
            .field("township", &self.township)
            .finish()
    }
}

impl Staff {
    /// Who acted, for audit trails and access logs.
    pub fn actor(&self) -> String {
        format!("staff:{}:{}", self.id, self.name)
    }

    pub fn is_county(&self) -> bool {
        self.role == Role::County
    }

    /// County staff act everywhere; township staff in their own township only.
    pub fn acts_in(&self, township: &str) -> bool {
        match (self.role, &self.township) {
            (Role::County, _) => true,
            (Role::Township, Some(own)) => own == township,
            (Role::Township, None) => false,
        }
    }
}

/// What a token is worth now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TokenCheck {
    Valid(Staff),
    /// Genuine, but its last valid day has passed.
    Expired(Date),
    /// Not genuine, withdrawn, or not a staff token at all.
    Unknown,
}

/// Whoever can tell what a staff token is worth: the register itself, or a service asking it.
pub trait StaffDirectory: Send + Sync + 'static {
    fn check<'a>(&'a self, token: &'a str) -> BoxFuture<'a, Result<TokenCheck, tonic::Status>>;
}

/// The eligibility service's answer on the wire, and back.
pub fn check_to_proto(check: &TokenCheck) -> pb::CheckStaffTokenResponse {
    match check {
        TokenCheck::Valid(staff) => pb::CheckStaffTokenResponse {
            verdict: pb::StaffTokenVerdict::StaffTokenValid as i32,
            staff: Some(pb::StaffHolder {
                id: staff.id,
                name: staff.name.clone(),
                role: match staff.role {
                    Role::Township => pb::StaffRole::Township as i32,
                    Role::County => pb::StaffRole::County as i32,
                },
                township: staff.township.clone().unwrap_or_default(),
            }),
            expired_after: String::new(),
        },
        TokenCheck::Expired(last) => pb::CheckStaffTokenResponse {
            verdict: pb::StaffTokenVerdict::StaffTokenExpired as i32,
            staff: None,
            expired_after: last.to_string(),
        },
        TokenCheck::Unknown => pb::CheckStaffTokenResponse {
            verdict: pb::StaffTokenVerdict::StaffTokenUnknown as i32,
            ..Default::default()
        },
    }
}

fn check_from_proto(answer: pb::CheckStaffTokenResponse) -> Result<TokenCheck, tonic::Status> {
    let garbled = |what: &str| tonic::Status::unavailable(format!("the staff register answered {what}"));
    match pb::StaffTokenVerdict::try_from(answer.verdict) {
        Ok(pb::StaffTokenVerdict::StaffTokenValid) => {
            let holder = answer.staff.ok_or_else(|| garbled("VALID without a holder"))?;
            let role = match pb::StaffRole::try_from(holder.role) {
                Ok(pb::StaffRole::Township) => Role::Township,
                Ok(pb::StaffRole::County) => Role::County,
                _ => return Err(garbled("an unknown role")),
            };
            let township = Some(holder.township).filter(|t| !t.is_empty());
            Ok(TokenCheck::Valid(Staff { id: holder.id, name: holder.name, role, township }))
        }
        Ok(pb::StaffTokenVerdict::StaffTokenExpired) => {
            answer.expired_after.parse().map(TokenCheck::Expired).map_err(|_| garbled("EXPIRED without a date"))
        }
        Ok(pb::StaffTokenVerdict::StaffTokenUnknown) => Ok(TokenCheck::Unknown),
        _ => Err(garbled("an unknown verdict")),
    }
}

/// The register's answers by the token's digest, with when they came.
type Answers = HashMap<[u8; 32], (Instant, TokenCheck)>;

/// Another service's view of the register: asks the eligibility service, over the channel it
/// is given (mutual TLS), keeping each answer `STAFF_ANSWER_TTL`.
#[derive(Clone)]
pub struct RemoteStaffDirectory {
    client: StaffDirectoryClient<Channel>,
    deadline: Duration,
    answers: Arc<Mutex<Answers>>,
}

impl RemoteStaffDirectory {
    pub fn new(channel: Channel, deadline: Duration) -> Self {
        Self { client: StaffDirectoryClient::new(channel), deadline, answers: Arc::default() }
    }

    fn cached(&self, key: &[u8; 32]) -> Option<TokenCheck> {
        let answers = self.answers.lock().unwrap_or_else(|e| e.into_inner());
        answers.get(key).filter(|(at, _)| at.elapsed() < STAFF_ANSWER_TTL).map(|(_, check)| check.clone())
    }

    fn keep(&self, key: [u8; 32], check: &TokenCheck) {
        let mut answers = self.answers.lock().unwrap_or_else(|e| e.into_inner());
        if answers.len() >= CACHE_LIMIT {
            answers.retain(|_, (at, _)| at.elapsed() < STAFF_ANSWER_TTL);
            if answers.len() >= CACHE_LIMIT {
                answers.clear();
            }
        }
        answers.insert(key, (Instant::now(), check.clone()));
    }
}

impl StaffDirectory for RemoteStaffDirectory {
    fn check<'a>(&'a self, token: &'a str) -> BoxFuture<'a, Result<TokenCheck, tonic::Status>> {
        Box::pin(async move {
            // Keyed by a digest: the cache holds no token.
            let key: [u8; 32] = Sha256::digest(token.as_bytes()).into();
            if let Some(check) = self.cached(&key) {
                return Ok(check);
            }
            let mut request = tonic::Request::new(pb::CheckStaffTokenRequest { token: token.to_owned() });
            request.set_timeout(self.deadline);
            let answer = self.client.clone().check_staff_token(request).await.map_err(|status| {
                tracing::warn!(code = ?status.code(), message = status.message(), "the staff register did not answer");
                tonic::Status::unavailable("the staff register (eligibility service) is unavailable; retry")
            })?;
            let check = check_from_proto(answer.into_inner())?;
            self.keep(key, &check);
            Ok(check)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checks_cross_the_wire_unchanged() {
        let staff = Staff { id: 3, name: "李干事".into(), role: Role::Township, township: Some("城关镇".into()) };
        let county = Staff { id: 4, name: "王科长".into(), role: Role::County, township: None };
        for check in [
            TokenCheck::Valid(staff),
            TokenCheck::Valid(county),
            TokenCheck::Expired("2026-01-31".parse().expect("date")),
            TokenCheck::Unknown,
        ] {
            assert_eq!(check_from_proto(check_to_proto(&check)).expect("decodes"), check);
        }
        assert!(check_from_proto(pb::CheckStaffTokenResponse::default()).is_err());
    }

    #[test]
    fn scope_and_debug() {
        let staff = Staff { id: 3, name: "李干事".into(), role: Role::Township, township: Some("城关镇".into()) };
        assert!(staff.acts_in("城关镇") && !staff.acts_in("河口乡") && !staff.is_county());
        assert!(!format!("{staff:?}").contains("李干事"));
    }
}
