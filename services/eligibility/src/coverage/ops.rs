//! Coverage on a day, and the persons a year's premium subsidy is for.

use crate::coverage::rules::{Coverage, coverage_on, premium_subsidy_category};
use crate::error::Result;
use crate::service::EligibilityService;
use doudi_core::{Category, Date, NationalId, Violations};

/// A person's coverage on a day, with their household if registered.
#[derive(Debug, Clone)]
pub struct CoverageAnswer {
    pub day: Date,
    pub coverage: Coverage,
    /// (household number, township, village); `None` when the registry does not know them.
    pub household: Option<(String, String, String)>,
}

/// A person and the category that decides their premium subsidy for a year. `Debug` masks the
/// national ID.
#[derive(Clone, PartialEq, Eq)]
pub struct PremiumSubsidyPerson {
    pub national_id: String,
    pub category: Category,
    pub household_no: String,
}

impl std::fmt::Debug for PremiumSubsidyPerson {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PremiumSubsidyPerson")
            .field("national_id", &doudi_core::pii::mask_id_text(&self.national_id))
            .field("category", &self.category)
            .field("household_no", &self.household_no)
            .finish()
    }
}

impl EligibilityService {
    /// `date` empty means today (China Standard Time).
    pub async fn coverage(&self, national_id: &str, date: &str) -> Result<CoverageAnswer> {
        let today = self.clock().today();
        let mut violations = Violations::new();
        let id = violations.check("nationalId", NationalId::parse_on(national_id, today));
        let day = if date.is_empty() { Some(today) } else { violations.check("date", date.parse::<Date>()) };
        let (Some(id), Some(day)) = (id, day) else {
            return Err(violations.into());
        };
        let hash = self.store().id_hash(&id);
        let person = match self.coverage_index() {
            Some(index) => index.person(self.store(), &hash).await?,
            None => self.store().person_record(&hash).await?,
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

    /// Every person whose premium subsidy `year` decides, with the deciding category.
    pub async fn premium_subsidy_persons(&self, year: i32) -> Result<Vec<PremiumSubsidyPerson>> {
        Date::from_ymd(year, 1, 1).map_err(|e| Violations::of("year", e.to_string()))?;
        let persons = self.store().persons_with_periods_in_year(year).await?;
        Ok(persons
            .into_iter()
            .filter_map(|(national_id, household_no, periods)| {
                let category = premium_subsidy_category(&periods, year)?;
                Some(PremiumSubsidyPerson { national_id, category, household_no })
            })
            .collect())
    }
}
