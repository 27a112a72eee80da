//! The gateway: hospitals' one-stop settlement over gRPC (`doudi.hospital.v1`) and HTTP/JSON.
//! It authenticates callers by API key, limits each hospital's rate, and relays to the
//! settlement service with a deadline. It holds no business rules.

pub mod error;
pub mod grpc;
pub mod hospitals;
pub mod http;
pub mod relay;

use doudi_proto::hospital::v1::hospital_settlement_server::HospitalSettlementServer;
use doudi_runtime::Config;
use doudi_runtime::config::PublicTlsConfig;
use doudi_runtime::crypto::PiiCipher;
use doudi_runtime::db::{Db, DbError};
use doudi_runtime::server::{PortSecurity, RunningService};
use doudi_runtime::tls::TlsIdentity;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tonic::server::NamedService;

pub use error::GatewayError;

pub const SERVICE_NAME: &str = "gateway";

pub async fn open_hospitals(config: &Config, cipher: PiiCipher) -> Result<hospitals::HospitalStore, DbError> {
    let url = config.database_url(SERVICE_NAME, &config.gateway);
    let db = Db::open(&url, config.gateway.max_connections, &hospitals::MIGRATIONS).await?;
    doudi_runtime::sealing::reseal_all(&db, &cipher, &[hospitals::store::HOSPITAL_ACCOUNT])
        .await
        .map_err(DbError::Reseal)?;
    Ok(hospitals::HospitalStore::new(db, cipher))
}

/// The gateway running: its gRPC service and its HTTP endpoint.
#[derive(Debug)]
pub struct RunningGateway {
    pub grpc: RunningService,
    pub http_addr: SocketAddr,
    http_stop: tokio::sync::watch::Sender<bool>,
    http_task: tokio::task::JoinHandle<std::io::Result<()>>,
}

impl RunningGateway {
    pub async fn shutdown(self) {
        let _ = self.http_stop.send(true);
        let _ = tokio::time::timeout(Duration::from_secs(10), self.http_task).await;
        self.grpc.shutdown().await;
    }
}

/// A public port's certificate and key (PEM), when configured.
fn public_certificate(key: &str, tls: &PublicTlsConfig) -> std::io::Result<Option<(String, String)>> {
    let (Some(cert), Some(private)) = (&tls.cert_file, &tls.key_file) else { return Ok(None) };
    let read = |path: &std::path::Path| {
        std::fs::read_to_string(path)
            .map_err(|e| std::io::Error::other(format!("{key}: cannot read {}: {e}", path.display())))
    };
    Ok(Some((read(cert)?, read(private)?)))
}

/// Serves the hospitals' gRPC on `grpc_listener` and HTTP/JSON on `http_listener` (each over TLS
/// when `gateway.tls` / `http.tls` give a certificate), relaying to the settlement service at
/// `settlement_url` over mutual TLS as `identity`.
pub async fn serve(
    store: hospitals::HospitalStore,
    grpc_listener: tokio::net::TcpListener,
    http_listener: tokio::net::TcpListener,
    settlement_url: &str,
    config: &Config,
    identity: &TlsIdentity,
) -> std::io::Result<RunningGateway> {
    let access = hospitals::access::Access::new(store, &config.hospital_access);
    let deadline = Duration::from_millis(config.upstream.settlement_deadline_ms);
    let relay = relay::Relay::new(access, settlement_url, deadline, identity).map_err(std::io::Error::other)?;
    let https = match public_certificate("http.tls", &config.http.tls)? {
        Some((cert, key)) => Some(http::tls::server_config(&cert, &key).map_err(std::io::Error::other)?),
        None => None,
    };
    let grpc_tls = public_certificate("gateway.tls", &config.gateway.tls)?.map(|(cert, key)| {
        tonic::transport::ServerTlsConfig::new().identity(tonic::transport::Identity::from_pem(cert, key))
    });

    let http_addr = http_listener.local_addr()?;
    let state = Arc::new(http::HttpState { relay: relay.clone(), max_body_bytes: config.http.max_body_bytes });
    let (http_stop, mut stopped) = tokio::sync::watch::channel(false);
    let shutdown = async move {
        let _ = stopped.wait_for(|stop| *stop).await;
    };
    let router = http::router(state, &config.server);
    let scheme = if https.is_some() { "https" } else { "http" };
    // The peer's address travels with each request (the per-address limit on bad keys).
    let app = router.into_make_service_with_connect_info::<SocketAddr>();
    let http_task = match https {
        Some(tls) => {
            use axum::serve::ListenerExt;
            // Tapped (doing nothing) only so axum gives each request the peer's address.
            let listener = http::tls::TlsListener::new(http_listener, tls)?.tap_io(|_| {});
            tokio::spawn(async move { axum::serve(listener, app).with_graceful_shutdown(shutdown).await })
        }
        None => tokio::spawn(async move {
            use axum::serve::ListenerExt;
            // Small answers must leave at once (see the gRPC server's TCP_NODELAY).
            let listener = http_listener.tap_io(|tcp| {
                let _ = tcp.set_nodelay(true);
            });
            axum::serve(listener, app).with_graceful_shutdown(shutdown).await
        }),
    };
    tracing::info!(service = SERVICE_NAME, addr = %http_addr, scheme, "http listening");

    let routes = tonic::service::Routes::new(HospitalSettlementServer::new(grpc::HospitalGrpc::new(relay)));
    let name = <HospitalSettlementServer<grpc::HospitalGrpc> as NamedService>::NAME;
    // Hospitals are not services of the suite: they authenticate by API key in each method.
    let security = PortSecurity::Public { tls: grpc_tls };
    let grpc =
        doudi_runtime::server::serve(SERVICE_NAME, grpc_listener, routes, &[name], &config.server, security).await?;
    Ok(RunningGateway { grpc, http_addr, http_stop, http_task })
}
