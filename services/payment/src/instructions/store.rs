//! The instructions' statements: insert once per key, reserve or hold, change state with an
//! event, and read back.

use crate::error::{PaymentError, Result};
use crate::funds::{Fund, Kind, Month, PayeeKind, State};
use crate::instructions::{NewInstruction, held_reason};
use crate::ledger::store::{balance, open_fund, owe, transfer};
use crate::ledger::{FundAccounts, PayeeAccounts, TransferKind};
use crate::store::{INSTRUCTION_ACCOUNT, Store, corrupt};
use doudi_runtime::crypto::PiiCipher;
use doudi_runtime::sealing::row_key;
use sqlx::any::AnyRow;
use sqlx::{AnyConnection, Row};

/// An instruction as stored (the account masked).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredInstruction {
    pub id: i64,
    pub source: String,
    pub source_ref: String,
    pub content_digest: String,
    pub fund: Fund,
    pub budget_year: i64,
    pub payee_kind: PayeeKind,
    pub payee_ref: String,
    pub payee_name: String,
    pub account_masked: String,
    pub amount: i64,
    pub gross: i64,
    pub withheld: i64,
    pub purpose: String,
    pub reference: String,
    pub state: State,
    pub held_reason: Option<String>,
    pub approval_required: bool,
    pub household_no: Option<String>,
    pub kind: Option<Kind>,
    pub month: Option<Month>,
    pub run_month: Option<Month>,
    pub created_at: String,
    pub created_by: String,
    pub batch_id: Option<i64>,
    /// FAILED or RETURNED: what the bank said.
    pub bank_reason_code: Option<String>,
    pub bank_reason: Option<String>,
    pub reissue_of: Option<i64>,
    pub reissued_as: Option<i64>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredEvent {
    pub at: String,
    pub actor: String,
    pub from: State,
    pub to: State,
    pub reason: String,
}

pub(crate) const INSTRUCTION_COLUMNS: &str = "id, source, source_ref, content_digest, fund, budget_year, payee_kind, \
     payee_ref, payee_name, account_masked, amount_fen, gross_fen, withheld_fen, purpose, reference, state, held_reason, \
     approval_required, household_no, kind, month, run_month, created_at, created_by, batch_id, bank_reason_code, \
     bank_reason, reissue_of, reissued_as";

fn parsed<T>(what: &str, value: Option<T>) -> Result<T, sqlx::Error> {
    value.ok_or_else(|| corrupt(what))
}

pub(crate) fn instruction_of(r: &AnyRow) -> Result<StoredInstruction, sqlx::Error> {
    let month = |c: &str| -> Result<Option<Month>, sqlx::Error> {
        r.try_get::<Option<String>, _>(c)?.map(|t| parsed("month", Month::parse(&t))).transpose()
    };
    Ok(StoredInstruction {
        id: r.try_get("id")?,
        source: r.try_get("source")?,
        source_ref: r.try_get("source_ref")?,
        content_digest: r.try_get("content_digest")?,
        fund: parsed("fund", Fund::parse(&r.try_get::<String, _>("fund")?))?,
        budget_year: r.try_get("budget_year")?,
        payee_kind: parsed("payee kind", PayeeKind::parse(&r.try_get::<String, _>("payee_kind")?))?,
        payee_ref: r.try_get("payee_ref")?,
        payee_name: r.try_get("payee_name")?,
        account_masked: r.try_get("account_masked")?,
        amount: r.try_get("amount_fen")?,
        gross: r.try_get("gross_fen")?,
        withheld: r.try_get("withheld_fen")?,
        purpose: r.try_get("purpose")?,
        reference: r.try_get("reference")?,
        state: parsed("state", State::parse(&r.try_get::<String, _>("state")?))?,
        held_reason: r.try_get("held_reason")?,
        approval_required: r.try_get::<i64, _>("approval_required")? == 1,
        household_no: r.try_get("household_no")?,
        kind: r.try_get::<Option<String>, _>("kind")?.map(|k| parsed("kind", Kind::parse(&k))).transpose()?,
        month: month("month")?,
        run_month: month("run_month")?,
        created_at: r.try_get("created_at")?,
        created_by: r.try_get("created_by")?,
        batch_id: r.try_get("batch_id")?,
        bank_reason_code: r.try_get("bank_reason_code")?,
        bank_reason: r.try_get("bank_reason")?,
        reissue_of: r.try_get("reissue_of")?,
        reissued_as: r.try_get("reissued_as")?,
    })
}

/// The columns an insert writes, in order.
pub(crate) const INSERT_COLUMNS: &str = "source, source_ref, content_digest, fund, budget_year, payee_kind, payee_ref, \
     payee_name, account_enc, account_masked, amount_fen, gross_fen, withheld_fen, purpose, reference, state, \
     held_reason, approval_required, household_no, kind, month, run_month, created_at, created_by";
pub(crate) const INSERT_ARITY: usize = 24;

