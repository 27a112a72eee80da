//! The steps of a case, each checked against who acts (township staff in their township, county
//! staff everywhere), the case's state and the limits: submit, accept, review, approve (or the
//! county's record of an emergency grant), grant on the emergency path, reject, add documents.

use crate::cases::grant::{GrantDecision, Paperwork, Payee};
use crate::cases::store::{CaseFilter, add_documents, case_in, change_state};
use crate::cases::{CaseKind, CaseState, Document, StoredCase};
use crate::error::{ReliefError, Result};
use crate::limits::{self, Authority};
use crate::service::{Acting, ReliefService};
use crate::store::{CASE_ACCOUNT, CASE_NAME, CASE_NATIONAL_ID};
use doudi_core::pii::{BankAccount, PersonName};
use doudi_core::{Date, NationalId, Violations};
use doudi_proto::payment::v1 as ppb;
use doudi_runtime::audit::AuditEntry;
use sqlx::Row;

/// Someone not yet in the registry.
#[derive(Debug, Clone)]
pub struct NewPerson {
    pub name: PersonName,
    pub national_id: NationalId,
    pub township: String,
}

/// A case as brought, its fields checked by `convert::new_case` (the one place that checks them).
#[derive(Debug, Clone)]
pub struct NewCase {
    pub kind: CaseKind,
    pub household_no: Option<String>,
    pub person: Option<NewPerson>,
    pub facts: String,
    pub asked_fen: i64,
    pub documents: Vec<Document>,
    pub account: Option<BankAccount>,
    pub occurred_on: Date,
}

/// A case checked and placed: the household it counts under and its township.
#[derive(Debug, Clone)]
pub struct PreparedCase {
    pub new: NewCase,
    pub household_key: String,
    pub township: String,
}

/// A document's fields, checked: a name, a kind and a SHA-256 in hex.
pub fn document(field: &str, name: &str, kind: &str, sha256: &str, problems: &mut Violations) -> Option<Document> {
    let mut ok = true;
    if name.trim().is_empty() {
        problems.add(format!("{field}.name"), "is required");
        ok = false;
    }
    if kind.trim().is_empty() {
        problems.add(format!("{field}.kind"), "is required");
        ok = false;
    }
    if sha256.len() != 64 || !sha256.bytes().all(|b| b.is_ascii_hexdigit()) {
        problems.add(format!("{field}.sha256"), "must be the SHA-256 of the file, 64 hex digits");
        ok = false;
    }
    ok.then(|| Document { name: name.trim().into(), kind: kind.trim().into(), sha256: sha256.to_ascii_lowercase() })
}

pub(crate) fn scope(acting: &Acting, township: &str, what: &str) -> Result<()> {
    if acting.staff.acts_in(township) {
        return Ok(());
    }
    Err(ReliefError::forbidden("township", format!("{} may not {what} a case of {township}", acting.staff.actor())))
}

fn wrong(case: &StoredCase, state: CaseState, wanted: &str) -> ReliefError {
    ReliefError::WrongState { id: case.id, state: state.to_string(), wanted: wanted.into() }
}

fn positive(field: &str, fen: i64) -> Result<()> {
    if fen <= 0 {
        return Err(Violations::of(field, "must be more than 0 fen").into());
    }
    Ok(())
}

impl ReliefService {
    async fn loaded(&self, id: i64) -> Result<StoredCase> {
        self.store.case(id).await?.ok_or(ReliefError::CaseNotFound(id))
    }

    /// Checks a case as brought (its household through eligibility, as `acting` may see it)
    /// and says where it counts.
    pub(crate) async fn prepare_case(&self, acting: &Acting, new: NewCase) -> Result<PreparedCase> {
        let (household_key, township) = match (&new.household_no, &new.person) {
            (Some(no), None) => (no.clone(), self.household(acting, no).await?.township),
            (None, Some(p)) => {
                let index = self.store.cipher.blind_index("relief.person", p.national_id.expose());
                (format!("person:{}", hex::encode(index)), p.township.clone())
            }
            _ => {
                return Err(Violations::of(
                    "householdNo",
                    "give a registered household, or the person (name, ID, township)",
                )
                .into());
            }
        };
        scope(acting, &township, "bring")?;
        Ok(PreparedCase { new, household_key, township })
    }

