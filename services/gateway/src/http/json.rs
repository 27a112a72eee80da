//! The JSON side of the HTTP endpoint: bodies into messages (a bad field is named), answers and
//! errors out. An error is `{code, message, details: [{field, description}]}` with the gRPC
//! code's name and the matching HTTP status, the same content a gRPC client gets.

use axum::body::Body;
use axum::response::Response;
use doudi_core::Violations;
use doudi_runtime::error::{code_name, field_violations, http_status_of};
use http::{HeaderValue, StatusCode, header};
use serde::Serialize;
use serde::de::DeserializeOwned;
use tonic::Status;

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

pub(crate) fn error_response(status: &Status) -> Response {
    let details = field_violations(status)
        .into_iter()
        .map(|v| ErrorDetail { field: v.field, description: v.description })
        .collect();
    let body = ErrorBody { code: code_name(status.code()), message: status.message().to_owned(), details };
    json_response(http_status_of(status.code()), &body)
}

pub(crate) fn bad_request(field: &str, description: String) -> Status {
    doudi_runtime::ApiError::from(Violations::of(field, description)).into()
}

/// A JSON body into a message; the field a serde error names (unknown or malformed) is the
/// violation's field.
pub(crate) fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, Status> {
    let bytes: &[u8] = if bytes.iter().all(u8::is_ascii_whitespace) { b"{}" } else { bytes };
    serde_json::from_slice(bytes).map_err(|e| {
        let text = e.to_string();
        let field = match text.split('`').nth(1).filter(|_| text.starts_with("unknown field")) {
            Some(unknown) => unknown.to_owned(),
            None => field_at(bytes, e.line(), e.column()).unwrap_or_else(|| "body".to_owned()),
        };
        bad_request(&field, rule_of(&text))
    })
}

/// What a serde error says is wrong, without the value that was sent (a national ID typed as a
/// number must not come back in the error): the rule the value broke (`must be a string`, `must
/// be one of …`), or the message with every quoted value left out.
fn rule_of(serde_text: &str) -> String {
    let text = serde_text.split(" at line ").next().unwrap_or(serde_text);
    if text.starts_with("unknown field") {
        return "is not a field of this request".to_owned();
    }
    if let Some((_, expected)) = text.split_once(", expected ") {
        return format!("must be {expected}");
    }
    // Whatever stands between backticks is the sender's.
    text.split('`').step_by(2).collect::<Vec<_>>().join("…")
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

pub(crate) fn query_param<'a>(query: Option<&'a str>, name: &str) -> Option<&'a str> {
    query?.split('&').filter_map(|pair| pair.split_once('=')).find(|(k, _)| *k == name).map(|(_, v)| v)
}

pub(crate) fn ok<T: Serialize>(result: Result<T, Status>) -> Response {
    match result {
        Ok(value) => json_response(200, &value),
        Err(status) => error_response(&status),
    }
}

#[cfg(test)]
mod tests {
    use super::{field_at, rule_of};

    #[test]
    fn an_error_states_the_rule_not_the_value() {
        let body = br#"{"nationalId":110105194912310021}"#;
        let error = serde_json::from_slice::<doudi_proto::settlement::v1::Bill>(body).unwrap_err();
        let rule = rule_of(&error.to_string());
        assert!(!rule.contains("110105194912310021") && rule.starts_with("must be"), "{rule} ({error})");
        let body = br#"{"visitType":"SURGERY"}"#;
        let error = serde_json::from_slice::<doudi_proto::settlement::v1::Bill>(body).unwrap_err();
        assert!(!rule_of(&error.to_string()).contains("SURGERY"), "{error}");
        assert_eq!(rule_of("unknown field `totalFenn`, expected one of `billNo`"), "is not a field of this request");
        assert_eq!(rule_of("oops `secret` here at line 1 column 2"), "oops … here");
    }

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
