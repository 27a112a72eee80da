//! camt.054 (bank-to-customer debit/credit notification), any `camt.054.001.*` version: for each
//! notified account, the booked entries; a debit naming our `EndToEndId` paid that transfer, a
//! credit naming it brought the payment back (its `RtrInf` says why). Entries not booked
//! (pending, information) and entries naming no `EndToEndId` (fees, interest) change nothing
//! and are not read.

use crate::bank::answers::xml::{Step, ends_with, walk};
use crate::bank::answers::{AnswerKind, AnswerLine, BankAnswer, Outcome, amount};

#[derive(Default)]
struct Detail {
    end_to_end_id: Option<String>,
    batch_ref: Option<String>,
    amount_fen: Option<i64>,
    returned: bool,
    reason_code: String,
    reason_text: Vec<String>,
}

#[derive(Default)]
struct Entry {
    amount_fen: Option<i64>,
    debit: Option<bool>,
    reversal: bool,
    status: String,
    details: Vec<Detail>,
}

pub fn read(xml: &str) -> Result<BankAnswer, String> {
    let mut answer = BankAnswer::empty(AnswerKind::Notification);
    let mut entry: Option<Entry> = None;
    let namespace = walk(xml, |step| {
        match step {
            Step::Open(path) if path.last().is_some_and(|n| n == "Ntry") => entry = Some(Entry::default()),
            Step::Open(path) if path.last().is_some_and(|n| n == "TxDtls") => {
                if let Some(e) = entry.as_mut() {
                    e.details.push(Detail::default());
                }
            }
            Step::Open(_) => {}
            Step::Close(path, text, currency) => {
                let Some(e) = entry.as_mut() else {
                    if ends_with(path, &["GrpHdr", "MsgId"]) {
                        answer.message_id = text.to_owned();
                    } else if ends_with(path, &["Ntfctn", "Acct", "Id", "Othr", "Id"])
                        || ends_with(path, &["Ntfctn", "Acct", "Id", "IBAN"])
                    {
                        answer.accounts.push(text.to_owned());
                    }
                    return Ok(());
                };
                if let Some(d) = e.details.last_mut().filter(|_| path.iter().any(|n| n == "TxDtls")) {
                    if ends_with(path, &["TxDtls", "Refs", "EndToEndId"]) {
                        d.end_to_end_id = Some(text.to_owned()).filter(|t| t != "NOTPROVIDED");
                    } else if ends_with(path, &["TxDtls", "Refs", "MsgId"]) {
                        d.batch_ref = Some(text.to_owned());
                    } else if ends_with(path, &["TxDtls", "AmtDtls", "TxAmt", "Amt"])
                        || ends_with(path, &["TxDtls", "AmtDtls", "InstdAmt", "Amt"]) && d.amount_fen.is_none()
                        || ends_with(path, &["TxDtls", "Amt"])
                    {
                        d.amount_fen = Some(amount(text, currency, "a transaction's amount")?);
                    } else if ends_with(path, &["RtrInf", "Rsn", "Cd"]) || ends_with(path, &["RtrInf", "Rsn", "Prtry"])
                    {
                        d.returned = true;
                        d.reason_code = text.to_owned();
                    } else if ends_with(path, &["RtrInf", "AddtlInf"]) {
                        d.returned = true;
                        d.reason_text.push(text.to_owned());
                    } else if ends_with(path, &["TxDtls", "RtrInf"]) {
                        d.returned = true;
                    }
                    return Ok(());
                }
                if ends_with(path, &["Ntry", "Amt"]) {
                    e.amount_fen = Some(amount(text, currency, "an entry's amount")?);
                } else if ends_with(path, &["Ntry", "CdtDbtInd"]) {
                    e.debit = Some(match text {
                        "DBIT" => true,
                        "CRDT" => false,
                        other => return Err(format!("CdtDbtInd {other:?} is neither DBIT nor CRDT")),
                    });
                } else if ends_with(path, &["Ntry", "RvslInd"]) {
                    e.reversal = text == "true" || text == "1";
                } else if ends_with(path, &["Ntry", "Sts"]) || ends_with(path, &["Ntry", "Sts", "Cd"]) {
                    e.status = text.to_owned();
                } else if ends_with(path, &["Ntry"]) {
                    let e = entry.take().expect("inside an entry");
                    lines_of(e, &mut answer.lines)?;
                }
            }
        }
        Ok(())
    })?;
    if !namespace.starts_with("urn:iso:std:iso:20022:tech:xsd:camt.054.001.") {
        return Err(format!("namespace {namespace:?} is not a camt.054 notification's"));
    }
    if answer.message_id.is_empty() {
        return Err("the notification has no GrpHdr/MsgId".into());
    }
    if answer.accounts.is_empty() {
        return Err("the notification names no account (Ntfctn/Acct/Id)".into());
    }
    Ok(answer)
}

