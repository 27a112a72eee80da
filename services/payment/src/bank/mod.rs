//! Bank files: the APPROVED instructions not yet in a batch go out as one batch (ISO 20022
//! pain.001.001.03, or CSV for county banks), marked SENT in the same transaction as the batch's
//! record; a batch the bank has not answered can be cancelled back to APPROVED. What the bank
//! answers (pain.002, camt.054) comes back in whole files that move SENT instructions to PAID,
//! FAILED or RETURNED, and each batch can be reconciled against it.

pub mod answers;
pub mod csv;
pub mod export;
pub mod import;
pub mod pain001;
pub mod reconcile;
pub mod reissue;

use crate::funds::Fund;

/// One credit transfer of a batch, with what the file needs in full (it is the one place the
/// account and name leave the service unmasked).
#[derive(Clone, PartialEq, Eq)]
pub struct Transfer {
    pub instruction_id: i64,
    pub fund: Fund,
    pub payee_ref: String,
    pub payee_name: String,
    pub account: String,
    pub amount_fen: i64,
    pub purpose: String,
}

impl std::fmt::Debug for Transfer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Transfer")
            .field("instruction_id", &self.instruction_id)
            .field("fund", &self.fund)
            .field("account", &doudi_core::pii::mask_account(&self.account))
            .field("amount_fen", &self.amount_fen)
            .finish_non_exhaustive()
    }
}

/// The debtor side of a fund's payments: the county's account for it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Debtor {
    pub name: String,
    pub account: String,
    pub bank_code: String,
}

/// Fen as yuan with two decimals, exactly (`27500` → `275.00`).
pub fn yuan(fen: i64) -> String {
    let sign = if fen < 0 { "-" } else { "" };
    format!("{sign}{}.{:02}", (fen / 100).abs(), (fen % 100).abs())
}

#[cfg(test)]
mod tests {
    use super::yuan;

    #[test]
    fn fen_become_yuan_exactly() {
        assert_eq!(yuan(27_500), "275.00");
        assert_eq!(yuan(1), "0.01");
        assert_eq!(yuan(123_456_789_012), "1234567890.12");
        assert_eq!(yuan(0), "0.00");
        assert_eq!(yuan(-105), "-1.05");
    }
}
