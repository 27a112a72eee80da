//! PostgreSQL: a commit group in one statement, the group form of `SETTLE_IF_UNCHANGED`. Each
//! person's year is calculated from the figures this process last wrote or read (one read for
//! the years it does not know), and the statement sets every year only if it still holds those
//! figures (compare-and-set per person and year) and writes the settlements, payables and
//! access-log lines of exactly the years it set. One round trip and one commit for the group,
//! instead of a transaction's seven.
//!
//! What it cannot settle it leaves to the locked transaction (`group_write`), which gives the
//! same answers: the persons whose years had changed (another replica, a reversal) and, if any
//! bill number was already taken (the statement then fails whole), the entire group.

use crate::access_log::{ANSWERED, AccessAction};
use crate::error::Result;
use crate::outbox::HOSPITAL_PAYABLE;
use crate::settle::engine::{Calculation, YearAccumulators};
use crate::settle::group::Job;
use crate::settle::group_write::{calculate_on, duplicates_in_group};
use crate::settle::store::{ACCUMULATOR_COLUMNS, accumulators_from_row};
use crate::settle::write::{
    AnyQuery, PersonYear, SETTLEMENT_ARITY, SETTLEMENT_WRITTEN_COLUMNS, Settled, bind_accumulators, bind_settlement,
    payable_message,
};
use crate::store::Store;
use doudi_runtime::Backend;
use sqlx::Row;
use std::collections::{BTreeMap, BTreeSet, HashSet};

/// A person's year as the group found and leaves it.
#[derive(Debug, Clone, Copy)]
struct YearChange {
    before: YearAccumulators,
    after: YearAccumulators,
}

impl Store {
    /// Settles what it can of `jobs` in one statement: the answer of each job, `None` for a
    /// job left to the locked transaction. `Err` (nothing written) when the statement failed,
    /// e.g. on a bill number already taken.
    pub(crate) async fn settle_group_if_unchanged(
        &self,
        jobs: &[Job],
    ) -> Result<Vec<Option<Result<Settled>>>, sqlx::Error> {
        let mut years = self.guessed_years(jobs).await?;
        let mut answers: Vec<Option<Result<Settled>>> = (0..jobs.len()).map(|_| None).collect();
        let mut written: Vec<(usize, Calculation)> = Vec::with_capacity(jobs.len());
        let repeated = duplicates_in_group(jobs);
        for (i, job) in jobs.iter().enumerate() {
            if repeated.contains(&i) {
                answers[i] = Some(Ok(Settled::BillNoTaken));
                continue;
            }
            let Some(change) = years.get_mut(&job.new.person_year()) else { continue };
            match calculate_on(&mut change.after, job) {
                Ok(calculation) => written.push((i, calculation)),
                Err(e) => answers[i] = Some(Err(e)),
            }
        }
        if written.is_empty() {
            return Ok(answers);
        }
        let changed: HashSet<PersonYear> = written.iter().map(|(i, _)| jobs[*i].new.person_year()).collect();
        years.retain(|key, _| changed.contains(key));
        let inserted = self.write_if_unchanged(jobs, &written, &years).await?;
        for (key, change) in &years {
            match inserted.contains(key) {
                true => self.known_years.remember(&key.0, key.1, change.after),
                false => self.known_years.forget(&key.0, key.1),
            }
        }
        for (i, calculation) in written {
            answers[i] = Some(Ok(Settled::Inserted(Box::new(calculation))));
        }
        // A person whose year had changed is settled again under the lock, every bill of theirs
        // in the group with it.
        for (i, job) in jobs.iter().enumerate() {
            let key = job.new.person_year();
            if years.contains_key(&key) && !inserted.contains(&key) {
                answers[i] = None;
            }
        }
        Ok(answers)
    }

    /// The group's years as this process last knew them, read for the ones it does not know.
    async fn guessed_years(&self, jobs: &[Job]) -> Result<BTreeMap<PersonYear, YearChange>, sqlx::Error> {
        let mut years = BTreeMap::new();
        let mut unknown = BTreeSet::new();
        for job in jobs {
            let key = job.new.person_year();
            if years.contains_key(&key) || unknown.contains(&key) {
                continue;
            }
            match self.known_years.get(&key.0, key.1) {
                Some(known) => {
                    years.insert(key, YearChange { before: known, after: known });
                }
                None => {
                    unknown.insert(key);
                }
            }
        }
        if unknown.is_empty() {
            return Ok(years);
        }
        let sql = format!(
            "SELECT person_key, year, {ACCUMULATOR_COLUMNS} FROM accumulators WHERE (person_key, year) IN (VALUES {})",
            Backend::Postgres.values_rows(unknown.len(), 2)
        );
        let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
        for (key, year) in &unknown {
            query = query.bind(key.as_slice()).bind(*year);
        }
        let rows = query.fetch_all(self.db.reads()).await?;
        for key in unknown {
            years.insert(key, YearChange { before: YearAccumulators::default(), after: YearAccumulators::default() });
        }
        for row in &rows {
            let key: (Vec<u8>, i64) = (row.try_get(0)?, row.try_get(1)?);
            let stored = accumulators_from_row(row, 2)?;
            years.insert(key, YearChange { before: stored, after: stored });
        }
        Ok(years)
    }

