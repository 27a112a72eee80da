//! Premium subsidies (policy.md, "Premium subsidy"): one instruction per year to the basic
//! insurer's account (`payment.insurer_account`) for every person subsidised, with the list
//! behind it. A person recorded after the year's close is reported, not paid twice or lost: they
//! stay on record for staff.

use crate::closes::{ClosePayment, close_once};
use crate::error::{PaymentError, Result};
use crate::funds::{Fund, PayeeKind};
use crate::service::PaymentService;
use crate::store::{PREMIUM_PERSON_ID, corrupt};
use doudi_runtime::audit::AuditEntry;
use doudi_runtime::sealing::row_key;
use sqlx::Row;
use std::path::{Path, PathBuf};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PremiumClose {
    pub year: i32,
    pub closed_now: bool,
    pub persons: i64,
    pub subsidy_fen: i64,
    pub instruction_id: Option<i64>,
    /// Recorded after the close: not in this year's payment.
    pub recorded_after: i64,
    pub list: PathBuf,
}

impl PaymentService {
    pub async fn close_premiums(&self, year: i32, lists: &Path, actor: &str) -> Result<PremiumClose> {
        let Some(account) = self.insurer.account.clone() else {
            return Err(PaymentError::Refused(
                "the insurer's account is not configured: set payment.insurer_account".into(),
            ));
        };
        let now = doudi_runtime::now_rfc3339();
        let mut tx = self.store.db.writes().begin().await?;
        let first = close_once(&mut tx, "premiums", &year.to_string(), actor, &now).await?;
        if first {
            sqlx::query("UPDATE premium_subsidies SET closed = 1 WHERE year = $1 AND closed = 0")
                .bind(i64::from(year))
                .execute(&mut *tx)
                .await?;
        }
        let rows = sqlx::query(
            "SELECT person_key, national_id_enc, category, subsidy_fen, closed FROM premium_subsidies \
             WHERE year = $1 ORDER BY national_id_masked, person_key",
        )
        .bind(i64::from(year))
        .fetch_all(&mut *tx)
        .await?;
        let mut list = String::from("national_id,category,subsidy_fen\n");
        let (mut persons, mut total, mut after) = (0i64, 0i64, 0i64);
        for row in &rows {
            if row.try_get::<i64, _>("closed")? == 0 {
                after += 1;
                continue;
            }
            let key = row_key(&[&year.to_string(), &hex::encode(row.try_get::<Vec<u8>, _>("person_key")?)]);
            let stored: Vec<u8> = row.try_get("national_id_enc")?;
            let id =
                self.store.cipher.open(PREMIUM_PERSON_ID.place(&key), &stored).map_err(|_| corrupt("national ID"))?;
            let fen: i64 = row.try_get("subsidy_fen")?;
            list.push_str(&format!("{id},{},{fen}\n", row.try_get::<String, _>("category")?));
            persons += 1;
            total += fen;
        }
        let path = lists.join(format!("premium-subsidies-{year}.csv"));
        let instruction_id = if total > 0 {
            let payment = ClosePayment {
                source: "premiums",
                source_ref: year.to_string(),
                fund: Fund::PremiumSubsidy,
                year: i64::from(year),
                payee_kind: PayeeKind::Insurer,
                payee_ref: "basic-insurer".into(),
                payee_name: self.insurer.name.clone(),
                account: Some(account),
                amount: total,
                purpose: format!("premium subsidies {year}: {persons} persons"),
                reference: format!("premium-subsidies-{year}.csv"),
            };
            Some(self.close_instruction(&mut tx, payment, actor, &now).await?)
        } else {
            None
        };
        if first {
            let after_json = serde_json::json!({"persons": persons, "subsidyFen": total});
            let key = year.to_string();
            self.store
                .audit(
                    &mut tx,
                    AuditEntry::new(actor, "premiums.close", "premium_year", &key, serde_json::Value::Null, after_json),
                )
                .await?;
        }
        tx.commit().await?;
        // The list names persons in full (the insurer applies each subsidy): readable by its owner only.
        crate::files::write_whole(&path, &list, true)
            .map_err(|e| PaymentError::Refused(format!("writing {}: {e}", path.display())))?;
        Ok(PremiumClose {
            year,
            closed_now: first,
            persons,
            subsidy_fen: total,
            instruction_id,
            recorded_after: after,
            list: path,
        })
    }
}
