//! Layered configuration: built-in defaults, then a TOML file, then environment variables
//! `DOUDI__SECTION__KEY` (double underscore between levels), then validation. Every error names
//! the key it is about, as written in the file (`eligibility.listen`).
//!
//! Over 400 lines because every section's type and default is declared here, in the one place an
//! operator reads to learn a key; the layering itself is about 60 lines.

use serde::{Deserialize, Serialize};
use std::{
    net::SocketAddr,
    path::{Path, PathBuf},
};

pub const ENV_PREFIX: &str = "DOUDI__";

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// Where an embedded suite keeps its SQLite files and development key.
    pub data_dir: PathBuf,
    pub log: LogConfig,
    pub security: SecurityConfig,
    pub policy: PolicyConfig,
    pub server: ServerConfig,
    pub eligibility: ServiceConfig,
    pub settlement: ServiceConfig,
    /// The hospitals' gRPC endpoint (`doudi.hospital.v1`) and the gateway's own database.
    pub gateway: ServiceConfig,
    /// The payment service: the ledger, fund budgets and payment instructions.
    pub payment: PaymentConfig,
    /// The relief service: temporary relief cases, the emergency path and the relief budget.
    pub relief: ServiceConfig,
    /// The hospitals' HTTP/JSON endpoint, served by the gateway.
    pub http: HttpConfig,
    pub hospital_access: HospitalAccessConfig,
    pub upstream: UpstreamConfig,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct HttpConfig {
    pub listen: SocketAddr,
    /// Larger request bodies are refused before they are parsed.
    pub max_body_bytes: usize,
    /// HTTPS when given a certificate; plain HTTP otherwise.
    pub tls: PublicTlsConfig,
}

/// A public port's certificate (the gateway's gRPC and HTTP ports): TLS when both files are
/// given. Hospitals still authenticate by API key.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PublicTlsConfig {
    pub cert_file: Option<PathBuf>,
    pub key_file: Option<PathBuf>,
}

/// The service's identity on the suite's inner hops (mutual TLS). All three files, or none: then
/// `<data_dir>/tls/ca.crt`, `<service>.crt` and `<service>.key` (what `doudi up` makes).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct InnerTlsConfig {
    pub ca_file: Option<PathBuf>,
    pub cert_file: Option<PathBuf>,
    pub key_file: Option<PathBuf>,
}

/// The payment service's port and database (as every service's), and the accounts it pays that
/// no other service holds.
#[derive(Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PaymentConfig {
    pub listen: SocketAddr,
    pub database_url: Option<String>,
    pub max_connections: u32,
    /// The basic insurer's account, into which a year's premium subsidies are paid.
    pub insurer_account: Option<String>,
    pub insurer_name: String,
    /// Where `doudi payables close` writes each hospital's statement (and `doudi premiums close`
    /// the insurer's list). Default: `<data_dir>/statements`.
    pub statements_dir: Option<PathBuf>,
    /// The county's name as the debtor of its bank files.
    pub debtor_name: String,
    /// Each fund's account at the county's bank (`payment.funds.dibao.account`, `.bank_code`):
    /// the debtor account of its payments in a bank file.
    pub funds: std::collections::BTreeMap<String, FundAccountConfig>,
    /// The columns of a CSV bank file, comma-separated, from: instruction_id, payee_name,
    /// account, amount_yuan, amount_fen, purpose, fund, payee_ref.
    pub csv_columns: String,
}

#[derive(Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct FundAccountConfig {
    pub account: Option<String>,
    pub bank_code: Option<String>,
}