fn lines_of(entry: Entry, lines: &mut Vec<AnswerLine>) -> Result<(), String> {
    if entry.status != "BOOK" {
        return Ok(());
    }
    let debit = entry.debit.ok_or("a booked entry without CdtDbtInd")?;
    let single = entry.details.len() == 1;
    let listed: Vec<Detail> = entry.details.into_iter().filter(|d| d.end_to_end_id.is_some()).collect();
    if !listed.is_empty() && listed.iter().all(|d| d.amount_fen.is_some()) {
        let sum: i64 = listed.iter().filter_map(|d| d.amount_fen).sum();
        if let Some(total) = entry.amount_fen
            && single
            && sum != total
        {
            return Err(format!("an entry of {total} fen whose transaction says {sum} fen"));
        }
    }
    for d in listed {
        let id = d.end_to_end_id.expect("filtered");
        let amount_fen = d.amount_fen.or(if single { entry.amount_fen } else { None });
        let amount_fen = Some(amount_fen.ok_or_else(|| format!("the entry for {id} does not say its amount"))?);
        // Money leaving the county's account pays the transfer; money coming back (a credit, or
        // the reversal of the debit) is its return.
        let returned = !debit || entry.reversal;
        if !returned && d.returned {
            return Err(format!("{id}: a debit with return information"));
        }
        lines.push(AnswerLine {
            end_to_end_id: id,
            outcome: if returned { Outcome::Returned } else { Outcome::Paid },
            answer: if returned { "RTRN".into() } else { "BOOK".into() },
            reason_code: d.reason_code,
            reason_text: d.reason_text.join(" "),
            amount_fen,
            batch_ref: d.batch_ref,
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOTIFICATION: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<Document xmlns="urn:iso:std:iso:20022:tech:xsd:camt.054.001.02"><BkToCstmrDbtCdtNtfctn>
<GrpHdr><MsgId>N-1</MsgId><CreDtTm>2016-03-27T10:00:00</CreDtTm></GrpHdr>
<Ntfctn><Id>N-1-1</Id><CreDtTm>2016-03-27T10:00:00</CreDtTm>
<Acct><Id><Othr><Id>9558800000000001</Id></Othr></Id></Acct>
<Ntry><Amt Ccy="CNY">550.00</Amt><CdtDbtInd>DBIT</CdtDbtInd><Sts>BOOK</Sts><BkTxCd/>
<NtryDtls><TxDtls><Refs><MsgId>DOUDI-1</MsgId><EndToEndId>7</EndToEndId></Refs>
<AmtDtls><TxAmt><Amt Ccy="CNY">275.00</Amt></TxAmt></AmtDtls></TxDtls>
<TxDtls><Refs><EndToEndId>9</EndToEndId></Refs><AmtDtls><TxAmt><Amt Ccy="CNY">275.00</Amt></TxAmt></AmtDtls></TxDtls>
</NtryDtls></Ntry>
<Ntry><Amt Ccy="CNY">275.00</Amt><CdtDbtInd>CRDT</CdtDbtInd><Sts>BOOK</Sts><BkTxCd/>
<NtryDtls><TxDtls><Refs><EndToEndId>7</EndToEndId></Refs>
<RtrInf><Rsn><Cd>AC04</Cd></Rsn><AddtlInf>closed account</AddtlInf></RtrInf></TxDtls></NtryDtls></Ntry>
<Ntry><Amt Ccy="CNY">1.00</Amt><CdtDbtInd>DBIT</CdtDbtInd><Sts>PDNG</Sts><BkTxCd/>
<NtryDtls><TxDtls><Refs><EndToEndId>10</EndToEndId></Refs></TxDtls></NtryDtls></Ntry>
<Ntry><Amt Ccy="CNY">2.00</Amt><CdtDbtInd>DBIT</CdtDbtInd><Sts>BOOK</Sts><BkTxCd/></Ntry>
</Ntfctn></BkToCstmrDbtCdtNtfctn></Document>"#;

    #[test]
    fn booked_debits_pay_and_credits_return() {
        let a = read(NOTIFICATION).unwrap();
        assert_eq!((a.message_id.as_str(), a.accounts.as_slice()), ("N-1", &["9558800000000001".to_owned()][..]));
        let seen: Vec<_> = a.lines.iter().map(|l| (l.end_to_end_id.as_str(), l.outcome, l.amount_fen)).collect();
        assert_eq!(
            seen,
            [
                ("7", Outcome::Paid, Some(27_500)),
                ("9", Outcome::Paid, Some(27_500)),
                ("7", Outcome::Returned, Some(27_500))
            ]
        );
        assert_eq!(a.lines[0].batch_ref.as_deref(), Some("DOUDI-1"));
        assert_eq!((a.lines[2].reason_code.as_str(), a.lines[2].reason_text.as_str()), ("AC04", "closed account"));
    }

    #[test]
    fn what_a_notification_must_say() {
        assert!(read(&NOTIFICATION.replace("<CdtDbtInd>CRDT</CdtDbtInd>", "<CdtDbtInd>X</CdtDbtInd>")).is_err());
        assert!(
            read(&NOTIFICATION.replace("<Acct><Id><Othr><Id>9558800000000001</Id></Othr></Id></Acct>", "")).is_err()
        );
        assert!(
            read(&NOTIFICATION.replace("Ccy=\"CNY\">275.00</Amt></TxAmt>", "Ccy=\"CNY\">275.001</Amt></TxAmt>"))
                .is_err()
        );
    }
}
