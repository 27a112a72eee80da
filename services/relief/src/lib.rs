//! The relief service: temporary relief (policy.md, "Temporary relief") — cases decided within
//! the township's and county's authority and the household's yearly limits, the emergency path
//! that pays first and takes the paperwork after, and the county's relief budget, never
//! overdrawn; every grant paid once through the payment service, by an outbox and the suite's
//! relay.

pub mod access;
pub mod budget;
pub mod cases;
pub mod check;
pub mod eligibility;
pub mod error;
pub mod grpc;
pub mod intake;
pub mod limits;
pub mod relay;
pub mod service;
pub mod store;

use doudi_proto::relief::v1::relief_server::ReliefServer;
use doudi_runtime::Config;
use doudi_runtime::access::Guard;
use doudi_runtime::crypto::PiiCipher;
use doudi_runtime::db::Db;
use doudi_runtime::server::{PortSecurity, RunningService};
use doudi_runtime::staff::RemoteStaffDirectory;
use doudi_runtime::tls::TlsIdentity;
use std::sync::{Arc, Mutex};
use tonic::server::NamedService;

pub use error::ReliefError;
pub use service::{Acting, ReliefService};

pub const SERVICE_NAME: &str = "relief";

#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    #[error(transparent)]
    Db(#[from] doudi_runtime::db::DbError),
    #[error(transparent)]
    Config(#[from] doudi_runtime::config::ConfigError),
    #[error("upstream.eligibility_url: {0}")]
    EligibilityUrl(tonic::transport::Error),
    #[error("upstream.payment_url: {0}")]
    PaymentUrl(tonic::transport::Error),
}

/// Opens (and migrates) the service's database; `eligibility_url` is where it checks households,
/// staff tokens and accounts, over mutual TLS as `identity`.
pub async fn open(
    config: &Config,
    cipher: PiiCipher,
    eligibility_url: &str,
    identity: &TlsIdentity,
) -> Result<ReliefService, OpenError> {
    let deadline = std::time::Duration::from_millis(config.upstream.eligibility_deadline_ms);
    let channel =
        doudi_runtime::channel::lazy_channel(eligibility_url, deadline, identity).map_err(OpenError::EligibilityUrl)?;
    open_with(config, cipher, channel).await
}

/// The service for admin commands that never ask eligibility (the budget).
pub async fn open_for_admin(config: &Config, cipher: PiiCipher) -> Result<ReliefService, OpenError> {
    open_with(config, cipher, doudi_runtime::channel::nowhere()).await
}

async fn open_with(
    config: &Config,
    cipher: PiiCipher,
    channel: tonic::transport::Channel,
) -> Result<ReliefService, OpenError> {
    let deadline = std::time::Duration::from_millis(config.upstream.eligibility_deadline_ms);
    let url = config.database_url(SERVICE_NAME, &config.relief);
    let db = Db::open(&url, config.relief.max_connections, &store::MIGRATIONS).await?;
    Ok(ReliefService {
        store: store::Store::new(db, cipher),
        policy: Arc::new(config.policy()?),
        clock: doudi_runtime::clock::Clock::default(),
        staff: RemoteStaffDirectory::new(channel.clone(), deadline),
        eligibility: channel,
        relay_waker: Arc::new(Mutex::new(None)),
    })
}

/// Starts delivering the outbox's grants to the payment service at `payment_url`, as
/// `identity`; grants written later wake it at once.
pub fn start_relay(
    service: &ReliefService,
    payment_url: &str,
    config: &Config,
    identity: &TlsIdentity,
) -> Result<doudi_runtime::relay::Relay, OpenError> {
    let deadline = std::time::Duration::from_millis(config.upstream.payment_deadline_ms);
    let channel =
        doudi_runtime::channel::lazy_channel(payment_url, deadline, identity).map_err(OpenError::PaymentUrl)?;
    let relay = doudi_runtime::relay::Relay::spawn(
        "relief-outbox",
        service.store().clone(),
        relay::PaymentReceiver::new(channel, deadline),
        doudi_runtime::relay::RelayTiming::default(),
    );
    *service.relay_waker.lock().expect("waker") = Some(relay.waker());
    Ok(relay)
}

/// Serves `service` over mutual TLS as `identity`, every method behind the allow-list
/// (`access.rs`).
pub async fn serve(
    service: ReliefService,
    listener: tokio::net::TcpListener,
    config: &Config,
    identity: TlsIdentity,
) -> std::io::Result<RunningService> {
    let guard = Guard::new(access::ALLOW_LIST, Some(Arc::new(service.staff.clone())));
    let routes = tonic::service::Routes::new(ReliefServer::new(grpc::ReliefGrpc::new(service)));
    let name = <ReliefServer<grpc::ReliefGrpc> as NamedService>::NAME;
    let security = PortSecurity::Inner { identity, guard };
    doudi_runtime::server::serve(SERVICE_NAME, listener, routes, &[name], &config.server, security).await
}
