//! Reviews over gRPC.

use crate::error::Result;
use crate::reviews::rules::ReviewDecision;
use crate::service::EligibilityService;
use crate::staff::rules::Staff;
use doudi_core::policy::PolicySet;
use doudi_proto::eligibility::v1 as pb;

fn decision_from_proto(value: i32) -> Option<ReviewDecision> {
    Some(match pb::ReviewDecision::try_from(value).ok()? {
        pb::ReviewDecision::Keep => ReviewDecision::Keep,
        pb::ReviewDecision::Raise => ReviewDecision::Raise,
        pb::ReviewDecision::Lower => ReviewDecision::Lower,
        pb::ReviewDecision::Stop => ReviewDecision::Stop,
        pb::ReviewDecision::Unspecified => return None,
    })
}

fn decision_to_proto(decision: ReviewDecision) -> pb::ReviewDecision {
    match decision {
        ReviewDecision::Keep => pb::ReviewDecision::Keep,
        ReviewDecision::Raise => pb::ReviewDecision::Raise,
        ReviewDecision::Lower => pb::ReviewDecision::Lower,
        ReviewDecision::Stop => pb::ReviewDecision::Stop,
    }
}

pub async fn record_review(
    service: &EligibilityService,
    staff: &Staff,
    policy: &PolicySet,
    r: &pb::RecordReviewRequest,
) -> Result<pb::ReviewRecord> {
    let outcome = service
        .record_review(
            staff,
            policy,
            &r.national_id,
            decision_from_proto(r.decision),
            doudi_proto::convert::category(r.category),
            &r.note,
        )
        .await?;
    Ok(pb::ReviewRecord {
        national_id: outcome.national_id_masked,
        decision: decision_to_proto(outcome.decision) as i32,
        from_category: pb::Category::from(outcome.from) as i32,
        to_category: outcome.to.map_or(pb::Category::None, pb::Category::from) as i32,
        reviewed_on: outcome.reviewed_on.to_string(),
        effective_from: outcome.effective_from.to_string(),
    })
}
