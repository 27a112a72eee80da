//! Every SQL statement of the settlement service. One set of queries for SQLite and PostgreSQL;
//! the DDL differs and lives in one migration set per backend.
//!
//! Bills of one person serialize on that person's accumulator row for the year: a settlement
//! takes the row's lock first (an upsert that returns it), so two hospitals settling for the
//! same person at once queue there, while different persons run in parallel (on SQLite, the one
//! writer connection serializes every write anyway).

use crate::domain::bill::Bill;
use crate::domain::engine::{Calculation, TraceLine, VisitType, YearAccumulators};
use crate::domain::reconcile::OurBill;
use doudi_core::{Category, Date, Fen};
use doudi_runtime::crypto::PiiCipher;
use doudi_runtime::db::{Db, Migration, Migrations};
use sqlx::any::AnyRow;
use sqlx::{Any, Row, Transaction};

pub static MIGRATIONS: Migrations = Migrations { sqlite: SQLITE, postgres: POSTGRES };

const SQLITE: &[Migration] = &[
    Migration { version: 1, name: "settlements", sql: SETTLEMENTS_DDL },
    Migration {
        version: 2,
        name: "outbox",
        sql: "CREATE TABLE outbox (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    topic TEXT NOT NULL,
    message_key TEXT NOT NULL UNIQUE,
    payload TEXT NOT NULL,
    created_at TEXT NOT NULL,
    delivered_at TEXT
);",
    },
];

const POSTGRES: &[Migration] = &[
    Migration { version: 1, name: "settlements", sql: SETTLEMENTS_DDL },
    Migration {
        version: 2,
        name: "outbox",
        sql: "CREATE TABLE outbox (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    topic TEXT NOT NULL,
    message_key TEXT NOT NULL UNIQUE,
    payload TEXT NOT NULL,
    created_at TEXT NOT NULL,
    delivered_at TEXT
);",
    },
];

/// Both backends: BIGINT is an integer on SQLite too, and a BYTEA column keeps blobs as they are
/// there. Only the outbox's generated key needs each backend's own words.
const SETTLEMENTS_DDL: &str = r#"
CREATE TABLE accumulators (
    person_key BYTEA NOT NULL,
    year BIGINT NOT NULL,
    basic_inpatient_paid BIGINT NOT NULL DEFAULT 0,
    basic_outpatient_paid BIGINT NOT NULL DEFAULT 0,
    critical_base BIGINT NOT NULL DEFAULT 0,
    critical_paid BIGINT NOT NULL DEFAULT 0,
    assistance_base BIGINT NOT NULL DEFAULT 0,
    assistance_paid BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (person_key, year)
);
CREATE TABLE settlements (
    id TEXT PRIMARY KEY,
    hospital_code TEXT NOT NULL,
    bill_no TEXT NOT NULL,
    content_digest TEXT NOT NULL,
    person_key BYTEA NOT NULL,
    national_id_enc BYTEA NOT NULL,
    national_id_masked TEXT NOT NULL,
    year BIGINT NOT NULL,
    visit_type TEXT NOT NULL,
    hospital_level TEXT NOT NULL,
    admitted_on TEXT NOT NULL,
    discharged_on TEXT NOT NULL,
    total_fen BIGINT NOT NULL,
    in_policy_fen BIGINT NOT NULL,
    category TEXT NOT NULL,
    policy_version TEXT NOT NULL,
    basic_fen BIGINT NOT NULL,
    critical_fen BIGINT NOT NULL,
    assistance_fen BIGINT NOT NULL,
    copay_fen BIGINT NOT NULL,
    added_critical_base BIGINT NOT NULL,
    added_assistance_base BIGINT NOT NULL,
    trace TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('SETTLED', 'REVERSED')),
    settled_at TEXT NOT NULL,
    settled_day TEXT NOT NULL,
    reversed_at TEXT,
    reversed_day TEXT,
    reverse_reason TEXT,
    UNIQUE (hospital_code, bill_no)
);
CREATE INDEX settlements_settled_day ON settlements (hospital_code, settled_day);
CREATE INDEX settlements_reversed_day ON settlements (hospital_code, reversed_day) WHERE reversed_day IS NOT NULL;
CREATE INDEX settlements_person_year ON settlements (person_key, year);
CREATE TABLE premium_subsidies (
    person_key BYTEA NOT NULL,
    year BIGINT NOT NULL,
    national_id_enc BYTEA NOT NULL,
    category TEXT NOT NULL,
    policy_version TEXT NOT NULL,
    premium_fen BIGINT NOT NULL,
    subsidy_bp BIGINT NOT NULL,
    subsidy_fen BIGINT NOT NULL,
    recorded_at TEXT NOT NULL,
    PRIMARY KEY (person_key, year)
);
"#;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    /// Never stored: what a quote answers.
    Quoted,
    Settled,
    Reversed,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Quoted => "QUOTED",
            Status::Settled => "SETTLED",
            Status::Reversed => "REVERSED",
        }
    }
}

