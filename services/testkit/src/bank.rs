//! A bank's answers as tests and benchmarks need them, written the way banks write them: a
//! pain.002.001.03 status report and a camt.054.001.02 notification of the county's account.
//! (The interop tests' bank, tests/bank_sim, validates the same shapes against the official XSDs.)

use std::fmt::Write;

/// Fen as the bank writes yuan.
fn yuan(fen: i64) -> String {
    format!("{}.{:02}", fen / 100, fen % 100)
}

/// One transfer's status: `(EndToEndId, TxSts, reason code or "", fen)`.
pub type Status<'a> = (i64, &'a str, &'a str, i64);

/// A status report answering batch `batch_ref`; `original`, the count and sum it says were sent.
pub fn pain002(message_id: &str, batch_ref: &str, original: Option<(i64, i64)>, txs: &[Status<'_>]) -> String {
    let totals = original
        .map(|(n, fen)| format!("<OrgnlNbOfTxs>{n}</OrgnlNbOfTxs><OrgnlCtrlSum>{}</OrgnlCtrlSum>", yuan(fen)))
        .unwrap_or_default();
    let mut xml = String::with_capacity(512 + txs.len() * 200);
    let _ = write!(
        xml,
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Document xmlns=\"urn:iso:std:iso:20022:tech:xsd:pain.002.001.03\">\
         <CstmrPmtStsRpt><GrpHdr><MsgId>{message_id}</MsgId><CreDtTm>2016-03-21T09:00:00</CreDtTm></GrpHdr>\
         <OrgnlGrpInfAndSts><OrgnlMsgId>{batch_ref}</OrgnlMsgId><OrgnlMsgNmId>pain.001.001.03</OrgnlMsgNmId>\
         {totals}<GrpSts>PART</GrpSts></OrgnlGrpInfAndSts>\
         <OrgnlPmtInfAndSts><OrgnlPmtInfId>{batch_ref}-DIBAO</OrgnlPmtInfId>\n"
    );
    for (id, status, reason, fen) in txs {
        let reason = if reason.is_empty() {
            String::new()
        } else {
            format!("<StsRsnInf><Rsn><Cd>{reason}</Cd></Rsn><AddtlInf>账户已销户</AddtlInf></StsRsnInf>")
        };
        let _ = writeln!(
            xml,
            "<TxInfAndSts><OrgnlEndToEndId>{id}</OrgnlEndToEndId><TxSts>{status}</TxSts>{reason}\
             <OrgnlTxRef><Amt><InstdAmt Ccy=\"CNY\">{}</InstdAmt></Amt></OrgnlTxRef></TxInfAndSts>",
            yuan(*fen)
        );
    }
    xml.push_str("</OrgnlPmtInfAndSts></CstmrPmtStsRpt></Document>\n");
    xml
}

/// One booked entry: `(EndToEndId, debit, fen, return reason or "")`; a credit is a return.
pub type Entry<'a> = (i64, bool, i64, &'a str);

/// A notification of `account`'s booked entries.
pub fn camt054(message_id: &str, account: &str, entries: &[Entry<'_>]) -> String {
    let mut xml = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Document xmlns=\"urn:iso:std:iso:20022:tech:xsd:camt.054.001.02\">\
         <BkToCstmrDbtCdtNtfctn><GrpHdr><MsgId>{message_id}</MsgId><CreDtTm>2016-03-28T09:00:00</CreDtTm></GrpHdr>\
         <Ntfctn><Id>{message_id}-1</Id><CreDtTm>2016-03-28T09:00:00</CreDtTm>\
         <Acct><Id><Othr><Id>{account}</Id></Othr></Id></Acct>\n"
    );
    for (id, debit, fen, reason) in entries {
        let indicator = if *debit { "DBIT" } else { "CRDT" };
        let returned = if reason.is_empty() {
            String::new()
        } else {
            format!("<RtrInf><Rsn><Cd>{reason}</Cd></Rsn><AddtlInf>户名不符</AddtlInf></RtrInf>")
        };
        let amount = yuan(*fen);
        let _ = writeln!(
            xml,
            "<Ntry><Amt Ccy=\"CNY\">{amount}</Amt><CdtDbtInd>{indicator}</CdtDbtInd><Sts>BOOK</Sts>\
             <BookgDt><Dt>2016-03-28</Dt></BookgDt><BkTxCd/><NtryDtls><TxDtls><Refs><EndToEndId>{id}</EndToEndId></Refs>\
             <AmtDtls><TxAmt><Amt Ccy=\"CNY\">{amount}</Amt></TxAmt></AmtDtls>{returned}</TxDtls></NtryDtls></Ntry>"
        );
    }
    xml.push_str("</Ntfctn></BkToCstmrDbtCdtNtfctn></Document>\n");
    xml
}
