//! A fresh, private database for each test, on SQLite or PostgreSQL.
//!
//! PostgreSQL tests never skip: if the server named by `DOUDI_TEST_PG_URL` (default
//! `postgres://postgres@127.0.0.1:5432/test`) cannot be reached, the test fails and says so.

use doudi_runtime::crypto::{MasterKey, PiiCipher};
use sqlx::{Connection, Executor};

pub const PG_URL_ENV: &str = "DOUDI_TEST_PG_URL";
pub const DEFAULT_PG_URL: &str = "postgres://postgres@127.0.0.1:5432/test";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// A database that exists for one test; a PostgreSQL one is dropped when this is dropped.
#[derive(Debug)]
pub struct TestDb {
    pub url: String,
    pub backend: Backend,
    dir: Option<tempfile::TempDir>,
    pg: Option<(String, String)>,
}

fn random_suffix() -> String {
    let mut bytes = [0u8; 6];
    getrandom::getrandom(&mut bytes).expect("system randomness");
    hex::encode(bytes)
}

pub fn pg_admin_url() -> String {
    std::env::var(PG_URL_ENV).unwrap_or_else(|_| DEFAULT_PG_URL.to_owned())
}

/// `base` with its database name replaced by `name`.
fn with_database(base: &str, name: &str) -> String {
    let (before_query, query) = base.split_once('?').map_or((base, None), |(b, q)| (b, Some(q)));
    let prefix = before_query.rsplit_once('/').map_or(before_query, |(p, _)| p);
    match query {
        Some(q) => format!("{prefix}/{name}?{q}"),
        None => format!("{prefix}/{name}"),
    }
}

impl TestDb {
    pub async fn new(backend: Backend) -> Self {
        sqlx::any::install_default_drivers();
        match backend {
            Backend::Sqlite => {
                let dir = tempfile::tempdir().expect("temporary directory");
                let url = format!("sqlite://{}", dir.path().join("test.db").display());
                Self { url, backend, dir: Some(dir), pg: None }
            }
            Backend::Postgres => Self::postgres_at(&pg_admin_url()).await,
        }
    }

    /// A fresh database on the PostgreSQL server that `admin` reaches (any database of it).
    pub async fn postgres_at(admin: &str) -> Self {
        sqlx::any::install_default_drivers();
        let name = format!("doudi_test_{}", random_suffix());
        let mut conn = sqlx::AnyConnection::connect(admin).await.unwrap_or_else(|e| {
            panic!("PostgreSQL is required for this test and is not reachable at {admin} (set {PG_URL_ENV}): {e}")
        });
        conn.execute(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
            .await
            .unwrap_or_else(|e| panic!("cannot create test database {name}: {e}"));
        let _ = conn.close().await;
        let url = with_database(admin, &name);
        Self { url, backend: Backend::Postgres, dir: None, pg: Some((admin.to_owned(), name)) }
    }

    /// A directory that lives as long as the database (SQLite only).
    pub fn dir(&self) -> Option<&std::path::Path> {
        self.dir.as_ref().map(tempfile::TempDir::path)
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        let Some((admin, name)) = self.pg.take() else { return };
        // Drop may run inside the test's runtime: do the async work on a thread of its own.
        let _ = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().ok()?;
            runtime.block_on(async {
                let mut conn = sqlx::AnyConnection::connect(&admin).await.ok()?;
                conn.execute(sqlx::AssertSqlSafe(format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))).await.ok()?;
                conn.close().await.ok()
            })
        })
        .join();
    }
}

/// Runs each named `async fn(Backend)` as two tests, `sqlite::NAME` and `postgres::NAME`: one
/// conformance suite for both storage backends.
#[macro_export]
macro_rules! conformance {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() { super::$name($crate::Backend::Sqlite).await })*
        }
        mod postgres {
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() { super::$name($crate::Backend::Postgres).await })*
        }
    };
}