    /// The statement; the person-years it set (their settlements are written).
    async fn write_if_unchanged(
        &self,
        jobs: &[Job],
        written: &[(usize, Calculation)],
        years: &BTreeMap<PersonYear, YearChange>,
    ) -> Result<HashSet<PersonYear>, sqlx::Error> {
        let pg = Backend::Postgres;
        // Parameters: the years (2 + 6 after + 6 before each), then the settlements, then the
        // payables (settlement id, key, payload).
        let years_values = pg.values_rows(years.len(), 14);
        let offset = years.len() * 14;
        let settlements_values = shifted(pg.values_rows(written.len(), SETTLEMENT_ARITY), offset);
        let offset = offset + written.len() * SETTLEMENT_ARITY;
        let payables_values = shifted(pg.values_rows(written.len(), 3), offset);
        let settle = AccessAction::Settle.as_str();
        let sql = format!(
            "WITH changes (person_key, year, a1, a2, a3, a4, a5, a6, b1, b2, b3, b4, b5, b6) AS (VALUES {years_values}), \
             acc AS (INSERT INTO accumulators (person_key, year, {ACCUMULATOR_COLUMNS}) \
               SELECT person_key, year, a1, a2, a3, a4, a5, a6 FROM changes \
               ON CONFLICT (person_key, year) DO UPDATE SET basic_inpatient_paid = excluded.basic_inpatient_paid, \
               basic_outpatient_paid = excluded.basic_outpatient_paid, critical_base = excluded.critical_base, \
               critical_paid = excluded.critical_paid, assistance_base = excluded.assistance_base, \
               assistance_paid = excluded.assistance_paid \
               WHERE ({ACCUMULATOR_COLUMNS_QUALIFIED}) = (SELECT b1, b2, b3, b4, b5, b6 FROM changes c \
                 WHERE c.person_key = accumulators.person_key AND c.year = accumulators.year) \
               RETURNING person_key, year), \
             incoming ({SETTLEMENT_WRITTEN_COLUMNS}) AS (VALUES {settlements_values}), \
             settled AS (INSERT INTO settlements ({SETTLEMENT_WRITTEN_COLUMNS}) SELECT incoming.* FROM incoming \
               WHERE (incoming.person_key, incoming.year) IN (SELECT person_key, year FROM acc) \
               RETURNING id, hospital_code, person_key, national_id_masked, settled_at, settled_day), \
             payables (settlement_id, message_key, payload) AS (VALUES {payables_values}), \
             queued AS (INSERT INTO outbox_messages (topic, message_key, payload, created_at) \
               SELECT '{HOSPITAL_PAYABLE}', p.message_key, p.payload, s.settled_at FROM payables p \
               JOIN settled s ON s.id = p.settlement_id), \
             logged AS (INSERT INTO access_log (at, day, hospital_code, person_key, national_id_masked, action, \
               outcome, reference) SELECT settled_at, settled_day, hospital_code, person_key, national_id_masked, \
               '{settle}', '{ANSWERED}', id FROM settled) \
             SELECT person_key, year FROM acc"
        );
        let mut query: AnyQuery<'_> = sqlx::query(sqlx::AssertSqlSafe(sql));
        for ((key, year), change) in years {
            query = bind_accumulators(
                bind_accumulators(query.bind(key.as_slice()).bind(*year), &change.after),
                &change.before,
            );
        }
        for (i, calculation) in written {
            query = bind_settlement(query, &jobs[*i].new, calculation)?;
        }
        let payables: Vec<(String, Vec<u8>)> =
            written.iter().map(|(i, calculation)| payable_message(&jobs[*i].new, calculation)).collect();
        for ((i, _), (key, payload)) in written.iter().zip(payables) {
            query = query.bind(jobs[*i].new.id.as_str()).bind(key).bind(payload);
        }
        let rows = query.fetch_all(self.db.writes()).await?;
        rows.iter().map(|row| Ok::<PersonYear, sqlx::Error>((row.try_get(0)?, row.try_get(1)?))).collect()
    }
}

const ACCUMULATOR_COLUMNS_QUALIFIED: &str = "accumulators.basic_inpatient_paid, accumulators.basic_outpatient_paid, \
     accumulators.critical_base, accumulators.critical_paid, accumulators.assistance_base, accumulators.assistance_paid";

/// `$1 … $n` of a generated VALUES list renumbered from `offset + 1`.
fn shifted(values: String, offset: usize) -> String {
    let mut out = String::with_capacity(values.len() + values.len() / 4);
    let mut chars = values.chars().peekable();
    while let Some(c) = chars.next() {
        out.push(c);
        if c == '$' {
            let mut number = 0usize;
            while let Some(d) = chars.peek().and_then(|d| d.to_digit(10)) {
                number = number * 10 + d as usize;
                chars.next();
            }
            out.push_str(&(number + offset).to_string());
        }
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn shifted_renumbers_every_parameter() {
        assert_eq!(super::shifted("($1, $2), ($3, $4)".to_owned(), 10), "($11, $12), ($13, $14)");
    }
}
