//! The eligibility service's gRPC services. The guard has admitted each request by the
//! allow-list (`access.rs`) and named its caller; each method hands the request and its caller to
//! its capability's adapter (`<capability>/grpc.rs`), which converts proto ↔ domain once and
//! applies the township scope; errors become `Status` here, once.

use crate::error::EligibilityError;
use crate::service::EligibilityService;
use crate::staff::ops::StaffRegister;
use crate::staff::rules::Staff;
use crate::{coverage, notice, procedure, registry, reviews, roll, upkeep};
use doudi_core::policy::PolicySet;
use doudi_proto::eligibility::v1 as pb;
use doudi_proto::eligibility::v1::dibao_procedure_server::DibaoProcedure;
use doudi_proto::eligibility::v1::eligibility_server::Eligibility;
use doudi_proto::eligibility::v1::staff_directory_server::StaffDirectory;
use doudi_runtime::access::Caller;
use std::sync::Arc;
use tonic::{Request, Response, Status};

/// `doudi.eligibility.v1.Eligibility`: coverage, households, the premium-subsidy list.
#[derive(Debug, Clone)]
pub struct EligibilityGrpc {
    service: EligibilityService,
}

impl EligibilityGrpc {
    pub fn new(service: EligibilityService) -> Self {
        Self { service }
    }
}

/// The caller the guard admitted; a request that reached a method without one came past no guard.
fn caller_of<T>(request: &Request<T>) -> Result<Caller, Status> {
    doudi_runtime::access::caller(request).cloned().ok_or_else(|| EligibilityError::NoStaffToken.into())
}

/// The member of staff the guard admitted.
fn staff_of<T>(request: &Request<T>) -> Result<Staff, Status> {
    match doudi_runtime::access::caller(request) {
        Some(Caller::Staff(staff)) => Ok(staff.clone()),
        _ => Err(EligibilityError::NoStaffToken.into()),
    }
}

#[tonic::async_trait]
impl Eligibility for EligibilityGrpc {
    async fn get_coverage(
        &self,
        request: Request<pb::GetCoverageRequest>,
    ) -> Result<Response<pb::GetCoverageResponse>, Status> {
        let caller = caller_of(&request)?;
        Ok(Response::new(coverage::grpc::get_coverage(&self.service, &caller, request.into_inner()).await?))
    }

    async fn register_household(
        &self,
        request: Request<pb::RegisterHouseholdRequest>,
    ) -> Result<Response<pb::Household>, Status> {
        let staff = staff_of(&request)?;
        Ok(Response::new(registry::grpc::register_household(&self.service, &staff, request.into_inner()).await?))
    }

    async fn get_household(
        &self,
        request: Request<pb::GetHouseholdRequest>,
    ) -> Result<Response<pb::Household>, Status> {
        let staff = staff_of(&request)?;
        Ok(Response::new(registry::grpc::get_household(&self.service, &staff, request.into_inner()).await?))
    }

    async fn list_premium_subsidy_persons(
        &self,
        request: Request<pb::ListPremiumSubsidyPersonsRequest>,
    ) -> Result<Response<pb::ListPremiumSubsidyPersonsResponse>, Status> {
        let r = request.into_inner();
        Ok(Response::new(coverage::grpc::list_premium_subsidy_persons(&self.service, r).await?))
    }
}

/// `doudi.eligibility.v1.DibaoProcedure`: staff calls (the benefit roll also the payment side's).
#[derive(Debug, Clone)]
pub struct ProcedureGrpc {
    service: EligibilityService,
    policy: Arc<PolicySet>,
}

impl ProcedureGrpc {
    pub fn new(service: EligibilityService, policy: PolicySet) -> Self {
        Self { service, policy: Arc::new(policy) }
    }
}

#[tonic::async_trait]
impl DibaoProcedure for ProcedureGrpc {
    type StreamBenefitRollStream = roll::grpc::ChunkStream;

    async fn stream_benefit_roll(
        &self,
        request: Request<pb::StreamBenefitRollRequest>,
    ) -> Result<Response<Self::StreamBenefitRollStream>, Status> {
        let caller = caller_of(&request)?;
        let chunks = roll::grpc::stream_benefit_roll(&self.service, &caller, &self.policy, request.get_ref()).await?;
        Ok(Response::new(chunks))
    }

