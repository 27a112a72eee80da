//! The payment commands: budgets, the monthly payroll (run, approve, explain), price indexes,
//! the closes of hospital payables and premium subsidies. Each opens the payment database
//! directly; the payroll reads the benefit roll from the running eligibility service as the
//! payment service's certificate (the one that receives accounts in full).

use crate::commands::{actor, cipher};
use anyhow::{Context, Result, anyhow};
use doudi_payment::PaymentService;
use doudi_payment::funds::{Fund, Month};
use doudi_payment::prices::PriceIndex;
use doudi_runtime::Config;

pub async fn payment(config: &Config) -> Result<PaymentService> {
    let identity = crate::suite::identity(config, doudi_payment::SERVICE_NAME)?;
    doudi_payment::open(config, cipher(config, false)?, &config.eligibility_url(), &identity)
        .await
        .context("opening the payment database")
}

/// The payment database alone, for commands that do not read the roll.
pub async fn payment_admin(config: &Config) -> Result<PaymentService> {
    doudi_payment::open_for_admin(config, cipher(config, false)?).await.context("opening the payment database")
}

/// The relief database alone, for commands that do not ask eligibility.
pub async fn relief_admin(config: &Config) -> Result<doudi_relief::ReliefService> {
    doudi_relief::open_for_admin(config, cipher(config, false)?).await.context("opening the relief database")
}

fn month(text: &str) -> Result<Month> {
    Month::parse(text).ok_or_else(|| anyhow!("--month must be YYYY-MM, not {text:?}"))
}

pub async fn budget_set(config: &Config, fund: &str, year: i64, fen: i64) -> Result<()> {
    let fund = Fund::parse(fund).ok_or_else(|| {
        let names: Vec<_> = Fund::ALL.iter().map(|f| f.as_str()).collect();
        anyhow!("--fund must be one of {}", names.join(", "))
    })?;
    let service = payment_admin(config).await?;
    let set = service.set_budget(fund, year, fen, &actor()).await;
    service.store().db().close().await;
    let set = set?;
    println!(
        "{fund} {year}: budget {} fen (was {}); {} held instruction(s) released",
        set.after, set.before, set.released
    );
    Ok(())
}

pub async fn relief_budget(config: &Config, year: i64, fen: i64) -> Result<()> {
    let relief =
        doudi_relief::open_for_admin(config, cipher(config, false)?).await.context("opening the relief database")?;
    let set = relief.set_budget(year, fen, &actor()).await;
    relief.store().db().close().await;
    let (before, after) = set?;
    // The grants relief makes are paid from the payment service's RELIEF fund: it gets the same
    // budget, so it never holds a grant that relief's own budget allowed.
    let payment = payment_admin(config).await?;
    let mirrored = payment.set_budget(Fund::Relief, year, fen, &actor()).await;
    payment.store().db().close().await;
    mirrored?;
    println!(
        "relief {year}: budget {} fen (was {}), {} fen granted, {} fen available; the payment service's RELIEF fund set alike",
        after.budget_fen,
        before.budget_fen,
        after.granted_fen,
        after.available_fen()
    );
    Ok(())
}

pub async fn payroll_run(config: &Config, run: &str) -> Result<()> {
    let run = month(run)?;
    let service = payment(config).await?;
    let summary = service.run_payroll(run, &actor()).await;
    service.store().db().close().await;
    let summary = summary?;
    println!("{}", serde_json::to_string_pretty(&summary)?);
    println!(
        "payroll {run}: {} instruction(s), {} fen ({} arrears, {} fen); {} overpayment(s) recorded ({} fen), {} fen withheld; {} held for want of budget. DRAFT until `doudi payroll approve --month {run}`.",
        summary.instructions,
        summary.paid_fen,
        summary.arrears,
        summary.arrears_fen,
        summary.overpayments,
        summary.overpaid_fen,
        summary.withheld_fen,
        summary.held
    );
    Ok(())
}

