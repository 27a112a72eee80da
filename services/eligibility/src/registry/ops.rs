//! The registry's operations: register a household, read one, import a county's recipients
//! file, match the poverty list.

use crate::error::{EligibilityError, Result};
use crate::registry::household::{HouseholdDraft, check_household_no};
use crate::registry::household_store::{RegisterOutcome, StoredHousehold};
pub use crate::registry::import_run::ImportOutcome;
use crate::registry::import_run::ImportRequest;
pub use crate::registry::import_source::ImportSource;
use crate::registry::poverty::{PovertyMatch, parse_poverty_list};
use crate::service::EligibilityService;
use doudi_core::Violations;

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

    /// `import` of a recipients file's text.
    pub async fn import_csv(
        &self,
        text: &str,
        file_name: &str,
        actor: &str,
        skip_invalid: bool,
    ) -> Result<ImportOutcome> {
        self.import(ImportSource::Text(text.to_owned()), file_name, actor, skip_invalid).await
    }

    /// Imports a recipients file in one transaction: all of it, or (with `skip_invalid`) all of
    /// its valid rows; never part of a row, never anything when it is refused.
    pub async fn import(
        &self,
        source: ImportSource,
        file_name: &str,
        actor: &str,
        skip_invalid: bool,
    ) -> Result<ImportOutcome> {
        let request = ImportRequest { source, file_name, actor, today: self.clock().today(), skip_invalid };
        let outcome = self.store().import_file(request).await?;
        let summary = &outcome.summary;
        tracing::info!(
            run = summary.run_id,
            persons = summary.persons_created,
            periods = summary.periods_created,
            changes = summary.changes,
            skipped = outcome.skipped.len(),
            "registry import"
        );
        Ok(outcome)
    }

    /// `doudi registry match-poverty`: every row checked first (nothing changes if one is wrong).
    pub async fn match_poverty(&self, text: &str, actor: &str) -> Result<PovertyMatch> {
        let today = self.clock().today();
        let persons = parse_poverty_list(text, today).map_err(EligibilityError::ImportRows)?;
        Ok(self.store().match_poverty(&persons, today, actor).await?)
    }
}
