//! The gRPC adapter: proto ↔ domain, once, and `ApiError` → `Status`.

use crate::domain::bill::RawBill;
use crate::domain::engine::{Payer, TraceLine, VisitType};
use crate::domain::reconcile::{DifferenceKind, Totals};
use crate::service::{HospitalRef, RawClaim, ReconciliationView, SettlementService, YearTotalsView};
use crate::store::{Status as SettlementStatus, StoredSettlement};
use doudi_core::{Fen, FieldViolation};
use doudi_proto::settlement::v1 as pb;
use doudi_proto::settlement::v1::settlements_server::Settlements;
use doudi_runtime::ApiError;
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

fn visit_from_proto(value: i32) -> Option<VisitType> {
    match pb::VisitType::try_from(value).ok()? {
        pb::VisitType::Inpatient => Some(VisitType::Inpatient),
        pb::VisitType::Outpatient => Some(VisitType::Outpatient),
        pb::VisitType::Unspecified => None,
    }
}

fn visit_to_proto(visit: VisitType) -> pb::VisitType {
    match visit {
        VisitType::Inpatient => pb::VisitType::Inpatient,
        VisitType::Outpatient => pb::VisitType::Outpatient,
    }
}

fn hospital(value: Option<&pb::Hospital>) -> Result<HospitalRef, Status> {
    let mut violations = Vec::new();
    let code = value.map(|h| h.code.clone()).unwrap_or_default();
    if code.is_empty() {
        violations.push(FieldViolation::new("hospital.code", "is required"));
    }
    let level = value.and_then(|h| doudi_proto::convert::hospital_level(h.level));
    if level.is_none() {
        violations.push(FieldViolation::new("hospital.level", "must be TOWNSHIP, COUNTY, MUNICIPAL or PROVINCIAL"));
    }
    match level {
        Some(level) if violations.is_empty() => Ok(HospitalRef { code, level }),
        _ => Err(ApiError::invalid(violations).into()),
    }
}

pub fn raw_bill(bill: &pb::Bill) -> RawBill<'_> {
    RawBill {
        bill_no: &bill.bill_no,
        national_id: &bill.national_id,
        visit: visit_from_proto(bill.visit_type),
        admitted_on: &bill.admitted_on,
        discharged_on: &bill.discharged_on,
        total_fen: bill.total_fen,
        in_policy_fen: bill.in_policy_fen,
    }
}

fn payer_to_proto(payer: Payer) -> pb::Payer {
    match payer {
        Payer::Basic => pb::Payer::Basic,
        Payer::CriticalIllness => pb::Payer::CriticalIllness,
        Payer::MedicalAssistance => pb::Payer::MedicalAssistance,
    }
}

fn trace_line(line: &TraceLine) -> pb::TraceLine {
    pb::TraceLine {
        payer: payer_to_proto(line.payer) as i32,
        base_fen: line.base.0,
        deductible_fen: line.deductible.0,
        rate_bp: line.rate.0,
        cap_room_fen: line.cap_room.0,
        amount_fen: line.amount.0,
        year_base_before_fen: line.year_base_before.0,
        paid_before_fen: line.paid_before.0,
    }
}

pub fn settlement_to_proto(s: StoredSettlement) -> pb::Settlement {
    let status = match s.status {
        SettlementStatus::Quoted => pb::SettlementStatus::Quoted,
        SettlementStatus::Settled => pb::SettlementStatus::Settled,
        SettlementStatus::Reversed => pb::SettlementStatus::Reversed,
    };
    pb::Settlement {
        settlement_id: s.id,
        bill_no: s.bill_no,
        status: status as i32,
        category: doudi_proto::eligibility::v1::Category::from(s.category) as i32,
        policy_version: s.policy_version,
        total_fen: s.total.0,
        in_policy_fen: s.in_policy.0,
        basic_insurance_fen: s.basic.0,
        critical_illness_fen: s.critical.0,
        medical_assistance_fen: s.assistance.0,
        patient_copay_fen: s.copay.0,
        trace: s.trace.iter().map(trace_line).collect(),
        visit_type: visit_to_proto(s.visit) as i32,
        admitted_on: s.admitted_on,
        discharged_on: s.discharged_on,
        national_id: s.national_id_masked,
        settled_at: s.settled_at,
        reversed_at: s.reversed_at.unwrap_or_default(),
        reverse_reason: s.reverse_reason.unwrap_or_default(),
    }
}

