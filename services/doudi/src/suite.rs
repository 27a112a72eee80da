//! Running services: the whole suite in one process (`doudi up`) or one service (`doudi serve`).

use crate::{commands, demo};
use anyhow::{Context, Result};
use doudi_runtime::Config;
use doudi_runtime::server;
use doudi_runtime::tls::TlsIdentity;
use std::net::SocketAddr;
use tokio::net::TcpListener;

async fn bind(name: &str, addr: SocketAddr) -> Result<TcpListener> {
    server::bind(addr).await.with_context(|| format!("{name} cannot listen on {addr}"))
}

fn is_empty_dir(dir: &std::path::Path) -> bool {
    std::fs::read_dir(dir).map_or(true, |mut entries| entries.next().is_none())
}

/// The suite's services, each with a certificate of its own.
const SERVICES: [&str; 5] = [
    doudi_eligibility::SERVICE_NAME,
    doudi_settlement::SERVICE_NAME,
    doudi_gateway::SERVICE_NAME,
    doudi_payment::SERVICE_NAME,
    doudi_relief::SERVICE_NAME,
];

/// A service's identity for the inner hops, from `security.tls` or the development layout.
pub(crate) fn identity(config: &Config, service: &str) -> Result<TlsIdentity> {
    let files = config.tls_files(service);
    TlsIdentity::load(service, &files).with_context(|| {
        format!(
            "{service} has no usable certificate ({}); give security.tls, or mint one: doudi tls issue --service {service} --out DIR",
            files.cert_file.display()
        )
    })
}

/// `doudi up`: the development CA and a certificate per service under `data/tls/`, made on the
/// first start and kept.
fn dev_identities(config: &Config) -> Result<[TlsIdentity; 5]> {
    if config.security.tls.cert_file.is_some() {
        anyhow::bail!(
            "security.tls names one certificate; `doudi up` runs every service and gives each its own under {} (security.tls is for `doudi serve`)",
            config.dev_tls_dir().display()
        );
    }
    let dir = config.dev_tls_dir();
    if doudi_runtime::tls::mint::ensure_dev_certificates(&dir, &SERVICES)? {
        println!(
            "development CA and service certificates: {} (staff tools: grpcurl -cacert {}/ca.crt …)",
            dir.display(),
            dir.display()
        );
    }
    Ok(SERVICES
        .map(|service| identity(config, service))
        .into_iter()
        .collect::<Result<Vec<_>>>()?
        .try_into()
        .expect("one per service"))
}

/// Every port of the suite, bound before anything else happens.
struct Listeners {
    eligibility: TcpListener,
    settlement: TcpListener,
    gateway: TcpListener,
    http: TcpListener,
    payment: TcpListener,
    relief: TcpListener,
}

async fn bind_all(config: &Config) -> Result<Listeners> {
    Ok(Listeners {
        eligibility: bind("eligibility", config.eligibility.listen).await?,
        settlement: bind("settlement", config.settlement.listen).await?,
        gateway: bind("gateway", config.gateway.listen).await?,
        http: bind("gateway http", config.http.listen).await?,
        payment: bind("payment", config.payment.listen).await?,
        relief: bind("relief", config.relief.listen).await?,
    })
}

pub async fn up(config: Config, seed_demo: bool) -> Result<()> {
    let _telemetry =
        doudi_runtime::telemetry::init(&config.log, "doudi", doudi_runtime::telemetry::TraceSink::from_env());
    let stop = server::shutdown_signal();
    // A county's policy file is checked before anything starts.
    config.policy()?;
    // Every port first: a suite that cannot listen must not touch the data directory.
    let listeners = bind_all(&config).await?;
    let fresh = is_empty_dir(&config.data_dir);
    std::fs::create_dir_all(&config.data_dir)
        .with_context(|| format!("cannot create {}", config.data_dir.display()))?;
    let cipher = commands::cipher(&config, true)?;
    if config.security.master_key.is_none() && commands::key_is_in_data_dir(&config) {
        println!(
            "development key: {} (inside the data directory, for trying the suite; `doudi serve` refuses a key there)",
            config.key_file().display()
        );
    }
    let [eligibility_tls, settlement_tls, gateway_tls, payment_tls, relief_tls] = dev_identities(&config)?;
    let eligibility =
        doudi_eligibility::open(&config, cipher.clone()).await.context("opening the eligibility database")?;
    let hospitals =
        doudi_gateway::open_hospitals(&config, cipher.clone()).await.context("opening the gateway database")?;
    let demo = if fresh && seed_demo { Some(demo::seed(&eligibility, &hospitals).await?) } else { None };

    // The services find each other at the addresses actually bound (ports may be 0 in tests).
    let eligibility_url = doudi_runtime::config::local_url(listeners.eligibility.local_addr()?);
    let settlement_url = doudi_runtime::config::local_url(listeners.settlement.local_addr()?);
    let payment_url = doudi_runtime::config::local_url(listeners.payment.local_addr()?);
    let settlement = doudi_settlement::open(&config, cipher.clone(), &eligibility_url, &settlement_tls)
        .await
        .context("opening the settlement database")?;
    let payment = doudi_payment::open(&config, cipher.clone(), &eligibility_url, &payment_tls)
        .await
        .context("opening the payment database")?;
    let relief = doudi_relief::open(&config, cipher, &eligibility_url, &relief_tls)
        .await
        .context("opening the relief database")?;
    if demo.is_some() {
        demo::seed_budgets(&payment, &relief).await?;
    }
    let relay = doudi_settlement::start_relay(&settlement, &payment_url, &config, &settlement_tls)?;
    let relief_relay = doudi_relief::start_relay(&relief, &payment_url, &config, &relief_tls)?;
    let eligibility = doudi_eligibility::serve(eligibility, listeners.eligibility, &config, eligibility_tls).await?;
    let settlement = doudi_settlement::serve(settlement, listeners.settlement, &config, settlement_tls).await?;
    let payment = doudi_payment::serve(payment, listeners.payment, &config, payment_tls).await?;
    let relief = doudi_relief::serve(relief, listeners.relief, &config, relief_tls).await?;
    let gateway =
        doudi_gateway::serve(hospitals, listeners.gateway, listeners.http, &settlement_url, &config, &gateway_tls)
            .await?;

    println!("doudi is up — data in {} (SQLite)", config.data_dir.display());
    for service in [&eligibility, &settlement, &payment, &relief, &gateway.grpc] {
        println!("  {:<12} grpc://{}", service.name, service.local_addr);
    }
    let http_scheme = if config.http.tls.cert_file.is_some() { "https" } else { "http" };
    println!("  {:<12} {http_scheme}://{}  (hospitals: HTTP/JSON)", "gateway", gateway.http_addr);
    if let Some(demo) = demo {
        demo::print_hints(&demo, &config, eligibility.local_addr, relief.local_addr, gateway.http_addr);
    }
    println!("press Ctrl-C to stop");
    stop.await;
    gateway.shutdown().await;
    settlement.shutdown().await;
    relief.shutdown().await;
    relay.stop().await;
    relief_relay.stop().await;
    payment.shutdown().await;
    eligibility.shutdown().await;
    Ok(())
}

