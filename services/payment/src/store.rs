//! The payment service's database handle: migrations, sealed columns, and the statements every
//! capability shares. Each capability adds its own statements in its folder.

use doudi_runtime::Storage;
use doudi_runtime::audit;
use doudi_runtime::crypto::PiiCipher;
use doudi_runtime::db::{Db, Migration, Migrations};
use doudi_runtime::sealing::SealedColumn;

pub static MIGRATIONS: Migrations = Migrations { sqlite: SQLITE, postgres: POSTGRES };

const SQLITE: &[Migration] = &[
    Migration { version: 1, name: "payment", sql: include_str!("../migrations/sqlite/0001_payment.sql") },
    Migration { version: 2, name: "audit", sql: audit::AUDIT_DDL },
    Migration { version: 3, name: "batches", sql: include_str!("../migrations/sqlite/0003_batches.sql") },
    Migration { version: 4, name: "bank_answers", sql: include_str!("../migrations/sqlite/0004_bank_answers.sql") },
];

const POSTGRES: &[Migration] = &[
    Migration { version: 1, name: "payment", sql: include_str!("../migrations/postgres/0001_payment.sql") },
    Migration { version: 2, name: "audit", sql: audit::AUDIT_DDL },
    Migration { version: 3, name: "batches", sql: include_str!("../migrations/postgres/0003_batches.sql") },
    Migration { version: 4, name: "bank_answers", sql: include_str!("../migrations/postgres/0004_bank_answers.sql") },
];

/// An instruction's account, sealed to the instruction's sender key.
pub const INSTRUCTION_ACCOUNT: SealedColumn =
    SealedColumn { table: "instructions", column: "account_enc", key: &["source", "source_ref"], hex_text: false };
/// A subsidised person's national ID, for the insurer's list.
pub const PREMIUM_PERSON_ID: SealedColumn = SealedColumn {
    table: "premium_subsidies",
    column: "national_id_enc",
    key: &["year", "person_key"],
    hex_text: false,
};
/// A hospital's (or other payee's) account.
pub const PAYEE_ACCOUNT: SealedColumn =
    SealedColumn { table: "payee_accounts", column: "account_enc", key: &["payee_kind", "payee_ref"], hex_text: false };

pub const SEALED_COLUMNS: [SealedColumn; 3] = [INSTRUCTION_ACCOUNT, PREMIUM_PERSON_ID, PAYEE_ACCOUNT];

pub(crate) fn corrupt(what: &str) -> sqlx::Error {
    sqlx::Error::Decode(format!("stored {what} is not valid").into())
}

#[derive(Debug, Clone)]
pub struct Store {
    storage: Storage,
}

impl std::ops::Deref for Store {
    type Target = Storage;

    fn deref(&self) -> &Storage {
        &self.storage
    }
}

impl Store {
    pub fn new(db: Db, cipher: PiiCipher) -> Self {
        Self { storage: Storage::new(db, cipher) }
    }
}
