//! The monthly roll: every person paid for a month (or suspended for an overdue review), in
//! which category and how much, and each household's sums into its head's account.

use crate::error::{EligibilityError, Result};
use crate::roll::rules::{PaidPeriod, RollDecision, decide};
use crate::roll::store::RollRow;
use crate::service::EligibilityService;
use doudi_core::policy::{PolicySet, PolicyVersion};
use doudi_core::{Category, Date, Fen, Violations};
use serde::Serialize;

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

/// One household of the roll, finished: its payment (if it is paid anything), its paid lines and
/// its suspended ones.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HouseholdRoll {
    pub payment: Option<HouseholdPayment>,
    pub lines: Vec<RollLine>,
    pub suspended: Vec<RollLine>,
}

/// Builds the roll household by household from rows ordered by household and person, so a
/// caller can hand each household on as it is finished instead of holding the registry.
pub struct RollBuilder<'a> {
    service: &'a EligibilityService,
    version: &'a PolicyVersion,
    first_day: Date,
    person: Vec<RollRow>,
    household: Option<(HouseholdPayment, Vec<RollLine>)>,
}

impl<'a> RollBuilder<'a> {
    pub fn new(service: &'a EligibilityService, policy: &'a PolicySet, first_day: Date) -> Result<Self> {
        let version = policy
            .in_force_on(first_day)
            .ok_or_else(|| Violations::of("month", "is before the first policy version in force"))?;
        Ok(Self { service, version, first_day, person: Vec::new(), household: None })
    }

    pub fn policy_version(&self) -> &str {
        &self.version.id
    }

    /// Takes the next row; returns the household it finished, if it began another.
    pub fn push(&mut self, row: RollRow) -> Result<Option<HouseholdRoll>> {
        if self.person.first().is_some_and(|p| p.person_id == row.person_id) {
            self.person.push(row);
            return Ok(None);
        }
        let finished = if self.person.first().is_some_and(|p| p.household_no != row.household_no) {
            self.close_person()?;
            self.close_household()
        } else {
            self.close_person()?;
            None
        };
        self.person.push(row);
        Ok(finished)
    }

    /// The last household, after the last row.
    pub fn finish(mut self) -> Result<Option<HouseholdRoll>> {
        self.close_person()?;
        Ok(self.close_household())
    }

    fn close_person(&mut self) -> Result<()> {
        let rows = std::mem::take(&mut self.person);
        let Some(first) = rows.first() else { return Ok(()) };
        let periods: Vec<PaidPeriod> =
            rows.iter().map(|r| PaidPeriod { period: r.period, reviewed_on: r.reviewed_on }).collect();
        let Some(decision) = decide(&periods, first.last_review, self.first_day, self.version) else { return Ok(()) };
        let (payment, lines) = self.household.get_or_insert_with(|| {
            let payment = HouseholdPayment {
                household_no: first.household_no.clone(),
                account: None,
                account_number: None,
                dibao_fen: Fen::ZERO,
                tekun_fen: Fen::ZERO,
            };
            (payment, Vec::new())
        });
        if payment.account.is_none() {
            payment.account_number =
                self.service.store().decrypt_account(&first.household_no, first.account_enc.clone())?;
            payment.account = payment.account_number.as_ref().map(|a| a.masked());
        }
        let sum = if decision.category == Category::Tekun { &mut payment.tekun_fen } else { &mut payment.dibao_fen };
        *sum = sum.checked_add(decision.amount).map_err(EligibilityError::internal)?;
        lines.push(RollLine {
            household_no: first.household_no.clone(),
            national_id: first.national_id_masked.clone(),
            decision,
        });
        Ok(())
    }

    fn close_household(&mut self) -> Option<HouseholdRoll> {
        let (payment, lines) = self.household.take()?;
        let (suspended, lines): (Vec<RollLine>, Vec<RollLine>) =
            lines.into_iter().partition(|l| l.decision.suspended_since_due.is_some());
        let paid = payment.dibao_fen.0 + payment.tekun_fen.0 > 0;
        Some(HouseholdRoll { payment: paid.then_some(payment), lines, suspended })
    }
}

impl EligibilityService {
    /// The benefit roll of the month starting `first_day`, collected: every person paid (or
    /// suspended) with category and amount, and each household's sums into its head's account.
    /// (The gRPC stream hands households on as they are built instead: `roll/grpc.rs`.)
    pub async fn benefit_roll(&self, policy: &PolicySet, first_day: Date) -> Result<BenefitRoll> {
        use futures_util::TryStreamExt;
        let mut builder = RollBuilder::new(self, policy, first_day)?;
        let mut roll = BenefitRoll {
            month: format!("{:04}-{:02}", first_day.year(), first_day.month()),
            policy_version: builder.policy_version().to_owned(),
            lines: Vec::new(),
            suspended: Vec::new(),
            households: Vec::new(),
            total_fen: Fen::ZERO,
        };
        let mut add = |household: HouseholdRoll| {
            roll.households.extend(household.payment);
            roll.lines.extend(household.lines);
            roll.suspended.extend(household.suspended);
        };
        let mut rows = std::pin::pin!(self.store().roll_rows(first_day));
        while let Some(row) = rows.try_next().await? {
            if let Some(household) = builder.push(row)? {
                add(household);
            }
        }
        if let Some(household) = builder.finish()? {
            add(household);
        }
        roll.total_fen = Fen(roll.lines.iter().map(|l| l.decision.amount.0).sum());
        Ok(roll)
    }
}