/// Waits on the health service rather than sleeping.
pub async fn wait_serving(channel: tonic::transport::Channel, service: &str) {
    use tonic_health::pb::health_check_response::ServingStatus;
    use tonic_health::pb::{HealthCheckRequest, health_client::HealthClient};
    let mut health = HealthClient::new(channel);
    for _ in 0..250 {
        let answer = health.check(HealthCheckRequest { service: service.into() }).await;
        if answer.is_ok_and(|r| r.into_inner().status == ServingStatus::Serving as i32) {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    panic!("{service} never became SERVING");
}

/// A valid national ID for test person `n` (born 1960-01-01 plus n days).
pub fn person_id(n: u32) -> String {
    let birth = doudi_core::Date::from_ymd(1960, 1, 1).expect("date").add_days(i64::from(n % 15_000));
    doudi_core::national_id::synthesize("360730", birth, n / 15_000 * 7 + 3).expose().to_owned()
}

pub fn birth_of(id: &str) -> String {
    format!("{}-{}-{}", &id[6..10], &id[10..12], &id[12..14])
}

/// One registry CSV row: person `n` in `household`, as `relation`, holding `category` over the
/// period.
pub fn row(household: &str, n: u32, relation: &str, category: &str, from: &str, to: &str, account: &str) -> String {
    let id = person_id(n);
    format!("{household},城关镇,东村,{id},测试{n},{relation},{},{category},{from},{to},{account}", birth_of(&id))
}

/// A registry CSV file: `header` (the import's columns) and `rows`.
pub fn csv(header: &[&str], rows: &[String]) -> String {
    let mut text = header.join(",");
    for r in rows {
        text.push('\n');
        text.push_str(r);
    }
    text.push('\n');
    text
}

/// A cipher with a fresh random key.
pub fn cipher() -> PiiCipher {
    PiiCipher::new(&MasterKey::generate())
}

pub mod bank;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn database_name_is_replaced() {
        assert_eq!(with_database("postgres://u@h:5432/test", "x"), "postgres://u@h:5432/x");
        assert_eq!(with_database("postgres://u@h/test?sslmode=disable", "x"), "postgres://u@h/x?sslmode=disable");
    }
}

/// The suite's PKI in tests: one CA per test process, certificates minted for any service, and
/// channels that present one (or none, as a staff tool does).
pub mod pki {
    use doudi_runtime::tls::TlsIdentity;
    use doudi_runtime::tls::mint::CertificateAuthority;
    use std::net::SocketAddr;
    use std::sync::OnceLock;
    use tonic::transport::{Certificate, Channel, ClientTlsConfig, Endpoint, Identity};

    pub struct TestPki {
        ca: CertificateAuthority,
    }

    /// The test process's CA.
    pub fn suite() -> &'static TestPki {
        static PKI: OnceLock<TestPki> = OnceLock::new();
        PKI.get_or_init(|| TestPki::new("Doudi test CA"))
    }

    impl TestPki {
        /// A CA of its own (a stranger's, when it is not `suite()`).
        pub fn new(name: &str) -> Self {
            Self { ca: CertificateAuthority::generate(name).expect("test CA") }
        }

        pub fn identity(&self, service: &str) -> TlsIdentity {
            self.ca.issue(service, &[]).expect("test certificate")
        }

        pub fn ca_pem(&self) -> &str {
            self.ca.cert_pem()
        }

        pub fn ca_key_pem(&self) -> String {
            self.ca.key_pem()
        }

        /// A channel to `addr` trusting the suite's CA and presenting `client`'s certificate
        /// (`None`: no certificate, as grpcurl with a staff token).
        pub async fn channel(&self, addr: SocketAddr, client: Option<&TlsIdentity>) -> Channel {
            let mut tls = ClientTlsConfig::new().ca_certificate(Certificate::from_pem(suite().ca_pem()));
            if let Some(identity) = client {
                tls = tls.identity(Identity::from_pem(identity.cert_pem(), identity.key_pem()));
            }
            Endpoint::from_shared(format!("https://{addr}"))
                .expect("endpoint")
                .tls_config(tls)
                .expect("tls")
                .connect()
                .await
                .expect("connect over TLS")
        }

        /// A channel presenting a fresh certificate of this CA for `service`.
        pub async fn channel_as(&self, addr: SocketAddr, service: &str) -> Channel {
            self.channel(addr, Some(&self.identity(service))).await
        }
    }
}

