//! The admin commands. Each acts directly on the databases of the suite that `--data-dir` or
//! `--config` names, whether the suite is running or not; a running suite sees the change at
//! once because it reads the same databases.

use anyhow::{Context, Result, bail};
use doudi_eligibility::EligibilityError;
use doudi_eligibility::EligibilityService;
use doudi_eligibility::registry::ops::ImportSource;
use doudi_eligibility::staff::rules::Role;
use doudi_gateway::hospitals::HospitalStore;
use doudi_runtime::Config;
use doudi_runtime::crypto::{MasterKey, PiiCipher};
use doudi_settlement::SettlementService;
use std::path::Path;

pub fn load_config(file: Option<&Path>, data_dir: Option<&Path>) -> Result<Config> {
    let mut config = Config::from_env(file)?;
    if let Some(dir) = data_dir {
        config.data_dir = dir.to_path_buf();
    }
    Ok(config)
}

/// The master key from config, or the key file (by default the one `doudi up` created).
pub fn cipher(config: &Config, create_if_missing: bool) -> Result<PiiCipher> {
    let key = match &config.security.master_key {
        Some(hex) => MasterKey::from_hex(hex)?,
        None => {
            let path = config.key_file();
            if create_if_missing {
                MasterKey::load_or_create(&path)?
            } else if path.exists() {
                MasterKey::load(&path)?
            } else {
                bail!(
                    "no master key: {} does not exist. Set DOUDI__SECURITY__MASTER_KEY or security.key_file, \
                     or run `doudi up --data-dir {}` once to create a development key",
                    path.display(),
                    config.data_dir.display()
                );
            }
        }
    };
    Ok(PiiCipher::new(&key))
}

/// The key of a service deployed on its own (`doudi serve`): given in the configuration, or a
/// key file outside the data directory, so that a backup of the data never carries its key.
/// (`doudi up` keeps a development key in the data directory, and says so.)
pub fn serving_cipher(config: &Config) -> Result<PiiCipher> {
    if config.security.master_key.is_none() {
        let key_file = config.key_file();
        if key_is_in_data_dir(config) {
            bail!(
                "the master key file {} is inside the data directory {}: a backup of the data would carry its key. \
                 Keep it elsewhere (security.key_file) or give it in DOUDI__SECURITY__MASTER_KEY; only `doudi up` \
                 keeps a development key there",
                key_file.display(),
                config.data_dir.display()
            );
        }
    }
    cipher(config, false)
}

/// Whether the key file lies in the data directory (compared as the paths resolve).
pub fn key_is_in_data_dir(config: &Config) -> bool {
    let resolve =
        |p: &Path| std::fs::canonicalize(p).unwrap_or_else(|_| std::path::absolute(p).unwrap_or(p.to_path_buf()));
    let key_file = config.key_file();
    let dir = key_file.parent().map(resolve).unwrap_or_default();
    dir.starts_with(resolve(&config.data_dir))
}

pub async fn eligibility(config: &Config) -> Result<EligibilityService> {
    open_eligibility(config, cipher(config, false)?).await
}

pub async fn open_eligibility(config: &Config, cipher: PiiCipher) -> Result<EligibilityService> {
    doudi_eligibility::open(config, cipher).await.context("opening the eligibility database")
}

/// The settlement database for an admin command (no call to other services).
pub async fn settlement(config: &Config) -> Result<SettlementService> {
    doudi_settlement::open_for_admin(config, cipher(config, false)?).await.context("opening the settlement database")
}

pub async fn open_settlement(
    config: &Config,
    cipher: PiiCipher,
    identity: &doudi_runtime::tls::TlsIdentity,
) -> Result<SettlementService> {
    doudi_settlement::open(config, cipher, &config.eligibility_url(), identity)
        .await
        .context("opening the settlement database")
}

pub async fn hospitals(config: &Config) -> Result<HospitalStore> {
    open_hospitals(config, cipher(config, false)?).await
}

pub async fn open_hospitals(config: &Config, cipher: PiiCipher) -> Result<HospitalStore> {
    doudi_gateway::open_hospitals(config, cipher).await.context("opening the gateway database")
}

