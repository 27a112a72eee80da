//! The registry over gRPC: households in and out, proto ↔ domain once.

use crate::error::{EligibilityError, Result};
use crate::registry::household::{HouseholdDraft, MemberDraft};
use crate::registry::household_store::StoredHousehold;
use crate::service::EligibilityService;
use crate::staff::rules::{Scope, Staff};
use doudi_core::Relation;
use doudi_proto::eligibility::v1 as pb;

fn relation_to_proto(relation: Relation) -> pb::Relation {
    match relation {
        Relation::Head => pb::Relation::Head,
        Relation::Spouse => pb::Relation::Spouse,
        Relation::Child => pb::Relation::Child,
        Relation::Parent => pb::Relation::Parent,
        Relation::Other => pb::Relation::Other,
    }
}

fn relation_from_proto(value: i32) -> Option<Relation> {
    match pb::Relation::try_from(value).ok()? {
        pb::Relation::Head => Some(Relation::Head),
        pb::Relation::Spouse => Some(Relation::Spouse),
        pb::Relation::Child => Some(Relation::Child),
        pb::Relation::Parent => Some(Relation::Parent),
        pb::Relation::Other => Some(Relation::Other),
        pb::Relation::Unspecified => None,
    }
}

pub fn member_draft(m: pb::MemberInput) -> MemberDraft {
    MemberDraft {
        national_id: m.national_id,
        name: m.name,
        relation: relation_from_proto(m.relation),
        disability_grade: m.disability_grade,
        seriously_ill: m.seriously_ill,
        able_to_work: m.able_to_work,
        publicly_funded: m.publicly_funded,
    }
}

pub fn household_to_proto(h: StoredHousehold) -> pb::Household {
    pb::Household {
        household_no: h.household_no,
        township: h.township,
        village: h.village,
        address: h.address,
        members: h
            .members
            .into_iter()
            .map(|m| pb::Member {
                national_id_masked: m.national_id_masked,
                name_masked: m.name.masked(),
                relation: relation_to_proto(m.relation) as i32,
                birth_date: m.birth_date.to_string(),
                disability_grade: m.disability_grade as i32,
                seriously_ill: m.seriously_ill,
                able_to_work: m.able_to_work,
                publicly_funded: m.publicly_funded,
            })
            .collect(),
        monthly_income_fen: h.monthly_income_fen,
        assets: Some(pb::Assets {
            savings_fen: h.savings_fen,
            motor_vehicles: h.motor_vehicles as i32,
            vehicles_exempt: h.vehicles_exempt,
            commercial_properties: h.commercial_properties as i32,
        }),
        bank_account_masked: h.bank_account.map(|a| a.masked()).unwrap_or_default(),
    }
}

pub async fn register_household(
    service: &EligibilityService,
    staff: &Staff,
    r: pb::RegisterHouseholdRequest,
) -> Result<pb::Household> {
    staff.may_act_in(&r.township)?;
    let assets = r.assets.unwrap_or_default();
    let draft = HouseholdDraft {
        household_no: r.household_no,
        township: r.township,
        village: r.village,
        address: r.address,
        members: r.members.into_iter().map(member_draft).collect(),
        monthly_income_fen: r.monthly_income_fen,
        savings_fen: assets.savings_fen,
        motor_vehicles: assets.motor_vehicles,
        vehicles_exempt: assets.vehicles_exempt,
        commercial_properties: assets.commercial_properties,
        bank_account: r.bank_account,
    };
    Ok(household_to_proto(service.register_household(draft, &staff.actor()).await?))
}

/// Another township's household is NOT_FOUND to township staff, exactly as one that does not exist.
pub async fn get_household(
    service: &EligibilityService,
    staff: &Staff,
    r: pb::GetHouseholdRequest,
) -> Result<pb::Household> {
    let household = service.household(&r.household_no).await?;
    if !staff.acts_in(&household.township) {
        return Err(EligibilityError::HouseholdNotRegistered(r.household_no));
    }
    Ok(household_to_proto(household))
}
