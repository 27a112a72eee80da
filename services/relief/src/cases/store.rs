//! The cases' statements: insert, read back (with documents, grants and events), list OVERDUE
//! first, and change state with an event.

use crate::cases::{CaseEvent, CaseKind, CaseState, Document, GrantRecord, StoredCase};
use crate::store::{Store, corrupt};
use sqlx::any::AnyRow;
use sqlx::{AnyConnection, Row};

pub(crate) const CASE_COLUMNS: &str = "id, kind, state, household_no, household_key, person_name_masked, \
     national_id_masked, township, facts, asked_fen, granted_fen, grant_year, occurred_on, paperwork_due, \
     paperwork_done_on, paperwork_late, rejected_reason, special_approval, created_at, created_by";

pub(crate) fn case_of(r: &AnyRow) -> Result<StoredCase, sqlx::Error> {
    Ok(StoredCase {
        id: r.try_get("id")?,
        kind: CaseKind::parse(&r.try_get::<String, _>("kind")?).ok_or_else(|| corrupt("case kind"))?,
        stored_state: CaseState::parse(&r.try_get::<String, _>("state")?).ok_or_else(|| corrupt("case state"))?,
        household_no: r.try_get("household_no")?,
        household_key: r.try_get("household_key")?,
        person_name_masked: r.try_get("person_name_masked")?,
        national_id_masked: r.try_get("national_id_masked")?,
        township: r.try_get("township")?,
        facts: r.try_get("facts")?,
        asked_fen: r.try_get("asked_fen")?,
        granted_fen: r.try_get("granted_fen")?,
        grant_year: r.try_get("grant_year")?,
        occurred_on: r.try_get("occurred_on")?,
        paperwork_due: r.try_get("paperwork_due")?,
        paperwork_done_on: r.try_get("paperwork_done_on")?,
        paperwork_late: r.try_get::<i64, _>("paperwork_late")? == 1,
        rejected_reason: r.try_get("rejected_reason")?,
        special_approval: r.try_get("special_approval")?,
        created_at: r.try_get("created_at")?,
        created_by: r.try_get("created_by")?,
    })
}

pub(crate) async fn case_in(conn: &mut AnyConnection, id: i64) -> Result<Option<StoredCase>, sqlx::Error> {
    let sql = format!("SELECT {CASE_COLUMNS} FROM cases WHERE id = $1");
    sqlx::query(sqlx::AssertSqlSafe(sql)).bind(id).fetch_optional(conn).await?.as_ref().map(case_of).transpose()
}

pub(crate) async fn event(
    conn: &mut AnyConnection,
    id: i64,
    actor: &str,
    from: CaseState,
    to: CaseState,
    note: &str,
    now: &str,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO case_events (case_id, at, actor, from_state, to_state, note) VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(id)
    .bind(now)
    .bind(actor)
    .bind(from.as_str())
    .bind(to.as_str())
    .bind(note)
    .execute(conn)
    .await?;
    Ok(())
}

/// Moves case `id` from `from` to `to` with its event; `false` if it was no longer in `from`
/// (a concurrent step came first).
pub(crate) async fn change_state(
    conn: &mut AnyConnection,
    id: i64,
    from: CaseState,
    to: CaseState,
    actor: &str,
    note: &str,
    now: &str,
) -> Result<bool, sqlx::Error> {
    let changed = sqlx::query("UPDATE cases SET state = $1 WHERE id = $2 AND state = $3")
        .bind(to.as_str())
        .bind(id)
        .bind(from.as_str())
        .execute(&mut *conn)
        .await?
        .rows_affected();
    if changed == 0 {
        return Ok(false);
    }
    event(conn, id, actor, from, to, note, now).await?;
    Ok(true)
}

pub(crate) async fn add_documents(
    conn: &mut AnyConnection,
    id: i64,
    documents: &[Document],
    actor: &str,
    now: &str,
) -> Result<(), sqlx::Error> {
    for d in documents {
        sqlx::query(
            "INSERT INTO case_documents (case_id, name, kind, sha256, added_at, added_by) VALUES ($1, $2, $3, $4, $5, $6) \
             ON CONFLICT (case_id, sha256) DO NOTHING",
        )
        .bind(id)
        .bind(&d.name)
        .bind(&d.kind)
        .bind(&d.sha256)
        .bind(now)
        .bind(actor)
        .execute(&mut *conn)
        .await?;
    }
    Ok(())
}

