//! `doudi-bench eligibility`: figures for the eligibility service, each beside a ceiling measured
//! in the same run on the same machine, so the ratio means something on any machine.
//!
//! - import: `doudi registry import` of N persons vs a plain batched INSERT of the same rows
//!   into the same database, and vs the same persons inserted straight into a fresh registry's
//!   own tables (the floor its keys, unique indexes and foreign keys set);
//! - coverage: `GetCoverage` over gRPC at concurrency C (K HTTP/2 connections) vs the gRPC health
//!   check on the same server; then again while county staff correct one household a second
//!   (`CorrectHousehold`: a registry write, which the coverage index must follow).
//!
//! The server runs on a tokio runtime of its own, the load generator on another.

use crate::load::load;
use anyhow::{Context, Result};
use doudi_core::Date;
use doudi_core::national_id::synthesize;
use doudi_eligibility::registry::import::HEADER;
use doudi_proto::eligibility::v1 as pb;
use doudi_proto::eligibility::v1::eligibility_client::EligibilityClient;
use doudi_runtime::Config;
use doudi_testkit::{Backend, TestDb};
use std::time::{Duration, Instant};
use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_client::HealthClient;

pub fn national_id(n: u32) -> String {
    let birth = Date::from_ymd(1940, 1, 1).expect("date").add_days(i64::from(n % 25_000));
    synthesize("360730", birth, n / 25_000).expose().to_owned()
}

/// N persons in households of four, every one holding one category.
pub fn recipients_csv(persons: u32) -> String {
    recipients_csv_from(0, persons)
}

/// Persons `first..first + count` (households of four), every one holding one category.
pub fn recipients_csv_from(first: u32, count: u32) -> String {
    const CATEGORIES: [&str; 5] = ["DIBAO_1", "DIBAO_2", "TEKUN", "REGISTERED_POOR", "LOW_INCOME"];
    let mut text = HEADER.join(",");
    text.reserve(count as usize * 120);
    for n in first..first + count {
        let id = national_id(n);
        let (household, head) = (n / 4, n % 4 == 0);
        let birth = format!("{}-{}-{}", &id[6..10], &id[10..12], &id[12..14]);
        let account = if head { format!("62284800{household:08}") } else { String::new() };
        let relation = if head { "HEAD" } else { "CHILD" };
        let category = CATEGORIES[(household % 5) as usize];
        text.push_str(&format!(
            "\nB{household:06},镇{},村{},{id},姓名{n},{relation},{birth},{category},2015-01-01,,{account}",
            household % 12,
            household % 97
        ));
    }
    text.push('\n');
    text
}

/// The same rows into a table of the same columns, `batch` rows a statement, one transaction.
async fn plain_insert(
    pool: &sqlx::AnyPool,
    backend: doudi_runtime::Backend,
    csv: &str,
    batch: usize,
) -> Result<Duration> {
    sqlx::query("DROP TABLE IF EXISTS bench_plain").execute(pool).await?;
    sqlx::query(
        "CREATE TABLE bench_plain (household_no TEXT, township TEXT, village TEXT, national_id TEXT, name TEXT, relation TEXT,
         birth_date TEXT, category TEXT, effective_from TEXT, effective_to TEXT, bank_account TEXT)",
    )
    .execute(pool)
    .await?;
    let rows: Vec<Vec<&str>> = csv.lines().skip(1).map(|l| l.split(',').collect()).collect();
    let started = Instant::now();
    let mut tx = pool.begin().await?;
    for chunk in rows.chunks(batch) {
        let sql = format!("INSERT INTO bench_plain VALUES {}", backend.values_rows(chunk.len(), 11));
        let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
        for row in chunk {
            for field in row {
                query = query.bind(*field);
            }
        }
        query.execute(&mut *tx).await?;
    }
    tx.commit().await?;
    Ok(started.elapsed())
}

/// One bound statement of `sqlx::query`.
type Insert<'q> = sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments>;

/// `rows` into `into` (the table and its column list, whose length sets the values a row),
/// `batch` rows a statement, each row's values bound by `bind`.
async fn insert_rows<'q, T>(
    conn: &mut sqlx::AnyConnection,
    backend: doudi_runtime::Backend,
    into: &str,
    rows: &'q [T],
    batch: usize,
    bind: impl Fn(Insert<'q>, &'q T) -> Insert<'q>,
) -> Result<()> {
    let columns = into.matches(',').count() + 1;
    for chunk in rows.chunks(batch) {
        let sql = format!("INSERT INTO {into} VALUES {}", backend.values_rows(chunk.len(), columns));
        chunk.iter().fold(sqlx::query(sqlx::AssertSqlSafe(sql)), &bind).execute(&mut *conn).await?;
    }
    Ok(())
}

