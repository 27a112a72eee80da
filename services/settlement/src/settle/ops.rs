//! One-stop settlement of a hospital bill: quote, settle, reverse, read back, and a patient's
//! year so far. Parse input into domain types, learn the patient's category, apply the engine to
//! the person's year; the store decides how the person's bills are serialized.

use crate::access_log::store::AccessEntry;
use crate::access_log::{AccessAction, outcome_of};
use crate::error::{Result, SettlementError};
use crate::service::SettlementService;
use crate::settle::bill::{Bill, RawBill, check_bill_no};
use crate::settle::engine::{self, BillFigures, NO_CAP, YearAccumulators};
use crate::settle::store::{Status, StoredSettlement};
use crate::settle::write::{Calculate, NewSettlement, Settled};
use doudi_core::policy::{HospitalLevel, PolicySet, PolicyVersion};
use doudi_core::{Category, Date, Fen, NationalId, Violations};
use std::sync::Arc;

/// The hospital a request is made for, as the gateway authenticated it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HospitalRef {
    pub code: String,
    pub level: HospitalLevel,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct YearTotalsView {
    pub year: i32,
    pub category: Category,
    pub policy_version: String,
    pub paid: YearAccumulators,
    pub basic_inpatient_room: Fen,
    pub basic_outpatient_room: Fen,
    pub critical_room: Fen,
    pub assistance_room: Fen,
    pub settled_bills: i64,
}

const MAX_REASON_CHARS: usize = 500;

/// Whether a settlement's access-log line is written yet.
enum Logged {
    WithTheSettlement,
    NotYet,
}

/// Time-ordered (so new rows append to the index) and unguessable.
fn new_settlement_id() -> String {
    let millis = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis());
    let mut random = [0u8; 8];
    getrandom::getrandom(&mut random).expect("system randomness");
    format!("{:012x}{}", millis & 0xffff_ffff_ffff, hex::encode(random))
}

impl SettlementService {
    fn policy_for_bill(&self, bill: &Bill) -> Result<&PolicyVersion> {
        Ok(self
            .policy
            .in_force_on(bill.day())
            .ok_or_else(|| Violations::of("dischargedOn", "is before the first policy version in force"))?)
    }

    fn parse_bill(raw: &RawBill<'_>) -> Result<Bill> {
        Ok(Bill::parse(raw, Date::today_china()).map_err(Violations::from)?)
    }

    /// What the bill would get now; changes and reserves nothing.
    pub async fn quote(&self, hospital: &HospitalRef, raw: &RawBill<'_>) -> Result<StoredSettlement> {
        let bill = Self::parse_bill(raw)?;
        let quoted = self.quote_bill(hospital, &bill).await;
        self.log_read(hospital, &bill.national_id, AccessAction::Quote, &quoted, &bill.bill_no).await?;
        quoted
    }

    async fn quote_bill(&self, hospital: &HospitalRef, bill: &Bill) -> Result<StoredSettlement> {
        let policy = self.policy_for_bill(bill)?;
        let category = self.coverage.category_on(&bill.national_id, bill.day()).await?;
        let key = self.store.person_key(&bill.national_id);
        let before = self.store.accumulators(&key, i64::from(bill.day().year())).await?;
        let calculation = calculate(&bill_figures(bill, hospital.level), category, policy, &before)?;
        Ok(view(bill, category, policy, &calculation, Status::Quoted, String::new(), String::new(), String::new()))
    }

    /// Settles the bill, or returns the settlement it already has. A new settlement's access-log
    /// line is written with it; any other answer's, after.
    pub async fn settle(&self, hospital: &HospitalRef, raw: &RawBill<'_>) -> Result<StoredSettlement> {
        let bill = Self::parse_bill(raw)?;
        match self.settle_bill(hospital, &bill).await {
            Ok((settlement, Logged::WithTheSettlement)) => Ok(settlement),
            answered => {
                let answered = answered.map(|(settlement, _)| settlement);
                let reference = answered.as_ref().map_or(bill.bill_no.as_str(), |s| s.id.as_str());
                self.log_read(hospital, &bill.national_id, AccessAction::Settle, &answered, reference).await?;
                answered
            }
        }
    }

