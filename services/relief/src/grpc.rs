//! `doudi.relief.v1.Relief`: each method parses its request, calls the operation with the acting
//! member of staff, and answers with the case as it stands (its person masked); errors become
//! `Status` here, once.

use crate::cases::convert;
use crate::cases::store::CaseFilter;
use crate::cases::{CaseState, StoredCase};
use crate::error::ReliefError;
use crate::limits;
use crate::service::{Acting, ReliefService};
use doudi_core::Violations;
use doudi_proto::relief::v1 as pb;
use doudi_proto::relief::v1::relief_server::Relief;
use doudi_runtime::access::Caller;
use tonic::{Request, Response, Status};

#[derive(Debug, Clone)]
pub struct ReliefGrpc {
    service: ReliefService,
}

impl ReliefGrpc {
    pub fn new(service: ReliefService) -> Self {
        Self { service }
    }

    async fn answer(&self, id: i64) -> Result<pb::Case, Status> {
        let store = self.service.store();
        let case: StoredCase = store.case(id).await.map_err(ReliefError::from)?.ok_or(ReliefError::CaseNotFound(id))?;
        let documents = store.documents(id).await.map_err(ReliefError::from)?;
        let grants = store.case_grants(id).await.map_err(ReliefError::from)?;
        let events = store.case_events(id).await.map_err(ReliefError::from)?;
        Ok(convert::case(&case, self.service.clock().today(), &documents, &grants, &events))
    }
}

/// The member of staff the guard admitted, with the token they presented.
fn acting<T>(request: &Request<T>) -> Result<Acting, Status> {
    match doudi_runtime::access::caller(request) {
        Some(Caller::Staff(staff)) => {
            let token = doudi_runtime::auth::bearer(doudi_runtime::auth::authorization(request))
                .ok_or_else(|| Status::unauthenticated("a staff token is required"))?;
            Ok(Acting { staff: staff.clone(), token: token.to_owned() })
        }
        _ => Err(Status::unauthenticated("relief is decided by staff: present a staff token")),
    }
}

fn case_id(id: i64) -> Result<i64, Status> {
    if id <= 0 {
        return Err(ReliefError::from(Violations::of("caseId", "is required")).into());
    }
    Ok(id)
}

#[tonic::async_trait]
impl Relief for ReliefGrpc {
    async fn submit_case(&self, request: Request<pb::SubmitCaseRequest>) -> Result<Response<pb::Case>, Status> {
        let acting = acting(&request)?;
        let new = convert::new_case(request.get_ref(), self.service.clock().today()).map_err(ReliefError::from)?;
        let id = self.service.submit_case(&acting, new).await?;
        Ok(Response::new(self.answer(id).await?))
    }

    async fn get_case(&self, request: Request<pb::GetCaseRequest>) -> Result<Response<pb::Case>, Status> {
        let acting = acting(&request)?;
        let id = case_id(request.get_ref().id)?;
        self.service.case_for(&acting, id).await?;
        Ok(Response::new(self.answer(id).await?))
    }

    async fn accept_case(&self, request: Request<pb::CaseStepRequest>) -> Result<Response<pb::Case>, Status> {
        let acting = acting(&request)?;
        let r = request.get_ref();
        let id = case_id(r.case_id)?;
        self.service.step(&acting, id, CaseState::Submitted, CaseState::Accepted, &r.note).await?;
        Ok(Response::new(self.answer(id).await?))
    }

    async fn review_case(&self, request: Request<pb::CaseStepRequest>) -> Result<Response<pb::Case>, Status> {
        let acting = acting(&request)?;
        let r = request.get_ref();
        let id = case_id(r.case_id)?;
        self.service.step(&acting, id, CaseState::Accepted, CaseState::Reviewed, &r.note).await?;
        Ok(Response::new(self.answer(id).await?))
    }

    async fn approve_case(&self, request: Request<pb::ApproveCaseRequest>) -> Result<Response<pb::Case>, Status> {
        let acting = acting(&request)?;
        let r = request.get_ref();
        let id = case_id(r.case_id)?;
        self.service.approve(&acting, id, r.amount_fen, Some(r.special_approval.as_str()), &r.note).await?;
        Ok(Response::new(self.answer(id).await?))
    }

    async fn grant_emergency(&self, request: Request<pb::GrantEmergencyRequest>) -> Result<Response<pb::Case>, Status> {
        let acting = acting(&request)?;
        let r = request.get_ref();
        let id = case_id(r.case_id)?;
        self.service.grant_emergency(&acting, id, r.amount_fen, &r.note).await?;
        Ok(Response::new(self.answer(id).await?))
    }

    async fn reject_case(&self, request: Request<pb::RejectCaseRequest>) -> Result<Response<pb::Case>, Status> {
        let acting = acting(&request)?;
        let r = request.get_ref();
        let id = case_id(r.case_id)?;
        self.service.reject(&acting, id, &r.reason).await?;
        Ok(Response::new(self.answer(id).await?))
    }

