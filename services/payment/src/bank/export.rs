//! Exporting a batch (`doudi bank export`), writing a batch's file again, and cancelling a batch
//! the bank has not answered.
//!
//! The file is written to `FILE.partial` first; the batch's record and the SENT marks commit in
//! one transaction; only then is the file renamed into place. Killed before the commit, nothing
//! changed; killed after it, the batch exists and `--batch ID` writes its file again, byte for
//! byte (checked against the digest recorded with the batch).

use crate::bank::{Debtor, Transfer, csv, pain001};
use crate::error::{PaymentError, Result};
use crate::files::{partial, write_synced};
use crate::funds::Fund;
use crate::service::PaymentService;
use crate::store::{INSTRUCTION_ACCOUNT, corrupt};
use doudi_runtime::audit::AuditEntry;
use doudi_runtime::sealing::row_key;
use sqlx::{AnyConnection, Row};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Pain001,
    Csv,
}

impl Format {
    pub fn as_str(self) -> &'static str {
        match self {
            Format::Pain001 => "pain001",
            Format::Csv => "csv",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "pain001" => Some(Format::Pain001),
            "csv" => Some(Format::Csv),
            _ => None,
        }
    }
}

/// The county's side of its bank files, from `payment.*` configuration.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BankSettings {
    pub debtor_name: String,
    /// Each fund's account and bank code.
    pub funds: BTreeMap<Fund, (String, String)>,
    pub csv_columns: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Exported {
    pub batch_id: i64,
    pub batch_ref: String,
    pub count: i64,
    pub sum_fen: i64,
    pub file: PathBuf,
    pub sha256: String,
    /// APPROVED instructions left out for want of an account on file.
    pub without_account: i64,
}

impl PaymentService {
    fn debtor(&self, fund: Fund) -> Result<Debtor> {
        let (account, bank_code) = self.bank.funds.get(&fund).cloned().ok_or_else(|| {
            let key = fund.as_str().to_ascii_lowercase();
            PaymentError::Refused(format!(
                "the {fund} fund has no account at the bank: set payment.funds.{key}.account and .bank_code"
            ))
        })?;
        Ok(Debtor { name: self.bank.debtor_name.clone(), account, bank_code })
    }

    /// The transfers of the rows given (instructions with their sealed accounts), in order.
    fn transfers(&self, rows: &[sqlx::any::AnyRow]) -> Result<(Vec<Transfer>, i64)> {
        let mut transfers = Vec::with_capacity(rows.len());
        let mut without_account = 0;
        for r in rows {
            let Some(sealed) = r.try_get::<Option<Vec<u8>>, _>("account_enc")? else {
                without_account += 1;
                continue;
            };
            let key = row_key(&[&r.try_get::<String, _>("source")?, &r.try_get::<String, _>("source_ref")?]);
            let account =
                self.store.cipher.open(INSTRUCTION_ACCOUNT.place(&key), &sealed).map_err(|_| corrupt("account"))?;
            transfers.push(Transfer {
                instruction_id: r.try_get("id")?,
                fund: Fund::parse(&r.try_get::<String, _>("fund")?).ok_or_else(|| corrupt("fund"))?,
                payee_ref: r.try_get("payee_ref")?,
                payee_name: r.try_get("payee_name")?,
                account,
                amount_fen: r.try_get("amount_fen")?,
                purpose: r.try_get("purpose")?,
            });
        }
        Ok((transfers, without_account))
    }

    fn render(&self, format: Format, batch_ref: &str, created_at: &str, transfers: &[Transfer]) -> Result<String> {
        for fund in transfers.iter().map(|t| t.fund).collect::<std::collections::BTreeSet<_>>() {
            self.debtor(fund)?;
        }
        Ok(match format {
            Format::Pain001 => {
                let debtors = |fund: Fund| self.debtor(fund).expect("checked above");
                let created = created_at.get(..19).unwrap_or(created_at);
                let day = created_at.get(..10).unwrap_or(created_at);
                pain001::document(batch_ref, created, day, &self.bank.debtor_name, &debtors, transfers)
            }
            Format::Csv => csv::document(&self.bank.csv_columns, batch_ref, transfers),
        })
    }

