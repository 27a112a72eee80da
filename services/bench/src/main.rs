//! `doudi-bench`: benchmarks that print figures, each beside a ceiling measured in the same run
//! on the same machine, so the ratio means something on any machine.

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

mod ceiling;
mod eligibility;
mod load;
mod payroll;
mod profiles;
mod roll;
mod settlement;

use anyhow::Result;
use clap::{Parser, Subcommand};
use std::path::PathBuf;

#[derive(Debug, Parser)]
#[command(name = "doudi-bench")]
struct Cli {
    #[command(subcommand)]
    bench: Bench,
}

#[derive(Debug, Subcommand)]
enum Bench {
    /// Import rate and GetCoverage throughput/latency.
    Eligibility {
        /// Run on a fresh database of this PostgreSQL server (created and dropped) instead of SQLite.
        #[arg(long, value_name = "URL")]
        postgres: Option<String>,
        #[arg(long, default_value_t = 100_000)]
        persons: u32,
        #[arg(long, default_value_t = 64)]
        concurrency: usize,
        #[arg(long, default_value_t = 4)]
        connections: usize,
        /// Database connections of the service (for reads; SQLite writes always use one).
        #[arg(long, default_value_t = 16)]
        max_connections: u32,
        #[arg(long, default_value_t = 2.0)]
        warmup_seconds: f64,
        #[arg(long, default_value_t = 10.0)]
        seconds: f64,
    },
    /// The monthly benefit roll of N households beside a plain SELECT of the same rows.
    Roll {
        #[arg(long, value_name = "URL")]
        postgres: Option<String>,
        #[arg(long, default_value_t = 100_000)]
        households: u32,
        #[arg(long, default_value_t = 3)]
        runs: usize,
    },
    /// A month's payroll (`doudi payroll run` against `doudi serve eligibility`) beside a plain
    /// batched INSERT of as many rows, and the payroll process's peak memory at each size.
    Payroll {
        #[arg(long, value_name = "URL")]
        postgres: Option<String>,
        #[arg(long, value_delimiter = ',', default_value = "10000,100000")]
        households: Vec<u32>,
        #[arg(long, value_name = "PATH")]
        doudi: Option<PathBuf>,
    },
    /// Settlements through the gateway (three `doudi serve` processes) beside its health check.
    Settlement {
        /// Run on fresh databases of this PostgreSQL server (created and dropped) instead of SQLite.
        #[arg(long, value_name = "URL")]
        postgres: Option<String>,
        #[arg(long, default_value_t = 10_000)]
        persons: u32,
        #[arg(long, value_delimiter = ',', default_value = "16,64")]
        concurrency: Vec<usize>,
        #[arg(long, default_value_t = 4)]
        connections: usize,
        #[arg(long, default_value_t = 2.0)]
        warmup_seconds: f64,
        #[arg(long, default_value_t = 10.0)]
        seconds: f64,
        /// A final run at the first concurrency, sampling each process's memory (0: skip).
        #[arg(long, default_value_t = 60.0)]
        soak_seconds: f64,
        /// Then a run at the first concurrency while `doudi registry import` adds this many new
        /// persons, beside a run of the same length without it (0: skip).
        #[arg(long, default_value_t = 0)]
        import_persons: u32,
        /// What the settlement runs send, each beside the default: default, new-persons (every
        /// bill a person's first), hot-set (10 % on 100 persons from --hospitals at once),
        /// reversals (5 % of calls reverse an earlier bill).
        #[arg(long, value_delimiter = ',', default_value = "default")]
        profiles: Vec<profiles::Profile>,
        /// Hospitals registered (the hot set sends from all of them).
        #[arg(long, default_value_t = 4)]
        hospitals: usize,
        /// The `doudi` binary to run (default: the one beside this program).
        #[arg(long, value_name = "PATH")]
        doudi: Option<PathBuf>,
        /// perf-ceiling's results.tsv from a run of `run.sh e2e` just before: each settlement
        /// figure is printed beside the ideal's and the ratio.
        #[arg(long, value_name = "FILE")]
        ceiling: Option<PathBuf>,
    },
}

fn main() -> Result<()> {
    let cli = Cli::parse();
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build()?;
    match cli.bench {
        Bench::Eligibility {
            postgres,
            persons,
            concurrency,
            connections,
            max_connections,
            warmup_seconds,
            seconds,
        } => runtime.block_on(eligibility::run(eligibility::EligibilityBench {
            postgres,
            persons,
            concurrency,
            connections,
            max_connections,
            warmup: warmup_seconds,
            seconds,
        })),
        Bench::Roll { postgres, households, runs } => runtime.block_on(roll::run(postgres, households, runs)),
        Bench::Payroll { postgres, households, doudi } => runtime.block_on(payroll::run(postgres, households, doudi)),
        Bench::Settlement {
            postgres,
            persons,
            concurrency,
            connections,
            warmup_seconds,
            seconds,
            soak_seconds,
            import_persons,
            profiles,
            hospitals,
            doudi,
            ceiling,
        } => runtime.block_on(settlement::run(settlement::SettlementBench {
            postgres,
            persons,
            concurrency,
            connections,
            warmup: warmup_seconds,
            seconds,
            soak_seconds,
            import_persons,
            profiles: if profiles.contains(&profiles::Profile::Default) {
                profiles
            } else {
                std::iter::once(profiles::Profile::Default).chain(profiles).collect()
            },
            hospitals,
            doudi,
            ceiling: ceiling.map(|path| ceiling::read(&path)).transpose()?.unwrap_or_default(),
        })),
    }
}
