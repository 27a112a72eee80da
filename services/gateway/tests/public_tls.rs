//! The gateway's public ports over TLS when given a certificate: hospitals' HTTPS and gRPC,
//! still authenticated by API key; plain text is then refused on both.

mod common;

use common::{DIBAO2, authed, spawn_with};
use doudi_proto::hospital::v1::hospital_settlement_client::HospitalSettlementClient;
use doudi_testkit::Backend;
use doudi_testkit::pki::suite;
use std::sync::Arc;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_rustls::rustls;
use tokio_rustls::rustls::pki_types::pem::PemObject;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hospitals_settle_over_https_and_grpc_tls() {
    let dir = tempfile::tempdir().expect("dir");
    // The public certificate (here from the test CA; in a county, its own).
    let public = suite().identity("gateway");
    let (cert, key) = (dir.path().join("public.crt"), dir.path().join("public.key"));
    std::fs::write(&cert, public.cert_pem()).expect("cert");
    std::fs::write(&key, public.key_pem()).expect("key");
    let s = spawn_with(Backend::Sqlite, |config| {
        config.http.tls.cert_file = Some(cert.clone());
        config.http.tls.key_file = Some(key.clone());
        config.gateway.tls.cert_file = Some(cert.clone());
        config.gateway.tls.key_file = Some(key.clone());
    })
    .await;

    // HTTPS: a settlement with the hospital's key.
    let mut roots = rustls::RootCertStore::empty();
    for ca in rustls::pki_types::CertificateDer::pem_slice_iter(suite().ca_pem().as_bytes()) {
        roots.add(ca.expect("CA")).expect("root");
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let client_config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("versions")
        .with_root_certificates(roots)
        .with_no_client_auth();
    let connector = tokio_rustls::TlsConnector::from(Arc::new(client_config));
    let tcp = tokio::net::TcpStream::connect(s.http).await.expect("connect");
    let name = rustls::pki_types::ServerName::try_from("localhost").expect("name");
    let mut tls = connector.connect(name, tcp).await.expect("TLS handshake");
    let bill = format!(
        r#"{{"billNo":"TLS-1","nationalId":"{}","visitType":"INPATIENT","admittedOn":"2016-03-01","dischargedOn":"2016-03-10","totalFen":"2000000","inPolicyFen":"1800000"}}"#,
        doudi_testkit::person_id(DIBAO2)
    );
    let request = format!(
        "POST /v1/settlements HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nAuthorization: Bearer {}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{bill}",
        s.county_key,
        bill.len()
    );
    tls.write_all(request.as_bytes()).await.expect("send");
    let mut response = Vec::new();
    let _ = tls.read_to_end(&mut response).await;
    let response = String::from_utf8_lossy(&response);
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    assert!(response.contains("\"status\":\"SETTLED\""), "{response}");

    // Plain HTTP on the same port gets no answer.
    let mut plain = tokio::net::TcpStream::connect(s.http).await.expect("connect");
    plain.write_all(b"GET /v1/settlements?billNo=TLS-1 HTTP/1.1\r\nHost: x\r\n\r\n").await.expect("send");
    let mut answer = Vec::new();
    let _ = tokio::time::timeout(std::time::Duration::from_secs(5), plain.read_to_end(&mut answer)).await;
    assert!(!String::from_utf8_lossy(&answer).contains("HTTP/1.1 200"));

    // gRPC over TLS, the same settlement found by its bill number.
    let channel = suite().channel(s.gateway.as_ref().expect("gateway").grpc.local_addr, None).await;
    let found = HospitalSettlementClient::new(channel)
        .find_settlement(authed(
            &s.county_key,
            doudi_proto::hospital::v1::FindSettlementRequest { bill_no: "TLS-1".into() },
        ))
        .await
        .expect("found over gRPC TLS")
        .into_inner();
    assert_eq!(common::amounts(&found), (1_327_500, 111_250, 252_875, 308_375), "policy.md B1");
}
