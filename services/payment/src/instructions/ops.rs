//! Submitting, cancelling and approving instructions, and reading them back.

use crate::error::{PaymentError, Result};
use crate::funds::{Fund, Month, PayeeKind, State};
use crate::instructions::NewInstruction;
use crate::instructions::store::{
    INSERT_ARITY, INSERT_COLUMNS, INSTRUCTION_COLUMNS, StoredInstruction, bind_new, change_state, instruction_of,
    release_held, reserve,
};
use crate::ledger::store::{open_fund, owe, transfer};
use crate::ledger::{FundAccounts, PayeeAccounts, TransferKind};
use crate::service::PaymentService;
use doudi_runtime::audit::AuditEntry;
use sqlx::{AnyConnection, Row};

/// What a submission did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Submitted {
    Made(StoredInstruction),
    /// The same key and content were submitted before: that instruction.
    Again(StoredInstruction),
}

/// Filters of a listing; `None` matches everything.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct InstructionFilter {
    pub state: Option<State>,
    pub fund: Option<Fund>,
    pub payee_kind: Option<PayeeKind>,
    pub payee_ref: Option<String>,
    pub month: Option<Month>,
    pub after_id: i64,
    pub limit: i64,
}

/// Inserts `new` under its key and reserves it (or holds it), in the caller's transaction.
/// `Ok(Err(existing id, digest))` if the key was taken.
pub(crate) async fn insert_one(
    conn: &mut AnyConnection,
    service: &PaymentService,
    new: &NewInstruction,
    actor: &str,
    now: &str,
) -> Result<Result<i64, (i64, String)>> {
    let placeholders = service.store.db.backend().placeholders(1, INSERT_ARITY);
    let sql = format!(
        "INSERT INTO instructions ({INSERT_COLUMNS}) VALUES ({placeholders}) \
         ON CONFLICT (source, source_ref) DO NOTHING RETURNING id"
    );
    // Written as reserved, then held if the reservation fails: the held-queue check below must
    // not see this instruction itself.
    let state = new.reserved_state();
    let query = bind_new(sqlx::query(sqlx::AssertSqlSafe(sql)), &service.store.cipher, new, state, None, actor, now);
    let Some(row) = query.fetch_optional(&mut *conn).await? else {
        let existing = sqlx::query("SELECT id, content_digest FROM instructions WHERE source = $1 AND source_ref = $2")
            .bind(&new.source)
            .bind(&new.source_ref)
            .fetch_one(&mut *conn)
            .await?;
        return Ok(Err((existing.try_get("id")?, existing.try_get("content_digest")?)));
    };
    let id: i64 = row.try_get("id")?;
    let reference = format!("instruction:{id}");
    match reserve(conn, new.fund, new.budget_year, new.amount, &reference, now).await? {
        Ok(()) if state == State::Approved => {
            let payee = PayeeAccounts::of(new.payee_kind, &new.payee_ref);
            owe(conn, &FundAccounts::of(new.fund, new.budget_year), &payee, new.amount, false, &reference, now).await?;
        }
        Ok(()) => {}
        Err(reason) => {
            sqlx::query("UPDATE instructions SET state = 'HELD', held_reason = $1 WHERE id = $2")
                .bind(&reason)
                .bind(id)
                .execute(&mut *conn)
                .await?;
            tracing::info!(instruction = id, %reason, "instruction held");
        }
    }
    Ok(Ok(id))
}

impl PaymentService {
    /// An instruction from a sender, idempotent on its key.
    pub async fn submit_instruction(&self, new: &NewInstruction, actor: &str) -> Result<Submitted> {
        let now = doudi_runtime::now_rfc3339();
        let mut tx = self.store.db.writes().begin().await?;
        match insert_one(&mut tx, self, new, actor, &now).await? {
            Ok(id) => {
                let after = serde_json::json!({"source": new.source, "sourceRef": new.source_ref,
                    "fund": new.fund.as_str(), "budgetYear": new.budget_year, "amountFen": new.amount});
                let key = id.to_string();
                let entry =
                    AuditEntry::new(actor, "instruction.submit", "instruction", &key, serde_json::Value::Null, after);
                self.store.audit(&mut tx, entry).await?;
                tx.commit().await?;
                Ok(Submitted::Made(self.store.instruction(id).await?))
            }
            Err((id, digest)) => {
                tx.rollback().await?;
                if digest != new.content_digest() {
                    return Err(PaymentError::KeyTaken {
                        sender: new.source.clone(),
                        source_ref: new.source_ref.clone(),
                        id,
                    });
                }
                Ok(Submitted::Again(self.store.instruction(id).await?))
            }
        }
    }

