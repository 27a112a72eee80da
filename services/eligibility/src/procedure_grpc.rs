//! `doudi.eligibility.v1.DibaoProcedure` over gRPC: the staff token from `authorization`, proto ↔
//! domain once, errors as `Status`.

use crate::domain::assessment::{AssessmentResult, DibaoClass, Findings};
use crate::domain::procedure::{Role, Step};
use crate::domain::upkeep::MemberChange;
use crate::procedure::{EnrolmentView, ReviewDecision, StepRequest};
use crate::procedure_store::ApplicationRow;
use crate::service::EligibilityService;
use crate::upkeep::MemberChangeInput;
use doudi_core::policy::PolicySet;
use doudi_proto::eligibility::v1 as pb;
use doudi_proto::eligibility::v1::dibao_procedure_server::DibaoProcedure;
use std::sync::Arc;
use tonic::{Request, Response, Status};

#[derive(Debug, Clone)]
pub struct ProcedureGrpc {
    service: EligibilityService,
    policy: Arc<PolicySet>,
}

impl ProcedureGrpc {
    pub fn new(service: EligibilityService, policy: PolicySet) -> Self {
        Self { service, policy: Arc::new(policy) }
    }

    async fn staff<T>(&self, request: &Request<T>) -> Result<crate::procedure_store::Staff, Status> {
        let authorization = request.metadata().get("authorization").and_then(|v| v.to_str().ok());
        Ok(self.service.staff(authorization).await?)
    }
}

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

pub fn role_name(role: Role) -> &'static str {
    match role {
        Role::Township => "TOWNSHIP",
        Role::County => "COUNTY",
    }
}

#[tonic::async_trait]
impl DibaoProcedure for ProcedureGrpc {
    async fn submit_application(
        &self,
        request: Request<pb::SubmitApplicationRequest>,
    ) -> Result<Response<pb::Application>, Status> {
        let staff = self.staff(&request).await?;
        let application = self.service.submit_application(&staff, &request.get_ref().household_no).await?;
        Ok(Response::new(application_to_proto(application)))
    }

    async fn take_step(&self, request: Request<pb::TakeStepRequest>) -> Result<Response<pb::Application>, Status> {
        let staff = self.staff(&request).await?;
        let r = request.into_inner();
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
        let application = self.service.take_step(&staff, &self.policy, &step).await?;
        Ok(Response::new(application_to_proto(application)))
    }

    async fn get_application(
        &self,
        request: Request<pb::GetApplicationRequest>,
    ) -> Result<Response<pb::Application>, Status> {
        let staff = self.staff(&request).await?;
        let application = self.service.application(&staff, request.get_ref().application_id).await?;
        Ok(Response::new(application_to_proto(application)))
    }

    async fn list_waiting(
        &self,
        request: Request<pb::ListWaitingRequest>,
    ) -> Result<Response<pb::ListWaitingResponse>, Status> {
        let staff = self.staff(&request).await?;
        let waiting = self.service.waiting(&staff, &request.get_ref().township).await?;
        Ok(Response::new(pb::ListWaitingResponse {
            applications: waiting.into_iter().map(application_to_proto).collect(),
        }))
    }

    async fn set_township_quota(
        &self,
        request: Request<pb::SetTownshipQuotaRequest>,
    ) -> Result<Response<pb::TownshipQuota>, Status> {
        let staff = self.staff(&request).await?;
        let r = request.into_inner();
        let enrolled = self.service.set_quota(&staff, &r.township, r.dibao_quota).await?;
        Ok(Response::new(pb::TownshipQuota {
            township: r.township.trim().to_owned(),
            dibao_quota: r.dibao_quota,
            enrolled,
        }))
    }

    async fn set_poor_village(
        &self,
        request: Request<pb::SetPoorVillageRequest>,
    ) -> Result<Response<pb::SetPoorVillageResponse>, Status> {
        let staff = self.staff(&request).await?;
        let r = request.into_inner();
        self.service.set_poor_village(&staff, &r.township, &r.village, r.poor).await?;
        Ok(Response::new(pb::SetPoorVillageResponse {}))
    }

    async fn record_member_change(
        &self,
        request: Request<pb::MemberChangeRequest>,
    ) -> Result<Response<pb::MemberChangeRecord>, Status> {
        let staff = self.staff(&request).await?;
        let r = request.into_inner();
        let input = MemberChangeInput {
            household_no: r.household_no,
            kind: change_from_proto(r.kind),
            effective_on: r.effective_on,
            member: r.member.map(crate::grpc::member_draft),
            new_head_national_id: r.new_head_national_id,
            note: r.note,
        };
        let kind = r.kind;
        let outcome = self.service.record_member_change(&staff, input).await?;
        Ok(Response::new(pb::MemberChangeRecord {
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
        }))
    }

    async fn correct_household(
        &self,
        request: Request<pb::CorrectHouseholdRequest>,
    ) -> Result<Response<pb::Household>, Status> {
        let staff = self.staff(&request).await?;
        let r = request.into_inner();
        let household = self
            .service
            .correct_household(&staff, &r.household_no, &r.address, &r.bank_account, &r.effective_on, &r.note)
            .await?;
        Ok(Response::new(crate::grpc::household_to_proto(household)))
    }

    async fn record_review(
        &self,
        request: Request<pb::RecordReviewRequest>,
    ) -> Result<Response<pb::ReviewRecord>, Status> {
        let staff = self.staff(&request).await?;
        let r = request.into_inner();
        let outcome = self
            .service
            .record_review(
                &staff,
                &self.policy,
                &r.national_id,
                decision_from_proto(r.decision),
                doudi_proto::convert::category(r.category),
                &r.note,
            )
            .await?;
        Ok(Response::new(pb::ReviewRecord {
            national_id: outcome.national_id_masked,
            decision: decision_to_proto(outcome.decision) as i32,
            from_category: pb::Category::from(outcome.from) as i32,
            to_category: outcome.to.map_or(pb::Category::None, pb::Category::from) as i32,
            reviewed_on: outcome.reviewed_on.to_string(),
            effective_from: outcome.effective_from.to_string(),
        }))
    }
}
