//! Registry upkeep as staff do it: members join and leave, addresses and accounts are corrected.

use crate::coverage::rules::CategoryPeriod;
use crate::error::{EligibilityError, Result};
use crate::registry::household::{MemberDraft, check_place};
use crate::registry::household_store::StoredHousehold;
use crate::service::EligibilityService;
use crate::staff::rules::Scope;
use crate::staff::rules::Staff;
use crate::upkeep::rules::MemberChange;
use crate::upkeep::store::{PersonPlace, Recorded};
use doudi_core::pii::BankAccount;
use doudi_core::{Date, NationalId, Relation, Violations};

/// `Debug` masks the member and the new head's ID.
#[derive(Clone, Default)]
pub struct MemberChangeInput {
    pub household_no: String,
    pub kind: Option<MemberChange>,
    pub effective_on: String,
    pub member: Option<MemberDraft>,
    pub new_head_national_id: String,
    pub note: String,
}

impl std::fmt::Debug for MemberChangeInput {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MemberChangeInput")
            .field("household_no", &self.household_no)
            .field("kind", &self.kind)
            .field("effective_on", &self.effective_on)
            .field("member", &self.member)
            .field("new_head_national_id", &doudi_core::pii::mask_id_text(&self.new_head_national_id))
            .field("note", &self.note)
            .finish()
    }
}

/// The household a person joins, how, from when, and (a head leaving others behind) who
/// succeeds them in the household they leave.
#[derive(Debug, Clone, Copy)]
struct Joining<'a> {
    household_id: i64,
    household_no: &'a str,
    kind: MemberChange,
    on: Date,
    new_head: &'a str,
    note: &'a str,
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

impl EligibilityService {
    /// The day a change took effect: a real day, not in the future.
    fn effective_day(&self, text: &str) -> Result<Date, String> {
        let day = text.parse::<Date>().map_err(|e| e.to_string())?;
        if day > self.clock().today() {
            return Err("is in the future: record a change once it has happened".into());
        }
        Ok(day)
    }

    /// The household's id, once the caller may act in its township.
    async fn household_for(&self, staff: &Staff, household_no: &str) -> Result<i64> {
        let (id, township) = self.household_place(household_no).await?;
        staff.may_act_in(&township)?;
        Ok(id)
    }

    /// Who heads the household `place` names once that person leaves it: `None` unless they head
    /// it and others remain, who must then name one of themselves (`new_head`).
    async fn successor(&self, place: &PersonPlace, new_head: &str) -> Result<Option<i64>> {
        if place.relation != Relation::Head.as_str() {
            return Ok(None);
        }
        let others: Vec<_> = self
            .store()
            .current_members(place.household_id)
            .await?
            .into_iter()
            .filter(|m| m.person_id != place.person_id)
            .collect();
        if others.is_empty() {
            return Ok(None);
        }
        let head = NationalId::parse_on(new_head, self.clock().today())
            .map_err(|e| Violations::of("newHeadNationalId", e.to_string()))?;
        let head_hash = self.store().id_hash(&head);
        let member = others.iter().find(|m| m.id_hash == head_hash).ok_or_else(|| {
            Violations::of(
                "newHeadNationalId",
                format!("must be another current member of household {}", place.household_no),
            )
        })?;
        Ok(Some(member.person_id))
    }

