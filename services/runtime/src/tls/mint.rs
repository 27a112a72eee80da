//! Minting certificates: a development CA for `doudi up` and tests, and service certificates
//! from any CA an operator holds (`doudi tls issue`).

use super::{TlsError, TlsFiles, TlsIdentity};
use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose, SanType,
};
use std::path::Path;

/// How long a minted service certificate is valid; a development CA lives ten years.
const SERVICE_DAYS: i64 = 825;
const CA_DAYS: i64 = 3650;

/// A CA that can sign service certificates.
pub struct CertificateAuthority {
    cert_pem: String,
    issuer: Issuer<'static, KeyPair>,
}

impl std::fmt::Debug for CertificateAuthority {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CertificateAuthority").field("key", &"(redacted)").finish()
    }
}

/// Validity from yesterday (clocks differ) for `days`.
fn validity(params: &mut CertificateParams, days: i64) {
    let today = doudi_core::Date::today_china();
    let at = |date: doudi_core::Date| rcgen::date_time_ymd(date.year(), date.month() as u8, date.day() as u8);
    params.not_before = at(today.add_days(-1));
    params.not_after = at(today.add_days(days));
}

fn named(common_name: &str) -> DistinguishedName {
    let mut name = DistinguishedName::new();
    name.push(DnType::OrganizationName, "Doudi");
    name.push(DnType::CommonName, common_name);
    name
}

impl CertificateAuthority {
    /// A new CA (ECDSA P-256), for development or a test.
    pub fn generate(common_name: &str) -> Result<Self, TlsError> {
        let key = KeyPair::generate()?;
        let mut params = CertificateParams::default();
        params.distinguished_name = named(common_name);
        params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
        params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        validity(&mut params, CA_DAYS);
        let cert = params.self_signed(&key)?;
        Ok(Self { cert_pem: cert.pem(), issuer: Issuer::new(params, key) })
    }

    /// An operator's CA from its certificate and key (PEM).
    pub fn from_pem(cert_pem: String, key_pem: &str) -> Result<Self, TlsError> {
        let key = KeyPair::from_pem(key_pem)?;
        let issuer = Issuer::from_ca_cert_pem(&cert_pem, key)?;
        Ok(Self { cert_pem, issuer })
    }

    pub fn load(cert_file: &Path, key_file: &Path) -> Result<Self, TlsError> {
        Self::from_pem(super::read(cert_file)?, &super::read(key_file)?)
    }

    pub fn cert_pem(&self) -> &str {
        &self.cert_pem
    }

    pub fn key_pem(&self) -> String {
        self.issuer.key().serialize_pem()
    }

    /// A certificate for `service` (subject CN), valid as server and client, for the hosts it
    /// is reached at: `hosts` besides its own name, `localhost` and the loopback addresses.
    pub fn issue(&self, service: &str, hosts: &[String]) -> Result<TlsIdentity, TlsError> {
        let key = KeyPair::generate()?;
        let mut names = vec![service.to_owned(), "localhost".to_owned()];
        names.extend(hosts.iter().filter(|h| h.parse::<std::net::IpAddr>().is_err()).cloned());
        let mut params = CertificateParams::new(names)?;
        for ip in ["127.0.0.1", "::1"].iter().map(|s| s.to_string()).chain(hosts.iter().cloned()) {
            if let Ok(ip) = ip.parse() {
                params.subject_alt_names.push(SanType::IpAddress(ip));
            }
        }
        params.distinguished_name = named(service);
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth, ExtendedKeyUsagePurpose::ClientAuth];
        params.use_authority_key_identifier_extension = true;
        validity(&mut params, SERVICE_DAYS);
        let cert = params.signed_by(&key, &self.issuer)?;
        TlsIdentity::from_pem(service, self.cert_pem.clone(), cert.pem(), key.serialize_pem())
    }
}

