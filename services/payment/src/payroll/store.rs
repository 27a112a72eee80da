//! The payroll's statements: what a set of households was paid and overpaid for a month, what
//! they still owe, and the chunk's writes (overpayments, instructions, withholdings, and one
//! reservation per fund), all in the chunk's transaction.

use crate::funds::{Kind, Month};
use crate::payroll::rules::Outstanding;
use crate::store::corrupt;
use doudi_runtime::Backend;
use sqlx::{AnyConnection, Row};
use std::collections::HashMap;

pub type HouseholdKind = (String, Kind);

fn kind_of(text: &str) -> Result<Kind, sqlx::Error> {
    Kind::parse(text).ok_or_else(|| corrupt("payroll kind"))
}

/// What a household's month and kind has had so far.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct MonthPaid {
    /// Gross of every instruction not cancelled.
    pub paid: i64,
    pub overpaid: i64,
    /// This run already made its instruction for it (a run pays a month and kind once).
    pub made_in_run: bool,
}

/// What `households` had for `month`, per household and kind, as of run `run`.
pub async fn paid_for(
    conn: &mut AnyConnection,
    backend: Backend,
    month: Month,
    run: Month,
    households: &[&str],
) -> Result<HashMap<HouseholdKind, MonthPaid>, sqlx::Error> {
    let mut out: HashMap<HouseholdKind, MonthPaid> = HashMap::new();
    if households.is_empty() {
        return Ok(out);
    }
    // Every parameter by the backend's own marks: SQLite's anonymous `?` bind in the order they
    // appear, and mixing them with `$N` does not number them as written.
    let marks = |n| backend.placeholders(1, n);
    let paid_marks = marks(2 + households.len());
    let paid_marks: Vec<&str> = paid_marks.split(", ").collect();
    let paid = format!(
        "SELECT payee_ref AS household_no, kind, CAST(SUM(CASE WHEN state <> 'CANCELLED' AND reissued_as IS NULL THEN gross_fen ELSE 0 END) AS BIGINT) AS fen, \
         CAST(SUM(CASE WHEN run_month = {} THEN 1 ELSE 0 END) AS BIGINT) AS in_run FROM instructions \
         WHERE month = {} AND payee_ref IN ({}) GROUP BY payee_ref, kind",
        paid_marks[0],
        paid_marks[1],
        paid_marks[2..].join(", ")
    );
    let over_marks = marks(1 + households.len());
    let over_marks: Vec<&str> = over_marks.split(", ").collect();
    let over = format!(
        "SELECT household_no, kind, CAST(SUM(amount_fen) AS BIGINT) AS fen FROM overpayments WHERE month = {} \
         AND household_no IN ({}) GROUP BY household_no, kind",
        over_marks[0],
        over_marks[1..].join(", ")
    );
    for (sql, overpaid) in [(paid, false), (over, true)] {
        let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
        if !overpaid {
            query = query.bind(run.to_string());
        }
        query = query.bind(month.to_string());
        for h in households {
            query = query.bind(*h);
        }
        for row in query.fetch_all(&mut *conn).await? {
            let key = (row.try_get::<String, _>("household_no")?, kind_of(&row.try_get::<String, _>("kind")?)?);
            let entry = out.entry(key).or_default();
            let fen: i64 = row.try_get("fen")?;
            if overpaid {
                entry.overpaid += fen;
            } else {
                entry.paid += fen;
                entry.made_in_run |= row.try_get::<i64, _>("in_run")? > 0;
            }
        }
    }
    Ok(out)
}

/// Overpayments of `households` not yet recovered (withholdings of cancelled instructions do
/// not count), oldest first.
pub async fn outstanding_for(
    conn: &mut AnyConnection,
    backend: Backend,
    households: &[&str],
) -> Result<HashMap<HouseholdKind, Vec<Outstanding>>, sqlx::Error> {
    let mut out: HashMap<HouseholdKind, Vec<Outstanding>> = HashMap::new();
    if households.is_empty() {
        return Ok(out);
    }
    let sql = format!(
        "SELECT o.id, o.household_no, o.kind, o.amount_fen - COALESCE((SELECT CAST(SUM(w.amount_fen) AS BIGINT) FROM withholdings w \
         JOIN instructions i ON i.id = w.instruction_id WHERE w.overpayment_id = o.id AND i.state <> 'CANCELLED'), 0) \
         AS remaining FROM overpayments o WHERE o.household_no IN ({}) ORDER BY o.id",
        backend.placeholders(1, households.len())
    );
    let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
    for h in households {
        query = query.bind(*h);
    }
    for row in query.fetch_all(conn).await? {
        let remaining: i64 = row.try_get("remaining")?;
        if remaining > 0 {
            let key = (row.try_get::<String, _>("household_no")?, kind_of(&row.try_get::<String, _>("kind")?)?);
            out.entry(key).or_default().push(Outstanding { overpayment_id: row.try_get("id")?, remaining });
        }
    }
    Ok(out)
}

