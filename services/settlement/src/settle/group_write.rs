//! One commit group's transaction: the persons' years read (and on PostgreSQL locked), each
//! settlement calculated in arrival order on its person's year as the earlier ones of the group
//! left it, then every settlement, year, payable and access-log line written by one multi-row
//! statement each, and one commit.
//!
//! A settlement that fails its calculation is answered with that failure and writes nothing;
//! the others are unaffected. A bill number already taken (the same bill again, in this group
//! or before it) is answered `BillNoTaken`, exactly as alone: the group's insert skips taken
//! numbers, and if any was skipped the transaction is started again without them, because the
//! later settlements of that person were calculated on a year that included it.

use crate::access_log::store::log_access_many;
use crate::error::{Result, SettlementError};
use crate::outbox::HOSPITAL_PAYABLE;
use crate::outbox::store::{Message, enqueue_many};
use crate::settle::engine::{Calculation, YearAccumulators};
use crate::settle::group::Job;
use crate::settle::store::{ACCUMULATOR_COLUMNS, accumulators_from_row};
use crate::settle::write::{
    AnyQuery, PersonYear, SETTLEMENT_ARITY, SETTLEMENT_INSERT, Settled, bind_accumulators, bind_settlement,
    payable_message, settle_access,
};
use crate::store::Store;
use doudi_runtime::Backend;
use sqlx::{AnyConnection, Row};
use std::collections::{BTreeMap, BTreeSet, HashSet};

impl Store {
    /// Writes `jobs` in one transaction and gives each its answer, in order. `Err` only for a
    /// failure of the database, with nothing written.
    pub(crate) async fn write_group(&self, jobs: &[Job]) -> Result<Vec<Result<Settled>>, sqlx::Error> {
        let mut taken = duplicates_in_group(jobs);
        loop {
            let mut tx = self.db.writes().begin().await?;
            let mut years = self.years_for_update(&mut tx, jobs).await?;
            let mut results: Vec<Option<Result<Settled>>> = (0..jobs.len()).map(|_| None).collect();
            let mut written: Vec<(usize, Calculation)> = Vec::with_capacity(jobs.len());
            for (i, job) in jobs.iter().enumerate() {
                if taken.contains(&i) {
                    results[i] = Some(Ok(Settled::BillNoTaken));
                    continue;
                }
                let year = years
                    .get_mut(&job.new.person_year())
                    .ok_or_else(|| sqlx::Error::Protocol("a person's year of the group was not read".to_owned()))?;
                match calculate_on(year, job) {
                    Ok(calculation) => written.push((i, calculation)),
                    Err(e) => results[i] = Some(Err(e)),
                }
            }
            if written.is_empty() {
                tx.rollback().await?;
                return Ok(every_answer(results));
            }
            let inserted = insert_settlements(&mut tx, self.db.backend(), jobs, &written).await?;
            if inserted.len() < written.len() {
                tx.rollback().await?;
                taken.extend(written.iter().map(|(i, _)| *i).filter(|i| !inserted.contains(jobs[*i].new.id.as_str())));
                continue;
            }
            let changed: HashSet<PersonYear> = written.iter().map(|(i, _)| jobs[*i].new.person_year()).collect();
            years.retain(|key, _| changed.contains(key));
            write_years(&mut tx, self.db.backend(), &years).await?;
            let payables: Vec<(String, Vec<u8>)> =
                written.iter().map(|(i, calc)| payable_message(&jobs[*i].new, calc)).collect();
            let messages: Vec<Message<'_>> = written
                .iter()
                .zip(&payables)
                .map(|((i, _), (key, payload))| Message { key, payload, now: &jobs[*i].new.now })
                .collect();
            enqueue_many(&mut tx, self.db.backend(), HOSPITAL_PAYABLE, &messages).await?;
            let masked: Vec<String> = written.iter().map(|(i, _)| jobs[*i].new.bill.national_id.masked()).collect();
            let lines: Vec<_> = written
                .iter()
                .zip(&masked)
                .map(|((i, _), masked)| {
                    (settle_access(&jobs[*i].new, masked), jobs[*i].new.now.as_str(), jobs[*i].new.today)
                })
                .collect();
            log_access_many(&mut tx, self.db.backend(), &lines).await?;
            tx.commit().await?;
            for ((key, year), values) in years {
                self.known_years.remember(&key, year, values);
            }
            for (i, calculation) in written {
                results[i] = Some(Ok(Settled::Inserted(Box::new(calculation))));
            }
            return Ok(every_answer(results));
        }
    }

