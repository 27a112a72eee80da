//! Registry upkeep as staff do it: members join and leave, addresses and accounts are corrected.

use crate::domain::coverage::CategoryPeriod;
use crate::domain::household::{MemberDraft, check_household_no, check_place};
use crate::domain::upkeep::MemberChange;
use crate::procedure_store::Staff;
use crate::service::EligibilityService;
use crate::store::StoredHousehold;
use crate::upkeep_store::Recorded;
use doudi_core::pii::BankAccount;
use doudi_core::{Date, FieldViolation, NationalId, Relation, Violations};
use doudi_runtime::{ApiError, ErrorKind};

#[derive(Debug, Clone, Default)]
pub struct MemberChangeInput {
    pub household_no: String,
    pub kind: Option<MemberChange>,
    pub effective_on: String,
    pub member: Option<MemberDraft>,
    pub new_head_national_id: String,
    pub note: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemberChangeOutcome {
    pub household_no: String,
    pub kind: MemberChange,
    pub national_id_masked: String,
    pub effective_on: Date,
    pub ended: Vec<CategoryPeriod>,
    pub moved_from: Option<String>,
}

fn invalid(field: &str, description: impl Into<String>) -> ApiError {
    ApiError::invalid(vec![FieldViolation::new(field, description)])
}

fn precondition(message: impl Into<String>) -> ApiError {
    ApiError::new(ErrorKind::FailedPrecondition, message)
}

impl EligibilityService {
    fn effective_day(&self, text: &str) -> Result<Date, ApiError> {
        let day = text.parse::<Date>().map_err(|e| invalid("effectiveOn", e.to_string()))?;
        if day > self.clock().today() {
            return Err(invalid("effectiveOn", "is in the future: record a change once it has happened"));
        }
        Ok(day)
    }

    async fn household_for(&self, staff: &Staff, household_no: &str) -> Result<(i64, String), ApiError> {
        check_household_no(household_no).map_err(|e| invalid("householdNo", e))?;
        let (id, township) =
            self.store().household_place(household_no).await?.ok_or_else(|| {
                ApiError::new(ErrorKind::NotFound, format!("household {household_no} is not registered"))
            })?;
        Self::may_act_in(staff, &township)?;
        Ok((id, township))
    }

    pub async fn record_member_change(
        &self,
        staff: &Staff,
        input: MemberChangeInput,
    ) -> Result<MemberChangeOutcome, ApiError> {
        let kind = input
            .kind
            .ok_or_else(|| invalid("kind", "must be BIRTH, MARRIAGE_IN, MOVE_IN, MARRIAGE_OUT, MOVE_AWAY or DEATH"))?;
        let on = self.effective_day(&input.effective_on)?;
        let member = input.member.ok_or_else(|| invalid("member", "the member is required"))?;
        let (household_id, _) = self.household_for(staff, &input.household_no).await?;
        let today = self.clock().today();
        let id = NationalId::parse_on(&member.national_id, today)
            .map_err(|e| invalid("member.nationalId", e.to_string()))?;
        let hash = self.store().id_hash(&id);
        let place = self.store().person_place(&hash).await?;
        let actor = staff.actor();
        let note = input.note.trim();
        if kind.joins() {
            return self.join(household_id, &input.household_no, kind, on, member, place, &hash, &actor, note).await;
        }
        let place = place.filter(|p| p.household_id == household_id && !p.left).ok_or_else(|| {
            precondition(format!("{} is not a current member of household {}", id.masked(), input.household_no))
        })?;
        let others: Vec<_> = self
            .store()
            .current_members(household_id)
            .await?
            .into_iter()
            .filter(|m| m.person_id != place.person_id)
            .collect();
        let new_head = if place.relation == Relation::Head.as_str() && !others.is_empty() {
            let text = input.new_head_national_id.trim();
            let head = NationalId::parse_on(text, today).map_err(|e| invalid("newHeadNationalId", e.to_string()))?;
            let head_hash = self.store().id_hash(&head);
            let member = others
                .iter()
                .find(|m| m.id_hash == head_hash)
                .ok_or_else(|| invalid("newHeadNationalId", "must be another current member of the household"))?;
            Some(member.person_id)
        } else {
            None
        };
        let recorded = Recorded { on, actor: &actor, note };
        let ended = self.store().remove_member(&place, &hash, kind, new_head, recorded).await?;
        Ok(MemberChangeOutcome {
            household_no: input.household_no,
            kind,
            national_id_masked: place.national_id_masked,
            effective_on: on,
            ended,
            moved_from: None,
        })
    }

