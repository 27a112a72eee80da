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
//!
//! Like TigerBeetle's accounts, the limit is enforced where the transfer is written: the debit
//! of a limited account is a conditional update that fails when it would overdraw, so
//! concurrent reservations can never overdraw together.

pub mod check;
pub mod store;

use crate::funds::Fund;

/// Why money moved.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TransferKind {
    BudgetRaise,
    BudgetLower,
    Reserve,
    Release,
    Pay,
}

impl TransferKind {
    pub fn as_str(self) -> &'static str {
        match self {
            TransferKind::BudgetRaise => "budget.raise",
            TransferKind::BudgetLower => "budget.lower",
            TransferKind::Reserve => "reserve",
            TransferKind::Release => "release",
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
}

impl FundAccounts {
    pub fn of(fund: Fund, year: i64) -> Self {
        Self {
            appropriation: format!("appropriation:{year}:{fund}"),
            available: format!("fund:{fund}:{year}:available"),
            committed: format!("fund:{fund}:{year}:committed"),
            paid: format!("fund:{fund}:{year}:paid"),
        }
    }
}
