//! Premium subsidies as recorded: once per person and year (the primary key), each queued for
//! payment in the same transaction.

use crate::outbox::store::enqueue_sealed;
use crate::outbox::{Event, PREMIUM_SUBSIDY, encode};
use crate::store::Store;
use doudi_core::{Category, Fen};
use doudi_proto::eligibility::v1 as pb;
use doudi_proto::settlement::v1::PremiumSubsidyRecorded;
use doudi_runtime::audit::AuditEntry;
use doudi_runtime::sealing;

/// A premium subsidy to record. `Debug` masks the national ID.
pub struct NewPremiumSubsidy {
    pub person_key: Vec<u8>,
    pub national_id: String,
    pub category: Category,
    pub subsidy_bp: i64,
    pub subsidy: Fen,
}

impl std::fmt::Debug for NewPremiumSubsidy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NewPremiumSubsidy")
            .field("national_id", &doudi_core::pii::mask_id_text(&self.national_id))
            .field("category", &self.category)
            .field("subsidy_bp", &self.subsidy_bp)
            .field("subsidy", &self.subsidy)
            .finish_non_exhaustive()
    }
}

impl Store {
    /// Records the subsidies not yet recorded for the year, each queued for payment, in one
    /// transaction. Returns (recorded now, already there, fen recorded now).
    pub async fn record_premium_subsidies(
        &self,
        year: i64,
        policy_version: &str,
        premium: Fen,
        entries: &[NewPremiumSubsidy],
        now: &str,
        actor: &str,
    ) -> Result<(i64, i64, Fen), sqlx::Error> {
        let mut tx = self.db.writes().begin().await?;
        let (mut recorded, mut already, mut total) = (0i64, 0i64, 0i64);
        for entry in entries {
            let inserted = sqlx::query(
                "INSERT INTO premium_subsidies (person_key, year, national_id_enc, category, policy_version, \
                 premium_fen, subsidy_bp, subsidy_fen, recorded_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) \
                 ON CONFLICT (person_key, year) DO NOTHING",
            )
            .bind(&entry.person_key)
            .bind(year)
            .bind(self.seal(
                &crate::store::PREMIUM_ID,
                &sealing::row_key(&[&hex::encode(&entry.person_key), &year.to_string()]),
                &entry.national_id,
            ))
            .bind(entry.category.as_str())
            .bind(policy_version)
            .bind(premium.0)
            .bind(entry.subsidy_bp)
            .bind(entry.subsidy.0)
            .bind(now)
            .execute(&mut *tx)
            .await?
            .rows_affected();
            if inserted == 0 {
                already += 1;
                continue;
            }
            recorded += 1;
            total += entry.subsidy.0;
            let recorded_event = Event::PremiumSubsidy(PremiumSubsidyRecorded {
                year: i32::try_from(year).map_err(|e| sqlx::Error::Encode(e.into()))?,
                person_key: entry.person_key.clone(),
                category: pb::Category::from(entry.category) as i32,
                policy_version: policy_version.to_owned(),
                premium_fen: premium.0,
                subsidy_bp: entry.subsidy_bp,
                subsidy_fen: entry.subsidy.0,
                national_id: entry.national_id.clone(),
            });
            let key = format!("premium:{year}:{}", hex::encode(&entry.person_key));
            enqueue_sealed(&mut tx, &self.cipher, PREMIUM_SUBSIDY, &key, encode(recorded_event), now).await?;
        }
        let after = serde_json::json!({"policyVersion": policy_version, "recorded": recorded,
            "alreadyRecorded": already, "recordedFen": total});
        let key = year.to_string();
        let entry =
            AuditEntry::new(actor, "premium_subsidy.record", "premium_year", &key, serde_json::Value::Null, after);
        self.audit(&mut tx, entry).await?;
        tx.commit().await?;
        Ok((recorded, already, Fen(total)))
    }
}
