//! The settlement service's operations, independent of transport: parse input into domain
//! types, learn the patient's category, apply the engine under the person's lock, store.

use crate::coverage_client::CoverageClient;
use crate::domain::bill::{Bill, RawBill, check_bill_no};
use crate::domain::engine::{self, BillFigures, NO_CAP, YearAccumulators};
use crate::domain::reconcile::{self, Amounts, Totals};
use crate::known_years::KnownYears;
use crate::store::{InsertOutcome, NewPremiumSubsidy, NewSettlement, Status, Store, StoredSettlement};
use doudi_core::policy::{HospitalLevel, PolicySet, PolicyVersion};
use doudi_core::{Category, Date, Fen, FieldViolation, NationalId, Violations};
use doudi_runtime::{ApiError, Backend, ErrorKind};
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

/// A hospital's reconciliation request, as received.
#[derive(Debug, Clone)]
pub struct RawClaim<'a> {
    pub from_date: &'a str,
    pub to_date: &'a str,
    pub totals: Totals,
    pub bills: Option<Vec<(String, Amounts)>>,
}

#[derive(Debug, Clone)]
pub struct ReconciliationView {
    pub from: Date,
    pub to: Date,
    pub claimed: Totals,
    pub outcome: reconcile::Outcome,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PremiumRunSummary {
    pub policy_version: String,
    pub recorded: i64,
    pub already_recorded: i64,
    pub recorded_fen: Fen,
}

/// Compare-and-set tries before a settlement takes the person's lock instead (PostgreSQL).
const OPTIMISTIC_ATTEMPTS: usize = 3;

/// How a settle attempt ended, with the calculation that was written.
enum Settled {
    Inserted(Box<engine::Calculation>),
    BillNoTaken,
}

impl InsertOutcome {
    fn with(self, calculation: engine::Calculation) -> Settled {
        match self {
            InsertOutcome::Inserted => Settled::Inserted(Box::new(calculation)),
            InsertOutcome::BillNoTaken => Settled::BillNoTaken,
        }
    }
}

/// The longest range one reconciliation may cover.
pub const MAX_RECONCILIATION_DAYS: i64 = 366;
const MAX_REASON_CHARS: usize = 500;

#[derive(Debug, Clone)]
pub struct SettlementService {
    store: Store,
    known_years: Arc<KnownYears>,
    policy: Arc<PolicySet>,
    coverage: CoverageClient,
}

fn not_found(what: &str) -> ApiError {
    ApiError::new(ErrorKind::NotFound, format!("{what} not found"))
}

fn invalid(field: &str, description: impl Into<String>) -> ApiError {
    ApiError::invalid(vec![FieldViolation::new(field, description)])
}

/// Time-ordered (so new rows append to the index) and unguessable.
fn new_settlement_id() -> String {
    let millis = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis());
    let mut random = [0u8; 8];
    getrandom::getrandom(&mut random).expect("system randomness");
    format!("{:012x}{}", millis & 0xffff_ffff_ffff, hex::encode(random))
}

impl SettlementService {
    pub fn new(store: Store, policy: PolicySet, coverage: CoverageClient) -> Self {
        Self { store, known_years: Arc::default(), policy: Arc::new(policy), coverage }
    }

    pub fn store(&self) -> &Store {
        &self.store
    }

    fn policy_for_bill(&self, bill: &Bill) -> Result<&PolicyVersion, ApiError> {
        self.policy
            .in_force_on(bill.day())
            .ok_or_else(|| invalid("dischargedOn", "is before the first policy version in force"))
    }

    fn parse_bill(raw: &RawBill<'_>) -> Result<Bill, ApiError> {
        Bill::parse(raw, Date::today_china()).map_err(ApiError::invalid)
    }

