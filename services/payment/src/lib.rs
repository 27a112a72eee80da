//! The payment service: a double-entry ledger over yearly fund budgets, and the payment
//! instructions drawn on it, each made once — the monthly payroll with price subsidy, arrears
//! and overpayment recovery, hospitals' medical assistance payables, the insurer's premium
//! subsidies and relief grants — up to an instruction ready for a bank (policy.md, "Payments").

pub mod access;
pub mod bank;
pub mod budget;
pub mod closes;
pub mod error;
pub mod files;
pub mod funds;
pub mod grpc;
pub mod instructions;
pub mod ledger;
pub mod payables;
pub mod payroll;
pub mod premiums;
pub mod prices;
pub mod receive;
pub mod service;
pub mod store;

use doudi_proto::payment::v1::payments_server::PaymentsServer;
use doudi_runtime::Config;
use doudi_runtime::access::Guard;
use doudi_runtime::crypto::PiiCipher;
use doudi_runtime::db::Db;
use doudi_runtime::server::{PortSecurity, RunningService};
use doudi_runtime::staff::RemoteStaffDirectory;
use doudi_runtime::tls::TlsIdentity;
use std::sync::Arc;
use tonic::server::NamedService;

pub use error::PaymentError;
pub use service::PaymentService;

pub const SERVICE_NAME: &str = "payment";

#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    #[error(transparent)]
    Db(#[from] doudi_runtime::db::DbError),
    #[error(transparent)]
    Config(#[from] doudi_runtime::config::ConfigError),
    #[error("upstream.eligibility_url: {0}")]
    EligibilityUrl(tonic::transport::Error),
    #[error("payment.insurer_account: {0}")]
    InsurerAccount(doudi_core::pii::PiiError),
    #[error("{0}")]
    Bank(String),
}

/// Opens (and migrates) the service's database; `eligibility_url` is where it reads the benefit
/// roll and staff tokens, over mutual TLS as `identity`.
pub async fn open(
    config: &Config,
    cipher: PiiCipher,
    eligibility_url: &str,
    identity: &TlsIdentity,
) -> Result<PaymentService, OpenError> {
    let deadline = std::time::Duration::from_millis(config.upstream.eligibility_deadline_ms);
    let channel =
        doudi_runtime::channel::lazy_channel(eligibility_url, deadline, identity).map_err(OpenError::EligibilityUrl)?;
    open_with(config, cipher, channel).await
}

/// The service for the admin commands that never read the roll (budgets, approvals, closes,
/// checks): its eligibility channel is never dialled, and would fail if it were.
pub async fn open_for_admin(config: &Config, cipher: PiiCipher) -> Result<PaymentService, OpenError> {
    open_with(config, cipher, doudi_runtime::channel::nowhere()).await
}

async fn open_with(
    config: &Config,
    cipher: PiiCipher,
    channel: tonic::transport::Channel,
) -> Result<PaymentService, OpenError> {
    let deadline = std::time::Duration::from_millis(config.upstream.eligibility_deadline_ms);
    let url = config.database_url(SERVICE_NAME, &config.payment.service());
    let db = Db::open(&url, config.payment.max_connections, &store::MIGRATIONS).await?;
    doudi_runtime::sealing::reseal_all(&db, &cipher, &store::SEALED_COLUMNS)
        .await
        .map_err(doudi_runtime::db::DbError::Reseal)?;
    let account = config
        .payment
        .insurer_account
        .as_deref()
        .map(doudi_core::pii::BankAccount::parse)
        .transpose()
        .map_err(OpenError::InsurerAccount)?;
    Ok(PaymentService {
        store: store::Store::new(db, cipher),
        policy: Arc::new(config.policy()?),
        staff: RemoteStaffDirectory::new(channel.clone(), deadline),
        eligibility: channel,
        insurer: service::Insurer { name: config.payment.insurer_name.clone(), account },
        bank: bank_settings(config)?,
    })
}

/// The debtor name, each fund's account (keys are the fund's name in any case) and the CSV
/// columns, checked.
fn bank_settings(config: &Config) -> Result<bank::export::BankSettings, OpenError> {
    let mut funds = std::collections::BTreeMap::new();
    for (name, accounts) in &config.payment.funds {
        let fund = funds::Fund::parse(&name.to_ascii_uppercase())
            .ok_or_else(|| OpenError::Bank(format!("payment.funds.{name}: not a fund")))?;
        match (&accounts.account, &accounts.bank_code) {
            (Some(account), Some(code)) => {
                funds.insert(fund, (account.clone(), code.clone()));
            }
            (None, None) => {}
            _ => return Err(OpenError::Bank(format!("payment.funds.{name}: give account and bank_code together"))),
        }
    }
    let csv_columns = bank::csv::columns(&config.payment.csv_columns).map_err(OpenError::Bank)?;
    Ok(bank::export::BankSettings { debtor_name: config.payment.debtor_name.clone(), funds, csv_columns })
}

/// Serves `service` over mutual TLS as `identity`, every method behind the allow-list
/// (`access.rs`).
pub async fn serve(
    service: PaymentService,
    listener: tokio::net::TcpListener,
    config: &Config,
    identity: TlsIdentity,
) -> std::io::Result<RunningService> {
    let guard = Guard::new(access::ALLOW_LIST, Some(Arc::new(service.staff.clone())));
    let routes = tonic::service::Routes::new(PaymentsServer::new(grpc::PaymentGrpc::new(service)));
    let name = <PaymentsServer<grpc::PaymentGrpc> as NamedService>::NAME;
    let security = PortSecurity::Inner { identity, guard };
    doudi_runtime::server::serve(SERVICE_NAME, listener, routes, &[name], &config.server, security).await
}