impl std::fmt::Debug for FundAccountConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FundAccountConfig")
            .field("account", &self.account.as_deref().map(doudi_core::pii::mask_account))
            .field("bank_code", &self.bank_code)
            .finish()
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct HospitalAccessConfig {
    /// Each hospital's sustained request rate; beyond it (and the burst) RESOURCE_EXHAUSTED / 429.
    pub requests_per_second: u32,
    pub burst: u32,
    /// How long an API key check is reused; a revoked key is refused within this time, and an
    /// unknown key is refused without asking the database again.
    pub key_cache_ms: u64,
    /// Quotes have a rate of their own per hospital (a quote reads a person's category and year,
    /// and must not serve to enumerate the registry).
    pub quotes_per_second: u32,
    pub quote_burst: u32,
    /// Unknown or revoked API keys one address may present (a database lookup each) before its
    /// further unknown keys are refused for a second.
    pub failed_keys_per_second: u32,
    pub failed_key_burst: u32,
}

/// Where services reach each other, and how long they wait. URLs default to the configured
/// listen addresses of the same file.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct UpstreamConfig {
    pub eligibility_url: Option<String>,
    pub settlement_url: Option<String>,
    /// Where the settlement service's relay delivers its outbox.
    pub payment_url: Option<String>,
    /// One delivery attempt of the relay; a slower one is retried with the same key.
    pub payment_deadline_ms: u64,
    /// The settlement service's wait for a category; inside the gateway's budget below.
    pub eligibility_deadline_ms: u64,
    /// The gateway's budget for a hospital request, all hops included.
    pub settlement_deadline_ms: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    Plain,
    Json,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LogConfig {
    pub format: LogFormat,
    /// A `tracing` filter (`info`, `doudi_eligibility=debug,info`); `RUST_LOG` overrides it.
    pub filter: String,
}

/// `Debug` shows whether a key is set, never the key.
#[derive(Clone, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SecurityConfig {
    /// The 32-byte master key in hex. Prefer `key_file` (or the env variable) in production.
    pub master_key: Option<String>,
    /// A file holding the master key in hex. Default: `<data_dir>/master.key`, created on first
    /// use by `doudi up` (a development key).
    pub key_file: Option<PathBuf>,
    pub tls: InnerTlsConfig,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PolicyConfig {
    /// A policy file replacing the reference policy that ships in the binary.
    pub file: Option<PathBuf>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ServerConfig {
    /// A request running longer is cancelled (DEADLINE/CANCELLED to the caller).
    pub request_timeout_ms: u64,
    /// Requests in flight per service; beyond it new requests are shed at once.
    pub concurrency_limit: usize,
    /// How long a stopping service lets requests in flight finish.
    pub shutdown_grace_ms: u64,
}

/// `Debug` shows the database URL without its password.
#[derive(Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ServiceConfig {
    pub listen: SocketAddr,
    /// `sqlite://PATH` or `postgres://…`. Default: `sqlite://<data_dir>/<service>.db`.
    pub database_url: Option<String>,
    /// Connections for reads (SQLite writes always use one connection).
    pub max_connections: u32,
    /// The gateway's public gRPC port only (`gateway.tls`): TLS when given a certificate. The
    /// inner services take theirs from `security.tls`.
    pub tls: PublicTlsConfig,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            data_dir: PathBuf::from("data"),
            log: LogConfig::default(),
            security: SecurityConfig::default(),
            policy: PolicyConfig::default(),
            server: ServerConfig::default(),
            eligibility: ServiceConfig::on_port(50052),
            settlement: ServiceConfig::on_port(50053),
            gateway: ServiceConfig::on_port(50051),
            payment: PaymentConfig::default(),
            relief: ServiceConfig::on_port(50054),
            http: HttpConfig::default(),
            hospital_access: HospitalAccessConfig::default(),
            upstream: UpstreamConfig::default(),
        }
    }
}

impl Default for LogConfig {
    fn default() -> Self {
        Self { format: LogFormat::Plain, filter: "info".into() }
    }
}

impl Default for HttpConfig {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            max_body_bytes: 64 * 1024,
            tls: PublicTlsConfig::default(),
        }
    }
}

