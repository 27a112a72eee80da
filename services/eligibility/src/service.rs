//! The eligibility service's operations, independent of transport: parse input into domain
//! types, apply the rules, call the store, and answer with `ApiError` kinds.

use crate::clock::Clock;
use crate::coverage_index::CoverageIndex;
use crate::domain::coverage::{Coverage, coverage_on, premium_subsidy_category};
use crate::domain::household::{HouseholdDraft, check_household_no};
use crate::domain::import::{self, LineError};
use crate::store::{ImportRunFacts, ImportSummary, RegisterOutcome, Store, StoredHousehold};
use doudi_core::{Date, FieldViolation, NationalId};
use doudi_runtime::{ApiError, ErrorKind};
use std::sync::Arc;

/// A person's coverage on a day, with their household if registered.
#[derive(Debug, Clone)]
pub struct CoverageAnswer {
    pub day: Date,
    pub coverage: Coverage,
    /// (household number, township, village); `None` when the registry does not know them.
    pub household: Option<(String, String, String)>,
}

/// A person and the category that decides their premium subsidy for a year.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PremiumSubsidyPerson {
    pub national_id: String,
    pub category: doudi_core::Category,
    pub household_no: String,
}

#[derive(Debug)]
pub enum ImportError {
    /// The header or the CSV itself is broken: nothing was read.
    File(LineError),
    /// Rows are invalid and `skip_invalid` was not asked: nothing was imported.
    Rows(Vec<LineError>),
    Storage(sqlx::Error),
}

#[derive(Debug)]
pub struct ImportOutcome {
    pub summary: ImportSummary,
    /// Rows left out (only with `skip_invalid`).
    pub skipped: Vec<LineError>,
}

#[derive(Debug, Clone)]
pub struct EligibilityService {
    store: Store,
    /// Servers answer coverage from memory; a one-shot command asks the database.
    index: Option<Arc<CoverageIndex>>,
    clock: Clock,
}

impl EligibilityService {
    pub fn new(store: Store) -> Self {
        Self { store, index: None, clock: Clock::default() }
    }

    /// Keeps every person's coverage in memory, exactly up to date (see `coverage_index`).
    /// Loads it now; returns the number of persons.
    pub async fn with_coverage_index(mut self) -> Result<(Self, usize), ApiError> {
        let index = Arc::new(CoverageIndex::new());
        let persons = index.load(&self.store).await?;
        self.index = Some(index);
        Ok((self, persons))
    }

    pub fn store(&self) -> &Store {
        &self.store
    }

    /// The service's calendar (the real date unless set).
    pub fn clock(&self) -> &Clock {
        &self.clock
    }

    /// `date` empty means today (China Standard Time).
    pub async fn coverage(&self, national_id: &str, date: &str) -> Result<CoverageAnswer, ApiError> {
        let today = self.clock.today();
        let mut violations = doudi_core::Violations::new();
        let id = violations.check("nationalId", NationalId::parse_on(national_id, today));
        let day = if date.is_empty() { Some(today) } else { violations.check("date", date.parse::<Date>()) };
        let (Some(id), Some(day)) = (id, day) else {
            return Err(ApiError::invalid(violations.into_vec()));
        };
        let hash = self.store.id_hash(&id);
        let person = match &self.index {
            Some(index) => index.person(&self.store, &hash).await?,
            None => self.store.person_record(&hash).await?,
        };
        Ok(match person {
            None => CoverageAnswer { day, coverage: coverage_on([], day), household: None },
            Some(p) => CoverageAnswer {
                day,
                coverage: coverage_on(p.periods.iter().copied(), day),
                household: Some((p.household_no.clone(), p.township.clone(), p.village.clone())),
            },
        })
    }

