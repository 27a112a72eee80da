//! `doudi-bench settlement`: one-stop settlements through the gateway, as hospitals send them,
//! beside the gateway's gRPC health check in the same run.
//!
//! The three services run as separate `doudi serve` processes (the release binary next to this
//! one), so each process's memory can be watched; the load generator is this process. Every
//! settlement is a new bill of one of `persons` registered recipients, over durable storage.

use crate::ceiling::{self, IdealRun};
use crate::eligibility::{recipients_csv, recipients_csv_from};
use crate::load::{LoadResult, load};
use crate::profiles::{self, Profile, Shared};
use anyhow::{Context, Result, bail, ensure};
use doudi_testkit::TestDb;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tonic::transport::{Channel, Endpoint};
use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_client::HealthClient;

pub struct SettlementBench {
    pub postgres: Option<String>,
    pub persons: u32,
    pub concurrency: Vec<usize>,
    pub connections: usize,
    pub warmup: f64,
    pub seconds: f64,
    pub soak_seconds: f64,
    pub import_persons: u32,
    pub profiles: Vec<Profile>,
    pub hospitals: usize,
    pub doudi: Option<PathBuf>,
    /// perf-ceiling's results, to print each settlement figure beside its ideal.
    pub ceiling: Vec<IdealRun>,
}

/// A `doudi serve` process, stopped when dropped.
pub(crate) struct Process {
    name: &'static str,
    child: Child,
    stdout: Vec<String>,
}

impl Drop for Process {
    fn drop(&mut self) {
        let _ = Command::new("kill").args(["-TERM", &self.child.id().to_string()]).status();
        let _ = self.child.wait();
    }
}

impl Process {
    pub(crate) fn rss_kib(&self) -> u64 {
        std::fs::read_to_string(format!("/proc/{}/status", self.child.id()))
            .ok()
            .and_then(|status| {
                status
                    .lines()
                    .find_map(|l| l.strip_prefix("VmRSS:").and_then(|v| v.split_whitespace().next()?.parse().ok()))
            })
            .unwrap_or(0)
    }

    fn url(&self, scheme: &str) -> Result<String> {
        self.stdout
            .iter()
            .find_map(|l| {
                l.split(&format!("{scheme}://")).nth(1).map(|rest| rest.split_whitespace().next().unwrap_or(""))
            })
            .map(|addr| format!("http://{addr}"))
            .with_context(|| format!("{} printed no {scheme} address", self.name))
    }
}

pub(crate) fn start(
    doudi: &Path,
    name: &'static str,
    args: &[&str],
    env: &[(String, String)],
    ready: &str,
) -> Result<Process> {
    let mut child = Command::new(doudi)
        .args(args)
        .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .with_context(|| format!("cannot start {}", doudi.display()))?;
    let lines = BufReader::new(child.stdout.take().context("stdout")?).lines();
    let mut stdout = Vec::new();
    for line in lines {
        let line = line?;
        let done = line.contains(ready);
        stdout.push(line);
        if done {
            return Ok(Process { name, child, stdout });
        }
    }
    let _ = child.kill();
    bail!("{name} exited before it was ready: {stdout:?}")
}

pub(crate) fn run_command(doudi: &Path, args: &[&str], env: &[(String, String)]) -> Result<String> {
    let out = Command::new(doudi).args(args).envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str()))).output()?;
    ensure!(out.status.success(), "doudi {args:?} failed: {}", String::from_utf8_lossy(&out.stderr));
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

pub(crate) fn free_port() -> Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

fn print_load(backend: &str, name: &str, concurrency: usize, r: &LoadResult) {
    println!(
        "gateway\t{backend}\t{name}\tc={concurrency}\trps={:.0}\tp50_ms={:.2}\tp99_ms={:.2}\tp99.9_ms={:.2}\terrors={}",
        r.rps,
        r.p50_us / 1000.0,
        r.p99_us / 1000.0,
        r.p999_us / 1000.0,
        r.errors
    );
}

/// `concurrency` calls of `profile` in flight: as the first hospital, or (the hot set) as each
/// hospital of the run in turn.
#[allow(clippy::too_many_arguments)]
async fn settle_load(
    channels: &[Channel],
    keys: &[String],
    persons: u32,
    run: &str,
    profile: Profile,
    shared: &Arc<Shared>,
    concurrency: usize,
    warmup: f64,
    seconds: f64,
) -> LoadResult {
    let hospitals = if profile == Profile::HotSet { keys.len() } else { 1 };
    let authorizations: Vec<tonic::metadata::MetadataValue<_>> =
        keys[..hospitals].iter().map(|k| format!("Bearer {k}").parse().expect("metadata")).collect();
    let run: Arc<str> = Arc::from(run);
    let shared = shared.clone();
    load(channels, concurrency, warmup, seconds, move |channel, seq| {
        // The task's index is in `seq`'s high bits: each task sends as one hospital.
        let authorization = authorizations[(seq >> 32) as usize % authorizations.len()].clone();
        profiles::call(channel, authorization, run.clone(), profile, persons, seq, shared.clone())
    })
    .await
}

