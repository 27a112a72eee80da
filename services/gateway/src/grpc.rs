//! `doudi.hospital.v1.HospitalSettlement` over gRPC: the caller's key from the `authorization`
//! metadata, everything else relayed.

use crate::hospitals::access::Caller;
use crate::relay::Relay;
use doudi_proto::hospital::v1 as hpb;
use doudi_proto::hospital::v1::hospital_settlement_server::HospitalSettlement;
use doudi_proto::settlement::v1 as pb;
use tonic::{Request, Response, Status};

#[derive(Debug, Clone)]
pub struct HospitalGrpc {
    relay: Relay,
}

impl HospitalGrpc {
    pub fn new(relay: Relay) -> Self {
        Self { relay }
    }
}

fn caller<T>(request: &Request<T>) -> Caller {
    Caller {
        authorization: doudi_runtime::auth::authorization(request).map(str::to_owned),
        address: request.remote_addr().map(|a| a.ip()),
    }
}

#[tonic::async_trait]
impl HospitalSettlement for HospitalGrpc {
    async fn quote(&self, request: Request<pb::Bill>) -> Result<Response<pb::Settlement>, Status> {
        let caller = caller(&request);
        Ok(Response::new(self.relay.quote(&caller, request.into_inner()).await?))
    }

    async fn settle(&self, request: Request<pb::Bill>) -> Result<Response<pb::Settlement>, Status> {
        let caller = caller(&request);
        Ok(Response::new(self.relay.settle(&caller, request.into_inner()).await?))
    }

    async fn reverse(&self, request: Request<hpb::ReverseRequest>) -> Result<Response<pb::Settlement>, Status> {
        let caller = caller(&request);
        let r = request.into_inner();
        Ok(Response::new(self.relay.reverse(&caller, r.settlement_id, r.reason).await?))
    }

    async fn get_settlement(
        &self,
        request: Request<hpb::GetSettlementRequest>,
    ) -> Result<Response<pb::Settlement>, Status> {
        let caller = caller(&request);
        Ok(Response::new(self.relay.get(&caller, request.into_inner().settlement_id).await?))
    }

    async fn find_settlement(
        &self,
        request: Request<hpb::FindSettlementRequest>,
    ) -> Result<Response<pb::Settlement>, Status> {
        let caller = caller(&request);
        Ok(Response::new(self.relay.find(&caller, request.into_inner().bill_no).await?))
    }

    async fn year_totals(
        &self,
        request: Request<hpb::YearTotalsRequest>,
    ) -> Result<Response<pb::PatientYearTotals>, Status> {
        let caller = caller(&request);
        let r = request.into_inner();
        Ok(Response::new(self.relay.year_totals(&caller, r.national_id, r.year).await?))
    }

    async fn reconcile(
        &self,
        request: Request<pb::ReconciliationClaim>,
    ) -> Result<Response<pb::Reconciliation>, Status> {
        let caller = caller(&request);
        Ok(Response::new(self.relay.reconcile(&caller, request.into_inner()).await?))
    }
}
