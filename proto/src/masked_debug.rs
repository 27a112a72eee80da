//! `Debug` for the messages that carry a raw national ID, name or account (build.rs skips their
//! derived one): the identifiers masked, every other field as it is.

use crate::eligibility::v1 as e;
use crate::hospital::v1 as h;
use crate::payment::v1 as p;
use crate::relief::v1 as r;
use crate::settlement::v1 as s;
use doudi_core::pii::{mask_account, mask_id_text, mask_id_texts, mask_name};
use std::fmt::{Debug, Formatter, Result};

impl Debug for e::GetCoverageRequest {
    fn fmt(&self, f: &mut Formatter<'_>) -> Result {
        f.debug_struct("GetCoverageRequest")
            .field("national_id", &mask_id_text(&self.national_id))
            .field("date", &self.date)
            .finish()
    }
}

impl Debug for e::MemberInput {
    fn fmt(&self, f: &mut Formatter<'_>) -> Result {
        f.debug_struct("MemberInput")
            .field("national_id", &mask_id_text(&self.national_id))
            .field("name", &mask_name(&self.name))
            .field("relation", &self.relation)
            .field("disability_grade", &self.disability_grade)
            .field("seriously_ill", &self.seriously_ill)
            .field("able_to_work", &self.able_to_work)
            .field("publicly_funded", &self.publicly_funded)
            .finish()
    }
}

impl Debug for e::RegisterHouseholdRequest {
    fn fmt(&self, f: &mut Formatter<'_>) -> Result {
        f.debug_struct("RegisterHouseholdRequest")
            .field("household_no", &self.household_no)
            .field("township", &self.township)
            .field("village", &self.village)
            .field("address", &self.address)
            .field("members", &self.members)
            .field("monthly_income_fen", &self.monthly_income_fen)
            .field("assets", &self.assets)
            .field("bank_account", &mask_account(&self.bank_account))
            .finish()
    }
}

impl Debug for e::PremiumSubsidyPerson {
    fn fmt(&self, f: &mut Formatter<'_>) -> Result {
        f.debug_struct("PremiumSubsidyPerson")
            .field("national_id", &mask_id_text(&self.national_id))
            .field("category", &self.category)
            .field("household_no", &self.household_no)
            .finish()
    }
}

impl Debug for e::CorrectHouseholdRequest {
    fn fmt(&self, f: &mut Formatter<'_>) -> Result {
        f.debug_struct("CorrectHouseholdRequest")
            .field("household_no", &self.household_no)
            .field("address", &self.address)
            .field("bank_account", &mask_account(&self.bank_account))
            .field("effective_on", &self.effective_on)
            .field("note", &self.note)
            .finish()
    }
}

impl Debug for e::MemberChangeRequest {
    fn fmt(&self, f: &mut Formatter<'_>) -> Result {
        f.debug_struct("MemberChangeRequest")
            .field("household_no", &self.household_no)
            .field("kind", &self.kind)
            .field("effective_on", &self.effective_on)
            .field("member", &self.member)
            .field("new_head_national_id", &mask_id_text(&self.new_head_national_id))
            .field("note", &self.note)
            .finish()
    }
}

impl Debug for e::RecordReviewRequest {
    fn fmt(&self, f: &mut Formatter<'_>) -> Result {
        f.debug_struct("RecordReviewRequest")
            .field("national_id", &mask_id_text(&self.national_id))
            .field("decision", &self.decision)
            .field("category", &self.category)
            .field("note", &self.note)
            .finish()
    }
}

impl Debug for e::TakeStepRequest {
    fn fmt(&self, f: &mut Formatter<'_>) -> Result {
        f.debug_struct("TakeStepRequest")
            .field("application_id", &self.application_id)
            .field("step", &self.step)
            .field("note", &self.note)
            .field("findings", &self.findings)
            .field("objection_upheld", &self.objection_upheld)
            .field("tekun_national_ids", &mask_id_texts(&self.tekun_national_ids))
            .field("member_national_ids", &mask_id_texts(&self.member_national_ids))
            .finish()
    }
}

impl Debug for s::Bill {
    fn fmt(&self, f: &mut Formatter<'_>) -> Result {
        f.debug_struct("Bill")
            .field("bill_no", &self.bill_no)
            .field("national_id", &mask_id_text(&self.national_id))
            .field("visit_type", &self.visit_type)
            .field("admitted_on", &self.admitted_on)
            .field("discharged_on", &self.discharged_on)
            .field("total_fen", &self.total_fen)
            .field("in_policy_fen", &self.in_policy_fen)
            .finish()
    }
}

impl Debug for s::YearTotalsRequest {
    fn fmt(&self, f: &mut Formatter<'_>) -> Result {
        f.debug_struct("YearTotalsRequest")
            .field("hospital", &self.hospital)
            .field("national_id", &mask_id_text(&self.national_id))
            .field("year", &self.year)
            .finish()
    }
}

impl Debug for s::PremiumSubsidyEntry {
    fn fmt(&self, f: &mut Formatter<'_>) -> Result {
        f.debug_struct("PremiumSubsidyEntry")
            .field("national_id", &mask_id_text(&self.national_id))
            .field("category", &self.category)
            .finish()
    }
}

impl Debug for h::YearTotalsRequest {
    fn fmt(&self, f: &mut Formatter<'_>) -> Result {
        f.debug_struct("YearTotalsRequest")
            .field("national_id", &mask_id_text(&self.national_id))
            .field("year", &self.year)
            .finish()
    }
}

