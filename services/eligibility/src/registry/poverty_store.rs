//! The statements of a poverty-list match: the listed persons marked REGISTERED_POOR, and the
//! dibao households to compare the list with, in one audited transaction.

use crate::registry::poverty::{PoorPerson, PovertyMatch, compare};
use crate::store::Store;
use doudi_core::Date;
use doudi_runtime::audit::AuditEntry;
use serde_json::{Value, json};
use sqlx::Row;

impl Store {
    /// Marks the listed persons REGISTERED_POOR from `today` (unless they already hold it then),
    /// in one audited transaction, and compares the list with dibao households.
    pub async fn match_poverty(
        &self,
        persons: &[PoorPerson],
        today: Date,
        actor: &str,
    ) -> Result<PovertyMatch, sqlx::Error> {
        let now = doudi_runtime::now_rfc3339();
        let day = today.to_string();
        let (mut tx, version) = self.begin_write().await?;
        let mut outcome = PovertyMatch::default();
        let mut touched: Vec<Vec<u8>> = Vec::new();
        for person in persons {
            let hash = self.id_hash(&person.national_id);
            let found = sqlx::query(
                "SELECT p.id, h.household_no FROM persons p JOIN households h ON h.id = p.household_id WHERE p.id_hash = $1",
            )
            .bind(&hash)
            .fetch_optional(&mut *tx)
            .await?;
            let Some(found) = found else {
                outcome.unknown.push((person.line, person.national_id.masked()));
                continue;
            };
            let person_id: i64 = found.try_get("id")?;
            let registered_in: String = found.try_get("household_no")?;
            if registered_in != person.household_no {
                outcome.moved.push((person.line, person.national_id.masked(), registered_in));
            }
            let inserted = sqlx::query(
                "INSERT INTO category_periods (person_id, category, effective_from, reviewed_on, source, created_at, updated_at)
                 SELECT $1, 'REGISTERED_POOR', $2, $2, 'poverty-list', $3, $3
                 WHERE NOT EXISTS (SELECT 1 FROM category_periods WHERE person_id = $1 AND category = 'REGISTERED_POOR'
                                   AND (effective_to IS NULL OR effective_to >= $2))",
            )
            .bind(person_id)
            .bind(&day)
            .bind(&now)
            .execute(&mut *tx)
            .await?
            .rows_affected();
            if inserted == 0 {
                outcome.already += 1;
            } else {
                outcome.marked += 1;
                touched.push(hash);
            }
        }
        let refs: Vec<&[u8]> = touched.iter().map(Vec::as_slice).collect();
        self.log_changes(&mut tx, version, &refs).await?;
        let dibao: std::collections::BTreeSet<String> = sqlx::query(
            "SELECT DISTINCT h.household_no FROM category_periods c
             JOIN persons p ON p.id = c.person_id JOIN households h ON h.id = p.household_id
             WHERE c.category IN ('DIBAO_1', 'DIBAO_2') AND c.effective_from <= $1
               AND (c.effective_to IS NULL OR c.effective_to >= $1)",
        )
        .bind(&day)
        .fetch_all(&mut *tx)
        .await?
        .iter()
        .map(|r| r.try_get("household_no"))
        .collect::<Result<_, _>>()?;
        let listed = persons.iter().map(|p| p.household_no.clone()).collect();
        (outcome.poor_without_dibao, outcome.dibao_not_registered_poor) = compare(&listed, &dibao);
        let after = json!({
            "listed": persons.len(), "marked": outcome.marked, "already": outcome.already,
            "unknown": outcome.unknown.len(), "moved": outcome.moved.len(),
        });
        self.audit(&mut tx, AuditEntry::new(actor, "registry.match_poverty", "registry", &day, Value::Null, after))
            .await?;
        tx.commit().await?;
        Ok(outcome)
    }
}