fn year_totals_to_proto(v: YearTotalsView) -> pb::PatientYearTotals {
    pb::PatientYearTotals {
        year: v.year,
        category: doudi_proto::eligibility::v1::Category::from(v.category) as i32,
        policy_version: v.policy_version,
        basic_inpatient_paid_fen: v.paid.basic_inpatient_paid.0,
        basic_inpatient_room_fen: v.basic_inpatient_room.0,
        basic_outpatient_paid_fen: v.paid.basic_outpatient_paid.0,
        basic_outpatient_room_fen: v.basic_outpatient_room.0,
        critical_illness_base_fen: v.paid.critical_base.0,
        critical_illness_paid_fen: v.paid.critical_paid.0,
        critical_illness_room_fen: v.critical_room.0,
        medical_assistance_base_fen: v.paid.assistance_base.0,
        medical_assistance_paid_fen: v.paid.assistance_paid.0,
        medical_assistance_room_fen: v.assistance_room.0,
        settled_bills: v.settled_bills,
    }
}

fn amounts_to_proto(bill_no: &str, a: &[Fen; 3]) -> pb::BillAmounts {
    pb::BillAmounts {
        bill_no: bill_no.to_owned(),
        basic_insurance_fen: a[0].0,
        critical_illness_fen: a[1].0,
        medical_assistance_fen: a[2].0,
    }
}

fn totals_to_proto(t: &Totals) -> pb::ReconciliationTotals {
    pb::ReconciliationTotals {
        count: t.count,
        basic_insurance_fen: t.amounts[0].0,
        critical_illness_fen: t.amounts[1].0,
        medical_assistance_fen: t.amounts[2].0,
    }
}

fn reconciliation_to_proto(v: ReconciliationView) -> pb::Reconciliation {
    let status =
        if v.outcome.matched { pb::ReconciliationStatus::Matched } else { pb::ReconciliationStatus::Mismatched };
    pb::Reconciliation {
        status: status as i32,
        from_date: v.from.to_string(),
        to_date: v.to.to_string(),
        ours: Some(totals_to_proto(&v.outcome.ours)),
        theirs: Some(totals_to_proto(&v.claimed)),
        differences: v
            .outcome
            .differences
            .iter()
            .map(|d| pb::BillDifference {
                bill_no: d.bill_no.clone(),
                kind: match d.kind {
                    DifferenceKind::AmountsDiffer => pb::DifferenceKind::AmountsDiffer,
                    DifferenceKind::MissingAtHospital => pb::DifferenceKind::MissingAtHospital,
                    DifferenceKind::MissingHere => pb::DifferenceKind::MissingHere,
                } as i32,
                ours: Some(amounts_to_proto(&d.bill_no, &d.ours)),
                theirs: Some(amounts_to_proto(&d.bill_no, &d.theirs)),
            })
            .collect(),
    }
}

pub fn raw_claim(claim: &pb::ReconciliationClaim) -> RawClaim<'_> {
    RawClaim {
        from_date: &claim.from_date,
        to_date: &claim.to_date,
        totals: Totals {
            count: claim.count,
            amounts: [
                Fen(claim.basic_insurance_fen),
                Fen(claim.critical_illness_fen),
                Fen(claim.medical_assistance_fen),
            ],
        },
        bills: (!claim.bills.is_empty()).then(|| {
            claim
                .bills
                .iter()
                .map(|b| {
                    (
                        b.bill_no.clone(),
                        [Fen(b.basic_insurance_fen), Fen(b.critical_illness_fen), Fen(b.medical_assistance_fen)],
                    )
                })
                .collect()
        }),
    }
}

