//! The audit trail: every change appended with actor, time, and before/after, each record
//! chained to the previous one by a keyed MAC (so a record cannot be altered, removed or
//! re-chained without the key). Records hold masked personal data only.
//!
//! Appending locks the chain head with an atomic `UPDATE … RETURNING`, in the same transaction
//! as the change it records: the change and its record commit together or not at all, and
//! concurrent writers take sequence numbers one after another.

use crate::crypto::PiiCipher;
use serde_json::Value;
use sqlx::{AnyConnection, Row};

/// Both backends' DDL for the audit tables; each service includes it in its first migration.
pub const AUDIT_DDL: &str = "
CREATE TABLE audit_log (
    seq BIGINT PRIMARY KEY,
    at TEXT NOT NULL,
    actor TEXT NOT NULL,
    action TEXT NOT NULL,
    entity TEXT NOT NULL,
    entity_key TEXT NOT NULL,
    before_json TEXT NOT NULL,
    after_json TEXT NOT NULL,
    prev_mac TEXT NOT NULL,
    mac TEXT NOT NULL
);
CREATE TABLE audit_head (
    id BIGINT PRIMARY KEY CHECK (id = 1),
    seq BIGINT NOT NULL,
    mac TEXT NOT NULL
);
INSERT INTO audit_head (id, seq, mac) VALUES (1, 0, 'genesis');
";

/// One change, as it is recorded.
#[derive(Debug, Clone)]
pub struct AuditEntry<'a> {
    pub actor: &'a str,
    /// What was done: `household.create`, `category_period.close`, `registry.import`.
    pub action: &'a str,
    /// The kind of record changed and its key (never a national ID: a masked form or an id).
    pub entity: &'a str,
    pub entity_key: &'a str,
    pub before: Value,
    pub after: Value,
}

impl<'a> AuditEntry<'a> {
    pub fn new(
        actor: &'a str,
        action: &'a str,
        entity: &'a str,
        entity_key: &'a str,
        before: Value,
        after: Value,
    ) -> Self {
        Self { actor, action, entity, entity_key, before, after }
    }
}

/// Appends `entry` in the caller's transaction; returns its sequence number.
pub async fn append(conn: &mut AnyConnection, cipher: &PiiCipher, entry: &AuditEntry<'_>) -> Result<i64, sqlx::Error> {
    let head = sqlx::query("UPDATE audit_head SET seq = seq + 1 WHERE id = 1 RETURNING seq, mac")
        .fetch_one(&mut *conn)
        .await?;
    let seq: i64 = head.try_get("seq")?;
    let prev_mac: String = head.try_get("mac")?;
    let at = crate::now_rfc3339();
    let (before, after) = (entry.before.to_string(), entry.after.to_string());
    let mac = record_mac(
        cipher,
        seq,
        &at,
        entry.actor,
        entry.action,
        entry.entity,
        entry.entity_key,
        &before,
        &after,
        &prev_mac,
    );
    sqlx::query(
        "INSERT INTO audit_log (seq, at, actor, action, entity, entity_key, before_json, after_json, prev_mac, mac)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
    )
    .bind(seq)
    .bind(&at)
    .bind(entry.actor)
    .bind(entry.action)
    .bind(entry.entity)
    .bind(entry.entity_key)
    .bind(&before)
    .bind(&after)
    .bind(&prev_mac)
    .bind(&mac)
    .execute(&mut *conn)
    .await?;
    sqlx::query("UPDATE audit_head SET mac = $1 WHERE id = 1").bind(&mac).execute(&mut *conn).await?;
    Ok(seq)
}

#[allow(clippy::too_many_arguments)]
fn record_mac(
    cipher: &PiiCipher,
    seq: i64,
    at: &str,
    actor: &str,
    action: &str,
    entity: &str,
    entity_key: &str,
    before: &str,
    after: &str,
    prev_mac: &str,
) -> String {
    let seq = seq.to_string();
    cipher.audit_mac(&[
        seq.as_bytes(),
        at.as_bytes(),
        actor.as_bytes(),
        action.as_bytes(),
        entity.as_bytes(),
        entity_key.as_bytes(),
        before.as_bytes(),
        after.as_bytes(),
        prev_mac.as_bytes(),
    ])
}

/// What a verification found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChainReport {
    /// Every record is intact and the head points at the last one.
    Intact { records: i64 },
    /// The first record (by sequence) that is not as it was written, and why.
    Broken { seq: i64, reason: String },
}

