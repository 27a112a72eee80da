//! `doudi`: run the whole suite, run one service, administer a county's data.

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

use clap::{Parser, Subcommand};
use std::path::PathBuf;
use std::process::ExitCode;

mod commands;
mod demo;
mod inspect;
mod payments;
mod suite;

#[derive(Debug, Parser)]
#[command(
    name = "doudi",
    version,
    about = "Doudi (兜底): a county's social assistance — who is covered, what they get, and the money reaching them"
)]
struct Cli {
    /// The suite's data directory (SQLite files, development key). Default: ./data
    #[arg(long, global = true, value_name = "DIR")]
    data_dir: Option<PathBuf>,
    /// A TOML configuration file describing the services (DOUDI__… variables override it).
    #[arg(long, global = true, value_name = "FILE")]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run every implemented service in one process on SQLite, each on its own port.
    Up {
        /// Do not seed the demo county into an empty data directory.
        #[arg(long)]
        no_demo: bool,
    },
    /// Run one service alone, configured by file and environment (how it is deployed).
    Serve {
        #[arg(value_enum)]
        service: ServiceName,
    },
    /// The registry of households and persons.
    Registry {
        #[command(subcommand)]
        command: RegistryCommand,
    },
    /// Print a person's coverage on a day as JSON.
    Coverage {
        national_id: String,
        /// YYYY-MM-DD; default today (China Standard Time).
        #[arg(long, value_name = "DATE")]
        on: Option<String>,
    },
    /// Hospitals that may settle bills, and their API keys.
    Hospital {
        #[command(subcommand)]
        command: HospitalCommand,
    },
    /// Record a year's premium subsidies (the category held on 1 January, or the first held later
    /// that year, decides); running it again records only who is missing.
    PremiumSubsidy {
        #[arg(long)]
        year: i32,
    },
    /// County and township staff of the dibao procedure, and their signed tokens.
    Staff {
        #[command(subcommand)]
        command: StaffCommand,
    },
    /// The benefit roll of a month as JSON: every person paid (or suspended for an overdue
    /// review), with category and amount, and each household's sums into its head's account.
    BenefitRoll {
        /// YYYY-MM
        #[arg(long, value_name = "MONTH")]
        month: String,
    },
    /// A village's public notice as JSON: applications under notice and the persons receiving
    /// TEKUN or dibao, names and IDs masked.
    NoticeList {
        #[arg(long)]
        township: String,
        #[arg(long)]
        village: String,
        /// YYYY-MM-DD; default today.
        #[arg(long, value_name = "DATE")]
        on: Option<String>,
    },
    /// Hospitals' reads of persons (quotes, settlements, year totals) as JSON lines: who looked at a
    /// person (`--person`), or what a hospital looked at (`--hospital`). County staff's tool.
    AccessLog {
        /// A person's national ID.
        #[arg(long, value_name = "ID", required_unless_present = "hospital", conflicts_with = "hospital")]
        person: Option<String>,
        /// A hospital's code.
        #[arg(long, value_name = "CODE")]
        hospital: Option<String>,
        /// YYYY-MM-DD (China time); default: the first day recorded.
        #[arg(long, value_name = "DATE")]
        from: Option<String>,
        /// YYYY-MM-DD; default today.
        #[arg(long, value_name = "DATE")]
        to: Option<String>,
    },
    /// Ask a service's health over TLS (the suite's CA) and exit 0 only if it is SERVING: the
    /// Kubernetes probes of the TLS-only inner ports.
    Health {
        /// HOST:PORT of the service's gRPC port.
        #[arg(long, value_name = "ADDR")]
        addr: String,
        /// The fully-qualified service (`doudi.settlement.v1.Settlements`); default: the server.
        #[arg(long, value_name = "NAME", default_value = "")]
        service: String,
    },
    /// Certificates for the suite's inner hops (mutual TLS).
    Tls {
        #[command(subcommand)]
        command: TlsCommand,
    },
    /// The audit trail.
    Audit {
        #[command(subcommand)]
        command: AuditCommand,
    },
    /// Verify every invariant of the suite's databases; exits non-zero naming the first violation.
    Check,
    /// What is waiting: each outbox's backlog (count, oldest age) and the instructions held.
    Status,
    /// Fund budgets (per fund and year; no payment is made beyond one).
    Budget {
        #[command(subcommand)]
        command: BudgetCommand,
    },
    /// Temporary relief: the county's yearly relief budget.
    Relief {
        #[command(subcommand)]
        command: ReliefCommand,
    },
    /// The monthly payroll: one instruction per household, kind and month, with arrears and
    /// overpayment recovery for the 12 months before.
    Payroll {
        #[command(subcommand)]
        command: PayrollCommand,
    },
    /// The CPI-linked price subsidy's indexes.
    Prices {
        #[command(subcommand)]
        command: PricesCommand,
    },
    /// Hospitals' medical assistance payables.
    Payables {
        #[command(subcommand)]
        command: PayablesCommand,
    },
    /// Bank files: batches of approved instructions out.
    Bank {
        #[command(subcommand)]
        command: BankCommand,
    },
    /// The year's premium subsidies, paid to the basic insurer.
    Premiums {
        #[command(subcommand)]
        command: PremiumsCommand,
    },
    /// The policy data in force.
    Policy {
        #[command(subcommand)]
        command: PolicyCommand,
    },
}