/// Binds one instruction's values in `INSERT_COLUMNS` order.
pub(crate) fn bind_new<'q>(
    query: sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments>,
    cipher: &PiiCipher,
    new: &NewInstruction,
    state: State,
    held: Option<String>,
    actor: &str,
    now: &str,
) -> sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments> {
    let row = row_key(&[&new.source, &new.source_ref]);
    let account_enc = new.account.as_ref().map(|a| cipher.seal(INSTRUCTION_ACCOUNT.place(&row), a.expose()));
    let masked = new.account.as_ref().map(|a| a.masked()).unwrap_or_default();
    let payroll = new.payroll.as_ref();
    query
        .bind(new.source.clone())
        .bind(new.source_ref.clone())
        .bind(new.content_digest())
        .bind(new.fund.as_str())
        .bind(new.budget_year)
        .bind(new.payee_kind.as_str())
        .bind(new.payee_ref.clone())
        .bind(new.payee_name.clone())
        .bind(account_enc)
        .bind(masked)
        .bind(new.amount)
        .bind(new.gross)
        .bind(new.withheld)
        .bind(new.purpose.clone())
        .bind(new.reference.clone())
        .bind(state.as_str())
        .bind(held)
        .bind(i64::from(new.approval_required))
        .bind(payroll.map(|p| p.household_no.clone()))
        .bind(payroll.map(|p| p.kind.as_str()))
        .bind(payroll.map(|p| p.month.to_string()))
        .bind(payroll.map(|p| p.run_month.to_string()))
        .bind(now.to_owned())
        .bind(actor.to_owned())
}

/// What a fund and year look like now (inside a transaction, `lock` holds its available row).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FundPosition {
    pub budget: i64,
    pub available: i64,
    pub committed: i64,
    pub paid: i64,
}

pub(crate) async fn fund_position(
    conn: &mut AnyConnection,
    fund: Fund,
    year: i64,
    lock: bool,
) -> Result<FundPosition, sqlx::Error> {
    let accounts = FundAccounts::of(fund, year);
    let available = balance(conn, &accounts.available, lock).await?.credit_balance();
    let committed = balance(conn, &accounts.committed, false).await?.credit_balance();
    let paid = balance(conn, &accounts.paid, false).await?.credit_balance();
    let budget = sqlx::query("SELECT budget_fen FROM budgets WHERE fund = $1 AND year = $2")
        .bind(fund.as_str())
        .bind(year)
        .fetch_optional(&mut *conn)
        .await?
        .map(|r| r.try_get::<i64, _>("budget_fen"))
        .transpose()?
        .unwrap_or(0);
    Ok(FundPosition { budget, available, committed, paid })
}

pub(crate) async fn any_held(conn: &mut AnyConnection, fund: Fund, year: i64) -> Result<bool, sqlx::Error> {
    Ok(sqlx::query("SELECT 1 FROM instructions WHERE state = 'HELD' AND fund = $1 AND budget_year = $2 LIMIT 1")
        .bind(fund.as_str())
        .bind(year)
        .fetch_optional(conn)
        .await?
        .is_some())
}

/// Reserves `amount` of the fund's year for instruction `reference`, unless earlier
/// instructions of the fund are held (they come first) or it would overdraw: then the reason
/// it is held.
pub(crate) async fn reserve(
    conn: &mut AnyConnection,
    fund: Fund,
    year: i64,
    amount: i64,
    reference: &str,
    now: &str,
) -> Result<Result<(), String>, sqlx::Error> {
    let accounts = FundAccounts::of(fund, year);
    open_fund(conn, &accounts).await?;
    let queued = any_held(conn, fund, year).await?;
    if !queued
        && transfer(conn, &accounts.available, &accounts.committed, amount, TransferKind::Reserve, reference, now)
            .await?
    {
        return Ok(Ok(()));
    }
    let p = fund_position(conn, fund, year, false).await?;
    Ok(Err(held_reason(fund, year, p.budget, p.committed, p.paid, amount, queued)))
}

pub(crate) async fn event(
    conn: &mut AnyConnection,
    id: i64,
    actor: &str,
    from: State,
    to: State,
    reason: &str,
    now: &str,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO instruction_events (instruction_id, at, actor, from_state, to_state, reason) \
         VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(id)
    .bind(now)
    .bind(actor)
    .bind(from.as_str())
    .bind(to.as_str())
    .bind(reason)
    .execute(conn)
    .await?;
    Ok(())
}

/// Moves an instruction from `from` to `to` with its event; `false` if it was not in `from`
/// (a concurrent change came first).
pub(crate) async fn change_state(
    conn: &mut AnyConnection,
    id: i64,
    from: State,
    to: State,
    actor: &str,
    reason: &str,
    now: &str,
) -> Result<bool, sqlx::Error> {
    let changed = sqlx::query("UPDATE instructions SET state = $1, held_reason = NULL WHERE id = $2 AND state = $3")
        .bind(to.as_str())
        .bind(id)
        .bind(from.as_str())
        .execute(&mut *conn)
        .await?
        .rows_affected();
    if changed == 0 {
        return Ok(false);
    }
    event(conn, id, actor, from, to, reason, now).await?;
    Ok(true)
}

