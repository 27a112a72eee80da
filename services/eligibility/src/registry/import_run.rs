//! One import run, pipelined in one transaction: a thread reads and checks the file a chunk at
//! a time; each chunk is planned against the registry inside the transaction; a second thread
//! seals and binds its inserts; the database writes them. Reading the next chunk, sealing this
//! one and writing the one before go on at once.
//!
//! All or nothing as before: the whole file, or (with `skip_invalid`) all of its valid rows. A
//! refused file is still read to its end, so every error is reported, and nothing is committed.

use crate::changelog::CHANGE_LOG_LIMIT;
use crate::error::EligibilityError;
use crate::registry::csv::LineError;
use crate::registry::import::{CHUNK_SIZES, ImportRow, ParsedChunk};
use crate::registry::import_inserts::{ChunkInserts, IdReserve, InsertFacts, KnownIds};
use crate::registry::import_plan::{Change, Existing, ImportPlan, Planner};
use crate::registry::import_source::ImportSource;
use crate::registry::import_store::{ImportRunFacts, ImportSummary};
use crate::store::Store;
use doudi_core::{Date, NationalId};
use sqlx::AnyConnection;
use std::collections::HashSet;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

/// Parsed chunks read ahead of the planner.
const PARSED_AHEAD: usize = 2;

/// An import as asked for.
#[derive(Debug)]
pub struct ImportRequest<'a> {
    pub source: ImportSource,
    pub file_name: &'a str,
    pub actor: &'a str,
    pub today: Date,
    pub skip_invalid: bool,
}

/// A run that committed: its figures and the rows it left out.
#[derive(Debug)]
pub struct ImportOutcome {
    pub summary: ImportSummary,
    /// Rows left out (only with `skip_invalid`).
    pub skipped: Vec<LineError>,
}

impl Store {
    pub async fn import_file(&self, request: ImportRequest<'_>) -> Result<ImportOutcome, EligibilityError> {
        let ImportRequest { source, file_name, actor, today, skip_invalid } = request;
        let (source, file_sha256) = tokio::task::spawn_blocking(move || {
            let digest = source.digest();
            (source, digest)
        })
        .await
        .map_err(|e| EligibilityError::Internal(format!("import digest: {e}")))?;
        let file_sha256 = file_sha256.map_err(EligibilityError::ImportFile)?;
        let (mut tx, version) = self.begin_write().await?;
        let now = doudi_runtime::now_rfc3339();
        let facts = InsertFacts { now, today: today.to_string(), source: format!("import:{file_sha256}") };
        let (send_parsed, mut parsed) = mpsc::channel::<ParsedChunk>(PARSED_AHEAD);
        let digest = file_sha256.clone();
        let parser = tokio::task::spawn_blocking(move || {
            source.parse(&digest, today, CHUNK_SIZES, |chunk| send_parsed.blocking_send(chunk).is_ok())
        });
        let (send_chunk, chunks) = mpsc::unbounded_channel::<ChunkInserts>();
        let (mut built, builder) = self.start_builder(chunks, facts.clone());
        let mut run = Run::new(actor, &facts.now, self.registry_is_empty(&mut tx).await?, skip_invalid);
        let mut send_chunk = Some(send_chunk);
        // The chunk being planned, on a thread of its own: the database goes on writing meanwhile.
        let mut planning: Option<JoinHandle<(Planning, ImportPlan)>> = None;
        let (mut parsing, mut building, mut finished) = (true, true, false);
        loop {
            if !parsing && planning.is_none() && !finished {
                run.finish();
                finished = true;
            }
            // Nothing more for the builder once the file is planned, or refused.
            if finished || !run.writing {
                send_chunk = None;
            }
            if !parsing && planning.is_none() && !building {
                break;
            }
            tokio::select! {
                // Planning first: it takes moments, and keeps the builder ahead of the database.
                biased;
                planned = async { planning.as_mut().expect("guarded").await }, if planning.is_some() => {
                    planning = None;
                    let (state, plan) = planned.map_err(|e| EligibilityError::Internal(format!("import planner: {e}")))?;
                    run.planning = Some(state);
                    if let Some(inserts) = run.planned(self, &mut tx, plan).await?
                        && let Some(send) = &send_chunk
                    {
                        // It fails only if the builder is gone: it failed, and awaiting it says why.
                        let _ = send.send(inserts);
                    }
                },
                chunk = parsed.recv(), if parsing && planning.is_none() => match chunk {
                    Some(chunk) => {
                        if let Some(rows) = run.prepare(self, &mut tx, chunk).await? {
                            let mut state = run.planning.take().expect("no chunk is being planned");
                            planning = Some(tokio::task::spawn_blocking(move || {
                                let plan = state.planner.plan_chunk(rows, &state.existing);
                                (state, plan)
                            }));
                        }
                    }
                    None => parsing = false,
                },
                insert = built.recv(), if building => match insert {
                    // A refused file's statements already built are not run.
                    Some(insert) if run.writing => {
                        insert.execute(&mut *tx).await?;
                    }
                    Some(_) => {}
                    None => building = false,
                },
            }
        }
        builder.await.map_err(|e| EligibilityError::Internal(format!("import builder: {e}")))??;
        let data_lines = parser
            .await
            .map_err(|e| EligibilityError::Internal(format!("import parser: {e}")))?
            .map_err(EligibilityError::ImportFile)?;
        let skipped = run.refusal()?;
        self.log_run_changes(&mut tx, &run, version).await?;
        let run_facts = ImportRunFacts {
            actor,
            file_name,
            file_sha256: &file_sha256,
            ran_on: today,
            now: &facts.now,
            data_lines,
            skipped_rows: skipped.len(),
        };
        let summary = self.record_run(&mut tx, &run_facts, run.counts).await?;
        tx.commit().await?;
        Ok(ImportOutcome { summary, skipped })
    }