/// The same persons written straight into a fresh registry's own tables (households, persons,
/// category periods, with their keys, unique indexes and foreign keys), `batch` rows a
/// statement, one transaction: the import's writes without reading, checking or sealing. Stored
/// values have the lengths the import's would (a sealed value is its text plus 28 bytes).
async fn registry_insert(
    pool: &sqlx::AnyPool,
    backend: doudi_runtime::Backend,
    persons: u32,
    batch: usize,
) -> Result<Duration> {
    const NOW: &str = "2026-12-04T00:00:00.000000Z";
    let sealed = |n: u32, len: usize| -> Vec<u8> { n.to_le_bytes().iter().copied().cycle().take(len).collect() };
    let hashes: Vec<Vec<u8>> = (0..persons)
        .map(|n| hex::decode(doudi_runtime::crypto::sha256_hex(&n.to_le_bytes())))
        .collect::<Result<_, _>>()?;
    let source = format!("import:{}", "0".repeat(64));
    let households: Vec<u32> = (0..persons.div_ceil(4)).collect();
    let people: Vec<u32> = (0..persons).collect();
    let started = Instant::now();
    let mut tx = pool.begin().await?;
    let into = "households (id, household_no, township, village, bank_account_enc, created_at, updated_at)";
    insert_rows(&mut tx, backend, into, &households, batch, |q, h| {
        q.bind(i64::from(*h) + 1)
            .bind(format!("B{h:06}"))
            .bind(format!("镇{}", h % 12))
            .bind(format!("村{}", h % 97))
            .bind(sealed(*h, 16 + 28))
            .bind(NOW)
            .bind(NOW)
    })
    .await?;
    let into = "persons (id, household_id, id_hash, national_id_enc, national_id_masked, name_enc, relation, birth_date, created_at, updated_at)";
    insert_rows(&mut tx, backend, into, &people, batch, |q, n| {
        q.bind(i64::from(*n) + 1)
            .bind(i64::from(n / 4) + 1)
            .bind(hashes[*n as usize].clone())
            .bind(sealed(*n, 18 + 28))
            .bind("360730********1234")
            .bind(sealed(*n, 12 + 28))
            .bind(if n % 4 == 0 { "HEAD" } else { "CHILD" })
            .bind("1950-01-01")
            .bind(NOW)
            .bind(NOW)
    })
    .await?;
    let into = "category_periods (person_id, category, effective_from, effective_to, reviewed_on, source, created_at, updated_at)";
    insert_rows(&mut tx, backend, into, &people, batch, |q, n| {
        q.bind(i64::from(*n) + 1)
            .bind("DIBAO_1")
            .bind("2015-01-01")
            .bind(Option::<String>::None)
            .bind("2026-12-04")
            .bind(source.clone())
            .bind(NOW)
            .bind(NOW)
    })
    .await?;
    tx.commit().await?;
    Ok(started.elapsed())
}

/// A fresh database: on the PostgreSQL server at `postgres` (created, dropped with it), else SQLite.
async fn fresh_db(postgres: &Option<String>) -> (Backend, TestDb) {
    match postgres {
        Some(url) => (Backend::Postgres, TestDb::postgres_at(url).await),
        None => (Backend::Sqlite, TestDb::new(Backend::Sqlite).await),
    }
}

pub struct EligibilityBench {
    pub postgres: Option<String>,
    pub persons: u32,
    pub concurrency: usize,
    pub connections: usize,
    pub max_connections: u32,
    pub warmup: f64,
    pub seconds: f64,
}

