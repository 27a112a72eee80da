//! The inserts of an import's new households, persons and periods, built on a thread of their
//! own: it seals and binds the next statement while the database runs the current one.
//!
//! Ids are reserved when a chunk is planned, so no statement waits for the ids another one
//! returns. Every row binds its own values: SQLite looks a numbered parameter up by a linear
//! scan, so sharing `$1` across thousands of rows made a statement quadratic.

use crate::registry::import::ImportRow;
use crate::registry::import_plan::ImportPlan;
use crate::store::{HOUSEHOLD_ACCOUNT, PARAMS, PERSON_ID, PERSON_NAME, Store, decode_error};
use doudi_core::NationalId;
use doudi_runtime::db::Backend;
use sqlx::any::AnyArguments;
use sqlx::{AnyConnection, AssertSqlSafe, Row};
use std::collections::HashMap;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

/// One built statement, owning its text and values.
pub(crate) type Insert = sqlx::query::Query<'static, sqlx::Any, AnyArguments>;

/// Statements built ahead of the database: enough to keep it busy, few enough to bound memory.
const BUILT_AHEAD: usize = 4;

/// What every inserted row of one import shares.
#[derive(Debug, Clone)]
pub struct InsertFacts {
    pub now: String,
    pub today: String,
    pub source: String,
}

/// A chunk's plan with the ids its new records take, and those of the existing records they
/// belong to.
#[derive(Debug)]
pub(crate) struct ChunkInserts {
    pub plan: ImportPlan,
    /// The id of each of `plan.new_households`.
    pub household_ids: Vec<i64>,
    /// The id of each of `plan.new_persons`.
    pub person_ids: Vec<i64>,
    /// Registered households and persons the chunk's new persons and periods belong to.
    pub known: KnownIds,
}

/// Ids of households (by number) and persons (by national ID).
#[derive(Debug, Default)]
pub(crate) struct KnownIds {
    pub households: HashMap<String, i64>,
    pub persons: HashMap<NationalId, i64>,
}

/// Ids for new rows, unused by any other writer. On SQLite the import's transaction holds the
/// one write lock, so the ids after the largest at its start are free, and the run counts on
/// from there (the rows of a chunk reserved a moment ago may not be written yet). On PostgreSQL
/// they come from each table's identity sequence, which every insert draws from.
#[derive(Debug, Default)]
pub(crate) struct IdReserve {
    next_on_sqlite: HashMap<&'static str, i64>,
}

impl IdReserve {
    pub async fn ids(
        &mut self,
        store: &Store,
        conn: &mut AnyConnection,
        table: &'static str,
        count: usize,
    ) -> Result<Vec<i64>, sqlx::Error> {
        if count == 0 {
            return Ok(Vec::new());
        }
        match store.db.backend() {
            Backend::Sqlite => {
                let next = match self.next_on_sqlite.get(table) {
                    Some(next) => *next,
                    None => {
                        let sql = format!("SELECT COALESCE(MAX(id), 0) FROM {table}");
                        let largest: i64 = sqlx::query(AssertSqlSafe(sql)).fetch_one(&mut *conn).await?.try_get(0)?;
                        largest + 1
                    }
                };
                self.next_on_sqlite.insert(table, next + count as i64);
                Ok((next..next + count as i64).collect())
            }
            Backend::Postgres => {
                let sql =
                    format!("SELECT nextval(pg_get_serial_sequence('{table}', 'id')) FROM generate_series(1, $1)");
                let rows = sqlx::query(AssertSqlSafe(sql)).bind(count as i64).fetch_all(&mut *conn).await?;
                rows.iter().map(|row| row.try_get::<i64, _>(0)).collect()
            }
        }
    }
}

impl Store {
    /// Starts the builder: it turns each chunk it receives into statements, in order, until
    /// `chunks` closes, or stops when the statements' receiver is dropped.
    pub(crate) fn start_builder(
        &self,
        mut chunks: mpsc::UnboundedReceiver<ChunkInserts>,
        facts: InsertFacts,
    ) -> (mpsc::Receiver<Insert>, JoinHandle<Result<(), sqlx::Error>>) {
        let (send, built) = mpsc::channel::<Insert>(BUILT_AHEAD);
        let store = self.clone();
        let builder = tokio::task::spawn_blocking(move || {
            // Every household and person written so far, and the registered ones referred to.
            let mut ids = KnownIds::default();
            while let Some(chunk) = chunks.blocking_recv() {
                if !store.build_inserts(chunk, &mut ids, &facts, &send)? {
                    break;
                }
            }
            Ok(())
        });
        (built, builder)
    }