/// A settlement as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredSettlement {
    pub id: String,
    pub bill_no: String,
    pub content_digest: String,
    pub national_id_masked: String,
    pub visit: VisitType,
    pub admitted_on: String,
    pub discharged_on: String,
    pub total: Fen,
    pub in_policy: Fen,
    pub category: Category,
    pub policy_version: String,
    pub basic: Fen,
    pub critical: Fen,
    pub assistance: Fen,
    pub copay: Fen,
    pub trace: Vec<TraceLine>,
    pub status: Status,
    pub settled_at: String,
    pub reversed_at: Option<String>,
    pub reverse_reason: Option<String>,
}

const SETTLEMENT_COLUMNS: &str = "id, bill_no, content_digest, national_id_masked, visit_type, \
     admitted_on, discharged_on, total_fen, in_policy_fen, category, policy_version, basic_fen, critical_fen, \
     assistance_fen, copay_fen, trace, status, settled_at, reversed_at, reverse_reason";

fn corrupt(what: &str) -> sqlx::Error {
    sqlx::Error::Decode(format!("stored {what} is not valid").into())
}

fn settlement_from_row(row: &AnyRow) -> Result<StoredSettlement, sqlx::Error> {
    let visit: String = row.try_get("visit_type")?;
    let category: String = row.try_get("category")?;
    let trace: String = row.try_get("trace")?;
    let status: String = row.try_get("status")?;
    Ok(StoredSettlement {
        id: row.try_get("id")?,
        bill_no: row.try_get("bill_no")?,
        content_digest: row.try_get("content_digest")?,
        national_id_masked: row.try_get("national_id_masked")?,
        visit: VisitType::parse(&visit).ok_or_else(|| corrupt("visit type"))?,
        admitted_on: row.try_get("admitted_on")?,
        discharged_on: row.try_get("discharged_on")?,
        total: Fen(row.try_get("total_fen")?),
        in_policy: Fen(row.try_get("in_policy_fen")?),
        category: category.parse().map_err(|_| corrupt("category"))?,
        policy_version: row.try_get("policy_version")?,
        basic: Fen(row.try_get("basic_fen")?),
        critical: Fen(row.try_get("critical_fen")?),
        assistance: Fen(row.try_get("assistance_fen")?),
        copay: Fen(row.try_get("copay_fen")?),
        trace: serde_json::from_str(&trace).map_err(|_| corrupt("trace"))?,
        status: match status.as_str() {
            "SETTLED" => Status::Settled,
            "REVERSED" => Status::Reversed,
            _ => return Err(corrupt("status")),
        },
        settled_at: row.try_get("settled_at")?,
        reversed_at: row.try_get("reversed_at")?,
        reverse_reason: row.try_get("reverse_reason")?,
    })
}

const ACCUMULATOR_COLUMNS: &str =
    "basic_inpatient_paid, basic_outpatient_paid, critical_base, critical_paid, assistance_base, assistance_paid";