#[derive(Debug, Subcommand)]
enum BudgetCommand {
    /// Set a fund's budget for a year (audited); lowering it below what is committed is refused,
    /// raising it releases held instructions in order.
    Set {
        /// DIBAO, TEKUN, PRICE_SUBSIDY, MEDICAL_ASSISTANCE, PREMIUM_SUBSIDY or RELIEF.
        #[arg(long)]
        fund: String,
        #[arg(long)]
        year: i64,
        #[arg(long)]
        fen: i64,
    },
}

#[derive(Debug, Subcommand)]
enum PayrollCommand {
    /// Make the month's instructions (DRAFT); running it again adds only what is missing.
    Run {
        /// YYYY-MM
        #[arg(long, value_name = "MONTH")]
        month: String,
    },
    /// Approve the month's DRAFT instructions: only approved ones reach a bank.
    Approve {
        #[arg(long, value_name = "MONTH")]
        month: String,
    },
    /// How a household's payment for a month was made up, as JSON.
    Explain {
        #[arg(long, value_name = "NO")]
        household: String,
        #[arg(long, value_name = "MONTH")]
        month: String,
    },
}

#[derive(Debug, Subcommand)]
enum PricesCommand {
    /// Record a month's published CPI and food-price year-on-year rises, in basis points.
    Record {
        #[arg(long, value_name = "MONTH")]
        month: String,
        #[arg(long, allow_hyphen_values = true)]
        cpi_bp: i64,
        #[arg(long, allow_hyphen_values = true)]
        food_bp: i64,
    },
}

#[derive(Debug, Subcommand)]
enum PayablesCommand {
    /// Close a month: one instruction per hospital, net of the month's reversals, and each
    /// hospital's statement (CSV). Closing again changes nothing.
    Close {
        /// YYYY-MM
        #[arg(long, value_name = "MONTH")]
        period: String,
    },
}

#[derive(Debug, Subcommand)]
enum ReliefCommand {
    /// Set the county's relief budget for a year (never below what is granted); the payment
    /// service's RELIEF fund is given the same budget, so it pays every grant without holding it.
    Budget {
        #[arg(long)]
        year: i64,
        #[arg(long)]
        fen: i64,
    },
}

#[derive(Debug, Subcommand)]
enum BankCommand {
    /// Write the APPROVED instructions not yet in a batch as one batch (mode 0600) and mark them
    /// SENT; with --batch, write that batch's file again exactly as it was sent.
    Export {
        #[arg(long, value_name = "FILE")]
        out: PathBuf,
        /// Only this fund's instructions.
        #[arg(long)]
        fund: Option<String>,
        /// pain001 (ISO 20022 pain.001.001.03) or csv.
        #[arg(long, default_value = "pain001")]
        format: String,
        #[arg(long, value_name = "ID", conflicts_with_all = ["fund"])]
        batch: Option<i64>,
    },
    /// Cancel a batch the bank has not answered: its instructions return to APPROVED.
    Cancel {
        #[arg(long, value_name = "ID")]
        batch: i64,
    },
    /// Read a bank's pain.002 status report or camt.054 notification: SENT instructions become
    /// PAID, FAILED or RETURNED, all or none; the same file twice changes nothing.
    Import {
        #[arg(value_name = "FILE")]
        file: PathBuf,
    },
    /// A batch against what the bank answered: sent, paid, rejected, returned, awaiting, what
    /// differs, and its state (OPEN, CONFIRMED, BROKEN).
    Reconcile {
        #[arg(long, value_name = "ID")]
        batch: i64,
        /// How many unpaid transfers to list.
        #[arg(long, default_value_t = 20)]
        limit: usize,
    },
}

#[derive(Debug, Subcommand)]
enum PremiumsCommand {
    /// Close a year: one instruction to the insurer's account, with the list of persons behind it.
    Close {
        #[arg(long)]
        year: i32,
    },
}