/// Households paid for `month` (instructions not cancelled), in pages after `after`. (A payroll
/// instruction's payee_ref is its household: the index that serves it.)
pub async fn paid_households(
    conn: &mut AnyConnection,
    month: Month,
    after: &str,
    limit: i64,
) -> Result<Vec<String>, sqlx::Error> {
    sqlx::query(
        "SELECT DISTINCT payee_ref AS household_no FROM instructions WHERE month = $1 \
         AND state <> 'CANCELLED' AND payee_ref > $2 ORDER BY payee_ref LIMIT $3",
    )
    .bind(month.to_string())
    .bind(after)
    .bind(limit)
    .fetch_all(conn)
    .await?
    .iter()
    .map(|r| r.try_get("household_no"))
    .collect()
}

/// A new overpayment, returned with its id.
pub async fn insert_overpayment(
    conn: &mut AnyConnection,
    household: &str,
    kind: Kind,
    month: Month,
    amount: i64,
    run: Month,
    now: &str,
) -> Result<i64, sqlx::Error> {
    sqlx::query(
        "INSERT INTO overpayments (household_no, kind, month, amount_fen, run_month, recorded_at) \
         VALUES ($1, $2, $3, $4, $5, $6) RETURNING id",
    )
    .bind(household)
    .bind(kind.as_str())
    .bind(month.to_string())
    .bind(amount)
    .bind(run.to_string())
    .bind(now)
    .fetch_one(conn)
    .await?
    .try_get("id")
}

pub async fn insert_withholdings(
    conn: &mut AnyConnection,
    backend: Backend,
    rows: &[(i64, i64, i64)],
) -> Result<(), sqlx::Error> {
    for batch in rows.chunks(Backend::PARAMS_PER_STATEMENT / 3) {
        let sql = format!(
            "INSERT INTO withholdings (instruction_id, overpayment_id, amount_fen) VALUES {}",
            backend.values_rows(batch.len(), 3)
        );
        let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
        for (instruction, overpayment, amount) in batch {
            query = query.bind(*instruction).bind(*overpayment).bind(*amount);
        }
        query.execute(&mut *conn).await?;
    }
    Ok(())
}

/// Marks the month as paid here (the look-back revisits only such months).
pub async fn mark_run(conn: &mut AnyConnection, month: Month, now: &str) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO payroll_runs (month, first_run_at, last_run_at, runs) VALUES ($1, $2, $2, 1) \
         ON CONFLICT (month) DO UPDATE SET last_run_at = excluded.last_run_at, runs = payroll_runs.runs + 1",
    )
    .bind(month.to_string())
    .bind(now)
    .execute(conn)
    .await?;
    Ok(())
}

/// Months in `[from, to)` whose payroll ran here, oldest first.
pub async fn months_run(conn: &mut AnyConnection, from: Month, to: Month) -> Result<Vec<Month>, sqlx::Error> {
    sqlx::query("SELECT month FROM payroll_runs WHERE month >= $1 AND month < $2 ORDER BY month")
        .bind(from.to_string())
        .bind(to.to_string())
        .fetch_all(conn)
        .await?
        .iter()
        .map(|r| Month::parse(&r.try_get::<String, _>("month")?).ok_or_else(|| corrupt("payroll month")))
        .collect()
}

/// What existed when a month's pass began.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct History {
    /// A run of the month began here before (it may have paid some households).
    pub month_paid: bool,
    /// Some overpayment is on record.
    pub overpayments: bool,
}

pub async fn any_overpayment(conn: &mut AnyConnection) -> Result<bool, sqlx::Error> {
    Ok(sqlx::query("SELECT 1 FROM overpayments LIMIT 1").fetch_optional(conn).await?.is_some())
}
