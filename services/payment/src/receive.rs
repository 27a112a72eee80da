//! What other services' relays deliver, each message once per sender and key: the settlement
//! service's hospital payables, reversals and premium subsidies, kept for the periodic closes.

use crate::error::Result;
use crate::service::PaymentService;
use crate::store::PREMIUM_PERSON_ID;
use doudi_core::NationalId;
use doudi_proto::eligibility::v1::Category;
use doudi_proto::settlement::v1::settlement_event::Event;
use doudi_proto::settlement::v1::{HospitalPayable, PremiumSubsidyRecorded};
use doudi_runtime::sealing::row_key;
use sqlx::AnyConnection;

fn invalid(field: &str, why: &str) -> crate::PaymentError {
    doudi_core::Violations::of(field, why).into()
}

impl PaymentService {
    /// Applies a delivered message unless its key was delivered before; `true` on the first
    /// delivery. The message and its effect commit together, so a retried delivery after a lost
    /// acknowledgement does nothing twice.
    pub async fn receive(&self, sender: &str, key: &str, event: Option<Event>) -> Result<bool> {
        if key.is_empty() || key.len() > 200 {
            return Err(invalid("messageKey", "must be 1 to 200 characters"));
        }
        let event = event.ok_or_else(|| invalid("event", "is required"))?;
        let now = doudi_runtime::now_rfc3339();
        let mut tx = self.store.db.writes().begin().await?;
        let first = sqlx::query(
            "INSERT INTO received_messages (sender, message_key, received_at) VALUES ($1, $2, $3) \
             ON CONFLICT (sender, message_key) DO NOTHING",
        )
        .bind(sender)
        .bind(key)
        .bind(&now)
        .execute(&mut *tx)
        .await?
        .rows_affected()
            == 1;
        if !first {
            tx.rollback().await?;
            return Ok(false);
        }
        match event {
            Event::Payable(payable) => payable_entry(&mut tx, &payable, "SETTLEMENT").await?,
            Event::Reversal(reversal) => payable_entry(&mut tx, &reversal, "REVERSAL").await?,
            Event::PremiumSubsidy(subsidy) => self.premium_entry(&mut tx, &subsidy).await?,
        }
        tx.commit().await?;
        Ok(true)
    }

    async fn premium_entry(&self, conn: &mut AnyConnection, s: &PremiumSubsidyRecorded) -> Result<()> {
        let id = NationalId::parse(&s.national_id)
            .map_err(|e| invalid("event.premiumSubsidy.nationalId", &e.to_string()))?;
        if s.person_key.is_empty() {
            return Err(invalid("event.premiumSubsidy.personKey", "is required"));
        }
        let category = Category::try_from(s.category).map(|c| c.as_str_name()).unwrap_or("CATEGORY_UNSPECIFIED");
        let row = row_key(&[&s.year.to_string(), &hex::encode(&s.person_key)]);
        let sealed = self.store.cipher.seal(PREMIUM_PERSON_ID.place(&row), id.expose());
        sqlx::query(
            "INSERT INTO premium_subsidies (year, person_key, national_id_enc, national_id_masked, category, \
             policy_version, premium_fen, subsidy_bp, subsidy_fen) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) \
             ON CONFLICT (year, person_key) DO NOTHING",
        )
        .bind(i64::from(s.year))
        .bind(s.person_key.clone())
        .bind(sealed)
        .bind(id.masked())
        .bind(category)
        .bind(s.policy_version.clone())
        .bind(s.premium_fen)
        .bind(s.subsidy_bp)
        .bind(s.subsidy_fen)
        .execute(conn)
        .await?;
        Ok(())
    }
}

async fn payable_entry(conn: &mut AnyConnection, p: &HospitalPayable, entry: &str) -> Result<()> {
    if p.day.parse::<doudi_core::Date>().is_err() {
        return Err(invalid("event.day", "must be YYYY-MM-DD"));
    }
    if p.settlement_id.is_empty() || p.hospital_code.is_empty() {
        return Err(invalid("event", "a payable names its settlement and hospital"));
    }
    sqlx::query(
        "INSERT INTO hospital_payables (settlement_id, entry, hospital_code, bill_no, basic_insurance_fen, \
         critical_illness_fen, medical_assistance_fen, day) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) \
         ON CONFLICT (settlement_id, entry) DO NOTHING",
    )
    .bind(p.settlement_id.clone())
    .bind(entry)
    .bind(p.hospital_code.clone())
    .bind(p.bill_no.clone())
    .bind(p.basic_insurance_fen)
    .bind(p.critical_illness_fen)
    .bind(p.medical_assistance_fen)
    .bind(p.day.clone())
    .execute(conn)
    .await?;
    Ok(())
}
