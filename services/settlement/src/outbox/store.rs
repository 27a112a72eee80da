//! The outbox table: messages queued inside a change's transaction, and those waiting for the
//! relay. A message naming a person is sealed to its row; the others are plain protobuf.

use crate::outbox::{Event, decode};
use crate::store::{Store, corrupt};
use doudi_runtime::Backend;
use doudi_runtime::crypto::{PiiCipher, Place};
use doudi_runtime::relay::{Outbox, PendingMessage};
use sqlx::{AnyConnection, Row};

/// A message waiting for delivery.
#[derive(Debug, Clone, PartialEq)]
pub struct OutboxMessage {
    pub topic: String,
    pub key: String,
    pub event: Event,
}

/// What the relay's backlog looks like: messages waiting, and when the oldest was written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Backlog {
    pub waiting: i64,
    pub oldest_created_at: Option<String>,
}

fn payload_place(key: &str) -> Place<'_> {
    Place::new("outbox_messages", "payload", key)
}

/// Queues `payload` (an encoded event) under `key`, inside the caller's transaction. A key
/// already queued is a unique violation: the change it announces was made twice.
pub(crate) async fn enqueue(
    conn: &mut AnyConnection,
    topic: &str,
    key: &str,
    payload: Vec<u8>,
    now: &str,
) -> Result<(), sqlx::Error> {
    insert(conn, topic, key, payload, now, false).await
}

/// `enqueue` for a message that names a person: sealed to its row.
pub(crate) async fn enqueue_sealed(
    conn: &mut AnyConnection,
    cipher: &PiiCipher,
    topic: &str,
    key: &str,
    payload: Vec<u8>,
    now: &str,
) -> Result<(), sqlx::Error> {
    let sealed = cipher.seal_bytes(payload_place(key), &payload);
    insert(conn, topic, key, sealed, now, true).await
}

/// One message of `enqueue_many`.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Message<'a> {
    pub key: &'a str,
    pub payload: &'a [u8],
    pub now: &'a str,
}

/// `enqueue` of several messages of one topic, in one statement (a commit group's).
pub(crate) async fn enqueue_many(
    conn: &mut AnyConnection,
    backend: Backend,
    topic: &str,
    messages: &[Message<'_>],
) -> Result<(), sqlx::Error> {
    let sql = format!(
        "INSERT INTO outbox_messages (topic, message_key, payload, created_at, sealed) VALUES {}",
        backend.values_rows(messages.len(), 5)
    );
    let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
    for m in messages {
        query = query.bind(topic).bind(m.key).bind(m.payload).bind(m.now).bind(0i64);
    }
    query.execute(conn).await?;
    Ok(())
}

async fn insert(
    conn: &mut AnyConnection,
    topic: &str,
    key: &str,
    payload: Vec<u8>,
    now: &str,
    sealed: bool,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO outbox_messages (topic, message_key, payload, created_at, sealed) VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(topic)
    .bind(key)
    .bind(payload)
    .bind(now)
    .bind(i64::from(sealed))
    .execute(conn)
    .await?;
    Ok(())
}

impl Store {
    /// Messages waiting for the relay, oldest first, payloads opened.
    pub async fn outbox_waiting(&self, limit: i64) -> Result<Vec<PendingMessage>, sqlx::Error> {
        let rows = sqlx::query(
            "SELECT id, topic, message_key, payload, sealed FROM outbox_messages WHERE delivered_at IS NULL \
             ORDER BY id LIMIT $1",
        )
        .bind(limit)
        .fetch_all(self.db.reads())
        .await?;
        rows.iter()
            .map(|r| {
                let key: String = r.try_get("message_key")?;
                let stored: Vec<u8> = r.try_get("payload")?;
                let payload = if r.try_get::<i64, _>("sealed")? == 1 {
                    self.cipher
                        .open_bytes(payload_place(&key), &stored)
                        .map_err(|_| corrupt("sealed outbox payload"))?
                } else {
                    stored
                };
                Ok(PendingMessage { id: r.try_get("id")?, topic: r.try_get("topic")?, key, payload })
            })
            .collect()
    }

    /// Messages waiting for the relay, oldest first, decoded.
    pub async fn outbox_pending(&self, limit: i64) -> Result<Vec<OutboxMessage>, sqlx::Error> {
        self.outbox_waiting(limit)
            .await?
            .into_iter()
            .map(|m| {
                let event = decode(&m.payload).ok_or_else(|| corrupt("outbox payload"))?;
                Ok(OutboxMessage { topic: m.topic, key: m.key, event })
            })
            .collect()
    }

    pub async fn outbox_mark_delivered(&self, id: i64) -> Result<(), sqlx::Error> {
        sqlx::query("UPDATE outbox_messages SET delivered_at = $1 WHERE id = $2 AND delivered_at IS NULL")
            .bind(doudi_runtime::now_rfc3339())
            .bind(id)
            .execute(self.db.writes())
            .await?;
        Ok(())
    }

    pub async fn outbox_backlog(&self) -> Result<Backlog, sqlx::Error> {
        let row = sqlx::query(
            "SELECT COUNT(*) AS waiting, MIN(created_at) AS oldest FROM outbox_messages WHERE delivered_at IS NULL",
        )
        .fetch_one(self.db.reads())
        .await?;
        Ok(Backlog { waiting: row.try_get("waiting")?, oldest_created_at: row.try_get("oldest")? })
    }
}

impl Outbox for Store {
    async fn pending(&self, limit: i64) -> Result<Vec<PendingMessage>, sqlx::Error> {
        self.outbox_waiting(limit).await
    }

    async fn mark_delivered(&self, id: i64) -> Result<(), sqlx::Error> {
        self.outbox_mark_delivered(id).await
    }
}
