//! Every write of a settlement: settling a bill (the settlement, the person's year and the
//! hospital's payable, together or not at all) and reversing one.
//!
//! Bills of one person serialize on that person's year. How is this module's business alone,
//! chosen by backend: on PostgreSQL a compare-and-set of the whole settlement in one statement,
//! starting from the year this process last wrote (one round trip when the guess holds), and
//! after repeated races the person's row lock; on SQLite the row lock inside the one writer
//! connection's transaction (nothing to race there). The service asks for "settle this bill".
//! Either way the hospital's read of the person (the access log) is written with the settlement.

use crate::access_log::store::{ACCESS_COLUMNS, AccessEntry, log_access_in};
use crate::access_log::{ANSWERED, AccessAction};
use crate::error::SettlementError;
use crate::outbox::store::enqueue;
use crate::outbox::{Event, HOSPITAL_PAYABLE, encode};
use crate::settle::bill::Bill;
use crate::settle::engine::{Calculation, VisitType, YearAccumulators};
use crate::settle::store::{
    ACCUMULATOR_COLUMNS, SettlementKey, Status, StoredSettlement, accumulators_from_row, one_settlement,
};
use crate::store::{Store, corrupt};
use doudi_core::{Category, Date, Fen};
use doudi_proto::settlement::v1::HospitalPayable;
use doudi_runtime::Backend;
use doudi_runtime::audit::AuditEntry;
use sqlx::{Any, Row, Transaction};

/// Compare-and-set tries before a settlement takes the person's lock instead (PostgreSQL).
const OPTIMISTIC_ATTEMPTS: usize = 3;

/// What a new settlement writes, beside the calculation. Owned: it may wait in a commit group
/// (`settle::group`) after the request that made it has moved on.
#[derive(Debug, Clone)]
pub struct NewSettlement {
    pub id: String,
    pub hospital_code: String,
    pub hospital_level: &'static str,
    pub bill: Bill,
    pub content_digest: String,
    pub person_key: Vec<u8>,
    /// The national ID sealed to this settlement's row.
    pub national_id_enc: Vec<u8>,
    pub category: Category,
    pub policy_version: String,
    pub now: String,
    pub today: Date,
}

/// A person's year: key and year.
pub(crate) type PersonYear = (Vec<u8>, i64);

impl NewSettlement {
    pub(crate) fn year(&self) -> i64 {
        i64::from(self.bill.day().year())
    }

    /// The person's year the settlement adds to.
    pub(crate) fn person_year(&self) -> PersonYear {
        (self.person_key.clone(), self.year())
    }
}

/// What the engine makes of the person's year as it stands when the settlement is written.
pub type Calculate = Box<dyn Fn(&YearAccumulators) -> Result<Calculation, SettlementError> + Send + Sync>;

/// How a settlement ended.
#[derive(Debug, PartialEq, Eq)]
pub enum Settled {
    /// Written, with the calculation it was written with.
    Inserted(Box<Calculation>),
    /// The hospital already has a settlement under this bill number (a constraint said so):
    /// nothing was written.
    BillNoTaken,
}

/// A transaction holding the lock on one person's year.
struct PersonYearTx {
    tx: Transaction<'static, Any>,
    backend: Backend,
    person_key: Vec<u8>,
    year: i64,
    before: YearAccumulators,
}

impl std::fmt::Debug for PersonYearTx {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PersonYearTx").field("year", &self.year).field("before", &self.before).finish()
    }
}

#[derive(Debug)]
enum InsertOutcome {
    Inserted,
    /// The hospital already has a settlement under this bill number (a constraint said so).
    BillNoTaken,
}

impl InsertOutcome {
    fn with(self, calculation: Calculation) -> Settled {
        match self {
            InsertOutcome::Inserted => Settled::Inserted(Box::new(calculation)),
            InsertOutcome::BillNoTaken => Settled::BillNoTaken,
        }
    }
}

impl Store {
    /// Settles `new` on its own transaction with what `calculate` makes of the person's year as
    /// it stands: the settlement row, the year's new figures and the hospital's payable in the
    /// outbox are written together, or (a failed calculation, a bill number already taken)
    /// nothing is. What a commit group of one does (`settle::group`).
    pub(crate) async fn settle_alone(
        &self,
        new: &NewSettlement,
        calculate: &Calculate,
    ) -> Result<Settled, SettlementError> {
        let (key, year) = (new.person_key.as_slice(), new.year());
        if self.db.backend() == Backend::Postgres {
            for _ in 0..OPTIMISTIC_ATTEMPTS {
                let before = match self.known_years.get(key, year) {
                    Some(known) => known,
                    None => self.accumulators(key, year).await?,
                };
                let calculation = calculate(&before)?;
                match self.settle_if_unchanged(new, &calculation, &before).await? {
                    Some(outcome) => {
                        if let (InsertOutcome::Inserted, Ok(after)) = (&outcome, before.plus(&calculation.added)) {
                            self.known_years.remember(key, year, after);
                        }
                        return Ok(outcome.with(calculation));
                    }
                    None => self.known_years.forget(key, year),
                }
            }
        }
        let locked = self.lock_person_year(key, year).await?;
        let calculation = match calculate(&locked.before) {
            Ok(calculation) => calculation,
            Err(e) => {
                locked.abandon().await?;
                return Err(e);
            }
        };
        Ok(locked.insert(new, &calculation).await?.with(calculation))
    }

