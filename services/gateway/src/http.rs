//! The hospitals' HTTP/JSON endpoint: the same operations as gRPC, in the canonical proto3 JSON
//! mapping (lowerCamelCase, int64 as strings, every field present, unknown fields refused).
//! Errors are `{code, message, details: [{field, description}]}` with the gRPC code's name and
//! the matching HTTP status.
//!
//! Routing is a plain match on method and path: the paths carry custom verbs after a colon
//! (`/v1/settlements/{id}:reverse`), which path routers cannot split inside a segment.

use crate::relay::Relay;
use axum::body::Body;
use axum::error_handling::HandleErrorLayer;
use axum::extract::{Request, State};
use axum::response::Response;
use doudi_proto::hospital::v1 as hpb;
use doudi_proto::settlement::v1 as pb;
use doudi_runtime::config::ServerConfig;
use doudi_runtime::error::{code_name, field_violations, http_status_of};
use http::{HeaderValue, Method, StatusCode, header};
use serde::Serialize;
use serde::de::DeserializeOwned;
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

fn json_response<T: Serialize>(status: u16, value: &T) -> Response {
    let body = serde_json::to_vec(value).unwrap_or_else(|_| b"{}".to_vec());
    let mut response = Response::new(Body::from(body));
    *response.status_mut() = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    response
}

#[derive(Serialize)]
struct ErrorDetail {
    field: String,
    description: String,
}

#[derive(Serialize)]
struct ErrorBody {
    code: &'static str,
    message: String,
    details: Vec<ErrorDetail>,
}

fn error_response(status: &Status) -> Response {
    let details = field_violations(status)
        .into_iter()
        .map(|v| ErrorDetail { field: v.field, description: v.description })
        .collect();
    let body = ErrorBody { code: code_name(status.code()), message: status.message().to_owned(), details };
    json_response(http_status_of(status.code()), &body)
}

fn bad_request(field: &str, description: String) -> Status {
    doudi_runtime::ApiError::invalid(vec![doudi_core::FieldViolation::new(field, description)]).into()
}

/// A JSON body into a message; the field a serde error names (unknown or malformed) is the
/// violation's field.
fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, Status> {
    let bytes: &[u8] = if bytes.iter().all(u8::is_ascii_whitespace) { b"{}" } else { bytes };
    serde_json::from_slice(bytes).map_err(|e| {
        let text = e.to_string();
        let field = match text.split('`').nth(1).filter(|_| text.starts_with("unknown field")) {
            Some(unknown) => unknown.to_owned(),
            None => field_at(bytes, e.line(), e.column()).unwrap_or_else(|| "body".to_owned()),
        };
        bad_request(&field, text.clone())
    })
}

/// The name of the JSON member whose value ends at `line`:`column` (where serde reports a bad
/// value: an unknown enum name, a malformed number), so the error names the field.
fn field_at(body: &[u8], line: usize, column: usize) -> Option<String> {
    let text = std::str::from_utf8(body).ok()?;
    let line_start: usize = text.split_inclusive('\n').take(line.saturating_sub(1)).map(str::len).sum();
    let before = text.get(..(line_start + column).min(text.len()))?;
    let colon = before.rfind(':')?;
    let key = before[..colon].trim_end().strip_suffix('"')?;
    let start = key.rfind('"')?;
    let name = &key[start + 1..];
    (!name.is_empty() && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')).then(|| name.to_owned())
}

fn query_param<'a>(query: Option<&'a str>, name: &str) -> Option<&'a str> {
    query?.split('&').filter_map(|pair| pair.split_once('=')).find(|(k, _)| *k == name).map(|(_, v)| v)
}

fn ok<T: Serialize>(result: Result<T, Status>) -> Response {
    match result {
        Ok(value) => json_response(200, &value),
        Err(status) => error_response(&status),
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
        let auth = parts.headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok());
        let response = route(&state.relay, &parts.method, parts.uri.path(), parts.uri.query(), auth, &bytes).await;
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
    auth: Option<&str>,
    body: &[u8],
) -> Response {
    match (method, path) {
        (&Method::POST, "/v1/settlements:quote") => match parse_json::<pb::Bill>(body) {
            Ok(bill) => ok(relay.quote(auth, bill).await),
            Err(status) => error_response(&status),
        },
        (&Method::POST, "/v1/settlements") => match parse_json::<pb::Bill>(body) {
            Ok(bill) => ok(relay.settle(auth, bill).await),
            Err(status) => error_response(&status),
        },
        (&Method::GET, "/v1/settlements") => {
            let bill_no = query_param(query, "billNo").unwrap_or_default().to_owned();
            ok(relay.find(auth, bill_no).await)
        }
        (&Method::POST, "/v1/patients:yearTotals") => match parse_json::<hpb::YearTotalsRequest>(body) {
            Ok(r) => ok(relay.year_totals(auth, r.national_id, r.year).await),
            Err(status) => error_response(&status),
        },
        (&Method::POST, "/v1/reconciliations") => match parse_json::<pb::ReconciliationClaim>(body) {
            Ok(claim) => ok(relay.reconcile(auth, claim).await),
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
                        Ok(r) => ok(relay.reverse(auth, id.to_owned(), r.reason).await),
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
            ok(relay.get(auth, id.to_owned()).await)
        }
        _ => not_found(path),
    }
}

fn not_found(path: &str) -> Response {
    error_response(&Status::new(Code::NotFound, format!("no such endpoint: {path}")))
}

#[cfg(test)]
mod tests {
    use super::field_at;

    #[test]
    fn a_bad_value_is_named_by_its_member() {
        let body = br#"{"billNo":"B1","visitType":"SURGERY","totalFen":"x"}"#;
        let error = serde_json::from_slice::<doudi_proto::settlement::v1::Bill>(body).unwrap_err();
        assert_eq!(field_at(body, error.line(), error.column()).as_deref(), Some("visitType"), "{error}");
        let body = b"{\n  \"totalFen\": \"12x\"\n}";
        let error = serde_json::from_slice::<doudi_proto::settlement::v1::Bill>(body).unwrap_err();
        assert_eq!(field_at(body, error.line(), error.column()).as_deref(), Some("totalFen"), "{error}");
        assert_eq!(field_at(b"{not json", 1, 2), None);
    }
}