impl Default for HospitalAccessConfig {
    fn default() -> Self {
        Self {
            requests_per_second: 200,
            burst: 400,
            key_cache_ms: 500,
            quotes_per_second: 1,
            quote_burst: 100,
            failed_keys_per_second: 5,
            failed_key_burst: 20,
        }
    }
}

impl Default for UpstreamConfig {
    fn default() -> Self {
        Self {
            eligibility_url: None,
            settlement_url: None,
            payment_url: None,
            payment_deadline_ms: 5_000,
            eligibility_deadline_ms: 1_000,
            settlement_deadline_ms: 5_000,
        }
    }
}

/// `https://ADDR` (every inner hop is TLS), with an unspecified address (0.0.0.0) replaced by
/// loopback.
pub fn local_url(addr: SocketAddr) -> String {
    let host = if addr.ip().is_unspecified() { std::net::IpAddr::from([127, 0, 0, 1]) } else { addr.ip() };
    format!("https://{}", SocketAddr::new(host, addr.port()))
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self { request_timeout_ms: 10_000, concurrency_limit: 1024, shutdown_grace_ms: 10_000 }
    }
}

impl std::fmt::Debug for SecurityConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SecurityConfig")
            .field("master_key", &self.master_key.as_ref().map(|_| "(redacted)"))
            .field("key_file", &self.key_file)
            .field("tls", &self.tls)
            .finish()
    }
}

impl Default for PaymentConfig {
    fn default() -> Self {
        let port = ServiceConfig::on_port(50055);
        Self {
            listen: port.listen,
            database_url: None,
            max_connections: port.max_connections,
            insurer_account: None,
            insurer_name: "basic medical insurance fund".into(),
            statements_dir: None,
            debtor_name: "county civil affairs bureau".into(),
            funds: std::collections::BTreeMap::new(),
            csv_columns: "instruction_id,payee_name,account,amount_yuan,purpose".into(),
        }
    }
}

impl PaymentConfig {
    /// The part every service has.
    pub fn service(&self) -> ServiceConfig {
        ServiceConfig {
            listen: self.listen,
            database_url: self.database_url.clone(),
            max_connections: self.max_connections,
            tls: PublicTlsConfig::default(),
        }
    }
}

impl std::fmt::Debug for PaymentConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PaymentConfig")
            .field("listen", &self.listen)
            .field("database_url", &self.database_url.as_deref().map(redact_url))
            .field("max_connections", &self.max_connections)
            .field("insurer_account", &self.insurer_account.as_deref().map(doudi_core::pii::mask_account))
            .field("insurer_name", &self.insurer_name)
            .field("statements_dir", &self.statements_dir)
            .field("debtor_name", &self.debtor_name)
            .field("funds", &self.funds)
            .field("csv_columns", &self.csv_columns)
            .finish()
    }
}

impl std::fmt::Debug for ServiceConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServiceConfig")
            .field("listen", &self.listen)
            .field("database_url", &self.database_url.as_deref().map(redact_url))
            .field("max_connections", &self.max_connections)
            .field("tls", &self.tls)
            .finish()
    }
}

/// A URL as it may be shown: `scheme://user:***@host/…` (no password), otherwise unchanged.
pub fn redact_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else { return url.to_owned() };
    let (authority, path) = rest.split_once('/').map_or((rest, None), |(a, p)| (a, Some(p)));
    let Some((credentials, host)) = authority.rsplit_once('@') else { return url.to_owned() };
    let user = credentials.split_once(':').map_or(credentials, |(user, _)| user);
    let shown = if credentials.contains(':') { format!("{user}:***") } else { user.to_owned() };
    match path {
        Some(path) => format!("{scheme}://{shown}@{host}/{path}"),
        None => format!("{scheme}://{shown}@{host}"),
    }
}

impl ServiceConfig {
    pub fn on_port(port: u16) -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], port)),
            database_url: None,
            max_connections: 16,
            tls: PublicTlsConfig::default(),
        }
    }
}

