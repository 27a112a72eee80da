//! The settlement service: one-stop settlement of hospital bills across basic insurance,
//! critical-illness insurance and medical assistance (policy.md), with yearly accumulators per
//! person and payer, idempotent bills, reversals, reconciliation and premium subsidies.

pub mod access;
pub mod access_log;
pub mod coverage_client;
pub mod error;
pub mod grpc;
pub mod outbox;
pub mod premium;
pub mod reconcile;
pub mod service;
pub mod settle;
pub mod store;

use doudi_proto::settlement::v1::settlements_server::SettlementsServer;
use doudi_runtime::Config;
use doudi_runtime::access::Guard;
use doudi_runtime::crypto::PiiCipher;
use doudi_runtime::db::Db;
use doudi_runtime::server::{PortSecurity, RunningService};
use doudi_runtime::staff::RemoteStaffDirectory;
use doudi_runtime::tls::TlsIdentity;
use std::sync::Arc;
use tonic::server::NamedService;

pub use error::SettlementError;
pub use service::SettlementService;

pub const SERVICE_NAME: &str = "settlement";

#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    #[error(transparent)]
    Db(#[from] doudi_runtime::db::DbError),
    #[error(transparent)]
    Config(#[from] doudi_runtime::config::ConfigError),
    #[error("settlement.eligibility_url: {0}")]
    EligibilityUrl(tonic::transport::Error),
    #[error("upstream.payment_url: {0}")]
    PaymentUrl(tonic::transport::Error),
    #[error("moving the JSON outbox of an older version: {0}")]
    LegacyOutbox(sqlx::Error),
}

/// Opens (and migrates) the service's database; `eligibility_url` is where it asks categories
/// and staff tokens, over mutual TLS as `identity`.
pub async fn open(
    config: &Config,
    cipher: PiiCipher,
    eligibility_url: &str,
    identity: &TlsIdentity,
) -> Result<SettlementService, OpenError> {
    let deadline = std::time::Duration::from_millis(config.upstream.eligibility_deadline_ms);
    let channel =
        doudi_runtime::channel::lazy_channel(eligibility_url, deadline, identity).map_err(OpenError::EligibilityUrl)?;
    open_with(config, cipher, channel).await
}

/// The service for the admin commands (premium subsidies, the access log), which work on the
/// database and never ask the eligibility service: its channel is never dialled, and would fail
/// if it were.
pub async fn open_for_admin(config: &Config, cipher: PiiCipher) -> Result<SettlementService, OpenError> {
    open_with(config, cipher, doudi_runtime::channel::nowhere()).await
}

async fn open_with(
    config: &Config,
    cipher: PiiCipher,
    channel: tonic::transport::Channel,
) -> Result<SettlementService, OpenError> {
    let url = config.database_url(SERVICE_NAME, &config.settlement);
    let db = Db::open(&url, config.settlement.max_connections, &store::MIGRATIONS).await?;
    doudi_runtime::sealing::reseal_all(&db, &cipher, &store::SEALED_COLUMNS)
        .await
        .map_err(doudi_runtime::db::DbError::Reseal)?;
    let deadline = std::time::Duration::from_millis(config.upstream.eligibility_deadline_ms);
    let coverage = coverage_client::CoverageClient::new(channel.clone(), deadline);
    let staff = RemoteStaffDirectory::new(channel, deadline);
    let store = store::Store::new(db, cipher);
    let moved = store.move_legacy_outbox().await.map_err(OpenError::LegacyOutbox)?;
    if moved > 0 {
        tracing::info!(messages = moved, "moved the JSON outbox's undelivered messages to the protobuf outbox");
    }
    Ok(SettlementService::new(store, config.policy()?, coverage, staff))
}

/// Serves `service` over mutual TLS as `identity`, every method behind the allow-list
/// (`access.rs`).
pub async fn serve(
    service: SettlementService,
    listener: tokio::net::TcpListener,
    config: &Config,
    identity: TlsIdentity,
) -> std::io::Result<RunningService> {
    let guard = Guard::new(access::ALLOW_LIST, Some(Arc::new(service.staff.clone())));
    let routes = tonic::service::Routes::new(SettlementsServer::new(grpc::SettlementGrpc::new(service)));
    let name = <SettlementsServer<grpc::SettlementGrpc> as NamedService>::NAME;
    let security = PortSecurity::Inner { identity, guard };
    doudi_runtime::server::serve(SERVICE_NAME, listener, routes, &[name], &config.server, security).await
}

/// Starts delivering the outbox to the payment service at `payment_url`, over mutual TLS as
/// `identity`. Stop it after the server on shutdown.
pub fn start_relay(
    service: &SettlementService,
    payment_url: &str,
    config: &Config,
    identity: &TlsIdentity,
) -> Result<doudi_runtime::relay::Relay, OpenError> {
    let deadline = std::time::Duration::from_millis(config.upstream.payment_deadline_ms);
    let channel =
        doudi_runtime::channel::lazy_channel(payment_url, deadline, identity).map_err(OpenError::PaymentUrl)?;
    let receiver = outbox::relay::PaymentReceiver::new(channel, deadline);
    Ok(doudi_runtime::relay::Relay::spawn(
        "settlement-outbox",
        service.store().clone(),
        receiver,
        doudi_runtime::relay::RelayTiming::default(),
    ))
}
