//! `doudi-bench payroll`: a month's payroll for N households (`doudi payroll run`, reading the
//! roll from a `doudi serve eligibility` process over mutual TLS), beside a plain batched INSERT
//! of N rows of the instructions' width into the same database in the same run; and the payroll
//! process's peak memory at each size (flat when the roll is streamed, not collected).

use crate::settlement::{free_port, run_command, start};
use anyhow::{Context, Result, ensure};
use doudi_runtime::Db;
use doudi_testkit::TestDb;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Households of two DIBAO_1 persons, the head with an account.
fn households_csv(households: u32) -> String {
    let mut text = doudi_eligibility::registry::import::HEADER.join(",");
    text.reserve(households as usize * 240);
    for h in 0..households {
        for member in 0..2 {
            let n = h * 2 + member;
            let id = crate::eligibility::national_id(n);
            let birth = format!("{}-{}-{}", &id[6..10], &id[10..12], &id[12..14]);
            let (relation, account) =
                if member == 0 { ("HEAD", format!("62284800{h:08}")) } else { ("SPOUSE", String::new()) };
            text.push_str(&format!(
                "\nP{h:06},镇{},村{},{id},姓名{n},{relation},{birth},DIBAO_1,2015-01-01,,{account}",
                h % 12,
                h % 97
            ));
        }
    }
    text.push('\n');
    text
}

/// N rows of 24 columns (the instructions' width, texts of their size) in batches, one transaction.
async fn plain_insert(db: &Db, rows: u32, batch: usize) -> Result<Duration> {
    let pool = db.writes();
    sqlx::query("DROP TABLE IF EXISTS bench_plain").execute(pool).await?;
    let columns: Vec<String> = (0..24).map(|c| format!("c{c} TEXT")).collect();
    sqlx::query(sqlx::AssertSqlSafe(format!("CREATE TABLE bench_plain ({})", columns.join(", "))))
        .execute(pool)
        .await?;
    let started = Instant::now();
    let mut tx = pool.begin().await?;
    let all: Vec<u32> = (0..rows).collect();
    for chunk in all.chunks(batch) {
        let sql = format!("INSERT INTO bench_plain VALUES {}", db.backend().values_rows(chunk.len(), 24));
        let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
        for n in chunk {
            for c in 0..24 {
                query = query.bind(format!("2016-03:P{n:06}:DIBAO:2016-03:{c}"));
            }
        }
        query.execute(&mut *tx).await?;
    }
    tx.commit().await?;
    Ok(started.elapsed())
}