/// `doudi hospital add`: the new key is the last word of the output, printed once.
pub async fn hospital_add(config: &Config, code: &str, name: &str, level: &str, account: Option<&str>) -> Result<()> {
    let store = hospitals(config).await?;
    let key = store.add(code, name, level, account, &actor()).await;
    store.db().close().await;
    let key = key?;
    // The payment service pays the hospital's medical assistance into this account.
    if let Some(account) = account {
        let account = doudi_core::pii::BankAccount::parse(account).context("--account")?;
        let service = crate::payments::payment_admin(config).await?;
        let set = service.set_payee_account(doudi_payment::funds::PayeeKind::Hospital, code, name, &account).await;
        service.store().db().close().await;
        set?;
    }
    println!("hospital {code} added ({level}); its API key, shown only now: {key}");
    Ok(())
}

pub async fn hospital_rotate_key(config: &Config, code: &str) -> Result<()> {
    let store = hospitals(config).await?;
    let key = store.rotate_key(code, &actor()).await;
    store.db().close().await;
    let key = key?;
    println!("hospital {code}: the old key no longer works; the new API key, shown only now: {key}");
    Ok(())
}

pub async fn hospital_revoke(config: &Config, code: &str) -> Result<()> {
    let store = hospitals(config).await?;
    let revoked = store.revoke(code, &actor()).await;
    store.db().close().await;
    revoked?;
    println!("hospital {code}: API key revoked (`doudi hospital rotate-key` issues a new one)");
    Ok(())
}

/// Records the year's premium subsidies (policy.md) for every person the registry lists for it;
/// running it again records only who is missing.
pub async fn premium_subsidy(config: &Config, year: i32) -> Result<()> {
    let service = eligibility(config).await?;
    let persons = service.premium_subsidy_persons(year).await;
    service.store().db().close().await;
    let persons = persons?;
    let entries: Vec<(String, Option<doudi_core::Category>)> =
        persons.iter().map(|p| (p.national_id.clone(), Some(p.category))).collect();
    let service = settlement(config).await?;
    let summary = service.record_premium_subsidies(year, &entries, &actor()).await;
    service.store().db().close().await;
    let summary = summary?;
    println!(
        "premium subsidies {year} (policy {}): {} persons held a category; {} recorded now ({} yuan), {} recorded before",
        summary.policy_version,
        persons.len(),
        summary.recorded,
        summary.recorded_fen,
        summary.already_recorded
    );
    Ok(())
}

pub async fn staff_add(
    config: &Config,
    name: &str,
    county: bool,
    township: Option<&str>,
    valid_days: u16,
) -> Result<()> {
    let name = name.trim();
    if name.is_empty() || name.chars().count() > 64 {
        bail!("--name must be 1 to 64 characters");
    }
    let (role, township) = match (county, township.map(str::trim)) {
        (true, None) => (Role::County, None),
        (true, Some(_)) => bail!("county staff act on every township: leave out --township"),
        (false, Some(t)) if !t.is_empty() => (Role::Township, Some(t)),
        (false, _) => bail!("township staff need --township NAME"),
    };
    let service = eligibility(config).await?;
    let expires_on = doudi_core::Date::today_china().add_days(i64::from(valid_days));
    let added = service.store().add_staff(name, role, township, expires_on, &actor()).await;
    service.store().db().close().await;
    let (id, token) = added?;
    let scope = township.map_or_else(|| "every township".to_owned(), |t| format!("township {t}"));
    println!(
        "staff {id} ({name}, {}) added for {scope}, valid until {expires_on}; their token, shown only now: {token}",
        role.as_str()
    );
    Ok(())
}

pub async fn staff_list(config: &Config) -> Result<()> {
    let service = eligibility(config).await?;
    let staff = service.store().staff_list().await;
    service.store().db().close().await;
    for line in staff? {
        println!("{}", serde_json::to_string(&line)?);
    }
    Ok(())
}

