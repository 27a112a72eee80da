//! Reconciliation (对账): a hospital's net of settlements and reversals over a range of days,
//! compared with the hospital's own figures, bill by bill when it sends them.

use crate::error::Result;
use crate::reconcile::rules::{self, Amounts, Totals};
use crate::service::SettlementService;
use crate::settle::bill::check_bill_no;
use crate::settle::ops::HospitalRef;
use doudi_core::{Date, Violations};

/// A hospital's reconciliation request, as received.
#[derive(Debug, Clone)]
pub struct RawClaim<'a> {
    pub from_date: &'a str,
    pub to_date: &'a str,
    pub totals: Totals,
    pub bills: Option<Vec<(String, Amounts)>>,
}

#[derive(Debug, Clone)]
pub struct ReconciliationView {
    pub from: Date,
    pub to: Date,
    pub claimed: Totals,
    pub outcome: rules::Outcome,
}

/// The longest range one reconciliation may cover.
pub const MAX_RECONCILIATION_DAYS: i64 = 366;

impl SettlementService {
    pub async fn reconcile(&self, hospital: &HospitalRef, claim: &RawClaim<'_>) -> Result<ReconciliationView> {
        let mut violations = Violations::new();
        let from = violations.check("fromDate", claim.from_date.parse::<Date>());
        let to = violations.check("toDate", claim.to_date.parse::<Date>());
        if let (Some(from), Some(to)) = (from, to) {
            if to < from {
                violations.add("toDate", "is before fromDate");
            } else if to.days_since_epoch() - from.days_since_epoch() >= MAX_RECONCILIATION_DAYS {
                violations.add("toDate", format!("a reconciliation covers at most {MAX_RECONCILIATION_DAYS} days"));
            }
        }
        if let Some(bills) = &claim.bills {
            let mut seen = std::collections::HashSet::new();
            for (i, (bill_no, _)) in bills.iter().enumerate() {
                if let Err(e) = check_bill_no(bill_no) {
                    violations.add(format!("bills[{i}].billNo"), e);
                } else if !seen.insert(bill_no.as_str()) {
                    violations.add(format!("bills[{i}].billNo"), "is listed twice");
                }
            }
        }
        let (Some(from), Some(to)) = (from, to) else {
            return Err(violations.into());
        };
        if !violations.is_empty() {
            return Err(violations.into());
        }
        let ours = self.store.bills_touched(&hospital.code, from, to).await?;
        let outcome = rules::reconcile(&ours, claim.totals, claim.bills.as_deref());
        Ok(ReconciliationView { from, to, claimed: claim.totals, outcome })
    }
}
