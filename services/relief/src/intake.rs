//! The single window (一门受理、协同办理): one intake records any request a person brings and
//! sends it where it is handled. A dibao or tekun request becomes an application in the
//! eligibility service, which names the intake (`intake_ref`) as the intake names it; a relief
//! request becomes a case here, in the intake's transaction; medical assistance (outside the
//! hospital's one-stop settlement) and other departments' matters are referred with a due day
//! and followed: REFERRED → ANSWERED → CLOSED, OVERDUE past the due day unanswered.

use crate::cases::ops::{NewCase, PreparedCase, scope};
use crate::error::{ReliefError, Result};
use crate::service::{Acting, ReliefService};
use crate::store::INTAKE_PERSON;
use doudi_core::pii::PersonName;
use doudi_core::{Date, NationalId, Violations, named};
use doudi_proto::eligibility::v1 as epb;
use doudi_proto::eligibility::v1::dibao_procedure_client::DibaoProcedureClient;
use doudi_runtime::audit::AuditEntry;
use sqlx::any::AnyRow;
use sqlx::{AnyConnection, Row};

/// Days a department has to answer a referral unless the intake says.
pub const REFERRAL_DAYS: i64 = 15;

named!(Matter {
    Dibao = "DIBAO",
    Tekun = "TEKUN",
    MedicalAssistance = "MEDICAL_ASSISTANCE",
    TemporaryRelief = "TEMPORARY_RELIEF",
    OtherDepartment = "OTHER_DEPARTMENT",
});

named!(Department {
    Education = "EDUCATION",
    Housing = "HOUSING",
    LegalAid = "LEGAL_AID",
    Employment = "EMPLOYMENT",
    DisabilityFederation = "DISABILITY_FEDERATION",
    MedicalInsurance = "MEDICAL_INSURANCE",
});

named!(ReferralState { Referred = "REFERRED", Answered = "ANSWERED", Closed = "CLOSED", Overdue = "REFERRAL_OVERDUE" });