impl Default for ServiceConfig {
    fn default() -> Self {
        Self::on_port(0)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config file {path}: {message}")]
    File { path: String, message: String },
    #[error("invalid config key `{key}`: {message}")]
    Key { key: String, message: String },
}

impl ConfigError {
    fn key(key: impl Into<String>, message: impl Into<String>) -> Self {
        Self::Key { key: key.into(), message: message.into() }
    }
}

impl Config {
    /// Defaults, then `file` if given, then the `DOUDI__…` variables of `env`, then validation.
    pub fn load(file: Option<&Path>, env: impl IntoIterator<Item = (String, String)>) -> Result<Self, ConfigError> {
        let mut tree = toml::Table::try_from(Config::default()).expect("defaults serialize");
        if let Some(path) = file {
            let file_error = |message: String| ConfigError::File { path: path.display().to_string(), message };
            let text = std::fs::read_to_string(path).map_err(|e| file_error(e.to_string()))?;
            let layer: toml::Table = text.parse().map_err(|e: toml::de::Error| file_error(e.to_string()))?;
            merge(&mut tree, layer);
        }
        for (name, value) in env {
            if let Some(path) = name.strip_prefix(ENV_PREFIX) {
                apply_env(&mut tree, path, &value)?;
            }
        }
        let config: Config = serde_path_to_error::deserialize(toml::Value::Table(tree)).map_err(|e| {
            let key = e.path().to_string();
            ConfigError::key(key, e.into_inner().to_string())
        })?;
        config.validate()?;
        Ok(config)
    }

    /// Loads from `file` and the process environment.
    pub fn from_env(file: Option<&Path>) -> Result<Self, ConfigError> {
        Self::load(file, std::env::vars())
    }

    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.server.request_timeout_ms == 0 {
            return Err(ConfigError::key("server.request_timeout_ms", "must be positive"));
        }
        if self.server.concurrency_limit == 0 {
            return Err(ConfigError::key("server.concurrency_limit", "must be positive"));
        }
        if let Some(key) = &self.security.master_key {
            crate::crypto::MasterKey::from_hex(key)
                .map_err(|e| ConfigError::key("security.master_key", e.to_string()))?;
        }
        for (name, service) in self.services() {
            if let Some(url) = &service.database_url
                && !(url.starts_with("sqlite:") || url.starts_with("postgres://") || url.starts_with("postgresql://"))
            {
                return Err(ConfigError::key(format!("{name}.database_url"), "must start with sqlite: or postgres://"));
            }
            if service.max_connections == 0 {
                return Err(ConfigError::key(format!("{name}.max_connections"), "must be positive"));
            }
        }
        let tls = &self.security.tls;
        let given = [&tls.ca_file, &tls.cert_file, &tls.key_file].iter().filter(|f| f.is_some()).count();
        if given != 0 && given != 3 {
            return Err(ConfigError::key("security.tls", "give ca_file, cert_file and key_file together, or none"));
        }
        for (fund, accounts) in &self.payment.funds {
            if let Some(account) = &accounts.account {
                doudi_core::pii::BankAccount::parse(account)
                    .map_err(|e| ConfigError::key(format!("payment.funds.{fund}.account"), e.to_string()))?;
            }
        }
        if let Some(account) = &self.payment.insurer_account {
            doudi_core::pii::BankAccount::parse(account)
                .map_err(|e| ConfigError::key("payment.insurer_account", e.to_string()))?;
        }
        for (key, public) in [("gateway.tls", &self.gateway.tls), ("http.tls", &self.http.tls)] {
            if public.cert_file.is_some() != public.key_file.is_some() {
                return Err(ConfigError::key(key, "give cert_file and key_file together, or neither"));
            }
        }
        for (key, inner) in [("eligibility.tls", &self.eligibility.tls), ("settlement.tls", &self.settlement.tls)] {
            if *inner != PublicTlsConfig::default() {
                return Err(ConfigError::key(key, "inner services take their certificate from security.tls"));
            }
        }
        for (key, value) in [
            ("http.max_body_bytes", self.http.max_body_bytes as u64),
            ("hospital_access.requests_per_second", u64::from(self.hospital_access.requests_per_second)),
            ("hospital_access.burst", u64::from(self.hospital_access.burst)),
            ("hospital_access.quotes_per_second", u64::from(self.hospital_access.quotes_per_second)),
            ("hospital_access.quote_burst", u64::from(self.hospital_access.quote_burst)),
            ("hospital_access.failed_keys_per_second", u64::from(self.hospital_access.failed_keys_per_second)),
            ("hospital_access.failed_key_burst", u64::from(self.hospital_access.failed_key_burst)),
            ("upstream.eligibility_deadline_ms", self.upstream.eligibility_deadline_ms),
            ("upstream.settlement_deadline_ms", self.upstream.settlement_deadline_ms),
            ("upstream.payment_deadline_ms", self.upstream.payment_deadline_ms),
        ] {
            if value == 0 {
                return Err(ConfigError::key(key, "must be positive"));
            }
        }
        for (key, url) in [
            ("upstream.eligibility_url", &self.upstream.eligibility_url),
            ("upstream.settlement_url", &self.upstream.settlement_url),
            ("upstream.payment_url", &self.upstream.payment_url),
        ] {
            if let Some(url) = url
                && !url.starts_with("https://")
            {
                return Err(ConfigError::key(key, "must start with https:// (every inner hop is mutual TLS)"));
            }
        }
        let services = self.services();
        if let Some((other, _)) = services.iter().find(|(_, s)| s.listen.port() != 0 && s.listen == self.http.listen) {
            return Err(ConfigError::key("http.listen", format!("same address as {other}.listen")));
        }
        for (i, (name, a)) in services.iter().enumerate() {
            if let Some((other, _)) = services[..i].iter().find(|(_, b)| a.listen.port() != 0 && b.listen == a.listen) {
                return Err(ConfigError::key(format!("{name}.listen"), format!("same address as {other}.listen")));
            }
        }
        Ok(())
    }