pub async fn payroll_approve(config: &Config, run: &str) -> Result<()> {
    let run = month(run)?;
    let service = payment_admin(config).await?;
    let approved = service.approve_payroll(run, &actor()).await;
    service.store().db().close().await;
    let (approved, fen, held) = approved?;
    println!("payroll {run}: {approved} instruction(s) approved ({fen} fen); {held} still held for want of budget");
    Ok(())
}

pub async fn payroll_explain(config: &Config, household: &str, of: &str) -> Result<()> {
    let of = month(of)?;
    let service = payment(config).await?;
    let explained = service.explain(household, of).await;
    service.store().db().close().await;
    println!("{}", serde_json::to_string_pretty(&explained?)?);
    Ok(())
}

pub async fn prices_record(config: &Config, of: &str, cpi_bp: i64, food_bp: i64) -> Result<()> {
    let of = month(of)?;
    let service = payment_admin(config).await?;
    let before = service.record_price_index(of, PriceIndex { cpi_bp, food_bp }, &actor()).await;
    service.store().db().close().await;
    match before? {
        Some(b) => {
            println!("{of}: CPI {cpi_bp} bp, food {food_bp} bp (was CPI {} bp, food {} bp)", b.cpi_bp, b.food_bp)
        }
        None => println!("{of}: CPI {cpi_bp} bp, food {food_bp} bp recorded"),
    }
    Ok(())
}

pub async fn payables_close(config: &Config, period: &str) -> Result<()> {
    let period = Month::parse(period).ok_or_else(|| anyhow!("--period must be YYYY-MM"))?;
    let service = payment_admin(config).await?;
    let closed = service.close_payables(period, &config.statements_dir(), &actor()).await;
    service.store().db().close().await;
    let closed = closed?;
    let verb = if closed.closed_now { "closed" } else { "was already closed (nothing changed)" };
    println!("hospital payables {period} {verb}: {} hospital(s)", closed.hospitals.len());
    for h in &closed.hospitals {
        let paid = match h.instruction_id {
            Some(id) => format!("instruction {id}"),
            None => "nothing to pay".into(),
        };
        println!(
            "  {:<12} {:>5} entries {:>14} fen  {paid}  statement {}",
            h.hospital_code,
            h.entries,
            h.assistance_fen,
            h.statement.display()
        );
    }
    Ok(())
}

pub async fn premiums_close(config: &Config, year: i32) -> Result<()> {
    let service = payment_admin(config).await?;
    let closed = service.close_premiums(year, &config.statements_dir(), &actor()).await;
    service.store().db().close().await;
    let c = closed?;
    let verb = if c.closed_now { "closed" } else { "was already closed (nothing changed)" };
    println!(
        "premium subsidies {year} {verb}: {} persons, {} fen, instruction {}; list {}",
        c.persons,
        c.subsidy_fen,
        c.instruction_id.map_or("none".into(), |i| i.to_string()),
        c.list.display()
    );
    if c.recorded_after > 0 {
        println!(
            "  {} person(s) recorded after the close are not in this payment; they stay on record",
            c.recorded_after
        );
    }
    Ok(())
}

pub async fn bank_export(
    config: &Config,
    out: &std::path::Path,
    fund: Option<&str>,
    format: &str,
    batch: Option<i64>,
) -> Result<()> {
    let format = doudi_payment::bank::export::Format::parse(format)
        .ok_or_else(|| anyhow!("--format must be pain001 or csv, not {format:?}"))?;
    let fund = fund
        .map(|f| Fund::parse(&f.to_ascii_uppercase()).ok_or_else(|| anyhow!("--fund {f:?} is not a fund")))
        .transpose()?;
    if batch.is_none() {
        reissue_corrected(config).await?;
    }
    let service = payment_admin(config).await?;
    let done = match batch {
        Some(id) => service.rewrite_batch(id, out).await.map(Some),
        None => service.export_batch(out, fund, format, &actor()).await,
    };
    service.store().db().close().await;
    match done? {
        None => println!("nothing to send: no APPROVED instruction outside a batch"),
        Some(e) => {
            println!(
                "batch {} ({}): {} instruction(s), {} fen, written to {} (sha256 {})",
                e.batch_id,
                e.batch_ref,
                e.count,
                e.sum_fen,
                e.file.display(),
                e.sha256
            );
            if e.without_account > 0 {
                println!("  {} APPROVED instruction(s) have no account on file and were left out", e.without_account);
            }
        }
    }
    Ok(())
}

