//! Storage: one database per service, SQLite (embedded default, WAL) or PostgreSQL, chosen by
//! URL. Queries are written once with `$1` placeholders and run on either through sqlx `Any`.
//!
//! SQLite allows one writer at a time; a deferred transaction that later writes fails with
//! SQLITE_BUSY under concurrency. So writes go through a pool of exactly one connection and
//! queue there, while reads use a pool of several. On PostgreSQL both are the same pool.

use sqlx::any::{AnyConnectOptions, AnyPoolOptions};
use sqlx::{AnyPool, Executor, Row};
use std::sync::{Arc, Weak};
use std::{str::FromStr, time::Duration};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

impl Backend {
    pub fn of_url(url: &str) -> Option<Self> {
        if url.starts_with("sqlite:") {
            Some(Backend::Sqlite)
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Some(Backend::Postgres)
        } else {
            None
        }
    }
}

impl Backend {
    /// Bind parameters for `count` values numbered from `start`: `$start, …` on PostgreSQL,
    /// anonymous `?` on SQLite. SQLite looks a named (`$N`) parameter up by a linear scan, which
    /// makes binding a statement of n parameters cost n²; anonymous ones bind in order.
    pub fn placeholders(self, start: usize, count: usize) -> String {
        let one = |i: usize| match self {
            Backend::Sqlite => "?".to_owned(),
            Backend::Postgres => format!("${i}"),
        };
        (start..start + count).map(one).collect::<Vec<_>>().join(", ")
    }

    /// `(…), (…)` for a multi-row `VALUES` of `rows` rows of `cols` parameters.
    pub fn values_rows(self, rows: usize, cols: usize) -> String {
        (0..rows).map(|r| format!("({})", self.placeholders(r * cols + 1, cols))).collect::<Vec<_>>().join(", ")
    }

    /// Bind parameters per generated multi-row statement: well under both limits (SQLite
    /// 32 766, PostgreSQL 65 535) and large enough that a round trip carries many rows.
    pub const PARAMS_PER_STATEMENT: usize = 9000;
}

/// Taken by every transaction of the migrator on PostgreSQL: replicas migrate one at a time.
const MIGRATION_LOCK: &str = "SELECT pg_advisory_xact_lock(7310423)";

/// One migration: applied once, in order, inside a transaction.
#[derive(Debug, Clone, Copy)]
pub struct Migration {
    pub version: i64,
    pub name: &'static str,
    pub sql: &'static str,
}

/// A service's migrations, one set per backend (their DDL differs; their queries do not).
#[derive(Debug, Clone, Copy)]
pub struct Migrations {
    pub sqlite: &'static [Migration],
    pub postgres: &'static [Migration],
}

#[derive(Debug, Clone)]
pub struct Db {
    backend: Backend,
    reads: AnyPool,
    writes: AnyPool,
    /// Held by every clone; the SQLite checkpointer stops once the last one is gone.
    _alive: Arc<()>,
}

#[derive(Debug, thiserror::Error)]
pub enum DbError {
    #[error("database URL must start with sqlite: or postgres://")]
    Url,
    #[error("cannot create the database directory {0}: {1}")]
    Directory(String, std::io::Error),
    #[error("cannot connect to the database: {0}")]
    Connect(sqlx::Error),
    #[error("migration {version} ({name}) failed: {source}")]
    Migration { version: i64, name: &'static str, source: sqlx::Error },
    #[error("the database has migration {0}, newer than this program knows: upgrade the program")]
    NewerSchema(i64),
    #[error("sealing the personal data an older version wrote unbound: {0}")]
    Reseal(sqlx::Error),
}

impl Db {
    /// Connects to `url` and applies the migrations that have not run yet.
    pub async fn open(url: &str, max_connections: u32, migrations: &Migrations) -> Result<Self, DbError> {
        let db = Self::connect(url, max_connections).await?;
        db.migrate(migrations).await?;
        Ok(db)
    }

