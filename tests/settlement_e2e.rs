//! End-to-end settlement: the three services as separate `doudi serve` processes, the hospital
//! admin commands, and a settlement process killed with SIGKILL under load.

use super::{Suite, doudi, text, write_csv};
use doudi_proto::hospital::v1 as hpb;
use doudi_proto::hospital::v1::hospital_settlement_client::HospitalSettlementClient;
use doudi_proto::settlement::v1 as pb;
use doudi_testkit::{Backend, TestDb};
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tonic::transport::Channel;

fn person(n: u32) -> String {
    doudi_testkit::person_id(9_000 + n)
}

fn authed<T>(key: &str, message: T) -> tonic::Request<T> {
    let mut request = tonic::Request::new(message);
    request.metadata_mut().insert("authorization", format!("Bearer {key}").parse().expect("metadata"));
    request
}

fn bill(bill_no: &str, n: u32, in_policy: i64) -> pb::Bill {
    pb::Bill {
        bill_no: bill_no.into(),
        national_id: person(n),
        visit_type: pb::VisitType::Inpatient as i32,
        admitted_on: "2016-05-01".into(),
        discharged_on: "2016-05-07".into(),
        total_fen: in_policy + 10_000,
        in_policy_fen: in_policy,
    }
}

/// A port nobody listens on now (the settlement service must come back on the same one).
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").expect("bind").local_addr().expect("addr").port()
}

/// The environment that points the three processes at their databases and at each other.
struct Deployment {
    env: Vec<(String, String)>,
    /// Each service's `security.tls` (eligibility, settlement, gateway), minted by `doudi tls issue`.
    tls: Vec<Vec<(String, String)>>,
    _dir: tempfile::TempDir,
    _dbs: Vec<TestDb>,
    data: String,
}

impl Deployment {
    async fn new(backend: Backend) -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let data = dir.path().join("data").to_str().expect("utf-8").to_owned();
        let settlement_port = free_port();
        let mut env = vec![
            ("DOUDI__SECURITY__MASTER_KEY".to_owned(), "5a".repeat(32)),
            ("DOUDI__ELIGIBILITY__LISTEN".to_owned(), "127.0.0.1:0".to_owned()),
            ("DOUDI__SETTLEMENT__LISTEN".to_owned(), format!("127.0.0.1:{settlement_port}")),
            ("DOUDI__GATEWAY__LISTEN".to_owned(), "127.0.0.1:0".to_owned()),
            ("DOUDI__HTTP__LISTEN".to_owned(), "127.0.0.1:0".to_owned()),
            ("DOUDI__PAYMENT__LISTEN".to_owned(), "127.0.0.1:0".to_owned()),
            ("DOUDI__RELIEF__LISTEN".to_owned(), "127.0.0.1:0".to_owned()),
            ("DOUDI__HOSPITAL_ACCESS__REQUESTS_PER_SECOND".to_owned(), "100000".to_owned()),
            ("DOUDI__HOSPITAL_ACCESS__BURST".to_owned(), "100000".to_owned()),
        ];
        let mut dbs = Vec::new();
        if backend == Backend::Postgres {
            for service in ["ELIGIBILITY", "SETTLEMENT", "GATEWAY"] {
                let db = TestDb::new(Backend::Postgres).await;
                env.push((format!("DOUDI__{service}__DATABASE_URL"), db.url.clone()));
                dbs.push(db);
            }
        }
        let tls = super::issue_certificates(dir.path(), &["eligibility", "settlement", "gateway"]);
        Self { env, tls, _dir: dir, _dbs: dbs, data }
    }

    fn env(&self) -> Vec<(&str, &str)> {
        self.env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect()
    }

    /// The environment of service `index` (0 eligibility, 1 settlement, 2 gateway), plus `extra`.
    fn of(&self, index: usize, extra: &[(&str, &str)]) -> Vec<(String, String)> {
        let mut env = self.env.clone();
        env.extend(self.tls[index].iter().cloned());
        env.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
        env
    }

    fn run(&self, args: &[&str]) -> std::process::Output {
        let mut all = args.to_vec();
        all.extend(["--data-dir", &self.data]);
        doudi(&all, &self.env())
    }

    fn start(&self, args: &[&str], env: &[(String, String)], ready: &str) -> Suite {
        let mut all = args.to_vec();
        all.extend(["--data-dir", &self.data]);
        let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        Suite::start(&all, &env, ready)
    }
}

