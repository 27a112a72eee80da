//! The relief service's database: migrations, the sealed columns, and its outbox to the payment
//! service (what the relay reads).

use doudi_runtime::audit;
use doudi_runtime::crypto::{PiiCipher, Place};
use doudi_runtime::db::{Db, Migration, Migrations};
use doudi_runtime::relay::{Outbox, PendingMessage};
use doudi_runtime::sealing::SealedColumn;
use doudi_runtime::storage::Storage;
use sqlx::{AnyConnection, Row};

pub static MIGRATIONS: Migrations = Migrations { sqlite: SQLITE, postgres: POSTGRES };

const SQLITE: &[Migration] = &[
    Migration { version: 1, name: "relief", sql: include_str!("../migrations/sqlite/0001_relief.sql") },
    Migration { version: 2, name: "audit", sql: audit::AUDIT_DDL },
    Migration { version: 3, name: "intake", sql: include_str!("../migrations/sqlite/0003_intake.sql") },
];

const POSTGRES: &[Migration] = &[
    Migration { version: 1, name: "relief", sql: include_str!("../migrations/postgres/0001_relief.sql") },
    Migration { version: 2, name: "audit", sql: audit::AUDIT_DDL },
    Migration { version: 3, name: "intake", sql: include_str!("../migrations/postgres/0003_intake.sql") },
];

/// The person an intake names (not yet registered), sealed to the intake.
pub const INTAKE_PERSON: SealedColumn =
    SealedColumn { table: "intakes", column: "person_enc", key: &["id"], hex_text: false };

/// A case's person (name, national ID) and account, sealed to the household it counts under.
pub const CASE_NAME: SealedColumn =
    SealedColumn { table: "cases", column: "person_name_enc", key: &["household_key"], hex_text: false };
pub const CASE_NATIONAL_ID: SealedColumn =
    SealedColumn { table: "cases", column: "national_id_enc", key: &["household_key"], hex_text: false };
pub const CASE_ACCOUNT: SealedColumn =
    SealedColumn { table: "cases", column: "account_enc", key: &["household_key"], hex_text: false };

pub const SEALED_COLUMNS: [SealedColumn; 4] = [CASE_NAME, CASE_NATIONAL_ID, CASE_ACCOUNT, INTAKE_PERSON];

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

fn payload_place(key: &str) -> Place<'_> {
    Place::new("outbox_messages", "payload", key)
}

impl Store {
    pub fn new(db: Db, cipher: PiiCipher) -> Self {
        Self { storage: Storage::new(db, cipher) }
    }

    /// Writes a message in the caller's transaction, sealed (grants carry accounts); a key
    /// already written is left as it is.
    pub(crate) async fn enqueue(
        &self,
        conn: &mut AnyConnection,
        topic: &str,
        key: &str,
        payload: &[u8],
        now: &str,
    ) -> Result<(), sqlx::Error> {
        sqlx::query(
            "INSERT INTO outbox_messages (topic, message_key, payload, created_at) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (message_key) DO NOTHING",
        )
        .bind(topic)
        .bind(key)
        .bind(self.cipher.seal_bytes(payload_place(key), payload))
        .bind(now)
        .execute(conn)
        .await?;
        Ok(())
    }

    /// Messages not yet delivered: (count, oldest created_at).
    pub async fn outbox_backlog(&self) -> Result<(i64, Option<String>), sqlx::Error> {
        let row = sqlx::query(
            "SELECT COUNT(*) AS n, MIN(created_at) AS oldest FROM outbox_messages WHERE delivered_at IS NULL",
        )
        .fetch_one(self.db.reads())
        .await?;
        Ok((row.try_get("n")?, row.try_get("oldest")?))
    }
}

impl Outbox for Store {
    async fn pending(&self, limit: i64) -> Result<Vec<PendingMessage>, sqlx::Error> {
        let rows = sqlx::query(
            "SELECT id, topic, message_key, payload FROM outbox_messages WHERE delivered_at IS NULL ORDER BY id LIMIT $1",
        )
        .bind(limit)
        .fetch_all(self.db.reads())
        .await?;
        rows.iter()
            .map(|r| {
                let key: String = r.try_get("message_key")?;
                let sealed: Vec<u8> = r.try_get("payload")?;
                let payload =
                    self.cipher.open_bytes(payload_place(&key), &sealed).map_err(|_| corrupt("outbox payload"))?;
                Ok(PendingMessage { id: r.try_get("id")?, topic: r.try_get("topic")?, key, payload })
            })
            .collect()
    }

    async fn mark_delivered(&self, id: i64) -> Result<(), sqlx::Error> {
        sqlx::query("UPDATE outbox_messages SET delivered_at = $1 WHERE id = $2 AND delivered_at IS NULL")
            .bind(doudi_runtime::now_rfc3339())
            .bind(id)
            .execute(self.db.writes())
            .await?;
        Ok(())
    }
}
