//! A service's data as its store sees it: the database and the cipher of its PII, and the
//! audit call that chains a record with that cipher. Each service's `Store` wraps one and adds
//! its statements.

use crate::audit::{self, AuditEntry};
use crate::crypto::PiiCipher;
use crate::db::Db;
use sqlx::AnyConnection;

#[derive(Debug, Clone)]
pub struct Storage {
    pub db: Db,
    pub cipher: PiiCipher,
}

impl Storage {
    pub fn new(db: Db, cipher: PiiCipher) -> Self {
        Self { db, cipher }
    }

    pub fn db(&self) -> &Db {
        &self.db
    }

    pub fn cipher(&self) -> &PiiCipher {
        &self.cipher
    }

    /// Appends `entry` to the service's audit chain, inside the caller's transaction.
    pub async fn audit(&self, conn: &mut AnyConnection, entry: AuditEntry<'_>) -> Result<i64, sqlx::Error> {
        audit::append(conn, &self.cipher, &entry).await
    }
}
