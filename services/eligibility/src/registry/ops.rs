//! The registry's operations: register a household, read one, import a county's recipients
//! file, match the poverty list.

use crate::error::{EligibilityError, Result};
use crate::registry::csv::LineError;
use crate::registry::household::{HouseholdDraft, check_household_no};
use crate::registry::household_store::{RegisterOutcome, StoredHousehold};
use crate::registry::import::parse_file;
use crate::registry::import_plan::plan;
use crate::registry::import_store::{ImportRunFacts, ImportSummary};
use crate::registry::poverty::{PovertyMatch, parse_poverty_list};
use crate::service::EligibilityService;
use doudi_core::Violations;
use std::sync::Arc;

#[derive(Debug)]
pub struct ImportOutcome {
    pub summary: ImportSummary,
    /// Rows left out (only with `skip_invalid`).
    pub skipped: Vec<LineError>,
}

impl EligibilityService {
    pub async fn register_household(&self, draft: HouseholdDraft, actor: &str) -> Result<StoredHousehold> {
        let household = draft.validate(self.clock().today()).map_err(Violations::from)?;
        match self.store().register_household(&household, actor).await? {
            RegisterOutcome::Created | RegisterOutcome::Replayed => {}
            RegisterOutcome::NumberTaken => {
                return Err(EligibilityError::HouseholdNumberTaken(household.household_no));
            }
            RegisterOutcome::MembersElsewhere(conflicts) => return Err(EligibilityError::MembersElsewhere(conflicts)),
        }
        self.household(&household.household_no).await
    }

    pub async fn household(&self, household_no: &str) -> Result<StoredHousehold> {
        check_household_no(household_no).map_err(|e| Violations::of("householdNo", e))?;
        self.store()
            .household(household_no)
            .await?
            .ok_or_else(|| EligibilityError::HouseholdNotRegistered(household_no.to_owned()))
    }

    /// (id, township) of a registered household, after checking its number.
    pub(crate) async fn household_place(&self, household_no: &str) -> Result<(i64, String)> {
        check_household_no(household_no).map_err(|e| Violations::of("householdNo", e))?;
        self.store()
            .household_place(household_no)
            .await?
            .ok_or_else(|| EligibilityError::HouseholdNotRegistered(household_no.to_owned()))
    }

    /// Imports a recipients file in one transaction: all of it, or (with `skip_invalid`) all of
    /// its valid rows; never part of a row, never anything when it is refused.
    pub async fn import_csv(
        &self,
        text: &str,
        file_name: &str,
        actor: &str,
        skip_invalid: bool,
    ) -> Result<ImportOutcome> {
        let today = self.clock().today();
        // Parsing a county's file is seconds of CPU: off the threads that answer requests.
        let owned = text.to_owned();
        let (parsed, file_sha256) = tokio::task::spawn_blocking(move || {
            (parse_file(&owned, today), doudi_runtime::crypto::sha256_hex(owned.as_bytes()))
        })
        .await
        .map_err(|e| EligibilityError::Internal(format!("import parser: {e}")))?;
        let parsed = parsed.map_err(EligibilityError::ImportFile)?;
        if !parsed.errors.is_empty() && !skip_invalid {
            return Err(EligibilityError::ImportRows(parsed.errors));
        }
        let (mut tx, version) = self.store().begin_write().await?;
        let existing = self.store().existing_for(&mut tx, &parsed.rows).await?;
        let mut plan = plan(parsed.rows, &existing);
        let mut skipped = parsed.errors;
        skipped.append(&mut plan.errors);
        skipped.sort_by_key(|e| e.line);
        if !skipped.is_empty() && !skip_invalid {
            return Err(EligibilityError::ImportRows(skipped));
        }
        let facts = ImportRunFacts {
            actor,
            file_name,
            file_sha256: &file_sha256,
            ran_on: today,
            data_lines: parsed.data_lines,
            skipped_rows: skipped.len(),
        };
        let (plan, existing) = (Arc::new(plan), Arc::new(existing));
        let summary = self.store().apply_import(&mut tx, &plan, &facts, &existing, version).await?;
        tx.commit().await?;
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

    /// `doudi registry match-poverty`: every row checked first (nothing changes if one is wrong).
    pub async fn match_poverty(&self, text: &str, actor: &str) -> Result<PovertyMatch> {
        let today = self.clock().today();
        let persons = parse_poverty_list(text, today).map_err(EligibilityError::ImportRows)?;
        Ok(self.store().match_poverty(&persons, today, actor).await?)
    }
}