/// What the window was asked, its fields checked by `convert::intake::new_intake`.
#[derive(Debug, Clone)]
pub struct NewIntake {
    pub matter: Matter,
    pub household_no: Option<String>,
    pub person: Option<(PersonName, NationalId, String)>,
    pub summary: String,
    pub department: Option<Department>,
    pub due_on: Option<Date>,
    pub relief_case: Option<NewCase>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredIntake {
    pub id: i64,
    pub reference: String,
    pub matter: String,
    pub household_no: Option<String>,
    pub person_name_masked: String,
    pub national_id_masked: String,
    pub township: String,
    pub summary: String,
    pub application_id: Option<i64>,
    pub case_id: Option<i64>,
    pub referral_id: Option<i64>,
    pub created_at: String,
    pub created_by: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredReferral {
    pub id: i64,
    pub intake_id: i64,
    pub department: String,
    pub township: String,
    pub summary: String,
    pub due_on: String,
    /// As stored; `state_on(today)` reads REFERRED past the due day as OVERDUE.
    pub stored_state: ReferralState,
    pub answer: Option<String>,
    pub answered_at: Option<String>,
    pub answered_by: Option<String>,
    pub closed_at: Option<String>,
    pub created_at: String,
    pub created_by: String,
}

impl StoredReferral {
    pub fn state_on(&self, today: Date) -> ReferralState {
        if self.stored_state == ReferralState::Referred && self.due_on < today.to_string() {
            ReferralState::Overdue
        } else {
            self.stored_state
        }
    }
}

fn intake_of(r: &AnyRow) -> Result<StoredIntake, sqlx::Error> {
    Ok(StoredIntake {
        id: r.try_get("id")?,
        reference: r.try_get("reference")?,
        matter: r.try_get("matter")?,
        household_no: r.try_get("household_no")?,
        person_name_masked: r.try_get("person_name_masked")?,
        national_id_masked: r.try_get("national_id_masked")?,
        township: r.try_get("township")?,
        summary: r.try_get("summary")?,
        application_id: r.try_get("application_id")?,
        case_id: r.try_get("case_id")?,
        referral_id: r.try_get("referral_id")?,
        created_at: r.try_get("created_at")?,
        created_by: r.try_get("created_by")?,
    })
}

fn referral_of(r: &AnyRow) -> Result<StoredReferral, sqlx::Error> {
    Ok(StoredReferral {
        id: r.try_get("id")?,
        intake_id: r.try_get("intake_id")?,
        department: r.try_get("department")?,
        township: r.try_get("township")?,
        summary: r.try_get("summary")?,
        due_on: r.try_get("due_on")?,
        stored_state: ReferralState::parse(&r.try_get::<String, _>("state")?)
            .ok_or_else(|| crate::store::corrupt("referral state"))?,
        answer: r.try_get("answer")?,
        answered_at: r.try_get("answered_at")?,
        answered_by: r.try_get("answered_by")?,
        closed_at: r.try_get("closed_at")?,
        created_at: r.try_get("created_at")?,
        created_by: r.try_get("created_by")?,
    })
}

/// Where an intake goes, decided before anything is written.
enum Route {
    Application,
    Case(Box<PreparedCase>),
    Referral(Department, Date),
}

impl ReliefService {
    pub async fn record_intake(&self, acting: &Acting, new: NewIntake) -> Result<StoredIntake> {
        let today = self.clock.today();
        // Where it goes and the township it belongs to, checked before anything is written.
        let (route, township) = match new.matter {
            Matter::Dibao | Matter::Tekun => {
                let no = new.household_no.as_deref().ok_or_else(|| {
                    ReliefError::from(Violations::of(
                        "householdNo",
                        "a dibao or tekun application is for a registered household",
                    ))
                })?;
                (Route::Application, self.household(acting, no).await?.township)
            }
            Matter::TemporaryRelief => {
                let case = new.relief_case.clone().ok_or_else(|| {
                    ReliefError::from(Violations::of(
                        "reliefCase",
                        "a relief request needs its case: kind, facts, amount",
                    ))
                })?;
                let prepared = self.prepare_case(acting, case).await?;
                let township = prepared.township.clone();
                (Route::Case(Box::new(prepared)), township)
            }
            Matter::MedicalAssistance | Matter::OtherDepartment => {
                let department = match (new.matter, new.department) {
                    (Matter::MedicalAssistance, None | Some(Department::MedicalInsurance)) => {
                        Department::MedicalInsurance
                    }
                    (Matter::MedicalAssistance, Some(_)) => {
                        return Err(Violations::of(
                            "department",
                            "medical assistance is referred to MEDICAL_INSURANCE",
                        )
                        .into());
                    }
                    (_, Some(d)) => d,
                    (_, None) => {
                        return Err(Violations::of("department", "name the department it is referred to").into());
                    }
                };
                let due = new.due_on.unwrap_or(today.add_days(REFERRAL_DAYS));
                if due < today {
                    return Err(Violations::of("dueOn", format!("must not be before today ({today})")).into());
                }
                let township = match (&new.household_no, &new.person) {
                    (Some(no), _) => self.household(acting, no).await?.township,
                    (None, Some((_, _, township))) => township.clone(),
                    (None, None) => {
                        return Err(Violations::of(
                            "householdNo",
                            "give the household, or the person (name, ID, township)",
                        )
                        .into());
                    }
                };
                (Route::Referral(department, due), township)
            }
        };
        scope(acting, &township, "record an intake for")?;
        let actor = acting.staff.actor();
        let reference = format!("relief-intake-{}", random_hex());
        let application_id = match &route {
            Route::Application => {
                let no = new.household_no.clone().unwrap_or_default();
                Some(self.apply_in_eligibility(acting, &no, &reference).await?)
            }
            _ => None,
        };
        let now = doudi_runtime::now_rfc3339();
        let mut tx = self.store.db.writes().begin().await?;
        let (name_masked, id_masked) = match &new.person {
            Some((name, id, _)) => (name.masked(), id.masked()),
            None => (String::new(), String::new()),
        };
        let intake_id: i64 = sqlx::query(
            "INSERT INTO intakes (reference, matter, household_no, person_name_masked, national_id_masked, township, \
             summary, application_id, created_at, created_by) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) RETURNING id",
        )
        .bind(&reference)
        .bind(new.matter.as_str())
        .bind(new.household_no.clone())
        .bind(&name_masked)
        .bind(&id_masked)
        .bind(&township)
        .bind(new.summary.trim())
        .bind(application_id)
        .bind(&now)
        .bind(&actor)
        .fetch_one(&mut *tx)
        .await?
        .try_get("id")?;
        if let Some((name, id, _)) = &new.person {
            let person = serde_json::json!({"name": name.expose(), "nationalId": id.expose()}).to_string();
            let sealed = self.store.cipher.seal(INTAKE_PERSON.place(&intake_id.to_string()), &person);
            sqlx::query("UPDATE intakes SET person_enc = $1 WHERE id = $2")
                .bind(sealed)
                .bind(intake_id)
                .execute(&mut *tx)
                .await?;
        }
        match route {
            Route::Application => {}
            Route::Case(prepared) => {
                let case_id = self.insert_case(&mut tx, &prepared, &actor, Some(intake_id)).await?;
                sqlx::query("UPDATE intakes SET case_id = $1 WHERE id = $2")
                    .bind(case_id)
                    .bind(intake_id)
                    .execute(&mut *tx)
                    .await?;
            }
            Route::Referral(department, due) => {
                let referral_id: i64 = sqlx::query(
                    "INSERT INTO referrals (intake_id, department, township, summary, due_on, state, created_at, created_by) \
                     VALUES ($1, $2, $3, $4, $5, 'REFERRED', $6, $7) RETURNING id",
                )
                .bind(intake_id)
                .bind(department.as_str())
                .bind(&township)
                .bind(new.summary.trim())
                .bind(due.to_string())
                .bind(&now)
                .bind(&actor)
                .fetch_one(&mut *tx)
                .await?
                .try_get("id")?;
                sqlx::query("UPDATE intakes SET referral_id = $1 WHERE id = $2")
                    .bind(referral_id)
                    .bind(intake_id)
                    .execute(&mut *tx)
                    .await?;
            }
        }
        let intake = intake_in(&mut tx, intake_id).await?;
        let after = serde_json::json!({"matter": intake.matter, "reference": reference, "township": township,
            "application": intake.application_id, "case": intake.case_id, "referral": intake.referral_id});
        let key = intake_id.to_string();
        self.store
            .audit(&mut tx, AuditEntry::new(&actor, "intake.record", "intake", &key, serde_json::Value::Null, after))
            .await?;
        tx.commit().await?;
        Ok(intake)
    }

    /// The application in eligibility, naming the intake; as the acting member of staff.
    async fn apply_in_eligibility(&self, acting: &Acting, household_no: &str, reference: &str) -> Result<i64> {
        let request = crate::eligibility::with_token(
            epb::SubmitApplicationRequest { household_no: household_no.to_owned(), intake_ref: reference.to_owned() },
            &acting.token,
        )?;
        let application = DibaoProcedureClient::new(self.eligibility.clone())
            .submit_application(request)
            .await
            .map_err(|s| match s.code() {
                tonic::Code::InvalidArgument
                | tonic::Code::FailedPrecondition
                | tonic::Code::AlreadyExists
                | tonic::Code::NotFound => ReliefError::from(Violations::of("householdNo", s.message())),
                tonic::Code::PermissionDenied | tonic::Code::Unauthenticated => {
                    ReliefError::forbidden("householdNo", s.message())
                }
                code => ReliefError::Upstream(format!("the eligibility service answered {code:?}: {}", s.message())),
            })?;
        Ok(application.into_inner().application_id)
    }

    pub async fn referrals(
        &self,
        acting: &Acting,
        department: Option<Department>,
        state: Option<ReferralState>,
        township: Option<&str>,
    ) -> Result<Vec<StoredReferral>> {
        let township = match (&acting.staff.township, township) {
            (Some(own), Some(asked)) if own != asked => {
                return Err(ReliefError::forbidden(
                    "township",
                    format!("{} sees {own}'s referrals only", acting.staff.actor()),
                ));
            }
            (Some(own), _) => Some(own.clone()),
            (None, asked) => asked.map(str::to_owned),
        };
        let today = self.clock.today().to_string();
        let overdue = "(state = 'REFERRED' AND due_on < $1)";
        let mut sql = "SELECT * FROM referrals WHERE 1 = 1".to_owned();
        let mut binds = vec![today];
        if let Some(d) = department {
            binds.push(d.as_str().into());
            sql.push_str(&format!(" AND department = ${}", binds.len()));
        }
        match state {
            Some(ReferralState::Overdue) => sql.push_str(&format!(" AND {overdue}")),
            Some(ReferralState::Referred) => sql.push_str(&format!(" AND state = 'REFERRED' AND NOT {overdue}")),
            Some(s) => {
                binds.push(s.as_str().into());
                sql.push_str(&format!(" AND state = ${}", binds.len()));
            }
            None => {}
        }
        if let Some(t) = township {
            binds.push(t);
            sql.push_str(&format!(" AND township = ${}", binds.len()));
        }
        sql.push_str(&format!(" ORDER BY CASE WHEN {overdue} THEN 0 ELSE 1 END, due_on, id LIMIT 1000"));
        let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
        for b in binds {
            query = query.bind(b);
        }
        Ok(query.fetch_all(self.store.db.reads()).await?.iter().map(referral_of).collect::<Result<_, _>>()?)
    }

    /// The department's answer (`close`: false), or closing an answered referral (`close`: true).
    pub async fn follow_referral(&self, acting: &Acting, id: i64, text: &str, close: bool) -> Result<StoredReferral> {
        let text = text.trim();
        if !close && text.is_empty() {
            return Err(Violations::of("answer", "is required: what the department answered").into());
        }
        let now = doudi_runtime::now_rfc3339();
        let mut tx = self.store.db.writes().begin().await?;
        let referral = referral_in(&mut tx, id)
            .await?
            .ok_or_else(|| Violations::of("referralId", format!("there is no referral {id}")))?;
        scope(acting, &referral.township, "follow")?;
        let (from, to, sql) = if close {
            (
                ReferralState::Answered,
                ReferralState::Closed,
                "UPDATE referrals SET state = 'CLOSED', closed_at = $1, closed_by = $2 WHERE id = $3 AND state = 'ANSWERED'",
            )
        } else {
            (
                ReferralState::Referred,
                ReferralState::Answered,
                "UPDATE referrals SET state = 'ANSWERED', answered_at = $1, answered_by = $2, answer = $4 WHERE id = $3 AND state = 'REFERRED'",
            )
        };
        let mut query = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(&now).bind(acting.staff.actor()).bind(id);
        if !close {
            query = query.bind(text);
        }
        if query.execute(&mut *tx).await?.rows_affected() == 0 {
            return Err(ReliefError::WrongState {
                id,
                state: referral.state_on(self.clock.today()).as_str().into(),
                wanted: format!("only a {} referral can become {}", from.as_str(), to.as_str()),
            });
        }
        let after = serde_json::json!({"state": to.as_str(), "text": text});
        let key = id.to_string();
        let action = if close { "referral.close" } else { "referral.answer" };
        self.store
            .audit(
                &mut tx,
                AuditEntry::new(&acting.staff.actor(), action, "referral", &key, serde_json::Value::Null, after),
            )
            .await?;
        let done =
            referral_in(&mut tx, id).await?.ok_or_else(|| ReliefError::Internal("the referral vanished".into()))?;
        tx.commit().await?;
        Ok(done)
    }
}

async fn intake_in(conn: &mut AnyConnection, id: i64) -> Result<StoredIntake> {
    let row = sqlx::query("SELECT * FROM intakes WHERE id = $1").bind(id).fetch_one(conn).await?;
    Ok(intake_of(&row)?)
}

async fn referral_in(conn: &mut AnyConnection, id: i64) -> Result<Option<StoredReferral>> {
    let row = sqlx::query("SELECT * FROM referrals WHERE id = $1").bind(id).fetch_optional(conn).await?;
    Ok(row.as_ref().map(referral_of).transpose()?)
}

fn random_hex() -> String {
    let mut bytes = [0u8; 8];
    getrandom::getrandom(&mut bytes).expect("system randomness");
    hex::encode(bytes)
}
