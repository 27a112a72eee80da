//! What a bank answers to a batch, read into one shape: a **pain.002** status report (the
//! group's status and each `EndToEndId`'s, with reason codes) or a **camt.054** debit
//! notification (booked debits, and credits that bring a payment back with the return reason).
//! Reading checks only the file itself; whether it fits our batches is `import`'s job.

pub mod camt054;
pub mod pain002;
pub mod xml;

/// What the bank says about one transfer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Received, accepted or in process: no change yet.
    Acknowledged,
    /// Settled (pain.002 `ACSC`) or booked on the county's account (camt.054 debit): paid.
    Paid,
    /// Rejected (`RJCT`): never paid.
    Rejected,
    /// Came back after it was paid or sent (camt.054 credit with return information).
    Returned,
}

/// One transfer's answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AnswerLine {
    pub end_to_end_id: String,
    pub outcome: Outcome,
    /// The bank's code for it: the pain.002 status (`ACSC`, `RJCT`, …), or `BOOK`/`RTRN`.
    pub answer: String,
    pub reason_code: String,
    pub reason_text: String,
    /// What the bank says the transfer was, when it says.
    pub amount_fen: Option<i64>,
    /// The batch (our `MsgId`) the bank names for this line, when it names one.
    pub batch_ref: Option<String>,
}

/// A status for every transfer of a group or payment block the bank did not list one by one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlockStatus {
    /// `None`: the whole batch; else our `PmtInfId` (`<batch>-<FUND>`).
    pub payment_block: Option<String>,
    pub outcome: Outcome,
    pub answer: String,
    pub reason_code: String,
    pub reason_text: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AnswerKind {
    StatusReport,
    Notification,
}

impl AnswerKind {
    pub fn as_str(self) -> &'static str {
        match self {
            AnswerKind::StatusReport => "pain.002",
            AnswerKind::Notification => "camt.054",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BankAnswer {
    pub kind: AnswerKind,
    pub message_id: String,
    /// pain.002: the batch it answers (`OrgnlMsgId`), with the count and sum it says were sent.
    pub batch_ref: Option<String>,
    pub original_count: Option<i64>,
    pub original_sum_fen: Option<i64>,
    /// pain.002: statuses of whole groups or blocks, for transfers not listed.
    pub blocks: Vec<BlockStatus>,
    /// camt.054: the accounts notified about (ours, or the file is not for us).
    pub accounts: Vec<String>,
    pub lines: Vec<AnswerLine>,
}

impl BankAnswer {
    fn empty(kind: AnswerKind) -> Self {
        Self {
            kind,
            message_id: String::new(),
            batch_ref: None,
            original_count: None,
            original_sum_fen: None,
            blocks: Vec::new(),
            accounts: Vec::new(),
            lines: Vec::new(),
        }
    }
}

/// Reads a bank's answer, telling the two kinds apart by the document's namespace.
pub fn read(xml: &str) -> Result<BankAnswer, String> {
    let head = xml.get(..xml.len().min(4096)).unwrap_or(xml);
    if head.contains("urn:iso:std:iso:20022:tech:xsd:pain.002.") {
        pain002::read(xml)
    } else if head.contains("urn:iso:std:iso:20022:tech:xsd:camt.054.") {
        camt054::read(xml)
    } else {
        Err("neither a pain.002 status report nor a camt.054 notification (by its namespace)".into())
    }
}

/// Yuan as the bank writes them (`275.00`, `275`, `0.5`) to fen, exactly; more than two
/// decimals that are not zeros, signs and exponents are refused.
pub fn fen_of_yuan(text: &str) -> Result<i64, String> {
    let bad = || format!("{text:?} is not an amount in yuan");
    let (whole, fraction) = text.split_once('.').unwrap_or((text, ""));
    if whole.is_empty() || !whole.bytes().all(|b| b.is_ascii_digit()) || !fraction.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad());
    }
    let (cents, rest) = fraction.split_at(fraction.len().min(2));
    if rest.bytes().any(|b| b != b'0') {
        return Err(format!("{text:?} has fractions of a fen"));
    }
    let cents: i64 = format!("{cents:0<2}").parse().map_err(|_| bad())?;
    let whole: i64 = whole.parse().map_err(|_| bad())?;
    whole.checked_mul(100).and_then(|w| w.checked_add(cents)).ok_or_else(bad)
}

/// An amount element's value in fen, its currency checked.
pub(crate) fn amount(text: &str, currency: Option<&str>, what: &str) -> Result<i64, String> {
    if let Some(c) = currency
        && c != "CNY"
    {
        return Err(format!("{what} is in {c}: the county pays in CNY"));
    }
    fen_of_yuan(text).map_err(|e| format!("{what}: {e}"))
}

/// A pain.002 status code's meaning for one transfer.
pub(crate) fn status_outcome(code: &str) -> Result<Outcome, String> {
    match code {
        "ACSC" => Ok(Outcome::Paid),
        "RJCT" => Ok(Outcome::Rejected),
        "ACCP" | "ACTC" | "ACSP" | "ACWC" | "PDNG" | "RCVD" => Ok(Outcome::Acknowledged),
        other => Err(format!("status {other:?} is not an ISO 20022 transaction status")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn yuan_become_fen_exactly() {
        assert_eq!(fen_of_yuan("275.00"), Ok(27_500));
        assert_eq!(fen_of_yuan("275"), Ok(27_500));
        assert_eq!(fen_of_yuan("0.5"), Ok(50));
        assert_eq!(fen_of_yuan("0.01"), Ok(1));
        assert_eq!(fen_of_yuan("1.230"), Ok(123));
        for bad in ["", ".5", "1.234", "-1.00", "1e3", "1,00", "99999999999999999999"] {
            assert!(fen_of_yuan(bad).is_err(), "{bad}");
        }
        assert!(amount("1.00", Some("USD"), "x").is_err());
        assert_eq!(amount("1.00", Some("CNY"), "x"), Ok(100));
    }
}
