//! How callers present credentials: `authorization: Bearer …` (gRPC metadata or HTTP header).
//! One reader for every service, so a hospital's API key and a staff token are read alike.

/// The credential of an `authorization` value: the scheme is `Bearer` in any case (RFC 7235),
/// the credential is what follows, trimmed; `None` when absent, another scheme, or empty.
pub fn bearer(authorization: Option<&str>) -> Option<&str> {
    let value = authorization?.trim_start();
    let (scheme, credential) = value.split_once(' ')?;
    let credential = credential.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !credential.is_empty()).then_some(credential)
}

/// The `authorization` metadata of a gRPC request, if it is text.
pub fn authorization<T>(request: &tonic::Request<T>) -> Option<&str> {
    request.metadata().get("authorization").and_then(|v| v.to_str().ok())
}

/// Who made a change, for the audit trail, when the caller carries no identity of its own: the
/// calling address.
pub fn address_actor<T>(request: &tonic::Request<T>) -> String {
    request.remote_addr().map_or_else(|| "grpc:unknown".to_owned(), |a| format!("grpc:{a}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_bearer_credentials_only() {
        assert_eq!(bearer(Some("Bearer k_1")), Some("k_1"));
        assert_eq!(bearer(Some("bearer  k_1 ")), Some("k_1"));
        assert_eq!(bearer(Some("BEARER k_1")), Some("k_1"));
        assert_eq!(bearer(Some("Basic k_1")), None);
        assert_eq!(bearer(Some("Bearer ")), None);
        assert_eq!(bearer(Some("Bearerk_1")), None);
        assert_eq!(bearer(None), None);
    }
}
