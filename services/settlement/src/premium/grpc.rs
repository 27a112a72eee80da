//! Premium subsidies over gRPC.

use crate::error::Result;
use crate::service::SettlementService;
use doudi_proto::settlement::v1 as pb;

pub async fn record_premium_subsidies(
    service: &SettlementService,
    actor: &str,
    r: pb::RecordPremiumSubsidiesRequest,
) -> Result<pb::RecordPremiumSubsidiesResponse> {
    let persons: Vec<(String, Option<doudi_core::Category>)> =
        r.persons.into_iter().map(|p| (p.national_id, doudi_proto::convert::category(p.category))).collect();
    let summary = service.record_premium_subsidies(r.year, &persons, actor).await?;
    Ok(pb::RecordPremiumSubsidiesResponse {
        year: r.year,
        policy_version: summary.policy_version,
        recorded: summary.recorded,
        already_recorded: summary.already_recorded,
        recorded_fen: summary.recorded_fen.0,
    })
}
