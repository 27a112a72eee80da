//! Staff and their tokens: a token is `st_<id>_<nonce>_<mac>`, the MAC keyed by the master key,
//! so a token is checked without storing it; withdrawing one is a row update, audited.

use crate::staff::rules::{Role, Staff};
use crate::store::{Store, parse_stored};
use doudi_core::Date;
use doudi_core::pii::mask_name;
use doudi_runtime::audit::AuditEntry;
pub use doudi_runtime::staff::TokenCheck;
use serde_json::{Value, json};
use sqlx::Row;

const TOKEN_PREFIX: &str = "st_";

/// Equal-time comparison of two MACs in hex.
fn same_mac(a: &str, b: &str) -> bool {
    a.len() == b.len() && a.bytes().zip(b.bytes()).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// A member of staff as `doudi staff list` shows them (the name masked).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct StaffLine {
    pub id: i64,
    pub name: String,
    pub role: String,
    pub township: Option<String>,
    pub created_at: String,
    pub expires_on: Option<String>,
    pub revoked_at: Option<String>,
}

impl Store {
    fn token_mac(&self, id: i64, nonce: &str) -> String {
        hex::encode(self.cipher.blind_index("staff_token", &format!("{id}:{nonce}")))
    }

    /// Adds a member of staff; returns their id and token (shown once, stored nowhere).
    pub async fn add_staff(
        &self,
        name: &str,
        role: Role,
        township: Option<&str>,
        expires_on: Date,
        actor: &str,
    ) -> Result<(i64, String), sqlx::Error> {
        let mut nonce = [0u8; 16];
        getrandom::getrandom(&mut nonce).map_err(|e| sqlx::Error::Protocol(e.to_string()))?;
        let nonce = hex::encode(nonce);
        let now = doudi_runtime::now_rfc3339();
        let role_text = role.as_str();
        let mut tx = self.db.writes().begin().await?;
        let id: i64 = sqlx::query(
            "INSERT INTO staff (name, role, township, token_nonce, created_at, expires_on) VALUES ($1, $2, $3, $4, $5, $6)
             RETURNING id",
        )
        .bind(name)
        .bind(role_text)
        .bind(township)
        .bind(&nonce)
        .bind(&now)
        .bind(expires_on.to_string())
        .fetch_one(&mut *tx)
        .await?
        .try_get(0)?;
        let after = json!({"id": id, "name": mask_name(name), "role": role_text, "township": township,
            "expiresOn": expires_on.to_string()});
        self.audit(&mut tx, AuditEntry::new(actor, "staff.add", "staff", &id.to_string(), Value::Null, after)).await?;
        tx.commit().await?;
        Ok((id, format!("{TOKEN_PREFIX}{id}_{nonce}_{}", self.token_mac(id, &nonce))))
    }

    /// Every member of staff, oldest first.
    pub async fn staff_list(&self) -> Result<Vec<StaffLine>, sqlx::Error> {
        let rows =
            sqlx::query("SELECT id, name, role, township, created_at, expires_on, revoked_at FROM staff ORDER BY id")
                .fetch_all(self.db.reads())
                .await?;
        rows.iter()
            .map(|r| {
                Ok(StaffLine {
                    id: r.try_get("id")?,
                    name: mask_name(&r.try_get::<String, _>("name")?),
                    role: r.try_get("role")?,
                    township: r.try_get("township")?,
                    created_at: r.try_get("created_at")?,
                    expires_on: r.try_get("expires_on")?,
                    revoked_at: r.try_get("revoked_at")?,
                })
            })
            .collect()
    }

    /// Withdraws a member of staff's token. `false` if there is no such member.
    pub async fn revoke_staff(&self, id: i64, actor: &str) -> Result<bool, sqlx::Error> {
        let mut tx = self.db.writes().begin().await?;
        let now = doudi_runtime::now_rfc3339();
        let changed = sqlx::query("UPDATE staff SET revoked_at = $1 WHERE id = $2 AND revoked_at IS NULL")
            .bind(&now)
            .bind(id)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        let exists =
            sqlx::query("SELECT 1 FROM staff WHERE id = $1").bind(id).fetch_optional(&mut *tx).await?.is_some();
        if changed > 0 {
            let after = json!({"revokedAt": now});
            self.audit(&mut tx, AuditEntry::new(actor, "staff.revoke", "staff", &id.to_string(), Value::Null, after))
                .await?;
        }
        tx.commit().await?;
        Ok(exists)
    }

    /// The member of staff a token names on `today`: genuine, not withdrawn, not expired.
    pub async fn staff_by_token(&self, token: &str, today: Date) -> Result<TokenCheck, sqlx::Error> {
        let Some(rest) = token.strip_prefix(TOKEN_PREFIX) else { return Ok(TokenCheck::Unknown) };
        let mut parts = rest.splitn(3, '_');
        let (Some(id), Some(nonce), Some(mac)) = (parts.next(), parts.next(), parts.next()) else {
            return Ok(TokenCheck::Unknown);
        };
        let Ok(id) = id.parse::<i64>() else { return Ok(TokenCheck::Unknown) };
        if !same_mac(mac, &self.token_mac(id, nonce)) {
            return Ok(TokenCheck::Unknown);
        }
        let row = sqlx::query(
            "SELECT name, role, township, expires_on FROM staff WHERE id = $1 AND token_nonce = $2 AND revoked_at IS NULL",
        )
        .bind(id)
        .bind(nonce)
        .fetch_optional(self.db.reads())
        .await?;
        let Some(row) = row else { return Ok(TokenCheck::Unknown) };
        let expires_on: Option<String> = row.try_get("expires_on")?;
        if let Some(last) = expires_on.map(|d| parse_stored::<Date>("date", &d)).transpose()?
            && today > last
        {
            return Ok(TokenCheck::Expired(last));
        }
        Ok(TokenCheck::Valid(Staff {
            id,
            name: row.try_get("name")?,
            role: Role::parse(&row.try_get::<String, _>("role")?)
                .ok_or_else(|| sqlx::Error::Decode("stored role is not valid".into()))?,
            township: row.try_get("township")?,
        }))
    }
}