fn grant_of(r: &AnyRow) -> Result<GrantRecord, sqlx::Error> {
    Ok(GrantRecord {
        case_id: r.try_get("case_id")?,
        part: r.try_get("part")?,
        amount_fen: r.try_get("amount_fen")?,
        standard_fen: r.try_get("standard_fen")?,
        decided_on: r.try_get("decided_on")?,
        decided_by: r.try_get("decided_by")?,
        authority: r.try_get("authority")?,
        emergency: r.try_get::<i64, _>("emergency")? == 1,
    })
}

/// Filters of a listing.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CaseFilter {
    pub state: Option<CaseState>,
    pub township: Option<String>,
    pub limit: i64,
    pub offset: i64,
}

impl Store {
    pub async fn case(&self, id: i64) -> Result<Option<StoredCase>, sqlx::Error> {
        let mut conn = self.db.reads().acquire().await?;
        case_in(&mut conn, id).await
    }

    pub async fn documents(&self, id: i64) -> Result<Vec<Document>, sqlx::Error> {
        sqlx::query("SELECT name, kind, sha256 FROM case_documents WHERE case_id = $1 ORDER BY added_at, sha256")
            .bind(id)
            .fetch_all(self.db.reads())
            .await?
            .iter()
            .map(|r| Ok(Document { name: r.try_get("name")?, kind: r.try_get("kind")?, sha256: r.try_get("sha256")? }))
            .collect()
    }

    pub async fn case_events(&self, id: i64) -> Result<Vec<CaseEvent>, sqlx::Error> {
        let state = |r: &AnyRow, c: &str| -> Result<CaseState, sqlx::Error> {
            CaseState::parse(&r.try_get::<String, _>(c)?).ok_or_else(|| corrupt("case state"))
        };
        sqlx::query("SELECT at, actor, from_state, to_state, note FROM case_events WHERE case_id = $1 ORDER BY id")
            .bind(id)
            .fetch_all(self.db.reads())
            .await?
            .iter()
            .map(|r| {
                Ok(CaseEvent {
                    at: r.try_get("at")?,
                    actor: r.try_get("actor")?,
                    from: state(r, "from_state")?,
                    to: state(r, "to_state")?,
                    note: r.try_get("note")?,
                })
            })
            .collect()
    }

    pub async fn case_grants(&self, case_id: i64) -> Result<Vec<GrantRecord>, sqlx::Error> {
        let rows = sqlx::query("SELECT * FROM grants WHERE case_id = $1 ORDER BY part")
            .bind(case_id)
            .fetch_all(self.db.reads())
            .await?;
        rows.iter().map(grant_of).collect()
    }

    /// A household's grants in a year, in the order they were made.
    pub async fn household_grants(&self, household_key: &str, year: i64) -> Result<Vec<GrantRecord>, sqlx::Error> {
        let rows = sqlx::query(
            "SELECT g.* FROM grants g JOIN cases c ON c.id = g.case_id WHERE c.household_key = $1 AND g.year = $2 \
             ORDER BY g.id",
        )
        .bind(household_key)
        .bind(year)
        .fetch_all(self.db.reads())
        .await?;
        rows.iter().map(grant_of).collect()
    }

    /// Cases OVERDUE first (as of `today`), then oldest first.
    pub async fn list_cases(&self, filter: &CaseFilter, today: &str) -> Result<(Vec<StoredCase>, bool), sqlx::Error> {
        let overdue = "(state = 'EMERGENCY_GRANTED' AND paperwork_due < $1)";
        let mut sql = format!("SELECT {CASE_COLUMNS} FROM cases WHERE 1 = 1");
        let mut binds: Vec<String> = vec![today.to_owned()];
        match filter.state {
            Some(CaseState::Overdue) => sql.push_str(&format!(" AND {overdue}")),
            Some(CaseState::EmergencyGranted) => {
                sql.push_str(&format!(" AND state = 'EMERGENCY_GRANTED' AND NOT {overdue}"))
            }
            Some(state) => {
                binds.push(state.as_str().to_owned());
                sql.push_str(&format!(" AND state = ${}", binds.len()));
            }
            None => {}
        }
        if let Some(township) = &filter.township {
            binds.push(township.clone());
            sql.push_str(&format!(" AND township = ${}", binds.len()));
        }
        let limit = if filter.limit <= 0 { 100 } else { filter.limit.min(1_000) };
        sql.push_str(&format!(
            " ORDER BY CASE WHEN {overdue} THEN 0 ELSE 1 END, id LIMIT {} OFFSET {}",
            limit + 1,
            filter.offset.max(0)
        ));
        let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
        for value in binds {
            query = query.bind(value);
        }
        let rows = query.fetch_all(self.db.reads()).await?;
        let more = rows.len() as i64 > limit;
        let cases = rows.iter().take(limit as usize).map(case_of).collect::<Result<Vec<_>, _>>()?;
        Ok((cases, more))
    }
}