/// Writes a file readable by its owner only (keys) or by all (certificates).
fn write(path: &Path, text: &str, secret: bool) -> Result<(), TlsError> {
    let failed = |e: std::io::Error| TlsError::File { path: path.display().to_string(), message: e.to_string() };
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).map_err(failed)?;
    }
    std::fs::write(path, text).map_err(failed)?;
    #[cfg(unix)]
    if secret {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).map_err(failed)?;
    }
    #[cfg(not(unix))]
    let _ = secret;
    Ok(())
}

/// Writes `identity` as `files` say (the CA certificate beside it).
pub fn write_identity(identity: &TlsIdentity, files: &TlsFiles) -> Result<(), TlsError> {
    write(&files.ca_file, identity.ca_pem(), false)?;
    write(&files.cert_file, identity.cert_pem(), false)?;
    write(&files.key_file, identity.key_pem(), true)
}

/// The development CA of `dir` (`ca.crt`, `ca.key`), made on first use, and a certificate for
/// each of `services` that has none yet. Returns whether anything was made.
pub fn ensure_dev_certificates(dir: &Path, services: &[&str]) -> Result<bool, TlsError> {
    let (ca_cert, ca_key) = (dir.join("ca.crt"), dir.join("ca.key"));
    let mut made = false;
    let ca = if ca_cert.exists() {
        CertificateAuthority::load(&ca_cert, &ca_key)?
    } else {
        let ca = CertificateAuthority::generate("Doudi development CA")?;
        write(&ca_key, &ca.key_pem(), true)?;
        write(&ca_cert, ca.cert_pem(), false)?;
        made = true;
        ca
    };
    for service in services {
        let files = TlsFiles::in_dir(dir, service);
        if !files.cert_file.exists() {
            write_identity(&ca.issue(service, &[])?, &files)?;
            made = true;
        }
    }
    Ok(made)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn issued_certificates_name_their_service_and_chain_to_the_ca() {
        let ca = CertificateAuthority::generate("test CA").expect("CA");
        let identity = ca.issue("settlement", &["settlement.doudi.svc".into(), "10.0.0.7".into()]).expect("issue");
        let der = super::super::first_der(identity.cert_pem(), "cert").expect("der");
        assert_eq!(super::super::service_named_by(&der).as_deref(), Some("settlement"));
        let (_, cert) = x509_parser::parse_x509_certificate(&der).expect("parse");
        let sans = cert.subject_alternative_name().expect("ext").expect("san").value.general_names.len();
        assert_eq!(sans, 6, "settlement, localhost, the extra host, 127.0.0.1, ::1, 10.0.0.7");
        // Reloaded from its PEM files, the CA still signs certificates that name their service.
        let reloaded = CertificateAuthority::from_pem(ca.cert_pem().to_owned(), &ca.key_pem()).expect("reload");
        assert_eq!(reloaded.issue("gateway", &[]).expect("issue").service(), "gateway");
    }

    #[test]
    fn an_identity_must_name_its_service() {
        let ca = CertificateAuthority::generate("test CA").expect("CA");
        let other = ca.issue("gateway", &[]).expect("issue");
        let wrong = TlsIdentity::from_pem(
            "settlement",
            other.ca_pem().to_owned(),
            other.cert_pem().to_owned(),
            other.key_pem().to_owned(),
        );
        assert!(matches!(wrong, Err(TlsError::WrongService { .. })));
    }

    #[test]
    fn dev_certificates_are_made_once() {
        let dir = tempfile::tempdir().expect("dir");
        assert!(ensure_dev_certificates(dir.path(), &["eligibility", "settlement"]).expect("first"));
        let before = std::fs::read_to_string(dir.path().join("settlement.crt")).expect("cert");
        assert!(!ensure_dev_certificates(dir.path(), &["eligibility", "settlement"]).expect("second"));
        assert_eq!(before, std::fs::read_to_string(dir.path().join("settlement.crt")).expect("cert"));
        let files = TlsFiles::in_dir(dir.path(), "eligibility");
        assert_eq!(TlsIdentity::load("eligibility", &files).expect("load").service(), "eligibility");
    }
}
