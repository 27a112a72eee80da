//! Hospital payables (policy.md, "Medical assistance"): a month's close makes one instruction per
//! hospital for the medical assistance it advanced, net of the reversals made that month, and
//! writes each hospital's statement: every settlement and reversal behind the sum, with the
//! basic and critical-illness amounts the insurers owe it.

use crate::closes::{ClosePayment, close_once};
use crate::error::{PaymentError, Result};
use crate::files::csv_field;
use crate::funds::{Fund, Month, PayeeKind};
use crate::service::PaymentService;
use crate::store::{PAYEE_ACCOUNT, corrupt};
use doudi_core::pii::BankAccount;
use doudi_runtime::audit::AuditEntry;
use doudi_runtime::sealing::row_key;
use sqlx::{AnyConnection, Row};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// One hospital's result of a close.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HospitalClose {
    pub hospital_code: String,
    pub entries: i64,
    pub assistance_fen: i64,
    /// The instruction paying it; `None` when the month nets to nothing or less.
    pub instruction_id: Option<i64>,
    pub statement: PathBuf,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeriodClose {
    pub period: Month,
    /// False when the period had been closed before (nothing changed).
    pub closed_now: bool,
    pub hospitals: Vec<HospitalClose>,
}

/// A row behind a statement.
struct PayableRow {
    settlement_id: String,
    entry: String,
    hospital_code: String,
    bill_no: String,
    basic: i64,
    critical: i64,
    assistance: i64,
    day: String,
}

impl PaymentService {
    /// Records the account a hospital (or other payee no roll carries) is paid into.
    pub async fn set_payee_account(
        &self,
        kind: PayeeKind,
        reference: &str,
        name: &str,
        account: &BankAccount,
    ) -> Result<()> {
        let row = row_key(&[kind.as_str(), reference]);
        let sealed = self.store.cipher.seal(PAYEE_ACCOUNT.place(&row), account.expose());
        sqlx::query(
            "INSERT INTO payee_accounts (payee_kind, payee_ref, name, account_enc, set_at) VALUES ($1, $2, $3, $4, $5) \
             ON CONFLICT (payee_kind, payee_ref) DO UPDATE SET name = excluded.name, account_enc = excluded.account_enc, \
             set_at = excluded.set_at",
        )
        .bind(kind.as_str())
        .bind(reference)
        .bind(name)
        .bind(sealed)
        .bind(doudi_runtime::now_rfc3339())
        .execute(self.store.db.writes())
        .await?;
        Ok(())
    }

    async fn payee_account(
        &self,
        conn: &mut AnyConnection,
        kind: PayeeKind,
        reference: &str,
    ) -> Result<Option<(String, BankAccount)>> {
        let row = sqlx::query("SELECT name, account_enc FROM payee_accounts WHERE payee_kind = $1 AND payee_ref = $2")
            .bind(kind.as_str())
            .bind(reference)
            .fetch_optional(conn)
            .await?;
        let Some(row) = row else { return Ok(None) };
        let key = row_key(&[kind.as_str(), reference]);
        let stored: Vec<u8> = row.try_get("account_enc")?;
        let text = self.store.cipher.open(PAYEE_ACCOUNT.place(&key), &stored).map_err(|_| corrupt("payee account"))?;
        let account = BankAccount::parse(&text).map_err(|_| corrupt("payee account"))?;
        Ok(Some((row.try_get("name")?, account)))
    }

