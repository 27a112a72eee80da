//! The commands that inspect the suite rather than change it: the audit chains and their
//! anchors, every invariant of the databases (`doudi check`), and the access log.

use crate::commands::{eligibility, hospitals, settlement};
use anyhow::{Context, Result, bail};
use doudi_runtime::audit::{self, ChainReport};
use doudi_runtime::sealing;
use doudi_runtime::{Config, Storage};

/// The audit chain of every service: (name, its database, its cipher), in a fixed order.
async fn chains(config: &Config) -> Result<Vec<(&'static str, doudi_runtime::Storage)>> {
    let eligibility = eligibility(config).await?;
    let settlement = settlement(config).await?;
    let hospitals = hospitals(config).await?;
    let payment = crate::payments::payment_admin(config).await?;
    let relief = crate::payments::relief_admin(config).await?;
    Ok(vec![
        ("eligibility", Storage::clone(eligibility.store())),
        ("settlement", Storage::clone(settlement.store())),
        ("gateway", Storage::clone(&hospitals)),
        ("payment", Storage::clone(payment.store())),
        ("relief", Storage::clone(relief.store())),
    ])
}

/// `doudi audit verify [--expect SERVICE:SEQ:DIGEST …]`: every chain intact, and holding the
/// anchors written down earlier (`doudi audit head`).
pub async fn audit_verify(config: &Config, expect: &[String]) -> Result<()> {
    let mut anchors: Vec<(String, audit::Anchor)> = Vec::new();
    for text in expect {
        let (service, anchor) = text.split_once(':').context("--expect is SERVICE:SEQ:DIGEST")?;
        let anchor = anchor.parse::<audit::Anchor>().map_err(|e| anyhow::anyhow!("--expect {text}: {e}"))?;
        anchors.push((service.to_owned(), anchor));
    }
    let chains = chains(config).await?;
    if let Some((unknown, _)) = anchors.iter().find(|(s, _)| !chains.iter().any(|(name, _)| name == s)) {
        bail!("--expect names {unknown}, which has no audit chain (eligibility, settlement, gateway, payment, relief)");
    }
    let mut broken = None;
    for (name, storage) in &chains {
        let mut report = audit::verify(storage.db().reads(), storage.cipher()).await?;
        for (_, anchor) in anchors.iter().filter(|(s, _)| s == name) {
            if matches!(report, ChainReport::Intact { .. }) {
                report = audit::verify_against(storage.db().reads(), storage.cipher(), Some(anchor)).await?;
            }
        }
        match report {
            ChainReport::Intact { records } => println!("{name}: audit chain intact ({records} records)"),
            ChainReport::Broken { seq, reason } => {
                broken.get_or_insert(format!("{name}: audit record {seq} is tampered: {reason}"));
            }
        }
    }
    for (_, storage) in &chains {
        storage.db().close().await;
    }
    match broken {
        Some(message) => bail!(message),
        None => Ok(()),
    }
}

/// `doudi audit head`: each chain's last record as `SERVICE:SEQ:DIGEST`, to keep elsewhere.
pub async fn audit_head(config: &Config) -> Result<()> {
    let chains = chains(config).await?;
    for (name, storage) in &chains {
        let head = audit::head(storage.db().reads()).await?;
        println!("{name}:{}:{}", head.seq, head.mac);
    }
    for (_, storage) in &chains {
        storage.db().close().await;
    }
    Ok(())
}

/// Fails naming the rows whose personal data does not open where it is (a ciphertext copied from
/// another row, tampered, or sealed under another key).
fn report_misplaced(service: &str, misplaced: &[(String, String)]) -> Result<()> {
    if let Some((place, row)) = misplaced.first() {
        let rows: Vec<String> = misplaced.iter().take(5).map(|(p, r)| format!("{p} row {r}")).collect();
        bail!(
            "{service}: {} sealed values do not open where they are (copied from another row, or tampered); first: {place} row {row}; {}",
            misplaced.len(),
            rows.join(", ")
        );
    }
    Ok(())
}

