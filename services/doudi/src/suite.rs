//! Running services: the whole suite in one process (`doudi up`) or one service (`doudi serve`).

use crate::{commands, demo};
use anyhow::{Context, Result};
use doudi_runtime::Config;
use doudi_runtime::server;

async fn bind_eligibility(config: &Config) -> Result<tokio::net::TcpListener> {
    let addr = config.eligibility.listen;
    server::bind(addr).await.with_context(|| format!("eligibility cannot listen on {addr}"))
}

fn is_empty_dir(dir: &std::path::Path) -> bool {
    std::fs::read_dir(dir).map_or(true, |mut entries| entries.next().is_none())
}

pub async fn up(config: Config, seed_demo: bool) -> Result<()> {
    let _telemetry =
        doudi_runtime::telemetry::init(&config.log, "doudi", doudi_runtime::telemetry::TraceSink::from_env());
    // A county's policy file is checked before anything starts.
    config.policy()?;
    // Every port first: a suite that cannot listen must not touch the data directory.
    let eligibility_listener = bind_eligibility(&config).await?;
    let fresh = is_empty_dir(&config.data_dir);
    std::fs::create_dir_all(&config.data_dir)
        .with_context(|| format!("cannot create {}", config.data_dir.display()))?;
    let cipher = commands::cipher(&config, true)?;
    let eligibility = doudi_eligibility::open(&config, cipher).await.context("opening the eligibility database")?;
    let demo_people = if fresh && seed_demo { Some(demo::seed(&eligibility).await?) } else { None };
    let running = vec![doudi_eligibility::serve(eligibility, eligibility_listener, &config).await?];

    println!("doudi is up — data in {} (SQLite)", config.data_dir.display());
    for service in &running {
        println!("  {:<12} grpc://{}", service.name, service.local_addr);
    }
    if let Some(people) = demo_people {
        println!("demo county seeded (DEMO DATA: households DEMO-…, township {}); try:", demo::DEMO_TOWNSHIP);
        let data_dir = config.data_dir.display();
        // The path of this very program, so the lines can be pasted as they are.
        let program = std::env::current_exe().map_or_else(|_| "doudi".to_owned(), |p| p.display().to_string());
        for person in &people {
            println!(
                "  {program} --data-dir {data_dir} coverage {} --on {}   # {}",
                person.national_id.expose(),
                person.day,
                person.note
            );
        }
        let first = &people[0];
        println!(
            "  grpcurl -plaintext -d '{{\"nationalId\":\"{}\",\"date\":\"{}\"}}' {} doudi.eligibility.v1.Eligibility/GetCoverage",
            first.national_id.expose(),
            first.day,
            running[0].local_addr
        );
    }
    println!("press Ctrl-C to stop");
    server::shutdown_signal().await;
    for service in running {
        service.shutdown().await;
    }
    Ok(())
}

pub async fn serve_eligibility(config: Config) -> Result<()> {
    let _telemetry = doudi_runtime::telemetry::init(
        &config.log,
        "doudi-eligibility",
        doudi_runtime::telemetry::TraceSink::from_env(),
    );
    config.policy()?;
    let listener = bind_eligibility(&config).await?;
    let service = commands::eligibility(&config).await?;
    let running = doudi_eligibility::serve(service, listener, &config).await?;
    println!("{:<12} grpc://{}", running.name, running.local_addr);
    server::shutdown_signal().await;
    running.shutdown().await;
    Ok(())
}
