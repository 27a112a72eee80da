//! Townships' dibao quotas (enrolled persons) and the county's poor villages, which order the
//! waiting list.

use crate::store::Store;
use doudi_core::Date;
use doudi_runtime::audit::AuditEntry;
use serde_json::{Value, json};
use sqlx::{AnyConnection, Row};

/// Whether more dibao persons fit a township's quota.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QuotaCheck {
    Fits,
    /// `enrolled` persons hold dibao then; `quota` is `None` when none is set.
    Over {
        quota: Option<i64>,
        enrolled: i64,
    },
}

impl Store {
    /// Whether `adding` more dibao persons fit `township`'s quota on `day`. Locks the quota row
    /// until the caller's transaction ends: approvals and reviews of one township queue here,
    /// so two of them cannot both take the last place.
    pub(crate) async fn quota_room(
        &self,
        conn: &mut AnyConnection,
        township: &str,
        day: Date,
        adding: i64,
    ) -> Result<QuotaCheck, sqlx::Error> {
        if adding == 0 {
            return Ok(QuotaCheck::Fits);
        }
        let quota: Option<i64> =
            sqlx::query("UPDATE township_quotas SET updated_at = updated_at WHERE township = $1 RETURNING dibao_quota")
                .bind(township)
                .fetch_optional(&mut *conn)
                .await?
                .map(|r| r.try_get(0))
                .transpose()?;
        let enrolled = self.enrolled_dibao(conn, township, day).await?;
        Ok(match quota {
            Some(q) if enrolled + adding <= q => QuotaCheck::Fits,
            _ => QuotaCheck::Over { quota, enrolled },
        })
    }

    /// Persons of `township` holding DIBAO_1 or DIBAO_2 on `day`.
    pub(crate) async fn enrolled_dibao(
        &self,
        conn: &mut AnyConnection,
        township: &str,
        day: Date,
    ) -> Result<i64, sqlx::Error> {
        sqlx::query(
            "SELECT COUNT(DISTINCT c.person_id) FROM category_periods c
             JOIN persons p ON p.id = c.person_id JOIN households h ON h.id = p.household_id
             WHERE h.township = $1 AND c.category IN ('DIBAO_1', 'DIBAO_2')
               AND c.effective_from <= $2 AND (c.effective_to IS NULL OR c.effective_to >= $2)",
        )
        .bind(township)
        .bind(day.to_string())
        .fetch_one(conn)
        .await?
        .try_get(0)
    }

    pub async fn set_quota(&self, township: &str, quota: i64, actor: &str) -> Result<(), sqlx::Error> {
        let now = doudi_runtime::now_rfc3339();
        let mut tx = self.db.writes().begin().await?;
        sqlx::query(
            "INSERT INTO township_quotas (township, dibao_quota, updated_at) VALUES ($1, $2, $3)
             ON CONFLICT (township) DO UPDATE SET dibao_quota = excluded.dibao_quota, updated_at = excluded.updated_at",
        )
        .bind(township)
        .bind(quota)
        .bind(&now)
        .execute(&mut *tx)
        .await?;
        let after = json!({"dibaoQuota": quota});
        self.audit(&mut tx, AuditEntry::new(actor, "township.quota", "township", township, Value::Null, after)).await?;
        tx.commit().await
    }

    pub async fn enrolled_dibao_on(&self, township: &str, day: Date) -> Result<i64, sqlx::Error> {
        let mut conn = self.db.reads().acquire().await?;
        self.enrolled_dibao(&mut conn, township, day).await
    }

    pub async fn set_poor_village(
        &self,
        township: &str,
        village: &str,
        poor: bool,
        actor: &str,
    ) -> Result<(), sqlx::Error> {
        let mut tx = self.db.writes().begin().await?;
        let statement = if poor {
            "INSERT INTO poor_villages (township, village) VALUES ($1, $2) ON CONFLICT (township, village) DO NOTHING"
        } else {
            "DELETE FROM poor_villages WHERE township = $1 AND village = $2"
        };
        sqlx::query(statement).bind(township).bind(village).execute(&mut *tx).await?;
        let key = format!("{township}/{village}");
        self.audit(
            &mut tx,
            AuditEntry::new(actor, "village.poor", "village", &key, Value::Null, json!({"poor": poor})),
        )
        .await?;
        tx.commit().await
    }
}