fn telemetry_for(config: &Config, service: &str) -> doudi_runtime::telemetry::TelemetryGuard {
    doudi_runtime::telemetry::init(&config.log, service, doudi_runtime::telemetry::TraceSink::from_env())
}

pub async fn serve_eligibility(config: Config) -> Result<()> {
    let _telemetry = telemetry_for(&config, "doudi-eligibility");
    let stop = server::shutdown_signal();
    config.policy()?;
    let listener = bind("eligibility", config.eligibility.listen).await?;
    let cipher = commands::serving_cipher(&config)?;
    let identity = identity(&config, doudi_eligibility::SERVICE_NAME)?;
    let service = commands::open_eligibility(&config, cipher).await?;
    let running = doudi_eligibility::serve(service, listener, &config, identity).await?;
    println!("{:<12} grpc://{}", running.name, running.local_addr);
    stop.await;
    running.shutdown().await;
    Ok(())
}

pub async fn serve_settlement(config: Config) -> Result<()> {
    let _telemetry = telemetry_for(&config, "doudi-settlement");
    let stop = server::shutdown_signal();
    config.policy()?;
    let listener = bind("settlement", config.settlement.listen).await?;
    let cipher = commands::serving_cipher(&config)?;
    let identity = identity(&config, doudi_settlement::SERVICE_NAME)?;
    let service = commands::open_settlement(&config, cipher, &identity).await?;
    let relay = doudi_settlement::start_relay(&service, &config.payment_url(), &config, &identity)?;
    let running = doudi_settlement::serve(service, listener, &config, identity).await?;
    println!("{:<12} grpc://{}", running.name, running.local_addr);
    stop.await;
    running.shutdown().await;
    relay.stop().await;
    Ok(())
}

pub async fn serve_payment(config: Config) -> Result<()> {
    let _telemetry = telemetry_for(&config, "doudi-payment");
    let stop = server::shutdown_signal();
    config.policy()?;
    let listener = bind("payment", config.payment.listen).await?;
    let cipher = commands::serving_cipher(&config)?;
    let identity = identity(&config, doudi_payment::SERVICE_NAME)?;
    let service = doudi_payment::open(&config, cipher, &config.eligibility_url(), &identity)
        .await
        .context("opening the payment database")?;
    let running = doudi_payment::serve(service, listener, &config, identity).await?;
    println!("{:<12} grpc://{}", running.name, running.local_addr);
    stop.await;
    running.shutdown().await;
    Ok(())
}

pub async fn serve_relief(config: Config) -> Result<()> {
    let _telemetry = telemetry_for(&config, "doudi-relief");
    let stop = server::shutdown_signal();
    config.policy()?;
    let listener = bind("relief", config.relief.listen).await?;
    let cipher = commands::serving_cipher(&config)?;
    let identity = identity(&config, doudi_relief::SERVICE_NAME)?;
    let service = doudi_relief::open(&config, cipher, &config.eligibility_url(), &identity)
        .await
        .context("opening the relief database")?;
    let relay = doudi_relief::start_relay(&service, &config.payment_url(), &config, &identity)?;
    let running = doudi_relief::serve(service, listener, &config, identity).await?;
    println!("{:<12} grpc://{}", running.name, running.local_addr);
    stop.await;
    running.shutdown().await;
    relay.stop().await;
    Ok(())
}

pub async fn serve_gateway(config: Config) -> Result<()> {
    let _telemetry = telemetry_for(&config, "doudi-gateway");
    let stop = server::shutdown_signal();
    let grpc = bind("gateway", config.gateway.listen).await?;
    let http = bind("gateway http", config.http.listen).await?;
    let cipher = commands::serving_cipher(&config)?;
    let identity = identity(&config, doudi_gateway::SERVICE_NAME)?;
    let hospitals = commands::open_hospitals(&config, cipher).await?;
    let running = doudi_gateway::serve(hospitals, grpc, http, &config.settlement_url(), &config, &identity).await?;
    println!("{:<12} grpc://{}", running.grpc.name, running.grpc.local_addr);
    println!("{:<12} http://{}", "gateway", running.http_addr);
    stop.await;
    running.shutdown().await;
    Ok(())
}
