//! End-to-end: the `doudi` binary as a county's operator uses it. `doudi up` on SQLite with the
//! demo county, admin commands against the running suite, `doudi serve eligibility` on
//! PostgreSQL, graceful stop, tamper detection, configuration errors.

use doudi_proto::eligibility::v1 as pb;
use doudi_proto::eligibility::v1::eligibility_client::EligibilityClient;
use doudi_testkit::{Backend, StaffChannel, TestDb};
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};
use tonic::transport::Channel;

mod payment_e2e;
mod procedure_e2e;
mod relief_e2e;
mod settlement_e2e;

const DOUDI: &str = env!("CARGO_BIN_EXE_doudi");

/// Every port of `doudi up` on an ephemeral port, so tests run side by side.
const ANY_PORTS: [(&str, &str); 6] = [
    ("DOUDI__ELIGIBILITY__LISTEN", "127.0.0.1:0"),
    ("DOUDI__SETTLEMENT__LISTEN", "127.0.0.1:0"),
    ("DOUDI__GATEWAY__LISTEN", "127.0.0.1:0"),
    ("DOUDI__HTTP__LISTEN", "127.0.0.1:0"),
    ("DOUDI__PAYMENT__LISTEN", "127.0.0.1:0"),
    ("DOUDI__RELIEF__LISTEN", "127.0.0.1:0"),
];

/// A running `doudi` process; killed if the test ends without stopping it.
struct Suite {
    child: Child,
    stdout: Vec<String>,
}

/// The demo's printed `curl` line, run as a user would paste it.
fn run_printed_curl(stdout: &[String]) -> serde_json::Value {
    let line = stdout.iter().find(|l| l.trim_start().starts_with("curl ")).expect("the demo prints a curl example");
    let out = Command::new("sh").args(["-c", line.trim()]).output().expect("curl runs");
    assert!(out.status.success(), "{}", text(&out.stderr));
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("curl printed no JSON ({e}): {}", text(&out.stdout)))
}

impl Drop for Suite {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Suite {
    /// Starts `doudi ARGS` and reads its stdout until `ready` appears.
    fn start(args: &[&str], env: &[(&str, &str)], ready: &str) -> Suite {
        let mut child = Command::new(DOUDI)
            .args(args)
            .envs(env.iter().copied())
            .env("DOUDI__LOG__FILTER", "warn")
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("doudi starts");
        let mut lines = BufReader::new(child.stdout.take().expect("stdout")).lines();
        let mut stdout = Vec::new();
        for line in lines.by_ref() {
            let line = line.expect("stdout line");
            let done = line.contains(ready);
            stdout.push(line);
            if done {
                return Suite { child, stdout };
            }
        }
        let _ = child.kill();
        let status = child.wait();
        panic!("doudi exited ({status:?}) before `{ready}`; it printed {stdout:#?}");
    }

    /// `HOST:PORT` of the service's gRPC port, as printed.
    fn address_of(&self, service: &str) -> String {
        self.stdout
            .iter()
            .find_map(|l| l.trim_start().strip_prefix(service).and_then(|rest| rest.trim().strip_prefix("grpc://")))
            .map(str::to_owned)
            .unwrap_or_else(|| panic!("no address for {service} in {:#?}", self.stdout))
    }

