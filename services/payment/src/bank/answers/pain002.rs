//! pain.002 (customer payment status report), any `pain.002.001.*` version: the original
//! group (`OrgnlMsgId` = our batch, its count and sum), the group's and each payment block's
//! status, and each transfer's (`OrgnlEndToEndId`, `TxSts`, `StsRsnInf`, `OrgnlTxRef/Amt`).

use crate::bank::answers::xml::{Step, ends_with, walk};
use crate::bank::answers::{AnswerKind, AnswerLine, BankAnswer, BlockStatus, amount, fen_of_yuan, status_outcome};

#[derive(Default)]
struct Reason {
    code: String,
    text: Vec<String>,
}

impl Reason {
    fn take(&mut self) -> (String, String) {
        let r = std::mem::take(self);
        (r.code, r.text.join(" "))
    }
}

#[derive(Default)]
struct Transaction {
    end_to_end_id: Option<String>,
    status: Option<String>,
    reason: Reason,
    amount_fen: Option<i64>,
}

pub fn read(xml: &str) -> Result<BankAnswer, String> {
    let mut answer = BankAnswer::empty(AnswerKind::StatusReport);
    let mut group_status: Option<String> = None;
    let mut group_reason = Reason::default();
    let mut block_id: Option<String> = None;
    let mut block_status: Option<String> = None;
    let mut block_reason = Reason::default();
    let mut tx: Option<Transaction> = None;
    let namespace = walk(xml, |step| {
        match step {
            Step::Open(path) if path.last().is_some_and(|n| n == "TxInfAndSts") => tx = Some(Transaction::default()),
            Step::Open(path) if path.last().is_some_and(|n| n == "OrgnlPmtInfAndSts") => {
                (block_id, block_status, block_reason) = (None, None, Reason::default());
            }
            Step::Open(_) => {}
            Step::Close(path, text, currency) => {
                if let Some(t) = tx.as_mut() {
                    if ends_with(path, &["TxInfAndSts", "OrgnlEndToEndId"]) {
                        t.end_to_end_id = Some(text.to_owned());
                    } else if ends_with(path, &["TxInfAndSts", "TxSts"]) {
                        t.status = Some(text.to_owned());
                    } else if ends_with(path, &["StsRsnInf", "Rsn", "Cd"])
                        || ends_with(path, &["StsRsnInf", "Rsn", "Prtry"])
                    {
                        t.reason.code = text.to_owned();
                    } else if ends_with(path, &["StsRsnInf", "AddtlInf"]) {
                        t.reason.text.push(text.to_owned());
                    } else if ends_with(path, &["OrgnlTxRef", "Amt", "InstdAmt"]) {
                        t.amount_fen = Some(amount(text, currency, "a transfer's amount")?);
                    } else if ends_with(path, &["TxInfAndSts"]) {
                        let t = tx.take().expect("inside a transaction");
                        let id = t.end_to_end_id.ok_or("a transaction status without OrgnlEndToEndId")?;
                        let status = t.status.ok_or_else(|| format!("the status of {id} has no TxSts"))?;
                        let outcome = status_outcome(&status).map_err(|e| format!("{id}: {e}"))?;
                        let mut reason = t.reason;
                        let (reason_code, reason_text) = reason.take();
                        answer.lines.push(AnswerLine {
                            end_to_end_id: id,
                            outcome,
                            answer: status,
                            reason_code,
                            reason_text,
                            amount_fen: t.amount_fen,
                            batch_ref: None,
                        });
                    }
                    return Ok(());
                }
                let in_group = path.iter().any(|n| n == "OrgnlGrpInfAndSts");
                let in_block = path.iter().any(|n| n == "OrgnlPmtInfAndSts");
                let reason = if in_group { &mut group_reason } else { &mut block_reason };
                if ends_with(path, &["GrpHdr", "MsgId"]) {
                    answer.message_id = text.to_owned();
                } else if ends_with(path, &["OrgnlGrpInfAndSts", "OrgnlMsgId"]) {
                    answer.batch_ref = Some(text.to_owned());
                } else if ends_with(path, &["OrgnlGrpInfAndSts", "OrgnlNbOfTxs"]) {
                    answer.original_count = Some(text.parse().map_err(|_| format!("OrgnlNbOfTxs {text:?}"))?);
                } else if ends_with(path, &["OrgnlGrpInfAndSts", "OrgnlCtrlSum"]) {
                    answer.original_sum_fen = Some(fen_of_yuan(text).map_err(|e| format!("OrgnlCtrlSum: {e}"))?);
                } else if ends_with(path, &["OrgnlGrpInfAndSts", "GrpSts"]) {
                    group_status = Some(text.to_owned());
                } else if ends_with(path, &["OrgnlPmtInfAndSts", "OrgnlPmtInfId"]) {
                    block_id = Some(text.to_owned());
                } else if ends_with(path, &["OrgnlPmtInfAndSts", "PmtInfSts"]) {
                    block_status = Some(text.to_owned());
                } else if (in_group || in_block)
                    && (ends_with(path, &["StsRsnInf", "Rsn", "Cd"]) || ends_with(path, &["StsRsnInf", "Rsn", "Prtry"]))
                {
                    reason.code = text.to_owned();
                } else if (in_group || in_block) && ends_with(path, &["StsRsnInf", "AddtlInf"]) {
                    reason.text.push(text.to_owned());
                } else if ends_with(path, &["OrgnlPmtInfAndSts"])
                    && let Some(status) = block_status.take()
                {
                    let id = block_id.take().ok_or("a payment block's status without OrgnlPmtInfId")?;
                    if let Some(block) = whole(Some(id), status, &mut block_reason)? {
                        answer.blocks.push(block);
                    }
                }
            }
        }
        Ok(())
    })?;
    if !namespace.starts_with("urn:iso:std:iso:20022:tech:xsd:pain.002.001.") {
        return Err(format!("namespace {namespace:?} is not a pain.002 status report's"));
    }
    if answer.message_id.is_empty() {
        return Err("the report has no GrpHdr/MsgId".into());
    }
    if answer.batch_ref.is_none() {
        return Err("the report names no original message (OrgnlGrpInfAndSts/OrgnlMsgId)".into());
    }
    if let Some(status) = group_status
        && let Some(group) = whole(None, status, &mut group_reason)?
    {
        answer.blocks.insert(0, group);
    }
    Ok(answer)
}