    /// Closes `period` (a month that has ended, China time): every payable not yet closed whose
    /// day is in or before it (a message delivered late counts in the first close after it)
    /// goes into its hospital's sum. Closing again changes nothing and rewrites the statements.
    pub async fn close_payables(&self, period: Month, statements: &Path, actor: &str) -> Result<PeriodClose> {
        let today = doudi_core::Date::today_china();
        if period.plus(1).first_day() > today {
            return Err(PaymentError::Refused(format!(
                "{period} has not ended yet: close it from {}",
                period.plus(1).first_day()
            )));
        }
        let now = doudi_runtime::now_rfc3339();
        let text = period.to_string();
        let mut tx = self.store.db.writes().begin().await?;
        let first = close_once(&mut tx, "payables", &text, actor, &now).await?;
        if first {
            sqlx::query("UPDATE hospital_payables SET closed_period = $1 WHERE closed_period IS NULL AND day < $2")
                .bind(&text)
                .bind(period.plus(1).first_day().to_string())
                .execute(&mut *tx)
                .await?;
        }
        let rows = closed_rows(&mut tx, &text).await?;
        let mut by_hospital: BTreeMap<String, Vec<PayableRow>> = BTreeMap::new();
        for row in rows {
            by_hospital.entry(row.hospital_code.clone()).or_default().push(row);
        }
        let mut hospitals = Vec::new();
        for (code, rows) in &by_hospital {
            let assistance: i64 = rows.iter().map(|r| r.assistance).sum();
            let instruction_id = if assistance > 0 {
                let payee = self.payee_account(&mut tx, PayeeKind::Hospital, code).await?;
                let payment = ClosePayment {
                    source: "payables",
                    source_ref: format!("{text}:{code}"),
                    fund: Fund::MedicalAssistance,
                    year: i64::from(period.year),
                    payee_kind: PayeeKind::Hospital,
                    payee_ref: code.clone(),
                    payee_name: payee.as_ref().map(|(n, _)| n.clone()).unwrap_or_default(),
                    account: payee.map(|(_, a)| a),
                    amount: assistance,
                    purpose: format!("medical assistance advanced by {code} in {text}"),
                    reference: format!("statement {text}/{code}.csv"),
                };
                Some(self.close_instruction(&mut tx, payment, actor, &now).await?)
            } else {
                None
            };
            hospitals.push(HospitalClose {
                hospital_code: code.clone(),
                entries: rows.len() as i64,
                assistance_fen: assistance,
                instruction_id,
                statement: statements.join(&text).join(format!("{code}.csv")),
            });
        }
        if first {
            let after = serde_json::json!({"hospitals": hospitals.len(),
                "assistanceFen": hospitals.iter().map(|h| h.assistance_fen).sum::<i64>()});
            self.store
                .audit(
                    &mut tx,
                    AuditEntry::new(actor, "payables.close", "period", &text, serde_json::Value::Null, after),
                )
                .await?;
        }
        tx.commit().await?;
        for (close, rows) in hospitals.iter().zip(by_hospital.values()) {
            write_statement(&close.statement, rows)
                .map_err(|e| PaymentError::Refused(format!("writing {}: {e}", close.statement.display())))?;
        }
        Ok(PeriodClose { period, closed_now: first, hospitals })
    }
}

/// Payables received and not yet closed, per hospital and month of their day.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpenPayables {
    pub hospital_code: String,
    pub month: String,
    pub entries: i64,
    pub assistance_fen: i64,
}

impl crate::store::Store {
    pub async fn open_payables(&self) -> Result<Vec<OpenPayables>> {
        let rows = sqlx::query(
            "SELECT hospital_code, SUBSTR(day, 1, 7) AS month, COUNT(*) AS n, \
             CAST(SUM(medical_assistance_fen) AS BIGINT) AS fen FROM hospital_payables WHERE closed_period IS NULL \
             GROUP BY hospital_code, SUBSTR(day, 1, 7) ORDER BY hospital_code, month",
        )
        .fetch_all(self.db.reads())
        .await?;
        Ok(rows
            .iter()
            .map(|r| {
                Ok(OpenPayables {
                    hospital_code: r.try_get("hospital_code")?,
                    month: r.try_get("month")?,
                    entries: r.try_get("n")?,
                    assistance_fen: r.try_get("fen")?,
                })
            })
            .collect::<Result<Vec<_>, sqlx::Error>>()?)
    }
}

async fn closed_rows(conn: &mut AnyConnection, period: &str) -> Result<Vec<PayableRow>, sqlx::Error> {
    let rows = sqlx::query(
        "SELECT settlement_id, entry, hospital_code, bill_no, basic_insurance_fen, critical_illness_fen, \
         medical_assistance_fen, day FROM hospital_payables WHERE closed_period = $1 \
         ORDER BY hospital_code, day, settlement_id, entry",
    )
    .bind(period)
    .fetch_all(conn)
    .await?;
    rows.iter()
        .map(|r| {
            Ok(PayableRow {
                settlement_id: r.try_get("settlement_id")?,
                entry: r.try_get("entry")?,
                hospital_code: r.try_get("hospital_code")?,
                bill_no: r.try_get("bill_no")?,
                basic: r.try_get("basic_insurance_fen")?,
                critical: r.try_get("critical_illness_fen")?,
                assistance: r.try_get("medical_assistance_fen")?,
                day: r.try_get("day")?,
            })
        })
        .collect()
}

/// The statement: one line per settlement or reversal, then the totals, written whole.
fn write_statement(path: &Path, rows: &[PayableRow]) -> std::io::Result<()> {
    let mut out = String::from(
        "settlement_id,entry,bill_no,day,basic_insurance_fen,critical_illness_fen,medical_assistance_fen\n",
    );
    let (mut basic, mut critical, mut assistance) = (0i64, 0i64, 0i64);
    for r in rows {
        out.push_str(&format!(
            "{},{},{},{},{},{},{}\n",
            csv_field(&r.settlement_id),
            r.entry,
            csv_field(&r.bill_no),
            r.day,
            r.basic,
            r.critical,
            r.assistance
        ));
        basic += r.basic;
        critical += r.critical;
        assistance += r.assistance;
    }
    out.push_str(&format!("TOTAL,,,,{basic},{critical},{assistance}\n"));
    crate::files::write_whole(path, &out, false)
}
