//! The spreadsheet a county bank takes (农信社 代发): the configured columns, a header, one line
//! per instruction, and the batch's count and sum in a last line.

use crate::bank::{Transfer, yuan};
use crate::files::csv_field;

pub const COLUMNS: [&str; 8] =
    ["instruction_id", "payee_name", "account", "amount_yuan", "amount_fen", "purpose", "fund", "payee_ref"];

/// The configured columns, each checked against `COLUMNS`.
pub fn columns(configured: &str) -> Result<Vec<String>, String> {
    let columns: Vec<String> = configured.split(',').map(|c| c.trim().to_owned()).filter(|c| !c.is_empty()).collect();
    if columns.is_empty() {
        return Err("payment.csv_columns names no column".into());
    }
    if let Some(bad) = columns.iter().find(|c| !COLUMNS.contains(&c.as_str())) {
        return Err(format!("payment.csv_columns: {bad} is not one of {}", COLUMNS.join(", ")));
    }
    Ok(columns)
}

/// The last line names the batch too: the bank's answer quotes it (as `OrgnlMsgId`).
pub fn document(columns: &[String], batch_ref: &str, transfers: &[Transfer]) -> String {
    let mut out = columns.join(",");
    out.push('\n');
    for t in transfers {
        let values: Vec<String> = columns
            .iter()
            .map(|c| match c.as_str() {
                "instruction_id" => t.instruction_id.to_string(),
                "payee_name" => csv_field(if t.payee_name.is_empty() { &t.payee_ref } else { &t.payee_name }),
                "account" => csv_field(&t.account),
                "amount_yuan" => yuan(t.amount_fen),
                "amount_fen" => t.amount_fen.to_string(),
                "purpose" => csv_field(&t.purpose),
                "fund" => t.fund.to_string(),
                _ => csv_field(&t.payee_ref),
            })
            .collect();
        out.push_str(&values.join(","));
        out.push('\n');
    }
    let total: i64 = transfers.iter().map(|t| t.amount_fen).sum();
    out.push_str(&format!("TOTAL,{},{},{}\n", transfers.len(), yuan(total), csv_field(batch_ref)));
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::funds::Fund;

    #[test]
    fn configured_columns_a_header_and_a_total_line() {
        let t = Transfer {
            instruction_id: 7,
            fund: Fund::Dibao,
            payee_ref: "H1".into(),
            payee_name: "王,五".into(),
            account: "6228480000000011".into(),
            amount_fen: 27_501,
            purpose: "DIBAO 2016-03".into(),
        };
        let columns = columns("instruction_id, payee_name,account,amount_yuan").unwrap();
        let text = document(&columns, "DOUDI-1", &[t.clone(), t]);
        assert_eq!(
            text,
            "instruction_id,payee_name,account,amount_yuan\n7,\"王,五\",6228480000000011,275.01\n\
             7,\"王,五\",6228480000000011,275.01\nTOTAL,2,550.02,DOUDI-1\n"
        );
        assert!(super::columns("id,amount").is_err());
    }
}