/// The six figures of `ACCUMULATOR_COLUMNS` (or sums in that order) from column `first` on.
fn accumulators_from_row(row: &AnyRow, first: usize) -> Result<YearAccumulators, sqlx::Error> {
    let at = |i: usize| -> Result<Fen, sqlx::Error> { Ok(Fen(row.try_get::<Option<i64>, _>(first + i)?.unwrap_or(0))) };
    Ok(YearAccumulators {
        basic_inpatient_paid: at(0)?,
        basic_outpatient_paid: at(1)?,
        critical_base: at(2)?,
        critical_paid: at(3)?,
        assistance_base: at(4)?,
        assistance_paid: at(5)?,
    })
}

/// What a new settlement writes, beside the calculation.
#[derive(Debug)]
pub struct NewSettlement<'a> {
    pub id: &'a str,
    pub hospital_code: &'a str,
    pub hospital_level: &'a str,
    pub bill: &'a Bill,
    pub content_digest: &'a str,
    pub person_key: &'a [u8],
    pub category: Category,
    pub policy_version: &'a str,
    pub now: &'a str,
    pub today: Date,
}

/// A premium subsidy to record.
#[derive(Debug)]
pub struct NewPremiumSubsidy {
    pub person_key: Vec<u8>,
    pub national_id: String,
    pub category: Category,
    pub subsidy_bp: i64,
    pub subsidy: Fen,
}

/// A transaction holding the lock on one person's year.
pub struct PersonYearTx {
    tx: Transaction<'static, Any>,
    person_key: Vec<u8>,
    year: i64,
    pub before: YearAccumulators,
}

impl std::fmt::Debug for PersonYearTx {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PersonYearTx").field("year", &self.year).field("before", &self.before).finish()
    }
}

#[derive(Debug)]
pub enum InsertOutcome {
    Inserted,
    /// The hospital already has a settlement under this bill number (a constraint said so).
    BillNoTaken,
}

/// One accumulator row compared with the settled bills behind it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccumulatorMismatch {
    pub person_key: String,
    pub year: i64,
    pub stored: YearAccumulators,
    pub from_bills: YearAccumulators,
}

#[derive(Debug, Clone)]
pub struct Store {
    db: Db,
    cipher: PiiCipher,
}

impl Store {
    pub fn new(db: Db, cipher: PiiCipher) -> Self {
        Self { db, cipher }
    }

    pub fn db(&self) -> &Db {
        &self.db
    }

    pub fn person_key(&self, national_id: &doudi_core::NationalId) -> Vec<u8> {
        self.cipher.person_key(national_id)
    }

    /// A keyed digest (not a bare hash: national IDs are too few to hide behind SHA-256).
    pub fn keyed_digest(&self, kind: &str, value: &str) -> Vec<u8> {
        self.cipher.blind_index(kind, value)
    }

    pub fn encrypt(&self, plaintext: &str) -> Vec<u8> {
        self.cipher.encrypt(plaintext)
    }

