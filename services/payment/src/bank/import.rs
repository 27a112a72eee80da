//! Importing what a bank answers (`doudi bank import FILE`): a pain.002 status report or a
//! camt.054 notification moves SENT instructions to PAID, FAILED or RETURNED, all of them in one
//! transaction with their ledger postings, or none.
//!
//! The whole file is refused, and nothing changes, when any line names an `EndToEndId` that is
//! not one of our sent instructions, says an amount other than the one sent, contradicts what the
//! bank said before (settled after rejected), or when the file answers no batch or account of
//! ours; the refusal is recorded with its reason (`doudi bank reconcile` shows it). The same file
//! again (by digest) changes nothing; a different file repeating what is known changes nothing
//! either, line by line.

use crate::bank::answers::{self, AnswerLine, BankAnswer, Outcome};
use crate::error::{PaymentError, Result};
use crate::funds::State;
use crate::service::PaymentService;
use doudi_runtime::audit::AuditEntry;
use sqlx::{AnyConnection, Row};
use std::collections::{BTreeMap, HashMap};
use std::path::Path;

/// What an import did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Imported {
    pub file_id: i64,
    pub kind: &'static str,
    pub message_id: String,
    pub lines: i64,
    pub paid: i64,
    pub failed: i64,
    pub returned: i64,
    /// Lines that changed nothing: acknowledgements and repeats of what was known.
    pub unchanged: i64,
    /// The file had been imported before (at this time): nothing was done again.
    pub imported_before: Option<String>,
}

/// An instruction a file speaks of, as it stands.
#[derive(Debug, Clone)]
struct Sent {
    state: State,
    amount_fen: i64,
    batch_id: Option<i64>,
    batch_ref: Option<String>,
    fund: String,
}

/// One line as it will be recorded.
struct Planned {
    instruction_id: i64,
    batch_id: i64,
    answer: String,
    reason_code: String,
    reason_text: String,
    amount_fen: Option<i64>,
    change: Option<(State, State)>,
    last_change: bool,
}

/// The next state when the bank says `outcome` of an instruction in `state`: `Ok(None)` when it
/// changes nothing (an acknowledgement, or what is already known).
fn next_state(state: State, outcome: Outcome) -> std::result::Result<Option<State>, ()> {
    use State::*;
    match (outcome, state) {
        (Outcome::Acknowledged, Sent | Paid | Failed | Returned) => Ok(None),
        (Outcome::Paid, Sent) => Ok(Some(Paid)),
        // Settled, then returned: the settlement is old news.
        (Outcome::Paid, Paid | Returned) => Ok(None),
        (Outcome::Rejected, Sent) => Ok(Some(Failed)),
        (Outcome::Rejected, Failed) => Ok(None),
        (Outcome::Returned, Sent | Paid) => Ok(Some(Returned)),
        (Outcome::Returned, Returned) => Ok(None),
        _ => Err(()),
    }
}

fn outcome_word(outcome: Outcome) -> &'static str {
    match outcome {
        Outcome::Acknowledged => "acknowledged",
        Outcome::Paid => "paid",
        Outcome::Rejected => "rejected",
        Outcome::Returned => "returned",
    }
}

/// A refusal's reason from the problems found: the first few, and how many there were.
fn refusal(problems: &[String]) -> String {
    let shown: Vec<&str> = problems.iter().take(5).map(String::as_str).collect();
    if problems.len() > shown.len() {
        format!("{} (and {} more)", shown.join("; "), problems.len() - shown.len())
    } else {
        shown.join("; ")
    }
}