/// Runs `doudi ARGS`, sampling its resident memory; returns (elapsed, peak RSS KiB).
fn timed_with_peak_rss(doudi: &Path, args: &[&str], env: &[(String, String)]) -> Result<(Duration, u64)> {
    let started = Instant::now();
    let mut child = Command::new(doudi)
        .args(args)
        .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()?;
    let mut peak = 0;
    loop {
        // The kernel's own high-water mark, read while the process lives.
        if let Ok(status) = std::fs::read_to_string(format!("/proc/{}/status", child.id())) {
            let hwm = status
                .lines()
                .find_map(|l| l.strip_prefix("VmHWM:").and_then(|v| v.split_whitespace().next()?.parse().ok()));
            peak = peak.max(hwm.unwrap_or(0));
        }
        if let Some(status) = child.try_wait()? {
            ensure!(status.success(), "doudi {args:?} failed");
            return Ok((started.elapsed(), peak));
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

pub async fn run(postgres: Option<String>, sizes: Vec<u32>, doudi: Option<PathBuf>) -> Result<()> {
    let doudi = match doudi {
        Some(path) => path,
        None => std::env::current_exe()?.with_file_name("doudi"),
    };
    ensure!(doudi.exists(), "{} not found: build it first (cargo build --release -p doudi)", doudi.display());
    let backend = if postgres.is_some() { "postgres" } else { "sqlite" };
    println!("doudi-bench payroll on {backend}: sizes {sizes:?} households (two DIBAO_1 persons each)");
    for households in sizes {
        let dir = tempfile::tempdir()?;
        let data = dir.path().to_str().context("utf-8 path")?.to_owned();
        let mut key = [0u8; 32];
        getrandom::getrandom(&mut key).map_err(|e| anyhow::anyhow!("system randomness: {e}"))?;
        let mut env: Vec<(String, String)> = vec![
            ("DOUDI__DATA_DIR".into(), data.clone()),
            ("DOUDI__SECURITY__MASTER_KEY".into(), hex::encode(key)),
            ("DOUDI__LOG__FILTER".into(), "warn".into()),
            ("DOUDI__ELIGIBILITY__LISTEN".into(), format!("127.0.0.1:{}", free_port()?)),
            ("DOUDI__PAYMENT__FUNDS__DIBAO__ACCOUNT".into(), "9558800000000001".into()),
            ("DOUDI__PAYMENT__FUNDS__DIBAO__BANK_CODE".into(), "402".into()),
        ];
        let mut dbs = Vec::new();
        if let Some(url) = &postgres {
            for service in ["ELIGIBILITY", "PAYMENT"] {
                let db = TestDb::postgres_at(url).await;
                env.push((format!("DOUDI__{service}__DATABASE_URL"), db.url.clone()));
                dbs.push(db);
            }
        }
        let csv = dir.path().join("households.csv");
        std::fs::write(&csv, households_csv(households))?;
        run_command(&doudi, &["registry", "import", csv.to_str().context("utf-8")?], &env)?;
        run_command(&doudi, &["budget", "set", "--fund", "DIBAO", "--year", "2016", "--fen", "1000000000000"], &env)?;
        doudi_runtime::tls::mint::ensure_dev_certificates(&dir.path().join("tls"), &["eligibility", "payment"])?;
        let eligibility = start(&doudi, "eligibility", &["serve", "eligibility"], &env, "grpc://")?;
        let (run_time, peak_kib) = timed_with_peak_rss(&doudi, &["payroll", "run", "--month", "2016-03"], &env)?;
        // Approval posts each household's owed account set-based; timed beside, not in the ratio.
        let (approve_time, _) = timed_with_peak_rss(&doudi, &["payroll", "approve", "--month", "2016-03"], &env)?;
        // The bank file of them all, beside writing the same rows as plain CSV.
        let batch = dir.path().join("batch.xml");
        let batch_arg = batch.to_str().context("utf-8")?.to_owned();
        let (export_time, _) = timed_with_peak_rss(&doudi, &["bank", "export", "--out", &batch_arg], &env)?;
        let plain_csv = plain_csv_write(&dir.path().join("plain.csv"), households)?;

        let url = dbs.get(1).map_or_else(|| format!("sqlite://{data}/payment.db"), |db| db.url.clone());
        let db = Db::connect(&url, 2).await?;
        // The bank's status report on the whole batch (every twentieth rejected), imported.
        let report = dir.path().join("pain002.xml");
        std::fs::write(&report, status_report(&db).await?)?;
        let report_arg = report.to_str().context("utf-8")?.to_owned();
        let (import_time, import_kib) = timed_with_peak_rss(&doudi, &["bank", "import", &report_arg], &env)?;
        let paid: i64 = sqlx::Row::try_get(
            &sqlx::query("SELECT COUNT(*) FROM instructions WHERE state IN ('PAID', 'FAILED')")
                .fetch_one(db.reads())
                .await?,
            0,
        )?;
        ensure!(paid == i64::from(households), "the import answered {paid} of {households} instructions");
        let made: i64 =
            sqlx::Row::try_get(&sqlx::query("SELECT COUNT(*) FROM instructions").fetch_one(db.reads()).await?, 0)?;
        ensure!(made == i64::from(households), "the payroll made {made} instructions for {households} households");
        // The plain INSERT's best of three batch sizes, so the ratio is against its best.
        let mut plain = Duration::MAX;
        for batch in [250, 375, 1_000] {
            plain = plain.min(plain_insert(&db, households, batch).await?);
        }
        sqlx::query("DROP TABLE bench_plain").execute(db.writes()).await?;
        db.close().await;
        drop(eligibility);
        let per_s = |t: Duration| f64::from(households) / t.as_secs_f64();
        println!(
            "payroll\t{backend}\thouseholds={households}\tinstructions={made}\trun_ms={:.0}\tplain_insert_ms={:.0}\tpayroll_rows_per_s={:.0}\tinsert_rows_per_s={:.0}\tratio={:.2}\tpeak_rss_mib={:.1}\tapprove_ms={:.0}",
            run_time.as_secs_f64() * 1000.0,
            plain.as_secs_f64() * 1000.0,
            per_s(run_time),
            per_s(plain),
            plain.as_secs_f64() / run_time.as_secs_f64(),
            peak_kib as f64 / 1024.0,
            approve_time.as_secs_f64() * 1000.0
        );
        println!(
            "export\t{backend}\tinstructions={households}\tpain001_ms={:.0}\tplain_csv_ms={:.0}\texport_per_s={:.0}\tcsv_rows_per_s={:.0}\tfile_mib={:.1}",
            export_time.as_secs_f64() * 1000.0,
            plain_csv.as_secs_f64() * 1000.0,
            per_s(export_time),
            per_s(plain_csv),
            std::fs::metadata(&batch)?.len() as f64 / (1024.0 * 1024.0)
        );
        println!(
            "import\t{backend}\tinstructions={households}\tpain002_ms={:.0}\tplain_csv_ms={:.0}\timport_per_s={:.0}\tcsv_rows_per_s={:.0}\tpeak_rss_mib={:.1}\tfile_mib={:.1}",
            import_time.as_secs_f64() * 1000.0,
            plain_csv.as_secs_f64() * 1000.0,
            per_s(import_time),
            per_s(plain_csv),
            import_kib as f64 / 1024.0,
            std::fs::metadata(&report)?.len() as f64 / (1024.0 * 1024.0)
        );
        drop(dbs);
    }
    Ok(())
}

/// A pain.002 answering batch 1: every twentieth transfer rejected (AC04), the others settled.
async fn status_report(db: &Db) -> Result<String> {
    let batch_ref: String =
        sqlx::Row::try_get(&sqlx::query("SELECT batch_ref FROM batches WHERE id = 1").fetch_one(db.reads()).await?, 0)?;
    let rows = sqlx::query("SELECT id, amount_fen FROM instructions WHERE batch_id = 1 ORDER BY id")
        .fetch_all(db.reads())
        .await?;
    let mut statuses = Vec::with_capacity(rows.len());
    for (n, row) in rows.iter().enumerate() {
        let (id, fen): (i64, i64) = (sqlx::Row::try_get(row, "id")?, sqlx::Row::try_get(row, "amount_fen")?);
        statuses.push(if n % 20 == 0 { (id, "RJCT", "AC04", fen) } else { (id, "ACSC", "", fen) });
    }
    Ok(doudi_testkit::bank::pain002("STS-BENCH", &batch_ref, None, &statuses))
}

/// N rows of what a transfer carries (id, name, account, amount, purpose), as CSV to a file.
fn plain_csv_write(path: &Path, rows: u32) -> Result<Duration> {
    use std::io::Write;
    let started = Instant::now();
    let mut out = std::io::BufWriter::new(std::fs::File::create(path)?);
    writeln!(out, "instruction_id,payee_name,account,amount_yuan,purpose")?;
    for n in 0..rows {
        writeln!(out, "{n},P{n:06},62284800{n:08},550.00,DIBAO 2016-03")?;
    }
    out.into_inner().map_err(|e| anyhow::anyhow!("{e}"))?.sync_all()?;
    Ok(started.elapsed())
}