pub async fn staff_revoke(config: &Config, id: i64) -> Result<()> {
    let service = eligibility(config).await?;
    let found = service.store().revoke_staff(id, &actor()).await;
    service.store().db().close().await;
    if !found? {
        bail!("staff {id} not found");
    }
    println!("staff {id}: token withdrawn");
    Ok(())
}

pub async fn match_poverty(config: &Config, file: &Path) -> Result<()> {
    let text = read_text(file)?;
    let service = eligibility(config).await?;
    let outcome = service.match_poverty(&text, &actor()).await;
    service.store().db().close().await;
    let m = match outcome {
        Ok(m) => m,
        Err(EligibilityError::ImportRows(errors)) => {
            for error in &errors {
                eprintln!("{error}");
            }
            bail!("{}: {} invalid rows; nothing was changed", file.display(), errors.len());
        }
        Err(EligibilityError::ImportFile(error)) => bail!("{}: {error}", file.display()),
        Err(e) => return Err(e).context("matching failed; nothing was changed"),
    };
    println!("registered poor: {} persons marked now, {} already marked", m.marked, m.already);
    for (line, id) in &m.unknown {
        println!("line {line}: {id} is not in the registry (not marked)");
    }
    for (line, id, household) in &m.moved {
        println!("line {line}: {id} is registered in household {household}, not the one listed");
    }
    println!("registered-poor households without dibao (candidates for an assessment): {}", m.poor_without_dibao.len());
    for household in &m.poor_without_dibao {
        println!("  {household}");
    }
    println!("dibao households not registered as poor: {}", m.dibao_not_registered_poor.len());
    for household in &m.dibao_not_registered_poor {
        println!("  {household}");
    }
    Ok(())
}

pub async fn notice_list(config: &Config, township: &str, village: &str, on: Option<&str>) -> Result<()> {
    let day = match on {
        Some(text) => text.parse::<doudi_core::Date>().map_err(|e| anyhow::anyhow!("--on {text:?}: {e}"))?,
        None => doudi_core::Date::today_china(),
    };
    let service = eligibility(config).await?;
    let notice = service.notice_list(township, village, day).await;
    service.store().db().close().await;
    let notice = notice?;
    println!("{}", serde_json::to_string_pretty(&notice)?);
    Ok(())
}

pub async fn benefit_roll(config: &Config, month: &str) -> Result<()> {
    let policy = config.policy()?;
    let first_day = doudi_eligibility::roll::ops::parse_month(month)?;
    let service = eligibility(config).await?;
    let roll = service.benefit_roll(&policy, first_day).await;
    service.store().db().close().await;
    let roll = roll?;
    println!("{}", serde_json::to_string_pretty(&roll)?);
    Ok(())
}

/// A county's file (CSV) as text.
fn read_text(file: &Path) -> Result<String> {
    let bytes = std::fs::read(file).with_context(|| format!("cannot read {}", file.display()))?;
    String::from_utf8(bytes).with_context(|| format!("{} is not UTF-8 text", file.display()))
}

pub(crate) fn actor() -> String {
    format!("cli:{}", std::env::var("USER").unwrap_or_else(|_| "unknown".into()))
}

pub async fn registry_import(config: &Config, file: &Path, skip_invalid: bool) -> Result<()> {
    std::fs::File::open(file).with_context(|| format!("cannot read {}", file.display()))?;
    let service = eligibility(config).await?;
    let name = file.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let source = ImportSource::File(file.to_owned());
    let outcome = service.import(source, &name, &actor(), skip_invalid).await;
    service.store().db().close().await;
    match outcome {
        Ok(outcome) => {
            for error in &outcome.skipped {
                println!("skipped {error}");
            }
            let s = &outcome.summary;
            println!(
                "imported {} (run {}): {} data lines; created {} households, {} persons, {} periods; {} changes; {} unchanged; {} skipped",
                file.display(),
                s.run_id,
                s.data_lines,
                s.households_created,
                s.persons_created,
                s.periods_created,
                s.changes,
                s.unchanged,
                s.skipped
            );
            Ok(())
        }
        Err(EligibilityError::ImportFile(error)) => bail!("{} not imported: {error}", file.display()),
        Err(EligibilityError::ImportRows(errors)) => {
            for error in &errors {
                eprintln!("{error}");
            }
            bail!(
                "{} not imported: {} invalid rows (nothing was changed; --skip-invalid imports the valid rows)",
                file.display(),
                errors.len()
            )
        }
        Err(e) => Err(e).context("import failed; nothing was changed"),
    }
}

