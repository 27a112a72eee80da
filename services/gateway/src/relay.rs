//! The gateway's one piece of orchestration: admit the caller, then forward to the settlement
//! service as that hospital, within the gateway's deadline. No business rules live here.

use crate::hospitals::access::{Access, Caller};
use crate::hospitals::keys::Hospital;
use doudi_proto::settlement::v1 as pb;
use doudi_proto::settlement::v1::settlements_client::SettlementsClient;
use std::sync::Arc;
use std::time::Duration;
use tonic::Status;
use tonic::transport::Channel;

#[derive(Debug, Clone)]
pub struct Relay {
    access: Arc<Access>,
    settlement: SettlementsClient<Channel>,
    deadline: Duration,
}

fn hospital_ref(hospital: &Hospital) -> Option<pb::Hospital> {
    Some(pb::Hospital { code: hospital.code.clone(), level: pb::HospitalLevel::from(hospital.level) as i32 })
}

impl Relay {
    /// Relays to `settlement_url` over mutual TLS as `identity` (the settlement service takes
    /// hospital requests from the gateway's certificate only).
    pub fn new(
        access: Arc<Access>,
        settlement_url: &str,
        deadline: Duration,
        identity: &doudi_runtime::tls::TlsIdentity,
    ) -> Result<Self, tonic::transport::Error> {
        let channel = doudi_runtime::channel::lazy_channel(settlement_url, deadline, identity)?;
        Ok(Self { access, settlement: SettlementsClient::new(channel), deadline })
    }

    fn outbound<T>(&self, message: T) -> tonic::Request<T> {
        let mut request = tonic::Request::new(message);
        request.set_timeout(self.deadline);
        doudi_runtime::telemetry::inject_trace_context(request.metadata_mut());
        request
    }

    async fn admit(&self, caller: &Caller) -> Result<Option<pb::Hospital>, Status> {
        let hospital = self.access.admit(caller).await?;
        Ok(hospital_ref(&hospital))
    }

    pub async fn quote(&self, caller: &Caller, bill: pb::Bill) -> Result<pb::Settlement, Status> {
        let hospital = hospital_ref(&self.access.admit_quote(caller).await?);
        let request = self.outbound(pb::SettleRequest { hospital, bill: Some(bill) });
        Ok(self.settlement.clone().quote(request).await?.into_inner())
    }

    pub async fn settle(&self, caller: &Caller, bill: pb::Bill) -> Result<pb::Settlement, Status> {
        let hospital = self.admit(caller).await?;
        let request = self.outbound(pb::SettleRequest { hospital, bill: Some(bill) });
        Ok(self.settlement.clone().settle(request).await?.into_inner())
    }

    pub async fn reverse(
        &self,
        caller: &Caller,
        settlement_id: String,
        reason: String,
    ) -> Result<pb::Settlement, Status> {
        let hospital = self.admit(caller).await?;
        let request = self.outbound(pb::ReverseRequest { hospital, settlement_id, reason });
        Ok(self.settlement.clone().reverse(request).await?.into_inner())
    }

    pub async fn get(&self, caller: &Caller, settlement_id: String) -> Result<pb::Settlement, Status> {
        let hospital = self.admit(caller).await?;
        let request = self.outbound(pb::GetSettlementRequest { hospital, settlement_id });
        Ok(self.settlement.clone().get_settlement(request).await?.into_inner())
    }

    pub async fn find(&self, caller: &Caller, bill_no: String) -> Result<pb::Settlement, Status> {
        let hospital = self.admit(caller).await?;
        let request = self.outbound(pb::FindSettlementRequest { hospital, bill_no });
        Ok(self.settlement.clone().find_settlement(request).await?.into_inner())
    }

    pub async fn year_totals(
        &self,
        caller: &Caller,
        national_id: String,
        year: i32,
    ) -> Result<pb::PatientYearTotals, Status> {
        let hospital = self.admit(caller).await?;
        let request = self.outbound(pb::YearTotalsRequest { hospital, national_id, year });
        Ok(self.settlement.clone().year_totals(request).await?.into_inner())
    }

    pub async fn reconcile(
        &self,
        caller: &Caller,
        claim: pb::ReconciliationClaim,
    ) -> Result<pb::Reconciliation, Status> {
        let hospital = self.admit(caller).await?;
        let request = self.outbound(pb::ReconcileRequest { hospital, claim: Some(claim) });
        Ok(self.settlement.clone().reconcile(request).await?.into_inner())
    }
}