    pub fn services(&self) -> Vec<(&'static str, ServiceConfig)> {
        vec![
            ("eligibility", self.eligibility.clone()),
            ("settlement", self.settlement.clone()),
            ("gateway", self.gateway.clone()),
            ("payment", self.payment.service()),
            ("relief", self.relief.clone()),
        ]
    }

    /// The service's database URL: configured, or its SQLite file in the data directory.
    pub fn database_url(&self, service: &str, configured: &ServiceConfig) -> String {
        configured
            .database_url
            .clone()
            .unwrap_or_else(|| format!("sqlite://{}", self.data_dir.join(format!("{service}.db")).display()))
    }

    /// The policy in force: the county's file if configured, else the reference policy.
    pub fn policy(&self) -> Result<doudi_core::policy::PolicySet, ConfigError> {
        let Some(path) = &self.policy.file else { return Ok(doudi_core::policy::PolicySet::reference()) };
        let text = std::fs::read_to_string(path)
            .map_err(|e| ConfigError::key("policy.file", format!("cannot read {}: {e}", path.display())))?;
        doudi_core::policy::PolicySet::from_toml(&text)
            .map_err(|e| ConfigError::key("policy.file", format!("{}: {e}", path.display())))
    }

    pub fn eligibility_url(&self) -> String {
        self.upstream.eligibility_url.clone().unwrap_or_else(|| local_url(self.eligibility.listen))
    }

    pub fn settlement_url(&self) -> String {
        self.upstream.settlement_url.clone().unwrap_or_else(|| local_url(self.settlement.listen))
    }

    pub fn payment_url(&self) -> String {
        self.upstream.payment_url.clone().unwrap_or_else(|| local_url(self.payment.listen))
    }

