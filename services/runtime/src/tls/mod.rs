//! Service identity over TLS: every gRPC port of the suite serves TLS and asks callers for a
//! certificate (optional at the connection, so staff tools can connect with server-side TLS and
//! a staff token). A service's certificate names it in its subject's common name
//! (`CN=settlement`); the certificate is both its server and its client certificate.
//!
//! Certificates come from PEM files (so cert-manager can supply them); `mint` makes a
//! development CA and certificates for `doudi up`, tests and `doudi tls issue`.

pub mod mint;

use std::path::{Path, PathBuf};
use tonic::transport::server::{TcpConnectInfo, TlsConnectInfo};
use tonic::transport::{Certificate, ClientTlsConfig, Identity, ServerTlsConfig};

#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("cannot read {path}: {message}")]
    File { path: String, message: String },
    #[error("{0} holds no PEM certificate")]
    NotACertificate(String),
    #[error("the certificate names `{found}`, not the service `{expected}` (its subject CN must be the service name)")]
    WrongService { expected: String, found: String },
    #[error("minting a certificate: {0}")]
    Mint(#[from] rcgen::Error),
}

/// Where one service's TLS files are: the CA that signs the suite's certificates, and the
/// service's own certificate and key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsFiles {
    pub ca_file: PathBuf,
    pub cert_file: PathBuf,
    pub key_file: PathBuf,
}

impl TlsFiles {
    /// The layout `doudi up` writes: `DIR/ca.crt`, `DIR/NAME.crt`, `DIR/NAME.key`.
    pub fn in_dir(dir: &Path, service: &str) -> Self {
        Self {
            ca_file: dir.join("ca.crt"),
            cert_file: dir.join(format!("{service}.crt")),
            key_file: dir.join(format!("{service}.key")),
        }
    }
}

/// One service's identity: the suite's CA, its certificate and key. `Debug` never shows the key.
#[derive(Clone)]
pub struct TlsIdentity {
    service: String,
    ca_pem: String,
    cert_pem: String,
    key_pem: String,
}

impl std::fmt::Debug for TlsIdentity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TlsIdentity").field("service", &self.service).field("key", &"(redacted)").finish()
    }
}

fn read(path: &Path) -> Result<String, TlsError> {
    std::fs::read_to_string(path)
        .map_err(|e| TlsError::File { path: path.display().to_string(), message: e.to_string() })
}

/// The first certificate of a PEM text, as DER.
fn first_der(pem_text: &str, what: &str) -> Result<Vec<u8>, TlsError> {
    let block = x509_parser::pem::parse_x509_pem(pem_text.as_bytes())
        .map_err(|_| TlsError::NotACertificate(what.to_owned()))?
        .1;
    Ok(block.contents)
}

/// The subject common name of a DER certificate: the service it names.
pub fn service_named_by(der: &[u8]) -> Option<String> {
    let (_, cert) = x509_parser::parse_x509_certificate(der).ok()?;
    let name = cert.subject().iter_common_name().next()?.as_str().ok()?.to_owned();
    Some(name)
}

impl TlsIdentity {
    /// An identity from PEM texts; the certificate must name `service`.
    pub fn from_pem(service: &str, ca_pem: String, cert_pem: String, key_pem: String) -> Result<Self, TlsError> {
        first_der(&ca_pem, "the CA file")?;
        let named = service_named_by(&first_der(&cert_pem, "the certificate file")?).unwrap_or_default();
        if named != service {
            return Err(TlsError::WrongService { expected: service.to_owned(), found: named });
        }
        Ok(Self { service: service.to_owned(), ca_pem, cert_pem, key_pem })
    }

    pub fn load(service: &str, files: &TlsFiles) -> Result<Self, TlsError> {
        Self::from_pem(service, read(&files.ca_file)?, read(&files.cert_file)?, read(&files.key_file)?)
    }

    pub fn service(&self) -> &str {
        &self.service
    }

    pub fn ca_pem(&self) -> &str {
        &self.ca_pem
    }

    pub fn cert_pem(&self) -> &str {
        &self.cert_pem
    }