    pub async fn submit_case(&self, acting: &Acting, new: NewCase) -> Result<i64> {
        let prepared = self.prepare_case(acting, new).await?;
        let mut tx = self.store.db.writes().begin().await?;
        let id = self.insert_case(&mut tx, &prepared, &acting.staff.actor(), None).await?;
        tx.commit().await?;
        Ok(id)
    }

    /// Writes a prepared case (from the window: `intake`) with its documents, in the caller's
    /// transaction.
    pub(crate) async fn insert_case(
        &self,
        tx: &mut sqlx::AnyConnection,
        prepared: &PreparedCase,
        actor: &str,
        intake: Option<i64>,
    ) -> Result<i64> {
        let (new, household_key, township) = (&prepared.new, &prepared.household_key, &prepared.township);
        let name = new.person.as_ref().map(|p| &p.name);
        let id = new.person.as_ref().map(|p| &p.national_id);
        let now = doudi_runtime::now_rfc3339();
        let seal = |column: &doudi_runtime::sealing::SealedColumn, text: &str| {
            self.store.cipher.seal(column.place(household_key), text)
        };
        let id_row: i64 = sqlx::query(
            "INSERT INTO cases (kind, state, household_no, household_key, person_name_enc, person_name_masked, \
             national_id_enc, national_id_masked, township, facts, asked_fen, account_enc, occurred_on, created_at, \
             created_by, intake_id) \
             VALUES ($1, 'SUBMITTED', $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15) RETURNING id",
        )
        .bind(new.kind.as_str())
        .bind(new.household_no.clone())
        .bind(household_key)
        .bind(name.map(|n| seal(&CASE_NAME, n.expose())))
        .bind(name.map(|n| n.masked()).unwrap_or_default())
        .bind(id.map(|i| seal(&CASE_NATIONAL_ID, i.expose())))
        .bind(id.map(|i| i.masked()).unwrap_or_default())
        .bind(township)
        .bind(new.facts.trim())
        .bind(new.asked_fen)
        .bind(new.account.as_ref().map(|a| seal(&CASE_ACCOUNT, a.expose())))
        .bind(new.occurred_on.to_string())
        .bind(&now)
        .bind(actor)
        .bind(intake)
        .fetch_one(&mut *tx)
        .await?
        .try_get("id")?;
        add_documents(tx, id_row, &new.documents, actor, &now).await?;
        let after = serde_json::json!({"kind": new.kind.as_str(), "household": new.household_no, "township": township,
            "askedFen": new.asked_fen, "documents": new.documents.len(), "intake": intake});
        let key = id_row.to_string();
        self.store
            .audit(tx, AuditEntry::new(actor, "relief.submit", "case", &key, serde_json::Value::Null, after))
            .await?;
        Ok(id_row)
    }

    /// Township acceptance or review: one step forward.
    pub async fn step(&self, acting: &Acting, id: i64, from: CaseState, to: CaseState, note: &str) -> Result<()> {
        let case = self.loaded(id).await?;
        scope(acting, &case.township, "take a step on")?;
        let now = doudi_runtime::now_rfc3339();
        let mut tx = self.store.db.writes().begin().await?;
        if !change_state(&mut tx, id, from, to, &acting.staff.actor(), note, &now).await? {
            return Err(wrong(
                &case,
                case.state_on(self.clock.today()),
                &format!("only a {from} case can become {to}"),
            ));
        }
        tx.commit().await?;
        Ok(())
    }

    pub async fn reject(&self, acting: &Acting, id: i64, reason: &str) -> Result<()> {
        if reason.trim().is_empty() {
            return Err(Violations::of("reason", "is required: the applicant is told why").into());
        }
        let case = self.loaded(id).await?;
        scope(acting, &case.township, "reject")?;
        let from = case.stored_state;
        if !matches!(from, CaseState::Submitted | CaseState::Accepted | CaseState::Reviewed) {
            return Err(wrong(&case, case.state_on(self.clock.today()), "only a case not yet granted can be rejected"));
        }
        let now = doudi_runtime::now_rfc3339();
        let mut tx = self.store.db.writes().begin().await?;
        if !change_state(&mut tx, id, from, CaseState::Rejected, &acting.staff.actor(), reason.trim(), &now).await? {
            return Err(wrong(&case, from, "it changed meanwhile"));
        }
        sqlx::query("UPDATE cases SET rejected_reason = $1 WHERE id = $2")
            .bind(reason.trim())
            .bind(id)
            .execute(&mut *tx)
            .await?;
        let key = id.to_string();
        let after = serde_json::json!({"state": "REJECTED", "reason": reason.trim()});
        self.store
            .audit(
                &mut tx,
                AuditEntry::new(&acting.staff.actor(), "relief.reject", "case", &key, serde_json::Value::Null, after),
            )
            .await?;
        tx.commit().await?;
        Ok(())
    }

