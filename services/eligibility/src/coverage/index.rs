//! Every registered person's coverage facts in memory, never older than the request asking.
//!
//! Every registry write bumps `registry_version` and logs the persons it touched under the new
//! version, in its own transaction, whichever process or replica makes it. Before answering, a
//! request needs a reading of that version that *started after the request arrived*; if the
//! index is behind it, the index first catches up, reloading only the persons logged as
//! changed; after a bulk import it reloads everything in the background, and requests are
//! answered from the database meanwhile (no request waits for a whole-registry reload). So
//! every write committed before a request is reflected in its answer. Concurrent requests share one reading (at most one is in flight):
//! under load one cheap query serves dozens of lookups.

use crate::coverage::store::PersonRecord;
use crate::store::Store;
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, PoisonError, RwLock};
use tokio::sync::{Mutex, Notify};

/// Coalesces readings of the registry version.
#[derive(Debug)]
struct VersionReader {
    /// Readings started so far; a reading's number is this counter's value after it started.
    started: AtomicU64,
    /// Whether a reading is in flight (at most one is).
    in_flight: AtomicBool,
    /// Wakes every waiter at once when a reading ends (no convoy through a queue).
    finished: Notify,
    /// The newest finished reading: (its number, the version it read).
    latest: std::sync::Mutex<(u64, i64)>,
    /// A connection kept for readings, so a reading is one round trip and no pool hand-off.
    connection: Mutex<Option<sqlx::pool::PoolConnection<sqlx::Any>>>,
}

/// Ends a reading even if the request that made it is cancelled mid-way.
struct ReadingTurn<'a>(&'a VersionReader);

impl Drop for ReadingTurn<'_> {
    fn drop(&mut self) {
        self.0.in_flight.store(false, Ordering::SeqCst);
        self.0.finished.notify_waiters();
    }
}

impl VersionReader {
    fn new() -> Self {
        Self {
            started: AtomicU64::new(0),
            in_flight: AtomicBool::new(false),
            finished: Notify::new(),
            latest: std::sync::Mutex::new((0, -1)),
            connection: Mutex::new(None),
        }
    }

    fn latest(&self) -> (u64, i64) {
        *self.latest.lock().unwrap_or_else(PoisonError::into_inner)
    }

    async fn read(&self, store: &Store) -> Result<(i64, i64), sqlx::Error> {
        let mut connection = self.connection.lock().await;
        if connection.is_none() {
            *connection = Some(store.db().reads().acquire().await?);
        }
        let conn = connection.as_mut().expect("just acquired");
        let reading = store.registry_version_on(conn).await;
        if reading.is_err() {
            // A broken connection is replaced on the next reading.
            *connection = None;
        }
        reading
    }

    /// A registry version read after this call began.
    async fn current(&self, store: &Store) -> Result<i64, sqlx::Error> {
        // Any reading numbered `needed` or later started after this point.
        let needed = self.started.load(Ordering::SeqCst) + 1;
        loop {
            // Registered before looking, so the end of a reading cannot slip by unnoticed.
            let finished = self.finished.notified();
            let (number, version) = self.latest();
            if number >= needed {
                return Ok(version);
            }
            if !self.in_flight.swap(true, Ordering::SeqCst) {
                let _turn = ReadingTurn(self);
                let number = self.started.fetch_add(1, Ordering::SeqCst) + 1;
                let (version, _) = self.read(store).await?;
                let mut latest = self.latest.lock().unwrap_or_else(PoisonError::into_inner);
                if number > latest.0 {
                    *latest = (number, version);
                }
                if number >= needed {
                    return Ok(version);
                }
                continue;
            }
            finished.await;
        }
    }
}

#[derive(Debug)]
struct Indexed {
    /// The registry version the index reflects at least (-1: not loaded yet).
    version: i64,
    persons: HashMap<Vec<u8>, Arc<PersonRecord>>,
}

