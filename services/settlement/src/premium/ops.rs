//! Premium subsidies (资助参保): for each person of a year's list with the category that decides
//! it, `round(premium × rate)` of the policy in force on 1 January, recorded once.

use crate::error::{Result, SettlementError};
use crate::premium::store::NewPremiumSubsidy;
use crate::service::SettlementService;
use doudi_core::{Bp, Category, Date, Fen, NationalId, Violations};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PremiumRunSummary {
    pub policy_version: String,
    pub recorded: i64,
    pub already_recorded: i64,
    pub recorded_fen: Fen,
}

impl SettlementService {
    /// Records the premium subsidy for each (national ID, category) of the year's list.
    pub async fn record_premium_subsidies(
        &self,
        year: i32,
        persons: &[(String, Option<Category>)],
        actor: &str,
    ) -> Result<PremiumRunSummary> {
        let today = Date::today_china();
        let first_day = Date::from_ymd(year, 1, 1).map_err(|_| Violations::of("year", "is not a valid year"))?;
        let policy = self
            .policy
            .in_force_on(first_day)
            .ok_or_else(|| Violations::of("year", "no policy version in force on 1 January"))?;
        let mut violations = Violations::new();
        let mut entries = Vec::with_capacity(persons.len());
        for (i, (national_id, category)) in persons.iter().enumerate() {
            let id = violations.check(&format!("persons[{i}].nationalId"), NationalId::parse_on(national_id, today));
            let Some(category) = category else {
                violations.add(format!("persons[{i}].category"), "is required");
                continue;
            };
            let Some(id) = id else { continue };
            let bp = policy.premium_subsidy_bp.get(category).map_or(0, |b| b.0);
            if bp == 0 {
                continue;
            }
            let subsidy = policy.premium_fen.apply_rate(Bp(bp)).map_err(SettlementError::internal)?;
            entries.push(NewPremiumSubsidy {
                person_key: self.store.person_key(&id),
                national_id: id.expose().to_owned(),
                category: *category,
                subsidy_bp: bp,
                subsidy,
            });
        }
        if !violations.is_empty() {
            return Err(violations.into());
        }
        let now = doudi_runtime::now_rfc3339();
        let (recorded, already_recorded, recorded_fen) = self
            .store
            .record_premium_subsidies(i64::from(year), &policy.id, policy.premium_fen, &entries, &now, actor)
            .await?;
        Ok(PremiumRunSummary { policy_version: policy.id.clone(), recorded, already_recorded, recorded_fen })
    }
}
