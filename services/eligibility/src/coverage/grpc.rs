//! Coverage over gRPC.

use crate::coverage::ops::CoverageAnswer;
use crate::error::{EligibilityError, Result};
use crate::service::EligibilityService;
use doudi_proto::eligibility::v1 as pb;
use doudi_runtime::access::Caller;

pub fn coverage_to_proto(answer: CoverageAnswer) -> pb::GetCoverageResponse {
    let registered = answer.household.is_some();
    let (household_no, township, village) = answer.household.unwrap_or_default();
    pb::GetCoverageResponse {
        category: pb::Category::from(answer.coverage.category) as i32,
        categories: answer
            .coverage
            .held
            .iter()
            .map(|p| pb::CategoryPeriod {
                category: pb::Category::from(p.category) as i32,
                effective_from: p.from.to_string(),
                effective_to: p.to.map(|d| d.to_string()).unwrap_or_default(),
            })
            .collect(),
        household_no,
        township,
        village,
        date: answer.day.to_string(),
        registered,
    }
}

/// A service of the suite sees any person; township staff only the persons their township
/// registers (anyone else, registered elsewhere or nowhere, is refused alike).
pub async fn get_coverage(
    service: &EligibilityService,
    caller: &Caller,
    r: pb::GetCoverageRequest,
) -> Result<pb::GetCoverageResponse> {
    let answer = service.coverage(&r.national_id, &r.date).await?;
    if let Caller::Staff(staff) = caller
        && !staff.is_county()
        && !answer.household.as_ref().is_some_and(|(_, township, _)| staff.acts_in(township))
    {
        return Err(EligibilityError::NotOwnTownshipPerson);
    }
    Ok(coverage_to_proto(answer))
}

pub async fn list_premium_subsidy_persons(
    service: &EligibilityService,
    r: pb::ListPremiumSubsidyPersonsRequest,
) -> Result<pb::ListPremiumSubsidyPersonsResponse> {
    let persons = service.premium_subsidy_persons(r.year).await?;
    Ok(pb::ListPremiumSubsidyPersonsResponse {
        year: r.year,
        persons: persons
            .into_iter()
            .map(|p| pb::PremiumSubsidyPerson {
                national_id: p.national_id,
                category: pb::Category::from(p.category) as i32,
                household_no: p.household_no,
            })
            .collect(),
    })
}