    /// Cancels an instruction not yet sent to a bank; its reservation returns to the fund, which
    /// may release held instructions behind it.
    pub async fn cancel_instruction(&self, id: i64, reason: &str, actor: &str) -> Result<StoredInstruction> {
        let reason = reason.trim();
        if reason.is_empty() {
            return Err(doudi_core::Violations::of("reason", "say why the instruction is cancelled").into());
        }
        let now = doudi_runtime::now_rfc3339();
        let mut tx = self.store.db.writes().begin().await?;
        let sql = format!("SELECT {INSTRUCTION_COLUMNS} FROM instructions WHERE id = $1");
        let row = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(id).fetch_optional(&mut *tx).await?;
        let current = instruction_of(&row.ok_or(PaymentError::InstructionNotFound(id))?)?;
        if !current.state.cancellable() {
            return Err(PaymentError::NotCancellable { id, state: current.state.to_string() });
        }
        if !change_state(&mut tx, id, current.state, State::Cancelled, actor, reason, &now).await? {
            return Err(PaymentError::Refused(format!("instruction {id} changed meanwhile; look again")));
        }
        if current.state.reserves() {
            let accounts = FundAccounts::of(current.fund, current.budget_year);
            let reference = format!("instruction:{id}");
            if current.state == State::Approved {
                let payee = PayeeAccounts::of(current.payee_kind, &current.payee_ref);
                owe(&mut tx, &accounts, &payee, current.amount, true, &reference, &now).await?;
            }
            let released = transfer(
                &mut tx,
                &accounts.committed,
                &accounts.available,
                current.amount,
                TransferKind::Release,
                &reference,
                &now,
            )
            .await?;
            if !released {
                return Err(PaymentError::internal("an unlimited account refused a debit"));
            }
            release_held(&mut tx, current.fund, current.budget_year, actor, &now).await?;
        }
        let before = serde_json::json!({"state": current.state.as_str()});
        let after = serde_json::json!({"state": "CANCELLED", "reason": reason});
        let key = id.to_string();
        self.store
            .audit(&mut tx, AuditEntry::new(actor, "instruction.cancel", "instruction", &key, before, after))
            .await?;
        tx.commit().await?;
        self.store.instruction(id).await
    }

    /// Approves every DRAFT instruction of a month's payroll (arrears made in that run included).
    /// Returns (approved, their sum, still held).
    pub async fn approve_payroll(&self, month: Month, actor: &str) -> Result<(i64, i64, i64)> {
        let now = doudi_runtime::now_rfc3339();
        let run = month.to_string();
        let mut tx = self.store.db.writes().begin().await?;
        let totals = sqlx::query(
            "SELECT COUNT(*) AS n, CAST(COALESCE(SUM(amount_fen), 0) AS BIGINT) AS fen FROM instructions \
             WHERE run_month = $1 AND state = 'DRAFT'",
        )
        .bind(&run)
        .fetch_one(&mut *tx)
        .await?;
        let (approved, approved_fen): (i64, i64) = (totals.try_get("n")?, totals.try_get("fen")?);
        owe_for_run(&mut tx, &run, &now).await?;
        sqlx::query(
            "INSERT INTO instruction_events (instruction_id, at, actor, from_state, to_state, reason) \
             SELECT id, $1, $2, 'DRAFT', 'APPROVED', $3 FROM instructions \
             WHERE run_month = $4 AND state = 'DRAFT'",
        )
        .bind(&now)
        .bind(actor)
        .bind(format!("payroll {run} approved"))
        .bind(&run)
        .execute(&mut *tx)
        .await?;
        sqlx::query("UPDATE instructions SET state = 'APPROVED' WHERE run_month = $1 AND state = 'DRAFT'")
            .bind(&run)
            .execute(&mut *tx)
            .await?;
        let held: i64 = sqlx::query("SELECT COUNT(*) AS n FROM instructions WHERE run_month = $1 AND state = 'HELD'")
            .bind(&run)
            .fetch_one(&mut *tx)
            .await?
            .try_get("n")?;
        let after = serde_json::json!({"approved": approved, "approvedFen": approved_fen, "held": held});
        self.store
            .audit(&mut tx, AuditEntry::new(actor, "payroll.approve", "payroll", &run, serde_json::Value::Null, after))
            .await?;
        tx.commit().await?;
        Ok((approved, approved_fen, held))
    }