impl PaymentService {
    pub async fn import_bank_file(&self, path: &Path, actor: &str) -> Result<Imported> {
        let bytes =
            std::fs::read(path).map_err(|e| PaymentError::Refused(format!("reading {}: {e}", path.display())))?;
        let sha256 = doudi_runtime::crypto::sha256_hex(&bytes);
        if let Some(before) = self.imported_before(&sha256).await? {
            return Ok(before);
        }
        let text = std::str::from_utf8(&bytes).map_err(|_| PaymentError::Refused("the file is not UTF-8 text".into()));
        let answer = match text.and_then(|t| answers::read(t).map_err(PaymentError::Refused)) {
            Ok(answer) => answer,
            Err(PaymentError::Refused(reason)) => {
                return Err(self.refuse(&sha256, "unknown", None, &reason, actor).await);
            }
            Err(e) => return Err(e),
        };
        let now = doudi_runtime::now_rfc3339();
        let mut tx = self.store.db.writes().begin().await?;
        let (plan, batch_id) = match self.plan(&mut tx, &answer).await? {
            Ok(planned) => planned,
            Err((batch_id, problems)) => {
                tx.rollback().await?;
                let kind = answer.kind.as_str();
                return Err(self.refuse(&sha256, kind, batch_id, &refusal(&problems), actor).await);
            }
        };
        let changed = plan.iter().filter(|p| p.change.is_some()).count() as i64;
        let file_id: i64 = sqlx::query(
            "INSERT INTO bank_files (file_sha256, kind, message_id, batch_id, lines, changed, imported_at, imported_by) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING id",
        )
        .bind(&sha256)
        .bind(answer.kind.as_str())
        .bind(&answer.message_id)
        .bind(batch_id)
        .bind(plan.len() as i64)
        .bind(changed)
        .bind(&now)
        .bind(actor)
        .fetch_one(&mut *tx)
        .await?
        .try_get("id")?;
        insert_lines(&mut tx, self.store.db.backend(), file_id, &plan).await?;
        post_changes(&mut tx, file_id, &now).await?;
        apply_changes(&mut tx, file_id, &answer, actor, &now).await?;
        let count = |to: State| plan.iter().filter(|p| p.change.is_some_and(|(_, t)| t == to)).count() as i64;
        let imported = Imported {
            file_id,
            kind: answer.kind.as_str(),
            message_id: answer.message_id.clone(),
            lines: plan.len() as i64,
            paid: count(State::Paid),
            failed: count(State::Failed),
            returned: count(State::Returned),
            unchanged: plan.len() as i64 - changed,
            imported_before: None,
        };
        let after = serde_json::json!({"sha256": sha256, "kind": imported.kind, "messageId": imported.message_id,
            "file": path.display().to_string(), "lines": imported.lines, "paid": imported.paid,
            "failed": imported.failed, "returned": imported.returned, "unchanged": imported.unchanged});
        let key = file_id.to_string();
        self.store
            .audit(&mut tx, AuditEntry::new(actor, "bank.import", "bank_file", &key, serde_json::Value::Null, after))
            .await?;
        tx.commit().await?;
        Ok(imported)
    }

    async fn imported_before(&self, sha256: &str) -> Result<Option<Imported>> {
        let row = sqlx::query(
            "SELECT id, kind, message_id, lines, changed, imported_at FROM bank_files WHERE file_sha256 = $1",
        )
        .bind(sha256)
        .fetch_optional(self.store.db.reads())
        .await?;
        let Some(row) = row else { return Ok(None) };
        let kind: String = row.try_get("kind")?;
        Ok(Some(Imported {
            file_id: row.try_get("id")?,
            kind: if kind == "camt.054" { "camt.054" } else { "pain.002" },
            message_id: row.try_get("message_id")?,
            lines: row.try_get("lines")?,
            paid: 0,
            failed: 0,
            returned: 0,
            unchanged: row.try_get("lines")?,
            imported_before: Some(row.try_get("imported_at")?),
        }))
    }

    /// Records a refused file (in its own transaction: the refused one changed nothing) and
    /// returns the error to answer with.
    async fn refuse(&self, sha256: &str, kind: &str, batch_id: Option<i64>, reason: &str, actor: &str) -> PaymentError {
        let recorded = async {
            let now = doudi_runtime::now_rfc3339();
            let mut tx = self.store.db.writes().begin().await?;
            let id: i64 = sqlx::query(
                "INSERT INTO bank_refusals (file_sha256, kind, batch_id, reason, at, actor) \
                 VALUES ($1, $2, $3, $4, $5, $6) RETURNING id",
            )
            .bind(sha256)
            .bind(kind)
            .bind(batch_id)
            .bind(reason)
            .bind(&now)
            .bind(actor)
            .fetch_one(&mut *tx)
            .await?
            .try_get("id")?;
            let after = serde_json::json!({"sha256": sha256, "kind": kind, "batch": batch_id, "reason": reason});
            let key = id.to_string();
            self.store
                .audit(
                    &mut tx,
                    AuditEntry::new(actor, "bank.refuse", "bank_file", &key, serde_json::Value::Null, after),
                )
                .await?;
            tx.commit().await?;
            Ok::<(), sqlx::Error>(())
        }
        .await;
        match recorded {
            Ok(()) => PaymentError::Refused(format!("the file is refused whole and nothing changed: {reason}")),
            Err(e) => e.into(),
        }
    }