#[derive(Debug)]
pub struct CoverageIndex {
    reader: VersionReader,
    indexed: RwLock<Indexed>,
    /// One catch-up at a time; the others wait for it.
    catching_up: Mutex<()>,
    /// A full reload (after a bulk change) runs in the background; meanwhile requests are
    /// answered from the database, so no request waits for a reload of the whole registry.
    reloading: AtomicBool,
}

impl Default for CoverageIndex {
    fn default() -> Self {
        Self::new()
    }
}

impl CoverageIndex {
    pub fn new() -> Self {
        Self {
            reader: VersionReader::new(),
            indexed: RwLock::new(Indexed { version: -1, persons: HashMap::new() }),
            catching_up: Mutex::new(()),
            reloading: AtomicBool::new(false),
        }
    }

    /// The person's record (`None`: not registered) as of a state no older than this call.
    pub async fn person(
        self: &Arc<Self>,
        store: &Store,
        id_hash: &[u8],
    ) -> Result<Option<Arc<PersonRecord>>, sqlx::Error> {
        let needed = self.reader.current(store).await?;
        loop {
            {
                let indexed = self.indexed.read().unwrap_or_else(PoisonError::into_inner);
                if indexed.version >= needed {
                    return Ok(indexed.persons.get(id_hash).cloned());
                }
            }
            // Behind while the whole registry reloads: the database itself is at least as new as
            // `needed`, and one indexed query answers exactly.
            if self.reloading.load(Ordering::SeqCst) {
                return store.person_record(id_hash).await;
            }
            let turn = self.catching_up.lock().await;
            // A reload may have started while this request waited for its turn.
            if self.reloading.load(Ordering::SeqCst) {
                drop(turn);
                return store.person_record(id_hash).await;
            }
            let have = self.indexed.read().unwrap_or_else(PoisonError::into_inner).version;
            if have >= needed {
                continue;
            }
            let changes = if have < 0 { None } else { store.changes_since(have).await? };
            match changes {
                Some((version, changed)) => self.apply(version, changed),
                None => {
                    self.reload_in_background(store.clone(), turn);
                    return store.person_record(id_hash).await;
                }
            }
        }
    }

    /// Loads the whole registry now (a server does before it reports SERVING).
    pub async fn load(&self, store: &Store) -> Result<usize, sqlx::Error> {
        let _turn = self.catching_up.lock().await;
        let (version, persons) = store.load_registry().await?;
        let count = persons.len();
        self.replace(version, persons);
        Ok(count)
    }

    /// The whole index, as a full load read it.
    fn replace(&self, version: i64, persons: HashMap<Vec<u8>, Arc<PersonRecord>>) {
        *self.indexed.write().unwrap_or_else(PoisonError::into_inner) = Indexed { version, persons };
    }

    fn apply(&self, version: i64, changed: Vec<(Vec<u8>, Option<Arc<PersonRecord>>)>) {
        let mut indexed = self.indexed.write().unwrap_or_else(PoisonError::into_inner);
        for (hash, record) in changed {
            match record {
                Some(record) => indexed.persons.insert(hash, record),
                None => indexed.persons.remove(&hash),
            };
        }
        indexed.version = indexed.version.max(version);
    }

    /// Starts a full reload that holds the catch-up turn (handed over) until it is done.
    fn reload_in_background(self: &Arc<Self>, store: Store, turn: tokio::sync::MutexGuard<'_, ()>) {
        self.reloading.store(true, Ordering::SeqCst);
        let index = Arc::clone(self);
        // The spawned task takes its own turn; requests meanwhile see `reloading` and ask the
        // database, so releasing ours first lets none of them wait.
        drop(turn);
        tokio::spawn(async move {
            let _turn = index.catching_up.lock().await;
            match store.load_registry().await {
                Ok((version, persons)) => {
                    tracing::info!(version, persons = persons.len(), "coverage index reloaded");
                    index.replace(version, persons);
                }
                // Answers keep coming from the database until a later request reloads again.
                Err(error) => tracing::warn!(%error, "coverage index reload failed"),
            }
            index.reloading.store(false, Ordering::SeqCst);
        });
    }
}