    /// The person's year as it stands, without a lock (quotes and reports).
    pub async fn accumulators(&self, person_key: &[u8], year: i64) -> Result<YearAccumulators, sqlx::Error> {
        let row = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {ACCUMULATOR_COLUMNS} FROM accumulators WHERE person_key = $1 AND year = $2"
        )))
        .bind(person_key)
        .bind(year)
        .fetch_optional(self.db.reads())
        .await?;
        row.as_ref().map_or(Ok(YearAccumulators::default()), |r| accumulators_from_row(r, 0))
    }

    /// Starts a transaction that holds the person's year: an upsert that creates the row if
    /// needed and, as an update, locks it until commit.
    pub async fn lock_person_year(&self, person_key: &[u8], year: i64) -> Result<PersonYearTx, sqlx::Error> {
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
        Ok(PersonYearTx { tx, person_key: person_key.to_vec(), year, before })
    }

    pub async fn settlement_by_bill(
        &self,
        hospital: &str,
        bill_no: &str,
    ) -> Result<Option<StoredSettlement>, sqlx::Error> {
        one_settlement(self.db.reads(), SettlementKey::BillNo, hospital, bill_no).await
    }

    pub async fn settlement_by_id(&self, hospital: &str, id: &str) -> Result<Option<StoredSettlement>, sqlx::Error> {
        one_settlement(self.db.reads(), SettlementKey::Id, hospital, id).await
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
        sqlx::query(
            "UPDATE accumulators SET basic_inpatient_paid = basic_inpatient_paid - $1, \
             basic_outpatient_paid = basic_outpatient_paid - $2, critical_base = critical_base - $3, \
             critical_paid = critical_paid - $4, assistance_base = assistance_base - $5, \
             assistance_paid = assistance_paid - $6 WHERE person_key = $7 AND year = $8",
        )
        .bind(added.basic_inpatient_paid.0)
        .bind(added.basic_outpatient_paid.0)
        .bind(added.critical_base.0)
        .bind(added.critical_paid.0)
        .bind(added.assistance_base.0)
        .bind(added.assistance_paid.0)
        .bind(&person_key)
        .bind(year)
        .execute(&mut *tx)
        .await?;
        let payload = serde_json::json!({
            "kind": "HOSPITAL_PAYABLE_REVERSED",
            "settlementId": id,
            "hospitalCode": hospital,
            "billNo": bill_no,
            "basicInsuranceFen": -added.basic_inpatient_paid.0 - added.basic_outpatient_paid.0,
            "criticalIllnessFen": -added.critical_paid.0,
            "medicalAssistanceFen": -added.assistance_paid.0,
        });
        enqueue(&mut tx, "hospital-payable", &format!("reverse:{id}"), &payload, now).await?;
        let stored = one_settlement(&mut *tx, SettlementKey::Id, hospital, id).await?;
        tx.commit().await?;
        Ok(stored)
    }

    /// Settled bills of the hospital touched by the days `from..=to`, for reconciliation.
    pub async fn bills_touched(&self, hospital: &str, from: Date, to: Date) -> Result<Vec<OurBill>, sqlx::Error> {
        let (from, to) = (from.to_string(), to.to_string());
        let rows = sqlx::query(
            "SELECT bill_no, basic_fen, critical_fen, assistance_fen, settled_day, reversed_day FROM settlements \
             WHERE hospital_code = $1 AND ((settled_day >= $2 AND settled_day <= $3) \
             OR (reversed_day >= $2 AND reversed_day <= $3))",
        )
        .bind(hospital)
        .bind(&from)
        .bind(&to)
        .fetch_all(self.db.reads())
        .await?;
        let within = |day: &Option<String>| day.as_deref().is_some_and(|d| d >= from.as_str() && d <= to.as_str());
        rows.iter()
            .map(|row| {
                let settled: Option<String> = row.try_get(4)?;
                let reversed: Option<String> = row.try_get(5)?;
                Ok(OurBill {
                    bill_no: row.try_get(0)?,
                    amounts: [Fen(row.try_get(1)?), Fen(row.try_get(2)?), Fen(row.try_get(3)?)],
                    settled_in_range: within(&settled),
                    reversed_in_range: within(&reversed),
                })
            })
            .collect()
    }

    /// Whether the hospital has a settlement (settled or reversed) for the person in the year.
    pub async fn hospital_knows_patient(
        &self,
        hospital: &str,
        person_key: &[u8],
        year: i64,
    ) -> Result<bool, sqlx::Error> {
        let row =
            sqlx::query("SELECT 1 FROM settlements WHERE hospital_code = $1 AND person_key = $2 AND year = $3 LIMIT 1")
                .bind(hospital)
                .bind(person_key)
                .bind(year)
                .fetch_optional(self.db.reads())
                .await?;
        Ok(row.is_some())
    }

    pub async fn settled_bills(&self, person_key: &[u8], year: i64) -> Result<i64, sqlx::Error> {
        sqlx::query("SELECT COUNT(*) FROM settlements WHERE person_key = $1 AND year = $2 AND status = 'SETTLED'")
            .bind(person_key)
            .bind(year)
            .fetch_one(self.db.reads())
            .await?
            .try_get(0)
    }

    /// Records the subsidies not yet recorded for the year, each queued for payment, in one
    /// transaction. Returns (recorded now, already there, fen recorded now).
    pub async fn record_premium_subsidies(
        &self,
        year: i64,
        policy_version: &str,
        premium: Fen,
        entries: &[NewPremiumSubsidy],
        now: &str,
    ) -> Result<(i64, i64, Fen), sqlx::Error> {
        let mut tx = self.db.writes().begin().await?;
        let (mut recorded, mut already, mut total) = (0i64, 0i64, 0i64);
        for entry in entries {
            let inserted = sqlx::query(
                "INSERT INTO premium_subsidies (person_key, year, national_id_enc, category, policy_version, \
                 premium_fen, subsidy_bp, subsidy_fen, recorded_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) \
                 ON CONFLICT (person_key, year) DO NOTHING",
            )
            .bind(&entry.person_key)
            .bind(year)
            .bind(self.cipher.encrypt(&entry.national_id))
            .bind(entry.category.as_str())
            .bind(policy_version)
            .bind(premium.0)
            .bind(entry.subsidy_bp)
            .bind(entry.subsidy.0)
            .bind(now)
            .execute(&mut *tx)
            .await?
            .rows_affected();
            if inserted == 0 {
                already += 1;
                continue;
            }
            recorded += 1;
            total += entry.subsidy.0;
            let payload = serde_json::json!({
                "kind": "PREMIUM_SUBSIDY",
                "year": year,
                "personKey": hex::encode(&entry.person_key),
                "category": entry.category.as_str(),
                "subsidyFen": entry.subsidy.0,
            });
            let key = format!("premium:{year}:{}", hex::encode(&entry.person_key));
            enqueue(&mut tx, "premium-subsidy", &key, &payload, now).await?;
        }
        tx.commit().await?;
        Ok((recorded, already, Fen(total)))
    }

    /// Messages waiting for the relay, oldest first: (topic, key, payload).
    pub async fn outbox_pending(&self, limit: i64) -> Result<Vec<(String, String, String)>, sqlx::Error> {
        let rows = sqlx::query(
            "SELECT topic, message_key, payload FROM outbox WHERE delivered_at IS NULL ORDER BY id LIMIT $1",
        )
        .bind(limit)
        .fetch_all(self.db.reads())
        .await?;
        rows.iter().map(|r| Ok((r.try_get(0)?, r.try_get(1)?, r.try_get(2)?))).collect()
    }

    /// Every accumulator row that differs from the sum of the settled bills behind it, and every
    /// person-year with settled bills but no row.
    pub async fn accumulator_mismatches(&self) -> Result<Vec<AccumulatorMismatch>, sqlx::Error> {
        let stored = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT person_key, year, {ACCUMULATOR_COLUMNS} FROM accumulators"
        )))
        .fetch_all(self.db.reads())
        .await?;
        let sums = sqlx::query(
            "SELECT person_key, year, \
             CAST(SUM(CASE WHEN visit_type = 'INPATIENT' THEN basic_fen ELSE 0 END) AS BIGINT), \
             CAST(SUM(CASE WHEN visit_type = 'OUTPATIENT' THEN basic_fen ELSE 0 END) AS BIGINT), \
             CAST(SUM(added_critical_base) AS BIGINT), CAST(SUM(critical_fen) AS BIGINT), \
             CAST(SUM(added_assistance_base) AS BIGINT), CAST(SUM(assistance_fen) AS BIGINT) \
             FROM settlements WHERE status = 'SETTLED' GROUP BY person_key, year",
        )
        .fetch_all(self.db.reads())
        .await?;
        let mut expected = std::collections::HashMap::new();
        for row in &sums {
            let key: Vec<u8> = row.try_get(0)?;
            let year: i64 = row.try_get(1)?;
            expected.insert((key, year), accumulators_from_row(row, 2)?);
        }
        let mut mismatches = Vec::new();
        for row in &stored {
            let key: Vec<u8> = row.try_get(0)?;
            let year: i64 = row.try_get(1)?;
            let values = accumulators_from_row(row, 2)?;
            let from_bills = expected.remove(&(key.clone(), year)).unwrap_or_default();
            if from_bills != values {
                mismatches.push(AccumulatorMismatch {
                    person_key: hex::encode(&key),
                    year,
                    stored: values,
                    from_bills,
                });
            }
        }
        for ((key, year), from_bills) in expected {
            mismatches.push(AccumulatorMismatch {
                person_key: hex::encode(&key),
                year,
                stored: YearAccumulators::default(),
                from_bills,
            });
        }
        Ok(mismatches)
    }

    pub async fn count_settlements(&self) -> Result<i64, sqlx::Error> {
        sqlx::query("SELECT COUNT(*) FROM settlements").fetch_one(self.db.reads()).await?.try_get(0)
    }
}