    /// One batch of every APPROVED instruction not yet in one (of `fund`, if given), written to
    /// `out`; `None` when there is nothing to send.
    pub async fn export_batch(
        &self,
        out: &Path,
        fund: Option<Fund>,
        format: Format,
        actor: &str,
    ) -> Result<Option<Exported>> {
        let now = doudi_runtime::now_rfc3339();
        let mut tx = self.store.db.writes().begin().await?;
        // The rows stay as read until the commit: locked on PostgreSQL, and SQLite has one writer.
        let lock = if self.store.db.backend() == doudi_runtime::Backend::Postgres { " FOR UPDATE" } else { "" };
        let sql = format!(
            "SELECT id, source, source_ref, fund, payee_ref, payee_name, account_enc, amount_fen, purpose FROM instructions \
             WHERE state = 'APPROVED' AND batch_id IS NULL AND ($1 = '' OR fund = $1) ORDER BY fund, id{lock}"
        );
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(fund.map(Fund::as_str).unwrap_or_default())
            .fetch_all(&mut *tx)
            .await?;
        let (transfers, without_account) = self.transfers(&rows)?;
        if transfers.is_empty() {
            tx.rollback().await?;
            return Ok(None);
        }
        let mut nonce = [0u8; 4];
        getrandom::getrandom(&mut nonce).map_err(PaymentError::internal)?;
        let compact: String = now.chars().filter(char::is_ascii_digit).take(14).collect();
        let batch_ref = format!("DOUDI-{compact}-{}", hex::encode(nonce));
        let document = self.render(format, &batch_ref, &now, &transfers)?;
        let sha256 = doudi_runtime::crypto::sha256_hex(document.as_bytes());
        let staging = partial(out);
        write_synced(&staging, &document, true)
            .map_err(|e| PaymentError::Refused(format!("writing {}: {e}", staging.display())))?;
        let (count, sum_fen) = (transfers.len() as i64, transfers.iter().map(|t| t.amount_fen).sum::<i64>());
        let batch_id: i64 = sqlx::query(
            "INSERT INTO batches (batch_ref, format, fund, file_name, file_sha256, count, sum_fen, state, created_at, created_by) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, 'OPEN', $8, $9) RETURNING id",
        )
        .bind(&batch_ref)
        .bind(format.as_str())
        .bind(fund.map(|f| f.as_str().to_owned()))
        .bind(out.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default())
        .bind(&sha256)
        .bind(count)
        .bind(sum_fen)
        .bind(&now)
        .bind(actor)
        .fetch_one(&mut *tx)
        .await?
        .try_get("id")?;
        mark_sent(&mut tx, self.store.db.backend(), batch_id, &transfers, actor, &now).await?;
        let after = serde_json::json!({"batchRef": batch_ref, "format": format.as_str(), "count": count,
            "sumFen": sum_fen, "sha256": sha256, "file": out.display().to_string()});
        let key = batch_id.to_string();
        self.store
            .audit(&mut tx, AuditEntry::new(actor, "bank.export", "batch", &key, serde_json::Value::Null, after))
            .await?;
        tx.commit().await?;
        std::fs::rename(&staging, out)
            .map_err(|e| PaymentError::Refused(format!("moving {} into place: {e}", staging.display())))?;
        Ok(Some(Exported { batch_id, batch_ref, count, sum_fen, file: out.to_path_buf(), sha256, without_account }))
    }

    /// Writes batch `id`'s file again, exactly as exported (its digest is checked).
    pub async fn rewrite_batch(&self, id: i64, out: &Path) -> Result<Exported> {
        let batch =
            sqlx::query("SELECT batch_ref, format, file_sha256, count, sum_fen, created_at FROM batches WHERE id = $1")
                .bind(id)
                .fetch_optional(self.store.db.reads())
                .await?
                .ok_or_else(|| PaymentError::Refused(format!("there is no batch {id}")))?;
        let rows = sqlx::query(
            "SELECT id, source, source_ref, fund, payee_ref, payee_name, account_enc, amount_fen, purpose FROM instructions \
             WHERE batch_id = $1 ORDER BY fund, id",
        )
        .bind(id)
        .fetch_all(self.store.db.reads())
        .await?;
        let (transfers, _) = self.transfers(&rows)?;
        let format = Format::parse(&batch.try_get::<String, _>("format")?).ok_or_else(|| corrupt("batch format"))?;
        let batch_ref: String = batch.try_get("batch_ref")?;
        let document = self.render(format, &batch_ref, &batch.try_get::<String, _>("created_at")?, &transfers)?;
        let sha256 = doudi_runtime::crypto::sha256_hex(document.as_bytes());
        if sha256 != batch.try_get::<String, _>("file_sha256")? {
            return Err(PaymentError::Refused(format!(
                "batch {id} no longer renders as it was sent (its instructions or the bank settings changed): not written"
            )));
        }
        write_synced(out, &document, true)
            .map_err(|e| PaymentError::Refused(format!("writing {}: {e}", out.display())))?;
        Ok(Exported {
            batch_id: id,
            batch_ref,
            count: batch.try_get("count")?,
            sum_fen: batch.try_get("sum_fen")?,
            file: out.to_path_buf(),
            sha256,
            without_account: 0,
        })
    }

