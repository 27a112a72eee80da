//! One-stop settlement over gRPC: the hospital the gateway names, the bill, proto ↔ domain once.

use crate::error::Result;
use crate::service::SettlementService;
use crate::settle::bill::RawBill;
use crate::settle::engine::{Payer, TraceLine, VisitType};
use crate::settle::ops::{HospitalRef, YearTotalsView};
use crate::settle::store::{Status as SettlementStatus, StoredSettlement};
use doudi_core::Violations;
use doudi_proto::settlement::v1 as pb;

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

/// The hospital the gateway authenticated, as it names it.
pub(crate) fn hospital(value: Option<&pb::Hospital>) -> Result<HospitalRef> {
    let mut violations = Violations::new();
    let code = value.map(|h| h.code.clone()).unwrap_or_default();
    if code.is_empty() {
        violations.add("hospital.code", "is required");
    }
    let level = value.and_then(|h| doudi_proto::convert::hospital_level(h.level));
    if level.is_none() {
        violations.add("hospital.level", "must be TOWNSHIP, COUNTY, MUNICIPAL or PROVINCIAL");
    }
    match level {
        Some(level) if violations.is_empty() => Ok(HospitalRef { code, level }),
        _ => Err(violations.into()),
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

fn bill_of(request: &pb::SettleRequest) -> Result<&pb::Bill> {
    Ok(request.bill.as_ref().ok_or_else(|| Violations::of("bill", "is required"))?)
}

pub async fn quote(service: &SettlementService, r: &pb::SettleRequest) -> Result<pb::Settlement> {
    let hospital = hospital(r.hospital.as_ref())?;
    Ok(settlement_to_proto(service.quote(&hospital, &raw_bill(bill_of(r)?)).await?))
}

pub async fn settle(service: &SettlementService, r: &pb::SettleRequest) -> Result<pb::Settlement> {
    let hospital = hospital(r.hospital.as_ref())?;
    Ok(settlement_to_proto(service.settle(&hospital, &raw_bill(bill_of(r)?)).await?))
}

pub async fn reverse(service: &SettlementService, r: &pb::ReverseRequest) -> Result<pb::Settlement> {
    let hospital = hospital(r.hospital.as_ref())?;
    Ok(settlement_to_proto(service.reverse(&hospital, &r.settlement_id, &r.reason).await?))
}

pub async fn get_settlement(service: &SettlementService, r: &pb::GetSettlementRequest) -> Result<pb::Settlement> {
    let hospital = hospital(r.hospital.as_ref())?;
    Ok(settlement_to_proto(service.get(&hospital, &r.settlement_id).await?))
}

pub async fn find_settlement(service: &SettlementService, r: &pb::FindSettlementRequest) -> Result<pb::Settlement> {
    let hospital = hospital(r.hospital.as_ref())?;
    Ok(settlement_to_proto(service.find(&hospital, &r.bill_no).await?))
}

pub async fn year_totals(service: &SettlementService, r: &pb::YearTotalsRequest) -> Result<pb::PatientYearTotals> {
    let hospital = hospital(r.hospital.as_ref())?;
    Ok(year_totals_to_proto(service.year_totals(&hospital, &r.national_id, r.year).await?))
}
