//! The access log's statements: one line per read, written in the read's own transaction where
//! it has one (a settlement), and the lists by person and by hospital.

use crate::access_log::AccessAction;
use crate::store::Store;
use doudi_core::{Date, NationalId};
use doudi_runtime::Backend;
use sqlx::{AnyConnection, Row};

/// One read of a person's data by a hospital.
#[derive(Debug, Clone)]
pub struct AccessEntry<'a> {
    pub hospital_code: &'a str,
    pub person_key: &'a [u8],
    pub national_id_masked: &'a str,
    pub action: AccessAction,
    pub outcome: &'a str,
    /// The settlement or bill the read concerned.
    pub reference: &'a str,
}

/// A line of the log as listed (the person masked).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AccessLine {
    pub at: String,
    pub hospital_code: String,
    pub national_id: String,
    pub action: String,
    pub outcome: String,
    pub reference: String,
}

/// The columns a settlement statement fills from its own parameters (see `settle::write`).
pub(crate) const ACCESS_COLUMNS: &str =
    "access_log (at, day, hospital_code, person_key, national_id_masked, action, outcome, reference)";

type AnyQuery<'q> = sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments>;

/// Binds one line of `ACCESS_COLUMNS`.
fn bind_entry<'q>(query: AnyQuery<'q>, entry: &AccessEntry<'q>, now: &'q str, today: Date) -> AnyQuery<'q> {
    query
        .bind(now)
        .bind(today.to_string())
        .bind(entry.hospital_code)
        .bind(entry.person_key)
        .bind(entry.national_id_masked)
        .bind(entry.action.as_str())
        .bind(entry.outcome)
        .bind(entry.reference)
}

/// Writes `entry` inside the caller's transaction.
pub(crate) async fn log_access_in(
    conn: &mut AnyConnection,
    entry: &AccessEntry<'_>,
    now: &str,
    today: Date,
) -> Result<(), sqlx::Error> {
    let sql = format!("INSERT INTO {ACCESS_COLUMNS} VALUES ($1, $2, $3, $4, $5, $6, $7, $8)");
    bind_entry(sqlx::query(sqlx::AssertSqlSafe(sql)), entry, now, today).execute(conn).await?;
    Ok(())
}

/// Writes several entries, each with its time, inside the caller's transaction (a commit
/// group's settlements).
pub(crate) async fn log_access_many(
    conn: &mut AnyConnection,
    backend: Backend,
    entries: &[(AccessEntry<'_>, &str, Date)],
) -> Result<(), sqlx::Error> {
    let sql = format!("INSERT INTO {ACCESS_COLUMNS} VALUES {}", backend.values_rows(entries.len(), 8));
    let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
    for (entry, now, today) in entries {
        query = bind_entry(query, entry, now, *today);
    }
    query.execute(conn).await?;
    Ok(())
}

impl Store {
    /// Writes `entry` on its own (a read that writes nothing else).
    pub async fn log_access(&self, entry: &AccessEntry<'_>) -> Result<(), sqlx::Error> {
        let mut conn = self.db.writes().acquire().await?;
        log_access_in(&mut conn, entry, &doudi_runtime::now_rfc3339(), Date::today_china()).await
    }

    /// Who looked at the person, on the days `from..=to`, oldest first.
    pub async fn access_by_person(
        &self,
        national_id: &NationalId,
        from: Date,
        to: Date,
    ) -> Result<Vec<AccessLine>, sqlx::Error> {
        self.access_where("person_key", self.person_key(national_id), from, to).await
    }

    /// What the hospital looked at, on the days `from..=to`, oldest first.
    pub async fn access_by_hospital(
        &self,
        hospital: &str,
        from: Date,
        to: Date,
    ) -> Result<Vec<AccessLine>, sqlx::Error> {
        self.access_where("hospital_code", hospital.to_owned(), from, to).await
    }

    /// The lines whose `column` (an indexed one: person or hospital) is `key`.
    async fn access_where<K>(&self, column: &str, key: K, from: Date, to: Date) -> Result<Vec<AccessLine>, sqlx::Error>
    where
        K: 'static + Send + sqlx::Encode<'static, sqlx::Any> + sqlx::Type<sqlx::Any>,
    {
        let sql = format!(
            "SELECT at, hospital_code, national_id_masked, action, outcome, reference FROM access_log \
             WHERE {column} = $1 AND day >= $2 AND day <= $3 ORDER BY id"
        );
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(key)
            .bind(from.to_string())
            .bind(to.to_string())
            .fetch_all(self.db.reads())
            .await?;
        rows.iter().map(access_line).collect()
    }
}

fn access_line(row: &sqlx::any::AnyRow) -> Result<AccessLine, sqlx::Error> {
    Ok(AccessLine {
        at: row.try_get("at")?,
        hospital_code: row.try_get("hospital_code")?,
        national_id: row.try_get("national_id_masked")?,
        action: row.try_get("action")?,
        outcome: row.try_get("outcome")?,
        reference: row.try_get("reference")?,
    })
}
