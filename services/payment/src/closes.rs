//! What the periodic closes share (hospital payables by month, premium subsidies by year): a
//! period is closed once, and each close pays one approved instruction per payee, made once.

use crate::error::Result;
use crate::funds::{Fund, PayeeKind};
use crate::instructions::NewInstruction;
use crate::instructions::ops::insert_one;
use crate::service::PaymentService;
use doudi_core::pii::BankAccount;
use sqlx::AnyConnection;

/// Records the close of `what` for `period`; `false` if it was closed before.
pub(crate) async fn close_once(
    conn: &mut AnyConnection,
    what: &str,
    period: &str,
    actor: &str,
    now: &str,
) -> Result<bool, sqlx::Error> {
    Ok(sqlx::query(
        "INSERT INTO period_closes (what, period, closed_at, closed_by) VALUES ($1, $2, $3, $4) \
         ON CONFLICT (what, period) DO NOTHING",
    )
    .bind(what)
    .bind(period)
    .bind(now)
    .bind(actor)
    .execute(conn)
    .await?
    .rows_affected()
        == 1)
}

/// A close's payment to one payee.
pub(crate) struct ClosePayment {
    pub source: &'static str,
    pub source_ref: String,
    pub fund: Fund,
    pub year: i64,
    pub payee_kind: PayeeKind,
    pub payee_ref: String,
    pub payee_name: String,
    pub account: Option<BankAccount>,
    pub amount: i64,
    pub purpose: String,
    pub reference: String,
}

impl PaymentService {
    /// The close's instruction (approved: the close is the county's decision), made once; the
    /// id of the one made before when the period is closed again.
    pub(crate) async fn close_instruction(
        &self,
        conn: &mut AnyConnection,
        p: ClosePayment,
        actor: &str,
        now: &str,
    ) -> Result<i64> {
        let new = NewInstruction {
            source: p.source.into(),
            source_ref: p.source_ref,
            fund: p.fund,
            budget_year: p.year,
            payee_kind: p.payee_kind,
            payee_ref: p.payee_ref,
            payee_name: p.payee_name,
            account: p.account,
            amount: p.amount,
            gross: p.amount,
            withheld: 0,
            purpose: p.purpose,
            reference: p.reference,
            approval_required: false,
            payroll: None,
        };
        Ok(match insert_one(conn, self, &new, actor, now).await? {
            Ok(id) | Err((id, _)) => id,
        })
    }
}
