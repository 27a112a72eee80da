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

pub mod intake {
    //! The window's requests and answers.

    use crate::cases::convert::new_case;
    use crate::intake::{Department, Matter, NewIntake, ReferralState, StoredIntake, StoredReferral};
    use doudi_core::pii::PersonName;
    use doudi_core::{Date, NationalId, Violations};
    use doudi_proto::relief::v1 as pb;

    pub fn matter_of(value: i32) -> Option<Matter> {
        Some(match pb::Matter::try_from(value).ok()? {
            pb::Matter::Dibao => Matter::Dibao,
            pb::Matter::Tekun => Matter::Tekun,
            pb::Matter::MedicalAssistance => Matter::MedicalAssistance,
            pb::Matter::TemporaryRelief => Matter::TemporaryRelief,
            pb::Matter::OtherDepartment => Matter::OtherDepartment,
            pb::Matter::Unspecified => return None,
        })
    }

    pub fn department_of(value: i32) -> Option<Department> {
        Some(match pb::Department::try_from(value).ok()? {
            pb::Department::Education => Department::Education,
            pb::Department::Housing => Department::Housing,
            pb::Department::LegalAid => Department::LegalAid,
            pb::Department::Employment => Department::Employment,
            pb::Department::DisabilityFederation => Department::DisabilityFederation,
            pb::Department::MedicalInsurance => Department::MedicalInsurance,
            pb::Department::Unspecified => return None,
        })
    }

    pub fn referral_state_of(value: i32) -> Option<ReferralState> {
        Some(match pb::ReferralState::try_from(value).ok()? {
            pb::ReferralState::Referred => ReferralState::Referred,
            pb::ReferralState::Answered => ReferralState::Answered,
            pb::ReferralState::Closed => ReferralState::Closed,
            pb::ReferralState::ReferralOverdue => ReferralState::Overdue,
            pb::ReferralState::Unspecified => return None,
        })
    }

    pub fn new_intake(r: &pb::RecordIntakeRequest, today: Date) -> Result<NewIntake, Violations> {
        let mut problems = Violations::new();
        let matter = matter_of(r.matter);
        if matter.is_none() {
            problems.add("matter", "must be DIBAO, TEKUN, MEDICAL_ASSISTANCE, TEMPORARY_RELIEF or OTHER_DEPARTMENT");
        }
        let household_no = Some(r.household_no.trim().to_owned()).filter(|h| !h.is_empty());
        let person = match (&household_no, &r.person) {
            (None, Some(p)) => {
                let name = problems.check("person.name", PersonName::parse(&p.name));
                let id = problems.check("person.nationalId", NationalId::parse_on(&p.national_id, today));
                if p.township.trim().is_empty() {
                    problems.add("person.township", "is required");
                }
                name.zip(id).map(|(n, i)| (n, i, p.township.trim().to_owned()))
            }
            _ => None,
        };
        let department = match r.department {
            0 => None,
            d => {
                let found = department_of(d);
                if found.is_none() {
                    problems.add("department", "is not a department the window refers to");
                }
                found
            }
        };
        let due_on = match r.due_on.trim() {
            "" => None,
            text => problems.check("dueOn", text.parse::<Date>().map_err(|_| "must be a day, YYYY-MM-DD")),
        };
        if r.summary.trim().is_empty() {
            problems.add("summary", "is required: what the person asks");
        }
        let relief_case = match (&r.relief_case, matter) {
            (Some(c), Some(Matter::TemporaryRelief)) => {
                let mut c = c.clone();
                c.household_no = r.household_no.clone();
                c.person = r.person.clone();
                match new_case(&c, today) {
                    Ok(case) => Some(case),
                    Err(violations) => {
                        for v in violations.into_vec() {
                            problems.add(format!("reliefCase.{}", v.field), v.description);
                        }
                        None
                    }
                }
            }
            _ => None,
        };
        match matter {
            Some(matter) if problems.is_empty() => Ok(NewIntake {
                matter,
                household_no,
                person,
                summary: r.summary.trim().to_owned(),
                department,
                due_on,
                relief_case,
            }),
            _ => Err(problems),
        }
    }

    pub fn intake(i: &StoredIntake) -> pb::Intake {
        pb::Intake {
            id: i.id,
            reference: i.reference.clone(),
            matter: pb::Matter::from_str_name(&i.matter).unwrap_or_default() as i32,
            household_no: i.household_no.clone().unwrap_or_default(),
            person_name: i.person_name_masked.clone(),
            national_id: i.national_id_masked.clone(),
            township: i.township.clone(),
            summary: i.summary.clone(),
            application_id: i.application_id.unwrap_or_default(),
            case_id: i.case_id.unwrap_or_default(),
            referral_id: i.referral_id.unwrap_or_default(),
            created_at: i.created_at.clone(),
            created_by: i.created_by.clone(),
        }
    }

    pub fn referral(r: &StoredReferral, today: Date) -> pb::Referral {
        pb::Referral {
            id: r.id,
            intake_id: r.intake_id,
            department: pb::Department::from_str_name(&r.department).unwrap_or_default() as i32,
            township: r.township.clone(),
            summary: r.summary.clone(),
            due_on: r.due_on.clone(),
            state: pb::ReferralState::from_str_name(r.state_on(today).as_str()).unwrap_or_default() as i32,
            answer: r.answer.clone().unwrap_or_default(),
            answered_at: r.answered_at.clone().unwrap_or_default(),
            answered_by: r.answered_by.clone().unwrap_or_default(),
            closed_at: r.closed_at.clone().unwrap_or_default(),
            created_at: r.created_at.clone(),
            created_by: r.created_by.clone(),
        }
    }
}
