//! The monthly roll: every person paid for a month (or suspended for an overdue review), in
//! which category and how much, and each household's sums into its head's account.

use crate::error::{EligibilityError, Result};
use crate::roll::rules::{PaidPeriod, RollDecision, decide};
use crate::service::EligibilityService;
use crate::staff::rules::Scope;
use crate::staff::rules::Staff;
use doudi_core::policy::PolicySet;
use doudi_core::{Category, Date, Fen, Violations};
use serde::Serialize;
use std::collections::BTreeMap;

/// A line of the benefit roll: one paid (or suspended) person.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RollLine {
    pub household_no: String,
    pub national_id: String,
    pub decision: RollDecision,
}

/// What a household is paid for the month, into its head's account.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct HouseholdPayment {
    pub household_no: String,
    /// Masked: what staff see.
    pub account: Option<String>,
    /// The digits, for the payment service's payroll only; never serialized.
    #[serde(skip)]
    pub account_number: Option<doudi_core::pii::BankAccount>,
    pub dibao_fen: Fen,
    pub tekun_fen: Fen,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct BenefitRoll {
    pub month: String,
    pub policy_version: String,
    /// Everyone paid for the month.
    pub lines: Vec<RollLine>,
    /// Not on the roll: a review more than a month overdue (shown so staff can act on it).
    pub suspended: Vec<RollLine>,
    pub households: Vec<HouseholdPayment>,
    pub total_fen: Fen,
}

/// `YYYY-MM` into the month's first day.
pub fn parse_month(text: &str) -> Result<Date> {
    Ok(format!("{text}-01").parse::<Date>().map_err(|_| Violations::of("month", "must be YYYY-MM"))?)
}

impl EligibilityService {
    /// The roll, for county staff.
    pub async fn benefit_roll_for(&self, staff: &Staff, policy: &PolicySet, month: &str) -> Result<BenefitRoll> {
        staff.county_only("read the county's benefit roll")?;
        self.benefit_roll(policy, parse_month(month)?).await
    }

    /// The benefit roll of the month starting `first_day`: every person paid (or suspended) with
    /// category and amount, and each household's sums into its head's account.
    pub async fn benefit_roll(&self, policy: &PolicySet, first_day: Date) -> Result<BenefitRoll> {
        let version = policy
            .in_force_on(first_day)
            .ok_or_else(|| Violations::of("month", "is before the first policy version in force"))?;
        let rows = self.store().roll_rows(first_day).await?;
        let mut lines = Vec::with_capacity(rows.len());
        let mut households: BTreeMap<String, HouseholdPayment> = BTreeMap::new();
        let mut i = 0;
        while i < rows.len() {
            // A person's rows are adjacent (ordered by household, then person).
            let person = rows[i].person_id;
            let mut periods = Vec::new();
            let first = &rows[i];
            while i < rows.len() && rows[i].person_id == person {
                periods.push(PaidPeriod { period: rows[i].period, reviewed_on: rows[i].reviewed_on });
                i += 1;
            }
            let Some(decision) = decide(&periods, first.last_review, first_day, version) else { continue };
            let payment = households.entry(first.household_no.clone()).or_insert_with(|| HouseholdPayment {
                household_no: first.household_no.clone(),
                account: None,
                account_number: None,
                dibao_fen: Fen::ZERO,
                tekun_fen: Fen::ZERO,
            });
            if payment.account.is_none() {
                payment.account_number =
                    self.store().decrypt_account(&first.household_no, first.account_enc.clone())?;
                payment.account = payment.account_number.as_ref().map(|a| a.masked());
            }
            let sum =
                if decision.category == Category::Tekun { &mut payment.tekun_fen } else { &mut payment.dibao_fen };
            *sum = sum.checked_add(decision.amount).map_err(EligibilityError::internal)?;
            lines.push(RollLine {
                household_no: first.household_no.clone(),
                national_id: first.national_id_masked.clone(),
                decision,
            });
        }
        let (suspended, lines): (Vec<RollLine>, Vec<RollLine>) =
            lines.into_iter().partition(|l| l.decision.suspended_since_due.is_some());
        let total = lines.iter().map(|l| l.decision.amount.0).sum();
        Ok(BenefitRoll {
            month: format!("{:04}-{:02}", first_day.year(), first_day.month()),
            policy_version: version.id.clone(),
            lines,
            suspended,
            households: households.into_values().filter(|h| h.dibao_fen.0 + h.tekun_fen.0 > 0).collect(),
            total_fen: Fen(total),
        })
    }
}
