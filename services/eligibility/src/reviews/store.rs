//! A review's statements: the paid period a person holds, and the review written with the
//! change of category it decides, in one transaction that coverage indexes catch up on.

use crate::procedure::quota_store::QuotaCheck;
use crate::staff::rules::Staff;
use crate::store::{Store, parse_stored};
use doudi_core::{Category, Date};
use doudi_runtime::audit::AuditEntry;
use serde_json::json;
use sqlx::Row;

/// The paid period a person holds on a day, for a review.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeldPaid {
    pub person_id: i64,
    pub period_id: i64,
    pub category: Category,
    pub national_id_masked: String,
    pub township: String,
}

/// How a review's write ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReviewWrite {
    Done,
    /// The held period changed meanwhile: nothing was written.
    Moved,
    /// The new dibao category has no place in the township's quota: nothing was written.
    OverQuota {
        quota: Option<i64>,
        enrolled: i64,
    },
}

impl Store {
    /// The TEKUN/DIBAO period a person holds on `day` (the first in priority), with their township.
    pub async fn held_paid(&self, id_hash: &[u8], day: Date) -> Result<Option<HeldPaid>, sqlx::Error> {
        let rows = sqlx::query(
            "SELECT p.id AS person_id, c.id AS period_id, c.category, p.national_id_masked, h.township
             FROM persons p JOIN households h ON h.id = p.household_id
             JOIN category_periods c ON c.person_id = p.id
             WHERE p.id_hash = $1 AND c.category IN ('TEKUN', 'DIBAO_1', 'DIBAO_2')
               AND c.effective_from <= $2 AND (c.effective_to IS NULL OR c.effective_to >= $2)",
        )
        .bind(id_hash)
        .bind(day.to_string())
        .fetch_all(self.db.reads())
        .await?;
        let mut held = rows
            .iter()
            .map(|r| {
                Ok(HeldPaid {
                    person_id: r.try_get("person_id")?,
                    period_id: r.try_get("period_id")?,
                    category: parse_stored("category", &r.try_get::<String, _>("category")?)?,
                    national_id_masked: r.try_get("national_id_masked")?,
                    township: r.try_get("township")?,
                })
            })
            .collect::<Result<Vec<_>, sqlx::Error>>()?;
        held.sort_by_key(|h| h.category);
        Ok(held.into_iter().next())
    }

    /// Records a review; a change of category closes the held period at the end of this month
    /// and (unless stopped) opens the new one from `effective_from`. With `quota_township`, the
    /// new category takes a place in that township's dibao quota (checked under its lock).
    #[allow(clippy::too_many_arguments)]
    pub async fn apply_review(
        &self,
        held: &HeldPaid,
        id_hash: &[u8],
        decision: &str,
        to: Option<Category>,
        changes_category: bool,
        reviewed_on: Date,
        effective_from: Date,
        staff: &Staff,
        note: &str,
        quota_township: Option<&str>,
    ) -> Result<ReviewWrite, sqlx::Error> {
        let now = doudi_runtime::now_rfc3339();
        let (mut tx, version) = self.begin_write().await?;
        if let Some(township) = quota_township
            && let QuotaCheck::Over { quota, enrolled } = self.quota_room(&mut tx, township, effective_from, 1).await?
        {
            tx.rollback().await?;
            return Ok(ReviewWrite::OverQuota { quota, enrolled });
        }
        if changes_category {
            let closed = sqlx::query(
                "UPDATE category_periods SET effective_to = $1, updated_at = $2
                 WHERE id = $3 AND (effective_to IS NULL OR effective_to >= $4)",
            )
            .bind(effective_from.add_days(-1).to_string())
            .bind(&now)
            .bind(held.period_id)
            .bind(effective_from.to_string())
            .execute(&mut *tx)
            .await?
            .rows_affected();
            if closed == 0 {
                tx.rollback().await?;
                return Ok(ReviewWrite::Moved);
            }
            if let Some(to) = to {
                sqlx::query(
                    "INSERT INTO category_periods (person_id, category, effective_from, reviewed_on, source, created_at, updated_at)
                     VALUES ($1, $2, $3, $4, 'review', $5, $5)",
                )
                .bind(held.person_id)
                .bind(to.as_str())
                .bind(effective_from.to_string())
                .bind(reviewed_on.to_string())
                .bind(&now)
                .execute(&mut *tx)
                .await?;
            }
        }
        sqlx::query(
            "INSERT INTO reviews (person_id, reviewed_on, decision, from_category, to_category, effective_from, staff_id, note, created_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        )
        .bind(held.person_id)
        .bind(reviewed_on.to_string())
        .bind(decision)
        .bind(held.category.as_str())
        .bind(to.map(Category::as_str))
        .bind(effective_from.to_string())
        .bind(staff.id)
        .bind(note)
        .bind(&now)
        .execute(&mut *tx)
        .await?;
        self.log_changes(&mut tx, version, &[id_hash]).await?;
        let before = json!({"category": held.category.as_str()});
        let after = json!({"decision": decision, "category": to.map(Category::as_str), "effectiveFrom": effective_from.to_string()});
        self.audit(
            &mut tx,
            AuditEntry::new(&staff.actor(), "review.record", "person", &held.national_id_masked, before, after),
        )
        .await?;
        tx.commit().await?;
        Ok(ReviewWrite::Done)
    }
}
