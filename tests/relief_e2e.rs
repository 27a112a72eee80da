//! End-to-end relief: `doudi serve relief` grants an emergency payment while the payment service
//! is down (the grant waits in relief's outbox), is killed with SIGKILL, and comes back with the
//! payment service up: the grant is paid once, and a second kill and restart pay nothing again
//! (SQLite and PostgreSQL).

use super::{ANY_PORTS, DOUDI, Suite, text};
use doudi_proto::relief::v1 as pb;
use doudi_proto::relief::v1::relief_client::ReliefClient;
use doudi_testkit::{Backend, TestDb};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};
use tonic::transport::Channel;

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").expect("bind").local_addr().expect("addr").port()
}

async fn one(url: &str, sql: &'static str) -> i64 {
    let db = doudi_runtime::Db::connect(url, 1).await.expect("open the database");
    let row = sqlx::query(sql).fetch_one(db.reads()).await.expect(sql);
    let n = sqlx::Row::try_get::<i64, _>(&row, 0).unwrap_or(0);
    db.close().await;
    n
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_grant_survives_a_killed_relief_process_and_is_paid_once_on_sqlite() {
    killed_after_a_grant(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_grant_survives_a_killed_relief_process_and_is_paid_once_on_postgresql() {
    killed_after_a_grant(Backend::Postgres).await;
}

async fn killed_after_a_grant(backend: Backend) {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("data");
    let data = data.to_str().expect("utf-8").to_owned();
    let key = "c3".repeat(32);
    let mut env: Vec<(String, String)> = ANY_PORTS.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
    env.push(("DOUDI__SECURITY__MASTER_KEY".into(), key));
    let mut dbs = Vec::new();
    if backend == Backend::Postgres {
        for service in ["ELIGIBILITY", "SETTLEMENT", "GATEWAY", "PAYMENT", "RELIEF"] {
            let db = TestDb::new(Backend::Postgres).await;
            env.push((format!("DOUDI__{service}__DATABASE_URL"), db.url.clone()));
            dbs.push(db);
        }
    }
    let url_of = |service: &str, n: usize| {
        dbs.get(n).map_or_else(|| format!("sqlite://{data}/{service}.db"), |db: &TestDb| db.url.clone())
    };
    let (payment_db, relief_db) = (url_of("payment", 3), url_of("relief", 4));
    let borrowed = |env: &[(String, String)]| -> Vec<(String, String)> { env.to_vec() };

    // The demo county (households, certificates, budgets) made once by `doudi up`, then stopped.
    let refs: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let mut up = Suite::start(&["up", "--data-dir", &data], &refs, "press Ctrl-C to stop");
    let token = up
        .stdout
        .iter()
        .find_map(|l| l.split("demo county staff token").nth(1)?.split(": ").nth(1).map(str::to_owned))
        .expect("the demo county's token");
    assert!(up.terminate(Duration::from_secs(30)).success());

    // Eligibility alone, and relief pointed at a payment port nobody listens on yet.
    let eligibility = Suite::start(&["serve", "eligibility", "--data-dir", &data], &refs, "grpc://");
    let payment_port = free_port();
    let mut relief_env = borrowed(&env);
    relief_env.push((
        "DOUDI__UPSTREAM__ELIGIBILITY_URL".into(),
        format!("https://{}", eligibility.address_of("eligibility")),
    ));
    relief_env.push(("DOUDI__UPSTREAM__PAYMENT_URL".into(), format!("https://127.0.0.1:{payment_port}")));
    let relief_port = free_port();
    relief_env.push(("DOUDI__RELIEF__LISTEN".into(), format!("127.0.0.1:{relief_port}")));
    let relief_refs: Vec<(&str, &str)> = relief_env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let mut relief = Suite::start(&["serve", "relief", "--data-dir", &data], &relief_refs, "grpc://");

    let ca = std::fs::read_to_string(Path::new(&data).join("tls/ca.crt")).expect("the CA certificate");
    let tls = tonic::transport::ClientTlsConfig::new().ca_certificate(tonic::transport::Certificate::from_pem(ca));
    let channel = Channel::from_shared(format!("https://127.0.0.1:{relief_port}"))
        .expect("uri")
        .tls_config(tls)
        .expect("tls")
        .connect()
        .await
        .expect("relief answers");
    let mut client = ReliefClient::new(doudi_testkit::with_token(channel, &token));
    let case = client
        .submit_case(pb::SubmitCaseRequest {
            kind: pb::CaseKind::Emergency as i32,
            household_no: "DEMO-0001".into(),
            facts: "房屋失火".into(),
            asked_fen: 50_000,
            occurred_on: doudi_core::Date::today_china().to_string(),
            ..Default::default()
        })
        .await
        .expect("submit")
        .into_inner();
    client
        .grant_emergency(pb::GrantEmergencyRequest { case_id: case.id, amount_fen: 50_000, note: "先救助".into() })
        .await
        .expect("an emergency grant");
    assert_eq!(one(&relief_db, "SELECT COUNT(*) FROM outbox_messages WHERE delivered_at IS NULL").await, 1);

    // Killed with the grant undelivered; back with the payment service up: paid, once.
    relief.child.kill().expect("kill -9 relief");
    let _ = relief.child.wait();
    let mut payment_env = borrowed(&env);
    payment_env.push(("DOUDI__PAYMENT__LISTEN".into(), format!("127.0.0.1:{payment_port}")));
    payment_env.push((
        "DOUDI__UPSTREAM__ELIGIBILITY_URL".into(),
        format!("https://{}", eligibility.address_of("eligibility")),
    ));
    let payment_refs: Vec<(&str, &str)> = payment_env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let _payment = Suite::start(&["serve", "payment", "--data-dir", &data], &payment_refs, "grpc://");
    let paid = "SELECT COUNT(*) FROM instructions WHERE source = 'relief'";
    for round in 0..2 {
        let mut relief = Suite::start(&["serve", "relief", "--data-dir", &data], &relief_refs, "grpc://");
        let started = Instant::now();
        while one(&relief_db, "SELECT COUNT(*) FROM outbox_messages WHERE delivered_at IS NULL").await > 0 {
            assert!(started.elapsed() < Duration::from_secs(20), "the grant was never delivered");
            std::thread::sleep(Duration::from_millis(50));
        }
        assert_eq!(one(&payment_db, paid).await, 1, "round {round}: paid once");
        relief.child.kill().expect("kill -9 relief");
        let _ = relief.child.wait();
    }
    let amount = one(&payment_db, "SELECT amount_fen FROM instructions WHERE source = 'relief'").await;
    assert_eq!(amount, 50_000);
    let out = Command::new(DOUDI)
        .args(["check", "--data-dir", &data])
        .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .output()
        .expect("check");
    assert!(out.status.success(), "{}{}", text(&out.stdout), text(&out.stderr));
}