    /// What each line of the file does, or why the file is refused (with the batch it names,
    /// when it names one of ours).
    #[allow(clippy::type_complexity)]
    async fn plan(
        &self,
        conn: &mut AnyConnection,
        answer: &BankAnswer,
    ) -> Result<std::result::Result<(Vec<Planned>, Option<i64>), (Option<i64>, Vec<String>)>> {
        let mut problems = Vec::new();
        let mut batch: Option<(i64, String)> = None;
        if let Some(batch_ref) = &answer.batch_ref {
            let row = sqlx::query("SELECT id, state, count, sum_fen FROM batches WHERE batch_ref = $1")
                .bind(batch_ref)
                .fetch_optional(&mut *conn)
                .await?;
            let Some(row) = row else {
                return Ok(Err((None, vec![format!("it answers batch {batch_ref:?}, which is not one of ours")])));
            };
            let id: i64 = row.try_get("id")?;
            if row.try_get::<String, _>("state")? == "CANCELLED" {
                problems.push(format!("batch {batch_ref} was cancelled before the bank answered"));
            }
            let (count, sum): (i64, i64) = (row.try_get("count")?, row.try_get("sum_fen")?);
            if answer.original_count.is_some_and(|n| n != count) || answer.original_sum_fen.is_some_and(|s| s != sum) {
                problems.push(format!(
                    "it says batch {batch_ref} held {} transfer(s) of {} fen; we sent {count} of {sum} fen",
                    answer.original_count.map_or("?".into(), |n| n.to_string()),
                    answer.original_sum_fen.map_or("?".into(), |s| s.to_string())
                ));
            }
            batch = Some((id, batch_ref.clone()));
        }
        let ours: Vec<&str> = self.bank.funds.values().map(|(account, _)| account.as_str()).collect();
        for account in &answer.accounts {
            if !ours.contains(&account.as_str()) {
                problems.push(format!(
                    "it notifies account {}, none of the county's fund accounts",
                    doudi_core::pii::mask_account(account)
                ));
            }
        }
        let mut ids = Vec::with_capacity(answer.lines.len());
        for line in &answer.lines {
            match line.end_to_end_id.parse::<i64>() {
                Ok(id) if id > 0 => ids.push(id),
                _ => problems.push(format!("EndToEndId {:?} is none of our instructions", line.end_to_end_id)),
            }
        }
        let mut sent = self.sent_instructions(conn, &ids).await?;
        if let Some((batch_id, _)) = &batch
            && !answer.blocks.is_empty()
        {
            sent.extend(self.batch_instructions(conn, *batch_id).await?);
        }
        let batch_id = batch.as_ref().map(|(id, _)| *id);
        let mut plan = Vec::with_capacity(answer.lines.len());
        let mut states: HashMap<i64, State> = HashMap::new();
        let mut listed = std::collections::HashSet::new();
        for (line, id) in answer.lines.iter().zip(ids.iter().copied()) {
            listed.insert(id);
            let Some(instruction) = sent.get(&id) else {
                problems.push(format!("EndToEndId {id} is none of our instructions"));
                continue;
            };
            match self.check_line(line, id, instruction, batch.as_ref()) {
                Err(problem) => problems.push(problem),
                Ok(()) => plan_line(&mut plan, &mut states, &mut problems, line, id, instruction),
            }
        }
        // A group's or block's status covers the batch's transfers the bank did not list.
        for block in &answer.blocks {
            let Some((batch_id, batch_ref)) = &batch else { break };
            let fund = match &block.payment_block {
                None => None,
                Some(block_id) => match block_id.strip_prefix(&format!("{batch_ref}-")) {
                    Some(fund) => Some(fund.to_owned()),
                    None => {
                        problems.push(format!("payment block {block_id:?} is not one of batch {batch_ref}'s"));
                        continue;
                    }
                },
            };
            let line = AnswerLine {
                end_to_end_id: String::new(),
                outcome: block.outcome,
                answer: block.answer.clone(),
                reason_code: block.reason_code.clone(),
                reason_text: block.reason_text.clone(),
                amount_fen: None,
                batch_ref: None,
            };
            let covered: BTreeMap<i64, &Sent> = sent
                .iter()
                .filter(|(id, s)| {
                    s.batch_id == Some(*batch_id) && !listed.contains(*id) && fund.as_ref().is_none_or(|f| &s.fund == f)
                })
                .map(|(id, s)| (*id, s))
                .collect();
            for (id, instruction) in covered {
                plan_line(&mut plan, &mut states, &mut problems, &line, id, instruction);
            }
        }
        if !problems.is_empty() {
            let named = batch_id.or_else(|| plan.first().map(|p| p.batch_id));
            return Ok(Err((named, problems)));
        }
        // Each instruction's last change in the file sets its state.
        let mut last: HashMap<i64, usize> = HashMap::new();
        for (n, p) in plan.iter().enumerate() {
            if p.change.is_some() {
                last.insert(p.instruction_id, n);
            }
        }
        for n in last.into_values() {
            plan[n].last_change = true;
        }
        Ok(Ok((plan, batch_id)))
    }

