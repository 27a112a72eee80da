//! The hospitals allowed to settle, with their API keys (stored as hashes, see `keys`). Adding a
//! hospital, rotating its key and revoking it are audited in the gateway's chain.

use crate::error::{GatewayError, Result};
use crate::hospitals::keys::{Hospital, KeyHolder, check_code, key_hash, new_api_key, parse_level};
use doudi_core::Violations;
use doudi_core::pii::BankAccount;
use doudi_runtime::Storage;
use doudi_runtime::audit::{self, AuditEntry};
use doudi_runtime::crypto::PiiCipher;
use doudi_runtime::db::{Db, Migration, Migrations};
use doudi_runtime::sealing::SealedColumn;
use serde_json::json;
use sqlx::Row;

pub static MIGRATIONS: Migrations = Migrations { sqlite: MIGRATION_SET, postgres: MIGRATION_SET };

// The same DDL serves both backends: text, BIGINT-free, BLOB-free apart from the account, which
// is stored hex-encoded after encryption.
const MIGRATION_SET: &[Migration] = &[
    Migration { version: 1, name: "audit", sql: audit::AUDIT_DDL },
    Migration {
        version: 2,
        name: "hospitals",
        sql: "
CREATE TABLE hospitals (
    code TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    level TEXT NOT NULL,
    account_enc TEXT,
    key_hash TEXT NOT NULL UNIQUE,
    key_issued_at TEXT NOT NULL,
    revoked_at TEXT,
    created_at TEXT NOT NULL
);
",
    },
];

/// A hospital's account, sealed to its row (keyed by code), hex in a text column.
pub const HOSPITAL_ACCOUNT: SealedColumn =
    SealedColumn { table: "hospitals", column: "account_enc", key: &["code"], hex_text: true };

/// The gateway's database and PII cipher (`Storage`), with the hospitals' statements.
#[derive(Debug, Clone)]
pub struct HospitalStore(Storage);

impl std::ops::Deref for HospitalStore {
    type Target = Storage;

    fn deref(&self) -> &Storage {
        &self.0
    }
}

impl HospitalStore {
    pub fn new(db: Db, cipher: PiiCipher) -> Self {
        Self(Storage::new(db, cipher))
    }

    /// Registers a hospital; returns its first API key.
    pub async fn add(&self, code: &str, name: &str, level: &str, account: Option<&str>, actor: &str) -> Result<String> {
        let mut violations = Violations::new();
        violations.check("code", check_code(code));
        let name = name.trim();
        if name.is_empty() || name.chars().count() > 100 {
            violations.add("name", "must be 1 to 100 characters");
        }
        let level = parse_level(level);
        if level.is_none() {
            violations.add("level", "must be TOWNSHIP, COUNTY, MUNICIPAL or PROVINCIAL");
        }
        let account = account.and_then(|a| violations.check("account", BankAccount::parse(a)));
        let Some(level) = level.filter(|_| violations.is_empty()) else {
            return Err(violations.into());
        };
        let key = new_api_key();
        let now = doudi_runtime::now_rfc3339();
        let mut tx = self.db.writes().begin().await?;
        let inserted = sqlx::query(
            "INSERT INTO hospitals (code, name, level, account_enc, key_hash, key_issued_at, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $6) ON CONFLICT (code) DO NOTHING",
        )
        .bind(code)
        .bind(name)
        .bind(level.as_str())
        .bind(account.as_ref().map(|a| hex::encode(self.cipher.seal(HOSPITAL_ACCOUNT.place(code), a.expose()))))
        .bind(key_hash(&key))
        .bind(&now)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if inserted == 0 {
            return Err(GatewayError::HospitalExists(code.to_owned()));
        }
        let after = json!({
            "code": code, "name": name, "level": level.as_str(),
            "account": account.as_ref().map(BankAccount::masked),
        });
        self.audit(&mut tx, AuditEntry::new(actor, "hospital.add", "hospital", code, json!(null), after)).await?;
        tx.commit().await?;
        Ok(key)
    }

    /// Replaces the hospital's key; the old one stops working. Returns the new key.
    pub async fn rotate_key(&self, code: &str, actor: &str) -> Result<String> {
        let key = new_api_key();
        let now = doudi_runtime::now_rfc3339();
        let mut tx = self.db.writes().begin().await?;
        let changed =
            sqlx::query("UPDATE hospitals SET key_hash = $1, key_issued_at = $2, revoked_at = NULL WHERE code = $3")
                .bind(key_hash(&key))
                .bind(&now)
                .bind(code)
                .execute(&mut *tx)
                .await?
                .rows_affected();
        if changed == 0 {
            return Err(GatewayError::HospitalNotFound(code.to_owned()));
        }
        self.audit(
            &mut tx,
            AuditEntry::new(actor, "hospital.rotate_key", "hospital", code, json!(null), json!({"keyIssuedAt": now})),
        )
        .await?;
        tx.commit().await?;
        Ok(key)
    }

    pub async fn revoke(&self, code: &str, actor: &str) -> Result<()> {
        let now = doudi_runtime::now_rfc3339();
        let mut tx = self.db.writes().begin().await?;
        let changed = sqlx::query("UPDATE hospitals SET revoked_at = $1 WHERE code = $2 AND revoked_at IS NULL")
            .bind(&now)
            .bind(code)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        if changed == 0 {
            let exists =
                sqlx::query("SELECT 1 FROM hospitals WHERE code = $1").bind(code).fetch_optional(&mut *tx).await?;
            return match exists {
                Some(_) => Ok(()), // already revoked
                None => Err(GatewayError::HospitalNotFound(code.to_owned())),
            };
        }
        self.audit(
            &mut tx,
            AuditEntry::new(actor, "hospital.revoke", "hospital", code, json!(null), json!({"revokedAt": now})),
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }

    pub async fn by_key_hash(&self, hash: &str) -> Result<Option<KeyHolder>, sqlx::Error> {
        let row = sqlx::query("SELECT code, level, revoked_at FROM hospitals WHERE key_hash = $1")
            .bind(hash)
            .fetch_optional(self.db.reads())
            .await?;
        let Some(row) = row else { return Ok(None) };
        let level: String = row.try_get(1)?;
        let revoked: Option<String> = row.try_get(2)?;
        let level =
            parse_level(&level).ok_or_else(|| sqlx::Error::Decode("stored hospital level is not valid".into()))?;
        Ok(Some(KeyHolder { hospital: Hospital { code: row.try_get(0)?, level }, revoked: revoked.is_some() }))
    }
}
