//! The hospitals' HTTP/JSON endpoint: the same operations as gRPC, in the canonical proto3 JSON
//! mapping (lowerCamelCase, int64 as strings, every field present, unknown fields refused;
//! `json`), behind the same limits as every gRPC service.
//!
//! Routing is a plain match on method and path: the paths carry custom verbs after a colon
//! (`/v1/settlements/{id}:reverse`), which path routers cannot split inside a segment.

mod json;
pub mod tls;

use crate::hospitals::access::Caller;
use crate::relay::Relay;
use axum::error_handling::HandleErrorLayer;
use axum::extract::{ConnectInfo, Request, State};
use axum::response::Response;
use doudi_proto::hospital::v1 as hpb;
use doudi_proto::settlement::v1 as pb;
use doudi_runtime::config::ServerConfig;
use http::{Method, header};
use json::{bad_request, error_response, ok, parse_json, query_param};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tonic::{Code, Status};
use tower::limit::GlobalConcurrencyLimitLayer;
use tracing::Instrument;

#[derive(Debug)]
pub struct HttpState {
    pub relay: Relay,
    pub max_body_bytes: usize,
}

/// The routes behind the same limits as every gRPC service (`doudi_runtime::server`).
pub fn router(state: Arc<HttpState>, limits: &ServerConfig) -> axum::Router {
    let middleware = tower::ServiceBuilder::new()
        // Errors of the layers below become the JSON error body, like every other error.
        .layer(HandleErrorLayer::new(|error: tower::BoxError| async move { overload_response(&error) }))
        // Shed at once when the limit is full: the hospital gets 429 and may retry.
        .load_shed()
        .layer(GlobalConcurrencyLimitLayer::new(limits.concurrency_limit))
        .timeout(Duration::from_millis(limits.request_timeout_ms));
    axum::Router::new().fallback(handle).with_state(state).layer(middleware)
}

fn overload_response(error: &tower::BoxError) -> Response {
    if error.is::<tower::timeout::error::Elapsed>() {
        error_response(&Status::new(
            Code::DeadlineExceeded,
            "request timed out; the outcome is unknown, retry with the same bill",
        ))
    } else if error.is::<tower::load_shed::error::Overloaded>() {
        error_response(&Status::new(
            Code::ResourceExhausted,
            "the gateway is at its limit of requests in flight, retry later",
        ))
    } else {
        tracing::error!(error = %error, "http middleware failed");
        error_response(&Status::new(Code::Internal, "internal error"))
    }
}

async fn handle(State(state): State<Arc<HttpState>>, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    let span = doudi_runtime::telemetry::http_request_span(&parts.method, parts.uri.path(), &parts.headers);
    async move {
        let bytes = match axum::body::to_bytes(body, state.max_body_bytes).await {
            Ok(bytes) => bytes,
            Err(_) => {
                return error_response(&bad_request(
                    "body",
                    format!("is larger than {} bytes or was cut off", state.max_body_bytes),
                ));
            }
        };
        let caller = Caller {
            authorization: parts.headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()).map(str::to_owned),
            address: parts.extensions.get::<ConnectInfo<SocketAddr>>().map(|c| c.0.ip()),
        };
        let response = route(&state.relay, &parts.method, parts.uri.path(), parts.uri.query(), &caller, &bytes).await;
        tracing::info!(method = %parts.method, path = parts.uri.path(), status = response.status().as_u16(), "http");
        response
    }
    .instrument(span)
    .await
}

async fn route(
    relay: &Relay,
    method: &Method,
    path: &str,
    query: Option<&str>,
    caller: &Caller,
    body: &[u8],
) -> Response {
    match (method, path) {
        (&Method::POST, "/v1/settlements:quote") => match parse_json::<pb::Bill>(body) {
            Ok(bill) => ok(relay.quote(caller, bill).await),
            Err(status) => error_response(&status),
        },
        (&Method::POST, "/v1/settlements") => match parse_json::<pb::Bill>(body) {
            Ok(bill) => ok(relay.settle(caller, bill).await),
            Err(status) => error_response(&status),
        },
        (&Method::GET, "/v1/settlements") => {
            let bill_no = query_param(query, "billNo").unwrap_or_default().to_owned();
            ok(relay.find(caller, bill_no).await)
        }
        (&Method::POST, "/v1/patients:yearTotals") => match parse_json::<hpb::YearTotalsRequest>(body) {
            Ok(r) => ok(relay.year_totals(caller, r.national_id, r.year).await),
            Err(status) => error_response(&status),
        },
        (&Method::POST, "/v1/reconciliations") => match parse_json::<pb::ReconciliationClaim>(body) {
            Ok(claim) => ok(relay.reconcile(caller, claim).await),
            Err(status) => error_response(&status),
        },
        (&Method::POST, rest) if rest.starts_with("/v1/settlements/") => {
            let tail = &rest["/v1/settlements/".len()..];
            match tail.rsplit_once(':') {
                Some((id, "reverse")) if !id.is_empty() && !id.contains('/') => {
                    match parse_json::<hpb::ReverseRequest>(body) {
                        Ok(r) if !r.settlement_id.is_empty() && r.settlement_id != id => error_response(&bad_request(
                            "settlementId",
                            "differs from the settlement in the path".into(),
                        )),
                        Ok(r) => ok(relay.reverse(caller, id.to_owned(), r.reason).await),
                        Err(status) => error_response(&status),
                    }
                }
                _ => not_found(path),
            }
        }
        (&Method::GET, rest) if rest.starts_with("/v1/settlements/") => {
            let id = &rest["/v1/settlements/".len()..];
            if id.is_empty() || id.contains('/') || id.contains(':') {
                return not_found(path);
            }
            ok(relay.get(caller, id.to_owned()).await)
        }
        _ => not_found(path),
    }
}

fn not_found(path: &str) -> Response {
    error_response(&Status::new(Code::NotFound, format!("no such endpoint: {path}")))
}