pub async fn check(config: &Config) -> Result<()> {
    let policy = config.policy()?;
    println!("policy: ok ({} versions)", policy.versions().len());
    let service = eligibility(config).await?;
    let store = service.store();
    let chain = audit::verify(store.db().reads(), store.cipher()).await?;
    let registry = store.first_registry_violation().await?;
    let (households, persons, periods) = store.counts().await?;
    let misplaced =
        sealing::misplaced_all(store.db(), store.cipher(), &doudi_eligibility::store::SEALED_COLUMNS).await?;
    store.db().close().await;
    report_misplaced("eligibility", &misplaced)?;
    if let ChainReport::Broken { seq, reason } = chain {
        bail!("eligibility: audit record {seq} is tampered: {reason}");
    }
    if let Some(violation) = registry {
        bail!("eligibility: {violation}");
    }
    println!(
        "eligibility: ok ({households} households, {persons} persons, {periods} category periods; audit chain intact)"
    );
    let service = settlement(config).await?;
    let mismatches = service.store().accumulator_mismatches().await;
    let settlements = service.store().count_settlements().await;
    let chain = audit::verify(service.store().db().reads(), service.store().cipher()).await;
    let sealed = &doudi_settlement::store::SEALED_COLUMNS;
    let misplaced = sealing::misplaced_all(service.store().db(), service.store().cipher(), sealed).await?;
    service.store().db().close().await;
    report_misplaced("settlement", &misplaced)?;
    if let ChainReport::Broken { seq, reason } = chain? {
        bail!("settlement: audit record {seq} is tampered: {reason}");
    }
    let mismatches = mismatches?;
    if let Some(m) = mismatches.first() {
        bail!(
            "settlement: {} accumulator rows differ from the settled bills behind them; first: person {}…, year {}: stored {:?}, bills {:?}",
            mismatches.len(),
            &m.person_key[..12],
            m.year,
            m.stored,
            m.from_bills
        );
    }
    println!(
        "settlement: ok ({} settlements; every accumulator equals the sum of its settled bills; audit chain intact)",
        settlements?
    );
    let store = hospitals(config).await?;
    let chain = audit::verify(store.db().reads(), store.cipher()).await;
    let sealed = [doudi_gateway::hospitals::store::HOSPITAL_ACCOUNT];
    let misplaced = sealing::misplaced_all(store.db(), store.cipher(), &sealed).await?;
    store.db().close().await;
    report_misplaced("gateway", &misplaced)?;
    if let ChainReport::Broken { seq, reason } = chain? {
        bail!("gateway: audit record {seq} is tampered: {reason}");
    }
    println!("gateway: ok (audit chain intact)");
    let service = crate::payments::payment_admin(config).await?;
    let store = service.store();
    let problems = store.ledger_problems().await;
    let chain = audit::verify(store.db().reads(), store.cipher()).await;
    let misplaced = sealing::misplaced_all(store.db(), store.cipher(), &doudi_payment::store::SEALED_COLUMNS).await;
    store.db().close().await;
    report_misplaced("payment", &misplaced?)?;
    if let ChainReport::Broken { seq, reason } = chain? {
        bail!("payment: audit record {seq} is tampered: {reason}");
    }
    if let Some(first) = problems?.first() {
        bail!("payment: {first}");
    }
    println!(
        "payment: ok (every ledger balance equals its transfers, debits equal credits, no fund overdrawn; audit chain intact)"
    );
    let service = crate::payments::relief_admin(config).await?;
    let store = service.store();
    let problems = store.problems().await;
    let chain = audit::verify(store.db().reads(), store.cipher()).await;
    let misplaced = sealing::misplaced_all(store.db(), store.cipher(), &doudi_relief::store::SEALED_COLUMNS).await;
    store.db().close().await;
    report_misplaced("relief", &misplaced?)?;
    if let ChainReport::Broken { seq, reason } = chain? {
        bail!("relief: audit record {seq} is tampered: {reason}");
    }
    if let Some(first) = problems?.first() {
        bail!("{first}");
    }
    println!("relief: ok (each budget, household year and case granted what its grants sum to; audit chain intact)");
    Ok(())
}

