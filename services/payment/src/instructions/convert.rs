//! Instructions between proto and domain: a request parsed once into a `NewInstruction` (every
//! bad field named), a stored instruction into its answer (the account masked).

use crate::funds::{Fund, PayeeKind, State};
use crate::instructions::NewInstruction;
use crate::instructions::ops::InstructionFilter;
use crate::instructions::store::{StoredEvent, StoredInstruction};
use doudi_core::Violations;
use doudi_core::pii::BankAccount;
use doudi_proto::payment::v1 as pb;

const MAX_TEXT: usize = 200;

fn text(violations: &mut Violations, field: &str, value: &str, required: bool) -> String {
    let value = value.trim();
    if required && value.is_empty() {
        violations.add(field, "is required");
    } else if value.chars().count() > MAX_TEXT {
        violations.add(field, format!("must be at most {MAX_TEXT} characters"));
    } else if value.chars().any(char::is_control) {
        violations.add(field, "must not contain control characters");
    }
    value.to_owned()
}

/// A submitted instruction, checked field by field.
pub fn new_instruction(r: &pb::SubmitInstructionRequest) -> Result<NewInstruction, Violations> {
    let mut v = Violations::default();
    let source = text(&mut v, "source", &r.source, true);
    if source == "payroll" || source == "payables" || source == "premiums" {
        v.add("source", "is reserved for the payment service's own runs");
    }
    let source_ref = text(&mut v, "sourceRef", &r.source_ref, true);
    let fund = Fund::from_proto(r.fund);
    if fund.is_none() {
        v.add("fund", "must be one of DIBAO, TEKUN, PRICE_SUBSIDY, MEDICAL_ASSISTANCE, PREMIUM_SUBSIDY, RELIEF");
    }
    if !(2000..=2100).contains(&r.budget_year) {
        v.add("budgetYear", "must be a year between 2000 and 2100");
    }
    let payee = r.payee.clone().unwrap_or_default();
    let payee_kind = PayeeKind::from_proto(payee.kind);
    if payee_kind.is_none() {
        v.add("payee.kind", "must be HOUSEHOLD, HOSPITAL, INSURER or ACCOUNT");
    }
    let payee_ref = text(&mut v, "payee.reference", &payee.reference, true);
    let payee_name = text(&mut v, "payee.name", &payee.name, false);
    let account = match BankAccount::parse(&payee.account) {
        Ok(account) => Some(account),
        Err(e) => {
            v.add("payee.account", e.to_string());
            None
        }
    };
    if r.amount_fen <= 0 {
        v.add("amountFen", "must be positive");
    }
    let purpose = text(&mut v, "purpose", &r.purpose, true);
    let reference = text(&mut v, "reference", &r.reference, false);
    if !v.is_empty() {
        return Err(v);
    }
    Ok(NewInstruction {
        source,
        source_ref,
        fund: fund.expect("checked"),
        budget_year: i64::from(r.budget_year),
        payee_kind: payee_kind.expect("checked"),
        payee_ref,
        payee_name,
        account,
        amount: r.amount_fen,
        gross: r.amount_fen,
        withheld: 0,
        purpose,
        reference,
        approval_required: false,
        payroll: None,
    })
}

pub fn filter(r: &pb::ListInstructionsRequest) -> Result<InstructionFilter, Violations> {
    let mut v = Violations::default();
    let state = (r.state != 0).then(|| State::from_proto(r.state)).flatten();
    if r.state != 0 && state.is_none() {
        v.add("state", "is not an instruction state");
    }
    let fund = (r.fund != 0).then(|| Fund::from_proto(r.fund)).flatten();
    if r.fund != 0 && fund.is_none() {
        v.add("fund", "is not a fund");
    }
    let payee_kind = (r.payee_kind != 0).then(|| PayeeKind::from_proto(r.payee_kind)).flatten();
    if r.payee_kind != 0 && payee_kind.is_none() {
        v.add("payeeKind", "is not a payee kind");
    }
    let month = if r.month.is_empty() {
        None
    } else {
        let parsed = crate::funds::Month::parse(&r.month);
        if parsed.is_none() {
            v.add("month", "must be YYYY-MM");
        }
        parsed
    };
    if !(0..=1_000).contains(&r.limit) {
        v.add("limit", "must be 0 (default 100) to 1000");
    }
    if !v.is_empty() {
        return Err(v);
    }
    Ok(InstructionFilter {
        state,
        fund,
        payee_kind,
        payee_ref: (!r.payee_reference.is_empty()).then(|| r.payee_reference.clone()),
        month,
        after_id: r.after_id,
        limit: i64::from(r.limit),
    })
}