pub async fn run(bench: EligibilityBench) -> Result<()> {
    let EligibilityBench { postgres, persons, concurrency, connections, max_connections, warmup, seconds } = bench;
    let (backend, db) = fresh_db(&postgres).await;
    let mut config = Config::default();
    config.eligibility.database_url = Some(db.url.clone());
    config.eligibility.listen = "127.0.0.1:0".parse()?;
    config.eligibility.max_connections = max_connections;
    config.log.filter = "warn".into();
    let service = doudi_eligibility::open(&config, doudi_testkit::cipher()).await?;
    let backend_name = format!("{:?}", backend).to_lowercase();
    println!(
        "doudi-bench eligibility on {backend_name}: {persons} persons, concurrency {concurrency} over {connections} connections, {seconds}s measured after {warmup}s warm-up"
    );

    let csv = recipients_csv(persons);
    let started = Instant::now();
    let outcome = service.import_csv(&csv, "bench.csv", "bench", false).await.map_err(|e| anyhow::anyhow!("{e:?}"))?;
    let import_time = started.elapsed();
    anyhow::ensure!(
        outcome.summary.persons_created == persons as usize,
        "import created {} persons",
        outcome.summary.persons_created
    );
    // The ceiling is the best batch size of a plain insert, not an arbitrary one.
    let mut plain_time = Duration::MAX;
    for batch in [50, 200, 800] {
        let db = service.store().db();
        let time = plain_insert(db.writes(), db.backend(), &csv, batch).await.context("plain insert")?;
        println!("plain\t{backend_name}\tbatch={batch}\tper_s={:.0}", f64::from(persons) / time.as_secs_f64());
        plain_time = plain_time.min(time);
    }
    let import_rate = f64::from(persons) / import_time.as_secs_f64();
    let plain_rate = f64::from(persons) / plain_time.as_secs_f64();
    println!(
        "import\t{backend_name}\tpersons={persons}\timport_per_s={import_rate:.0}\tplain_insert_per_s={plain_rate:.0}\tratio={:.2}",
        import_rate / plain_rate
    );
    // The floor the registry's own schema sets, each batch size on a fresh database.
    let mut registry_time = Duration::MAX;
    for batch in [200, 800] {
        let (_, fresh) = fresh_db(&postgres).await;
        let mut fresh_config = config.clone();
        fresh_config.eligibility.database_url = Some(fresh.url.clone());
        let registry = doudi_eligibility::open(&fresh_config, doudi_testkit::cipher()).await?;
        let db = registry.store().db();
        let time = registry_insert(db.writes(), db.backend(), persons, batch).await.context("registry insert")?;
        println!("registry\t{backend_name}\tbatch={batch}\tper_s={:.0}", f64::from(persons) / time.as_secs_f64());
        registry_time = registry_time.min(time);
    }
    let registry_rate = f64::from(persons) / registry_time.as_secs_f64();
    println!(
        "import\t{backend_name}\tpersons={persons}\timport_per_s={import_rate:.0}\tregistry_insert_per_s={registry_rate:.0}\tratio_to_registry={:.2}\tregistry_to_plain={:.2}",
        import_rate / registry_rate,
        registry_rate / plain_rate
    );

    // The server on a runtime of its own, as if it were another process.
    let server_runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build()?;
    let running = {
        let (service, config) = (service.clone(), config.clone());
        server_runtime
            .spawn(async move {
                let listener = doudi_runtime::server::bind(config.eligibility.listen).await?;
                let identity = doudi_testkit::pki::suite().identity("eligibility");
                doudi_eligibility::serve(service, listener, &config, identity).await
            })
            .await??
    };
    // As the settlement service calls it: mutual TLS with its certificate.
    let settlement = doudi_testkit::pki::suite().identity("settlement");
    let mut channels = Vec::new();
    for _ in 0..connections {
        channels.push(doudi_testkit::pki::suite().channel(running.local_addr, Some(&settlement)).await);
    }
    let health = load(&channels, concurrency, warmup, seconds, |channel, _| async move {
        HealthClient::new(channel).check(HealthCheckRequest { service: String::new() }).await.is_ok()
    })
    .await;
    let lookup = move |channel, seq: u64| async move {
        // Every 16th lookup is of a person the registry does not know.
        let n = (seq.wrapping_mul(2_654_435_761) % u64::from(persons)) as u32;
        let id = if seq.is_multiple_of(16) { national_id(persons + n) } else { national_id(n) };
        let request = pb::GetCoverageRequest { national_id: id, date: "2016-03-10".into() };
        let answer = EligibilityClient::new(channel).get_coverage(request).await;
        answer.is_ok_and(|a| a.get_ref().category != pb::Category::Unspecified as i32)
    };
    let coverage = load(&channels, concurrency, warmup, seconds, lookup).await;
    // The same load while county staff correct one household's address a second.
    let until = Date::today_china().add_days(2);
    let county = doudi_eligibility::staff::rules::Role::County;
    let (_, token) = service.store().add_staff("基准 县民政局", county, None, until, "bench").await?;
    let staff = doudi_testkit::with_token(doudi_testkit::pki::suite().channel(running.local_addr, None).await, &token);
    let (stop, mut stopped) = tokio::sync::watch::channel(false);
    let writer = tokio::spawn(async move {
        let mut client = pb::dibao_procedure_client::DibaoProcedureClient::new(staff);
        let mut written = 0u32;
        while !*stopped.borrow() {
            let request = pb::CorrectHouseholdRequest {
                household_no: format!("B{:06}", written % (persons / 4).max(1)),
                address: format!("基准路 {written} 号"),
                effective_on: Date::today_china().to_string(),
                note: "bench".into(),
                ..Default::default()
            };
            if client.correct_household(request).await.is_ok() {
                written += 1;
            }
            tokio::select! {
                _ = tokio::time::sleep(Duration::from_secs(1)) => {}
                _ = stopped.changed() => {}
            }
        }
        written
    });
    let busy = load(&channels, concurrency, warmup, seconds, lookup).await;
    let _ = stop.send(true);
    let written = writer.await?;
    for (name, r) in [("health", &health), ("coverage", &coverage), ("coverage_with_writes", &busy)] {
        println!(
            "grpc\t{backend_name}\t{name}\tc={concurrency}\trps={:.0}\tp50_us={:.0}\tp99_us={:.0}\terrors={}",
            r.rps, r.p50_us, r.p99_us, r.errors
        );
    }
    println!("coverage/health throughput ratio on {backend_name}: {:.2}", coverage.rps / health.rps);
    println!(
        "coverage_with_writes/health throughput ratio on {backend_name}: {:.2} ({written} household corrections, one a second)",
        busy.rps / health.rps
    );
    server_runtime.spawn(running.shutdown()).await?;
    server_runtime.shutdown_background();
    service.store().db().close().await;
    drop(db);
    Ok(())
}
