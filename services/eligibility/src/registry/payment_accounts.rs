//! Households' current accounts in full, for the payment service to pay again what a bank
//! returned once the account has been corrected (`CorrectHousehold`). Each disclosure is in the
//! audit chain: who asked, for which households.

use crate::error::Result;
use crate::service::EligibilityService;
use doudi_core::Violations;
use doudi_proto::eligibility::v1 as pb;
use doudi_runtime::audit::AuditEntry;
use sqlx::Row;

/// Households per request: the payment service asks in pages.
pub const MAX_HOUSEHOLDS: usize = 1_000;

pub async fn get(
    service: &EligibilityService,
    actor: &str,
    r: pb::GetPaymentAccountsRequest,
) -> Result<pb::GetPaymentAccountsResponse> {
    if r.household_nos.is_empty() || r.household_nos.len() > MAX_HOUSEHOLDS {
        return Err(Violations::of("householdNos", format!("must name 1 to {MAX_HOUSEHOLDS} households")).into());
    }
    if r.household_nos.iter().any(|h| h.trim().is_empty()) {
        return Err(Violations::of("householdNos", "must not hold an empty household number").into());
    }
    let store = service.store();
    let backend = store.db.backend();
    let sql = format!(
        "SELECT household_no, bank_account_enc FROM households WHERE household_no IN ({}) ORDER BY household_no",
        backend.placeholders(1, r.household_nos.len())
    );
    let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
    for h in &r.household_nos {
        query = query.bind(h.trim().to_owned());
    }
    let mut tx = store.db.writes().begin().await?;
    let mut accounts = Vec::new();
    for row in query.fetch_all(&mut *tx).await? {
        let household_no: String = row.try_get("household_no")?;
        let account = store.decrypt_account(&household_no, row.try_get("bank_account_enc")?)?;
        accounts.push(pb::PaymentAccount {
            account_number: account.map(|a| a.expose().to_owned()).unwrap_or_default(),
            household_no,
        });
    }
    let named: Vec<&str> = accounts.iter().map(|a| a.household_no.as_str()).collect();
    let after = serde_json::json!({"households": named});
    let key = format!("{} household(s)", named.len());
    store
        .audit(&mut tx, AuditEntry::new(actor, "accounts.disclose", "households", &key, serde_json::Value::Null, after))
        .await?;
    tx.commit().await?;
    Ok(pb::GetPaymentAccountsResponse { accounts })
}