    /// The years of the group's persons as they stand, all zero for a year not yet stored. On
    /// PostgreSQL the rows are created if missing and locked until commit, in key order (so two
    /// replicas' groups never wait on each other in a cycle); on SQLite the one writer
    /// connection already excludes every other write.
    async fn years_for_update(
        &self,
        tx: &mut AnyConnection,
        jobs: &[Job],
    ) -> Result<BTreeMap<PersonYear, YearAccumulators>, sqlx::Error> {
        let wanted: BTreeMap<PersonYear, YearAccumulators> =
            jobs.iter().map(|j| (j.new.person_year(), YearAccumulators::default())).collect();
        let backend = self.db.backend();
        let query = match backend {
            Backend::Postgres => {
                let sql = format!(
                    "INSERT INTO accumulators (person_key, year) VALUES {} ON CONFLICT (person_key, year) \
                     DO UPDATE SET year = excluded.year RETURNING person_key, year, {ACCUMULATOR_COLUMNS}",
                    backend.values_rows(wanted.len(), 2)
                );
                let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
                for (key, year) in wanted.keys() {
                    query = query.bind(key.as_slice()).bind(*year);
                }
                query
            }
            // By person only: SQLite scans the whole table for a row-value IN over several
            // VALUES rows, but searches the key's index for a plain IN list. Other years of the
            // persons are left out below.
            Backend::Sqlite => {
                let persons: BTreeSet<&[u8]> = wanted.keys().map(|(key, _)| key.as_slice()).collect();
                let sql = format!(
                    "SELECT person_key, year, {ACCUMULATOR_COLUMNS} FROM accumulators WHERE person_key IN ({})",
                    backend.placeholders(1, persons.len())
                );
                persons.into_iter().fold(sqlx::query(sqlx::AssertSqlSafe(sql)), |query, key| query.bind(key))
            }
        };
        let rows = query.fetch_all(&mut *tx).await?;
        let mut years = wanted;
        for row in &rows {
            let key: Vec<u8> = row.try_get(0)?;
            let year: i64 = row.try_get(1)?;
            if let Some(values) = years.get_mut(&(key, year)) {
                *values = accumulators_from_row(row, 2)?;
            }
        }
        Ok(years)
    }
}

/// Each job is answered by the loop above: taken, failed or written.
fn every_answer(results: Vec<Option<Result<Settled>>>) -> Vec<Result<Settled>> {
    results.into_iter().map(|r| r.expect("every settlement of the group has its answer")).collect()
}

/// Later submissions of a bill number already in the group: one settlement, and the later
/// ones answered as a retry of it.
pub(super) fn duplicates_in_group(jobs: &[Job]) -> HashSet<usize> {
    let mut seen = HashSet::with_capacity(jobs.len());
    (0..jobs.len()).filter(|&i| !seen.insert((&jobs[i].new.hospital_code, &jobs[i].new.bill.bill_no))).collect()
}

/// The job's calculation on `year`, which then holds the year after it.
pub(super) fn calculate_on(year: &mut YearAccumulators, job: &Job) -> Result<Calculation> {
    let calculation = (job.calculate)(year)?;
    *year = year.plus(&calculation.added).map_err(SettlementError::internal)?;
    Ok(calculation)
}

/// Inserts the written settlements, skipping bill numbers already taken; the ids inserted.
async fn insert_settlements(
    tx: &mut AnyConnection,
    backend: Backend,
    jobs: &[Job],
    written: &[(usize, Calculation)],
) -> Result<HashSet<String>, sqlx::Error> {
    let sql = format!(
        "{SETTLEMENT_INSERT} VALUES {} ON CONFLICT (hospital_code, bill_no) DO NOTHING RETURNING id",
        backend.values_rows(written.len(), SETTLEMENT_ARITY)
    );
    let mut query: AnyQuery<'_> = sqlx::query(sqlx::AssertSqlSafe(sql));
    for (i, calculation) in written {
        query = bind_settlement(query, &jobs[*i].new, calculation)?;
    }
    let rows = query.fetch_all(&mut *tx).await?;
    rows.iter().map(|row| row.try_get::<String, _>(0)).collect()
}

/// The years' new figures, one row each.
async fn write_years(
    tx: &mut AnyConnection,
    backend: Backend,
    years: &BTreeMap<PersonYear, YearAccumulators>,
) -> Result<(), sqlx::Error> {
    let sql = format!(
        "INSERT INTO accumulators (person_key, year, {ACCUMULATOR_COLUMNS}) VALUES {} \
         ON CONFLICT (person_key, year) DO UPDATE SET basic_inpatient_paid = excluded.basic_inpatient_paid, \
         basic_outpatient_paid = excluded.basic_outpatient_paid, critical_base = excluded.critical_base, \
         critical_paid = excluded.critical_paid, assistance_base = excluded.assistance_base, \
         assistance_paid = excluded.assistance_paid",
        backend.values_rows(years.len(), 8)
    );
    let mut query: AnyQuery<'_> = sqlx::query(sqlx::AssertSqlSafe(sql));
    for ((key, year), values) in years {
        query = bind_accumulators(query.bind(key.as_slice()).bind(*year), values);
    }
    query.execute(&mut *tx).await?;
    Ok(())
}