pub fn event(e: &StoredEvent) -> pb::InstructionEvent {
    pb::InstructionEvent {
        at: e.at.clone(),
        actor: e.actor.clone(),
        from_state: pb::InstructionState::from(e.from) as i32,
        to_state: pb::InstructionState::from(e.to) as i32,
        reason: e.reason.clone(),
    }
}

pub fn instruction(i: &StoredInstruction, events: &[StoredEvent]) -> pb::Instruction {
    pb::Instruction {
        id: i.id,
        source: i.source.clone(),
        source_ref: i.source_ref.clone(),
        fund: pb::FundName::from(i.fund) as i32,
        budget_year: i32::try_from(i.budget_year).unwrap_or_default(),
        payee: Some(pb::Payee {
            kind: pb::PayeeKind::from(i.payee_kind) as i32,
            reference: i.payee_ref.clone(),
            name: i.payee_name.clone(),
            account: i.account_masked.clone(),
        }),
        amount_fen: i.amount,
        purpose: i.purpose.clone(),
        reference: i.reference.clone(),
        state: pb::InstructionState::from(i.state) as i32,
        held_reason: i.held_reason.clone().unwrap_or_default(),
        created_at: i.created_at.clone(),
        created_by: i.created_by.clone(),
        month: i.month.map(|m| m.to_string()).unwrap_or_default(),
        kind: i.kind.map(|k| k.as_str().to_owned()).unwrap_or_default(),
        gross_fen: i.gross,
        withheld_fen: i.withheld,
        events: events.iter().map(event).collect(),
        batch_id: i.batch_id.unwrap_or_default(),
        bank_reason_code: i.bank_reason_code.clone().unwrap_or_default(),
        bank_reason: i.bank_reason.clone().unwrap_or_default(),
        reissue_of: i.reissue_of.unwrap_or_default(),
        reissued_as: i.reissued_as.unwrap_or_default(),
    }
}

pub fn reconciliation(r: &crate::bank::reconcile::Reconciliation) -> pb::BatchReconciliation {
    use crate::bank::reconcile::{BatchState, Tally};
    let tally = |t: Tally| Some(pb::Tally { count: t.count, fen: t.fen });
    pb::BatchReconciliation {
        batch_id: r.batch_id,
        batch_ref: r.batch_ref.clone(),
        format: r.format.clone(),
        created_at: r.created_at.clone(),
        state: match r.state {
            BatchState::Open => pb::BatchState::Open,
            BatchState::Confirmed => pb::BatchState::Confirmed,
            BatchState::Broken => pb::BatchState::Broken,
        } as i32,
        sent: tally(r.sent),
        paid: tally(r.paid),
        failed: tally(r.failed),
        returned: tally(r.returned),
        awaiting: tally(r.awaiting),
        acknowledged: r.acknowledged,
        differences: r.differences.clone(),
        unpaid: r
            .unpaid
            .iter()
            .map(|u| pb::UnpaidTransfer {
                instruction_id: u.instruction_id,
                state: pb::InstructionState::from(u.state) as i32,
                amount_fen: u.amount_fen,
                payee_reference: u.payee_ref.clone(),
                answer: u.answer.clone(),
                reason_code: u.reason_code.clone(),
                reason: u.reason.clone(),
                reissued_as: u.reissued_as.unwrap_or_default(),
            })
            .collect(),
        more: r.more,
        files: r
            .files
            .iter()
            .map(|f| pb::BankFileSeen {
                file_id: f.file_id,
                kind: f.kind.clone(),
                message_id: f.message_id.clone(),
                imported_at: f.imported_at.clone(),
            })
            .collect(),
    }
}