    async fn log_run_changes(&self, conn: &mut AnyConnection, run: &Run, version: i64) -> Result<(), sqlx::Error> {
        if run.touched.is_none() {
            return self.log_everything_changed(conn, version).await;
        }
        for household_id in &run.households_changed {
            self.log_household_changed(conn, version, *household_id).await?;
        }
        let mut hashes = run.touched.clone().unwrap_or_default();
        hashes.sort_unstable();
        hashes.dedup();
        let touched: Vec<&[u8]> = hashes.iter().map(Vec::as_slice).collect();
        self.log_changes(conn, version, &touched).await
    }
}

/// What planning carries from chunk to chunk: moved to the planning thread and back.
struct Planning {
    planner: Planner,
    /// What the registry held, before the run, for every household and person read so far.
    existing: Existing,
}

/// What a run has read, decided and written so far.
struct Run {
    actor: String,
    now: String,
    skip_invalid: bool,
    /// False once a refused file's first error is known: the rest is only read for its errors.
    writing: bool,
    /// The registry held nothing when the run began: nothing to look up.
    registry_was_empty: bool,
    /// `None` while a chunk is being planned.
    planning: Option<Planning>,
    looked_up_households: HashSet<String>,
    looked_up_persons: HashSet<NationalId>,
    reserve: IdReserve,
    counts: ImportSummary,
    parse_errors: Vec<LineError>,
    plan_errors: Vec<LineError>,
    /// Persons whose coverage the run changes (by id hash); `None` past `CHANGE_LOG_LIMIT`.
    touched: Option<Vec<Vec<u8>>>,
    households_changed: Vec<i64>,
    changes_logged: usize,
}

impl Run {
    fn new(actor: &str, now: &str, registry_was_empty: bool, skip_invalid: bool) -> Self {
        Self {
            actor: actor.to_owned(),
            now: now.to_owned(),
            skip_invalid,
            writing: true,
            registry_was_empty,
            planning: Some(Planning { planner: Planner::default(), existing: Existing::default() }),
            looked_up_households: HashSet::new(),
            looked_up_persons: HashSet::new(),
            reserve: IdReserve::default(),
            counts: ImportSummary::default(),
            parse_errors: Vec::new(),
            plan_errors: Vec::new(),
            touched: Some(Vec::new()),
            households_changed: Vec::new(),
            changes_logged: 0,
        }
    }

    /// Takes a parsed chunk's errors and reads what the registry holds for its rows; answers the
    /// rows to plan, or `None` when a refused file's rows need no plan.
    async fn prepare(
        &mut self,
        store: &Store,
        conn: &mut AnyConnection,
        chunk: ParsedChunk,
    ) -> Result<Option<Vec<ImportRow>>, sqlx::Error> {
        let ParsedChunk { rows, mut errors } = chunk;
        self.parse_errors.append(&mut errors);
        self.check_refused();
        if !self.writing && !self.parse_errors.is_empty() {
            // Only the parse errors are reported now: planning the rest would not change them.
            return Ok(None);
        }
        if !self.registry_was_empty {
            self.look_up(store, conn, &rows).await?;
        }
        Ok(Some(rows))
    }

