//! ISO 20022 `pain.001.001.03` (customer credit transfer initiation), written by hand: a group
//! header (`MsgId` = the batch, `NbOfTxs`, `CtrlSum`), one payment information block per fund
//! with that fund's debtor account, one `CdtTrfTxInf` per instruction (`EndToEndId` = the
//! instruction id). The element order is the schema's; the interop tests validate the output
//! against the official XSD.

use crate::bank::{Debtor, Transfer, yuan};
use crate::funds::Fund;
use std::fmt::Write;

pub const NAMESPACE: &str = "urn:iso:std:iso:20022:tech:xsd:pain.001.001.03";

/// XML text content: the five escapes, and characters XML 1.0 cannot carry dropped.
fn text(value: &str, max_chars: usize) -> String {
    let mut out = String::with_capacity(value.len());
    for c in value.chars().filter(|c| !c.is_control() || *c == '\t').take(max_chars) {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            c => out.push(c),
        }
    }
    out
}

/// The batch's document. `transfers` are grouped by fund in the order given; `created` is the
/// batch's creation instant (`YYYY-MM-DDTHH:MM:SS`), `execution_day` the requested day.
pub fn document(
    batch_ref: &str,
    created: &str,
    execution_day: &str,
    initiator: &str,
    debtors: &dyn Fn(Fund) -> Debtor,
    transfers: &[Transfer],
) -> String {
    let total: i64 = transfers.iter().map(|t| t.amount_fen).sum();
    let mut xml = String::with_capacity(512 + transfers.len() * 520);
    let _ = write!(
        xml,
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Document xmlns=\"{NAMESPACE}\">\n<CstmrCdtTrfInitn>\n\
         <GrpHdr><MsgId>{}</MsgId><CreDtTm>{}</CreDtTm><NbOfTxs>{}</NbOfTxs><CtrlSum>{}</CtrlSum>\
         <InitgPty><Nm>{}</Nm></InitgPty></GrpHdr>\n",
        text(batch_ref, 35),
        text(created, 19),
        transfers.len(),
        yuan(total),
        text(initiator, 140)
    );
    let mut start = 0;
    while start < transfers.len() {
        let fund = transfers[start].fund;
        let end = start + transfers[start..].iter().take_while(|t| t.fund == fund).count();
        let block = &transfers[start..end];
        let debtor = debtors(fund);
        let _ = writeln!(
            xml,
            "<PmtInf><PmtInfId>{}</PmtInfId><PmtMtd>TRF</PmtMtd><NbOfTxs>{}</NbOfTxs><CtrlSum>{}</CtrlSum>\
             <ReqdExctnDt>{}</ReqdExctnDt><Dbtr><Nm>{}</Nm></Dbtr>\
             <DbtrAcct><Id><Othr><Id>{}</Id></Othr></Id></DbtrAcct>\
             <DbtrAgt><FinInstnId><Othr><Id>{}</Id></Othr></FinInstnId></DbtrAgt>",
            text(&format!("{batch_ref}-{fund}"), 35),
            block.len(),
            yuan(block.iter().map(|t| t.amount_fen).sum()),
            text(execution_day, 10),
            text(&debtor.name, 140),
            text(&debtor.account, 34),
            text(&debtor.bank_code, 35)
        );
        for t in block {
            let _ = writeln!(
                xml,
                "<CdtTrfTxInf><PmtId><EndToEndId>{}</EndToEndId></PmtId>\
                 <Amt><InstdAmt Ccy=\"CNY\">{}</InstdAmt></Amt>\
                 <Cdtr><Nm>{}</Nm></Cdtr><CdtrAcct><Id><Othr><Id>{}</Id></Othr></Id></CdtrAcct>\
                 <RmtInf><Ustrd>{}</Ustrd></RmtInf></CdtTrfTxInf>",
                t.instruction_id,
                yuan(t.amount_fen),
                text(if t.payee_name.is_empty() { &t.payee_ref } else { &t.payee_name }, 140),
                text(&t.account, 34),
                text(&t.purpose, 140)
            );
        }
        xml.push_str("</PmtInf>\n");
        start = end;
    }
    xml.push_str("</CstmrCdtTrfInitn>\n</Document>\n");
    xml
}

#[cfg(test)]
mod tests {
    use super::*;

    fn transfer(id: i64, fund: Fund, fen: i64) -> Transfer {
        Transfer {
            instruction_id: id,
            fund,
            payee_ref: format!("H{id}"),
            payee_name: "张<三>&".into(),
            account: "6228480000000011".into(),
            amount_fen: fen,
            purpose: "DIBAO 2016-03".into(),
        }
    }

    #[test]
    fn one_block_per_fund_with_counts_sums_and_escaped_text() {
        let debtor = |fund: Fund| Debtor {
            name: "县民政局".into(),
            account: format!("9{}", fund.as_str().len()),
            bank_code: "402".into(),
        };
        let transfers =
            [transfer(1, Fund::Dibao, 27_500), transfer(2, Fund::Dibao, 1), transfer(3, Fund::Tekun, 35_000)];
        let xml = document("B-1", "2026-12-02T10:00:00", "2026-12-03", "县民政局", &debtor, &transfers);
        assert!(xml.contains("<NbOfTxs>3</NbOfTxs><CtrlSum>625.01</CtrlSum>"));
        assert!(xml.contains(
            "<PmtInfId>B-1-DIBAO</PmtInfId><PmtMtd>TRF</PmtMtd><NbOfTxs>2</NbOfTxs><CtrlSum>275.01</CtrlSum>"
        ));
        assert!(xml.contains(
            "<PmtInfId>B-1-TEKUN</PmtInfId><PmtMtd>TRF</PmtMtd><NbOfTxs>1</NbOfTxs><CtrlSum>350.00</CtrlSum>"
        ));
        assert!(xml.contains("<EndToEndId>2</EndToEndId></PmtId><Amt><InstdAmt Ccy=\"CNY\">0.01</InstdAmt>"));
        assert!(xml.contains("<Nm>张&lt;三&gt;&amp;</Nm>"));
        assert_eq!(xml.matches("<PmtInf>").count(), 2);
    }
}