    pub async fn connect(url: &str, max_connections: u32) -> Result<Self, DbError> {
        sqlx::any::install_default_drivers();
        let backend = Backend::of_url(url).ok_or(DbError::Url)?;
        match backend {
            Backend::Sqlite => {
                let url = sqlite_create_url(url)?;
                // The one writer gets a large page cache: an import's random-keyed index inserts
                // otherwise go back to the OS page cache for every B-tree page.
                let writes = sqlite_pool(&url, 1, 64 * 1024, Checkpoints::Elsewhere).await?;
                let reads = sqlite_pool(&url, max_connections, 8 * 1024, Checkpoints::Elsewhere).await?;
                let checkpoints = sqlite_pool(&url, 1, 1024, Checkpoints::Here).await?;
                let alive = Arc::new(());
                spawn_checkpointer(checkpoints, writes.clone(), Arc::downgrade(&alive));
                Ok(Self { backend, reads, writes, _alive: alive })
            }
            Backend::Postgres => {
                let options = AnyConnectOptions::from_str(url).map_err(DbError::Connect)?;
                let pool = AnyPoolOptions::new()
                    .max_connections(max_connections)
                    .acquire_timeout(Duration::from_secs(5))
                    // No ping before each use: it doubled the round trips of a one-statement
                    // request. A connection the server dropped fails its next query (the caller
                    // gets UNAVAILABLE and retries) and is then replaced.
                    .test_before_acquire(false)
                    .connect_with(options)
                    .await
                    .map_err(DbError::Connect)?;
                Ok(Self { backend, reads: pool.clone(), writes: pool, _alive: Arc::new(()) })
            }
        }
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// For queries that only read.
    pub fn reads(&self) -> &AnyPool {
        &self.reads
    }

    /// For everything that writes, and for reads that decide a write.
    pub fn writes(&self) -> &AnyPool {
        &self.writes
    }

    pub async fn close(&self) {
        self.reads.close().await;
        self.writes.close().await;
    }

    pub async fn migrate(&self, migrations: &Migrations) -> Result<(), DbError> {
        let list = match self.backend {
            Backend::Sqlite => migrations.sqlite,
            Backend::Postgres => migrations.postgres,
        };
        fn failed(m: &Migration) -> impl FnOnce(sqlx::Error) -> DbError + use<> {
            let (version, name) = (m.version, m.name);
            move |source| DbError::Migration { version, name, source }
        }
        let bootstrap = Migration { version: 0, name: "schema_migrations", sql: "" };
        // Under the same lock as the migrations: two replicas creating the table at once would
        // otherwise race (CREATE TABLE IF NOT EXISTS is not atomic on PostgreSQL).
        let mut tx = self.writes.begin().await.map_err(failed(&bootstrap))?;
        if self.backend == Backend::Postgres {
            tx.execute(MIGRATION_LOCK).await.map_err(failed(&bootstrap))?;
        }
        tx.execute(
            "CREATE TABLE IF NOT EXISTS schema_migrations (version BIGINT PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT NOT NULL)",
        )
        .await
        .map_err(failed(&bootstrap))?;
        // One-time steps on the data itself (not the schema), each done once per database:
        // `sealing::reseal_all` records here that a column holds sealed values only.
        tx.execute("CREATE TABLE IF NOT EXISTS data_upgrades (name TEXT PRIMARY KEY, done_at TEXT NOT NULL)")
            .await
            .map_err(failed(&bootstrap))?;
        tx.commit().await.map_err(failed(&bootstrap))?;
        for migration in list {
            let mut tx = self.writes.begin().await.map_err(failed(migration))?;
            if self.backend == Backend::Postgres {
                // Replicas starting together: one applies, the others wait and then skip.
                tx.execute(MIGRATION_LOCK).await.map_err(failed(migration))?;
            }
            let applied: Option<(i64,)> = sqlx::query_as("SELECT version FROM schema_migrations WHERE version = $1")
                .bind(migration.version)
                .fetch_optional(&mut *tx)
                .await
                .map_err(failed(migration))?;
            if applied.is_some() {
                continue;
            }
            sqlx::raw_sql(sqlx::AssertSqlSafe(migration.sql)).execute(&mut *tx).await.map_err(failed(migration))?;
            sqlx::query("INSERT INTO schema_migrations (version, name, applied_at) VALUES ($1, $2, $3)")
                .bind(migration.version)
                .bind(migration.name)
                .bind(crate::now_rfc3339())
                .execute(&mut *tx)
                .await
                .map_err(failed(migration))?;
            tx.commit().await.map_err(failed(migration))?;
        }
        let newest: (Option<i64>,) = sqlx::query_as("SELECT MAX(version) FROM schema_migrations")
            .fetch_one(&self.writes)
            .await
            .map_err(failed(&bootstrap))?;
        let known = list.last().map_or(0, |m| m.version);
        match newest.0 {
            Some(v) if v > known => Err(DbError::NewerSchema(v)),
            _ => Ok(()),
        }
    }
}

/// Makes sure the file's directory exists and the file is created on first open.
fn sqlite_create_url(url: &str) -> Result<String, DbError> {
    let path = url.trim_start_matches("sqlite://").trim_start_matches("sqlite:");
    let (file, query) = path.split_once('?').unwrap_or((path, ""));
    if file != ":memory:"
        && !file.is_empty()
        && let Some(dir) = std::path::Path::new(file).parent().filter(|d| !d.as_os_str().is_empty())
    {
        std::fs::create_dir_all(dir).map_err(|e| DbError::Directory(dir.display().to_string(), e))?;
    }
    Ok(if query.contains("mode=") {
        url.to_owned()
    } else if query.is_empty() {
        format!("{url}?mode=rwc")
    } else {
        format!("{url}&mode=rwc")
    })
}

/// Who moves a SQLite database's write-ahead log into its file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Checkpoints {
    /// This connection, when its commits grow the log past SQLite's threshold.
    Here,
    /// The checkpointer's own connection: a commit never waits for a checkpoint's fsyncs.
    Elsewhere,
}

/// How often the checkpointer moves the log into the database file.
const CHECKPOINT_EVERY: Duration = Duration::from_millis(200);
/// Pages in the log past which the checkpointer also restarts it. Under steady reads and writes
/// a passive checkpoint never finds the log unused, and the writer only starts the log over
/// when it is: without a restart the settlement log grew by 2 GB in 40 s at 2 500 settlements
/// a second. 65 536 pages: 256 MiB at SQLite's 4 KiB pages, a restart every few seconds at that
/// rate (one every 64 MiB stalled writers often enough to double the p99 at 64 in flight); 64 in
/// the tests, which write less.
const RESTART_AFTER_PAGES: i64 = if cfg!(test) { 64 } else { 65_536 };
/// What a log file is cut back to when it starts over.
const LOG_FILE_LIMIT_BYTES: i64 = 64 * 1024 * 1024;
/// How long a restart waits for readers to leave the log before it gives up until the next
/// round: it holds the one writer connection meanwhile, so never long.
const RESTART_WAITS_MS: u32 = 50;
/// The writer's usual wait for a lock (another process, a restart on its way out).
const BUSY_TIMEOUT_MS: u32 = 10_000;

/// Checkpoints the log from `pool` (its own connection) until the database is closed. PASSIVE:
/// it never blocks the writer or a reader, and copies what no reader still needs. Past
/// `RESTART_AFTER_PAGES` also RESTART, on the writer's connection (`writes`): it waits its turn
/// behind the transaction in progress like any write, and no write can slip in while it waits
/// for the readers (from a connection of its own it lost that race under steady writes).
fn spawn_checkpointer(pool: AnyPool, writes: AnyPool, alive: Weak<()>) {
    tokio::spawn(async move {
        let mut every = tokio::time::interval(CHECKPOINT_EVERY);
        every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            every.tick().await;
            if alive.strong_count() == 0 {
                break;
            }
            if let Err(e) = checkpoint(&pool, &writes).await {
                tracing::warn!(error = %e, "SQLite checkpoint failed; the next one retries");
            }
        }
        pool.close().await;
    });
}

