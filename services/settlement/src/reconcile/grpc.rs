//! Reconciliation over gRPC.

use crate::error::Result;
use crate::reconcile::ops::{RawClaim, ReconciliationView};
use crate::reconcile::rules::{DifferenceKind, Totals};
use crate::service::SettlementService;
use crate::settle::grpc::hospital;
use doudi_core::Fen;
use doudi_proto::settlement::v1 as pb;

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

pub async fn reconcile(service: &SettlementService, r: &pb::ReconcileRequest) -> Result<pb::Reconciliation> {
    let hospital = hospital(r.hospital.as_ref())?;
    let claim = r.claim.clone().unwrap_or_default();
    Ok(reconciliation_to_proto(service.reconcile(&hospital, &raw_claim(&claim)).await?))
}