    /// SIGTERM, then the exit status within `limit`.
    fn terminate(&mut self, limit: Duration) -> std::process::ExitStatus {
        let pid = self.child.id().to_string();
        Command::new("kill").args(["-TERM", &pid]).status().expect("kill runs");
        let started = Instant::now();
        loop {
            if let Some(status) = self.child.try_wait().expect("wait") {
                return status;
            }
            assert!(started.elapsed() < limit, "doudi did not stop within {limit:?} of SIGTERM");
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

fn doudi(args: &[&str], env: &[(&str, &str)]) -> Output {
    Command::new(DOUDI)
        .args(args)
        .envs(env.iter().copied())
        .env("DOUDI__LOG__FILTER", "warn")
        .output()
        .expect("doudi runs")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// A staff tool's client: server-side TLS trusting `ca_file`, and a staff token on every call.
async fn client(addr: &str, ca_file: &Path, token: &str) -> EligibilityClient<StaffChannel> {
    let ca = std::fs::read_to_string(ca_file).expect("the CA certificate");
    let tls = tonic::transport::ClientTlsConfig::new().ca_certificate(tonic::transport::Certificate::from_pem(ca));
    let channel = Channel::from_shared(format!("https://{addr}"))
        .expect("uri")
        .tls_config(tls)
        .expect("tls")
        .connect()
        .await
        .expect("connects");
    EligibilityClient::new(doudi_testkit::with_token(channel, token))
}

/// The county staff token the demo prints.
fn printed_token(stdout: &[String]) -> String {
    stdout
        .iter()
        .find_map(|l| l.split("demo county staff token").nth(1).and_then(|rest| rest.split_whitespace().last()))
        .expect("the demo prints a staff token")
        .to_owned()
}

/// The token `doudi staff add` printed (its last word).
fn add_county_staff(config_args: &[&str], env: &[(&str, &str)]) -> String {
    let mut args = vec!["staff", "add", "--name", "测试员", "--role", "COUNTY"];
    args.extend(config_args);
    let out = doudi(&args, env);
    assert!(out.status.success(), "{}", text(&out.stderr));
    text(&out.stdout).split_whitespace().last().expect("token").to_owned()
}

/// An operator's CA (made here) and `doudi tls issue` minting each service's certificate from it
/// into `dir/tls`; returns each service's `security.tls` environment.
fn issue_certificates(dir: &Path, services: &[&str]) -> Vec<Vec<(String, String)>> {
    let ca = doudi_testkit::pki::TestPki::new("operator CA");
    let ca_cert = dir.join("operator-ca.crt");
    let ca_key = dir.join("operator-ca.key");
    std::fs::write(&ca_cert, ca.ca_pem()).expect("write CA");
    std::fs::write(&ca_key, ca.ca_key_pem()).expect("write CA key");
    let out_dir = dir.join("tls");
    let path = |p: &Path| p.to_str().expect("utf-8").to_owned();
    services
        .iter()
        .map(|service| {
            let out = doudi(
                &[
                    "tls",
                    "issue",
                    "--service",
                    service,
                    "--out",
                    &path(&out_dir),
                    "--ca-cert",
                    &path(&ca_cert),
                    "--ca-key",
                    &path(&ca_key),
                ],
                &[],
            );
            assert!(out.status.success(), "{}", text(&out.stderr));
            vec![
                ("DOUDI__SECURITY__TLS__CA_FILE".to_owned(), path(&out_dir.join("ca.crt"))),
                ("DOUDI__SECURITY__TLS__CERT_FILE".to_owned(), path(&out_dir.join(format!("{service}.crt")))),
                ("DOUDI__SECURITY__TLS__KEY_FILE".to_owned(), path(&out_dir.join(format!("{service}.key")))),
            ]
        })
        .collect()
}

async fn category(client: &mut EligibilityClient<StaffChannel>, id: &str, date: &str) -> pb::GetCoverageResponse {
    client
        .get_coverage(pb::GetCoverageRequest { national_id: id.into(), date: date.into() })
        .await
        .expect("coverage")
        .into_inner()
}

/// A valid ID for a test person (not one of the demo county's).
fn new_person() -> String {
    doudi_core::national_id::synthesize("360730", "1988-08-08".parse().expect("date"), 777).expose().to_owned()
}

fn write_csv(dir: &Path, name: &str, rows: &[String]) -> String {
    let text = doudi_testkit::csv(&doudi_eligibility::registry::import::HEADER, rows);
    let path = dir.join(name);
    std::fs::write(&path, text).expect("write csv");
    path.display().to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn up_serves_the_demo_county_and_admin_commands_act_on_the_running_suite() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("data");
    let data = data.to_str().expect("utf-8 path");
    let mut suite = Suite::start(&["up", "--data-dir", data], &ANY_PORTS, "press Ctrl-C to stop");
    assert!(suite.stdout.iter().any(|l| l.contains("DEMO DATA")), "{:#?}", suite.stdout);
    let demo_id = suite
        .stdout
        .iter()
        .find_map(|l| l.split("coverage ").nth(1).and_then(|rest| rest.split_whitespace().next()))
        .expect("the demo output names a person")
        .to_owned();
    let addr = suite.address_of("eligibility");
    let ca_file = Path::new(data).join("tls/ca.crt");
    assert!(ca_file.exists(), "a development CA is created");
    let demo_token = printed_token(&suite.stdout);
    let mut grpc = client(&addr, &ca_file, &demo_token).await;
    assert_eq!(category(&mut grpc, &demo_id, "2016-03-10").await.category(), pb::Category::Dibao2);
    // The probe Kubernetes runs on the TLS-only ports.
    let out =
        doudi(&["health", "--addr", &addr, "--service", "doudi.eligibility.v1.Eligibility", "--data-dir", data], &[]);
    assert!(out.status.success() && text(&out.stdout).contains("SERVING"), "{}", text(&out.stderr));
    let out = doudi(&["health", "--addr", &addr, "--service", "no.such.Service", "--data-dir", data], &[]);
    assert!(!out.status.success());
    assert!(Path::new(data).join("master.key").exists(), "a development key is created");

    // An import while the suite runs is answered by the running server at once.
    let person = new_person();
    let file = write_csv(
        dir.path(),
        "new.csv",
        &[format!("E2E-1,城关镇,北村,{person},周末,HEAD,1988-08-08,TEKUN,2016-01-01,,6228480000001234")],
    );
    let out = doudi(&["registry", "import", &file, "--data-dir", data], &[]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains("created 1 households, 1 persons, 1 periods"), "{}", text(&out.stdout));
    assert_eq!(category(&mut grpc, &person, "2016-02-01").await.category(), pb::Category::Tekun);

    let out = doudi(&["coverage", &person, "--on", "2016-02-01", "--data-dir", data], &[]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).expect("coverage prints JSON");
    assert_eq!(json["category"], "TEKUN");
    assert_eq!(json["householdNo"], "E2E-1");
    assert_eq!(json["categories"][0]["effectiveFrom"], "2016-01-01");

    // A bad file changes nothing and says which line and field.
    let bad = write_csv(
        dir.path(),
        "bad.csv",
        &[format!("E2E-2,城关镇,北村,{person}0,某人,HEAD,1988-08-08,TEKUN,2016-01-01,,")],
    );
    let out = doudi(&["registry", "import", &bad, "--data-dir", data], &[]);
    assert!(!out.status.success());
    assert!(text(&out.stderr).contains("line 2: national_id: "), "{}", text(&out.stderr));
    let out = doudi(&["coverage", &person, "--data-dir", data, "--on", "2016-13-01"], &[]);
    assert!(!out.status.success() && text(&out.stderr).contains("date"), "{}", text(&out.stderr));

    // The printed curl example settles policy.md's bill B1 through the gateway's HTTP/JSON.
    let settled = run_printed_curl(&suite.stdout);
    assert_eq!(settled["status"], "SETTLED", "{settled}");
    assert_eq!(
        (&settled["medicalAssistanceFen"], &settled["patientCopayFen"]),
        (&serde_json::json!("252875"), &serde_json::json!("308375"))
    );
    assert_eq!(run_printed_curl(&suite.stdout), settled, "the same bill again: the same settlement");

    // Premium subsidies for a year are recorded once per person.
    let out = doudi(&["premium-subsidy", "--year", "2016", "--data-dir", data], &[]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let first = text(&out.stdout);
    assert!(first.contains("policy ref-2016-01") && !first.contains("; 0 recorded now"), "{first}");
    let out = doudi(&["premium-subsidy", "--year", "2016", "--data-dir", data], &[]);
    assert!(text(&out.stdout).contains("; 0 recorded now (0.00 yuan)"), "{}", text(&out.stdout));

    let out = doudi(&["check", "--data-dir", data], &[]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains("7 households"), "{}", text(&out.stdout));
    assert!(text(&out.stdout).contains("settlement: ok (1 settlements"), "{}", text(&out.stdout));

    // A bank account ciphertext copied from one household to another: `doudi check` names the row.
    let db = doudi_runtime::Db::connect(&format!("sqlite://{data}/eligibility.db"), 1).await.expect("open");
    let accounts: Vec<(String, Vec<u8>)> = sqlx::query_as(
        "SELECT household_no, bank_account_enc FROM households WHERE bank_account_enc IS NOT NULL ORDER BY household_no",
    )
    .fetch_all(db.writes())
    .await
    .expect("accounts");
    let ((from, copied), (to, original)) = (accounts[0].clone(), accounts[1].clone());
    let set = |value: Vec<u8>| {
        sqlx::query("UPDATE households SET bank_account_enc = $1 WHERE household_no = $2").bind(value).bind(to.clone())
    };
    set(copied).execute(db.writes()).await.expect("copy");
    let out = doudi(&["check", "--data-dir", data], &[]);
    assert!(!out.status.success(), "a copied ciphertext fails the check");
    let named = format!("households.bank_account_enc row {to}");
    assert!(text(&out.stderr).contains(&named), "{} (copied from {from})", text(&out.stderr));
    set(original).execute(db.writes()).await.expect("restore");
    db.close().await;
    assert!(doudi(&["check", "--data-dir", data], &[]).status.success());

    // SIGTERM stops the suite gracefully.
    let status = suite.terminate(Duration::from_secs(15));
    assert!(status.success(), "{status:?}");

    // Tampering with the audit trail is found, by record.
    let out = doudi(&["audit", "verify", "--data-dir", data], &[]);
    assert!(
        out.status.success() && text(&out.stdout).contains("eligibility: audit chain intact (3 records)"),
        "{}",
        text(&out.stdout)
    );
    // An anchor kept outside: cutting the chain's tail and fixing its head row to match passes a
    // plain verify, not one that expects the anchor.
    let out = doudi(&["audit", "head", "--data-dir", data], &[]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let anchor = text(&out.stdout).lines().find(|l| l.starts_with("eligibility:3:")).expect("anchor").to_owned();
    assert!(text(&out.stdout).lines().any(|l| l.starts_with("settlement:")), "{}", text(&out.stdout));
    let db = doudi_runtime::Db::connect(&format!("sqlite://{data}/eligibility.db"), 1).await.expect("open");
    let saved: Vec<(i64, String)> =
        sqlx::query_as("SELECT seq, mac FROM audit_log ORDER BY seq").fetch_all(db.reads()).await.expect("chain");
    sqlx::query("CREATE TABLE cut AS SELECT * FROM audit_log WHERE seq = 3").execute(db.writes()).await.expect("keep");
    sqlx::query("DELETE FROM audit_log WHERE seq = 3").execute(db.writes()).await.expect("cut");
    sqlx::query("UPDATE audit_head SET seq = 2, mac = $1").bind(&saved[1].1).execute(db.writes()).await.expect("fix");
    let out = doudi(&["audit", "verify", "--data-dir", data], &[]);
    assert!(out.status.success(), "a cut tail with its head fixed passes a plain verify");
    let out = doudi(&["audit", "verify", "--data-dir", data, "--expect", &anchor], &[]);
    assert!(!out.status.success());
    assert!(text(&out.stderr).contains("records were cut from the end"), "{}", text(&out.stderr));
    sqlx::query("INSERT INTO audit_log SELECT * FROM cut").execute(db.writes()).await.expect("restore");
    sqlx::query("DROP TABLE cut").execute(db.writes()).await.expect("drop");
    sqlx::query("UPDATE audit_head SET seq = 3, mac = $1").bind(&saved[2].1).execute(db.writes()).await.expect("head");
    let out = doudi(&["audit", "verify", "--data-dir", data, "--expect", &anchor], &[]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    sqlx::query("UPDATE audit_log SET actor = 'someone else' WHERE seq = 2")
        .execute(db.writes())
        .await
        .expect("tamper");
    db.close().await;
    let out = doudi(&["audit", "verify", "--data-dir", data], &[]);
    assert!(!out.status.success());
    assert!(text(&out.stderr).contains("audit record 2 is tampered"), "{}", text(&out.stderr));
    let out = doudi(&["check", "--data-dir", data], &[]);
    assert!(!out.status.success() && text(&out.stderr).contains("audit record 2"), "{}", text(&out.stderr));

    // Restarting on the same data directory keeps the data and does not seed again.
    let suite = Suite::start(&["up", "--data-dir", data], &ANY_PORTS, "press Ctrl-C to stop");
    assert!(!suite.stdout.iter().any(|l| l.contains("DEMO DATA")));
    let mut grpc = client(&suite.address_of("eligibility"), &ca_file, &demo_token).await;
    assert_eq!(category(&mut grpc, &person, "2016-02-01").await.category(), pb::Category::Tekun);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_eligibility_on_postgresql_configured_by_file_and_env() {
    let db = TestDb::new(Backend::Postgres).await;
    let dir = tempfile::tempdir().expect("tempdir");
    let config = dir.path().join("doudi.toml");
    let data = dir.path().join("data");
    std::fs::write(
        &config,
        format!(
            "data_dir = \"{}\"\n[eligibility]\nlisten = \"127.0.0.1:0\"\ndatabase_url = \"{}\"\n",
            data.display(),
            db.url
        ),
    )
    .expect("config");
    let config = config.to_str().expect("utf-8");
    let key = "ab".repeat(32);
    let tls = issue_certificates(dir.path(), &["eligibility"]).remove(0);
    let mut env = vec![("DOUDI__SECURITY__MASTER_KEY", key.as_str())];
    env.extend(tls.iter().map(|(k, v)| (k.as_str(), v.as_str())));
    let suite = Suite::start(&["serve", "eligibility", "--config", config], &env, "grpc://");
    let token = add_county_staff(&["--config", config], &env);
    let ca_file = Path::new(&tls[0].1).to_owned();
    let mut grpc = client(&suite.address_of("eligibility"), &ca_file, &token).await;

    let person = new_person();
    let file = write_csv(
        dir.path(),
        "pg.csv",
        &[format!("PG-1,城关镇,北村,{person},周末,HEAD,1988-08-08,DIBAO_1,2015-07-01,,")],
    );
    let out = doudi(&["registry", "import", &file, "--config", config], &env);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let answer = category(&mut grpc, &person, "2015-07-01").await;
    assert_eq!((answer.category(), answer.household_no.as_str()), (pb::Category::Dibao1, "PG-1"));

    let wrong_key = "cd".repeat(32);
    let out = doudi(&["audit", "verify", "--config", config], &[("DOUDI__SECURITY__MASTER_KEY", wrong_key.as_str())]);
    assert!(!out.status.success(), "a chain does not verify under another key");
    let out = doudi(&["check", "--config", config], &env);
    assert!(out.status.success(), "{}", text(&out.stderr));
}

#[test]
fn configuration_errors_name_the_key_and_missing_keys_are_explained() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().to_str().expect("utf-8");
    // A port in use stops `up` before it touches the data directory.
    let taken = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let taken_addr = taken.local_addr().expect("addr").to_string();
    let fresh = dir.path().join("fresh");
    let fresh = fresh.to_str().expect("utf-8");
    let out = doudi(&["up", "--data-dir", fresh], &[("DOUDI__ELIGIBILITY__LISTEN", taken_addr.as_str())]);
    assert!(!out.status.success());
    assert!(text(&out.stderr).contains("cannot listen on"), "{}", text(&out.stderr));
    assert!(!Path::new(fresh).exists(), "nothing was written");
    drop(taken);

    let out = doudi(&["up", "--data-dir", data], &[("DOUDI__ELIGIBILITY__LISTEN", "not-an-address")]);
    assert!(!out.status.success());
    assert!(text(&out.stderr).contains("`eligibility.listen`"), "{}", text(&out.stderr));
    let out = doudi(&["coverage", &new_person(), "--data-dir", data], &[]);
    assert!(!out.status.success());
    assert!(text(&out.stderr).contains("no master key"), "{}", text(&out.stderr));

    // A service deployed alone refuses a key kept in its data directory (a backup of the data
    // must not carry its key); the same key given in the environment is accepted.
    let keyed = dir.path().join("keyed");
    let keyed = keyed.to_str().expect("utf-8");
    std::fs::create_dir_all(keyed).expect("data dir");
    doudi_runtime::crypto::MasterKey::load_or_create(&Path::new(keyed).join("master.key")).expect("key");
    let out = doudi(&["serve", "eligibility", "--data-dir", keyed], &[("DOUDI__ELIGIBILITY__LISTEN", "127.0.0.1:0")]);
    assert!(!out.status.success());
    assert!(text(&out.stderr).contains("is inside the data directory"), "{}", text(&out.stderr));

    // A county's policy file is validated before anything starts.
    let policy = dir.path().join("policy.toml");
    std::fs::write(&policy, doudi_core::policy::REFERENCE_POLICY.replacen("rate_bp = 7500", "rate_bp = 75000", 1))
        .expect("policy");
    let policy = policy.to_str().expect("utf-8");
    let out = doudi(&["up", "--data-dir", data], &[("DOUDI__POLICY__FILE", policy)]);
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("`policy.file`") && text(&out.stderr).contains("COUNTY.rate_bp"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn policy_show_prints_the_version_in_force() {
    let out = doudi(&["policy", "show", "--on", "2015-08-01"], &[]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    assert_eq!(json["id"], "ref-2015-07");
    assert_eq!(json["monthlyBenefitFen"]["DIBAO_2"], 23400);
    assert_eq!(json["basicInsurance"]["inpatient"]["COUNTY"]["rateBp"], 7500);
    let out = doudi(&["policy", "show", "--on", "2014-12-31"], &[]);
    assert!(!out.status.success() && text(&out.stderr).contains("no policy version is in force on 2014-12-31"));
}

#[test]
fn json_logs_are_one_object_a_line() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().to_str().expect("utf-8");
    let mut child = Command::new(DOUDI)
        .args(["up", "--no-demo", "--data-dir", data])
        .envs(ANY_PORTS)
        .env("DOUDI__LOG__FORMAT", "json")
        .env("DOUDI__LOG__FILTER", "info")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("doudi starts");
    let stdout = BufReader::new(child.stdout.take().expect("stdout"));
    for line in stdout.lines() {
        if line.expect("line").contains("press Ctrl-C") {
            break;
        }
    }
    Command::new("kill").args(["-TERM", &child.id().to_string()]).status().expect("kill");
    let output = child.wait_with_output().expect("doudi stops");
    assert!(output.status.success());
    let lines: Vec<serde_json::Value> = text(&output.stderr)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect();
    let messages: Vec<&str> = lines.iter().filter_map(|l| l["message"].as_str()).collect();
    for expected in ["coverage index loaded", "listening", "stopped"] {
        assert!(messages.contains(&expected), "{messages:?}");
    }
    assert!(lines.iter().all(|l| l["level"].is_string() && l["timestamp"].is_string()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_import_killed_mid_way_is_all_or_nothing() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("data");
    let data = data.to_str().expect("utf-8");
    std::fs::create_dir_all(data).expect("data dir");
    doudi_runtime::crypto::MasterKey::load_or_create(&Path::new(data).join("master.key")).expect("key");
    let rows: Vec<String> = (0..40_000u32)
        .map(|n| {
            let birth = doudi_core::Date::from_ymd(1950, 1, 1).expect("date").add_days(i64::from(n % 20_000));
            let id = doudi_core::national_id::synthesize("360730", birth, n / 20_000);
            let relation = if n % 4 == 0 { "HEAD" } else { "CHILD" };
            format!("K{},城关镇,东村,{},某{n},{relation},{birth},DIBAO_2,2015-01-01,,", n / 4, id.expose())
        })
        .collect();
    let file = write_csv(dir.path(), "big.csv", &rows);
    let mut child = Command::new(DOUDI)
        .args(["registry", "import", &file, "--data-dir", data])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("import starts");
    // Kill it while it writes: its transaction has put megabytes into the write-ahead log and
    // not committed yet.
    let wal = Path::new(data).join("eligibility.db-wal");
    let started = Instant::now();
    loop {
        assert!(child.try_wait().expect("wait").is_none(), "the import finished before it could be interrupted");
        if std::fs::metadata(&wal).is_ok_and(|m| m.len() > 2 << 20) {
            break;
        }
        assert!(started.elapsed() < Duration::from_secs(60), "the import never started writing");
        std::thread::sleep(Duration::from_millis(2));
    }
    child.kill().expect("kill -9");
    let _ = child.wait();

    let db = doudi_runtime::Db::connect(&format!("sqlite://{data}/eligibility.db"), 1).await.expect("open");
    let counts = sqlx::query(
        "SELECT (SELECT COUNT(*) FROM households), (SELECT COUNT(*) FROM persons), (SELECT COUNT(*) FROM category_periods),
                (SELECT COUNT(*) FROM audit_log)",
    )
    .fetch_one(db.reads())
    .await
    .expect("counts");
    let counts: (i64, i64, i64, i64) = (
        sqlx::Row::get(&counts, 0),
        sqlx::Row::get(&counts, 1),
        sqlx::Row::get(&counts, 2),
        sqlx::Row::get(&counts, 3),
    );
    db.close().await;
    // Killed while writing its transaction: either nothing of it, or (had the commit just
    // landed) all of it with its audit record; never a part.
    assert!(counts == (0, 0, 0, 0) || counts == (10_000, 40_000, 40_000, 1), "a partial import: {counts:?}");
    let out = doudi(&["check", "--data-dir", data], &[]);
    assert!(out.status.success(), "{}", text(&out.stderr));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_suite_logging_at_debug_level_writes_no_id_name_or_account() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("data");
    let data = data.to_str().expect("utf-8 path");
    let log = dir.path().join("doudi.log");
    let mut child = Command::new(DOUDI)
        .args(["up", "--data-dir", data])
        .envs(ANY_PORTS)
        .env("DOUDI__LOG__FILTER", "debug")
        .stdout(Stdio::piped())
        .stderr(std::fs::File::create(&log).expect("log file"))
        .spawn()
        .expect("doudi starts");
    let mut stdout = Vec::new();
    for line in BufReader::new(child.stdout.take().expect("stdout")).lines() {
        let line = line.expect("line");
        let ready = line.contains("press Ctrl-C to stop");
        stdout.push(line);
        if ready {
            break;
        }
    }
    let mut suite = Suite { child, stdout };
    // A registration, coverage over gRPC, a settlement over HTTP, and a bad request.
    let person = new_person();
    let (name, account) = ("欧阳调试", "6228480099998888");
    let file = write_csv(
        dir.path(),
        "log.csv",
        &[format!("LOG-1,城关镇,北村,{person},{name},HEAD,1988-08-08,TEKUN,2016-01-01,,{account}")],
    );
    let out = doudi(&["registry", "import", &file, "--data-dir", data], &[("DOUDI__LOG__FILTER", "debug")]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let token = printed_token(&suite.stdout);
    let ca_file = Path::new(data).join("tls/ca.crt");
    let mut grpc = client(&suite.address_of("eligibility"), &ca_file, &token).await;
    assert_eq!(category(&mut grpc, &person, "2016-02-01").await.category(), pb::Category::Tekun);
    let bad =
        grpc.get_coverage(pb::GetCoverageRequest { national_id: format!("{}0", &person[..17]), date: "x".into() });
    assert!(bad.await.is_err());
    let settled = run_printed_curl(&suite.stdout);
    assert_eq!(settled["status"], "SETTLED");
    let status = suite.terminate(Duration::from_secs(20));
    assert!(status.success());

    let logged = std::fs::read_to_string(&log).expect("log") + &text(&out.stderr);
    assert!(logged.lines().count() > 50, "debug level logs plenty: {} lines", logged.lines().count());
    let demo_person = suite
        .stdout
        .iter()
        .find_map(|l| l.split("coverage ").nth(1).and_then(|rest| rest.split_whitespace().next()))
        .expect("a demo person")
        .to_owned();
    for secret in [person.as_str(), name, account, demo_person.as_str(), token.as_str()] {
        assert!(!logged.contains(secret), "the debug log shows {secret}");
    }
}