    pub async fn list_instructions(&self, filter: &InstructionFilter) -> Result<(Vec<StoredInstruction>, bool)> {
        let mut sql = format!("SELECT {INSTRUCTION_COLUMNS} FROM instructions WHERE id > $1");
        let mut binds: Vec<String> = Vec::new();
        let mut add = |column: &str, value: String| {
            binds.push(value);
            sql.push_str(&format!(" AND {column} = ${}", binds.len() + 1));
        };
        if let Some(state) = filter.state {
            add("state", state.as_str().into());
        }
        if let Some(fund) = filter.fund {
            add("fund", fund.as_str().into());
        }
        if let Some(kind) = filter.payee_kind {
            add("payee_kind", kind.as_str().into());
        }
        if let Some(payee) = &filter.payee_ref {
            add("payee_ref", payee.clone());
        }
        if let Some(month) = filter.month {
            // Payroll instructions by the month paid for; others by the month they were made.
            let text = month.to_string();
            binds.push(text.clone());
            let n = binds.len() + 1;
            sql.push_str(&format!(" AND (month = ${n} OR (month IS NULL AND created_at LIKE ${}))", n + 1));
            binds.push(format!("{text}-%"));
        }
        let limit = if filter.limit <= 0 { 100 } else { filter.limit.min(1_000) };
        sql.push_str(&format!(" ORDER BY id LIMIT {}", limit + 1));
        let mut query = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(filter.after_id);
        for value in binds {
            query = query.bind(value);
        }
        let rows = query.fetch_all(self.store.db.reads()).await?;
        let more = rows.len() as i64 > limit;
        let list = rows.iter().take(limit as usize).map(instruction_of).collect::<Result<Vec<_>, _>>()?;
        Ok((list, more))
    }
}

/// The payee side of approving a run's DRAFT instructions, set-based (a payroll approves one
/// instruction per household): each payee's owed account is opened and credited, each fund's
/// obligations debited, one transfer per instruction. Runs before the DRAFTs become APPROVED.
async fn owe_for_run(conn: &mut AnyConnection, run: &str, now: &str) -> Result<(), sqlx::Error> {
    const DRAFTS: &str = "FROM instructions i WHERE i.run_month = $1 AND i.state = 'DRAFT'";
    const OWED: &str = "'payee:' || i.payee_kind || ':' || i.payee_ref || ':owed'";
    const OBLIGATIONS: &str = "'fund:' || i.fund || ':' || i.budget_year || ':obligations'";
    let funds = sqlx::query(sqlx::AssertSqlSafe(format!("SELECT DISTINCT i.fund, i.budget_year {DRAFTS}")))
        .bind(run)
        .fetch_all(&mut *conn)
        .await?;
    for row in &funds {
        let fund = crate::funds::Fund::parse(&row.try_get::<String, _>("fund")?)
            .ok_or_else(|| crate::store::corrupt("fund"))?;
        open_fund(conn, &FundAccounts::of(fund, row.try_get("budget_year")?)).await?;
    }
    for side in ["owed", "paid"] {
        let sql = format!(
            "INSERT INTO ledger_accounts (code, limited) SELECT DISTINCT 'payee:' || i.payee_kind || ':' || i.payee_ref || ':{side}', 0 \
             {DRAFTS} ON CONFLICT (code) DO NOTHING"
        );
        sqlx::query(sqlx::AssertSqlSafe(sql)).bind(run).execute(&mut *conn).await?;
    }
    let transfers = format!(
        "INSERT INTO ledger_transfers (debit_account, credit_account, amount_fen, kind, reference, at) \
         SELECT ob.id, ow.id, i.amount_fen, 'approve', 'instruction:' || i.id, $2 FROM instructions i \
         JOIN ledger_accounts ob ON ob.code = {OBLIGATIONS} JOIN ledger_accounts ow ON ow.code = {OWED} \
         WHERE i.run_month = $1 AND i.state = 'DRAFT'"
    );
    sqlx::query(sqlx::AssertSqlSafe(transfers)).bind(run).bind(now).execute(&mut *conn).await?;
    for (code, column) in [(OWED, "credits_fen"), (OBLIGATIONS, "debits_fen")] {
        let sql = format!(
            "UPDATE ledger_accounts SET {column} = {column} + s.fen FROM \
             (SELECT {code} AS code, CAST(SUM(i.amount_fen) AS BIGINT) AS fen {DRAFTS} GROUP BY {code}) AS s \
             WHERE ledger_accounts.code = s.code"
        );
        sqlx::query(sqlx::AssertSqlSafe(sql)).bind(run).execute(&mut *conn).await?;
    }
    Ok(())
}