pub async fn run(bench: SettlementBench) -> Result<()> {
    let doudi = match bench.doudi {
        Some(path) => path,
        None => std::env::current_exe()?.with_file_name("doudi"),
    };
    ensure!(doudi.exists(), "{} not found: build it first (cargo build --release -p doudi)", doudi.display());
    let dir = tempfile::tempdir()?;
    let data = dir.path().to_str().context("utf-8 path")?.to_owned();
    let mut key = [0u8; 32];
    getrandom::getrandom(&mut key).map_err(|e| anyhow::anyhow!("system randomness: {e}"))?;
    let mut env: Vec<(String, String)> = vec![
        ("DOUDI__DATA_DIR".into(), data.clone()),
        ("DOUDI__SECURITY__MASTER_KEY".into(), hex::encode(key)),
        ("DOUDI__LOG__FILTER".into(), "warn".into()),
        ("DOUDI__ELIGIBILITY__LISTEN".into(), format!("127.0.0.1:{}", free_port()?)),
        ("DOUDI__SETTLEMENT__LISTEN".into(), format!("127.0.0.1:{}", free_port()?)),
        ("DOUDI__GATEWAY__LISTEN".into(), format!("127.0.0.1:{}", free_port()?)),
        ("DOUDI__HTTP__LISTEN".into(), format!("127.0.0.1:{}", free_port()?)),
        // The benchmark is one hospital sending as fast as it can.
        ("DOUDI__HOSPITAL_ACCESS__REQUESTS_PER_SECOND".into(), "1000000".into()),
        ("DOUDI__HOSPITAL_ACCESS__BURST".into(), "1000000".into()),
    ];
    let mut dbs = Vec::new();
    if let Some(url) = &bench.postgres {
        for service in ["ELIGIBILITY", "SETTLEMENT", "GATEWAY"] {
            let db = TestDb::postgres_at(url).await;
            env.push((format!("DOUDI__{service}__DATABASE_URL"), db.url.clone()));
            dbs.push(db);
        }
    }
    let backend = if bench.postgres.is_some() { "postgres" } else { "sqlite" };

    let csv = dir.path().join("recipients.csv");
    std::fs::write(&csv, recipients_csv(bench.persons))?;
    run_command(&doudi, &["registry", "import", csv.to_str().context("utf-8")?], &env)?;
    let mut keys = Vec::new();
    for n in 0..bench.hospitals.max(1) {
        let code = if n == 0 { "BENCH".to_owned() } else { format!("BENCH{n}") };
        let added = run_command(
            &doudi,
            &["hospital", "add", "--code", &code, "--name", "基准县医院", "--level", "COUNTY"],
            &env,
        )?;
        keys.push(added.split_whitespace().last().context("no key printed")?.to_owned());
    }

    // Every inner hop is mutual TLS: a development CA and certificates where `serve` looks.
    doudi_runtime::tls::mint::ensure_dev_certificates(
        &dir.path().join("tls"),
        &["eligibility", "settlement", "gateway"],
    )?;
    let eligibility = start(&doudi, "eligibility", &["serve", "eligibility"], &env, "grpc://")?;
    let settlement = start(&doudi, "settlement", &["serve", "settlement"], &env, "grpc://")?;
    let gateway = start(&doudi, "gateway", &["serve", "gateway"], &env, "http://")?;
    let url = gateway.url("grpc")?;
    let mut channels = Vec::new();
    for _ in 0..bench.connections {
        channels.push(Endpoint::from_shared(url.clone())?.tcp_nodelay(true).connect().await?);
    }
    println!(
        "doudi-bench settlement on {backend}: {} persons, 3 processes (eligibility, settlement, gateway), {} connections, {}s measured after {}s warm-up",
        bench.persons, bench.connections, bench.seconds, bench.warmup
    );

    let processes = [&eligibility, &settlement, &gateway];
    let shared = Arc::new(Shared::default());
    for &concurrency in &bench.concurrency {
        let health = load(&channels, concurrency, bench.warmup, bench.seconds, |channel, _| async move {
            HealthClient::new(channel).check(HealthCheckRequest { service: String::new() }).await.is_ok()
        })
        .await;
        print_load(backend, "health", concurrency, &health);
        let mut default_rps = None;
        for &profile in &bench.profiles {
            let run = format!("c{concurrency}-{}", profile.name());
            let settled = settle_load(
                &channels,
                &keys,
                bench.persons,
                &run,
                profile,
                &shared,
                concurrency,
                bench.warmup,
                bench.seconds,
            )
            .await;
            let name =
                if profile == Profile::Default { "settle".to_owned() } else { format!("settle_{}", profile.name()) };
            print_load(backend, &name, concurrency, &settled);
            if let Some(ideal) = ceiling::ideal_for(&bench.ceiling, backend, concurrency) {
                ceiling::print_beside(backend, &name, &settled, &ideal);
            }
            println!("{name}/health throughput ratio on {backend} at c={concurrency}: {:.3}", settled.rps / health.rps);
            match default_rps {
                None if profile == Profile::Default => default_rps = Some(settled.rps),
                Some(base) => println!(
                    "{}/default throughput ratio on {backend} at c={concurrency}: {:.3}",
                    profile.name(),
                    settled.rps / base
                ),
                None => {}
            }
        }
    }
    let used = shared.new_persons_used();
    if bench.profiles.contains(&Profile::NewPersons) && used > u64::from(bench.persons) {
        println!(
            "note: the new-persons profile sent {used} first bills to {} persons: {} were a person's second or later (give --persons {used} or more)",
            bench.persons,
            used - u64::from(bench.persons)
        );
    }
    if bench.profiles.contains(&Profile::Reversals) {
        println!("reversals sent: {}", shared.reversed.load(std::sync::atomic::Ordering::Relaxed));
    }

    if bench.soak_seconds > 0.0 {
        // Memory over a long run: RSS of each process every tenth of the run.
        let concurrency = bench.concurrency.first().copied().unwrap_or(16);
        let soak = settle_load(
            &channels,
            &keys,
            bench.persons,
            "soak",
            Profile::Default,
            &shared,
            concurrency,
            0.0,
            bench.soak_seconds,
        );
        let sampler = async {
            let mut samples: Vec<[u64; 3]> = Vec::new();
            let started = Instant::now();
            while started.elapsed().as_secs_f64() < bench.soak_seconds {
                samples.push(processes.map(Process::rss_kib));
                tokio::time::sleep(Duration::from_secs_f64(bench.soak_seconds / 10.0)).await;
            }
            samples.push(processes.map(Process::rss_kib));
            samples
        };
        let (soak, samples) = tokio::join!(soak, sampler);
        print_load(backend, "soak", concurrency, &soak);
        for (i, process) in processes.iter().enumerate() {
            let series: Vec<String> = samples.iter().map(|s| (s[i] / 1024).to_string()).collect();
            // Growth over the second half: after warm-up, a flat process stays put.
            let half = samples.len() / 2;
            let growth = samples.last().map_or(0, |s| s[i]) as i64 - samples[half][i] as i64;
            println!(
                "memory\t{backend}\t{}\trss_mib_every_{:.0}s=[{}]\tsecond_half_growth_kib={growth}",
                process.name,
                bench.soak_seconds / 10.0,
                series.join(" ")
            );
        }
    }
    if bench.import_persons > 0 {
        // A bulk registry change while hospitals settle: the same run with and without an import
        // of new persons (their coverage index reloads or applies it meanwhile).
        let concurrency = bench.concurrency.first().copied().unwrap_or(16);
        let quiet = settle_load(
            &channels,
            &keys,
            bench.persons,
            "quiet",
            Profile::Default,
            &shared,
            concurrency,
            0.0,
            bench.seconds,
        )
        .await;
        print_load(backend, "settle_without_import", concurrency, &quiet);
        let csv = dir.path().join("more.csv");
        std::fs::write(&csv, recipients_csv_from(bench.persons, bench.import_persons))?;
        let csv = csv.to_str().context("utf-8")?.to_owned();
        let (doudi, env) = (doudi.clone(), env.clone());
        let import = tokio::task::spawn_blocking(move || {
            let started = Instant::now();
            run_command(&doudi, &["registry", "import", &csv], &env).map(|_| started.elapsed())
        });
        let busy = settle_load(
            &channels,
            &keys,
            bench.persons,
            "import",
            Profile::Default,
            &shared,
            concurrency,
            0.0,
            bench.seconds,
        )
        .await;
        let import_time = import.await??;
        print_load(backend, "settle_during_import", concurrency, &busy);
        println!(
            "import\t{backend}\tpersons={}\tseconds={:.1}\tsettle_during/without={:.2}\terrors_during={}",
            bench.import_persons,
            import_time.as_secs_f64(),
            busy.rps / quiet.rps,
            busy.errors
        );
    }
    drop(gateway);
    drop(settlement);
    drop(eligibility);
    drop(dbs);
    Ok(())
}