    /// Starts a transaction that holds the person's year: an upsert that creates the row if
    /// needed and, as an update, locks it until commit.
    async fn lock_person_year(&self, person_key: &[u8], year: i64) -> Result<PersonYearTx, sqlx::Error> {
        let mut tx = self.db.writes().begin().await?;
        let row = sqlx::query(sqlx::AssertSqlSafe(format!(
            "INSERT INTO accumulators (person_key, year) VALUES ($1, $2) \
             ON CONFLICT (person_key, year) DO UPDATE SET year = excluded.year RETURNING {ACCUMULATOR_COLUMNS}"
        )))
        .bind(person_key)
        .bind(year)
        .fetch_one(&mut *tx)
        .await?;
        let before = accumulators_from_row(&row, 0)?;
        Ok(PersonYearTx { tx, backend: self.db.backend(), person_key: person_key.to_vec(), year, before })
    }

    /// Reverses the hospital's settled bill: marks it, subtracts exactly what it added from the
    /// person's year, and queues the refund, in one transaction. `None` when there is no settled
    /// bill of that id for the hospital (absent, another hospital's, or already reversed).
    pub async fn reverse(
        &self,
        hospital: &str,
        id: &str,
        reason: &str,
        now: &str,
        today: Date,
    ) -> Result<Option<StoredSettlement>, sqlx::Error> {
        let mut tx = self.db.writes().begin().await?;
        let row = sqlx::query(
            "UPDATE settlements SET status = 'REVERSED', reversed_at = $1, reversed_day = $2, reverse_reason = $3 \
             WHERE hospital_code = $4 AND id = $5 AND status = 'SETTLED' \
             RETURNING person_key, year, visit_type, basic_fen, critical_fen, assistance_fen, added_critical_base, \
             added_assistance_base, bill_no",
        )
        .bind(now)
        .bind(today.to_string())
        .bind(reason)
        .bind(hospital)
        .bind(id)
        .fetch_optional(&mut *tx)
        .await?;
        let Some(row) = row else {
            tx.rollback().await?;
            return Ok(None);
        };
        let person_key: Vec<u8> = row.try_get(0)?;
        let year: i64 = row.try_get(1)?;
        let visit: String = row.try_get(2)?;
        let basic = Fen(row.try_get(3)?);
        let mut added = YearAccumulators {
            critical_base: Fen(row.try_get(6)?),
            critical_paid: Fen(row.try_get(4)?),
            assistance_base: Fen(row.try_get(7)?),
            assistance_paid: Fen(row.try_get(5)?),
            ..Default::default()
        };
        match VisitType::parse(&visit).ok_or_else(|| corrupt("visit type"))? {
            VisitType::Inpatient => added.basic_inpatient_paid = basic,
            VisitType::Outpatient => added.basic_outpatient_paid = basic,
        }
        let bill_no: String = row.try_get(8)?;
        let subtract = sqlx::query(
            "UPDATE accumulators SET basic_inpatient_paid = basic_inpatient_paid - $1, \
             basic_outpatient_paid = basic_outpatient_paid - $2, critical_base = critical_base - $3, \
             critical_paid = critical_paid - $4, assistance_base = assistance_base - $5, \
             assistance_paid = assistance_paid - $6 WHERE person_key = $7 AND year = $8",
        );
        bind_accumulators(subtract, &added).bind(&person_key).bind(year).execute(&mut *tx).await?;
        let refund = Event::Reversal(HospitalPayable {
            settlement_id: id.to_owned(),
            hospital_code: hospital.to_owned(),
            bill_no,
            basic_insurance_fen: -added.basic_inpatient_paid.0 - added.basic_outpatient_paid.0,
            critical_illness_fen: -added.critical_paid.0,
            medical_assistance_fen: -added.assistance_paid.0,
            day: today.to_string(),
        });
        enqueue(&mut tx, HOSPITAL_PAYABLE, &format!("reverse:{id}"), encode(refund), now).await?;
        let actor = format!("hospital:{hospital}");
        let after = serde_json::json!({"status": "REVERSED", "reason": reason, "refund": {
            "basicInsuranceFen": -added.basic_inpatient_paid.0 - added.basic_outpatient_paid.0,
            "criticalIllnessFen": -added.critical_paid.0, "medicalAssistanceFen": -added.assistance_paid.0}});
        let before = serde_json::json!({"status": "SETTLED"});
        self.audit(&mut tx, AuditEntry::new(&actor, "settlement.reverse", "settlement", id, before, after)).await?;
        let stored = one_settlement(&mut *tx, SettlementKey::Id, hospital, id).await?;
        tx.commit().await?;
        Ok(stored)
    }
}

