//! The coverage facts as stored: a person's household and every category period, for one
//! person, every person (the index's load), or the persons the change log names.

use crate::coverage::rules::CategoryPeriod;
use crate::store::{Store, stored_period};
use sqlx::any::AnyRow;
use sqlx::{AssertSqlSafe, Row};
use std::collections::HashMap;
use std::sync::Arc;

/// A person's record: the household and every period, one row per period (or one with NULL
/// period columns). Callers add the `WHERE`; `records_by_hash` groups the rows.
const PERSON_RECORD_SELECT: &str =
    "SELECT p.id_hash, h.household_no, h.township, h.village, c.category, c.effective_from, c.effective_to
     FROM persons p
     JOIN households h ON h.id = p.household_id
     LEFT JOIN category_periods c ON c.person_id = p.id";

/// A registered person's household and every category period they hold or held.
#[derive(Debug, Clone)]
pub struct PersonRecord {
    pub household_no: String,
    pub township: String,
    pub village: String,
    pub periods: Vec<CategoryPeriod>,
}

impl Store {
    /// The person's household and all their periods; `None` if not registered. One indexed
    /// query: the path of a one-shot command (a server answers from its coverage index).
    pub async fn person_record(&self, id_hash: &[u8]) -> Result<Option<Arc<PersonRecord>>, sqlx::Error> {
        let sql = format!("{PERSON_RECORD_SELECT} WHERE p.id_hash = $1");
        let rows = sqlx::query(AssertSqlSafe(sql)).bind(id_hash).fetch_all(self.db.reads()).await?;
        Ok(records_by_hash(&rows)?.remove(id_hash))
    }

    /// Every registered person's record, as of a version no older than the one returned.
    pub async fn load_registry(&self) -> Result<(i64, HashMap<Vec<u8>, Arc<PersonRecord>>), sqlx::Error> {
        // The version first: what is read after it is at least that new.
        let (version, _) = self.registry_version().await?;
        let rows = sqlx::query(PERSON_RECORD_SELECT).fetch_all(self.db.reads()).await?;
        Ok((version, records_by_hash(&rows)?))
    }

    /// What changed after `since`: the persons to reload (or drop), or `None` when the index
    /// must reload in full (a bulk change, or a log pruned past `since`).
    pub async fn changes_since(
        &self,
        since: i64,
    ) -> Result<Option<(i64, Vec<(Vec<u8>, Option<Arc<PersonRecord>>)>)>, sqlx::Error> {
        let (version, pruned_through) = self.registry_version().await?;
        if since < pruned_through {
            return Ok(None);
        }
        let hashes: Vec<Vec<u8>> =
            sqlx::query("SELECT DISTINCT id_hash FROM registry_changes WHERE version > $1 AND version <= $2")
                .bind(since)
                .bind(version)
                .fetch_all(self.db.reads())
                .await?
                .iter()
                .map(|row| row.try_get(0))
                .collect::<Result<_, _>>()?;
        if hashes.iter().any(Vec::is_empty) {
            return Ok(None);
        }
        // A writer may have pruned the log after the version was read and before the changes
        // were: what was read could then miss changes after `since`. Read the mark again; past
        // `since` now, reload in full instead.
        let (_, pruned_now) = self.registry_version().await?;
        if since < pruned_now {
            return Ok(None);
        }
        let keys: Vec<&[u8]> = hashes.iter().map(Vec::as_slice).collect();
        let mut conn = self.db.reads().acquire().await?;
        let select = format!("{PERSON_RECORD_SELECT} WHERE p.id_hash IN ({{}})");
        let rows = self.fetch_in(&mut conn, &select, &keys).await?;
        let mut records = records_by_hash(&rows)?;
        let changed = hashes
            .into_iter()
            .map(|h| {
                let record = records.remove(&h);
                (h, record)
            })
            .collect();
        Ok(Some((version, changed)))
    }

    /// Every person holding a category at some time in `year`: (national ID, household number,
    /// the periods that touch the year).
    pub async fn persons_with_periods_in_year(
        &self,
        year: i32,
    ) -> Result<Vec<(String, String, Vec<CategoryPeriod>)>, sqlx::Error> {
        let (first_day, last_day) = (format!("{year:04}-01-01"), format!("{year:04}-12-31"));
        let rows = sqlx::query(
            "SELECT p.id, p.id_hash, p.national_id_enc, h.household_no, c.category, c.effective_from, c.effective_to
             FROM category_periods c
             JOIN persons p ON p.id = c.person_id
             JOIN households h ON h.id = p.household_id
             WHERE c.effective_from <= $1 AND (c.effective_to IS NULL OR c.effective_to >= $2)
             ORDER BY p.id",
        )
        .bind(last_day)
        .bind(first_day)
        .fetch_all(self.db.reads())
        .await?;
        let mut persons: Vec<(i64, String, String, Vec<CategoryPeriod>)> = Vec::new();
        for row in &rows {
            let id: i64 = row.try_get("id")?;
            if persons.last().is_none_or(|(last, ..)| *last != id) {
                let stored: Vec<u8> = row.try_get("national_id_enc")?;
                let row_key = hex::encode(row.try_get::<Vec<u8>, _>("id_hash")?);
                let national_id = self.open_sealed(&crate::store::PERSON_ID, &row_key, &stored)?;
                persons.push((id, national_id, row.try_get("household_no")?, Vec::new()));
            }
            if let Some((.., periods)) = persons.last_mut() {
                periods.push(stored_period(row)?);
            }
        }
        Ok(persons.into_iter().map(|(_, id, household, periods)| (id, household, periods)).collect())
    }
}

/// Groups rows of (id_hash, household, period…) into one record per person.
fn records_by_hash(rows: &[AnyRow]) -> Result<HashMap<Vec<u8>, Arc<PersonRecord>>, sqlx::Error> {
    let mut records: HashMap<Vec<u8>, PersonRecord> = HashMap::with_capacity(rows.len());
    for row in rows {
        let hash: Vec<u8> = row.try_get("id_hash")?;
        let record = match records.entry(hash) {
            std::collections::hash_map::Entry::Occupied(entry) => entry.into_mut(),
            std::collections::hash_map::Entry::Vacant(entry) => entry.insert(PersonRecord {
                household_no: row.try_get("household_no")?,
                township: row.try_get("township")?,
                village: row.try_get("village")?,
                periods: Vec::new(),
            }),
        };
        if row.try_get::<Option<String>, _>("category")?.is_some() {
            record.periods.push(stored_period(row)?);
        }
    }
    Ok(records.into_iter().map(|(hash, record)| (hash, Arc::new(record))).collect())
}