/// `doudi status`: what waits to be delivered or paid.
pub async fn status(config: &Config) -> Result<()> {
    let service = settlement(config).await?;
    let backlog = service.store().outbox_backlog().await;
    service.store().db().close().await;
    let backlog = backlog?;
    let age = backlog.oldest_created_at.as_deref().map_or_else(|| "-".to_owned(), age_of);
    println!("settlement outbox: {} waiting, oldest {age}", backlog.waiting);
    let relief = crate::payments::relief_admin(config).await?;
    let relief_backlog = relief.store().outbox_backlog().await;
    relief.store().db().close().await;
    let (waiting, oldest) = relief_backlog?;
    let age = oldest.as_deref().map_or_else(|| "-".to_owned(), age_of);
    println!("relief outbox: {waiting} grant(s) waiting for the payment service, oldest {age}");
    let service = crate::payments::payment_admin(config).await?;
    let held = service.store().held_summary().await;
    let open = service.store().open_payables().await;
    let bank = service.bank_waiting().await;
    service.store().db().close().await;
    let bank = bank?;
    for (id, batch_ref, made, awaiting) in &bank.batches {
        println!(
            "payment: batch {id} ({batch_ref}, sent {made}): {awaiting} transfer(s) await the bank's answer: doudi bank import FILE"
        );
    }
    let households = bank.unpaid_failures.count - bank.other_failures.count;
    if households > 0 {
        println!(
            "payment: {households} household payment(s) rejected or returned by the bank ({} fen) await a corrected account; the next export re-issues them",
            bank.unpaid_failures.fen - bank.other_failures.fen
        );
    }
    if bank.other_failures.count > 0 {
        println!(
            "payment: {} payment(s) to hospitals, the insurer or relief accounts rejected or returned ({} fen): see doudi bank reconcile",
            bank.other_failures.count, bank.other_failures.fen
        );
    }
    for p in open? {
        println!(
            "payment: {} payable(s) of {} for {} not yet closed ({} fen): doudi payables close --period {}",
            p.entries, p.hospital_code, p.month, p.assistance_fen, p.month
        );
    }
    for (fund, year, count, fen) in held? {
        println!("payment: {count} instruction(s) HELD on {fund} {year} ({fen} fen): raise the budget to release them");
    }
    Ok(())
}

/// How long ago an RFC 3339 UTC instant was, in seconds.
fn age_of(at: &str) -> String {
    let now = doudi_runtime::now_rfc3339();
    let seconds = |t: &str| -> Option<i64> {
        let date: doudi_core::Date = t.get(..10)?.parse().ok()?;
        let (h, m, s) = (
            t.get(11..13)?.parse::<i64>().ok()?,
            t.get(14..16)?.parse::<i64>().ok()?,
            t.get(17..19)?.parse::<i64>().ok()?,
        );
        Some(date.days_since_epoch() * 86_400 + h * 3600 + m * 60 + s)
    };
    match (seconds(&now), seconds(at)) {
        (Some(n), Some(a)) => format!("{} s ago ({at})", n - a),
        _ => at.to_owned(),
    }
}

/// Whose reads `doudi access-log` lists.
#[derive(Debug)]
pub enum AccessOf {
    Person(String),
    Hospital(String),
}

pub async fn access_log(config: &Config, whom: AccessOf, from: Option<&str>, to: Option<&str>) -> Result<()> {
    let day = |flag: &str, text: Option<&str>, default: doudi_core::Date| match text {
        Some(text) => text.parse::<doudi_core::Date>().map_err(|e| anyhow::anyhow!("--{flag} {text:?}: {e}")),
        None => Ok(default),
    };
    let from = day("from", from, doudi_core::Date::from_days_since_epoch(0))?;
    let to = day("to", to, doudi_core::Date::today_china())?;
    let service = settlement(config).await?;
    let lines = match &whom {
        AccessOf::Person(text) => {
            let id = doudi_core::NationalId::parse_on(text.trim(), doudi_core::Date::today_china())
                .map_err(|e| anyhow::anyhow!("--person: {e}"));
            match id {
                Ok(id) => service.store().access_by_person(&id, from, to).await,
                Err(e) => {
                    service.store().db().close().await;
                    return Err(e);
                }
            }
        }
        AccessOf::Hospital(code) => service.store().access_by_hospital(code.trim(), from, to).await,
    };
    service.store().db().close().await;
    for line in lines? {
        println!("{}", serde_json::to_string(&line)?);
    }
    Ok(())
}