/// A staff token is a credential: never shown, not even in part.
impl Debug for e::CheckStaffTokenRequest {
    fn fmt(&self, f: &mut Formatter<'_>) -> Result {
        f.debug_struct("CheckStaffTokenRequest").field("token", &"(redacted)").finish()
    }
}

impl Debug for e::StaffHolder {
    fn fmt(&self, f: &mut Formatter<'_>) -> Result {
        f.debug_struct("StaffHolder")
            .field("id", &self.id)
            .field("name", &mask_name(&self.name))
            .field("role", &self.role)
            .field("township", &self.township)
            .finish()
    }
}

impl Debug for s::PremiumSubsidyRecorded {
    fn fmt(&self, f: &mut Formatter<'_>) -> Result {
        f.debug_struct("PremiumSubsidyRecorded")
            .field("year", &self.year)
            .field("category", &self.category)
            .field("policy_version", &self.policy_version)
            .field("premium_fen", &self.premium_fen)
            .field("subsidy_bp", &self.subsidy_bp)
            .field("subsidy_fen", &self.subsidy_fen)
            .field("national_id", &mask_id_text(&self.national_id))
            .finish_non_exhaustive()
    }
}

impl Debug for e::HouseholdPayment {
    fn fmt(&self, f: &mut Formatter<'_>) -> Result {
        f.debug_struct("HouseholdPayment")
            .field("household_no", &self.household_no)
            .field("account", &self.account)
            .field("dibao_fen", &self.dibao_fen)
            .field("tekun_fen", &self.tekun_fen)
            .field("account_number", &mask_account(&self.account_number))
            .finish()
    }
}

impl Debug for e::PaymentAccount {
    fn fmt(&self, f: &mut Formatter<'_>) -> Result {
        f.debug_struct("PaymentAccount")
            .field("household_no", &self.household_no)
            .field("account_number", &mask_account(&self.account_number))
            .finish()
    }
}

impl Debug for p::Payee {
    fn fmt(&self, f: &mut Formatter<'_>) -> Result {
        f.debug_struct("Payee")
            .field("kind", &self.kind)
            .field("reference", &self.reference)
            .field("name", &mask_name(&self.name))
            .field("account", &mask_account(&self.account))
            .finish()
    }
}

impl Debug for r::Person {
    fn fmt(&self, f: &mut Formatter<'_>) -> Result {
        f.debug_struct("Person")
            .field("name", &mask_name(&self.name))
            .field("national_id", &mask_id_text(&self.national_id))
            .field("township", &self.township)
            .finish()
    }
}

impl Debug for r::SubmitCaseRequest {
    fn fmt(&self, f: &mut Formatter<'_>) -> Result {
        f.debug_struct("SubmitCaseRequest")
            .field("kind", &self.kind)
            .field("household_no", &self.household_no)
            .field("person", &self.person)
            .field("asked_fen", &self.asked_fen)
            .field("documents", &self.documents.len())
            .field("account", &mask_account(&self.account))
            .field("occurred_on", &self.occurred_on)
            .finish_non_exhaustive()
    }
}

impl Debug for r::RecordIntakeRequest {
    fn fmt(&self, f: &mut Formatter<'_>) -> Result {
        f.debug_struct("RecordIntakeRequest")
            .field("matter", &self.matter)
            .field("household_no", &self.household_no)
            .field("person", &self.person)
            .field("department", &self.department)
            .field("due_on", &self.due_on)
            .field("relief_case", &self.relief_case)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ID: &str = "11010519491231002X";
    const NAME: &str = "欧阳娜娜";
    const ACCOUNT: &str = "6228480012345678";
    const TOKEN: &str = "st_7_00ff_abcdef";

    #[test]
    fn no_message_shows_an_id_a_name_or_an_account() {
        let member = e::MemberInput { national_id: ID.into(), name: NAME.into(), ..Default::default() };
        let shown = [
            format!("{:?}", e::GetCoverageRequest { national_id: ID.into(), ..Default::default() }),
            format!(
                "{:?}",
                e::RegisterHouseholdRequest {
                    members: vec![member.clone()],
                    bank_account: ACCOUNT.into(),
                    ..Default::default()
                }
            ),
            format!("{:?}", e::PremiumSubsidyPerson { national_id: ID.into(), ..Default::default() }),
            format!("{:?}", e::CorrectHouseholdRequest { bank_account: ACCOUNT.into(), ..Default::default() }),
            format!(
                "{:?}",
                e::MemberChangeRequest { member: Some(member), new_head_national_id: ID.into(), ..Default::default() }
            ),
            format!("{:?}", e::RecordReviewRequest { national_id: ID.into(), ..Default::default() }),
            format!(
                "{:?}",
                e::TakeStepRequest {
                    tekun_national_ids: vec![ID.into()],
                    member_national_ids: vec![ID.into()],
                    ..Default::default()
                }
            ),
            format!("{:?}", s::Bill { national_id: ID.into(), ..Default::default() }),
            format!("{:?}", s::YearTotalsRequest { national_id: ID.into(), ..Default::default() }),
            format!("{:?}", s::PremiumSubsidyEntry { national_id: ID.into(), ..Default::default() }),
            format!("{:?}", h::YearTotalsRequest { national_id: ID.into(), ..Default::default() }),
            format!("{:?}", e::CheckStaffTokenRequest { token: TOKEN.into() }),
            format!("{:?}", e::StaffHolder { name: NAME.into(), ..Default::default() }),
        ];
        for text in &shown {
            for secret in [ID, NAME, ACCOUNT, TOKEN] {
                assert!(!text.contains(secret), "{text} shows {secret}");
            }
        }
        assert!(shown[0].contains("110105********002X"), "{}", shown[0]);
    }
}
