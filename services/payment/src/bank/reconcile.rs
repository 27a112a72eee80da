//! A batch held against what the bank said (`doudi bank reconcile --batch ID`, and the
//! `ReconcileBatch` RPC): what was sent, what the bank confirmed (paid, rejected, returned),
//! what it has not answered yet, and what differs. A batch is OPEN while transfers await an
//! answer, CONFIRMED when every one has a final answer and the sums agree, BROKEN when something
//! differs: the batch's instructions no longer add up to the file that was sent, or the bank
//! sent an answer about it that was refused and nothing accepted has come since.

use crate::error::{PaymentError, Result};
use crate::funds::State;
use crate::service::PaymentService;
use sqlx::Row;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BatchState {
    Open,
    Confirmed,
    Broken,
}

impl BatchState {
    pub fn as_str(self) -> &'static str {
        match self {
            BatchState::Open => "OPEN",
            BatchState::Confirmed => "CONFIRMED",
            BatchState::Broken => "BROKEN",
        }
    }
}

/// A count of transfers and their sum.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Tally {
    pub count: i64,
    pub fen: i64,
}

/// A transfer of the batch that is not (or no longer) paid.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unpaid {
    pub instruction_id: i64,
    pub state: State,
    pub amount_fen: i64,
    pub payee_ref: String,
    /// The bank's last status for it (`ACCP`, `RJCT`, `RTRN`, …); empty when it said nothing.
    pub answer: String,
    pub reason_code: String,
    pub reason: String,
    pub reissued_as: Option<i64>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BankFileSeen {
    pub file_id: i64,
    pub kind: String,
    pub message_id: String,
    pub imported_at: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reconciliation {
    pub batch_id: i64,
    pub batch_ref: String,
    pub format: String,
    pub created_at: String,
    pub state: BatchState,
    pub sent: Tally,
    pub paid: Tally,
    pub failed: Tally,
    pub returned: Tally,
    /// Sent, with no final answer yet (some acknowledged).
    pub awaiting: Tally,
    pub acknowledged: i64,
    pub differences: Vec<String>,
    /// Up to `limit` unpaid transfers, oldest first; `more` when there are others.
    pub unpaid: Vec<Unpaid>,
    pub more: bool,
    pub files: Vec<BankFileSeen>,
}

impl PaymentService {
    pub async fn reconcile_batch(&self, id: i64, limit: usize) -> Result<Reconciliation> {
        let reads = self.store.db.reads();
        let batch =
            sqlx::query("SELECT batch_ref, format, count, sum_fen, state, created_at FROM batches WHERE id = $1")
                .bind(id)
                .fetch_optional(reads)
                .await?
                .ok_or(PaymentError::BatchNotFound(id))?;
        let batch_ref: String = batch.try_get("batch_ref")?;
        if batch.try_get::<String, _>("state")? == "CANCELLED" {
            return Err(PaymentError::Refused(format!(
                "batch {id} ({batch_ref}) was cancelled before the bank answered: its instructions went back to APPROVED"
            )));
        }
        let sent = Tally { count: batch.try_get("count")?, fen: batch.try_get("sum_fen")? };
        let rows = sqlx::query(
            "SELECT state, COUNT(*) AS n, CAST(SUM(amount_fen) AS BIGINT) AS fen FROM instructions \
             WHERE batch_id = $1 GROUP BY state",
        )
        .bind(id)
        .fetch_all(reads)
        .await?;
        let mut differences = Vec::new();
        let (mut paid, mut failed, mut returned, mut awaiting, mut total) =
            (Tally::default(), Tally::default(), Tally::default(), Tally::default(), Tally::default());
        for row in &rows {
            let state: String = row.try_get("state")?;
            let tally = Tally { count: row.try_get("n")?, fen: row.try_get("fen")? };
            total.count += tally.count;
            total.fen += tally.fen;
            match State::parse(&state) {
                Some(State::Paid) => paid = tally,
                Some(State::Failed) => failed = tally,
                Some(State::Returned) => returned = tally,
                Some(State::Sent) => awaiting = tally,
                _ => differences.push(format!("{} instruction(s) of the batch are {state}", tally.count)),
            }
        }
        if total != sent {
            differences.push(format!(
                "the file sent {} transfer(s) of {} fen; the batch's instructions are {} of {} fen",
                sent.count, sent.fen, total.count, total.fen
            ));
        }
        let acknowledged: i64 = sqlx::query(
            "SELECT COUNT(DISTINCT l.instruction_id) AS n FROM bank_answer_lines l JOIN instructions i \
             ON i.id = l.instruction_id WHERE l.batch_id = $1 AND i.state = 'SENT'",
        )
        .bind(id)
        .fetch_one(reads)
        .await?
        .try_get("n")?;
        let files = sqlx::query(
            "SELECT f.id, f.kind, f.message_id, f.imported_at FROM bank_files f WHERE f.batch_id = $1 \
             OR f.id IN (SELECT DISTINCT file_id FROM bank_answer_lines WHERE batch_id = $1) ORDER BY f.id",
        )
        .bind(id)
        .fetch_all(reads)
        .await?
        .iter()
        .map(|r| {
            Ok(BankFileSeen {
                file_id: r.try_get("id")?,
                kind: r.try_get("kind")?,
                message_id: r.try_get("message_id")?,
                imported_at: r.try_get("imported_at")?,
            })
        })
        .collect::<Result<Vec<_>>>()?;
        let last_accepted = files.last().map(|f| f.imported_at.clone()).unwrap_or_default();
        for r in sqlx::query("SELECT at, reason FROM bank_refusals WHERE batch_id = $1 AND at >= $2 ORDER BY id")
            .bind(id)
            .bind(&last_accepted)
            .fetch_all(reads)
            .await?
        {
            differences.push(format!(
                "a bank file refused at {}: {}",
                r.try_get::<String, _>("at")?,
                r.try_get::<String, _>("reason")?
            ));
        }
        let (unpaid, more) = self.unpaid_of(id, limit).await?;
        let state = if !differences.is_empty() {
            BatchState::Broken
        } else if awaiting.count > 0 {
            BatchState::Open
        } else {
            BatchState::Confirmed
        };
        Ok(Reconciliation {
            batch_id: id,
            batch_ref,
            format: batch.try_get("format")?,
            created_at: batch.try_get("created_at")?,
            state,
            sent,
            paid,
            failed,
            returned,
            awaiting,
            acknowledged,
            differences,
            unpaid,
            more,
            files,
        })
    }

    async fn unpaid_of(&self, batch_id: i64, limit: usize) -> Result<(Vec<Unpaid>, bool)> {
        let rows = sqlx::query(
            "SELECT i.id, i.state, i.amount_fen, i.payee_ref, i.bank_reason_code, i.bank_reason, i.reissued_as, \
             (SELECT l.answer FROM bank_answer_lines l WHERE l.batch_id = $1 AND l.instruction_id = i.id \
              ORDER BY l.file_id DESC, l.line_no DESC LIMIT 1) AS answer \
             FROM instructions i WHERE i.batch_id = $1 AND i.state <> 'PAID' ORDER BY i.id LIMIT $2",
        )
        .bind(batch_id)
        .bind(limit as i64 + 1)
        .fetch_all(self.store.db.reads())
        .await?;
        let more = rows.len() > limit;
        let unpaid = rows
            .iter()
            .take(limit)
            .map(|r| {
                Ok(Unpaid {
                    instruction_id: r.try_get("id")?,
                    state: State::parse(&r.try_get::<String, _>("state")?)
                        .ok_or_else(|| crate::store::corrupt("state"))?,
                    amount_fen: r.try_get("amount_fen")?,
                    payee_ref: r.try_get("payee_ref")?,
                    answer: r.try_get::<Option<String>, _>("answer")?.unwrap_or_default(),
                    reason_code: r.try_get::<Option<String>, _>("bank_reason_code")?.unwrap_or_default(),
                    reason: r.try_get::<Option<String>, _>("bank_reason")?.unwrap_or_default(),
                    reissued_as: r.try_get("reissued_as")?,
                })
            })
            .collect::<Result<Vec<_>>>()?;
        Ok((unpaid, more))
    }
}

/// What waits on a bank: open batches with transfers not yet answered, and failed or returned
/// payments not yet paid again.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BankWaiting {
    /// (batch id, batch ref, made at, transfers awaiting an answer).
    pub batches: Vec<(i64, String, String, i64)>,
    pub unpaid_failures: Tally,
    /// Of those, paid to others than households (hospitals, the insurer, relief accounts): not
    /// re-issued automatically.
    pub other_failures: Tally,
}