    /// Where hospital statements and the insurer's lists are written.
    pub fn statements_dir(&self) -> PathBuf {
        self.payment.statements_dir.clone().unwrap_or_else(|| self.data_dir.join("statements"))
    }

    /// Where `doudi up` keeps the development CA and each service's certificate.
    pub fn dev_tls_dir(&self) -> PathBuf {
        self.data_dir.join("tls")
    }

    /// The TLS files of `service`: `security.tls` when configured, else the development layout.
    pub fn tls_files(&self, service: &str) -> crate::tls::TlsFiles {
        let tls = &self.security.tls;
        match (&tls.ca_file, &tls.cert_file, &tls.key_file) {
            (Some(ca), Some(cert), Some(key)) => {
                crate::tls::TlsFiles { ca_file: ca.clone(), cert_file: cert.clone(), key_file: key.clone() }
            }
            _ => crate::tls::TlsFiles::in_dir(&self.dev_tls_dir(), service),
        }
    }

    pub fn key_file(&self) -> PathBuf {
        self.security.key_file.clone().unwrap_or_else(|| self.data_dir.join("master.key"))
    }
}

fn merge(base: &mut toml::Table, layer: toml::Table) {
    for (key, value) in layer {
        match (base.get_mut(&key), value) {
            (Some(toml::Value::Table(base_table)), toml::Value::Table(layer_table)) => merge(base_table, layer_table),
            (_, value) => {
                base.insert(key, value);
            }
        }
    }
}