/// The settlement row's columns, in the order `bind_settlement` binds them.
macro_rules! settlement_columns {
    () => {
        "id, hospital_code, bill_no, content_digest, person_key, national_id_enc, national_id_masked, year, \
         visit_type, hospital_level, admitted_on, discharged_on, total_fen, in_policy_fen, category, policy_version, \
         basic_fen, critical_fen, assistance_fen, copay_fen, added_critical_base, added_assistance_base, trace, \
         status, settled_at, settled_day"
    };
}
pub(crate) const SETTLEMENT_WRITTEN_COLUMNS: &str = settlement_columns!();
pub(crate) const SETTLEMENT_INSERT: &str = concat!("INSERT INTO settlements (", settlement_columns!(), ")");
/// Parameters `bind_settlement` binds per row.
pub(crate) const SETTLEMENT_ARITY: usize = 26;

pub(crate) type AnyQuery<'q> = sqlx::query::Query<'q, Any, sqlx::any::AnyArguments>;

/// Binds one row of `SETTLEMENT_INSERT` (status is always SETTLED on insert).
pub(crate) fn bind_settlement<'q>(
    query: AnyQuery<'q>,
    new: &'q NewSettlement,
    calc: &Calculation,
) -> Result<AnyQuery<'q>, sqlx::Error> {
    let trace = serde_json::to_string(&calc.trace).map_err(|e| sqlx::Error::Encode(e.into()))?;
    Ok(query
        .bind(new.id.as_str())
        .bind(new.hospital_code.as_str())
        .bind(new.bill.bill_no.as_str())
        .bind(new.content_digest.as_str())
        .bind(new.person_key.as_slice())
        .bind(new.national_id_enc.as_slice())
        .bind(new.bill.national_id.masked())
        .bind(new.year())
        .bind(new.bill.visit.as_str())
        .bind(new.hospital_level)
        .bind(new.bill.admitted_on.to_string())
        .bind(new.bill.discharged_on.to_string())
        .bind(new.bill.total.0)
        .bind(new.bill.in_policy.0)
        .bind(new.category.as_str())
        .bind(new.policy_version.as_str())
        .bind(calc.basic.0)
        .bind(calc.critical.0)
        .bind(calc.assistance.0)
        .bind(calc.copay.0)
        .bind(calc.added.critical_base.0)
        .bind(calc.added.assistance_base.0)
        .bind(trace)
        .bind(Status::Settled.as_str())
        .bind(new.now.as_str())
        .bind(new.today.to_string()))
}

/// The access-log line a settlement is written with: the hospital's read of the person.
pub(crate) fn settle_access<'a>(new: &'a NewSettlement, masked: &'a str) -> AccessEntry<'a> {
    AccessEntry {
        hospital_code: &new.hospital_code,
        person_key: &new.person_key,
        national_id_masked: masked,
        action: AccessAction::Settle,
        outcome: ANSWERED,
        reference: &new.id,
    }
}

pub(crate) fn payable_message(new: &NewSettlement, calc: &Calculation) -> (String, Vec<u8>) {
    let payable = Event::Payable(HospitalPayable {
        settlement_id: new.id.clone(),
        hospital_code: new.hospital_code.clone(),
        bill_no: new.bill.bill_no.clone(),
        basic_insurance_fen: calc.basic.0,
        critical_illness_fen: calc.critical.0,
        medical_assistance_fen: calc.assistance.0,
        day: new.today.to_string(),
    });
    (format!("settle:{}", new.id), encode(payable))
}

pub(crate) fn bind_accumulators<'q>(query: AnyQuery<'q>, a: &YearAccumulators) -> AnyQuery<'q> {
    query
        .bind(a.basic_inpatient_paid.0)
        .bind(a.basic_outpatient_paid.0)
        .bind(a.critical_base.0)
        .bind(a.critical_paid.0)
        .bind(a.assistance_base.0)
        .bind(a.assistance_paid.0)
}

