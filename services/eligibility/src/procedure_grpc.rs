//! `doudi.eligibility.v1.DibaoProcedure` over gRPC: the staff token from `authorization`, proto ↔
//! domain once, errors as `Status`.

use crate::domain::assessment::{AssessmentResult, DibaoClass, Findings};
use crate::domain::procedure::Step;
use crate::domain::upkeep::MemberChange;
use crate::procedure::{BenefitRoll, EnrolmentView, ReviewDecision, RollLine, StepRequest};
use crate::procedure_store::ApplicationRow;
use crate::procedure_store::NoticeLine;
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

/// Households per chunk of a streamed roll.
const ROLL_CHUNK_HOUSEHOLDS: usize = 1_000;

fn roll_line(line: &RollLine) -> pb::RollLine {
    pb::RollLine {
        household_no: line.household_no.clone(),
        national_id: line.national_id.clone(),
        category: pb::Category::from(line.decision.category) as i32,
        amount_fen: line.decision.amount.0,
        review_due: line.decision.suspended_since_due.map(|d| d.to_string()).unwrap_or_default(),
    }
}

/// The roll in chunks of whole households (their lines travel with them); totals in the last.
fn roll_chunks(roll: BenefitRoll) -> Vec<pb::BenefitRollChunk> {
    let empty = || pb::BenefitRollChunk {
        month: roll.month.clone(),
        policy_version: roll.policy_version.clone(),
        ..Default::default()
    };
    let mut chunks = Vec::new();
    let mut chunk = empty();
    let mut lines = roll.lines.iter().peekable();
    let mut suspended = roll.suspended.iter().peekable();
    for household in &roll.households {
        chunk.households.push(pb::HouseholdPayment {
            household_no: household.household_no.clone(),
            account: household.account.clone().unwrap_or_default(),
            dibao_fen: household.dibao_fen.0,
            tekun_fen: household.tekun_fen.0,
        });
        // Lines are ordered by household like the households: take this household's (and any
        // unpaid households' before it).
        while let Some(line) = lines.next_if(|l| l.household_no <= household.household_no) {
            chunk.lines.push(roll_line(line));
        }
        while let Some(line) = suspended.next_if(|l| l.household_no <= household.household_no) {
            chunk.suspended.push(roll_line(line));
        }
        if chunk.households.len() == ROLL_CHUNK_HOUSEHOLDS {
            chunks.push(std::mem::replace(&mut chunk, empty()));
        }
    }
    chunk.lines.extend(lines.map(roll_line));
    chunk.suspended.extend(suspended.map(roll_line));
    chunk.last = true;
    chunk.total_fen = roll.total_fen.0;
    chunk.paid_persons = roll.lines.len() as i64;
    chunk.suspended_persons = roll.suspended.len() as i64;
    chunks.push(chunk);
    chunks
}

fn notice_line(line: NoticeLine, notice_until: String) -> pb::NoticeLine {
    pb::NoticeLine {
        household_no: line.household_no,
        name: line.name,
        national_id: line.national_id,
        category: pb::Category::from(line.category) as i32,
        notice_until,
    }
}

#[tonic::async_trait]
impl DibaoProcedure for ProcedureGrpc {
    type StreamBenefitRollStream =
        std::pin::Pin<Box<dyn tokio_stream::Stream<Item = Result<pb::BenefitRollChunk, Status>> + Send>>;

    async fn stream_benefit_roll(
        &self,
        request: Request<pb::StreamBenefitRollRequest>,
    ) -> Result<Response<Self::StreamBenefitRollStream>, Status> {
        let staff = self.staff(&request).await?;
        let roll = self.service.benefit_roll_for(&staff, &self.policy, &request.get_ref().month).await?;
        let chunks = roll_chunks(roll).into_iter().map(Ok);
        Ok(Response::new(Box::pin(tokio_stream::iter(chunks))))
    }

    async fn get_notice_list(
        &self,
        request: Request<pb::GetNoticeListRequest>,
    ) -> Result<Response<pb::NoticeList>, Status> {
        let staff = self.staff(&request).await?;
        let r = request.get_ref();
        let notice = self.service.notice_list_for(&staff, &r.township, &r.village, &r.date).await?;
        Ok(Response::new(pb::NoticeList {
            township: notice.township,
            village: notice.village,
            date: notice.on.to_string(),
            applicants: notice
                .applications_in_notice
                .into_iter()
                .map(|a| notice_line(a.line, a.notice_until))
                .collect(),
            recipients: notice.recipients.into_iter().map(|l| notice_line(l, String::new())).collect(),
        }))
    }

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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::roll::RollDecision;
    use crate::procedure::HouseholdPayment;
    use doudi_core::{Category, Fen};

    fn line(household: usize, suspended: bool) -> RollLine {
        RollLine {
            household_no: format!("H{household:05}"),
            national_id: "360730********0001".into(),
            decision: RollDecision {
                category: Category::Dibao2,
                amount: Fen(if suspended { 0 } else { 100 }),
                suspended_since_due: suspended.then(|| "2016-01-01".parse().unwrap()),
            },
        }
    }

    #[test]
    fn chunks_keep_each_household_with_its_lines() {
        // 2 598 paid households of two persons, and a suspended-only household as each 1 000th.
        let mut lines = Vec::new();
        let mut suspended = Vec::new();
        let mut households = Vec::new();
        for h in 0..2_600 {
            if h % 1_000 == 999 {
                suspended.push(line(h, true));
                continue;
            }
            lines.extend([line(h, false), line(h, false)]);
            households.push(HouseholdPayment {
                household_no: format!("H{h:05}"),
                account: None,
                dibao_fen: Fen(200),
                tekun_fen: Fen(0),
            });
        }
        let total = Fen(households.len() as i64 * 200);
        let roll = BenefitRoll {
            month: "2016-03".into(),
            policy_version: "v".into(),
            lines,
            suspended,
            households,
            total_fen: total,
        };
        let chunks = roll_chunks(roll);
        assert_eq!(chunks.len(), 3);
        assert!(chunks.iter().take(2).all(|c| c.households.len() == ROLL_CHUNK_HOUSEHOLDS && !c.last));
        for chunk in &chunks {
            let first = chunk.households.first().map(|h| h.household_no.clone()).unwrap_or_default();
            let last = chunk.households.last().map(|h| h.household_no.clone()).unwrap_or_default();
            assert_eq!(chunk.lines.len(), 2 * chunk.households.len());
            assert!(chunk.lines.iter().all(|l| l.household_no >= first && l.household_no <= last));
        }
        assert_eq!(chunks.iter().map(|c| c.suspended.len()).sum::<usize>(), 2);
        assert_eq!((chunks[2].total_fen, chunks[2].paid_persons, chunks[2].suspended_persons), (total.0, 2 * 2_598, 2));
    }
}
