//! End-to-end payments: `doudi up` with the payment service, the payroll and budget commands,
//! a payroll run killed with SIGKILL midway and run again, and the suite killed while the
//! settlement outbox is being relayed, then restarted: nothing lost, nothing paid twice.

use super::{ANY_PORTS, DOUDI, Suite, doudi, text, write_csv};
use doudi_proto::hospital::v1::hospital_settlement_client::HospitalSettlementClient;
use doudi_proto::settlement::v1 as pb;
use doudi_testkit::{Backend, TestDb};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};
use tonic::transport::Channel;

const HOUSEHOLDS: u32 = 20_000;

async fn payment_db(url: &str) -> doudi_runtime::Db {
    doudi_runtime::Db::connect(url, 1).await.expect("open the payment database")
}

async fn one(db: &doudi_runtime::Db, sql: &'static str) -> i64 {
    let row = sqlx::query(sql).fetch_one(db.reads()).await.expect(sql);
    sqlx::Row::try_get::<i64, _>(&row, 0).unwrap_or(0)
}

/// Whether another connection is inside a write transaction on the payment database: SQLite's
/// write lock is taken (an immediate transaction cannot begin), or a PostgreSQL backend holds a
/// transaction id (it has written).
async fn writing(backend: Backend, url: &str) -> bool {
    use sqlx::ConnectOptions;
    match backend {
        Backend::Sqlite => {
            let options: sqlx::sqlite::SqliteConnectOptions = url.parse().expect("sqlite url");
            let mut conn = options.busy_timeout(Duration::ZERO).connect().await.expect("connect");
            let begun = sqlx::query("BEGIN IMMEDIATE").execute(&mut conn).await.is_ok();
            if begun {
                sqlx::query("ROLLBACK").execute(&mut conn).await.expect("rollback");
            }
            !begun
        }
        Backend::Postgres => {
            let mut conn: sqlx::PgConnection =
                url.parse::<sqlx::postgres::PgConnectOptions>().expect("url").connect().await.expect("connect");
            let row = sqlx::query(
                "SELECT COUNT(*) FROM pg_stat_activity WHERE datname = current_database() \
                 AND backend_xid IS NOT NULL AND pid <> pg_backend_pid()",
            )
            .fetch_one(&mut conn)
            .await
            .expect("activity");
            sqlx::Row::try_get::<i64, _>(&row, 0).expect("count") > 0
        }
    }
}

