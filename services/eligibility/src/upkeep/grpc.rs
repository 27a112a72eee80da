//! Registry upkeep over gRPC.

use crate::error::Result;
use crate::registry::grpc::{household_to_proto, member_draft};
use crate::service::EligibilityService;
use crate::staff::rules::Staff;
use crate::upkeep::ops::MemberChangeInput;
use crate::upkeep::rules::MemberChange;
use doudi_proto::eligibility::v1 as pb;

fn change_from_proto(value: i32) -> Option<MemberChange> {
    Some(match pb::MemberChangeKind::try_from(value).ok()? {
        pb::MemberChangeKind::Birth => MemberChange::Birth,
        pb::MemberChangeKind::MarriageIn => MemberChange::MarriageIn,
        pb::MemberChangeKind::MoveIn => MemberChange::MoveIn,
        pb::MemberChangeKind::MarriageOut => MemberChange::MarriageOut,
        pb::MemberChangeKind::MoveAway => MemberChange::MoveAway,
        pb::MemberChangeKind::Death => MemberChange::Death,
        pb::MemberChangeKind::Unspecified => return None,
    })
}

pub async fn record_member_change(
    service: &EligibilityService,
    staff: &Staff,
    r: pb::MemberChangeRequest,
) -> Result<pb::MemberChangeRecord> {
    let kind = r.kind;
    let input = MemberChangeInput {
        household_no: r.household_no,
        kind: change_from_proto(r.kind),
        effective_on: r.effective_on,
        member: r.member.map(member_draft),
        new_head_national_id: r.new_head_national_id,
        note: r.note,
    };
    let outcome = service.record_member_change(staff, input).await?;
    Ok(pb::MemberChangeRecord {
        household_no: outcome.household_no,
        kind,
        national_id: outcome.national_id_masked,
        effective_on: outcome.effective_on.to_string(),
        ended: outcome
            .ended
            .into_iter()
            .map(|p| pb::CategoryPeriod {
                category: pb::Category::from(p.category) as i32,
                effective_from: p.from.to_string(),
                effective_to: p.to.map(|d| d.to_string()).unwrap_or_default(),
            })
            .collect(),
        moved_from: outcome.moved_from.unwrap_or_default(),
    })
}

pub async fn correct_household(
    service: &EligibilityService,
    staff: &Staff,
    r: &pb::CorrectHouseholdRequest,
) -> Result<pb::Household> {
    let household = service
        .correct_household(staff, &r.household_no, &r.address, &r.bank_account, &r.effective_on, &r.note)
        .await?;
    Ok(household_to_proto(household))
}