    pub async fn record_member_change(&self, staff: &Staff, input: MemberChangeInput) -> Result<MemberChangeOutcome> {
        let kind = input.kind.ok_or_else(|| {
            Violations::of("kind", "must be BIRTH, MARRIAGE_IN, MOVE_IN, MARRIAGE_OUT, MOVE_AWAY or DEATH")
        })?;
        let on = self.effective_day(&input.effective_on).map_err(|e| Violations::of("effectiveOn", e))?;
        let member = input.member.ok_or_else(|| Violations::of("member", "the member is required"))?;
        let household_id = self.household_for(staff, &input.household_no).await?;
        let today = self.clock().today();
        let id = NationalId::parse_on(&member.national_id, today)
            .map_err(|e| Violations::of("member.nationalId", e.to_string()))?;
        let hash = self.store().id_hash(&id);
        let place = self.store().person_place(&hash).await?;
        let actor = staff.actor();
        let note = input.note.trim();
        if kind.joins() {
            let joining = Joining {
                household_id,
                household_no: &input.household_no,
                kind,
                on,
                new_head: input.new_head_national_id.trim(),
                note,
            };
            return self.join(staff, joining, member, place, &hash).await;
        }
        let place = place.filter(|p| p.household_id == household_id && !p.left).ok_or_else(|| {
            EligibilityError::NotAMember { national_id: id.masked(), household_no: input.household_no.clone() }
        })?;
        let new_head = self.successor(&place, input.new_head_national_id.trim()).await?;
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

    async fn join(
        &self,
        staff: &Staff,
        joining: Joining<'_>,
        member: MemberDraft,
        place: Option<PersonPlace>,
        hash: &[u8],
    ) -> Result<MemberChangeOutcome> {
        let Joining { household_id, household_no, kind, on, new_head, note } = joining;
        let actor = staff.actor();
        let actor = actor.as_str();
        if member.relation == Some(Relation::Head) {
            return Err(Violations::of(
                "member.relation",
                "the household has its HEAD; a joining member is SPOUSE, CHILD, PARENT or OTHER",
            )
            .into());
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
            Some(_) if kind == MemberChange::Birth => Err(EligibilityError::NewbornRegistered),
            Some(p) if p.household_id == household_id && !p.left => Err(EligibilityError::AlreadyAMember {
                national_id: masked.clone(),
                household_no: household_no.to_owned(),
            }),
            Some(p) if p.died => Err(EligibilityError::Deceased(masked.clone())),
            Some(p) => {
                let relation = member
                    .relation
                    .ok_or_else(|| Violations::of("member.relation", "must be SPOUSE, CHILD, PARENT or OTHER"))?;
                // A move between households is an act in both townships.
                staff.may_act_in(&p.township)?;
                let new_head = if p.left { None } else { self.successor(&p, new_head).await? };
                let from = (!p.left).then(|| p.household_no.clone());
                let ended = self
                    .store()
                    .move_member(
                        &p,
                        hash,
                        (household_id, household_no),
                        relation.as_str(),
                        kind,
                        new_head,
                        Recorded { on, actor, note },
                    )
                    .await?;
                Ok(MemberChangeOutcome { ended, ..outcome(from) })
            }
            None => {
                let mut v = Violations::new();
                let checked = member.check("member", self.clock().today(), &mut v);
                let Some(new) = checked.filter(|_| v.is_empty()) else { return Err(v.into()) };
                if kind == MemberChange::Birth && new.birth_date > on {
                    return Err(Violations::of("effectiveOn", "is before the birth date in the national ID").into());
                }
                let recorded = Recorded { on, actor, note };
                if !self.store().add_member(household_id, household_no, &new, kind, recorded).await? {
                    return Err(EligibilityError::RegisteredMeanwhile);
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
    ) -> Result<StoredHousehold> {
        let mut v = Violations::new();
        let on = v.check("effectiveOn", self.effective_day(effective_on));
        let address = (!address.trim().is_empty()).then(|| v.check("address", check_place(address, 200))).flatten();
        let account = (!bank_account.trim().is_empty())
            .then(|| v.check("bankAccount", BankAccount::parse(bank_account.trim())))
            .flatten();
        if address.is_none() && account.is_none() && v.is_empty() {
            v.add("address", "give a new address, a new bank account, or both");
        }
        let Some(on) = on.filter(|_| v.is_empty()) else { return Err(v.into()) };
        let household_id = self.household_for(staff, household_no).await?;
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