/// PostgreSQL: the whole settlement in one statement, applied only if the person's year is
/// still what the calculation started from (compare-and-set on all six accumulators). One round
/// trip instead of a transaction's six; a statement is atomic, so the accumulators, the
/// settlement and its outbox message are written together or not at all. A duplicate bill
/// number aborts the statement with a unique violation, so nothing is written then either.
const SETTLE_IF_UNCHANGED: &str = "WITH acc AS ( \
     INSERT INTO accumulators (person_key, year, basic_inpatient_paid, basic_outpatient_paid, critical_base, \
     critical_paid, assistance_base, assistance_paid) VALUES ($5, $8, $27, $28, $29, $30, $31, $32) \
     ON CONFLICT (person_key, year) DO UPDATE SET basic_inpatient_paid = excluded.basic_inpatient_paid, \
     basic_outpatient_paid = excluded.basic_outpatient_paid, critical_base = excluded.critical_base, \
     critical_paid = excluded.critical_paid, assistance_base = excluded.assistance_base, \
     assistance_paid = excluded.assistance_paid \
     WHERE accumulators.basic_inpatient_paid = $33 AND accumulators.basic_outpatient_paid = $34 \
     AND accumulators.critical_base = $35 AND accumulators.critical_paid = $36 \
     AND accumulators.assistance_base = $37 AND accumulators.assistance_paid = $38 RETURNING 1), \
     settled AS (";

impl Store {
    /// PostgreSQL only (see `SETTLE_IF_UNCHANGED`). `Ok(None)`: another bill of the person came
    /// first; calculate again from the new figures.
    async fn settle_if_unchanged(
        &self,
        new: &NewSettlement,
        calc: &Calculation,
        before: &YearAccumulators,
    ) -> Result<Option<InsertOutcome>, sqlx::Error> {
        let after = before.plus(&calc.added).map_err(|e| sqlx::Error::Encode(e.into()))?;
        let (message_key, payload) = payable_message(new, calc);
        let settle = AccessAction::Settle.as_str();
        let sql = format!(
            "{SETTLE_IF_UNCHANGED}{SETTLEMENT_INSERT} SELECT {values} WHERE EXISTS (SELECT 1 FROM acc) \
             RETURNING id), queued AS (INSERT INTO outbox_messages (topic, message_key, payload, created_at) \
             SELECT '{HOSPITAL_PAYABLE}', $39, $40, $25 FROM settled), \
             logged AS (INSERT INTO {ACCESS_COLUMNS} SELECT $25, $26, $2, $5, $7, '{settle}', '{ANSWERED}', $1 \
             FROM settled) SELECT COUNT(*) FROM settled",
            values = Backend::Postgres.placeholders(1, SETTLEMENT_ARITY)
        );
        let query = bind_settlement(sqlx::query(sqlx::AssertSqlSafe(sql)), new, calc)?;
        let query = bind_accumulators(bind_accumulators(query, &after), before).bind(message_key).bind(payload);
        match query.fetch_one(self.db.writes()).await {
            Ok(row) => Ok((row.try_get::<i64, _>(0)? == 1).then_some(InsertOutcome::Inserted)),
            Err(sqlx::Error::Database(e)) if e.is_unique_violation() => Ok(Some(InsertOutcome::BillNoTaken)),
            Err(e) => Err(e),
        }
    }
}

impl PersonYearTx {
    /// Writes the settlement, adds it to the person's year and queues the hospital's payable.
    /// Commits on success; on `BillNoTaken` nothing is written.
    async fn insert(mut self, new: &NewSettlement, calc: &Calculation) -> Result<InsertOutcome, sqlx::Error> {
        let sql = format!(
            "{SETTLEMENT_INSERT} VALUES ({}) ON CONFLICT (hospital_code, bill_no) DO NOTHING",
            self.backend.placeholders(1, SETTLEMENT_ARITY)
        );
        let query = bind_settlement(sqlx::query(sqlx::AssertSqlSafe(sql)), new, calc)?;
        let inserted = query.execute(&mut *self.tx).await?.rows_affected();
        if inserted == 0 {
            self.tx.rollback().await?;
            return Ok(InsertOutcome::BillNoTaken);
        }
        let after = self.before.plus(&calc.added).map_err(|e| sqlx::Error::Encode(e.into()))?;
        let update = sqlx::query(
            "UPDATE accumulators SET basic_inpatient_paid = $1, basic_outpatient_paid = $2, critical_base = $3, \
             critical_paid = $4, assistance_base = $5, assistance_paid = $6 WHERE person_key = $7 AND year = $8",
        );
        bind_accumulators(update, &after).bind(&self.person_key).bind(self.year).execute(&mut *self.tx).await?;
        let (message_key, payload) = payable_message(new, calc);
        enqueue(&mut self.tx, HOSPITAL_PAYABLE, &message_key, payload, &new.now).await?;
        let masked = new.bill.national_id.masked();
        log_access_in(&mut self.tx, &settle_access(new, &masked), &new.now, new.today).await?;
        self.tx.commit().await?;
        Ok(InsertOutcome::Inserted)
    }

    async fn abandon(self) -> Result<(), sqlx::Error> {
        self.tx.rollback().await
    }
}