    async fn settle_bill(&self, hospital: &HospitalRef, bill: &Bill) -> Result<(StoredSettlement, Logged)> {
        let policy = self.policy_for_bill(bill)?;
        let digest = hex::encode(self.store_content_digest(bill));
        let category = match self.coverage.category_on(&bill.national_id, bill.day()).await {
            Ok(category) => category,
            // A bill settled before is still answered while eligibility is away.
            Err(unavailable) => match self.store.settlement_by_bill(&hospital.code, &bill.bill_no).await? {
                Some(existing) => return Ok((same_bill_or_conflict(existing, &digest)?, Logged::NotYet)),
                None => return Err(unavailable),
            },
        };
        let id = new_settlement_id();
        let new = NewSettlement {
            national_id_enc: self.store.seal(&crate::store::SETTLEMENT_ID, &id, bill.national_id.expose()),
            id: id.clone(),
            hospital_code: hospital.code.clone(),
            hospital_level: hospital.level.as_str(),
            bill: bill.clone(),
            content_digest: digest.clone(),
            person_key: self.store.person_key(&bill.national_id),
            category,
            policy_version: policy.id.clone(),
            now: doudi_runtime::now_rfc3339(),
            today: Date::today_china(),
        };
        let now = new.now.clone();
        let calculate = calculation(bill_figures(bill, hospital.level), category, self.policy.clone(), bill.day());
        // A bill number seen before is found by the insert's constraint, not by a read first:
        // the common case (a new bill) pays no extra round trip.
        let outcome = self.commits.settle(&self.store, new, calculate).await?;
        match outcome {
            Settled::Inserted(calculation) => {
                tracing::debug!(settlement = %id, hospital = %hospital.code, bill = %bill.bill_no, "settled");
                let settled = view(bill, category, policy, &calculation, Status::Settled, id, digest, now);
                Ok((settled, Logged::WithTheSettlement))
            }
            // Settled before (a retry, or a concurrent identical submission), or the number is
            // another bill's: the stored one decides.
            Settled::BillNoTaken => match self.store.settlement_by_bill(&hospital.code, &bill.bill_no).await? {
                Some(existing) => Ok((same_bill_or_conflict(existing, &digest)?, Logged::NotYet)),
                None => Err(SettlementError::ConcurrentSettlement),
            },
        }
    }

    /// Records a hospital's read of a person and how it was answered; a read that cannot be
    /// accounted for is not answered.
    async fn log_read<T>(
        &self,
        hospital: &HospitalRef,
        national_id: &NationalId,
        action: AccessAction,
        answered: &Result<T>,
        reference: &str,
    ) -> Result<()> {
        let key = self.store.person_key(national_id);
        let masked = national_id.masked();
        let entry = AccessEntry {
            hospital_code: &hospital.code,
            person_key: &key,
            national_id_masked: &masked,
            action,
            outcome: outcome_of(answered),
            reference,
        };
        Ok(self.store.log_access(&entry).await?)
    }

    fn store_content_digest(&self, bill: &Bill) -> Vec<u8> {
        self.store.keyed_digest("bill_content", &bill.content_key())
    }

    pub async fn reverse(&self, hospital: &HospitalRef, id: &str, reason: &str) -> Result<StoredSettlement> {
        let mut violations = Violations::new();
        if id.is_empty() {
            violations.add("settlementId", "is required");
        }
        let reason = reason.trim();
        if reason.is_empty() {
            violations.add("reason", "is required");
        } else if reason.chars().count() > MAX_REASON_CHARS {
            violations.add("reason", format!("is longer than {MAX_REASON_CHARS} characters"));
        }
        if !violations.is_empty() {
            return Err(violations.into());
        }
        let now = doudi_runtime::now_rfc3339();
        if let Some(reversed) = self.store.reverse(&hospital.code, id, reason, &now, Date::today_china()).await? {
            tracing::info!(settlement = %id, hospital = %hospital.code, "reversed");
            return Ok(reversed);
        }
        // Not settled: already reversed (the same answer again), or not this hospital's.
        match self.store.settlement_by_id(&hospital.code, id).await? {
            Some(s) if s.status == Status::Reversed => Ok(s),
            Some(_) => Err(SettlementError::ConcurrentChange),
            None => Err(SettlementError::SettlementNotFound(id.to_owned())),
        }
    }

    pub async fn get(&self, hospital: &HospitalRef, id: &str) -> Result<StoredSettlement> {
        if id.is_empty() {
            return Err(Violations::of("settlementId", "is required").into());
        }
        self.store
            .settlement_by_id(&hospital.code, id)
            .await?
            .ok_or_else(|| SettlementError::SettlementNotFound(id.to_owned()))
    }

    pub async fn find(&self, hospital: &HospitalRef, bill_no: &str) -> Result<StoredSettlement> {
        check_bill_no(bill_no).map_err(|e| Violations::of("billNo", e))?;
        self.store
            .settlement_by_bill(&hospital.code, bill_no)
            .await?
            .ok_or_else(|| SettlementError::BillNotFound(bill_no.to_owned()))
    }

