//! The ledger: double-entry in integer fen, append-only. Money for a fund and year moves
//! `appropriation → available → committed → paid`; each move is one transfer debiting one
//! account and crediting another by the same amount, so debits equal credits by construction,
//! and `doudi check` re-derives every balance from the transfers.
//!
//! | account | balance (credits − debits) |
//! |---|---|
//! | `appropriation:Y:F` | minus the budget set (the county's side) |
//! | `fund:F:Y:available` | budget not yet committed; never below zero (limited) |
//! | `fund:F:Y:committed` | reserved by instructions not yet paid (DRAFT, APPROVED, SENT) |
//! | `fund:F:Y:paid` | paid |
//! | `fund:F:Y:obligations` | minus what the fund's approved instructions owe or paid their payees |
//! | `payee:K:R:owed` | approved for payee R (of kind K), not yet paid |
//! | `payee:K:R:paid` | paid to the payee |
//!
//! The payee side is a second pair of entries: approving an instruction moves its amount from
//! its fund's obligations to the payee's owed account (cancelling it moves it back); the bank's
//! confirmation will move owed to paid, beside committed to paid on the fund side (issue 11,
//! with the bank clearing account).
//!
//! Like TigerBeetle's accounts, the limit is enforced where the transfer is written: the debit
//! of a limited account is a conditional update that fails when it would overdraw, so
//! concurrent reservations can never overdraw together.

pub mod check;
pub mod store;

use crate::funds::{Fund, PayeeKind};

/// Why money moved.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TransferKind {
    BudgetRaise,
    BudgetLower,
    Reserve,
    Release,
    Approve,
    Unapprove,
    Pay,
}

impl TransferKind {
    pub fn as_str(self) -> &'static str {
        match self {
            TransferKind::BudgetRaise => "budget.raise",
            TransferKind::BudgetLower => "budget.lower",
            TransferKind::Reserve => "reserve",
            TransferKind::Release => "release",
            TransferKind::Approve => "approve",
            TransferKind::Unapprove => "unapprove",
            TransferKind::Pay => "pay",
        }
    }
}

/// The accounts of one fund and year.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FundAccounts {
    pub appropriation: String,
    pub available: String,
    pub committed: String,
    pub paid: String,
    pub obligations: String,
}

impl FundAccounts {
    pub fn of(fund: Fund, year: i64) -> Self {
        Self {
            appropriation: format!("appropriation:{year}:{fund}"),
            available: format!("fund:{fund}:{year}:available"),
            committed: format!("fund:{fund}:{year}:committed"),
            paid: format!("fund:{fund}:{year}:paid"),
            obligations: format!("fund:{fund}:{year}:obligations"),
        }
    }
}

/// A payee's accounts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PayeeAccounts {
    pub owed: String,
    pub paid: String,
}

impl PayeeAccounts {
    pub fn of(kind: PayeeKind, reference: &str) -> Self {
        Self { owed: format!("payee:{kind}:{reference}:owed"), paid: format!("payee:{kind}:{reference}:paid") }
    }
}
