//! Between the wire (`doudi.relief.v1`) and the service's types: requests checked field by field
//! into what the operations take, cases answered with their person masked.

use crate::cases::ops::{NewCase, NewPerson, document};
use crate::cases::{CaseEvent, CaseKind, CaseState, Document, GrantRecord, StoredCase};
use doudi_core::pii::{BankAccount, PersonName};
use doudi_core::{Date, NationalId, Violations};
use doudi_proto::relief::v1 as pb;

pub fn kind_of(kind: i32) -> Option<CaseKind> {
    match pb::CaseKind::try_from(kind).ok()? {
        pb::CaseKind::Emergency => Some(CaseKind::Emergency),
        pb::CaseKind::Expenditure => Some(CaseKind::Expenditure),
        pb::CaseKind::Unspecified => None,
    }
}

pub fn state_of(state: i32) -> Option<CaseState> {
    Some(match pb::CaseState::try_from(state).ok()? {
        pb::CaseState::Submitted => CaseState::Submitted,
        pb::CaseState::Accepted => CaseState::Accepted,
        pb::CaseState::Reviewed => CaseState::Reviewed,
        pb::CaseState::Approved => CaseState::Approved,
        pb::CaseState::EmergencyGranted => CaseState::EmergencyGranted,
        pb::CaseState::Overdue => CaseState::Overdue,
        pb::CaseState::Rejected => CaseState::Rejected,
        pb::CaseState::Unspecified => return None,
    })
}

fn state_to(state: CaseState) -> pb::CaseState {
    match state {
        CaseState::Submitted => pb::CaseState::Submitted,
        CaseState::Accepted => pb::CaseState::Accepted,
        CaseState::Reviewed => pb::CaseState::Reviewed,
        CaseState::Approved => pb::CaseState::Approved,
        CaseState::EmergencyGranted => pb::CaseState::EmergencyGranted,
        CaseState::Overdue => pb::CaseState::Overdue,
        CaseState::Rejected => pb::CaseState::Rejected,
    }
}

pub fn documents(field: &str, given: &[pb::Document], problems: &mut Violations) -> Vec<Document> {
    given
        .iter()
        .enumerate()
        .filter_map(|(n, d)| document(&format!("{field}[{n}]"), &d.name, &d.kind, &d.sha256, problems))
        .collect()
}

/// A submission, every field checked; all problems at once.
pub fn new_case(r: &pb::SubmitCaseRequest, today: Date) -> Result<NewCase, Violations> {
    let mut problems = Violations::new();
    let kind = kind_of(r.kind);
    if kind.is_none() {
        problems.add("kind", "must be EMERGENCY or EXPENDITURE");
    }
    let household_no = Some(r.household_no.trim().to_owned()).filter(|h| !h.is_empty());
    let person = match (&household_no, &r.person) {
        (Some(_), Some(p)) if !p.national_id.is_empty() || !p.name.is_empty() => {
            problems.add("person", "give the household or the person, not both");
            None
        }
        (None, Some(p)) => {
            let name = problems.check("person.name", PersonName::parse(&p.name));
            let id = problems.check("person.nationalId", NationalId::parse_on(&p.national_id, today));
            if p.township.trim().is_empty() {
                problems.add("person.township", "is required");
            }
            match (name, id) {
                (Some(name), Some(national_id)) => {
                    Some(NewPerson { name, national_id, township: p.township.trim().into() })
                }
                _ => None,
            }
        }
        (None, None) => {
            problems.add("householdNo", "give a registered household, or the person (name, ID, township)");
            None
        }
        _ => None,
    };
    if r.asked_fen <= 0 {
        problems.add("askedFen", "must be more than 0 fen");
    }
    if r.facts.trim().is_empty() {
        problems.add("facts", "is required: what happened, what is needed");
    }
    let account = if r.account.is_empty() { None } else { problems.check("account", BankAccount::parse(&r.account)) };
    let occurred_on = match r.occurred_on.parse::<Date>() {
        Ok(day) if day > today => {
            problems.add("occurredOn", format!("must not be after today ({today})"));
            None
        }
        Ok(day) => Some(day),
        Err(_) => {
            problems.add("occurredOn", "must be a day, YYYY-MM-DD");
            None
        }
    };
    let documents = documents("documents", &r.documents, &mut problems);
    match (kind, occurred_on) {
        (Some(kind), Some(occurred_on)) if problems.is_empty() => Ok(NewCase {
            kind,
            household_no,
            person,
            facts: r.facts.trim().to_owned(),
            asked_fen: r.asked_fen,
            documents,
            account,
            occurred_on,
        }),
        _ => Err(problems),
    }
}

pub fn grant(g: &GrantRecord) -> pb::Grant {
    pb::Grant {
        case_id: g.case_id,
        part: i32::try_from(g.part).unwrap_or_default(),
        amount_fen: g.amount_fen,
        standard_fen: g.standard_fen,
        decided_on: g.decided_on.clone(),
        decided_by: g.decided_by.clone(),
        authority: g.authority.clone(),
        emergency: g.emergency,
    }
}

pub fn case(
    c: &StoredCase,
    today: Date,
    documents: &[Document],
    grants: &[GrantRecord],
    events: &[CaseEvent],
) -> pb::Case {
    pb::Case {
        id: c.id,
        kind: match c.kind {
            CaseKind::Emergency => pb::CaseKind::Emergency,
            CaseKind::Expenditure => pb::CaseKind::Expenditure,
        } as i32,
        state: state_to(c.state_on(today)) as i32,
        household_no: c.household_no.clone().unwrap_or_default(),
        person_name: c.person_name_masked.clone(),
        national_id: c.national_id_masked.clone(),
        township: c.township.clone(),
        facts: c.facts.clone(),
        asked_fen: c.asked_fen,
        granted_fen: c.granted_fen,
        documents: documents
            .iter()
            .map(|d| pb::Document { name: d.name.clone(), kind: d.kind.clone(), sha256: d.sha256.clone() })
            .collect(),
        grants: grants.iter().map(grant).collect(),
        events: events
            .iter()
            .map(|e| pb::CaseEvent {
                at: e.at.clone(),
                actor: e.actor.clone(),
                from_state: state_to(e.from) as i32,
                to_state: state_to(e.to) as i32,
                note: e.note.clone(),
            })
            .collect(),
        paperwork_due: c.paperwork_due.clone().unwrap_or_default(),
        paperwork_done_on: c.paperwork_done_on.clone().unwrap_or_default(),
        paperwork_late: c.paperwork_late,
        rejected_reason: c.rejected_reason.clone().unwrap_or_default(),
        special_approval: c.special_approval.clone().unwrap_or_default(),
        created_at: c.created_at.clone(),
        created_by: c.created_by.clone(),
        occurred_on: c.occurred_on.clone(),
    }
}
