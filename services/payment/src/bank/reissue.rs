//! Paying again what a bank rejected or returned. A FAILED or RETURNED household payment is
//! re-issued once the household's account has been corrected in eligibility
//! (`CorrectHousehold`): a new instruction to the new account, linked both ways to the first
//! (`reissue_of`, `reissued_as`), reserved again on the same fund and year (the failure gave the
//! money back), APPROVED (the first was), and so in the next export. Until the account differs
//! from the one the bank refused, nothing is re-issued: the same account would fail again.
//!
//! The link is what keeps the payroll from paying twice: an instruction that was re-issued no
//! longer counts as paid for its month; its re-issue does.

use crate::error::{PaymentError, Result};
use crate::instructions::store::{INSTRUCTION_COLUMNS, event, instruction_of};
use crate::instructions::{NewInstruction, PayrollPlace};
use crate::service::PaymentService;
use crate::store::{INSTRUCTION_ACCOUNT, corrupt};
use doudi_core::pii::BankAccount;
use doudi_proto::eligibility::v1 as pb;
use doudi_proto::eligibility::v1::dibao_procedure_client::DibaoProcedureClient;
use doudi_runtime::audit::AuditEntry;
use doudi_runtime::sealing::row_key;
use sqlx::Row;
use std::collections::HashMap;
use std::time::Duration;

/// The sender key of re-issues: one per first instruction.
pub const REISSUE_SOURCE: &str = "payment.reissue";
const ASK_DEADLINE: Duration = Duration::from_secs(30);
/// Households per question to eligibility (its limit).
const ASK_PAGE: usize = 1_000;

/// What a pass did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Reissues {
    pub reissued: i64,
    pub reissued_fen: i64,
    /// Failed or returned, the account not corrected yet.
    pub awaiting_correction: i64,
    /// Eligibility could not be asked: why (nothing was re-issued).
    pub unchecked: Option<String>,
}

impl PaymentService {
    /// Re-issues every failed or returned household payment whose account has been corrected.
    pub async fn reissue_corrected(&self, actor: &str) -> Result<Reissues> {
        let sql = format!(
            "SELECT {INSTRUCTION_COLUMNS}, account_enc FROM instructions \
             WHERE state IN ('FAILED', 'RETURNED') AND reissued_as IS NULL AND payee_kind = 'HOUSEHOLD' ORDER BY id"
        );
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql)).fetch_all(self.store.db.reads()).await?;
        if rows.is_empty() {
            return Ok(Reissues::default());
        }
        let households: Vec<String> = rows
            .iter()
            .map(|r| r.try_get::<String, _>("payee_ref"))
            .collect::<Result<std::collections::BTreeSet<_>, _>>()?
            .into_iter()
            .collect();
        let current = match self.current_accounts(&households).await {
            Ok(current) => current,
            Err(why) => {
                return Ok(Reissues {
                    awaiting_correction: rows.len() as i64,
                    unchecked: Some(why),
                    ..Default::default()
                });
            }
        };
        let mut done = Reissues::default();
        let now = doudi_runtime::now_rfc3339();
        let mut tx = self.store.db.writes().begin().await?;
        for r in &rows {
            let first = instruction_of(r)?;
            let key = row_key(&[&first.source, &first.source_ref]);
            let refused: Option<String> = r
                .try_get::<Option<Vec<u8>>, _>("account_enc")?
                .map(|sealed| self.store.cipher.open(INSTRUCTION_ACCOUNT.place(&key), &sealed))
                .transpose()
                .map_err(|_| corrupt("account"))?;
            let Some(account) = current.get(&first.payee_ref).filter(|a| Some(a.expose()) != refused.as_deref()) else {
                done.awaiting_correction += 1;
                continue;
            };
            let new = NewInstruction {
                source: REISSUE_SOURCE.into(),
                source_ref: format!("reissue:{}", first.id),
                fund: first.fund,
                budget_year: first.budget_year,
                payee_kind: first.payee_kind,
                payee_ref: first.payee_ref.clone(),
                payee_name: first.payee_name.clone(),
                account: Some(account.clone()),
                amount: first.amount,
                gross: first.gross,
                withheld: first.withheld,
                purpose: first.purpose.clone(),
                reference: format!("re-issue of instruction {}", first.id),
                approval_required: false,
                payroll: match (first.household_no.clone(), first.kind, first.month, first.run_month) {
                    (Some(household_no), Some(kind), Some(month), Some(run_month)) => {
                        Some(PayrollPlace { household_no, kind, month, run_month })
                    }
                    _ => None,
                },
            };
            let id = match crate::instructions::ops::insert_one(&mut tx, self, &new, actor, &now).await? {
                Ok(id) => id,
                // Made by an earlier pass that was cut short before it linked: link it now.
                Err((id, _)) => id,
            };
            sqlx::query("UPDATE instructions SET reissue_of = $1 WHERE id = $2")
                .bind(first.id)
                .bind(id)
                .execute(&mut *tx)
                .await?;
            let linked = sqlx::query("UPDATE instructions SET reissued_as = $1 WHERE id = $2 AND reissued_as IS NULL")
                .bind(id)
                .bind(first.id)
                .execute(&mut *tx)
                .await?
                .rows_affected();
            if linked == 0 {
                return Err(PaymentError::Refused(format!(
                    "instruction {} was re-issued meanwhile: try again",
                    first.id
                )));
            }
            let why = format!("re-issued as instruction {id}: the household's account was corrected");
            event(&mut tx, first.id, actor, first.state, first.state, &why, &now).await?;
            let made = format!("re-issue of instruction {} ({})", first.id, first.state);
            event(&mut tx, id, actor, first.state, new.reserved_state(), &made, &now).await?;
            let after = serde_json::json!({"reissueOf": first.id, "amountFen": first.amount,
                "account": account.masked(), "fund": first.fund.as_str()});
            let key = id.to_string();
            self.store
                .audit(
                    &mut tx,
                    AuditEntry::new(actor, "instruction.reissue", "instruction", &key, serde_json::Value::Null, after),
                )
                .await?;
            done.reissued += 1;
            done.reissued_fen += first.amount;
        }
        tx.commit().await?;
        Ok(done)
    }

    /// The households' accounts as eligibility has them now (households without one left out).
    async fn current_accounts(
        &self,
        households: &[String],
    ) -> std::result::Result<HashMap<String, BankAccount>, String> {
        let mut client = DibaoProcedureClient::new(self.eligibility.clone());
        let mut found = HashMap::new();
        for page in households.chunks(ASK_PAGE) {
            let mut request = tonic::Request::new(pb::GetPaymentAccountsRequest { household_nos: page.to_vec() });
            request.set_timeout(ASK_DEADLINE);
            let answer = client
                .get_payment_accounts(request)
                .await
                .map_err(|s| format!("the eligibility service did not answer ({:?}: {})", s.code(), s.message()))?
                .into_inner();
            for a in answer.accounts {
                if a.account_number.is_empty() {
                    continue;
                }
                let account = BankAccount::parse(&a.account_number)
                    .map_err(|_| format!("eligibility gave household {} an account that is not one", a.household_no))?;
                found.insert(a.household_no, account);
            }
        }
        Ok(found)
    }
}
