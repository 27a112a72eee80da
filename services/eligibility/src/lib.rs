//! The eligibility service: who is covered, on which day, in which category — the registry
//! and its upkeep, coverage, the dibao procedure, reviews and the monthly roll. One folder per
//! capability, each with its pure rules, its store (its SQL), its operations and its gRPC
//! adapter; `store`, `changelog`, `error` and `grpc` are the plumbing they share.

pub mod access;
pub mod changelog;
pub mod clock;
pub mod coverage;
pub mod error;
pub mod grpc;
#[cfg(test)]
mod masked_debug;
pub mod notice;
pub mod procedure;
pub mod registry;
pub mod reviews;
pub mod roll;
pub mod service;
pub mod staff;
pub mod store;
pub mod upkeep;

use doudi_proto::eligibility::v1::dibao_procedure_server::DibaoProcedureServer;
use doudi_proto::eligibility::v1::eligibility_server::EligibilityServer;
use doudi_proto::eligibility::v1::staff_directory_server::StaffDirectoryServer;
use doudi_runtime::Config;
use doudi_runtime::access::Guard;
use doudi_runtime::crypto::PiiCipher;
use doudi_runtime::db::{Db, DbError};
use doudi_runtime::server::PortSecurity;
use doudi_runtime::server::RunningService;
use doudi_runtime::tls::TlsIdentity;
use std::sync::Arc;
use tonic::server::NamedService;

pub use error::EligibilityError;
pub use service::EligibilityService;

pub const SERVICE_NAME: &str = "eligibility";

/// Opens (and migrates) the service's database as `config` says.
pub async fn open(config: &Config, cipher: PiiCipher) -> Result<EligibilityService, DbError> {
    let url = config.database_url(SERVICE_NAME, &config.eligibility);
    let db = Db::open(&url, config.eligibility.max_connections, &store::MIGRATIONS).await?;
    doudi_runtime::sealing::reseal_all(&db, &cipher, &store::SEALED_COLUMNS).await.map_err(DbError::Reseal)?;
    Ok(EligibilityService::new(store::Store::new(db, cipher)))
}

/// Serves `service` on `listener` with the suite's middleware, health and reflection, over
/// mutual TLS as `identity`, every method behind the allow-list (`access.rs`), after loading its
/// coverage index (so SERVING means ready to answer from memory).
pub async fn serve(
    service: EligibilityService,
    listener: tokio::net::TcpListener,
    config: &Config,
    identity: TlsIdentity,
) -> std::io::Result<RunningService> {
    let (service, persons) = service.with_coverage_index().await.map_err(std::io::Error::other)?;
    tracing::info!(persons, "coverage index loaded");
    let policy = config.policy().map_err(std::io::Error::other)?;
    let procedure = DibaoProcedureServer::new(grpc::ProcedureGrpc::new(service.clone(), policy));
    let register = staff::ops::StaffRegister(service.clone());
    let directory = StaffDirectoryServer::new(grpc::StaffDirectoryGrpc::new(register.clone()));
    let routes = tonic::service::Routes::new(EligibilityServer::new(grpc::EligibilityGrpc::new(service)))
        .add_service(procedure)
        .add_service(directory);
    let names = [
        <EligibilityServer<grpc::EligibilityGrpc> as NamedService>::NAME,
        <DibaoProcedureServer<grpc::ProcedureGrpc> as NamedService>::NAME,
        <StaffDirectoryServer<grpc::StaffDirectoryGrpc> as NamedService>::NAME,
    ];
    let guard = Guard::new(access::ALLOW_LIST, Some(Arc::new(register)));
    let security = PortSecurity::Inner { identity, guard };
    doudi_runtime::server::serve(SERVICE_NAME, listener, routes, &names, &config.server, security).await
}