    pub fn key_pem(&self) -> &str {
        &self.key_pem
    }

    /// The server side: this certificate, and client certificates checked against the CA when
    /// presented (optional, so a staff tool with only a token can connect; the allow-lists
    /// decide what either may call).
    pub fn server(&self) -> ServerTlsConfig {
        ServerTlsConfig::new()
            .identity(Identity::from_pem(&self.cert_pem, &self.key_pem))
            .client_ca_root(Certificate::from_pem(&self.ca_pem))
            .client_auth_optional(true)
    }

    /// The client side towards another service of the suite: its certificate must chain to the
    /// CA and name the host dialled; this service presents its own.
    pub fn client(&self) -> ClientTlsConfig {
        ClientTlsConfig::new()
            .ca_certificate(Certificate::from_pem(&self.ca_pem))
            .identity(Identity::from_pem(&self.cert_pem, &self.key_pem))
    }
}

/// The service a request's client certificate names (already verified against the CA by the
/// handshake), or `None` when it came without one.
pub fn peer_service(extensions: &http::Extensions) -> Option<String> {
    let certs = extensions.get::<TlsConnectInfo<TcpConnectInfo>>()?.peer_certs()?;
    PEER_NAMES.name_of(certs.first()?.as_ref())
}

/// Parsing a certificate on every call cost a few per cent of a service's CPU; a suite has a
/// handful of peers, so their names are remembered by the certificate's bytes.
static PEER_NAMES: PeerNames = PeerNames::new();

/// Certificates (DER) already read, with the service each names. Bounded: past `PEER_NAMES_HELD`
/// (certificates renewed many times over a long run) a certificate is parsed each time.
struct PeerNames {
    known: std::sync::RwLock<Vec<PeerName>>,
}

/// A certificate's DER, and the service it names (`None`: it names none).
type PeerName = (Box<[u8]>, Option<String>);

const PEER_NAMES_HELD: usize = 64;

impl PeerNames {
    const fn new() -> Self {
        Self { known: std::sync::RwLock::new(Vec::new()) }
    }

    fn name_of(&self, der: &[u8]) -> Option<String> {
        let known = self.known.read().unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some((_, name)) = known.iter().find(|(held, _)| **held == *der) {
            return name.clone();
        }
        drop(known);
        let name = service_named_by(der);
        let mut known = self.known.write().unwrap_or_else(std::sync::PoisonError::into_inner);
        if known.len() < PEER_NAMES_HELD && !known.iter().any(|(held, _)| **held == *der) {
            known.push((der.into(), name.clone()));
        }
        name
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use mint::CertificateAuthority;

    fn der_of(ca: &CertificateAuthority, service: &str) -> Vec<u8> {
        first_der(ca.issue(service, &[]).expect("issue").cert_pem(), "cert").expect("der")
    }

    #[test]
    fn remembered_peers_keep_their_own_names() {
        let ca = CertificateAuthority::generate("test CA").expect("CA");
        let names = PeerNames::new();
        let (settlement, gateway) = (der_of(&ca, "settlement"), der_of(&ca, "gateway"));
        for _ in 0..3 {
            assert_eq!(names.name_of(&settlement).as_deref(), Some("settlement"));
            assert_eq!(names.name_of(&gateway).as_deref(), Some("gateway"));
        }
        assert_eq!(names.known.read().expect("lock").len(), 2, "each certificate is held once");
        assert_eq!(names.name_of(b"not a certificate"), None);
        assert_eq!(names.name_of(b"not a certificate"), None);
    }

    #[test]
    fn past_the_bound_certificates_are_still_named_but_not_held() {
        let ca = CertificateAuthority::generate("test CA").expect("CA");
        let names = PeerNames::new();
        for n in 0..PEER_NAMES_HELD {
            names.name_of(format!("filler {n}").as_bytes());
        }
        let late = der_of(&ca, "relief");
        assert_eq!(names.name_of(&late).as_deref(), Some("relief"));
        assert_eq!(names.known.read().expect("lock").len(), PEER_NAMES_HELD);
    }
}