/// How a hospital names one of its settlements.
#[derive(Debug, Clone, Copy)]
enum SettlementKey {
    Id,
    BillNo,
}

/// The hospital's settlement under `key`, through a pool or inside a transaction.
async fn one_settlement<'e>(
    executor: impl sqlx::Executor<'e, Database = Any>,
    by: SettlementKey,
    hospital: &str,
    key: &str,
) -> Result<Option<StoredSettlement>, sqlx::Error> {
    let column = match by {
        SettlementKey::Id => "id",
        SettlementKey::BillNo => "bill_no",
    };
    let row = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {SETTLEMENT_COLUMNS} FROM settlements WHERE hospital_code = $1 AND {column} = $2"
    )))
    .bind(hospital)
    .bind(key)
    .fetch_optional(executor)
    .await?;
    row.as_ref().map(settlement_from_row).transpose()
}

async fn enqueue(
    tx: &mut Transaction<'static, Any>,
    topic: &str,
    key: &str,
    payload: &serde_json::Value,
    now: &str,
) -> Result<(), sqlx::Error> {
    sqlx::query("INSERT INTO outbox (topic, message_key, payload, created_at) VALUES ($1, $2, $3, $4)")
        .bind(topic)
        .bind(key)
        .bind(payload.to_string())
        .bind(now)
        .execute(&mut **tx)
        .await?;
    Ok(())
}

