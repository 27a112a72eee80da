//! The county's yearly relief budget, kept here: set by the county (`doudi relief budget`),
//! drawn by each grant in the grant's own transaction with a conditional update, so concurrent
//! approvals can never overdraw it together (the row lock on PostgreSQL, the one writer on
//! SQLite; a CHECK behind both).

use crate::error::{ReliefError, Result};
use crate::service::ReliefService;
use doudi_core::Violations;
use doudi_runtime::audit::AuditEntry;
use sqlx::{AnyConnection, Row};

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct BudgetState {
    pub year: i64,
    pub budget_fen: i64,
    pub granted_fen: i64,
}

impl BudgetState {
    pub fn available_fen(self) -> i64 {
        self.budget_fen - self.granted_fen
    }
}

pub(crate) async fn budget_in(conn: &mut AnyConnection, year: i64) -> Result<BudgetState> {
    let row = sqlx::query("SELECT budget_fen, granted_fen FROM relief_budgets WHERE year = $1")
        .bind(year)
        .fetch_optional(conn)
        .await?;
    Ok(match row {
        Some(r) => BudgetState { year, budget_fen: r.try_get("budget_fen")?, granted_fen: r.try_get("granted_fen")? },
        None => BudgetState { year, ..Default::default() },
    })
}

/// Draws `amount` on the year's budget, or says by how much it would overdraw it.
pub(crate) async fn draw(conn: &mut AnyConnection, year: i64, amount: i64) -> Result<()> {
    let drawn = sqlx::query(
        "UPDATE relief_budgets SET granted_fen = granted_fen + $1 WHERE year = $2 AND budget_fen - granted_fen >= $1 \
         RETURNING year",
    )
    .bind(amount)
    .bind(year)
    .fetch_optional(&mut *conn)
    .await?;
    if drawn.is_some() {
        return Ok(());
    }
    let b = budget_in(conn, year).await?;
    Err(ReliefError::BudgetExceeded {
        year,
        budget: b.budget_fen,
        granted: b.granted_fen,
        amount,
        over: amount - b.available_fen(),
    })
}

impl ReliefService {
    pub async fn budget(&self, year: i64) -> Result<BudgetState> {
        let mut conn = self.store.db.reads().acquire().await?;
        budget_in(&mut conn, year).await
    }

    /// Sets the year's budget; never below what is already granted. Returns (before, after).
    pub async fn set_budget(&self, year: i64, fen: i64, actor: &str) -> Result<(BudgetState, BudgetState)> {
        if !(2000..=2100).contains(&year) {
            return Err(Violations::of("year", "must be a year between 2000 and 2100").into());
        }
        if fen < 0 {
            return Err(Violations::of("fen", "must not be negative").into());
        }
        let now = doudi_runtime::now_rfc3339();
        let mut tx = self.store.db.writes().begin().await?;
        let before = budget_in(&mut tx, year).await?;
        if fen < before.granted_fen {
            return Err(Violations::of(
                "fen",
                format!("must be at least {} fen: that much of {year}'s budget is already granted", before.granted_fen),
            )
            .into());
        }
        sqlx::query(
            "INSERT INTO relief_budgets (year, budget_fen, granted_fen, set_at, set_by) VALUES ($1, $2, 0, $3, $4) \
             ON CONFLICT (year) DO UPDATE SET budget_fen = $2, set_at = $3, set_by = $4",
        )
        .bind(year)
        .bind(fen)
        .bind(&now)
        .bind(actor)
        .execute(&mut *tx)
        .await?;
        let after = BudgetState { budget_fen: fen, ..before };
        let key = year.to_string();
        let entry = AuditEntry::new(
            actor,
            "relief.budget",
            "budget",
            &key,
            serde_json::json!({"budgetFen": before.budget_fen}),
            serde_json::json!({"budgetFen": fen}),
        );
        self.store.audit(&mut tx, entry).await?;
        tx.commit().await?;
        Ok((before, after))
    }
}
