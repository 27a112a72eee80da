//! The outbox table: messages queued inside a change's transaction, and those waiting for the
//! relay.

use crate::outbox::{Event, decode};
use crate::store::{Store, corrupt};
use sqlx::{AnyConnection, Row};

/// A message waiting for delivery.
#[derive(Debug, Clone, PartialEq)]
pub struct OutboxMessage {
    pub topic: String,
    pub key: String,
    pub event: Event,
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
    sqlx::query("INSERT INTO outbox_messages (topic, message_key, payload, created_at) VALUES ($1, $2, $3, $4)")
        .bind(topic)
        .bind(key)
        .bind(payload)
        .bind(now)
        .execute(conn)
        .await?;
    Ok(())
}

impl Store {
    /// Messages waiting for the relay, oldest first.
    pub async fn outbox_pending(&self, limit: i64) -> Result<Vec<OutboxMessage>, sqlx::Error> {
        let rows = sqlx::query(
            "SELECT topic, message_key, payload FROM outbox_messages WHERE delivered_at IS NULL ORDER BY id LIMIT $1",
        )
        .bind(limit)
        .fetch_all(self.db.reads())
        .await?;
        rows.iter()
            .map(|r| {
                let payload: Vec<u8> = r.try_get("payload")?;
                Ok(OutboxMessage {
                    topic: r.try_get("topic")?,
                    key: r.try_get("message_key")?,
                    event: decode(&payload).ok_or_else(|| corrupt("outbox payload"))?,
                })
            })
            .collect()
    }
}
