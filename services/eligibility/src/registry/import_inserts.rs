//! The inserts of an import's new households, persons and periods, pipelined: a thread of its
//! own seals and binds the next statement while the database runs the current one.
//!
//! Ids are reserved before anything is written, so no statement waits for the ids another one
//! returns: households, persons and periods can be built all ahead of the database. Every row binds
//! its own values: SQLite looks a numbered parameter up by a linear scan, so sharing `$1`
//! across thousands of rows made a statement quadratic.

use crate::registry::import::ImportRow;
use crate::registry::import_plan::{Existing, ImportPlan};
use crate::store::{HOUSEHOLD_ACCOUNT, PARAMS, PERSON_ID, PERSON_NAME, Store, decode_error};
use doudi_core::NationalId;
use doudi_runtime::db::Backend;
use sqlx::any::AnyArguments;
use sqlx::{AnyConnection, AssertSqlSafe, Row};
use std::collections::HashMap;
use std::sync::Arc;
use tokio::sync::mpsc;

/// One built statement, owning its text and values.
type Insert = sqlx::query::Query<'static, sqlx::Any, AnyArguments>;

/// Statements built ahead of the database: enough to keep it busy, few enough to bound memory.
const BUILT_AHEAD: usize = 2;

/// What every inserted row of one import shares.
#[derive(Debug, Clone)]
pub struct InsertFacts {
    pub now: String,
    pub today: String,
    pub source: String,
}

/// The ids the new records will take, reserved in the import's transaction.
#[derive(Debug, Default)]
struct ReservedIds {
    households: Vec<i64>,
    persons: Vec<i64>,
}

impl Store {
    /// Writes the plan's new households, persons and periods in `conn`'s transaction.
    pub(crate) async fn insert_new_records(
        &self,
        conn: &mut AnyConnection,
        plan: &Arc<ImportPlan>,
        existing: &Arc<Existing>,
        facts: InsertFacts,
    ) -> Result<(), sqlx::Error> {
        let ids = ReservedIds {
            households: self.reserve_ids(conn, "households", plan.new_households.len()).await?,
            persons: self.reserve_ids(conn, "persons", plan.new_persons.len()).await?,
        };
        let (send, mut built) = mpsc::channel::<Insert>(BUILT_AHEAD);
        let builder = {
            let (store, plan, existing) = (self.clone(), plan.clone(), existing.clone());
            tokio::task::spawn_blocking(move || store.build_inserts(&plan, &existing, &ids, &facts, &send))
        };
        let mut written = Ok(());
        while let Some(insert) = built.recv().await {
            if let Err(e) = insert.execute(&mut *conn).await {
                written = Err(e);
                break;
            }
        }
        // Dropping the receiver stops a builder that is still ahead of a failed statement.
        drop(built);
        let building = builder.await.map_err(|e| sqlx::Error::Protocol(format!("import builder: {e}")))?;
        written.and(building)
    }

    /// `count` ids for new rows of `table`, unused by any other writer. On SQLite the import's
    /// transaction holds the one write lock, so the ids after the largest are free; on
    /// PostgreSQL they come from the table's identity sequence, which every insert draws from.
    async fn reserve_ids(&self, conn: &mut AnyConnection, table: &str, count: usize) -> Result<Vec<i64>, sqlx::Error> {
        if count == 0 {
            return Ok(Vec::new());
        }
        match self.db.backend() {
            Backend::Sqlite => {
                let sql = format!("SELECT COALESCE(MAX(id), 0) FROM {table}");
                let largest: i64 = sqlx::query(AssertSqlSafe(sql)).fetch_one(&mut *conn).await?.try_get(0)?;
                Ok((largest + 1..=largest + count as i64).collect())
            }
            Backend::Postgres => {
                let sql =
                    format!("SELECT nextval(pg_get_serial_sequence('{table}', 'id')) FROM generate_series(1, $1)");
                let rows = sqlx::query(AssertSqlSafe(sql)).bind(count as i64).fetch_all(&mut *conn).await?;
                rows.iter().map(|row| row.try_get::<i64, _>(0)).collect()
            }
        }
    }