fn bill_of(request: &pb::SettleRequest) -> Result<&pb::Bill, Status> {
    request.bill.as_ref().ok_or_else(|| ApiError::invalid(vec![FieldViolation::new("bill", "is required")]).into())
}

#[tonic::async_trait]
impl Settlements for SettlementGrpc {
    async fn quote(&self, request: Request<pb::SettleRequest>) -> Result<Response<pb::Settlement>, Status> {
        let request = request.into_inner();
        let hospital = hospital(request.hospital.as_ref())?;
        let quoted = self.service.quote(&hospital, &raw_bill(bill_of(&request)?)).await?;
        Ok(Response::new(settlement_to_proto(quoted)))
    }

    async fn settle(&self, request: Request<pb::SettleRequest>) -> Result<Response<pb::Settlement>, Status> {
        let request = request.into_inner();
        let hospital = hospital(request.hospital.as_ref())?;
        let settled = self.service.settle(&hospital, &raw_bill(bill_of(&request)?)).await?;
        Ok(Response::new(settlement_to_proto(settled)))
    }

    async fn reverse(&self, request: Request<pb::ReverseRequest>) -> Result<Response<pb::Settlement>, Status> {
        let request = request.into_inner();
        let hospital = hospital(request.hospital.as_ref())?;
        let reversed = self.service.reverse(&hospital, &request.settlement_id, &request.reason).await?;
        Ok(Response::new(settlement_to_proto(reversed)))
    }

    async fn get_settlement(
        &self,
        request: Request<pb::GetSettlementRequest>,
    ) -> Result<Response<pb::Settlement>, Status> {
        let request = request.into_inner();
        let hospital = hospital(request.hospital.as_ref())?;
        Ok(Response::new(settlement_to_proto(self.service.get(&hospital, &request.settlement_id).await?)))
    }

    async fn find_settlement(
        &self,
        request: Request<pb::FindSettlementRequest>,
    ) -> Result<Response<pb::Settlement>, Status> {
        let request = request.into_inner();
        let hospital = hospital(request.hospital.as_ref())?;
        Ok(Response::new(settlement_to_proto(self.service.find(&hospital, &request.bill_no).await?)))
    }

    async fn year_totals(
        &self,
        request: Request<pb::YearTotalsRequest>,
    ) -> Result<Response<pb::PatientYearTotals>, Status> {
        let request = request.into_inner();
        let hospital = hospital(request.hospital.as_ref())?;
        let totals = self.service.year_totals(&hospital, &request.national_id, request.year).await?;
        Ok(Response::new(year_totals_to_proto(totals)))
    }

    async fn reconcile(&self, request: Request<pb::ReconcileRequest>) -> Result<Response<pb::Reconciliation>, Status> {
        let request = request.into_inner();
        let hospital = hospital(request.hospital.as_ref())?;
        let claim = request.claim.unwrap_or_default();
        let view = self.service.reconcile(&hospital, &raw_claim(&claim)).await?;
        Ok(Response::new(reconciliation_to_proto(view)))
    }

    async fn record_premium_subsidies(
        &self,
        request: Request<pb::RecordPremiumSubsidiesRequest>,
    ) -> Result<Response<pb::RecordPremiumSubsidiesResponse>, Status> {
        let request = request.into_inner();
        let persons: Vec<(String, Option<doudi_core::Category>)> =
            request.persons.into_iter().map(|p| (p.national_id, doudi_proto::convert::category(p.category))).collect();
        let summary = self.service.record_premium_subsidies(request.year, &persons).await?;
        Ok(Response::new(pb::RecordPremiumSubsidiesResponse {
            year: request.year,
            policy_version: summary.policy_version,
            recorded: summary.recorded,
            already_recorded: summary.already_recorded,
            recorded_fen: summary.recorded_fen.0,
        }))
    }
}