async fn checkpoint(pool: &AnyPool, writes: &AnyPool) -> Result<(), sqlx::Error> {
    // One row: busy (0 or 1), pages in the log, pages checkpointed.
    let passive = sqlx::query("PRAGMA wal_checkpoint(PASSIVE)").fetch_one(pool).await?;
    let log_pages: i64 = passive.try_get(1)?;
    if log_pages <= RESTART_AFTER_PAGES {
        return Ok(());
    }
    let mut writer = writes.acquire().await?;
    writer.execute(sqlx::AssertSqlSafe(format!("PRAGMA busy_timeout = {RESTART_WAITS_MS}"))).await?;
    let restart = sqlx::query("PRAGMA wal_checkpoint(RESTART)").fetch_one(&mut *writer).await;
    if let Err(e) = writer.execute(sqlx::AssertSqlSafe(format!("PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}"))).await {
        // A writer left with the restart's short wait would fail writes it should wait for: the
        // pool opens a new one instead.
        writer.close_on_drop();
        return Err(e);
    }
    let busy: i64 = restart?.try_get(0)?;
    if busy != 0 {
        tracing::debug!(log_pages, "SQLite log not restarted: a reader still in it; the next round retries");
    }
    Ok(())
}

async fn sqlite_pool(
    url: &str,
    max_connections: u32,
    cache_kib: u32,
    checkpoints: Checkpoints,
) -> Result<AnyPool, DbError> {
    let options = AnyConnectOptions::from_str(url).map_err(DbError::Connect)?;
    AnyPoolOptions::new()
        .max_connections(max_connections)
        .acquire_timeout(Duration::from_secs(30))
        // A file, not a server: nothing to ping.
        .test_before_acquire(false)
        .after_connect(move |conn, _| {
            Box::pin(async move {
                conn.execute(sqlx::AssertSqlSafe(format!("PRAGMA cache_size = -{cache_kib}"))).await?;
                // WAL: readers never block the writer. NORMAL sync is durable across process
                // crashes in WAL mode (an OS crash may lose the last commits, never corrupt).
                conn.execute("PRAGMA journal_mode = WAL").await?;
                conn.execute("PRAGMA synchronous = NORMAL").await?;
                conn.execute(sqlx::AssertSqlSafe(format!("PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}"))).await?;
                conn.execute(sqlx::AssertSqlSafe(format!("PRAGMA journal_size_limit = {LOG_FILE_LIMIT_BYTES}")))
                    .await?;
                conn.execute("PRAGMA foreign_keys = ON").await?;
                if checkpoints == Checkpoints::Elsewhere {
                    conn.execute("PRAGMA wal_autocheckpoint = 0").await?;
                }
                Ok(())
            })
        })
        .connect_with(options)
        .await
        .map_err(DbError::Connect)
}

