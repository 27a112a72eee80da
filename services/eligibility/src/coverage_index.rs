//! Every registered person's coverage facts in memory, never older than the request asking.
//!
//! Every registry write bumps `registry_version` and logs the persons it touched under the new
//! version, in its own transaction, whichever process or replica makes it. Before answering, a
//! request needs a reading of that version that *started after the request arrived*; if the
//! index is behind it, the index first catches up (reloading only the persons logged as
//! changed, or everything after a bulk import). So every write committed before a request is
//! reflected in its answer. Concurrent requests share one reading (at most one is in flight):
//! under load one cheap query serves dozens of lookups.

use crate::store::{PersonRecord, Store};
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, PoisonError, RwLock};
use tokio::sync::Mutex;

/// Coalesces readings of the registry version.
#[derive(Debug)]
struct VersionReader {
    /// Readings started so far; a reading's number is this counter's value after it started.
    started: AtomicU64,
    /// One reading at a time; the others queue here (fairly) and then look at `latest`.
    reading: Mutex<()>,
    /// The newest finished reading: (its number, the version it read).
    latest: std::sync::Mutex<(u64, i64)>,
}

impl VersionReader {
    fn new() -> Self {
        Self { started: AtomicU64::new(0), reading: Mutex::new(()), latest: std::sync::Mutex::new((0, -1)) }
    }

    fn latest(&self) -> (u64, i64) {
        *self.latest.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// A registry version read after this call began.
    async fn current(&self, store: &Store) -> Result<i64, sqlx::Error> {
        // Any reading numbered `needed` or later started after this point.
        let needed = self.started.load(Ordering::SeqCst) + 1;
        let (number, version) = self.latest();
        if number >= needed {
            return Ok(version);
        }
        let _turn = self.reading.lock().await;
        // While we queued, a reading that started after we arrived may have finished.
        let (number, version) = self.latest();
        if number >= needed {
            return Ok(version);
        }
        let number = self.started.fetch_add(1, Ordering::SeqCst) + 1;
        let (version, _) = store.registry_version().await?;
        let mut latest = self.latest.lock().unwrap_or_else(PoisonError::into_inner);
        if number > latest.0 {
            *latest = (number, version);
        }
        Ok(version)
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
        }
    }

    /// The person's record (`None`: not registered) as of a state no older than this call.
    pub async fn person(&self, store: &Store, id_hash: &[u8]) -> Result<Option<Arc<PersonRecord>>, sqlx::Error> {
        let needed = self.reader.current(store).await?;
        loop {
            {
                let indexed = self.indexed.read().unwrap_or_else(PoisonError::into_inner);
                if indexed.version >= needed {
                    return Ok(indexed.persons.get(id_hash).cloned());
                }
            }
            let _turn = self.catching_up.lock().await;
            let have = self.indexed.read().unwrap_or_else(PoisonError::into_inner).version;
            if have < needed {
                self.catch_up(store, have).await?;
            }
        }
    }

    /// Loads the whole registry now (a server does before it reports SERVING).
    pub async fn load(&self, store: &Store) -> Result<usize, sqlx::Error> {
        let _turn = self.catching_up.lock().await;
        let (version, persons) = store.load_registry().await?;
        let count = persons.len();
        *self.indexed.write().unwrap_or_else(PoisonError::into_inner) = Indexed { version, persons };
        Ok(count)
    }

    async fn catch_up(&self, store: &Store, have: i64) -> Result<(), sqlx::Error> {
        let changes = if have < 0 { None } else { store.changes_since(have).await? };
        match changes {
            Some((version, changed)) => {
                let mut indexed = self.indexed.write().unwrap_or_else(PoisonError::into_inner);
                for (hash, record) in changed {
                    match record {
                        Some(record) => indexed.persons.insert(hash, record),
                        None => indexed.persons.remove(&hash),
                    };
                }
                indexed.version = indexed.version.max(version);
            }
            None => {
                let (version, persons) = store.load_registry().await?;
                tracing::info!(version, persons = persons.len(), "coverage index reloaded");
                *self.indexed.write().unwrap_or_else(PoisonError::into_inner) = Indexed { version, persons };
            }
        }
        Ok(())
    }
}
