//! The gRPC face of the eligibility service: converts proto ↔ domain once, maps errors.

use crate::domain::household::{HouseholdDraft, MemberDraft};
use crate::service::{CoverageAnswer, EligibilityService};
use crate::store::StoredHousehold;
use doudi_core::Relation;
use doudi_proto::eligibility::v1 as pb;
use doudi_proto::eligibility::v1::eligibility_server::Eligibility;
use tonic::{Request, Response, Status};

#[derive(Debug, Clone)]
pub struct EligibilityGrpc {
    service: EligibilityService,
}

impl EligibilityGrpc {
    pub fn new(service: EligibilityService) -> Self {
        Self { service }
    }
}

fn relation_to_proto(relation: Relation) -> pb::Relation {
    match relation {
        Relation::Head => pb::Relation::Head,
        Relation::Spouse => pb::Relation::Spouse,
        Relation::Child => pb::Relation::Child,
        Relation::Parent => pb::Relation::Parent,
        Relation::Other => pb::Relation::Other,
    }
}

fn relation_from_proto(value: i32) -> Option<Relation> {
    match pb::Relation::try_from(value).ok()? {
        pb::Relation::Head => Some(Relation::Head),
        pb::Relation::Spouse => Some(Relation::Spouse),
        pb::Relation::Child => Some(Relation::Child),
        pb::Relation::Parent => Some(Relation::Parent),
        pb::Relation::Other => Some(Relation::Other),
        pb::Relation::Unspecified => None,
    }
}

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

pub fn member_draft(m: pb::MemberInput) -> MemberDraft {
    MemberDraft {
        national_id: m.national_id,
        name: m.name,
        relation: relation_from_proto(m.relation),
        disability_grade: m.disability_grade,
        seriously_ill: m.seriously_ill,
        able_to_work: m.able_to_work,
        publicly_funded: m.publicly_funded,
    }
}

pub fn household_to_proto(h: StoredHousehold) -> pb::Household {
    pb::Household {
        household_no: h.household_no,
        township: h.township,
        village: h.village,
        address: h.address,
        members: h
            .members
            .into_iter()
            .map(|m| pb::Member {
                national_id_masked: m.national_id_masked,
                name_masked: m.name.masked(),
                relation: relation_to_proto(m.relation) as i32,
                birth_date: m.birth_date.to_string(),
                disability_grade: m.disability_grade as i32,
                seriously_ill: m.seriously_ill,
                able_to_work: m.able_to_work,
                publicly_funded: m.publicly_funded,
            })
            .collect(),
        monthly_income_fen: h.monthly_income_fen,
        assets: Some(pb::Assets {
            savings_fen: h.savings_fen,
            motor_vehicles: h.motor_vehicles as i32,
            vehicles_exempt: h.vehicles_exempt,
            commercial_properties: h.commercial_properties as i32,
        }),
        bank_account_masked: h.bank_account.map(|a| a.masked()).unwrap_or_default(),
    }
}

/// Who made a change, for the audit trail. Staff authentication arrives with the dibao
/// procedure; until then a change is attributed to the calling address.
fn actor_of<T>(request: &Request<T>) -> String {
    request.remote_addr().map_or_else(|| "grpc:unknown".to_owned(), |a| format!("grpc:{a}"))
}

#[tonic::async_trait]
impl Eligibility for EligibilityGrpc {
    async fn get_coverage(
        &self,
        request: Request<pb::GetCoverageRequest>,
    ) -> Result<Response<pb::GetCoverageResponse>, Status> {
        let request = request.into_inner();
        let answer = self.service.coverage(&request.national_id, &request.date).await?;
        Ok(Response::new(coverage_to_proto(answer)))
    }

    async fn register_household(
        &self,
        request: Request<pb::RegisterHouseholdRequest>,
    ) -> Result<Response<pb::Household>, Status> {
        let actor = actor_of(&request);
        let r = request.into_inner();
        let assets = r.assets.unwrap_or_default();
        let draft = HouseholdDraft {
            household_no: r.household_no,
            township: r.township,
            village: r.village,
            address: r.address,
            members: r.members.into_iter().map(member_draft).collect(),
            monthly_income_fen: r.monthly_income_fen,
            savings_fen: assets.savings_fen,
            motor_vehicles: assets.motor_vehicles,
            vehicles_exempt: assets.vehicles_exempt,
            commercial_properties: assets.commercial_properties,
            bank_account: r.bank_account,
        };
        let household = self.service.register_household(draft, &actor).await?;
        Ok(Response::new(household_to_proto(household)))
    }

    async fn get_household(
        &self,
        request: Request<pb::GetHouseholdRequest>,
    ) -> Result<Response<pb::Household>, Status> {
        let household = self.service.household(&request.into_inner().household_no).await?;
        Ok(Response::new(household_to_proto(household)))
    }

    async fn list_premium_subsidy_persons(
        &self,
        request: Request<pb::ListPremiumSubsidyPersonsRequest>,
    ) -> Result<Response<pb::ListPremiumSubsidyPersonsResponse>, Status> {
        let year = request.into_inner().year;
        let persons = self.service.premium_subsidy_persons(year).await?;
        Ok(Response::new(pb::ListPremiumSubsidyPersonsResponse {
            year,
            persons: persons
                .into_iter()
                .map(|p| pb::PremiumSubsidyPerson {
                    national_id: p.national_id,
                    category: pb::Category::from(p.category) as i32,
                    household_no: p.household_no,
                })
                .collect(),
        }))
    }
}