pub async fn bank_import(config: &Config, file: &std::path::Path) -> Result<()> {
    let service = payment_admin(config).await?;
    let imported = service.import_bank_file(file, &actor()).await;
    service.store().db().close().await;
    let i = imported?;
    match &i.imported_before {
        Some(at) => println!("{} {} (file {}) was imported at {at}: nothing changed", i.kind, i.message_id, i.file_id),
        None => println!(
            "{} {} (file {}): {} line(s): {} paid, {} failed, {} returned, {} changed nothing",
            i.kind, i.message_id, i.file_id, i.lines, i.paid, i.failed, i.returned, i.unchanged
        ),
    }
    Ok(())
}

pub async fn bank_reconcile(config: &Config, batch: i64, limit: usize) -> Result<()> {
    let service = payment_admin(config).await?;
    let reconciled = service.reconcile_batch(batch, limit).await;
    service.store().db().close().await;
    let r = reconciled?;
    println!("batch {} ({}, {}, made {}): {}", r.batch_id, r.batch_ref, r.format, r.created_at, r.state.as_str());
    for (what, t) in
        [("sent", r.sent), ("paid", r.paid), ("failed", r.failed), ("returned", r.returned), ("awaiting", r.awaiting)]
    {
        println!("  {what:<9} {:>8} transfer(s) {:>14} fen", t.count, t.fen);
    }
    if r.acknowledged > 0 {
        println!("  {} of those awaiting acknowledged by the bank", r.acknowledged);
    }
    for d in &r.differences {
        println!("  differs: {d}");
    }
    for f in &r.files {
        println!("  answered in {} {} (file {}, {})", f.kind, f.message_id, f.file_id, f.imported_at);
    }
    for u in &r.unpaid {
        let reason = [u.answer.as_str(), u.reason_code.as_str(), u.reason.as_str()]
            .iter()
            .filter(|s| !s.is_empty())
            .copied()
            .collect::<Vec<_>>()
            .join(" ");
        let reissued = u.reissued_as.map(|id| format!(", re-issued as {id}")).unwrap_or_default();
        println!(
            "  instruction {} {} {} fen to {}{}{reissued}",
            u.instruction_id,
            u.state,
            u.amount_fen,
            u.payee_ref,
            if reason.is_empty() { String::new() } else { format!(": {reason}") }
        );
    }
    if r.more {
        println!("  … more unpaid transfers: --limit N lists more");
    }
    Ok(())
}

/// Before an export: failed and returned household payments whose account has been corrected
/// are paid again (new instructions, APPROVED), so the export carries them.
async fn reissue_corrected(config: &Config) -> Result<()> {
    let service = match payment(config).await {
        Ok(service) => service,
        Err(e) => {
            println!("failed and returned payments not re-issued: {e:#}");
            return Ok(());
        }
    };
    let done = service.reissue_corrected(&actor()).await;
    service.store().db().close().await;
    let done = done?;
    if done.reissued > 0 {
        println!(
            "{} failed or returned payment(s) re-issued to corrected accounts, {} fen",
            done.reissued, done.reissued_fen
        );
    }
    if let Some(why) = &done.unchecked {
        println!("{} failed or returned payment(s) not re-issued: {why}", done.awaiting_correction);
    } else if done.awaiting_correction > 0 {
        println!(
            "{} failed or returned payment(s) await a corrected account (eligibility's CorrectHousehold)",
            done.awaiting_correction
        );
    }
    Ok(())
}

pub async fn bank_cancel(config: &Config, batch: i64) -> Result<()> {
    let service = payment_admin(config).await?;
    let returned = service.cancel_batch(batch, &actor()).await;
    service.store().db().close().await;
    println!("batch {batch} cancelled: {} instruction(s) back to APPROVED", returned?);
    Ok(())
}
