//! The dibao procedure over gRPC: applications, steps, the waiting list, quotas and poor
//! villages; proto ↔ domain once.

use crate::error::Result;
use crate::procedure::assessment::{AssessmentResult, DibaoClass, Findings};
use crate::procedure::ops::{EnrolmentView, StepRequest};
use crate::procedure::rules::Step;
use crate::procedure::store::ApplicationRow;
use crate::service::EligibilityService;
use crate::staff::rules::Staff;
use doudi_core::policy::PolicySet;
use doudi_proto::eligibility::v1 as pb;

fn step_from_proto(value: i32) -> Option<Step> {
    Some(match pb::ProcedureStep::try_from(value).ok()? {
        pb::ProcedureStep::Accept => Step::Accept,
        pb::ProcedureStep::Investigate => Step::Investigate,
        pb::ProcedureStep::CheckEconomy => Step::CheckEconomy,
        pb::ProcedureStep::Appraise => Step::Appraise,
        pb::ProcedureStep::PublishNotice => Step::PublishNotice,
        pb::ProcedureStep::Object => Step::Object,
        pb::ProcedureStep::Review => Step::Review,
        pb::ProcedureStep::Approve => Step::Approve,
        pb::ProcedureStep::Reject => Step::Reject,
        pb::ProcedureStep::Unspecified | pb::ProcedureStep::Submit => return None,
    })
}

fn step_name_to_proto(name: &str) -> pb::ProcedureStep {
    pb::ProcedureStep::from_str_name(name).unwrap_or(pb::ProcedureStep::Unspecified)
}

fn assessment_to_proto(a: AssessmentResult) -> pb::Assessment {
    pb::Assessment {
        standard_fen: a.standard_fen,
        assessed_on: a.assessed_on.to_string(),
        gates: a.gates.into_iter().map(|g| pb::Gate { name: g.name, passed: g.passed, detail: g.detail }).collect(),
        factors: a.factors.into_iter().map(|f| pb::Factor { name: f.name, count: f.count, points: f.points }).collect(),
        score: a.score,
        class: match a.class {
            Some(DibaoClass::Dibao1) => pb::Category::Dibao1,
            Some(DibaoClass::Dibao2) => pb::Category::Dibao2,
            None => pb::Category::None,
        } as i32,
        vulnerable: a.vulnerable,
    }
}

pub fn application_to_proto(a: ApplicationRow) -> pb::Application {
    let enrolments: Vec<EnrolmentView> =
        a.enrolments.as_deref().and_then(|e| serde_json::from_str(e).ok()).unwrap_or_default();
    pb::Application {
        application_id: a.id,
        household_no: a.household_no,
        township: a.township,
        village: a.village,
        stage: pb::ApplicationStage::from_str_name(a.stage.as_str()).unwrap_or_default() as i32,
        assessment: a.assessment.as_deref().and_then(|j| serde_json::from_str(j).ok()).map(assessment_to_proto),
        notice_until: a.notice_until.unwrap_or_default(),
        poor_village: a.poor_village,
        intake_ref: a.intake_ref.unwrap_or_default(),
        steps: a
            .steps
            .into_iter()
            .map(|s| pb::StepRecord {
                step: step_name_to_proto(&s.step) as i32,
                staff_id: s.staff_id,
                staff_name: s.staff_name,
                role: pb::StaffRole::from_str_name(&s.role).unwrap_or_default() as i32,
                at: s.at,
                note: s.note,
                stage_after: pb::ApplicationStage::from_str_name(&s.stage_after).unwrap_or_default() as i32,
            })
            .collect(),
        enrolments: enrolments
            .into_iter()
            .map(|e| pb::Enrolment {
                national_id: e.national_id,
                category: pb::Category::from(e.category) as i32,
                effective_from: e.effective_from.to_string(),
            })
            .collect(),
    }
}

pub async fn submit_application(
    service: &EligibilityService,
    staff: &Staff,
    r: &pb::SubmitApplicationRequest,
) -> Result<pb::Application> {
    let intake_ref = Some(r.intake_ref.trim()).filter(|i| !i.is_empty());
    if intake_ref.is_some_and(|i| i.chars().count() > 64) {
        return Err(doudi_core::Violations::of("intakeRef", "must be at most 64 characters").into());
    }
    Ok(application_to_proto(service.submit_application(staff, &r.household_no, intake_ref).await?))
}

pub async fn take_step(
    service: &EligibilityService,
    staff: &Staff,
    policy: &PolicySet,
    r: pb::TakeStepRequest,
) -> Result<pb::Application> {
    let step = StepRequest {
        application_id: r.application_id,
        step: step_from_proto(r.step),
        note: r.note,
        findings: r.findings.map(|f| Findings {
            elderly_living_alone: f.elderly_living_alone,
            single_parent_with_minor: f.single_parent_with_minor,
            pupils: i64::from(f.pupils),
            disaster_this_year: f.disaster_this_year,
        }),
        objection_upheld: r.objection_upheld,
        tekun_national_ids: r.tekun_national_ids,
        member_national_ids: r.member_national_ids,
    };
    Ok(application_to_proto(service.take_step(staff, policy, &step).await?))
}

pub async fn get_application(
    service: &EligibilityService,
    staff: &Staff,
    r: &pb::GetApplicationRequest,
) -> Result<pb::Application> {
    Ok(application_to_proto(service.application(staff, r.application_id).await?))
}

pub async fn list_waiting(
    service: &EligibilityService,
    staff: &Staff,
    r: &pb::ListWaitingRequest,
) -> Result<pb::ListWaitingResponse> {
    let waiting = service.waiting(staff, &r.township).await?;
    Ok(pb::ListWaitingResponse { applications: waiting.into_iter().map(application_to_proto).collect() })
}

pub async fn set_township_quota(
    service: &EligibilityService,
    staff: &Staff,
    r: &pb::SetTownshipQuotaRequest,
) -> Result<pb::TownshipQuota> {
    let enrolled = service.set_quota(staff, &r.township, r.dibao_quota).await?;
    Ok(pb::TownshipQuota { township: r.township.trim().to_owned(), dibao_quota: r.dibao_quota, enrolled })
}

pub async fn set_poor_village(
    service: &EligibilityService,
    staff: &Staff,
    r: &pb::SetPoorVillageRequest,
) -> Result<pb::SetPoorVillageResponse> {
    service.set_poor_village(staff, &r.township, &r.village, r.poor).await?;
    Ok(pb::SetPoorVillageResponse {})
}