    /// What the bill would get now; changes and reserves nothing.
    pub async fn quote(&self, hospital: &HospitalRef, raw: &RawBill<'_>) -> Result<StoredSettlement, ApiError> {
        let bill = Self::parse_bill(raw)?;
        let policy = self.policy_for_bill(&bill)?;
        let category = self.coverage.category_on(&bill.national_id, bill.day()).await?;
        let key = self.store.person_key(&bill.national_id);
        let before = self.store.accumulators(&key, i64::from(bill.day().year())).await?;
        let calculation = calculate(&bill, hospital.level, category, policy, &before)?;
        Ok(view(&bill, category, policy, &calculation, Status::Quoted, String::new(), String::new(), String::new()))
    }

    /// Settles the bill, or returns the settlement it already has.
    pub async fn settle(&self, hospital: &HospitalRef, raw: &RawBill<'_>) -> Result<StoredSettlement, ApiError> {
        let bill = Self::parse_bill(raw)?;
        let policy = self.policy_for_bill(&bill)?;
        let digest = hex::encode(self.store_content_digest(&bill));
        let category = match self.coverage.category_on(&bill.national_id, bill.day()).await {
            Ok(category) => category,
            // A bill settled before is still answered while eligibility is away.
            Err(unavailable) => match self.store.settlement_by_bill(&hospital.code, &bill.bill_no).await? {
                Some(existing) => return same_bill_or_conflict(existing, &digest),
                None => return Err(unavailable),
            },
        };
        let key = self.store.person_key(&bill.national_id);
        let year = i64::from(bill.day().year());
        let id = new_settlement_id();
        let now = doudi_runtime::now_rfc3339();
        let today = Date::today_china();
        let new = NewSettlement {
            id: &id,
            hospital_code: &hospital.code,
            hospital_level: hospital.level.as_str(),
            bill: &bill,
            content_digest: &digest,
            person_key: &key,
            category,
            policy_version: &policy.id,
            now: &now,
            today,
        };
        let encrypted_id = self.store_encrypt(&bill.national_id);
        // A bill number seen before is found by the insert's constraint, not by a read first:
        // the common case (a new bill) pays no extra round trip.
        let outcome = 'settled: {
            if self.store.db().backend() == Backend::Postgres {
                // Optimistic first: start from the year as last known (or read), calculate, and
                // write only if the year is still exactly that.
                for _ in 0..OPTIMISTIC_ATTEMPTS {
                    let before = match self.known_years.get(&key, year) {
                        Some(known) => known,
                        None => self.store.accumulators(&key, year).await?,
                    };
                    let calculation = calculate(&bill, hospital.level, category, policy, &before)?;
                    match self
                        .store
                        .settle_if_unchanged(encrypted_id.clone(), &new, &calculation, year, &before)
                        .await?
                    {
                        Some(outcome) => {
                            if let (InsertOutcome::Inserted, Ok(after)) = (&outcome, before.plus(&calculation.added)) {
                                self.known_years.remember(&key, year, after);
                            }
                            break 'settled outcome.with(calculation);
                        }
                        None => self.known_years.forget(&key, year),
                    }
                }
            }
            // SQLite (one writer: nothing to race), or a person whose bills keep racing: hold
            // the person's year while calculating.
            let locked = self.store.lock_person_year(&key, year).await?;
            let calculation = match calculate(&bill, hospital.level, category, policy, &locked.before) {
                Ok(c) => c,
                Err(e) => {
                    locked.abandon().await?;
                    return Err(e);
                }
            };
            locked.insert(encrypted_id, &new, &calculation).await?.with(calculation)
        };
        match outcome {
            Settled::Inserted(calculation) => {
                tracing::debug!(settlement = %id, hospital = %hospital.code, bill = %bill.bill_no, "settled");
                Ok(view(&bill, category, policy, &calculation, Status::Settled, id, digest, now))
            }
            // Settled before (a retry, or a concurrent identical submission), or the number is
            // another bill's: the stored one decides.
            Settled::BillNoTaken => match self.store.settlement_by_bill(&hospital.code, &bill.bill_no).await? {
                Some(existing) => same_bill_or_conflict(existing, &digest),
                None => Err(ApiError::new(ErrorKind::Unavailable, "concurrent settlement of this bill, retry")),
            },
        }
    }

    fn store_content_digest(&self, bill: &Bill) -> Vec<u8> {
        self.store.keyed_digest("bill_content", &bill.content_key())
    }

    fn store_encrypt(&self, id: &NationalId) -> Vec<u8> {
        self.store.encrypt(id.expose())
    }

    pub async fn reverse(&self, hospital: &HospitalRef, id: &str, reason: &str) -> Result<StoredSettlement, ApiError> {
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
            return Err(ApiError::invalid(violations.into_vec()));
        }
        let now = doudi_runtime::now_rfc3339();
        if let Some(reversed) = self.store.reverse(&hospital.code, id, reason, &now, Date::today_china()).await? {
            tracing::info!(settlement = %id, hospital = %hospital.code, "reversed");
            return Ok(reversed);
        }
        // Not settled: already reversed (the same answer again), or not this hospital's.
        match self.store.settlement_by_id(&hospital.code, id).await? {
            Some(s) if s.status == Status::Reversed => Ok(s),
            Some(_) => Err(ApiError::new(ErrorKind::Unavailable, "concurrent change of this settlement, retry")),
            None => Err(not_found(&format!("settlement {id}"))),
        }
    }

    pub async fn get(&self, hospital: &HospitalRef, id: &str) -> Result<StoredSettlement, ApiError> {
        if id.is_empty() {
            return Err(invalid("settlementId", "is required"));
        }
        self.store.settlement_by_id(&hospital.code, id).await?.ok_or_else(|| not_found(&format!("settlement {id}")))
    }

    pub async fn find(&self, hospital: &HospitalRef, bill_no: &str) -> Result<StoredSettlement, ApiError> {
        check_bill_no(bill_no).map_err(|e| invalid("billNo", e))?;
        self.store
            .settlement_by_bill(&hospital.code, bill_no)
            .await?
            .ok_or_else(|| not_found(&format!("settlement of bill {bill_no}")))
    }

    /// Only for a patient the hospital has a settlement for in that year.
    pub async fn year_totals(
        &self,
        hospital: &HospitalRef,
        national_id: &str,
        year: i32,
    ) -> Result<YearTotalsView, ApiError> {
        let today = Date::today_china();
        let mut violations = Violations::new();
        let id = violations.check("nationalId", NationalId::parse_on(national_id, today));
        let first_year = self.policy.versions().first().map_or(today.year(), |v| v.effective_from.year());
        if !(first_year..=today.year()).contains(&year) {
            violations.add("year", format!("must be {first_year} to {}", today.year()));
        }
        let Some(id) = id.filter(|_| violations.is_empty()) else {
            return Err(ApiError::invalid(violations.into_vec()));
        };
        let key = self.store.person_key(&id);
        let year64 = i64::from(year);
        if !self.store.hospital_knows_patient(&hospital.code, &key, year64).await? {
            return Err(not_found(&format!("a settlement of this hospital for the patient in {year}")));
        }
        let day = Date::from_ymd(year, 12, 31).map_err(|e| ApiError::internal(&e))?.min(today);
        let policy = self.policy.in_force_on(day).ok_or_else(|| invalid("year", "no policy version in force"))?;
        let category = self.coverage.category_on(&id, day).await?;
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

    pub async fn reconcile(
        &self,
        hospital: &HospitalRef,
        claim: &RawClaim<'_>,
    ) -> Result<ReconciliationView, ApiError> {
        let mut violations = Violations::new();
        let from = violations.check("fromDate", claim.from_date.parse::<Date>());
        let to = violations.check("toDate", claim.to_date.parse::<Date>());
        if let (Some(from), Some(to)) = (from, to) {
            if to < from {
                violations.add("toDate", "is before fromDate");
            } else if to.days_since_epoch() - from.days_since_epoch() >= MAX_RECONCILIATION_DAYS {
                violations.add("toDate", format!("a reconciliation covers at most {MAX_RECONCILIATION_DAYS} days"));
            }
        }
        if let Some(bills) = &claim.bills {
            let mut seen = std::collections::HashSet::new();
            for (i, (bill_no, _)) in bills.iter().enumerate() {
                if let Err(e) = check_bill_no(bill_no) {
                    violations.add(format!("bills[{i}].billNo"), e);
                } else if !seen.insert(bill_no.as_str()) {
                    violations.add(format!("bills[{i}].billNo"), "is listed twice");
                }
            }
        }
        let (Some(from), Some(to)) = (from, to) else {
            return Err(ApiError::invalid(violations.into_vec()));
        };
        if !violations.is_empty() {
            return Err(ApiError::invalid(violations.into_vec()));
        }
        let ours = self.store.bills_touched(&hospital.code, from, to).await?;
        let outcome = reconcile::reconcile(&ours, claim.totals, claim.bills.as_deref());
        Ok(ReconciliationView { from, to, claimed: claim.totals, outcome })
    }

    /// Records the premium subsidy for each (national ID, category) of the year's list.
    pub async fn record_premium_subsidies(
        &self,
        year: i32,
        persons: &[(String, Option<Category>)],
    ) -> Result<PremiumRunSummary, ApiError> {
        let today = Date::today_china();
        let first_day = Date::from_ymd(year, 1, 1).map_err(|_| invalid("year", "is not a valid year"))?;
        let policy = self
            .policy
            .in_force_on(first_day)
            .ok_or_else(|| invalid("year", "no policy version in force on 1 January"))?;
        let mut violations = Violations::new();
        let mut entries = Vec::with_capacity(persons.len());
        for (i, (national_id, category)) in persons.iter().enumerate() {
            let id = violations.check(&format!("persons[{i}].nationalId"), NationalId::parse_on(national_id, today));
            let Some(category) = category else {
                violations.add(format!("persons[{i}].category"), "is required");
                continue;
            };
            let Some(id) = id else { continue };
            let bp = policy.premium_subsidy_bp.get(category).map_or(0, |b| b.0);
            if bp == 0 {
                continue;
            }
            let subsidy = policy.premium_fen.apply_rate(doudi_core::Bp(bp)).map_err(|e| ApiError::internal(&e))?;
            entries.push(NewPremiumSubsidy {
                person_key: self.store.person_key(&id),
                national_id: id.expose().to_owned(),
                category: *category,
                subsidy_bp: bp,
                subsidy,
            });
        }
        if !violations.is_empty() {
            return Err(ApiError::invalid(violations.into_vec()));
        }
        let now = doudi_runtime::now_rfc3339();
        let (recorded, already_recorded, recorded_fen) = self
            .store
            .record_premium_subsidies(i64::from(year), &policy.id, policy.premium_fen, &entries, &now)
            .await?;
        Ok(PremiumRunSummary { policy_version: policy.id.clone(), recorded, already_recorded, recorded_fen })
    }
}

fn calculate(
    bill: &Bill,
    level: HospitalLevel,
    category: Category,
    policy: &PolicyVersion,
    before: &YearAccumulators,
) -> Result<engine::Calculation, ApiError> {
    let figures = BillFigures { visit: bill.visit, level, total: bill.total, in_policy: bill.in_policy };
    engine::calculate(&figures, category, policy, before).map_err(|e| ApiError::internal(&e))
}

fn same_bill_or_conflict(existing: StoredSettlement, digest: &str) -> Result<StoredSettlement, ApiError> {
    if existing.content_digest == digest {
        return Ok(existing);
    }
    let bill_no = existing.bill_no.clone();
    Err(ApiError {
        kind: ErrorKind::AlreadyExists,
        message: format!(
            "bill {bill_no} was already settled with other content (settlement {}); settle a corrected bill under a new bill number",
            existing.id
        ),
        details: vec![FieldViolation::new(
            "billNo",
            format!("bill {bill_no} already has a settlement with other content"),
        )],
    })
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