/// A point of a chain written down outside it (`SEQ:DIGEST`, as `doudi audit head` prints it):
/// the chain must still hold that record with that MAC. Whoever can rewrite the database can
/// cut records from the end and fix the head row to match; they cannot change an anchor kept
/// elsewhere.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Anchor {
    pub seq: i64,
    pub mac: String,
}

impl std::str::FromStr for Anchor {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let (seq, mac) = text.split_once(':').ok_or("an anchor is SEQ:DIGEST")?;
        let seq = seq.parse::<i64>().ok().filter(|s| *s >= 0).ok_or("an anchor's SEQ is a record number")?;
        Ok(Self { seq, mac: mac.to_owned() })
    }
}

/// The chain's head as stored: (sequence of the last record, its MAC).
pub async fn head(pool: &sqlx::AnyPool) -> Result<Anchor, sqlx::Error> {
    let row = sqlx::query("SELECT seq, mac FROM audit_head WHERE id = 1").fetch_one(pool).await?;
    Ok(Anchor { seq: row.try_get("seq")?, mac: row.try_get("mac")? })
}

/// Walks the chain from the first record; stops at the first violation.
pub async fn verify(pool: &sqlx::AnyPool, cipher: &PiiCipher) -> Result<ChainReport, sqlx::Error> {
    verify_against(pool, cipher, None).await
}

/// The same, and the chain must also hold `anchor`.
pub async fn verify_against(
    pool: &sqlx::AnyPool,
    cipher: &PiiCipher,
    anchor: Option<&Anchor>,
) -> Result<ChainReport, sqlx::Error> {
    let report = walk(pool, cipher, anchor).await?;
    let (Some(anchor), ChainReport::Intact { records }) = (anchor, &report) else { return Ok(report) };
    if anchor.seq > *records {
        return Ok(ChainReport::Broken {
            seq: records + 1,
            reason: format!(
                "the chain ends at record {records}, but an anchor names record {}: records were cut from the end",
                anchor.seq
            ),
        });
    }
    Ok(report)
}

async fn walk(pool: &sqlx::AnyPool, cipher: &PiiCipher, anchor: Option<&Anchor>) -> Result<ChainReport, sqlx::Error> {
    use futures_util::TryStreamExt;
    let mut rows = sqlx::query(
        "SELECT seq, at, actor, action, entity, entity_key, before_json, after_json, prev_mac, mac FROM audit_log ORDER BY seq",
    )
    .fetch(pool);
    let (mut expected_seq, mut prev) = (1i64, String::from("genesis"));
    while let Some(row) = rows.try_next().await? {
        let seq: i64 = row.try_get("seq")?;
        let text = |name: &str| -> Result<String, sqlx::Error> { row.try_get(name) };
        if seq != expected_seq {
            return Ok(ChainReport::Broken {
                seq: expected_seq,
                reason: format!("record {expected_seq} is missing (next is {seq})"),
            });
        }
        if text("prev_mac")? != prev {
            return Ok(ChainReport::Broken { seq, reason: "does not chain to the previous record".into() });
        }
        let mac = record_mac(
            cipher,
            seq,
            &text("at")?,
            &text("actor")?,
            &text("action")?,
            &text("entity")?,
            &text("entity_key")?,
            &text("before_json")?,
            &text("after_json")?,
            &prev,
        );
        if mac != text("mac")? {
            return Ok(ChainReport::Broken { seq, reason: "content was altered after it was written".into() });
        }
        if let Some(anchor) = anchor.filter(|a| a.seq == seq && a.mac != mac) {
            return Ok(ChainReport::Broken {
                seq,
                reason: format!("differs from the anchor {}:{}: the chain was rewritten", anchor.seq, anchor.mac),
            });
        }
        prev = mac;
        expected_seq += 1;
    }
    drop(rows);
    let head = sqlx::query("SELECT seq, mac FROM audit_head WHERE id = 1").fetch_one(pool).await?;
    let (head_seq, head_mac): (i64, String) = (head.try_get("seq")?, head.try_get("mac")?);
    if head_seq != expected_seq - 1 || head_mac != prev {
        return Ok(ChainReport::Broken {
            seq: expected_seq.min(head_seq),
            reason: format!(
                "the chain ends at record {} but its head says {head_seq}: records were removed from the end",
                expected_seq - 1
            ),
        });
    }
    Ok(ChainReport::Intact { records: expected_seq - 1 })
}