#[cfg(test)]
mod checkpoint_tests {
    use super::*;
    use std::time::Instant;

    /// Writes that never stop, beside readers that never stop: a passive checkpoint alone never
    /// finds the log unused, so the log would grow with every page written.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_log_starts_over_under_steady_reads_and_writes() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("log.db").display());
        let db = Db::connect(&url, 4).await.unwrap();
        sqlx::query("CREATE TABLE t (id INTEGER PRIMARY KEY, body BLOB)").execute(db.writes()).await.unwrap();
        let readers: Vec<_> = (0..2)
            .map(|_| {
                let reads = db.reads().clone();
                tokio::spawn(async move {
                    loop {
                        // Short reads, as a service's are: a long one holds any restart off.
                        let _ = sqlx::query("SELECT LENGTH(body) FROM t WHERE id = (SELECT MAX(id) FROM t)")
                            .fetch_optional(&reads)
                            .await;
                    }
                })
            })
            .collect();
        let started = Instant::now();
        let mut inserts = 0_i64;
        while started.elapsed() < Duration::from_millis(1500) || inserts < 1000 {
            sqlx::query("INSERT INTO t (body) VALUES (zeroblob(8000))").execute(db.writes()).await.unwrap();
            inserts += 1;
        }
        for reader in readers {
            reader.abort();
        }
        // Each insert adds at least two pages of its own to the log.
        let written_pages = 2 * inserts;
        let passive = sqlx::query("PRAGMA wal_checkpoint(PASSIVE)").fetch_one(db.writes()).await.unwrap();
        let log_pages: i64 = passive.try_get(1).unwrap();
        assert!(log_pages < written_pages / 2, "the log holds {log_pages} pages after {written_pages} were written");
    }
}
