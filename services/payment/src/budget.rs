//! Fund budgets: set by the county per fund and year (audited). Raising one posts the difference
//! into the fund's available account and releases held instructions in order; lowering one
//! takes it back, and is refused below what is committed and paid.

use crate::error::{PaymentError, Result};
use crate::funds::Fund;
use crate::instructions::store::{fund_position, release_held};
use crate::ledger::store::{open_fund, transfer};
use crate::ledger::{FundAccounts, TransferKind};
use crate::service::PaymentService;
use doudi_runtime::audit::AuditEntry;

/// What setting a budget did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BudgetSet {
    pub before: i64,
    pub after: i64,
    pub released: i64,
}

impl PaymentService {
    pub async fn set_budget(&self, fund: Fund, year: i64, fen: i64, actor: &str) -> Result<BudgetSet> {
        if fen < 0 {
            return Err(doudi_core::Violations::of("fen", "must not be negative").into());
        }
        if !(2000..=2100).contains(&year) {
            return Err(doudi_core::Violations::of("year", "must be a year between 2000 and 2100").into());
        }
        let now = doudi_runtime::now_rfc3339();
        let accounts = FundAccounts::of(fund, year);
        let mut tx = self.store.db.writes().begin().await?;
        open_fund(&mut tx, &accounts).await?;
        let position = fund_position(&mut tx, fund, year, true).await?;
        let reference = format!("budget:{fund}:{year}");
        let delta = fen - position.budget;
        if delta > 0 {
            transfer(
                &mut tx,
                &accounts.appropriation,
                &accounts.available,
                delta,
                TransferKind::BudgetRaise,
                &reference,
                &now,
            )
            .await?;
        } else if delta < 0
            && !transfer(
                &mut tx,
                &accounts.available,
                &accounts.appropriation,
                -delta,
                TransferKind::BudgetLower,
                &reference,
                &now,
            )
            .await?
        {
            return Err(PaymentError::BudgetBelowCommitted {
                fund: fund.to_string(),
                year,
                wanted: fen,
                committed: position.committed,
                paid: position.paid,
            });
        }
        sqlx::query(
            "INSERT INTO budgets (fund, year, budget_fen, set_at, set_by) VALUES ($1, $2, $3, $4, $5) \
             ON CONFLICT (fund, year) DO UPDATE SET budget_fen = excluded.budget_fen, set_at = excluded.set_at, \
             set_by = excluded.set_by",
        )
        .bind(fund.as_str())
        .bind(year)
        .bind(fen)
        .bind(&now)
        .bind(actor)
        .execute(&mut *tx)
        .await?;
        let released = if delta > 0 { release_held(&mut tx, fund, year, actor, &now).await? } else { 0 };
        let key = format!("{fund}:{year}");
        let before = serde_json::json!({"budgetFen": position.budget});
        let after = serde_json::json!({"budgetFen": fen, "releasedHeld": released});
        self.store.audit(&mut tx, AuditEntry::new(actor, "budget.set", "fund_budget", &key, before, after)).await?;
        tx.commit().await?;
        Ok(BudgetSet { before: position.budget, after: fen, released })
    }
}
