//! The registry's version and change log: every registry write bumps the version and logs the
//! persons it touched, in its own transaction, so every coverage index (in any process) knows
//! what to reload. Shared by every capability that changes who holds what.

use crate::store::{PARAMS, Store};
use sqlx::{AnyConnection, AssertSqlSafe, Row};

/// A write touching more persons than this logs one "everything changed" marker instead.
pub(crate) const CHANGE_LOG_LIMIT: usize = 1000;
/// How many versions of change log are kept, and how often older ones are pruned.
const CHANGE_LOG_VERSIONS: i64 = 10_000;
const CHANGE_LOG_PRUNE_EVERY: i64 = 100;

impl Store {
    /// The registry's version (it changes with every committed write) and the newest version
    /// whose change log was pruned.
    pub async fn registry_version(&self) -> Result<(i64, i64), sqlx::Error> {
        let mut conn = self.db.reads().acquire().await?;
        self.registry_version_on(&mut conn).await
    }

    /// The same, on a connection the caller keeps (the coverage index holds one for it).
    pub async fn registry_version_on(&self, conn: &mut AnyConnection) -> Result<(i64, i64), sqlx::Error> {
        let row =
            sqlx::query("SELECT version, pruned_through FROM registry_version WHERE id = 1").fetch_one(conn).await?;
        Ok((row.try_get(0)?, row.try_get(1)?))
    }

    /// Begins a transaction that writes the registry: its first statement bumps the registry
    /// version (on PostgreSQL this also makes registry writers take turns). Returns the version
    /// the transaction's changes are logged under.
    pub async fn begin_write(&self) -> Result<(sqlx::Transaction<'static, sqlx::Any>, i64), sqlx::Error> {
        let mut tx = self.db.writes().begin().await?;
        let version: i64 =
            sqlx::query("UPDATE registry_version SET version = version + 1 WHERE id = 1 RETURNING version")
                .fetch_one(&mut *tx)
                .await?
                .try_get(0)?;
        if version % CHANGE_LOG_PRUNE_EVERY == 0 {
            let through = version - CHANGE_LOG_VERSIONS;
            sqlx::query("DELETE FROM registry_changes WHERE version <= $1").bind(through).execute(&mut *tx).await?;
            sqlx::query("UPDATE registry_version SET pruned_through = $1 WHERE id = 1 AND pruned_through < $1")
                .bind(through)
                .execute(&mut *tx)
                .await?;
        }
        Ok((tx, version))
    }

    /// Logs the persons (by id hash) whose coverage facts `version` changes; past
    /// `CHANGE_LOG_LIMIT` persons, one marker saying everything changed.
    pub async fn log_changes(
        &self,
        conn: &mut AnyConnection,
        version: i64,
        hashes: &[&[u8]],
    ) -> Result<(), sqlx::Error> {
        if hashes.len() > CHANGE_LOG_LIMIT {
            return self.log_everything_changed(conn, version).await;
        }
        for chunk in hashes.chunks(PARAMS / 2) {
            let sql = format!(
                "INSERT INTO registry_changes (version, id_hash) VALUES {}",
                self.db.backend().values_rows(chunk.len(), 2)
            );
            let mut query = sqlx::query(AssertSqlSafe(sql));
            for hash in chunk {
                query = query.bind(version).bind(*hash);
            }
            query.execute(&mut *conn).await?;
        }
        Ok(())
    }

    pub async fn log_everything_changed(&self, conn: &mut AnyConnection, version: i64) -> Result<(), sqlx::Error> {
        sqlx::query("INSERT INTO registry_changes (version, id_hash) VALUES ($1, $2)")
            .bind(version)
            .bind(Vec::<u8>::new())
            .execute(&mut *conn)
            .await?;
        Ok(())
    }

    /// Logs every member of a household as changed.
    pub(crate) async fn log_household_changed(
        &self,
        conn: &mut AnyConnection,
        version: i64,
        household_id: i64,
    ) -> Result<(), sqlx::Error> {
        sqlx::query(
            "INSERT INTO registry_changes (version, id_hash) SELECT $1, id_hash FROM persons WHERE household_id = $2",
        )
        .bind(version)
        .bind(household_id)
        .execute(&mut *conn)
        .await?;
        Ok(())
    }
}