impl PaymentService {
    pub async fn bank_waiting(&self) -> Result<BankWaiting> {
        let reads = self.store.db.reads();
        let batches = sqlx::query(
            "SELECT b.id, b.batch_ref, b.created_at, COUNT(*) AS n FROM batches b JOIN instructions i ON i.batch_id = b.id \
             WHERE b.state = 'OPEN' AND i.state = 'SENT' GROUP BY b.id, b.batch_ref, b.created_at ORDER BY b.id",
        )
        .fetch_all(reads)
        .await?
        .iter()
        .map(|r| Ok((r.try_get("id")?, r.try_get("batch_ref")?, r.try_get("created_at")?, r.try_get("n")?)))
        .collect::<Result<Vec<_>>>()?;
        let mut waiting = BankWaiting { batches, ..Default::default() };
        for row in sqlx::query(
            "SELECT CASE WHEN payee_kind = 'HOUSEHOLD' THEN 1 ELSE 0 END AS household, COUNT(*) AS n, \
             CAST(SUM(amount_fen) AS BIGINT) AS fen FROM instructions \
             WHERE state IN ('FAILED', 'RETURNED') AND reissued_as IS NULL \
             GROUP BY CASE WHEN payee_kind = 'HOUSEHOLD' THEN 1 ELSE 0 END",
        )
        .fetch_all(reads)
        .await?
        {
            let tally = Tally { count: row.try_get("n")?, fen: row.try_get("fen")? };
            waiting.unpaid_failures.count += tally.count;
            waiting.unpaid_failures.fen += tally.fen;
            if row.try_get::<i64, _>("household")? == 0 {
                waiting.other_failures = tally;
            }
        }
        Ok(waiting)
    }
}