/// Releases the fund's HELD instructions in the order they were made, as far as the budget
/// covers them; stops at the first that does not fit (later ones wait behind it). Returns how
/// many were released.
pub(crate) async fn release_held(
    conn: &mut AnyConnection,
    fund: Fund,
    year: i64,
    actor: &str,
    now: &str,
) -> Result<i64, sqlx::Error> {
    let accounts = FundAccounts::of(fund, year);
    open_fund(conn, &accounts).await?;
    let mut released = 0;
    loop {
        let rows = sqlx::query(
            "SELECT id, amount_fen, approval_required, payee_kind, payee_ref FROM instructions \
             WHERE state = 'HELD' AND fund = $1 AND budget_year = $2 ORDER BY id LIMIT 500",
        )
        .bind(fund.as_str())
        .bind(year)
        .fetch_all(&mut *conn)
        .await?;
        if rows.is_empty() {
            return Ok(released);
        }
        for row in &rows {
            let (id, amount): (i64, i64) = (row.try_get("id")?, row.try_get("amount_fen")?);
            let reference = format!("instruction:{id}");
            if !transfer(conn, &accounts.available, &accounts.committed, amount, TransferKind::Reserve, &reference, now)
                .await?
            {
                return Ok(released);
            }
            let to = if row.try_get::<i64, _>("approval_required")? == 1 { State::Draft } else { State::Approved };
            change_state(conn, id, State::Held, to, actor, "released: the fund's budget now covers it", now).await?;
            if to == State::Approved {
                let kind =
                    PayeeKind::parse(&row.try_get::<String, _>("payee_kind")?).ok_or_else(|| corrupt("payee kind"))?;
                let payee = PayeeAccounts::of(kind, &row.try_get::<String, _>("payee_ref")?);
                owe(conn, &accounts, &payee, amount, false, &reference, now).await?;
            }
            released += 1;
        }
    }
}

impl Store {
    pub async fn instruction(&self, id: i64) -> Result<StoredInstruction> {
        let sql = format!("SELECT {INSTRUCTION_COLUMNS} FROM instructions WHERE id = $1");
        let row = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(id).fetch_optional(self.db.reads()).await?;
        Ok(instruction_of(&row.ok_or(PaymentError::InstructionNotFound(id))?)?)
    }

    pub async fn instruction_events(&self, id: i64) -> Result<Vec<StoredEvent>> {
        let rows = sqlx::query(
            "SELECT at, actor, from_state, to_state, reason FROM instruction_events WHERE instruction_id = $1 ORDER BY id",
        )
        .bind(id)
        .fetch_all(self.db.reads())
        .await?;
        let state = |r: &AnyRow, c: &str| -> Result<State, sqlx::Error> {
            parsed("state", State::parse(&r.try_get::<String, _>(c)?))
        };
        Ok(rows
            .iter()
            .map(|r| {
                Ok(StoredEvent {
                    at: r.try_get("at")?,
                    actor: r.try_get("actor")?,
                    from: state(r, "from_state")?,
                    to: state(r, "to_state")?,
                    reason: r.try_get("reason")?,
                })
            })
            .collect::<Result<Vec<_>, sqlx::Error>>()?)
    }

    /// The fund's position for a year, and what is held.
    pub async fn fund(&self, fund: Fund, year: i64) -> Result<(FundPosition, i64, i64)> {
        let mut conn = self.db.reads().acquire().await?;
        let position = fund_position(&mut conn, fund, year, false).await?;
        let held = sqlx::query(
            "SELECT COUNT(*) AS n, CAST(COALESCE(SUM(amount_fen), 0) AS BIGINT) AS fen FROM instructions \
             WHERE state = 'HELD' AND fund = $1 AND budget_year = $2",
        )
        .bind(fund.as_str())
        .bind(year)
        .fetch_one(&mut *conn)
        .await?;
        Ok((position, held.try_get("n")?, held.try_get("fen")?))
    }
}

impl Store {
    /// Held instructions per fund and year: (fund, year, count, fen).
    pub async fn held_summary(&self) -> Result<Vec<(String, i64, i64, i64)>> {
        let rows = sqlx::query(
            "SELECT fund, budget_year, COUNT(*) AS n, CAST(SUM(amount_fen) AS BIGINT) AS fen FROM instructions WHERE state = 'HELD' \
             GROUP BY fund, budget_year ORDER BY fund, budget_year",
        )
        .fetch_all(self.db.reads())
        .await?;
        Ok(rows
            .iter()
            .map(|r| Ok((r.try_get("fund")?, r.try_get("budget_year")?, r.try_get("n")?, r.try_get("fen")?)))
            .collect::<Result<Vec<_>, sqlx::Error>>()?)
    }
}
