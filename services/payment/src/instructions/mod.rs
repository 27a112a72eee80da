//! Payment instructions: made once per sender key, reserved against their fund's budget or HELD
//! with the reason, approved, cancelled, and every change of state an event with who and why.

pub mod convert;
pub mod ops;
pub mod store;

use crate::funds::{Fund, Kind, Month, PayeeKind, State};
use doudi_core::pii::BankAccount;
use sha2::{Digest, Sha256};

/// A payroll instruction's place: the household, the kind, the month paid for and the run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PayrollPlace {
    pub household_no: String,
    pub kind: Kind,
    pub month: Month,
    pub run_month: Month,
}

/// An instruction to make. `Debug` masks the account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewInstruction {
    pub source: String,
    pub source_ref: String,
    pub fund: Fund,
    pub budget_year: i64,
    pub payee_kind: PayeeKind,
    pub payee_ref: String,
    pub payee_name: String,
    pub account: Option<BankAccount>,
    /// What is paid: the gross less what is withheld.
    pub amount: i64,
    pub gross: i64,
    pub withheld: i64,
    pub purpose: String,
    pub reference: String,
    /// Payroll instructions wait for county approval; the others are approved by their sender.
    pub approval_required: bool,
    pub payroll: Option<PayrollPlace>,
}

impl NewInstruction {
    /// What "the same instruction" means for a repeated submission: every field the sender
    /// gave, the account included (as a digest, never stored in clear).
    pub fn content_digest(&self) -> String {
        let mut hash = Sha256::new();
        for part in [
            self.fund.as_str(),
            &self.budget_year.to_string(),
            self.payee_kind.as_str(),
            &self.payee_ref,
            &self.payee_name,
            self.account.as_ref().map_or("", BankAccount::expose),
            &self.amount.to_string(),
            &self.purpose,
            &self.reference,
        ] {
            hash.update(part.len().to_le_bytes());
            hash.update(part.as_bytes());
        }
        hex::encode(hash.finalize())
    }

    /// The state a reserved instruction starts in.
    pub fn reserved_state(&self) -> State {
        if self.approval_required { State::Draft } else { State::Approved }
    }
}

/// Why an instruction is HELD: its fund, the budget, what is committed and paid, and its amount.
pub fn held_reason(fund: Fund, year: i64, budget: i64, committed: i64, paid: i64, amount: i64, queued: bool) -> String {
    let why = if queued { "earlier instructions of the fund are held" } else { "it would overdraw the fund" };
    format!(
        "{why}: {fund} {year} budget {budget} fen, committed {committed} fen, paid {paid} fen, this instruction {amount} fen"
    )
}