#[derive(Debug, Subcommand)]
enum PolicyCommand {
    /// Print the policy version in force on a day as JSON (default today), or every version.
    Show {
        /// YYYY-MM-DD
        #[arg(long, value_name = "DATE", conflicts_with = "all")]
        on: Option<String>,
        #[arg(long)]
        all: bool,
    },
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
enum ServiceName {
    Eligibility,
    Settlement,
    Gateway,
    Payment,
    Relief,
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
#[value(rename_all = "SCREAMING_SNAKE_CASE")]
enum Level {
    Township,
    County,
    Municipal,
    Provincial,
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
#[value(rename_all = "SCREAMING_SNAKE_CASE")]
enum StaffRole {
    Township,
    County,
}

#[derive(Debug, Subcommand)]
enum TlsCommand {
    /// Mint a service's certificate (subject CN = the service, valid as server and client) from
    /// a CA the operator holds; writes DIR/ca.crt, DIR/NAME.crt and DIR/NAME.key.
    Issue {
        /// eligibility, settlement, gateway, payment or relief.
        #[arg(long, value_name = "NAME")]
        service: String,
        #[arg(long, value_name = "DIR")]
        out: PathBuf,
        /// The CA's certificate (PEM). Default: the development CA, <data_dir>/tls/ca.crt.
        #[arg(long, value_name = "FILE")]
        ca_cert: Option<PathBuf>,
        /// The CA's private key (PEM). Default: <data_dir>/tls/ca.key.
        #[arg(long, value_name = "FILE")]
        ca_key: Option<PathBuf>,
        /// Further host names or addresses the service is reached at (besides its name,
        /// localhost and loopback); repeat for each.
        #[arg(long = "host", value_name = "HOST")]
        hosts: Vec<String>,
    },
}

#[derive(Debug, Subcommand)]
enum StaffCommand {
    /// Add a member of staff; prints their signed token once, as the last word of the output.
    Add {
        #[arg(long)]
        name: String,
        #[arg(long, value_enum)]
        role: StaffRole,
        /// Required for township staff: the township whose cases they handle.
        #[arg(long)]
        township: Option<String>,
        /// Days the token stays valid from today (China time); then the county issues a new one.
        #[arg(long, default_value_t = 365, value_parser = clap::value_parser!(u16).range(1..=3660))]
        valid_days: u16,
    },
    /// Every member of staff as JSON lines: role, township, issued, expiry, withdrawal (names
    /// masked; tokens are stored nowhere).
    List,
    /// Withdraw a member of staff's token.
    Revoke {
        #[arg(long)]
        id: i64,
    },
}

#[derive(Debug, Subcommand)]
enum HospitalCommand {
    /// Register a hospital; prints its new API key once, as the last word of the output.
    Add {
        #[arg(long)]
        code: String,
        #[arg(long)]
        name: String,
        #[arg(long, value_enum)]
        level: Level,
        /// The account the county pays the hospital's medical assistance into.
        #[arg(long, value_name = "DIGITS")]
        account: Option<String>,
    },
    /// Issue a new API key (printed once, last word); the old one stops working.
    RotateKey {
        #[arg(long)]
        code: String,
    },
    /// Withdraw the hospital's API key; requests with it are refused within a second.
    Revoke {
        #[arg(long)]
        code: String,
    },
}

#[derive(Debug, Subcommand)]
enum RegistryCommand {
    /// Mark the poverty office's registered-poor households (CSV `household_no,national_id`) and
    /// report registered-poor households without dibao, and dibao households not on the list.
    MatchPoverty { file: PathBuf },
    /// Import existing recipients from a CSV file (all rows or nothing, unless --skip-invalid).
    Import {
        file: PathBuf,
        /// Import the valid rows and report the others.
        #[arg(long)]
        skip_invalid: bool,
    },
}

#[derive(Debug, Subcommand)]
enum AuditCommand {
    /// Check the hash chain of every service's audit trail; report the first tampered record.
    Verify {
        /// An anchor printed earlier by `doudi audit head` (`SERVICE:SEQ:DIGEST`): the chain must
        /// still hold that record as it was, even if its head row was fixed up. Repeatable.
        #[arg(long, value_name = "SERVICE:SEQ:DIGEST")]
        expect: Vec<String>,
    },
    /// Print each chain's last record as `SERVICE:SEQ:DIGEST`, to keep outside the suite.
    Head,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async {
        let config = commands::load_config(cli.config.as_deref(), cli.data_dir.as_deref())?;
        match cli.command {
            Command::Up { no_demo } => suite::up(config, !no_demo).await,
            Command::Serve { service: ServiceName::Eligibility } => suite::serve_eligibility(config).await,
            Command::Serve { service: ServiceName::Settlement } => suite::serve_settlement(config).await,
            Command::Serve { service: ServiceName::Gateway } => suite::serve_gateway(config).await,
            Command::Serve { service: ServiceName::Payment } => suite::serve_payment(config).await,
            Command::Serve { service: ServiceName::Relief } => suite::serve_relief(config).await,
            Command::Relief { command: ReliefCommand::Budget { year, fen } } => {
                payments::relief_budget(&config, year, fen).await
            }
            Command::Status => inspect::status(&config).await,
            Command::Budget { command: BudgetCommand::Set { fund, year, fen } } => {
                payments::budget_set(&config, &fund, year, fen).await
            }
            Command::Payroll { command: PayrollCommand::Run { month } } => payments::payroll_run(&config, &month).await,
            Command::Payroll { command: PayrollCommand::Approve { month } } => {
                payments::payroll_approve(&config, &month).await
            }
            Command::Payroll { command: PayrollCommand::Explain { household, month } } => {
                payments::payroll_explain(&config, &household, &month).await
            }
            Command::Prices { command: PricesCommand::Record { month, cpi_bp, food_bp } } => {
                payments::prices_record(&config, &month, cpi_bp, food_bp).await
            }
            Command::Payables { command: PayablesCommand::Close { period } } => {
                payments::payables_close(&config, &period).await
            }
            Command::Bank { command: BankCommand::Export { out, fund, format, batch } } => {
                payments::bank_export(&config, &out, fund.as_deref(), &format, batch).await
            }
            Command::Bank { command: BankCommand::Cancel { batch } } => payments::bank_cancel(&config, batch).await,
            Command::Bank { command: BankCommand::Import { file } } => payments::bank_import(&config, &file).await,
            Command::Bank { command: BankCommand::Reconcile { batch, limit } } => {
                payments::bank_reconcile(&config, batch, limit).await
            }
            Command::Premiums { command: PremiumsCommand::Close { year } } => {
                payments::premiums_close(&config, year).await
            }
            Command::Hospital { command: HospitalCommand::Add { code, name, level, account } } => {
                let level =
                    clap::ValueEnum::to_possible_value(&level).map(|v| v.get_name().to_owned()).unwrap_or_default();
                commands::hospital_add(&config, &code, &name, &level, account.as_deref()).await
            }
            Command::Hospital { command: HospitalCommand::RotateKey { code } } => {
                commands::hospital_rotate_key(&config, &code).await
            }
            Command::Hospital { command: HospitalCommand::Revoke { code } } => {
                commands::hospital_revoke(&config, &code).await
            }
            Command::Registry { command: RegistryCommand::MatchPoverty { file } } => {
                commands::match_poverty(&config, &file).await
            }
            Command::Registry { command: RegistryCommand::Import { file, skip_invalid } } => {
                commands::registry_import(&config, &file, skip_invalid).await
            }
            Command::Health { addr, service } => commands::health(&config, &addr, &service).await,
            Command::Tls { command: TlsCommand::Issue { service, out, ca_cert, ca_key, hosts } } => {
                commands::tls_issue(&config, &service, &out, ca_cert, ca_key, &hosts)
            }
            Command::Coverage { national_id, on } => commands::coverage(&config, &national_id, on.as_deref()).await,
            Command::Staff { command: StaffCommand::Add { name, role, township, valid_days } } => {
                let county = matches!(role, StaffRole::County);
                commands::staff_add(&config, &name, county, township.as_deref(), valid_days).await
            }
            Command::Staff { command: StaffCommand::List } => commands::staff_list(&config).await,
            Command::Staff { command: StaffCommand::Revoke { id } } => commands::staff_revoke(&config, id).await,
            Command::NoticeList { township, village, on } => {
                commands::notice_list(&config, &township, &village, on.as_deref()).await
            }
            Command::BenefitRoll { month } => commands::benefit_roll(&config, &month).await,
            Command::PremiumSubsidy { year } => commands::premium_subsidy(&config, year).await,
            Command::AccessLog { person, hospital, from, to } => {
                let whom = match (person, hospital) {
                    (Some(id), _) => inspect::AccessOf::Person(id),
                    (None, Some(code)) => inspect::AccessOf::Hospital(code),
                    (None, None) => anyhow::bail!("give --person ID or --hospital CODE"),
                };
                inspect::access_log(&config, whom, from.as_deref(), to.as_deref()).await
            }
            Command::Audit { command: AuditCommand::Verify { expect } } => {
                inspect::audit_verify(&config, &expect).await
            }
            Command::Audit { command: AuditCommand::Head } => inspect::audit_head(&config).await,
            Command::Check => inspect::check(&config).await,
            Command::Policy { command: PolicyCommand::Show { on, all } } => {
                commands::policy_show(&config, on.as_deref(), all)
            }
        }
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