/// Sets `SECTION__KEY=value` in the tree. The value's type follows the default's: numbers and
/// booleans are parsed where the default is one, everything else stays text (a hex key that
/// happens to be all digits is still text).
fn apply_env(tree: &mut toml::Table, path: &str, raw: &str) -> Result<(), ConfigError> {
    let keys: Vec<String> = path.split("__").map(str::to_ascii_lowercase).collect();
    let dotted = keys.join(".");
    let (last, parents) = keys.split_last().ok_or_else(|| ConfigError::key(&dotted, "empty name"))?;
    let mut table = tree;
    for key in parents {
        let entry = table.entry(key.clone()).or_insert_with(|| toml::Value::Table(toml::Table::new()));
        table = entry.as_table_mut().ok_or_else(|| ConfigError::key(&dotted, format!("`{key}` is not a section")))?;
    }
    let value = match table.get(last) {
        Some(toml::Value::Integer(_)) => raw
            .trim()
            .parse()
            .map(toml::Value::Integer)
            .map_err(|_| ConfigError::key(&dotted, format!("{raw:?} is not a whole number")))?,
        Some(toml::Value::Boolean(_)) => raw
            .trim()
            .parse()
            .map(toml::Value::Boolean)
            .map_err(|_| ConfigError::key(&dotted, format!("{raw:?} is not true or false")))?,
        _ => toml::Value::String(raw.to_owned()),
    };
    table.insert(last.clone(), value);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn layers_apply_in_order() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("doudi.toml");
        std::fs::write(
            &file,
            "data_dir = \"/srv/doudi\"\n[server]\nconcurrency_limit = 7\n[eligibility]\nlisten = \"0.0.0.0:6000\"\n",
        )
        .unwrap();
        let config = Config::load(
            Some(&file),
            env(&[
                ("DOUDI__SERVER__CONCURRENCY_LIMIT", "9"),
                ("DOUDI__SECURITY__MASTER_KEY", &"1".repeat(64)),
                ("OTHER", "x"),
            ]),
        )
        .unwrap();
        assert_eq!(config.server.concurrency_limit, 9);
        assert_eq!(config.eligibility.listen.to_string(), "0.0.0.0:6000");
        assert_eq!(config.security.master_key.as_deref(), Some("1".repeat(64).as_str()));
        assert_eq!(config.database_url("eligibility", &config.eligibility), "sqlite:///srv/doudi/eligibility.db");
    }

    #[test]
    fn shipped_config_files_load() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../deploy");
        for file in ["doudi.example.toml", "kubernetes/base/doudi.toml"] {
            let config = Config::load(Some(&root.join(file)), env(&[])).unwrap_or_else(|e| panic!("{file}: {e}"));
            assert_eq!(config.upstream.settlement_deadline_ms, 5_000, "{file}");
        }
        let defaults = Config::default();
        assert_eq!(defaults.eligibility_url(), "https://127.0.0.1:50052");
        assert_eq!(local_url("0.0.0.0:50053".parse().unwrap()), "https://127.0.0.1:50053");
        assert_eq!(defaults.tls_files("settlement").cert_file, Path::new("data/tls/settlement.crt"));
    }

    #[test]
    fn secrets_are_redacted_wherever_the_configuration_is_shown() {
        let key = "ab".repeat(32);
        let url = "postgres://doudi:s3cret@db:5432/eligibility?sslmode=require";
        let config = Config::load(
            None,
            env(&[("DOUDI__SECURITY__MASTER_KEY", &key), ("DOUDI__ELIGIBILITY__DATABASE_URL", url)]),
        )
        .unwrap();
        let shown = format!("{config:?}");
        assert!(!shown.contains(&key) && !shown.contains("s3cret"), "{shown}");
        assert!(shown.contains("postgres://doudi:***@db:5432/eligibility?sslmode=require"), "{shown}");
        assert_eq!(redact_url("postgres://doudi@db/x"), "postgres://doudi@db/x");
        assert_eq!(redact_url("sqlite://data/eligibility.db"), "sqlite://data/eligibility.db");
        assert_eq!(redact_url("postgres://u:p@ss@h/x"), "postgres://u:***@h/x");
    }

    #[test]
    fn errors_name_the_key() {
        let err = Config::load(None, env(&[("DOUDI__ELIGIBILITY__LISTEN", "nowhere")])).unwrap_err().to_string();
        assert!(err.contains("`eligibility.listen`"), "{err}");
        let err = Config::load(None, env(&[("DOUDI__SERVER__REQUEST_TIMEOUT_MS", "soon")])).unwrap_err().to_string();
        assert!(err.contains("`server.request_timeout_ms`"), "{err}");
        let err = Config::load(None, env(&[("DOUDI__SERVER__REQUEST_TIMEOUT_MS", "0")])).unwrap_err().to_string();
        assert!(err.contains("`server.request_timeout_ms`: must be positive"), "{err}");
        let err =
            Config::load(None, env(&[("DOUDI__ELIGIBILITY__DATABASE_URL", "mysql://x")])).unwrap_err().to_string();
        assert!(err.contains("`eligibility.database_url`"), "{err}");
        let err = Config::load(None, env(&[("DOUDI__SERVER__NO_SUCH_KEY", "1")])).unwrap_err().to_string();
        assert!(err.contains("no_such_key"), "{err}");
        let err = Config::load(None, env(&[("DOUDI__SECURITY__TLS__CA_FILE", "/ca.crt")])).unwrap_err().to_string();
        assert!(err.contains("`security.tls`"), "{err}");
        let err = Config::load(None, env(&[("DOUDI__HTTP__TLS__CERT_FILE", "/h.crt")])).unwrap_err().to_string();
        assert!(err.contains("`http.tls`"), "{err}");
        let err =
            Config::load(None, env(&[("DOUDI__UPSTREAM__ELIGIBILITY_URL", "http://e:50052")])).unwrap_err().to_string();
        assert!(err.contains("`upstream.eligibility_url`"), "{err}");
        let err = Config::load(None, env(&[("DOUDI__SECURITY__MASTER_KEY", "abc")])).unwrap_err().to_string();
        assert!(err.contains("`security.master_key`"), "{err}");
    }
}
