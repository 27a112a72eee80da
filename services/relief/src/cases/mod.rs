//! Temporary relief cases: what was brought (a registered household or a person not yet
//! registered), the steps taken on it, its grants and documents.

pub mod convert;
pub mod grant;
pub mod ops;
pub mod store;

use doudi_core::named;

named!(
    /// 急难型 or 支出型.
    CaseKind { Emergency = "EMERGENCY", Expenditure = "EXPENDITURE" }
);

named!(
    /// Where a case is. OVERDUE is not stored: an EMERGENCY_GRANTED case past its paperwork day
    /// reads as OVERDUE (the day moves, the row does not).
    CaseState {
        Submitted = "SUBMITTED",
        Accepted = "ACCEPTED",
        Reviewed = "REVIEWED",
        Approved = "APPROVED",
        EmergencyGranted = "EMERGENCY_GRANTED",
        Overdue = "OVERDUE",
        Rejected = "REJECTED",
    }
);

/// A document as recorded: its name, kind and content hash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Document {
    pub name: String,
    pub kind: String,
    pub sha256: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GrantRecord {
    pub case_id: i64,
    pub part: i64,
    pub amount_fen: i64,
    pub standard_fen: i64,
    pub decided_on: String,
    pub decided_by: String,
    pub authority: String,
    pub emergency: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CaseEvent {
    pub at: String,
    pub actor: String,
    pub from: CaseState,
    pub to: CaseState,
    pub note: String,
}

/// A case as stored, its person masked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredCase {
    pub id: i64,
    pub kind: CaseKind,
    /// As stored (never OVERDUE); `state_on(today)` is what staff see.
    pub stored_state: CaseState,
    pub household_no: Option<String>,
    pub household_key: String,
    pub person_name_masked: String,
    pub national_id_masked: String,
    pub township: String,
    pub facts: String,
    pub asked_fen: i64,
    pub granted_fen: i64,
    pub grant_year: Option<i64>,
    pub occurred_on: String,
    pub paperwork_due: Option<String>,
    pub paperwork_done_on: Option<String>,
    pub paperwork_late: bool,
    pub rejected_reason: Option<String>,
    pub special_approval: Option<String>,
    pub created_at: String,
    pub created_by: String,
}

impl StoredCase {
    /// The state as of `today`: an emergency grant past its paperwork day is OVERDUE.
    pub fn state_on(&self, today: doudi_core::Date) -> CaseState {
        match (&self.stored_state, &self.paperwork_due) {
            (CaseState::EmergencyGranted, Some(due)) if due.as_str() < today.to_string().as_str() => CaseState::Overdue,
            (state, _) => *state,
        }
    }
}
