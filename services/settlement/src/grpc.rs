//! `doudi.settlement.v1.Settlements`: each method hands the request to its capability's adapter
//! (`<capability>/grpc.rs`); errors become `Status` here, once.

use crate::service::SettlementService;
use crate::{premium, reconcile, settle};
use doudi_proto::settlement::v1 as pb;
use doudi_proto::settlement::v1::settlements_server::Settlements;
use tonic::{Request, Response, Status};

#[derive(Debug, Clone)]
pub struct SettlementGrpc {
    service: SettlementService,
}

impl SettlementGrpc {
    pub fn new(service: SettlementService) -> Self {
        Self { service }
    }
}

#[tonic::async_trait]
impl Settlements for SettlementGrpc {
    async fn quote(&self, request: Request<pb::SettleRequest>) -> Result<Response<pb::Settlement>, Status> {
        Ok(Response::new(settle::grpc::quote(&self.service, request.get_ref()).await?))
    }

    async fn settle(&self, request: Request<pb::SettleRequest>) -> Result<Response<pb::Settlement>, Status> {
        Ok(Response::new(settle::grpc::settle(&self.service, request.get_ref()).await?))
    }

    async fn reverse(&self, request: Request<pb::ReverseRequest>) -> Result<Response<pb::Settlement>, Status> {
        Ok(Response::new(settle::grpc::reverse(&self.service, request.get_ref()).await?))
    }

    async fn get_settlement(
        &self,
        request: Request<pb::GetSettlementRequest>,
    ) -> Result<Response<pb::Settlement>, Status> {
        Ok(Response::new(settle::grpc::get_settlement(&self.service, request.get_ref()).await?))
    }

    async fn find_settlement(
        &self,
        request: Request<pb::FindSettlementRequest>,
    ) -> Result<Response<pb::Settlement>, Status> {
        Ok(Response::new(settle::grpc::find_settlement(&self.service, request.get_ref()).await?))
    }

    async fn year_totals(
        &self,
        request: Request<pb::YearTotalsRequest>,
    ) -> Result<Response<pb::PatientYearTotals>, Status> {
        Ok(Response::new(settle::grpc::year_totals(&self.service, request.get_ref()).await?))
    }

    async fn reconcile(&self, request: Request<pb::ReconcileRequest>) -> Result<Response<pb::Reconciliation>, Status> {
        Ok(Response::new(reconcile::grpc::reconcile(&self.service, request.get_ref()).await?))
    }

    async fn record_premium_subsidies(
        &self,
        request: Request<pb::RecordPremiumSubsidiesRequest>,
    ) -> Result<Response<pb::RecordPremiumSubsidiesResponse>, Status> {
        // The guard admitted county staff only; they are who acted.
        let actor = doudi_runtime::access::caller(&request)
            .map(|caller| caller.actor())
            .ok_or_else(|| Status::unauthenticated("a county staff token is required"))?;
        Ok(Response::new(premium::grpc::record_premium_subsidies(&self.service, &actor, request.into_inner()).await?))
    }
}
