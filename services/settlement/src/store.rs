//! The settlement service's database handle and what its capabilities' statements share: the
//! migrations, the person's key, keyed digests and encryption of PII. Each capability adds its
//! own statements to `Store` in its folder's `store.rs`.

use crate::settle::known_years::KnownYears;
use doudi_runtime::Storage;
use doudi_runtime::audit;
use doudi_runtime::crypto::PiiCipher;
use doudi_runtime::db::{Db, Migration, Migrations};
use doudi_runtime::sealing::SealedColumn;
use std::sync::Arc;

pub static MIGRATIONS: Migrations = Migrations { sqlite: SQLITE, postgres: POSTGRES };

const SETTLEMENTS: &str = include_str!("../migrations/0001_settlements.sql");

const SQLITE: &[Migration] = &[
    Migration { version: 1, name: "settlements", sql: SETTLEMENTS },
    Migration { version: 2, name: "outbox", sql: include_str!("../migrations/sqlite/0002_outbox.sql") },
    Migration {
        version: 3,
        name: "outbox_messages",
        sql: include_str!("../migrations/sqlite/0003_outbox_messages.sql"),
    },
    Migration { version: 4, name: "access_log", sql: include_str!("../migrations/sqlite/0004_access_log.sql") },
    // Reversals and premium-subsidy runs are chained like every service's changes. (Each
    // settlement is its own immutable row with its access-log line; chaining every one would
    // put all settlements in one queue at the chain's head.)
    Migration { version: 5, name: "audit", sql: audit::AUDIT_DDL },
    Migration { version: 6, name: "sealed_outbox", sql: include_str!("../migrations/sqlite/0006_sealed_outbox.sql") },
];

const POSTGRES: &[Migration] = &[
    Migration { version: 1, name: "settlements", sql: SETTLEMENTS },
    Migration { version: 2, name: "outbox", sql: include_str!("../migrations/postgres/0002_outbox.sql") },
    Migration {
        version: 3,
        name: "outbox_messages",
        sql: include_str!("../migrations/postgres/0003_outbox_messages.sql"),
    },
    Migration { version: 4, name: "access_log", sql: include_str!("../migrations/postgres/0004_access_log.sql") },
    // Reversals and premium-subsidy runs are chained like every service's changes. (Each
    // settlement is its own immutable row with its access-log line; chaining every one would
    // put all settlements in one queue at the chain's head.)
    Migration { version: 5, name: "audit", sql: audit::AUDIT_DDL },
    Migration { version: 6, name: "sealed_outbox", sql: include_str!("../migrations/postgres/0006_sealed_outbox.sql") },
];

pub(crate) fn corrupt(what: &str) -> sqlx::Error {
    sqlx::Error::Decode(format!("stored {what} is not valid").into())
}

/// The database and PII cipher (`Storage`), with the statements of every capability.
#[derive(Debug, Clone)]
pub struct Store {
    storage: Storage,
    /// The accumulators this process last wrote or read: the first guess of a compare-and-set
    /// settlement (PostgreSQL).
    pub(crate) known_years: Arc<KnownYears>,
}

impl std::ops::Deref for Store {
    type Target = Storage;

    fn deref(&self) -> &Storage {
        &self.storage
    }
}

impl Store {
    pub fn new(db: Db, cipher: PiiCipher) -> Self {
        Self { storage: Storage::new(db, cipher), known_years: Arc::default() }
    }

    pub fn person_key(&self, national_id: &doudi_core::NationalId) -> Vec<u8> {
        self.cipher.person_key(national_id)
    }

    /// A keyed digest (not a bare hash: national IDs are too few to hide behind SHA-256).
    pub fn keyed_digest(&self, kind: &str, value: &str) -> Vec<u8> {
        self.cipher.blind_index(kind, value)
    }

    /// `plaintext` sealed to its column and row.
    pub fn seal(&self, column: &SealedColumn, row: &str, plaintext: &str) -> Vec<u8> {
        self.cipher.seal(column.place(row), plaintext)
    }
}

/// The settlement service's sealed personal data, each bound to its row's natural key (a
/// settlement's id is made before it is written; a premium subsidy is one per person and year).
pub const SETTLEMENT_ID: SealedColumn =
    SealedColumn { table: "settlements", column: "national_id_enc", key: &["id"], hex_text: false };
pub const PREMIUM_ID: SealedColumn = SealedColumn {
    table: "premium_subsidies",
    column: "national_id_enc",
    key: &["person_key", "year"],
    hex_text: false,
};
pub const SEALED_COLUMNS: [SealedColumn; 2] = [SETTLEMENT_ID, PREMIUM_ID];