    fn check_line(
        &self,
        line: &AnswerLine,
        id: i64,
        s: &Sent,
        batch: Option<&(i64, String)>,
    ) -> std::result::Result<(), String> {
        let Some(in_batch) = s.batch_id else {
            return Err(format!("instruction {id} was never sent to a bank"));
        };
        if let Some((batch_id, batch_ref)) = batch
            && *batch_id != in_batch
        {
            return Err(format!("EndToEndId {id} is not in batch {batch_ref}"));
        }
        if let Some(named) = &line.batch_ref
            && s.batch_ref.as_ref() != Some(named)
        {
            return Err(format!("EndToEndId {id} was not sent in batch {named}"));
        }
        if let Some(fen) = line.amount_fen
            && fen != s.amount_fen
        {
            return Err(format!("EndToEndId {id}: the bank says {fen} fen; we sent {} fen", s.amount_fen));
        }
        Ok(())
    }

    /// The instructions with these ids that have been in a batch, by id.
    async fn sent_instructions(&self, conn: &mut AnyConnection, ids: &[i64]) -> Result<HashMap<i64, Sent>> {
        let mut found = HashMap::with_capacity(ids.len());
        let backend = self.store.db.backend();
        let mut unique: Vec<i64> = ids.to_vec();
        unique.sort_unstable();
        unique.dedup();
        for chunk in unique.chunks(doudi_runtime::Backend::PARAMS_PER_STATEMENT) {
            let sql = format!(
                "SELECT i.id, i.state, i.amount_fen, i.batch_id, i.fund, b.batch_ref FROM instructions i \
                 LEFT JOIN batches b ON b.id = i.batch_id WHERE i.id IN ({})",
                backend.placeholders(1, chunk.len())
            );
            let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
            for id in chunk {
                query = query.bind(*id);
            }
            for row in query.fetch_all(&mut *conn).await? {
                found.insert(row.try_get("id")?, sent_of(&row)?);
            }
        }
        Ok(found)
    }

    async fn batch_instructions(&self, conn: &mut AnyConnection, batch_id: i64) -> Result<HashMap<i64, Sent>> {
        let rows = sqlx::query(
            "SELECT i.id, i.state, i.amount_fen, i.batch_id, i.fund, b.batch_ref FROM instructions i \
             JOIN batches b ON b.id = i.batch_id WHERE i.batch_id = $1",
        )
        .bind(batch_id)
        .fetch_all(&mut *conn)
        .await?;
        rows.iter().map(|row| Ok((row.try_get("id")?, sent_of(row)?))).collect()
    }
}

fn sent_of(row: &sqlx::any::AnyRow) -> Result<Sent> {
    Ok(Sent {
        state: State::parse(&row.try_get::<String, _>("state")?).ok_or_else(|| crate::store::corrupt("state"))?,
        amount_fen: row.try_get("amount_fen")?,
        batch_id: row.try_get("batch_id")?,
        batch_ref: row.try_get("batch_ref")?,
        fund: row.try_get("fund")?,
    })
}