    pub async fn add_case_documents(&self, acting: &Acting, id: i64, documents: &[Document]) -> Result<()> {
        let case = self.loaded(id).await?;
        scope(acting, &case.township, "add documents to")?;
        let now = doudi_runtime::now_rfc3339();
        let mut tx = self.store.db.writes().begin().await?;
        add_documents(&mut tx, id, documents, &acting.staff.actor(), &now).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Who is paid: the account the case names, else the household head's on file.
    async fn payee(&self, case: &StoredCase) -> Result<Payee> {
        let (named, person_name): (Option<BankAccount>, Option<String>) = {
            let mut conn = self.store.db.reads().acquire().await?;
            let row = sqlx::query("SELECT account_enc, person_name_enc FROM cases WHERE id = $1")
                .bind(case.id)
                .fetch_one(&mut *conn)
                .await?;
            let open =
                |column: &doudi_runtime::sealing::SealedColumn, sealed: Option<Vec<u8>>| -> Result<Option<String>> {
                    sealed
                        .map(|s| self.store.cipher.open(column.place(&case.household_key), &s))
                        .transpose()
                        .map_err(|_| ReliefError::Internal(format!("case {}: a sealed value does not open", case.id)))
                };
            let account = open(&CASE_ACCOUNT, row.try_get("account_enc")?)?
                .map(|a| BankAccount::parse(&a))
                .transpose()
                .map_err(|_| ReliefError::Internal("stored account".into()))?;
            (account, open(&CASE_NAME, row.try_get("person_name_enc")?)?)
        };
        match (&case.household_no, named) {
            (Some(no), Some(account)) => Ok(Payee {
                kind: ppb::PayeeKind::Account,
                reference: format!("relief-case-{}", case.id),
                name: no.clone(),
                account,
            }),
            (Some(no), None) => match self.head_account(no).await? {
                Some(account) => {
                    Ok(Payee { kind: ppb::PayeeKind::Household, reference: no.clone(), name: no.clone(), account })
                }
                None => Err(Violations::of(
                    "account",
                    format!("household {no} has no account on file and the case names none: nothing to pay into"),
                )
                .into()),
            },
            (None, Some(account)) => Ok(Payee {
                kind: ppb::PayeeKind::Account,
                reference: format!("relief-case-{}", case.id),
                // The bank needs the holder's name in full; payment masks it in every answer.
                name: person_name.unwrap_or_default(),
                account,
            }),
            (None, None) => {
                Err(Violations::of("account", "the person is not registered: the case must name an account").into())
            }
        }
    }

    /// A grant by the township (up to 3 S) or the county (up to 12 S, above with a special
    /// approval) on a REVIEWED case; on an emergency case, the county's record, with a top-up.
    pub async fn approve(
        &self,
        acting: &Acting,
        id: i64,
        amount: i64,
        special: Option<&str>,
        note: &str,
    ) -> Result<()> {
        let case = self.loaded(id).await?;
        scope(acting, &case.township, "approve")?;
        let today = self.clock.today();
        let special = special.map(str::trim).filter(|s| !s.is_empty());
        if special.is_some() && !acting.staff.is_county() {
            return Err(ReliefError::forbidden("specialApproval", "only the county records a special approval"));
        }
        let authority = match (acting.staff.is_county(), special) {
            (true, Some(_)) => Authority::Special,
            (true, None) => Authority::County,
            (false, _) => Authority::Township,
        };
        let standard = self.standard_on(today)?;
        let (from, paperwork) = match case.stored_state {
            CaseState::Reviewed => {
                positive("amountFen", amount)?;
                (CaseState::Reviewed, Paperwork::Unchanged)
            }
            CaseState::EmergencyGranted => {
                if !acting.staff.is_county() {
                    return Err(ReliefError::forbidden("caseId", "the county records an emergency grant"));
                }
                if amount < 0 {
                    return Err(Violations::of("amountFen", "a top-up must not be negative").into());
                }
                if self.store.documents(id).await?.is_empty() {
                    return Err(
                        Violations::of("documents", "the emergency case's documents must be added first").into()
                    );
                }
                let late = case.paperwork_due.as_deref().is_some_and(|due| today.to_string().as_str() > due);
                (CaseState::EmergencyGranted, Paperwork::Done { on: today, late })
            }
            _ => {
                return Err(wrong(
                    &case,
                    case.state_on(today),
                    "only a REVIEWED case or an emergency grant can be approved",
                ));
            }
        };
        if amount > 0 {
            limits::within_authority(authority, standard, case.granted_fen, amount)?;
        }
        let payee = if amount > 0 { Some(self.payee(&case).await?) } else { None };
        let note = if note.trim().is_empty() { "approved" } else { note.trim() };
        self.decide(GrantDecision {
            case: &case,
            from,
            to: CaseState::Approved,
            amount,
            authority,
            emergency: false,
            special_approval: special.map(str::to_owned),
            payee,
            decided_on: today,
            standard,
            paperwork,
            actor: &acting.staff.actor(),
            note,
        })
        .await
    }

    /// 先救助后补手续: up to 3 S at once, paid at once; the paperwork due in 10 days.
    pub async fn grant_emergency(&self, acting: &Acting, id: i64, amount: i64, note: &str) -> Result<()> {
        let case = self.loaded(id).await?;
        scope(acting, &case.township, "grant")?;
        positive("amountFen", amount)?;
        if case.kind != CaseKind::Emergency {
            return Err(wrong(&case, case.stored_state, "the emergency path is for EMERGENCY cases"));
        }
        let from = case.stored_state;
        if !matches!(from, CaseState::Submitted | CaseState::Accepted | CaseState::Reviewed) {
            return Err(wrong(&case, case.state_on(self.clock.today()), "only a case not yet decided can be granted"));
        }
        let today = self.clock.today();
        let standard = self.standard_on(today)?;
        limits::within_emergency(standard, amount)?;
        let payee = self.payee(&case).await?;
        let note = if note.trim().is_empty() { "emergency grant: help first, paperwork after" } else { note.trim() };
        self.decide(GrantDecision {
            case: &case,
            from,
            to: CaseState::EmergencyGranted,
            amount,
            authority: if acting.staff.is_county() { Authority::County } else { Authority::Township },
            emergency: true,
            special_approval: None,
            payee: Some(payee),
            decided_on: today,
            standard,
            paperwork: Paperwork::DueBy(today.add_days(limits::PAPERWORK_DAYS)),
            actor: &acting.staff.actor(),
            note,
        })
        .await
    }

    pub async fn list_cases(&self, acting: &Acting, filter: &CaseFilter) -> Result<(Vec<StoredCase>, bool)> {
        let mut filter = filter.clone();
        if let Some(own) = &acting.staff.township {
            if filter.township.as_ref().is_some_and(|t| t != own) {
                return Err(ReliefError::forbidden(
                    "township",
                    format!("{} sees {own}'s cases only", acting.staff.actor()),
                ));
            }
            filter.township = Some(own.clone());
        }
        Ok(self.store.list_cases(&filter, &self.clock.today().to_string()).await?)
    }

    /// A household's grants in a year and the room left under the yearly limits.
    pub async fn household_year(
        &self,
        household_no: &str,
        year: i64,
    ) -> Result<(Vec<crate::cases::GrantRecord>, limits::YearUse, i64)> {
        let standard = self.standard_on(self.clock.today())?;
        let mut conn = self.store.db.reads().acquire().await?;
        let used = crate::cases::grant::year_use(&mut conn, household_no, year).await?;
        drop(conn);
        Ok((self.store.household_grants(household_no, year).await?, used, standard))
    }

    pub async fn case_for(&self, acting: &Acting, id: i64) -> Result<StoredCase> {
        let mut conn = self.store.db.reads().acquire().await?;
        let case = case_in(&mut conn, id).await?.ok_or(ReliefError::CaseNotFound(id))?;
        scope(acting, &case.township, "read")?;
        Ok(case)
    }
}
