//! Settlements and accumulators as stored, and the reads of them: a hospital's settlement by id
//! or bill number, a person's year, and the check that every accumulator equals the sum of the
//! settled bills behind it.

use crate::settle::engine::{TraceLine, VisitType, YearAccumulators};
use crate::store::{Store, corrupt};
use doudi_core::{Category, Fen};
use sqlx::any::AnyRow;
use sqlx::{Any, Row};

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

pub(crate) const ACCUMULATOR_COLUMNS: &str =
    "basic_inpatient_paid, basic_outpatient_paid, critical_base, critical_paid, assistance_base, assistance_paid";

/// The six figures of `ACCUMULATOR_COLUMNS` (or sums in that order) from column `first` on.
pub(crate) fn accumulators_from_row(row: &AnyRow, first: usize) -> Result<YearAccumulators, sqlx::Error> {
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

/// One accumulator row compared with the settled bills behind it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccumulatorMismatch {
    pub person_key: String,
    pub year: i64,
    pub stored: YearAccumulators,
    pub from_bills: YearAccumulators,
}

impl Store {
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

    /// Whether the hospital holds a settled (not reversed) bill of the person in the year: what
    /// gives it access to the person's year.
    pub async fn hospital_knows_patient(
        &self,
        hospital: &str,
        person_key: &[u8],
        year: i64,
    ) -> Result<bool, sqlx::Error> {
        let row = sqlx::query(
            "SELECT 1 FROM settlements WHERE hospital_code = $1 AND person_key = $2 AND year = $3 \
                 AND status = 'SETTLED' LIMIT 1",
        )
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
pub(crate) enum SettlementKey {
    Id,
    BillNo,
}

/// The hospital's settlement under `key`, through a pool or inside a transaction.
pub(crate) async fn one_settlement<'e>(
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
