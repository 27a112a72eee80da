//! Recording a review today of a person's TEKUN or dibao benefit, effective from next month.

use crate::error::{EligibilityError, Result};
use crate::reviews::rules::{self, ReviewDecision, wrong_direction};
use crate::reviews::store::ReviewWrite;
use crate::roll::rules::PAID;
use crate::service::EligibilityService;
use crate::staff::rules::Scope;
use crate::staff::rules::Staff;
use doudi_core::policy::PolicySet;
use doudi_core::{Category, Date, NationalId, Violations};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReviewOutcome {
    pub national_id_masked: String,
    pub decision: ReviewDecision,
    pub from: Category,
    pub to: Option<Category>,
    pub reviewed_on: Date,
    pub effective_from: Date,
}

impl EligibilityService {
    pub async fn record_review(
        &self,
        staff: &Staff,
        policy: &PolicySet,
        national_id: &str,
        decision: Option<ReviewDecision>,
        to: Option<Category>,
        note: &str,
    ) -> Result<ReviewOutcome> {
        let today = self.clock().today();
        let mut violations = Violations::new();
        let id = violations.check("nationalId", NationalId::parse_on(national_id, today));
        if decision.is_none() {
            violations.add("decision", "must be KEEP, RAISE, LOWER or STOP");
        }
        if decision.is_some_and(ReviewDecision::changes_class) && !to.is_some_and(|c| PAID.contains(&c)) {
            violations.add("category", "RAISE and LOWER need the new category: TEKUN, DIBAO_1 or DIBAO_2");
        }
        let (Some(id), Some(decision)) = (id, decision) else { return Err(violations.into()) };
        if !violations.is_empty() {
            return Err(violations.into());
        }
        let hash = self.store().id_hash(&id);
        let held = self.store().held_paid(&hash, today).await?.ok_or(EligibilityError::NoPaidBenefit)?;
        staff.may_act_in(&held.township)?;
        let effective_from = today.first_of_month_after(1);
        let version =
            policy.in_force_on(effective_from).ok_or_else(|| EligibilityError::internal("no policy in force"))?;
        let to = decision.category_after(held.category, to);
        if let Some(new) = to.filter(|_| decision.changes_class())
            && let Some(reason) = wrong_direction(decision, held.category, new, version)
        {
            return Err(Violations::of("category", reason).into());
        }
        if rules::county_only(decision, held.category, to) {
            staff.county_only("raise a benefit into TEKUN or lower one out of it")?;
        }
        let quota_township = rules::takes_dibao_place(held.category, to).then_some(held.township.as_str());
        let changes_category = decision != ReviewDecision::Keep;
        let written = self
            .store()
            .apply_review(
                &held,
                &hash,
                decision.as_str(),
                to.filter(|_| changes_category),
                changes_category,
                today,
                effective_from,
                staff,
                note.trim(),
                quota_township,
            )
            .await?;
        match written {
            ReviewWrite::Done => {}
            ReviewWrite::Moved => return Err(EligibilityError::BenefitMoved),
            ReviewWrite::OverQuota { quota: Some(quota), enrolled } => {
                let township = held.township;
                return Err(EligibilityError::OverQuota { township, quota, enrolled, adding: 1, by: "review" });
            }
            ReviewWrite::OverQuota { quota: None, .. } => return Err(EligibilityError::NoQuota(held.township)),
        }
        Ok(ReviewOutcome {
            national_id_masked: held.national_id_masked,
            decision,
            from: held.category,
            to,
            reviewed_on: today,
            effective_from,
        })
    }
}