    /// Builds every insert of the plan in order and hands each to `send`; stops early when the
    /// receiving side has stopped (a statement failed).
    fn build_inserts(
        &self,
        plan: &ImportPlan,
        existing: &Existing,
        ids: &ReservedIds,
        facts: &InsertFacts,
        send: &mpsc::Sender<Insert>,
    ) -> Result<(), sqlx::Error> {
        let deliver = |insert: Insert| send.blocking_send(insert).is_ok();
        let backend = self.db.backend();
        let mut household_ids: HashMap<&str, i64> =
            existing.households.iter().map(|(no, h)| (no.as_str(), h.id)).collect();
        let households: Vec<&ImportRow> = plan.rows_at(&plan.new_households).collect();
        for (chunk, chunk_ids) in households.chunks(PARAMS / 7).zip(ids.households.chunks(PARAMS / 7)) {
            let sql = format!(
                "INSERT INTO households (id, household_no, township, village, bank_account_enc, created_at, updated_at) VALUES {}",
                backend.values_rows(chunk.len(), 7)
            );
            let mut insert = sqlx::query(AssertSqlSafe(sql));
            for (row, &id) in chunk.iter().zip(chunk_ids) {
                let account =
                    row.bank_account.as_ref().map(|a| self.seal(&HOUSEHOLD_ACCOUNT, &row.household_no, a.expose()));
                insert = insert
                    .bind(id)
                    .bind(row.household_no.clone())
                    .bind(row.township.clone())
                    .bind(row.village.clone())
                    .bind(account)
                    .bind(facts.now.clone())
                    .bind(facts.now.clone());
                household_ids.insert(&row.household_no, id);
            }
            if !deliver(insert) {
                return Ok(());
            }
        }
        let mut person_ids: HashMap<&NationalId, i64> = existing.persons.iter().map(|(id, p)| (id, p.id)).collect();
        let persons: Vec<&ImportRow> = plan.rows_at(&plan.new_persons).collect();
        for (chunk, chunk_ids) in persons.chunks(PARAMS / 10).zip(ids.persons.chunks(PARAMS / 10)) {
            let sql = format!(
                "INSERT INTO persons (id, household_id, id_hash, national_id_enc, national_id_masked, name_enc, relation, birth_date, created_at, updated_at)
                 VALUES {}",
                backend.values_rows(chunk.len(), 10)
            );
            let mut insert = sqlx::query(AssertSqlSafe(sql));
            for (row, &id) in chunk.iter().zip(chunk_ids) {
                let household_id = household_ids
                    .get(row.household_no.as_str())
                    .copied()
                    .ok_or_else(|| decode_error("household", &row.household_no))?;
                let hash = self.id_hash(&row.national_id);
                let key = hex::encode(&hash);
                let (sealed_id, sealed_name) = (
                    self.seal(&PERSON_ID, &key, row.national_id.expose()),
                    self.seal(&PERSON_NAME, &key, row.name.expose()),
                );
                insert = insert
                    .bind(id)
                    .bind(household_id)
                    .bind(hash)
                    .bind(sealed_id)
                    .bind(row.national_id.masked())
                    .bind(sealed_name)
                    .bind(row.relation.as_str())
                    .bind(row.birth_date.to_string())
                    .bind(facts.now.clone())
                    .bind(facts.now.clone());
                person_ids.insert(&row.national_id, id);
            }
            if !deliver(insert) {
                return Ok(());
            }
        }
        let periods: Vec<&ImportRow> = plan.rows_at(&plan.new_periods).collect();
        for chunk in periods.chunks(PARAMS / 8) {
            let sql = format!(
                "INSERT INTO category_periods (person_id, category, effective_from, effective_to, reviewed_on, source, created_at, updated_at) VALUES {}",
                backend.values_rows(chunk.len(), 8)
            );
            let mut insert = sqlx::query(AssertSqlSafe(sql));
            for row in chunk {
                let person_id = person_ids
                    .get(&row.national_id)
                    .copied()
                    .ok_or_else(|| decode_error("person", &row.national_id.masked()))?;
                insert = insert
                    .bind(person_id)
                    .bind(row.category.as_str())
                    .bind(row.effective_from.to_string())
                    .bind(row.effective_to.map(|d| d.to_string()))
                    .bind(facts.today.clone())
                    .bind(facts.source.clone())
                    .bind(facts.now.clone())
                    .bind(facts.now.clone());
            }
            if !deliver(insert) {
                return Ok(());
            }
        }
        Ok(())
    }
}