/// The settlement row's columns, bound as `$1`..`$25` (status is always SETTLED on insert).
const SETTLEMENT_INSERT: &str = "INSERT INTO settlements (id, hospital_code, bill_no, content_digest, person_key, \
     national_id_enc, national_id_masked, year, visit_type, hospital_level, admitted_on, discharged_on, total_fen, \
     in_policy_fen, category, policy_version, basic_fen, critical_fen, assistance_fen, copay_fen, \
     added_critical_base, added_assistance_base, trace, status, settled_at, settled_day)";
const SETTLEMENT_VALUES: &str = "$1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, \
     $19, $20, $21, $22, $23, 'SETTLED', $24, $25";

type AnyQuery<'q> = sqlx::query::Query<'q, Any, sqlx::any::AnyArguments>;

/// Binds `$1`..`$25` of `SETTLEMENT_VALUES`.
fn bind_settlement<'q>(
    query: AnyQuery<'q>,
    new: &NewSettlement<'q>,
    calc: &Calculation,
    national_id_enc: Vec<u8>,
    year: i64,
) -> Result<AnyQuery<'q>, sqlx::Error> {
    let trace = serde_json::to_string(&calc.trace).map_err(|e| sqlx::Error::Encode(e.into()))?;
    Ok(query
        .bind(new.id)
        .bind(new.hospital_code)
        .bind(new.bill.bill_no.as_str())
        .bind(new.content_digest)
        .bind(new.person_key)
        .bind(national_id_enc)
        .bind(new.bill.national_id.masked())
        .bind(year)
        .bind(new.bill.visit.as_str())
        .bind(new.hospital_level)
        .bind(new.bill.admitted_on.to_string())
        .bind(new.bill.discharged_on.to_string())
        .bind(new.bill.total.0)
        .bind(new.bill.in_policy.0)
        .bind(new.category.as_str())
        .bind(new.policy_version)
        .bind(calc.basic.0)
        .bind(calc.critical.0)
        .bind(calc.assistance.0)
        .bind(calc.copay.0)
        .bind(calc.added.critical_base.0)
        .bind(calc.added.assistance_base.0)
        .bind(trace)
        .bind(new.now)
        .bind(new.today.to_string()))
}