    #[allow(clippy::too_many_arguments)]
    async fn join(
        &self,
        household_id: i64,
        household_no: &str,
        kind: MemberChange,
        on: Date,
        member: MemberDraft,
        place: Option<crate::upkeep_store::PersonPlace>,
        hash: &[u8],
        actor: &str,
        note: &str,
    ) -> Result<MemberChangeOutcome, ApiError> {
        if member.relation == Some(Relation::Head) {
            return Err(invalid(
                "member.relation",
                "the household has its HEAD; a joining member is SPOUSE, CHILD, PARENT or OTHER",
            ));
        }
        let masked = NationalId::parse(&member.national_id).map(|i| i.masked()).unwrap_or_default();
        let outcome = |moved_from| MemberChangeOutcome {
            household_no: household_no.to_owned(),
            kind,
            national_id_masked: masked.clone(),
            effective_on: on,
            ended: Vec::new(),
            moved_from,
        };
        match place {
            Some(_) if kind == MemberChange::Birth => {
                Err(ApiError::new(ErrorKind::AlreadyExists, "a newborn is not yet in the registry; this person is"))
            }
            Some(p) if p.household_id == household_id && !p.left => {
                Err(precondition(format!("{masked} is already a member of household {household_no}")))
            }
            Some(p) => {
                let relation = member
                    .relation
                    .ok_or_else(|| invalid("member.relation", "must be SPOUSE, CHILD, PARENT or OTHER"))?;
                let from = (!p.left).then(|| p.household_no.clone());
                self.store()
                    .move_member(
                        &p,
                        hash,
                        (household_id, household_no),
                        relation.as_str(),
                        kind,
                        Recorded { on, actor, note },
                    )
                    .await?;
                Ok(outcome(from))
            }
            None => {
                let mut v = Violations::new();
                let checked = member.check("member", self.clock().today(), &mut v);
                let Some(new) = checked.filter(|_| v.is_empty()) else { return Err(ApiError::invalid(v.into_vec())) };
                if kind == MemberChange::Birth && new.birth_date > on {
                    return Err(invalid("effectiveOn", "is before the birth date in the national ID"));
                }
                let recorded = Recorded { on, actor, note };
                if !self.store().add_member(household_id, household_no, &new, kind, recorded).await? {
                    return Err(ApiError::new(ErrorKind::AlreadyExists, "this person was registered meanwhile; retry"));
                }
                Ok(outcome(None))
            }
        }
    }

    #[allow(clippy::too_many_arguments)]
    pub async fn correct_household(
        &self,
        staff: &Staff,
        household_no: &str,
        address: &str,
        bank_account: &str,
        effective_on: &str,
        note: &str,
    ) -> Result<StoredHousehold, ApiError> {
        let mut v = Violations::new();
        let on = v.check("effectiveOn", self.effective_day(effective_on).map_err(|e| e.message));
        let address = (!address.trim().is_empty()).then(|| v.check("address", check_place(address, 200))).flatten();
        let account = (!bank_account.trim().is_empty())
            .then(|| v.check("bankAccount", BankAccount::parse(bank_account.trim())))
            .flatten();
        if address.is_none() && account.is_none() && v.is_empty() {
            v.add("address", "give a new address, a new bank account, or both");
        }
        let Some(on) = on.filter(|_| v.is_empty()) else { return Err(ApiError::invalid(v.into_vec())) };
        let (household_id, _) = self.household_for(staff, household_no).await?;
        self.store()
            .correct_household(
                household_id,
                household_no,
                address.as_deref(),
                account.as_ref(),
                Recorded { on, actor: &staff.actor(), note: note.trim() },
            )
            .await?;
        self.household(household_no).await
    }
}