    /// Cancels a batch the bank has not answered: its instructions return to APPROVED, out of
    /// any batch, and go into the next export.
    pub async fn cancel_batch(&self, id: i64, actor: &str) -> Result<i64> {
        let now = doudi_runtime::now_rfc3339();
        let mut tx = self.store.db.writes().begin().await?;
        let cancelled =
            sqlx::query("UPDATE batches SET state = 'CANCELLED' WHERE id = $1 AND state = 'OPEN' RETURNING id")
                .bind(id)
                .fetch_optional(&mut *tx)
                .await?;
        if cancelled.is_none() {
            return Err(PaymentError::Refused(format!("batch {id} is not an open batch")));
        }
        let answered: i64 =
            sqlx::query("SELECT COUNT(*) AS n FROM instructions WHERE batch_id = $1 AND state <> 'SENT'")
                .bind(id)
                .fetch_one(&mut *tx)
                .await?
                .try_get("n")?;
        if answered > 0 {
            return Err(PaymentError::Refused(format!(
                "the bank has answered for {answered} instruction(s) of batch {id}: it cannot be cancelled"
            )));
        }
        sqlx::query(
            "INSERT INTO instruction_events (instruction_id, at, actor, from_state, to_state, reason) \
             SELECT id, $1, $2, 'SENT', 'APPROVED', $3 FROM instructions WHERE batch_id = $4",
        )
        .bind(&now)
        .bind(actor)
        .bind(format!("batch {id} cancelled before the bank answered"))
        .bind(id)
        .execute(&mut *tx)
        .await?;
        let returned = sqlx::query("UPDATE instructions SET state = 'APPROVED', batch_id = NULL WHERE batch_id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await?
            .rows_affected() as i64;
        let after = serde_json::json!({"state": "CANCELLED", "instructions": returned});
        let key = id.to_string();
        self.store
            .audit(&mut tx, AuditEntry::new(actor, "bank.cancel", "batch", &key, serde_json::Value::Null, after))
            .await?;
        tx.commit().await?;
        Ok(returned)
    }
}

/// Marks the batch's instructions SENT with their events. They were read APPROVED in this
/// transaction and cannot have changed since (locked, or the one writer); by id alone, so the
/// primary key serves the update.
async fn mark_sent(
    tx: &mut AnyConnection,
    backend: doudi_runtime::Backend,
    batch_id: i64,
    transfers: &[Transfer],
    actor: &str,
    now: &str,
) -> Result<()> {
    let mut marked = 0u64;
    for chunk in transfers.chunks(doudi_runtime::Backend::PARAMS_PER_STATEMENT) {
        let sql = format!(
            "UPDATE instructions SET state = 'SENT', batch_id = {} WHERE id IN ({})",
            backend.placeholders(1, 1),
            backend.placeholders(2, chunk.len())
        );
        let mut query = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(batch_id);
        for t in chunk {
            query = query.bind(t.instruction_id);
        }
        marked += query.execute(&mut *tx).await?.rows_affected();
    }
    if marked != transfers.len() as u64 {
        return Err(PaymentError::Refused("instructions changed while the batch was made; export again".into()));
    }
    sqlx::query(
        "INSERT INTO instruction_events (instruction_id, at, actor, from_state, to_state, reason) \
         SELECT id, $1, $2, 'APPROVED', 'SENT', $3 FROM instructions WHERE batch_id = $4",
    )
    .bind(now)
    .bind(actor)
    .bind(format!("sent to the bank in batch {batch_id}"))
    .bind(batch_id)
    .execute(&mut *tx)
    .await?;
    Ok(())
}