fn payable_message(new: &NewSettlement<'_>, calc: &Calculation) -> (String, String) {
    let payload = serde_json::json!({
        "kind": "HOSPITAL_PAYABLE",
        "settlementId": new.id,
        "hospitalCode": new.hospital_code,
        "billNo": new.bill.bill_no,
        "basicInsuranceFen": calc.basic.0,
        "criticalIllnessFen": calc.critical.0,
        "medicalAssistanceFen": calc.assistance.0,
    });
    (format!("settle:{}", new.id), payload.to_string())
}

fn bind_accumulators<'q>(query: AnyQuery<'q>, a: &YearAccumulators) -> AnyQuery<'q> {
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
     critical_paid, assistance_base, assistance_paid) VALUES ($5, $8, $26, $27, $28, $29, $30, $31) \
     ON CONFLICT (person_key, year) DO UPDATE SET basic_inpatient_paid = excluded.basic_inpatient_paid, \
     basic_outpatient_paid = excluded.basic_outpatient_paid, critical_base = excluded.critical_base, \
     critical_paid = excluded.critical_paid, assistance_base = excluded.assistance_base, \
     assistance_paid = excluded.assistance_paid \
     WHERE accumulators.basic_inpatient_paid = $32 AND accumulators.basic_outpatient_paid = $33 \
     AND accumulators.critical_base = $34 AND accumulators.critical_paid = $35 \
     AND accumulators.assistance_base = $36 AND accumulators.assistance_paid = $37 RETURNING 1), \
     settled AS (";

impl Store {
    /// PostgreSQL only (see `SETTLE_IF_UNCHANGED`). `Ok(None)`: another bill of the person came
    /// first; calculate again from the new figures.
    pub async fn settle_if_unchanged(
        &self,
        national_id_enc: Vec<u8>,
        new: &NewSettlement<'_>,
        calc: &Calculation,
        year: i64,
        before: &YearAccumulators,
    ) -> Result<Option<InsertOutcome>, sqlx::Error> {
        let after = before.plus(&calc.added).map_err(|e| sqlx::Error::Encode(e.into()))?;
        let (message_key, payload) = payable_message(new, calc);
        let sql = format!(
            "{SETTLE_IF_UNCHANGED}{SETTLEMENT_INSERT} SELECT {SETTLEMENT_VALUES} WHERE EXISTS (SELECT 1 FROM acc) \
             RETURNING id), queued AS (INSERT INTO outbox (topic, message_key, payload, created_at) \
             SELECT 'hospital-payable', $38, $39, $24 FROM settled) SELECT COUNT(*) FROM settled"
        );
        let query = bind_settlement(sqlx::query(sqlx::AssertSqlSafe(sql)), new, calc, national_id_enc, year)?;
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
    pub async fn insert(
        mut self,
        national_id_enc: Vec<u8>,
        new: &NewSettlement<'_>,
        calc: &Calculation,
    ) -> Result<InsertOutcome, sqlx::Error> {
        let sql =
            format!("{SETTLEMENT_INSERT} VALUES ({SETTLEMENT_VALUES}) ON CONFLICT (hospital_code, bill_no) DO NOTHING");
        let query = bind_settlement(sqlx::query(sqlx::AssertSqlSafe(sql)), new, calc, national_id_enc, self.year)?;
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
        sqlx::query("INSERT INTO outbox (topic, message_key, payload, created_at) VALUES ($1, $2, $3, $4)")
            .bind("hospital-payable")
            .bind(message_key)
            .bind(payload)
            .bind(new.now)
            .execute(&mut *self.tx)
            .await?;
        self.tx.commit().await?;
        Ok(InsertOutcome::Inserted)
    }

    pub async fn abandon(self) -> Result<(), sqlx::Error> {
        self.tx.rollback().await
    }
}