    async fn add_documents(&self, request: Request<pb::AddDocumentsRequest>) -> Result<Response<pb::Case>, Status> {
        let acting = acting(&request)?;
        let r = request.get_ref();
        let id = case_id(r.case_id)?;
        let mut problems = Violations::new();
        let documents = convert::documents("documents", &r.documents, &mut problems);
        if documents.is_empty() && problems.is_empty() {
            problems.add("documents", "name at least one document");
        }
        if !problems.is_empty() {
            return Err(ReliefError::from(problems).into());
        }
        self.service.add_case_documents(&acting, id, &documents).await?;
        Ok(Response::new(self.answer(id).await?))
    }

    async fn list_cases(
        &self,
        request: Request<pb::ListCasesRequest>,
    ) -> Result<Response<pb::ListCasesResponse>, Status> {
        let acting = acting(&request)?;
        let r = request.get_ref();
        let state = match r.state {
            0 => None,
            s => Some(
                convert::state_of(s)
                    .ok_or_else(|| ReliefError::from(Violations::of("state", "is not a case state")))?,
            ),
        };
        let filter = CaseFilter {
            state,
            township: Some(r.township.trim().to_owned()).filter(|t| !t.is_empty()),
            limit: i64::from(r.limit),
            offset: i64::from(r.offset),
        };
        let (cases, more) = self.service.list_cases(&acting, &filter).await?;
        let today = self.service.clock().today();
        let cases = cases.iter().map(|c| convert::case(c, today, &[], &[], &[])).collect();
        Ok(Response::new(pb::ListCasesResponse { cases, more }))
    }

    async fn household_grants(
        &self,
        request: Request<pb::HouseholdGrantsRequest>,
    ) -> Result<Response<pb::HouseholdGrantsResponse>, Status> {
        let acting = acting(&request)?;
        let r = request.get_ref();
        let household = r.household_no.trim();
        if household.is_empty() {
            return Err(ReliefError::from(Violations::of("householdNo", "is required")).into());
        }
        // Through eligibility with the staff member's token: their township scope applies.
        self.service.household(&acting, household).await?;
        let year = if r.year == 0 { self.service.clock().today().year() } else { r.year };
        let (grants, used, standard) = self.service.household_year(household, i64::from(year)).await?;
        Ok(Response::new(pb::HouseholdGrantsResponse {
            household_no: household.to_owned(),
            year,
            grants: grants.iter().map(convert::grant).collect(),
            grants_used: i32::try_from(used.grants).unwrap_or_default(),
            granted_fen: used.fen,
            grants_left: i32::try_from((limits::GRANTS_PER_YEAR - used.grants).max(0)).unwrap_or_default(),
            fen_left: (limits::STANDARDS_PER_YEAR * standard - used.fen).max(0),
            standard_fen: standard,
        }))
    }

    async fn get_budget(&self, request: Request<pb::GetBudgetRequest>) -> Result<Response<pb::Budget>, Status> {
        acting(&request)?;
        let year = request.get_ref().year;
        if year == 0 {
            return Err(ReliefError::from(Violations::of("year", "is required")).into());
        }
        let b = self.service.budget(i64::from(year)).await?;
        Ok(Response::new(pb::Budget {
            year,
            budget_fen: b.budget_fen,
            granted_fen: b.granted_fen,
            available_fen: b.available_fen(),
        }))
    }

    async fn record_intake(&self, request: Request<pb::RecordIntakeRequest>) -> Result<Response<pb::Intake>, Status> {
        let acting = acting(&request)?;
        let new =
            convert::intake::new_intake(request.get_ref(), self.service.clock().today()).map_err(ReliefError::from)?;
        let intake = self.service.record_intake(&acting, new).await?;
        Ok(Response::new(convert::intake::intake(&intake)))
    }

    async fn list_referrals(
        &self,
        request: Request<pb::ListReferralsRequest>,
    ) -> Result<Response<pb::ListReferralsResponse>, Status> {
        let acting = acting(&request)?;
        let r = request.get_ref();
        let bad = |field: &str| ReliefError::from(Violations::of(field, "is not one of its values"));
        let department = match r.department {
            0 => None,
            d => Some(convert::intake::department_of(d).ok_or_else(|| bad("department"))?),
        };
        let state = match r.state {
            0 => None,
            s => Some(convert::intake::referral_state_of(s).ok_or_else(|| bad("state"))?),
        };
        let township = Some(r.township.trim()).filter(|t| !t.is_empty());
        let found = self.service.referrals(&acting, department, state, township).await?;
        let today = self.service.clock().today();
        Ok(Response::new(pb::ListReferralsResponse {
            referrals: found.iter().map(|f| convert::intake::referral(f, today)).collect(),
        }))
    }

    async fn answer_referral(
        &self,
        request: Request<pb::AnswerReferralRequest>,
    ) -> Result<Response<pb::Referral>, Status> {
        let acting = acting(&request)?;
        let r = request.get_ref();
        let done = self.service.follow_referral(&acting, r.referral_id, &r.answer, false).await?;
        Ok(Response::new(convert::intake::referral(&done, self.service.clock().today())))
    }

    async fn close_referral(
        &self,
        request: Request<pb::CloseReferralRequest>,
    ) -> Result<Response<pb::Referral>, Status> {
        let acting = acting(&request)?;
        let r = request.get_ref();
        let done = self.service.follow_referral(&acting, r.referral_id, &r.note, true).await?;
        Ok(Response::new(convert::intake::referral(&done, self.service.clock().today())))
    }
}