    /// Only for a patient the hospital has a settlement for in that year.
    pub async fn year_totals(&self, hospital: &HospitalRef, national_id: &str, year: i32) -> Result<YearTotalsView> {
        let today = Date::today_china();
        let mut violations = Violations::new();
        let id = violations.check("nationalId", NationalId::parse_on(national_id, today));
        let first_year = self.policy.versions().first().map_or(today.year(), |v| v.effective_from.year());
        if !(first_year..=today.year()).contains(&year) {
            violations.add("year", format!("must be {first_year} to {}", today.year()));
        }
        let Some(id) = id.filter(|_| violations.is_empty()) else {
            return Err(violations.into());
        };
        let totals = self.year_totals_of(hospital, &id, year, today).await;
        self.log_read(hospital, &id, AccessAction::YearTotals, &totals, &year.to_string()).await?;
        totals
    }

    async fn year_totals_of(
        &self,
        hospital: &HospitalRef,
        id: &NationalId,
        year: i32,
        today: Date,
    ) -> Result<YearTotalsView> {
        let key = self.store.person_key(id);
        let year64 = i64::from(year);
        if !self.store.hospital_knows_patient(&hospital.code, &key, year64).await? {
            return Err(SettlementError::PatientNotKnown(year));
        }
        let day = Date::from_ymd(year, 12, 31).map_err(SettlementError::internal)?.min(today);
        let policy =
            self.policy.in_force_on(day).ok_or_else(|| Violations::of("year", "no policy version in force"))?;
        let category = self.coverage.category_on(id, day).await?;
        let paid = self.store.accumulators(&key, year64).await?;
        let settled_bills = self.store.settled_bills(&key, year64).await?;
        let room = |cap: Fen, paid: Fen| Fen((cap.0 - paid.0).max(0));
        let assistance_cap = policy.medical_assistance.get(&category).and_then(|r| r.annual_cap_fen);
        Ok(YearTotalsView {
            year,
            category,
            policy_version: policy.id.clone(),
            paid,
            basic_inpatient_room: room(policy.basic_insurance.inpatient_annual_cap_fen, paid.basic_inpatient_paid),
            basic_outpatient_room: room(policy.basic_insurance.outpatient_annual_cap_fen, paid.basic_outpatient_paid),
            critical_room: room(policy.critical_illness.annual_cap_fen, paid.critical_paid),
            assistance_room: assistance_cap.map_or(NO_CAP, |cap| room(cap, paid.assistance_paid)),
            settled_bills,
        })
    }
}

fn bill_figures(bill: &Bill, level: HospitalLevel) -> BillFigures {
    BillFigures { visit: bill.visit, level, total: bill.total, in_policy: bill.in_policy }
}

fn calculate(
    figures: &BillFigures,
    category: Category,
    policy: &PolicyVersion,
    before: &YearAccumulators,
) -> Result<engine::Calculation> {
    engine::calculate(figures, category, policy, before).map_err(SettlementError::internal)
}

/// `calculate` as a settlement carries it to its commit group: owning its inputs, and finding
/// the policy in force on `day` there (the one the bill was checked against).
pub(crate) fn calculation(figures: BillFigures, category: Category, policies: Arc<PolicySet>, day: Date) -> Calculate {
    Box::new(move |before| {
        let policy = policies.in_force_on(day).ok_or_else(|| SettlementError::internal("no policy in force"))?;
        calculate(&figures, category, policy, before)
    })
}

fn same_bill_or_conflict(existing: StoredSettlement, digest: &str) -> Result<StoredSettlement> {
    if existing.content_digest == digest {
        return Ok(existing);
    }
    Err(SettlementError::BillConflict { bill_no: existing.bill_no, settlement_id: existing.id })
}

#[allow(clippy::too_many_arguments)]
fn view(
    bill: &Bill,
    category: Category,
    policy: &PolicyVersion,
    calculation: &engine::Calculation,
    status: Status,
    id: String,
    digest: String,
    settled_at: String,
) -> StoredSettlement {
    StoredSettlement {
        id,
        bill_no: bill.bill_no.clone(),
        content_digest: digest,
        national_id_masked: bill.national_id.masked(),
        visit: bill.visit,
        admitted_on: bill.admitted_on.to_string(),
        discharged_on: bill.discharged_on.to_string(),
        total: bill.total,
        in_policy: bill.in_policy,
        category,
        policy_version: policy.id.clone(),
        basic: calculation.basic,
        critical: calculation.critical,
        assistance: calculation.assistance,
        copay: calculation.copay,
        trace: calculation.trace.to_vec(),
        status,
        settled_at,
        reversed_at: None,
        reverse_reason: None,
    }
}
