//! Who may call what: each service writes its allow-list once (`AllowList`, one rule per
//! method), and every request passes the `Guard` before it reaches the method. A caller is a
//! service of the suite (its client certificate, verified by the TLS handshake, names it) or a
//! member of staff (a staff token, checked against the staff register). Neither:
//! UNAUTHENTICATED; someone the method's rule does not name: PERMISSION_DENIED. The method finds
//! the admitted `Caller` in the request's extensions (`caller`), for its own scope rules.

use crate::auth;
use crate::staff::{Staff, StaffDirectory, TokenCheck};
use crate::tls;
use futures_util::future::BoxFuture;
use std::sync::Arc;
use std::task::{Context, Poll};
use tonic::Status;
use tonic::body::Body;

/// The suite's services, as their certificates name them.
pub mod service {
    pub const ELIGIBILITY: &str = "eligibility";
    pub const SETTLEMENT: &str = "settlement";
    pub const GATEWAY: &str = "gateway";
    pub const PAYMENT: &str = "payment";
    pub const RELIEF: &str = "relief";
    /// Every service of the suite: who may ask the staff register.
    pub const ALL: [&str; 5] = [ELIGIBILITY, SETTLEMENT, GATEWAY, PAYMENT, RELIEF];
}

/// What staff may call a method.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StaffMay {
    /// Services only.
    No,
    /// Any member of staff (the method applies the township scope).
    Call,
    /// County staff only.
    CountyOnly,
}

/// One method's rule: `/package.Service/Method`, the services that may call it, and staff.
#[derive(Debug, Clone, Copy)]
pub struct Rule {
    pub method: &'static str,
    pub services: &'static [&'static str],
    pub staff: StaffMay,
}

/// Every method a port serves, with its rule. Health and reflection are open to all: they tell
/// nothing about any person.
#[derive(Debug, Clone, Copy)]
pub struct AllowList(pub &'static [Rule]);

const OPEN_PREFIXES: [&str; 3] =
    ["/grpc.health.v1.Health/", "/grpc.reflection.v1.ServerReflection/", "/grpc.reflection.v1alpha.ServerReflection/"];

impl AllowList {
    pub fn rule(&self, method: &str) -> Option<&Rule> {
        self.0.iter().find(|r| r.method == method)
    }
}

/// Who an admitted request came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Caller {
    Service(String),
    Staff(Staff),
}

impl Caller {
    /// Who acted, for audit trails.
    pub fn actor(&self) -> String {
        match self {
            Caller::Service(name) => format!("service:{name}"),
            Caller::Staff(staff) => staff.actor(),
        }
    }
}

/// The caller the guard admitted, for a method's own scope rules.
pub fn caller<T>(request: &tonic::Request<T>) -> Option<&Caller> {
    request.extensions().get::<Caller>()
}

fn method_name(path: &str) -> &str {
    path.rsplit('/').next().unwrap_or(path)
}

/// Decides, per request, from the method's rule, the client certificate and the staff token.
#[derive(Clone)]
pub struct Guard {
    list: AllowList,
    staff: Option<Arc<dyn StaffDirectory>>,
}

impl std::fmt::Debug for Guard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Guard").field("methods", &self.list.0.len()).finish()
    }
}

impl Guard {
    /// `staff` answers for staff tokens; without it only services are admitted.
    pub fn new(list: AllowList, staff: Option<Arc<dyn StaffDirectory>>) -> Self {
        Self { list, staff }
    }

    /// The caller of `path`, or the status refusing it. `None`: an open method (health).
    pub async fn admit(
        &self,
        path: &str,
        extensions: &http::Extensions,
        authorization: Option<&str>,
    ) -> Result<Option<Caller>, Status> {
        if OPEN_PREFIXES.iter().any(|p| path.starts_with(p)) {
            return Ok(None);
        }
        let Some(rule) = self.list.rule(path) else {
            return Err(Status::unimplemented(format!("this port serves no method {path}")));
        };
        let method = method_name(path);
        let peer = tls::peer_service(extensions);
        if let Some(name) = &peer
            && rule.services.contains(&name.as_str())
        {
            return Ok(Some(Caller::Service(name.clone())));
        }
        let token = auth::bearer(authorization);
        if let (Some(token), Some(directory), true) = (token, &self.staff, rule.staff != StaffMay::No) {
            return match directory.check(token).await? {
                TokenCheck::Valid(staff) if rule.staff == StaffMay::CountyOnly && !staff.is_county() => {
                    Err(Status::permission_denied(format!("only county staff may call {method}")))
                }
                TokenCheck::Valid(staff) => Ok(Some(Caller::Staff(staff))),
                TokenCheck::Expired(last) => Err(Status::unauthenticated(format!(
                    "this staff token expired after {last}; the county issues a new one (`doudi staff add`)"
                ))),
                TokenCheck::Unknown => Err(Status::unauthenticated("unknown or withdrawn staff token")),
            };
        }
        match (peer, token) {
            (Some(name), _) => Err(Status::permission_denied(format!("the {name} service may not call {method}"))),
            (None, Some(_)) => Err(Status::permission_denied(format!("staff may not call {method}"))),
            (None, None) => Err(Status::unauthenticated(format!(
                "{method} needs a suite service's client certificate or a staff token (`authorization: Bearer st_…`)"
            ))),
        }
    }
}

/// The guard as a tower layer in front of a port's routes.
#[derive(Debug, Clone)]
pub struct GuardLayer(pub Arc<Guard>);

impl<S> tower::Layer<S> for GuardLayer {
    type Service = Guarded<S>;
    fn layer(&self, inner: S) -> Guarded<S> {
        Guarded { guard: self.0.clone(), inner }
    }
}

#[derive(Debug, Clone)]
pub struct Guarded<S> {
    guard: Arc<Guard>,
    inner: S,
}

impl<S> tower::Service<http::Request<Body>> for Guarded<S>
where
    S: tower::Service<http::Request<Body>, Response = http::Response<Body>> + Clone + Send + 'static,
    S::Future: Send + 'static,
{
    type Response = http::Response<Body>;
    type Error = S::Error;
    type Future = BoxFuture<'static, Result<Self::Response, Self::Error>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: http::Request<Body>) -> Self::Future {
        // The instance that was polled ready serves this call; a fresh clone waits for the next.
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        let guard = self.guard.clone();
        Box::pin(async move {
            let decision = {
                let authorization = request.headers().get("authorization").and_then(|v| v.to_str().ok());
                guard.admit(request.uri().path(), request.extensions(), authorization).await
            };
            match decision {
                Ok(Some(caller)) => {
                    request.extensions_mut().insert(caller);
                    inner.call(request).await
                }
                Ok(None) => inner.call(request).await,
                Err(status) => {
                    tracing::info!(method = request.uri().path(), code = ?status.code(), "call refused");
                    Ok(status.into_http())
                }
            }
        })
    }
}