    /// Takes a planned chunk: writes its changes to existing records and answers its inserts,
    /// with their ids, while the run is writing.
    async fn planned(
        &mut self,
        store: &Store,
        conn: &mut AnyConnection,
        mut plan: ImportPlan,
    ) -> Result<Option<ChunkInserts>, sqlx::Error> {
        self.plan_errors.append(&mut plan.errors);
        self.check_refused();
        if !self.writing {
            return Ok(None);
        }
        self.count(store, &plan);
        for change in &plan.changes {
            store.apply_change(conn, change, &self.actor, &self.now).await?;
        }
        let household_ids = self.reserve.ids(store, conn, "households", plan.new_households.len()).await?;
        let person_ids = self.reserve.ids(store, conn, "persons", plan.new_persons.len()).await?;
        let mut known = KnownIds::default();
        if !self.registry_was_empty {
            let existing = &self.planning.as_ref().expect("planned").existing;
            for row in plan.rows_at(&plan.new_persons) {
                if let Some(h) = existing.households.get(&row.household_no) {
                    known.households.insert(row.household_no.clone(), h.id);
                }
            }
            for row in plan.rows_at(&plan.new_periods) {
                if let Some(p) = existing.persons.get(&row.national_id) {
                    known.persons.insert(row.national_id.clone(), p.id);
                }
            }
        }
        Ok(Some(ChunkInserts { plan, household_ids, person_ids, known }))
    }

    fn check_refused(&mut self) {
        let any_error = !self.parse_errors.is_empty() || !self.plan_errors.is_empty();
        if any_error && !self.skip_invalid {
            self.writing = false;
        }
    }

    /// Reads what the registry held for the chunk's households and persons not seen before in
    /// the file: the run has written none of them yet.
    async fn look_up(
        &mut self,
        store: &Store,
        conn: &mut AnyConnection,
        rows: &[ImportRow],
    ) -> Result<(), sqlx::Error> {
        let mut numbers: Vec<&str> = Vec::new();
        let mut persons: Vec<&NationalId> = Vec::new();
        for row in rows {
            if !self.looked_up_households.contains(&row.household_no) {
                self.looked_up_households.insert(row.household_no.clone());
                numbers.push(&row.household_no);
            }
            if !self.looked_up_persons.contains(&row.national_id) {
                self.looked_up_persons.insert(row.national_id.clone());
                persons.push(&row.national_id);
            }
        }
        let found = store.existing_for(conn, &numbers, &persons).await?;
        let existing = &mut self.planning.as_mut().expect("not being planned").existing;
        existing.households.extend(found.households);
        existing.persons.extend(found.persons);
        Ok(())
    }

    fn count(&mut self, store: &Store, plan: &ImportPlan) {
        self.counts.households_created += plan.new_households.len();
        self.counts.persons_created += plan.new_persons.len();
        self.counts.periods_created += plan.new_periods.len();
        self.counts.changes += plan.changes.len();
        self.counts.unchanged += plan.unchanged_rows;
        self.changes_logged += plan.new_persons.len() + plan.new_periods.len() + plan.changes.len();
        if self.changes_logged > CHANGE_LOG_LIMIT {
            self.touched = None;
        }
        let Some(touched) = self.touched.as_mut() else { return };
        for row in plan.rows_at(&plan.new_persons).chain(plan.rows_at(&plan.new_periods)) {
            touched.push(store.id_hash(&row.national_id));
        }
        for change in &plan.changes {
            match change {
                Change::HouseholdPlace { household_id, .. } | Change::HouseholdAccount { household_id, .. } => {
                    self.households_changed.push(*household_id);
                }
                Change::PersonName { national_id, .. }
                | Change::PersonRelation { national_id, .. }
                | Change::PeriodEnd { national_id, .. } => touched.push(store.id_hash(national_id)),
            }
        }
    }

    /// The file is read and planned: the rows still waiting for a HEAD become errors.
    fn finish(&mut self) {
        let planning = self.planning.take().expect("no chunk is being planned");
        self.plan_errors.extend(planning.planner.finish());
        self.check_refused();
    }

    /// Every row left out, in line order; for a refused file, its errors (those of parsing
    /// first: rows that cannot be read are not planned).
    fn refusal(&mut self) -> Result<Vec<LineError>, EligibilityError> {
        let mut errors = std::mem::take(&mut self.parse_errors);
        if self.skip_invalid || errors.is_empty() {
            errors.append(&mut self.plan_errors);
        }
        errors.sort_by_key(|e| e.line);
        if !self.skip_invalid && !errors.is_empty() {
            return Err(EligibilityError::ImportRows(errors));
        }
        Ok(errors)
    }
}