/// Adds `authorization: Bearer TOKEN` to every call of a client.
#[derive(Clone)]
pub struct Bearer(tonic::metadata::MetadataValue<tonic::metadata::Ascii>);

impl Bearer {
    pub fn new(token: &str) -> Self {
        Self(format!("Bearer {token}").parse().expect("token is ASCII"))
    }
}

impl tonic::service::Interceptor for Bearer {
    fn call(&mut self, mut request: tonic::Request<()>) -> Result<tonic::Request<()>, tonic::Status> {
        request.metadata_mut().insert("authorization", self.0.clone());
        Ok(request)
    }
}

/// A client's channel with a staff token on every call.
pub type StaffChannel = tonic::service::interceptor::InterceptedService<tonic::transport::Channel, Bearer>;

pub fn with_token(channel: tonic::transport::Channel, token: &str) -> StaffChannel {
    tonic::service::interceptor::InterceptedService::new(channel, Bearer::new(token))
}

/// Trying a port's allow-list from outside.
pub mod access {
    use doudi_runtime::access::{AllowList, StaffMay};
    use tonic::Code;
    use tonic::transport::Channel;

    /// Calls `path` with an empty request (every field at its default) and returns the code.
    /// Empty requests make admitted calls fail on their content (INVALID_ARGUMENT, NOT_FOUND) or
    /// succeed: never UNAUTHENTICATED or PERMISSION_DENIED.
    pub async fn code_of(channel: &Channel, path: &str, token: Option<&str>) -> Code {
        let mut grpc = tonic::client::Grpc::new(channel.clone());
        grpc.ready().await.expect("ready");
        let mut request = tonic::Request::new(());
        if let Some(token) = token {
            request.metadata_mut().insert("authorization", format!("Bearer {token}").parse().expect("ascii"));
        }
        let path = http::uri::PathAndQuery::try_from(path).expect("path");
        let codec = tonic_prost::ProstCodec::<(), ()>::default();
        // A streaming method answers a stream; the first message or the status is what counts.
        if path.path().ends_with("/StreamBenefitRoll") {
            return match grpc.server_streaming(request, path, codec).await {
                Ok(_) => Code::Ok,
                Err(status) => status.code(),
            };
        }
        match grpc.unary(request, path, codec).await {
            Ok(_) => Code::Ok,
            Err(status) => status.code(),
        }
    }

    pub fn refused(code: Code) -> bool {
        matches!(code, Code::Unauthenticated | Code::PermissionDenied)
    }

    /// Every rule of `list` tried at `addr`: without credentials (UNAUTHENTICATED), with each
    /// service's certificate (admitted exactly where the rule names it, else PERMISSION_DENIED),
    /// and with a county staff token (admitted where staff may call).
    pub async fn every_rule_holds(addr: std::net::SocketAddr, list: &AllowList, county_token: &str) {
        let pki = crate::pki::suite();
        let anonymous = pki.channel(addr, None).await;
        let mut as_service = Vec::new();
        for service in doudi_runtime::access::service::ALL {
            as_service.push((service, pki.channel_as(addr, service).await));
        }
        for rule in list.0 {
            let method = rule.method;
            assert_eq!(code_of(&anonymous, method, None).await, Code::Unauthenticated, "{method} without credentials");
            for (service, channel) in &as_service {
                let code = code_of(channel, method, None).await;
                if rule.services.contains(service) {
                    assert!(!refused(code), "{method} refused {service}'s certificate: {code:?}");
                } else {
                    assert_eq!(code, Code::PermissionDenied, "{method} from {service}");
                }
            }
            let county = code_of(&anonymous, method, Some(county_token)).await;
            match rule.staff {
                StaffMay::No => assert_eq!(county, Code::PermissionDenied, "{method} with a staff token"),
                StaffMay::Call | StaffMay::CountyOnly => assert!(!refused(county), "{method} refused county staff"),
            }
        }
    }
}