pub async fn settlement_killed_under_load_loses_nothing_answered(backend: Backend) {
    let deployment = Deployment::new(backend).await;
    let rows: Vec<String> = (0..8)
        .map(|n| {
            let id = person(n);
            let birth = doudi_testkit::birth_of(&id);
            format!("K{n},城关镇,东村,{id},某{n},HEAD,{birth},DIBAO_2,2015-01-01,,")
        })
        .collect();
    std::fs::create_dir_all(&deployment.data).expect("data dir");
    let file = write_csv(std::path::Path::new(&deployment.data), "recipients.csv", &rows);
    let out = deployment.run(&["registry", "import", &file]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let out = deployment.run(&["hospital", "add", "--code", "H1", "--name", "县医院", "--level", "COUNTY"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let key = text(&out.stdout).split_whitespace().last().expect("the key is the last word").to_owned();
    assert!(key.starts_with("dk_"), "{}", text(&out.stdout));

    let eligibility = deployment.start(&["serve", "eligibility"], &deployment.of(0, &[]), "grpc://");
    let eligibility_url = format!("https://{}", eligibility.address_of("eligibility"));
    let settlement_env = deployment.of(1, &[("DOUDI__UPSTREAM__ELIGIBILITY_URL", &eligibility_url)]);
    let mut settlement = deployment.start(&["serve", "settlement"], &settlement_env, "grpc://");
    let settlement_url = format!("https://{}", settlement.address_of("settlement"));
    let gateway_env = deployment.of(2, &[("DOUDI__UPSTREAM__SETTLEMENT_URL", &settlement_url)]);
    let gateway = deployment.start(&["serve", "gateway"], &gateway_env, "http://");
    let gateway_url = format!("http://{}", gateway.address_of("gateway"));
    let channel = Channel::from_shared(gateway_url).expect("uri").connect().await.expect("connect");

    // Eight clients settle distinct bills for eight persons; every answer SETTLED is remembered.
    let answered: Arc<Mutex<HashMap<String, pb::Settlement>>> = Arc::default();
    let stop = Arc::new(AtomicBool::new(false));
    let clients: Vec<_> = (0..8u32)
        .map(|c| {
            let (answered, stop, key) = (answered.clone(), stop.clone(), key.clone());
            let mut client = HospitalSettlementClient::new(channel.clone());
            tokio::spawn(async move {
                let mut i = 0u32;
                while !stop.load(Ordering::Relaxed) {
                    let bill = bill(&format!("K{c}-{i}"), (c + i) % 8, 50_000 + i64::from(i % 97) * 1_000);
                    if let Ok(settled) = client.settle(authed(&key, bill)).await {
                        answered
                            .lock()
                            .expect("answers")
                            .insert(settled.get_ref().bill_no.clone(), settled.into_inner());
                    } else {
                        tokio::time::sleep(Duration::from_millis(5)).await;
                    }
                    i += 1;
                }
            })
        })
        .collect();
    let started = Instant::now();
    while answered.lock().expect("answers").len() < 150 {
        assert!(started.elapsed() < Duration::from_secs(60), "the load never got going");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    settlement.child.kill().expect("kill -9 the settlement service");
    let _ = settlement.child.wait();
    tokio::time::sleep(Duration::from_millis(300)).await;
    let _settlement = deployment.start(&["serve", "settlement"], &settlement_env, "grpc://");
    let answered_before_restart = answered.lock().expect("answers").len();
    let resumed = Instant::now();
    while answered.lock().expect("answers").len() < answered_before_restart + 100 {
        assert!(resumed.elapsed() < Duration::from_secs(60), "settling never resumed after the restart");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    stop.store(true, Ordering::Relaxed);
    for client in clients {
        client.await.expect("client task");
    }

    // Every bill answered SETTLED is there, as answered.
    let mut client = HospitalSettlementClient::new(channel);
    let answered = answered.lock().expect("answers").clone();
    for (bill_no, settled) in &answered {
        let found = client
            .find_settlement(authed(&key, hpb::FindSettlementRequest { bill_no: bill_no.clone() }))
            .await
            .unwrap_or_else(|s| panic!("bill {bill_no} was answered SETTLED and is gone: {s:?}"))
            .into_inner();
        assert_eq!(&found, settled);
    }
    // And every accumulator equals the sum of the settled bills behind it.
    let out = deployment.run(&["check"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        text(&out.stdout).contains("every accumulator equals the sum of its settled bills"),
        "{}",
        text(&out.stdout)
    );
    drop(gateway);
    drop(eligibility);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn settlement_killed_under_load_on_sqlite() {
    settlement_killed_under_load_loses_nothing_answered(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn settlement_killed_under_load_on_postgresql() {
    settlement_killed_under_load_loses_nothing_answered(Backend::Postgres).await;
}

#[test]
fn hospital_keys_are_printed_once_rotated_and_revoked() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().to_str().expect("utf-8");
    let env = [("DOUDI__SECURITY__MASTER_KEY", "7b7b7b7b7b7b7b7b7b7b7b7b7b7b7b7b7b7b7b7b7b7b7b7b7b7b7b7b7b7b7b7b")];
    let add = |code: &str| {
        doudi(
            &[
                "hospital",
                "add",
                "--code",
                code,
                "--name",
                "乡卫生院",
                "--level",
                "TOWNSHIP",
                "--account",
                "6228480000000099",
                "--data-dir",
                data,
            ],
            &env,
        )
    };
    let out = add("T1");
    assert!(out.status.success(), "{}", text(&out.stderr));
    let first = text(&out.stdout).split_whitespace().last().expect("key").to_owned();
    assert!(first.starts_with("dk_") && first.len() == 67, "{first}");
    let out = add("T1");
    assert!(!out.status.success() && text(&out.stderr).contains("already exists"), "{}", text(&out.stderr));
    let out = doudi(&["hospital", "add", "--code", "T2", "--name", "x", "--level", "CITY", "--data-dir", data], &env);
    assert!(!out.status.success(), "an unknown level is refused");
    let out = doudi(&["hospital", "rotate-key", "--code", "T1", "--data-dir", data], &env);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let second = text(&out.stdout).split_whitespace().last().expect("key").to_owned();
    assert!(second.starts_with("dk_") && second != first);
    let out = doudi(&["hospital", "revoke", "--code", "T1", "--data-dir", data], &env);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let out = doudi(&["hospital", "revoke", "--code", "NOPE", "--data-dir", data], &env);
    assert!(!out.status.success() && text(&out.stderr).contains("not found"), "{}", text(&out.stderr));
    // Keys are stored only as hashes; each change is in the gateway's audit chain.
    let mut db = std::fs::read(dir.path().join("gateway.db")).expect("gateway db");
    db.extend(std::fs::read(dir.path().join("gateway.db-wal")).unwrap_or_default());
    assert!(
        !db.windows(first.len()).any(|w| w == first.as_bytes())
            && !db.windows(second.len()).any(|w| w == second.as_bytes())
    );
    let out = doudi(&["audit", "verify", "--data-dir", data], &env);
    assert!(text(&out.stdout).contains("gateway: audit chain intact (3 records)"), "{}", text(&out.stdout));
}