/// A group's or block's status, as it applies to transfers not listed: a final one (settled or
/// rejected) or an acknowledgement; `PART` says nothing about the unlisted ones.
fn whole(block: Option<String>, status: String, reason: &mut Reason) -> Result<Option<BlockStatus>, String> {
    let (reason_code, reason_text) = reason.take();
    if status == "PART" {
        return Ok(None);
    }
    let outcome = status_outcome(&status)?;
    Ok(Some(BlockStatus { payment_block: block, outcome, answer: status, reason_code, reason_text }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bank::answers::Outcome;

    const REPORT: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<Document xmlns="urn:iso:std:iso:20022:tech:xsd:pain.002.001.03"><CstmrPmtStsRpt>
<GrpHdr><MsgId>BANK-1</MsgId><CreDtTm>2016-03-20T10:00:00</CreDtTm></GrpHdr>
<OrgnlGrpInfAndSts><OrgnlMsgId>DOUDI-1</OrgnlMsgId><OrgnlMsgNmId>pain.001.001.03</OrgnlMsgNmId>
<OrgnlNbOfTxs>3</OrgnlNbOfTxs><OrgnlCtrlSum>825.00</OrgnlCtrlSum><GrpSts>PART</GrpSts></OrgnlGrpInfAndSts>
<OrgnlPmtInfAndSts><OrgnlPmtInfId>DOUDI-1-DIBAO</OrgnlPmtInfId>
<TxInfAndSts><OrgnlEndToEndId>7</OrgnlEndToEndId><TxSts>ACSC</TxSts>
<OrgnlTxRef><Amt><InstdAmt Ccy="CNY">275.00</InstdAmt></Amt></OrgnlTxRef></TxInfAndSts>
<TxInfAndSts><OrgnlEndToEndId>8</OrgnlEndToEndId><TxSts>RJCT</TxSts>
<StsRsnInf><Rsn><Cd>AC04</Cd></Rsn><AddtlInf>账户已销户</AddtlInf><AddtlInf>closed</AddtlInf></StsRsnInf></TxInfAndSts>
</OrgnlPmtInfAndSts>
<OrgnlPmtInfAndSts><OrgnlPmtInfId>DOUDI-1-TEKUN</OrgnlPmtInfId><PmtInfSts>RJCT</PmtInfSts>
<StsRsnInf><Rsn><Cd>AM04</Cd></Rsn></StsRsnInf></OrgnlPmtInfAndSts>
</CstmrPmtStsRpt></Document>"#;

    #[test]
    fn groups_blocks_and_transfers_with_reasons() {
        let a = read(REPORT).unwrap();
        assert_eq!((a.message_id.as_str(), a.batch_ref.as_deref()), ("BANK-1", Some("DOUDI-1")));
        assert_eq!((a.original_count, a.original_sum_fen), (Some(3), Some(82_500)));
        assert_eq!(a.lines.len(), 2);
        assert_eq!((a.lines[0].outcome, a.lines[0].amount_fen), (Outcome::Paid, Some(27_500)));
        assert_eq!(a.lines[1].outcome, Outcome::Rejected);
        assert_eq!((a.lines[1].reason_code.as_str(), a.lines[1].reason_text.as_str()), ("AC04", "账户已销户 closed"));
        assert_eq!(a.blocks.len(), 1, "PART says nothing of the unlisted");
        assert_eq!(a.blocks[0].payment_block.as_deref(), Some("DOUDI-1-TEKUN"));
        assert_eq!((a.blocks[0].outcome, a.blocks[0].reason_code.as_str()), (Outcome::Rejected, "AM04"));
    }

    #[test]
    fn what_a_report_must_say() {
        assert!(read(&REPORT.replace("<TxSts>ACSC</TxSts>", "<TxSts>WHAT</TxSts>")).is_err());
        assert!(read(&REPORT.replace("Ccy=\"CNY\"", "Ccy=\"EUR\"")).is_err());
        assert!(read(&REPORT.replace("<OrgnlMsgId>DOUDI-1</OrgnlMsgId>", "")).is_err());
        assert!(read(&REPORT.replace("<OrgnlEndToEndId>7</OrgnlEndToEndId>", "")).is_err());
        assert!(read(&REPORT.replace("pain.002.001.03", "pain.001.001.03")).is_err());
    }
}