/// Plans one line against the instruction's state as the file has left it so far.
fn plan_line(
    plan: &mut Vec<Planned>,
    states: &mut HashMap<i64, State>,
    problems: &mut Vec<String>,
    line: &AnswerLine,
    id: i64,
    instruction: &Sent,
) {
    let state = *states.get(&id).unwrap_or(&instruction.state);
    match next_state(state, line.outcome) {
        Err(()) => problems.push(format!(
            "EndToEndId {id} is {state}; the bank now says {} ({})",
            outcome_word(line.outcome),
            line.answer
        )),
        Ok(next) => {
            if let Some(to) = next {
                states.insert(id, to);
            }
            plan.push(Planned {
                instruction_id: id,
                batch_id: instruction.batch_id.unwrap_or_default(),
                answer: line.answer.clone(),
                reason_code: line.reason_code.chars().take(35).collect(),
                reason_text: line.reason_text.chars().take(500).collect(),
                amount_fen: line.amount_fen,
                change: next.map(|to| (state, to)),
                last_change: false,
            });
        }
    }
}

async fn insert_lines(
    conn: &mut AnyConnection,
    backend: doudi_runtime::Backend,
    file_id: i64,
    plan: &[Planned],
) -> Result<()> {
    const ARITY: usize = 11;
    for (chunk_no, chunk) in plan.chunks(doudi_runtime::Backend::PARAMS_PER_STATEMENT / ARITY).enumerate() {
        let rows: Vec<String> =
            (0..chunk.len()).map(|n| format!("({})", backend.placeholders(1 + n * ARITY, ARITY))).collect();
        let sql = format!(
            "INSERT INTO bank_answer_lines (file_id, line_no, instruction_id, batch_id, answer, reason_code, reason_text, \
             amount_fen, from_state, to_state, last_change) VALUES {}",
            rows.join(", ")
        );
        let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
        let first = chunk_no * (doudi_runtime::Backend::PARAMS_PER_STATEMENT / ARITY);
        for (n, p) in chunk.iter().enumerate() {
            query = query
                .bind(file_id)
                .bind((first + n) as i64)
                .bind(p.instruction_id)
                .bind(p.batch_id)
                .bind(p.answer.clone())
                .bind(p.reason_code.clone())
                .bind(p.reason_text.clone())
                .bind(p.amount_fen)
                .bind(p.change.map(|(from, _)| from.as_str()))
                .bind(p.change.map(|(_, to)| to.as_str()))
                .bind(i64::from(p.last_change));
        }
        query.execute(&mut *conn).await?;
    }
    Ok(())
}

const FUND: &str = "'fund:' || i.fund || ':' || i.budget_year || ':";
const PAYEE: &str = "'payee:' || i.payee_kind || ':' || i.payee_ref || ':";

/// The ledger's side of each change, one transfer per instruction, set-based (a batch's answer
/// can speak of a hundred thousand): paying moves the fund's committed money to paid and the
/// payee's owed to paid; a failure (or a return before settlement) gives the reservation back to
/// the fund and takes the payee's claim back; a return after payment does both from paid.
async fn post_changes(conn: &mut AnyConnection, file_id: i64, now: &str) -> Result<()> {
    let moves: [(State, State, &str, &str, &str, &str, &str); 4] = [
        (State::Sent, State::Paid, "committed", "paid", "owed", "paid", "pay"),
        (State::Sent, State::Failed, "committed", "available", "owed", "", "release"),
        (State::Sent, State::Returned, "committed", "available", "owed", "", "release"),
        (State::Paid, State::Returned, "paid", "available", "paid", "", "return"),
    ];
    for (from, to, fund_debit, fund_credit, payee_debit, payee_credit, kind) in moves {
        let fund_side = (format!("{FUND}{fund_debit}'"), format!("{FUND}{fund_credit}'"));
        // The payee's claim goes back to the fund's obligations when it will not be paid.
        let payee_side = if payee_credit.is_empty() {
            (format!("{PAYEE}{payee_debit}'"), format!("{FUND}obligations'"))
        } else {
            (format!("{PAYEE}{payee_debit}'"), format!("{PAYEE}{payee_credit}'"))
        };
        let payee_kind = if kind == "pay" { "pay" } else { "unapprove" };
        for ((debit, credit), kind) in [(fund_side, kind), (payee_side, payee_kind)] {
            post(conn, file_id, from, to, &debit, &credit, kind, now).await?;
        }
    }
    Ok(())
}