    /// Builds a chunk's inserts and hands each to `send`; false once the receiver is gone.
    fn build_inserts(
        &self,
        chunk: ChunkInserts,
        ids: &mut KnownIds,
        facts: &InsertFacts,
        send: &mpsc::Sender<Insert>,
    ) -> Result<bool, sqlx::Error> {
        let ChunkInserts { plan, household_ids, person_ids, known } = chunk;
        ids.households.extend(known.households);
        ids.persons.extend(known.persons);
        let households: Vec<(&ImportRow, i64)> = plan.rows_at(&plan.new_households).zip(household_ids).collect();
        for (row, id) in &households {
            ids.households.insert(row.household_no.clone(), *id);
        }
        let mut persons = Vec::with_capacity(person_ids.len());
        for (row, id) in plan.rows_at(&plan.new_persons).zip(person_ids) {
            let household_id =
                *ids.households.get(&row.household_no).ok_or_else(|| decode_error("household", &row.household_no))?;
            ids.persons.insert(row.national_id.clone(), id);
            persons.push((row, id, household_id));
        }
        let mut periods = Vec::with_capacity(plan.new_periods.len());
        for row in plan.rows_at(&plan.new_periods) {
            let person_id =
                *ids.persons.get(&row.national_id).ok_or_else(|| decode_error("person", &row.national_id.masked()))?;
            periods.push((row, person_id));
        }
        let into_households =
            "households (id, household_no, township, village, bank_account_enc, created_at, updated_at)";
        let delivered = self.deliver_inserts(send, into_households, &households, |insert, (row, id)| {
            let account =
                row.bank_account.as_ref().map(|a| self.seal(&HOUSEHOLD_ACCOUNT, &row.household_no, a.expose()));
            insert
                .bind(*id)
                .bind(row.household_no.clone())
                .bind(row.township.clone())
                .bind(row.village.clone())
                .bind(account)
                .bind(facts.now.clone())
                .bind(facts.now.clone())
        });
        let into_persons = "persons (id, household_id, id_hash, national_id_enc, national_id_masked, name_enc, relation, birth_date, created_at, updated_at)";
        let delivered = delivered
            && self.deliver_inserts(send, into_persons, &persons, |insert, (row, id, household_id)| {
                let hash = self.id_hash(&row.national_id);
                let key = hex::encode(&hash);
                let (sealed_id, sealed_name) = (
                    self.seal(&PERSON_ID, &key, row.national_id.expose()),
                    self.seal(&PERSON_NAME, &key, row.name.expose()),
                );
                insert
                    .bind(*id)
                    .bind(*household_id)
                    .bind(hash)
                    .bind(sealed_id)
                    .bind(row.national_id.masked())
                    .bind(sealed_name)
                    .bind(row.relation.as_str())
                    .bind(row.birth_date.to_string())
                    .bind(facts.now.clone())
                    .bind(facts.now.clone())
            });
        let into_periods = "category_periods (person_id, category, effective_from, effective_to, reviewed_on, source, created_at, updated_at)";
        let delivered = delivered
            && self.deliver_inserts(send, into_periods, &periods, |insert, (row, person_id)| {
                insert
                    .bind(*person_id)
                    .bind(row.category.as_str())
                    .bind(row.effective_from.to_string())
                    .bind(row.effective_to.map(|d| d.to_string()))
                    .bind(facts.today.clone())
                    .bind(facts.source.clone())
                    .bind(facts.now.clone())
                    .bind(facts.now.clone())
            });
        Ok(delivered)
    }

    /// `rows` as multi-row inserts `INSERT INTO {into} VALUES …` (`into`: the table and its
    /// column list, whose length sets the parameters a row), as many rows a statement as its
    /// parameters allow, each row's values bound by `bind`; false once the receiver is gone.
    fn deliver_inserts<T>(
        &self,
        send: &mpsc::Sender<Insert>,
        into: &str,
        rows: &[T],
        mut bind: impl FnMut(Insert, &T) -> Insert,
    ) -> bool {
        let columns = into.matches(',').count() + 1;
        for rows in rows.chunks(PARAMS / columns) {
            let sql = format!("INSERT INTO {into} VALUES {}", self.db.backend().values_rows(rows.len(), columns));
            let insert = rows.iter().fold(sqlx::query(AssertSqlSafe(sql)), &mut bind);
            if send.blocking_send(insert).is_err() {
                return false;
            }
        }
        true
    }
}