fn id_of(n: u32) -> String {
    let birth = doudi_core::Date::from_ymd(1950, 1, 1).expect("date").add_days(i64::from(n % 20_000));
    doudi_core::national_id::synthesize("360731", birth, n / 20_000).expose().to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_payroll_or_relay_killed_midway_loses_nothing_and_pays_nothing_twice_on_sqlite() {
    killed_midway(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_payroll_or_relay_killed_midway_loses_nothing_and_pays_nothing_twice_on_postgresql() {
    killed_midway(Backend::Postgres).await;
}

async fn killed_midway(backend: Backend) {
    let dir = tempfile::tempdir().expect("tempdir");
    let data_path = dir.path().join("data");
    let data = data_path.to_str().expect("utf-8").to_owned();
    // Every service's database: files in the data directory, or fresh PostgreSQL databases.
    let mut dbs = Vec::new();
    let mut base: Vec<(String, String)> = ANY_PORTS.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
    base.push(("DOUDI__PAYMENT__FUNDS__DIBAO__ACCOUNT".into(), "9558800000000001".into()));
    base.push(("DOUDI__PAYMENT__FUNDS__DIBAO__BANK_CODE".into(), "402".into()));
    if backend == Backend::Postgres {
        for service in ["ELIGIBILITY", "SETTLEMENT", "GATEWAY", "PAYMENT"] {
            let db = TestDb::new(Backend::Postgres).await;
            base.push((format!("DOUDI__{service}__DATABASE_URL"), db.url.clone()));
            dbs.push(db);
        }
    }
    let payment_url = dbs.last().map_or_else(|| format!("sqlite://{data}/payment.db"), |db| db.url.clone());
    let base: Vec<(&str, &str)> = base.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    std::fs::create_dir_all(&data).expect("data dir");
    doudi_runtime::crypto::MasterKey::load_or_create(&data_path.join("master.key")).expect("key");
    let rows: Vec<String> = (0..HOUSEHOLDS)
        .map(|n| {
            let id = id_of(n);
            let birth = doudi_testkit::birth_of(&id);
            format!("P{n:05},城关镇,东村,{id},某{n},HEAD,{birth},DIBAO_1,2015-01-01,,62284800{n:08}")
        })
        .collect();
    let file = write_csv(dir.path(), "roll.csv", &rows);
    let with_dir = |args: &[&str]| {
        let mut all = args.to_vec();
        all.extend(["--data-dir", &data]);
        doudi(&all, &base)
    };
    for args in [
        vec!["registry", "import", file.as_str()],
        vec!["budget", "set", "--fund", "DIBAO", "--year", "2016", "--fen", "100000000000"],
        vec!["budget", "set", "--fund", "MEDICAL_ASSISTANCE", "--year", "2026", "--fen", "100000000000"],
    ] {
        let out = with_dir(&args);
        assert!(out.status.success(), "{args:?}: {}", text(&out.stderr));
    }
    let out = with_dir(&[
        "hospital",
        "add",
        "--code",
        "H1",
        "--name",
        "县医院",
        "--level",
        "COUNTY",
        "--account",
        "6228480000001111",
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let key = text(&out.stdout).split_whitespace().last().expect("key").to_owned();

    let up_args = ["up", "--no-demo", "--data-dir", data.as_str()];
    let mut suite = Suite::start(&up_args, &base, "press Ctrl-C");
    let eligibility_url = format!("https://{}", suite.address_of("eligibility"));
    let mut env: Vec<(&str, &str)> = base.clone();
    env.push(("DOUDI__UPSTREAM__ELIGIBILITY_URL", &eligibility_url));

    // The payroll, killed once some chunks are committed and before all are.
    let mut run = Command::new(DOUDI)
        .args(["payroll", "run", "--month", "2016-03", "--data-dir", &data])
        .envs(env.iter().copied())
        .env("DOUDI__LOG__FILTER", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("payroll starts");
    let db = payment_db(&payment_url).await;
    let started = Instant::now();
    let at_kill = loop {
        assert!(run.try_wait().expect("wait").is_none(), "the payroll finished before it could be interrupted");
        let made = one(&db, "SELECT COUNT(*) FROM instructions").await;
        if made > 0 {
            break made;
        }
        assert!(started.elapsed() < Duration::from_secs(120), "the payroll never wrote");
        std::thread::sleep(Duration::from_millis(2));
    };
    run.kill().expect("kill -9 the payroll");
    let _ = run.wait();
    let after_kill = one(&db, "SELECT COUNT(*) FROM instructions").await;
    assert!(after_kill < i64::from(HOUSEHOLDS), "killed midway: {at_kill} then {after_kill} of {HOUSEHOLDS}");
    assert_eq!(after_kill % 1_000, 0, "whole chunks only: {after_kill}");

    let out = doudi(&["payroll", "run", "--month", "2016-03", "--data-dir", &data], &env);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let counts = (
        one(&db, "SELECT COUNT(*) FROM instructions").await,
        one(&db, "SELECT COUNT(DISTINCT household_no) FROM instructions").await,
        one(&db, "SELECT CAST(SUM(amount_fen) AS BIGINT) FROM instructions").await,
    );
    assert_eq!(counts, (i64::from(HOUSEHOLDS), i64::from(HOUSEHOLDS), i64::from(HOUSEHOLDS) * 27_500));
    let out = doudi(&["payroll", "approve", "--month", "2016-03", "--data-dir", &data], &env);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains(&format!("{HOUSEHOLDS} instruction(s) approved")), "{}", text(&out.stdout));
    let out = doudi(&["payroll", "explain", "--household", "P00007", "--month", "2016-03", "--data-dir", &data], &env);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let explained: serde_json::Value = serde_json::from_slice(&out.stdout).expect("explain prints JSON");
    assert_eq!(explained["payments"][0]["amountFen"], 27_500);

    // The bank export, killed while its file is written and before it is in place.
    let bank_dir = tempfile::tempdir().expect("tempdir");
    let batch_file = bank_dir.path().join("batch.xml");
    let partial_file = bank_dir.path().join("batch.xml.partial");
    let batch_arg = batch_file.to_str().expect("utf-8").to_owned();
    let mut export = Command::new(DOUDI)
        .args(["bank", "export", "--out", &batch_arg, "--data-dir", &data])
        .envs(env.iter().copied())
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("export starts");
    let started = Instant::now();
    while !partial_file.exists() {
        assert!(export.try_wait().expect("wait").is_none(), "the export finished before it could be interrupted");
        assert!(started.elapsed() < Duration::from_secs(60), "the export never wrote its file");
        std::thread::sleep(Duration::from_micros(200));
    }
    export.kill().expect("kill -9 the export");
    let _ = export.wait();
    assert!(!batch_file.exists(), "killed before the file was moved into place");
    let batches_at_kill = one(&db, "SELECT COUNT(*) FROM batches").await;
    let sent_at_kill = one(&db, "SELECT COUNT(*) FROM instructions WHERE state = 'SENT'").await;
    assert!(
        (batches_at_kill, sent_at_kill) == (0, 0) || (batches_at_kill, sent_at_kill) == (1, i64::from(HOUSEHOLDS)),
        "all or nothing: {batches_at_kill} batches, {sent_at_kill} sent"
    );
    // Run again: a batch that committed is written again (`--batch`); one that did not is made now.
    let args: Vec<&str> = if batches_at_kill == 1 {
        vec!["bank", "export", "--out", &batch_arg, "--batch", "1", "--data-dir", &data]
    } else {
        vec!["bank", "export", "--out", &batch_arg, "--data-dir", &data]
    };
    let out = doudi(&args, &env);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let out = doudi(&["bank", "export", "--out", &batch_arg, "--data-dir", &data], &env);
    assert!(text(&out.stdout).contains("nothing to send"), "{}", text(&out.stdout));
    let sent = (
        one(&db, "SELECT COUNT(*) FROM batches").await,
        one(&db, "SELECT COUNT(*) FROM instructions WHERE state = 'SENT' AND batch_id = 1").await,
        one(&db, "SELECT COUNT(*) FROM instruction_events WHERE to_state = 'SENT'").await,
    );
    assert_eq!(sent, (1, i64::from(HOUSEHOLDS), i64::from(HOUSEHOLDS)), "each instruction sent once");
    let xml = std::fs::read_to_string(&batch_file).expect("the batch file");
    assert!(xml.contains(&format!("<NbOfTxs>{HOUSEHOLDS}</NbOfTxs>")));
    eprintln!("export killed with {batches_at_kill} batch committed");

    // The bank's status report (every tenth rejected), imported and killed partway.
    let batch_ref = {
        let row = sqlx::query("SELECT batch_ref FROM batches WHERE id = 1").fetch_one(db.reads()).await.expect("batch");
        sqlx::Row::try_get::<String, _>(&row, 0).expect("batch_ref")
    };
    let sent_rows = sqlx::query("SELECT id, amount_fen FROM instructions WHERE batch_id = 1 ORDER BY id")
        .fetch_all(db.reads())
        .await
        .expect("sent");
    let statuses: Vec<doudi_testkit::bank::Status<'_>> = sent_rows
        .iter()
        .enumerate()
        .map(|(n, row)| {
            let id: i64 = sqlx::Row::try_get(row, "id").expect("id");
            let fen: i64 = sqlx::Row::try_get(row, "amount_fen").expect("amount");
            if n % 10 == 0 { (id, "RJCT", "AC04", fen) } else { (id, "ACSC", "", fen) }
        })
        .collect();
    let report = doudi_testkit::bank::pain002("STS-1", &batch_ref, None, &statuses);
    let report_file = bank_dir.path().join("pain002.xml");
    std::fs::write(&report_file, report).expect("report");
    let report_arg = report_file.to_str().expect("utf-8").to_owned();
    let import_args = ["bank", "import", report_arg.as_str(), "--data-dir", data.as_str()];
    let mut import =
        Command::new(DOUDI).args(import_args).envs(env.iter().copied()).stdout(Stdio::null()).spawn().expect("import");
    // Killed once its transaction has begun writing (it holds the write lock), before it commits.
    let started = Instant::now();
    while !writing(backend, &payment_url).await {
        assert!(import.try_wait().expect("wait").is_none(), "the import finished before it could be interrupted");
        assert!(started.elapsed() < Duration::from_secs(60), "the import never began writing");
        std::thread::sleep(Duration::from_micros(500));
    }
    let finished_before_kill = import.try_wait().expect("wait").is_some();
    import.kill().expect("kill -9 the import");
    let _ = import.wait();
    let states = || async {
        (
            one(&db, "SELECT COUNT(*) FROM bank_files").await,
            one(&db, "SELECT COUNT(*) FROM instructions WHERE state = 'PAID'").await,
            one(&db, "SELECT COUNT(*) FROM instructions WHERE state = 'FAILED'").await,
        )
    };
    let (paid, failed) = (i64::from(HOUSEHOLDS) * 9 / 10, i64::from(HOUSEHOLDS) / 10);
    let at_kill = states().await;
    assert!(at_kill == (0, 0, 0) || at_kill == (1, paid, failed), "all or nothing: {at_kill:?}");
    eprintln!("import killed with {at_kill:?} (finished before the kill: {finished_before_kill})");
    let out = doudi(&import_args, &env);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(states().await, (1, paid, failed), "every status once");
    let out = doudi(&import_args, &env);
    assert!(text(&out.stdout).contains("nothing changed"), "{}", text(&out.stdout));
    let out = doudi(&["check", "--data-dir", &data], &env);
    assert!(out.status.success(), "the ledger balances: {}{}", text(&out.stdout), text(&out.stderr));
    let out = doudi(&["bank", "reconcile", "--batch", "1", "--data-dir", &data], &env);
    assert!(text(&out.stdout).lines().next().unwrap_or_default().ends_with("CONFIRMED"), "{}", text(&out.stdout));

    // Settlements while the relay runs; the suite is killed with some still in its outbox.
    let gateway = format!("http://{}", suite.address_of("gateway"));
    let channel = Channel::from_shared(gateway).expect("uri").connect().await.expect("connect");
    let mut client = HospitalSettlementClient::new(channel);
    let mut assistance = 0;
    const BILLS: u32 = 60;
    for n in 0..BILLS {
        let mut request = tonic::Request::new(pb::Bill {
            bill_no: format!("B{n}"),
            national_id: id_of(n),
            visit_type: pb::VisitType::Inpatient as i32,
            admitted_on: "2016-05-01".into(),
            discharged_on: "2016-05-07".into(),
            total_fen: 800_000,
            in_policy_fen: 700_000,
        });
        request.metadata_mut().insert("authorization", format!("Bearer {key}").parse().expect("metadata"));
        assistance += client.settle(request).await.expect("settle").get_ref().medical_assistance_fen;
    }
    suite.child.kill().expect("kill -9 the suite");
    let _ = suite.child.wait();
    let relayed_before = one(&db, "SELECT COUNT(*) FROM hospital_payables").await;
    eprintln!("relayed before the kill: {relayed_before} of {BILLS}; payroll instructions at the kill: {after_kill}");
    drop(suite);

    let _suite = Suite::start(&up_args, &base, "press Ctrl-C");
    let started = Instant::now();
    loop {
        let out = doudi(&["status", "--data-dir", &data], &base);
        assert!(out.status.success(), "{}", text(&out.stderr));
        if text(&out.stdout).contains("settlement outbox: 0 waiting") {
            break;
        }
        assert!(started.elapsed() < Duration::from_secs(60), "the outbox never drained: {}", text(&out.stdout));
        std::thread::sleep(Duration::from_millis(100));
    }
    let relayed = (
        one(&db, "SELECT COUNT(*) FROM hospital_payables").await,
        one(&db, "SELECT CAST(SUM(medical_assistance_fen) AS BIGINT) FROM hospital_payables").await,
        one(&db, "SELECT COUNT(*) FROM received_messages").await,
    );
    assert_eq!(relayed, (i64::from(BILLS), assistance, i64::from(BILLS)), "{relayed_before} relayed before the kill");
    db.close().await;
    let out = doudi(&["check", "--data-dir", &data], &base);
    assert!(out.status.success(), "{}{}", text(&out.stdout), text(&out.stderr));
    assert!(text(&out.stdout).contains("payment: ok"), "{}", text(&out.stdout));
}