    pub async fn register_household(&self, draft: HouseholdDraft, actor: &str) -> Result<StoredHousehold, ApiError> {
        let household = draft.validate(self.clock.today()).map_err(ApiError::invalid)?;
        match self.store.register_household(&household, actor).await? {
            RegisterOutcome::Created | RegisterOutcome::Replayed => {}
            RegisterOutcome::NumberTaken => {
                return Err(ApiError {
                    kind: ErrorKind::AlreadyExists,
                    message: format!("household {} is already registered with other content", household.household_no),
                    details: vec![FieldViolation::new("householdNo", "already registered with other content")],
                });
            }
            RegisterOutcome::MembersElsewhere(conflicts) => {
                let details: Vec<FieldViolation> = conflicts
                    .into_iter()
                    .map(|(i, no)| {
                        FieldViolation::new(
                            format!("members[{i}].nationalId"),
                            format!("already a member of household {no}"),
                        )
                    })
                    .collect();
                return Err(ApiError {
                    kind: ErrorKind::AlreadyExists,
                    message: "members are registered in another household".into(),
                    details,
                });
            }
        }
        self.household(&household.household_no).await
    }

    /// Every person whose premium subsidy `year` decides, with the deciding category.
    pub async fn premium_subsidy_persons(&self, year: i32) -> Result<Vec<PremiumSubsidyPerson>, ApiError> {
        Date::from_ymd(year, 1, 1).map_err(|e| ApiError::invalid(vec![FieldViolation::new("year", e.to_string())]))?;
        let persons = self.store.persons_with_periods_in_year(year).await?;
        Ok(persons
            .into_iter()
            .filter_map(|(national_id, household_no, periods)| {
                let category = premium_subsidy_category(&periods, year)?;
                Some(PremiumSubsidyPerson { national_id, category, household_no })
            })
            .collect())
    }

    pub async fn household(&self, household_no: &str) -> Result<StoredHousehold, ApiError> {
        check_household_no(household_no).map_err(|e| ApiError::invalid(vec![FieldViolation::new("householdNo", e)]))?;
        self.store
            .household(household_no)
            .await?
            .ok_or_else(|| ApiError::new(ErrorKind::NotFound, format!("household {household_no} is not registered")))
    }

    /// Imports a recipients file in one transaction: all of it, or (with `skip_invalid`) all of
    /// its valid rows; never part of a row, never anything when it is refused.
    pub async fn import_csv(
        &self,
        text: &str,
        file_name: &str,
        actor: &str,
        skip_invalid: bool,
    ) -> Result<ImportOutcome, ImportError> {
        let today = self.clock.today();
        let parsed = import::parse_file(text, today).map_err(ImportError::File)?;
        if !parsed.errors.is_empty() && !skip_invalid {
            return Err(ImportError::Rows(parsed.errors));
        }
        let file_sha256 = doudi_runtime::crypto::sha256_hex(text.as_bytes());
        let (mut tx, version) = self.store.begin_write().await.map_err(ImportError::Storage)?;
        let existing = self.store.existing_for(&mut tx, &parsed.rows).await.map_err(ImportError::Storage)?;
        let plan = import::plan(parsed.rows, &existing);
        if !plan.errors.is_empty() && !skip_invalid {
            let mut errors = parsed.errors;
            errors.extend(plan.errors);
            errors.sort_by_key(|e| e.line);
            return Err(ImportError::Rows(errors));
        }
        let facts = ImportRunFacts {
            actor,
            file_name,
            file_sha256: &file_sha256,
            ran_on: today,
            data_lines: parsed.data_lines,
            rejected_before_plan: parsed.errors.len(),
        };
        let summary =
            self.store.apply_import(&mut tx, &plan, &facts, &existing, version).await.map_err(ImportError::Storage)?;
        tx.commit().await.map_err(ImportError::Storage)?;
        let mut skipped = parsed.errors;
        skipped.extend(plan.errors);
        skipped.sort_by_key(|e| e.line);
        tracing::info!(
            run = summary.run_id,
            persons = summary.persons_created,
            periods = summary.periods_created,
            changes = summary.changes,
            skipped = skipped.len(),
            "registry import"
        );
        Ok(ImportOutcome { summary, skipped })
    }
}