pub async fn coverage(config: &Config, national_id: &str, on: Option<&str>) -> Result<()> {
    let service = eligibility(config).await?;
    let answer = service.coverage(national_id, on.unwrap_or("")).await;
    service.store().db().close().await;
    let answer = answer?;
    let response = doudi_eligibility::coverage::grpc::coverage_to_proto(answer);
    println!("{}", serde_json::to_string_pretty(&response)?);
    Ok(())
}

pub fn policy_show(config: &Config, on: Option<&str>, all: bool) -> Result<()> {
    let policy = config.policy()?;
    if all {
        println!("{}", serde_json::to_string_pretty(policy.versions())?);
        return Ok(());
    }
    let day = match on {
        Some(text) => text.parse::<doudi_core::Date>().map_err(|e| anyhow::anyhow!("--on {text:?}: {e}"))?,
        None => doudi_core::Date::today_china(),
    };
    let version = policy.in_force_on(day).ok_or_else(|| anyhow::anyhow!("no policy version is in force on {day}"))?;
    println!("{}", serde_json::to_string_pretty(version)?);
    Ok(())
}

/// `doudi tls issue`: a service certificate from the operator's CA (or the development one).
pub fn tls_issue(
    config: &Config,
    service: &str,
    out: &std::path::Path,
    ca_cert: Option<std::path::PathBuf>,
    ca_key: Option<std::path::PathBuf>,
    hosts: &[String],
) -> Result<()> {
    use doudi_runtime::access::service::ALL;
    use doudi_runtime::tls::{TlsFiles, mint};
    if !ALL.contains(&service) {
        anyhow::bail!("--service: {service} is not a service of the suite ({})", ALL.join(", "));
    }
    let ca_cert = ca_cert.unwrap_or_else(|| config.dev_tls_dir().join("ca.crt"));
    let ca_key = ca_key.unwrap_or_else(|| config.dev_tls_dir().join("ca.key"));
    let ca = mint::CertificateAuthority::load(&ca_cert, &ca_key).context("loading the CA")?;
    let identity = ca.issue(service, hosts)?;
    let files = TlsFiles::in_dir(out, service);
    mint::write_identity(&identity, &files)?;
    println!(
        "{service}: {} and {} (CA {})",
        files.cert_file.display(),
        files.key_file.display(),
        files.ca_file.display()
    );
    Ok(())
}

/// `doudi health`: SERVING or not, over server-side TLS trusting the suite's CA.
pub async fn health(config: &Config, addr: &str, service: &str) -> Result<()> {
    use tonic_health::pb::health_check_response::ServingStatus;
    use tonic_health::pb::{HealthCheckRequest, health_client::HealthClient};
    let ca_file = config.security.tls.ca_file.clone().unwrap_or_else(|| config.dev_tls_dir().join("ca.crt"));
    let ca = std::fs::read_to_string(&ca_file).with_context(|| format!("cannot read {}", ca_file.display()))?;
    let tls = tonic::transport::ClientTlsConfig::new().ca_certificate(tonic::transport::Certificate::from_pem(ca));
    let channel = tonic::transport::Endpoint::from_shared(format!("https://{addr}"))?
        .tls_config(tls)?
        .connect_timeout(std::time::Duration::from_secs(2))
        .timeout(std::time::Duration::from_secs(2))
        .connect()
        .await
        .with_context(|| format!("cannot reach {addr}"))?;
    let answer = HealthClient::new(channel).check(HealthCheckRequest { service: service.to_owned() }).await?;
    let status = answer.into_inner().status();
    anyhow::ensure!(status == ServingStatus::Serving, "{addr} {service}: {status:?}");
    println!("SERVING");
    Ok(())
}