#[allow(clippy::too_many_arguments)]
async fn post(
    conn: &mut AnyConnection,
    file_id: i64,
    from: State,
    to: State,
    debit: &str,
    credit: &str,
    kind: &str,
    now: &str,
) -> Result<()> {
    const LINES: &str = "FROM bank_answer_lines l JOIN instructions i ON i.id = l.instruction_id \
         WHERE l.file_id = $1 AND l.from_state = $2 AND l.to_state = $3";
    let expected: i64 = sqlx::query(sqlx::AssertSqlSafe(format!("SELECT COUNT(*) AS n {LINES}")))
        .bind(file_id)
        .bind(from.as_str())
        .bind(to.as_str())
        .fetch_one(&mut *conn)
        .await?
        .try_get("n")?;
    if expected == 0 {
        return Ok(());
    }
    let sql = format!(
        "INSERT INTO ledger_transfers (debit_account, credit_account, amount_fen, kind, reference, at) \
         SELECT d.id, c.id, i.amount_fen, $4, 'instruction:' || i.id, $5 \
         FROM bank_answer_lines l JOIN instructions i ON i.id = l.instruction_id \
         JOIN ledger_accounts d ON d.code = {debit} JOIN ledger_accounts c ON c.code = {credit} \
         WHERE l.file_id = $1 AND l.from_state = $2 AND l.to_state = $3"
    );
    let posted = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(file_id)
        .bind(from.as_str())
        .bind(to.as_str())
        .bind(kind)
        .bind(now)
        .execute(&mut *conn)
        .await?
        .rows_affected();
    if posted != expected as u64 {
        return Err(PaymentError::internal(format!(
            "{from} → {to}: {posted} of {expected} transfers posted (an account is missing)"
        )));
    }
    for (code, column) in [(debit, "debits_fen"), (credit, "credits_fen")] {
        let sql = format!(
            "UPDATE ledger_accounts SET {column} = {column} + s.fen FROM \
             (SELECT {code} AS code, CAST(SUM(i.amount_fen) AS BIGINT) AS fen {LINES} GROUP BY {code}) AS s \
             WHERE ledger_accounts.code = s.code"
        );
        sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(file_id)
            .bind(from.as_str())
            .bind(to.as_str())
            .execute(&mut *conn)
            .await?;
    }
    Ok(())
}

/// The instructions' new states and the bank's reason, with an event per change.
async fn apply_changes(
    conn: &mut AnyConnection,
    file_id: i64,
    answer: &BankAnswer,
    actor: &str,
    now: &str,
) -> Result<()> {
    sqlx::query(
        "INSERT INTO instruction_events (instruction_id, at, actor, from_state, to_state, reason) \
         SELECT l.instruction_id, $2, $3, l.from_state, l.to_state, \
         $4 || l.answer || CASE WHEN l.reason_code <> '' THEN ' ' || l.reason_code ELSE '' END \
         || CASE WHEN l.reason_text <> '' THEN ': ' || l.reason_text ELSE '' END \
         FROM bank_answer_lines l WHERE l.file_id = $1 AND l.to_state IS NOT NULL ORDER BY l.line_no",
    )
    .bind(file_id)
    .bind(now)
    .bind(actor)
    .bind(format!("bank {} {}: ", answer.kind.as_str(), answer.message_id))
    .execute(&mut *conn)
    .await?;
    sqlx::query(
        "UPDATE instructions SET state = l.to_state, bank_reason_code = NULLIF(l.reason_code, ''), \
         bank_reason = NULLIF(l.reason_text, '') FROM bank_answer_lines l \
         WHERE l.file_id = $1 AND l.last_change = 1 AND instructions.id = l.instruction_id",
    )
    .bind(file_id)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn what_the_bank_may_say_after_what() {
        use State::*;
        assert_eq!(next_state(Sent, Outcome::Paid), Ok(Some(Paid)));
        assert_eq!(next_state(Sent, Outcome::Rejected), Ok(Some(Failed)));
        assert_eq!(next_state(Sent, Outcome::Returned), Ok(Some(Returned)));
        assert_eq!(next_state(Paid, Outcome::Returned), Ok(Some(Returned)));
        assert_eq!(next_state(Sent, Outcome::Acknowledged), Ok(None));
        assert_eq!(next_state(Paid, Outcome::Paid), Ok(None));
        assert_eq!(next_state(Returned, Outcome::Paid), Ok(None));
        assert_eq!(next_state(Failed, Outcome::Paid), Err(()));
        assert_eq!(next_state(Paid, Outcome::Rejected), Err(()));
        assert_eq!(next_state(Failed, Outcome::Returned), Err(()));
        assert_eq!(next_state(Approved, Outcome::Paid), Err(()));
        assert_eq!(next_state(Cancelled, Outcome::Acknowledged), Err(()));
    }
}