    async fn get_payment_accounts(
        &self,
        request: Request<pb::GetPaymentAccountsRequest>,
    ) -> Result<Response<pb::GetPaymentAccountsResponse>, Status> {
        let caller = caller_of(&request)?.actor();
        let r = request.into_inner();
        Ok(Response::new(registry::payment_accounts::get(&self.service, &caller, r).await?))
    }

    async fn get_notice_list(
        &self,
        request: Request<pb::GetNoticeListRequest>,
    ) -> Result<Response<pb::NoticeList>, Status> {
        let staff = staff_of(&request)?;
        Ok(Response::new(notice::grpc::get_notice_list(&self.service, &staff, request.get_ref()).await?))
    }

    async fn submit_application(
        &self,
        request: Request<pb::SubmitApplicationRequest>,
    ) -> Result<Response<pb::Application>, Status> {
        let staff = staff_of(&request)?;
        Ok(Response::new(procedure::grpc::submit_application(&self.service, &staff, request.get_ref()).await?))
    }

    async fn take_step(&self, request: Request<pb::TakeStepRequest>) -> Result<Response<pb::Application>, Status> {
        let staff = staff_of(&request)?;
        let r = request.into_inner();
        Ok(Response::new(procedure::grpc::take_step(&self.service, &staff, &self.policy, r).await?))
    }

    async fn get_application(
        &self,
        request: Request<pb::GetApplicationRequest>,
    ) -> Result<Response<pb::Application>, Status> {
        let staff = staff_of(&request)?;
        Ok(Response::new(procedure::grpc::get_application(&self.service, &staff, request.get_ref()).await?))
    }

    async fn list_waiting(
        &self,
        request: Request<pb::ListWaitingRequest>,
    ) -> Result<Response<pb::ListWaitingResponse>, Status> {
        let staff = staff_of(&request)?;
        Ok(Response::new(procedure::grpc::list_waiting(&self.service, &staff, request.get_ref()).await?))
    }

    async fn set_township_quota(
        &self,
        request: Request<pb::SetTownshipQuotaRequest>,
    ) -> Result<Response<pb::TownshipQuota>, Status> {
        let staff = staff_of(&request)?;
        Ok(Response::new(procedure::grpc::set_township_quota(&self.service, &staff, request.get_ref()).await?))
    }

    async fn set_poor_village(
        &self,
        request: Request<pb::SetPoorVillageRequest>,
    ) -> Result<Response<pb::SetPoorVillageResponse>, Status> {
        let staff = staff_of(&request)?;
        Ok(Response::new(procedure::grpc::set_poor_village(&self.service, &staff, request.get_ref()).await?))
    }

    async fn record_member_change(
        &self,
        request: Request<pb::MemberChangeRequest>,
    ) -> Result<Response<pb::MemberChangeRecord>, Status> {
        let staff = staff_of(&request)?;
        Ok(Response::new(upkeep::grpc::record_member_change(&self.service, &staff, request.into_inner()).await?))
    }

    async fn correct_household(
        &self,
        request: Request<pb::CorrectHouseholdRequest>,
    ) -> Result<Response<pb::Household>, Status> {
        let staff = staff_of(&request)?;
        Ok(Response::new(upkeep::grpc::correct_household(&self.service, &staff, request.get_ref()).await?))
    }

    async fn record_review(
        &self,
        request: Request<pb::RecordReviewRequest>,
    ) -> Result<Response<pb::ReviewRecord>, Status> {
        let staff = staff_of(&request)?;
        let r = request.get_ref();
        Ok(Response::new(reviews::grpc::record_review(&self.service, &staff, &self.policy, r).await?))
    }
}

/// `doudi.eligibility.v1.StaffDirectory`: the suite's other services verify staff tokens here.
#[derive(Clone)]
pub struct StaffDirectoryGrpc {
    register: StaffRegister,
}

impl StaffDirectoryGrpc {
    pub fn new(register: StaffRegister) -> Self {
        Self { register }
    }
}

#[tonic::async_trait]
impl StaffDirectory for StaffDirectoryGrpc {
    async fn check_staff_token(
        &self,
        request: Request<pb::CheckStaffTokenRequest>,
    ) -> Result<Response<pb::CheckStaffTokenResponse>, Status> {
        use doudi_runtime::staff::StaffDirectory as _;
        let check = self.register.check(&request.get_ref().token).await?;
        Ok(Response::new(doudi_runtime::staff::check_to_proto(&check)))
    }
}
