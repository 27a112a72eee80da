//! Asks the eligibility service which category a patient holds on the bill's day. If it cannot
//! answer in time, the bill is not settled: the caller gets UNAVAILABLE and may retry. A bill is
//! never settled as NONE for want of an answer.

use crate::error::{Result, SettlementError};
use doudi_core::{Category, Date, NationalId};
use doudi_proto::eligibility::v1 as pb;
use doudi_proto::eligibility::v1::eligibility_client::EligibilityClient;
use std::time::Duration;
use tonic::transport::Channel;

#[derive(Debug, Clone)]
pub struct CoverageClient {
    client: EligibilityClient<Channel>,
    deadline: Duration,
}

impl CoverageClient {
    /// Over a channel that connects on first use (and reconnects after failures), so a
    /// settlement service can start before the eligibility service does.
    pub fn new(channel: Channel, deadline: Duration) -> Self {
        Self { client: EligibilityClient::new(channel), deadline }
    }

    pub async fn category_on(&self, national_id: &NationalId, day: Date) -> Result<Category> {
        let mut request = tonic::Request::new(pb::GetCoverageRequest {
            national_id: national_id.expose().to_owned(),
            date: day.to_string(),
        });
        request.set_timeout(self.deadline);
        doudi_runtime::telemetry::inject_trace_context(request.metadata_mut());
        let unavailable = |status: &tonic::Status| {
            tracing::warn!(code = ?status.code(), message = status.message(), "eligibility did not answer");
            SettlementError::EligibilityUnavailable
        };
        let response = self.client.clone().get_coverage(request).await.map_err(|s| unavailable(&s))?.into_inner();
        doudi_proto::convert::category(response.category)
            .ok_or_else(|| unavailable(&tonic::Status::internal(format!("unknown category {}", response.category))))
    }
}
