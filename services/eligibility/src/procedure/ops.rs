//! The dibao procedure's operations: who the caller is, whether they may act here, what the
//! rules say, then one store write.

use crate::error::{EligibilityError, Result};
use crate::procedure::assessment::{self, AssessmentResult, DibaoClass, Economy, Findings, MemberFacts};
use crate::procedure::rules::{self, Step};
use crate::procedure::store::{ApplicationRow, Enrol, StepOutcome, StepWrite};
use crate::registry::household::check_place;
use crate::service::EligibilityService;
use crate::staff::rules::Scope;
use crate::staff::rules::Staff;
use doudi_core::pii::mask_id_texts;
use doudi_core::policy::PolicySet;
use doudi_core::{Category, Date, NationalId, Violations};
use serde::Serialize;

/// A step as requested. `Debug` masks the national IDs.
#[derive(Clone, Default)]
pub struct StepRequest {
    pub application_id: i64,
    pub step: Option<Step>,
    pub note: String,
    pub findings: Option<Findings>,
    pub objection_upheld: bool,
    pub tekun_national_ids: Vec<String>,
    /// Approval: the members enrolled; empty means every current member.
    pub member_national_ids: Vec<String>,
}

impl std::fmt::Debug for StepRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StepRequest")
            .field("application_id", &self.application_id)
            .field("step", &self.step)
            .field("note", &self.note)
            .field("findings", &self.findings)
            .field("objection_upheld", &self.objection_upheld)
            .field("tekun_national_ids", &mask_id_texts(&self.tekun_national_ids))
            .field("member_national_ids", &mask_id_texts(&self.member_national_ids))
            .finish()
    }
}

/// One enrolment an approval made.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EnrolmentView {
    pub national_id: String,
    pub category: Category,
    pub effective_from: Date,
}

/// The longest note a step keeps.
const MAX_NOTE_CHARS: usize = 1000;

impl EligibilityService {
    pub async fn submit_application(
        &self,
        staff: &Staff,
        household_no: &str,
        intake_ref: Option<&str>,
    ) -> Result<ApplicationRow> {
        let (household_id, township) = self.household_place(household_no).await?;
        staff.may_act_in(&township)?;
        let id = self
            .store()
            .submit_application(household_id, staff, intake_ref)
            .await?
            .ok_or_else(|| EligibilityError::OpenApplication(household_no.to_owned()))?;
        self.application(staff, id).await
    }

    /// Another township's application is not found, exactly as one that does not exist: staff
    /// learn nothing of cases outside their scope, not even that they exist.
    pub async fn application(&self, staff: &Staff, id: i64) -> Result<ApplicationRow> {
        match self.store().application(id).await? {
            Some(application) if staff.may_act_in(&application.township).is_ok() => Ok(application),
            _ => Err(EligibilityError::ApplicationNotFound(id)),
        }
    }

    pub async fn waiting(&self, staff: &Staff, township: &str) -> Result<Vec<ApplicationRow>> {
        let township = match (&staff.township, township) {
            (Some(own), "") => own.clone(),
            (_, "") => String::new(),
            (_, asked) => {
                staff.may_act_in(asked)?;
                asked.to_owned()
            }
        };
        Ok(self.store().waiting((!township.is_empty()).then_some(township.as_str())).await?)
    }

    pub async fn take_step(&self, staff: &Staff, policy: &PolicySet, request: &StepRequest) -> Result<ApplicationRow> {
        let step = request.step.ok_or_else(|| Violations::of("step", "must be one of the procedure's steps"))?;
        let note = request.note.trim();
        let mut violations = Violations::new();
        if note.chars().count() > MAX_NOTE_CHARS {
            violations.add("note", format!("must be at most {MAX_NOTE_CHARS} characters"));
        }
        match step {
            Step::Reject if note.is_empty() => violations.add("note", "a rejection needs its reason"),
            Step::Object if note.is_empty() => violations.add("note", "an objection needs its content"),
            Step::Investigate => match &request.findings {
                None => violations.add("findings", "the investigation's findings are required"),
                Some(f) if !(0..=20).contains(&f.pupils) => violations.add("findings.pupils", "must be 0 to 20"),
                Some(_) => {}
            },
            _ => {}
        }
        if !violations.is_empty() {
            return Err(violations.into());
        }
        let application = self.application(staff, request.application_id).await?;
        let today = self.clock().today();
        let notice_until = application.notice_until.as_deref().and_then(|d| d.parse().ok());
        let to = rules::advance(application.stage, step, staff.role, today, notice_until, request.objection_upheld)
            .map_err(EligibilityError::Step)?;
        let mut write = StepWrite {
            application_id: application.id,
            from: application.stage,
            to,
            step,
            staff,
            note,
            findings: None,
            assessment: None,
            notice_until: None,
            enrol: None,
            enrolments_json: None,
            today,
        };
        match step {
            Step::Investigate => write.findings = request.findings.map(|f| serde_json::json!(f)),
            Step::CheckEconomy => {
                let result = self.assess(&application, policy, today).await?;
                write.assessment = Some((serde_json::json!(result), result.score, result.vulnerable));
            }
            Step::PublishNotice => write.notice_until = Some(Some(rules::notice_until(today))),
            Step::Object if request.objection_upheld => write.notice_until = Some(None),
            Step::Approve => {
                let enrolments =
                    self.enrolments(&application, &request.member_national_ids, &request.tekun_national_ids).await?;
                let from = today.first_of_month_after(1);
                let views: Vec<EnrolmentView> = enrolments
                    .iter()
                    .map(|e| EnrolmentView {
                        national_id: e.national_id_masked.clone(),
                        category: e.category,
                        effective_from: from,
                    })
                    .collect();
                write.enrolments_json = Some(serde_json::json!(views));
                write.enrol = Some((enrolments, from, application.township.clone()));
            }
            _ => {}
        }
        match self.store().apply_step(&write).await? {
            StepOutcome::Done => self.application(staff, application.id).await,
            StepOutcome::Moved => Err(EligibilityError::ApplicationMoved),
            StepOutcome::OverQuota { township, enrolled, adding, quota: Some(quota) } => {
                Err(EligibilityError::OverQuota { township, quota, enrolled, adding, by: "approval" })
            }
            StepOutcome::OverQuota { township, quota: None, .. } => Err(EligibilityError::NoQuota(township)),
            StepOutcome::AlreadyEnrolled(category) => Err(EligibilityError::AlreadyEnrolled(category)),
        }
    }

    /// The 3+X assessment of the application's household today, from the registry and the
    /// investigation's findings.
    async fn assess(&self, application: &ApplicationRow, policy: &PolicySet, today: Date) -> Result<AssessmentResult> {
        let household = self.household(&application.household_no).await?;
        let findings: Findings =
            application.findings.as_deref().and_then(|f| serde_json::from_str(f).ok()).unwrap_or_default();
        let version =
            policy.in_force_on(today).ok_or_else(|| EligibilityError::internal("no policy version in force today"))?;
        let members: Vec<MemberFacts> = household
            .members
            .iter()
            .map(|m| MemberFacts {
                disability_grade: m.disability_grade,
                seriously_ill: m.seriously_ill,
                able_to_work: m.able_to_work,
                publicly_funded: m.publicly_funded,
            })
            .collect();
        let economy = Economy {
            monthly_income_fen: household.monthly_income_fen,
            savings_fen: household.savings_fen,
            motor_vehicles: household.motor_vehicles,
            vehicles_exempt: household.vehicles_exempt,
            commercial_properties: household.commercial_properties,
        };
        Ok(assessment::assess(&members, &economy, &findings, &version.assessment, version.dibao_standard_fen.0, today))
    }

    /// Who the approval enrols: the named members as TEKUN (each unable to work), every other
    /// member in the assessed class (which needs every gate passed).
    async fn enrolments(
        &self,
        application: &ApplicationRow,
        member_ids: &[String],
        tekun_ids: &[String],
    ) -> Result<Vec<Enrol>> {
        let result: AssessmentResult = application
            .assessment
            .as_deref()
            .and_then(|a| serde_json::from_str(a).ok())
            .ok_or(EligibilityError::NoAssessment)?;
        let mut members = self.store().current_members(application.household_id).await?;
        let mut violations = Violations::new();
        let today = self.clock().today();
        let hash_of = |violations: &mut Violations, field: &str, text: &str| {
            violations.check(field, NationalId::parse_on(text, today)).map(|id| self.store().id_hash(&id))
        };
        if !member_ids.is_empty() {
            let mut chosen = Vec::new();
            for (i, text) in member_ids.iter().enumerate() {
                let field = format!("memberNationalIds[{i}]");
                let Some(hash) = hash_of(&mut violations, &field, text) else { continue };
                match members.iter().position(|m| m.id_hash == hash) {
                    Some(at) => chosen.push(members.swap_remove(at)),
                    None => violations.add(field, "is not a current member of the household (or is listed twice)"),
                }
            }
            chosen.sort_by_key(|m| m.person_id);
            members = chosen;
        }
        let mut tekun_hashes = Vec::new();
        for (i, text) in tekun_ids.iter().enumerate() {
            let field = format!("tekunNationalIds[{i}]");
            let Some(hash) = hash_of(&mut violations, &field, text) else { continue };
            match members.iter().find(|m| m.id_hash == hash) {
                None => violations.add(field, "is not a member the approval enrols"),
                Some(m) if m.able_to_work => violations.add(field, "TEKUN is for a person without ability to work"),
                Some(_) => tekun_hashes.push(hash),
            }
        }
        if !violations.is_empty() {
            return Err(violations.into());
        }
        if members.is_empty() {
            return Err(EligibilityError::NoMemberToEnrol);
        }
        let class = match result.class {
            Some(DibaoClass::Dibao1) => Some(Category::Dibao1),
            Some(DibaoClass::Dibao2) => Some(Category::Dibao2),
            None => None,
        };
        let mut enrolments = Vec::new();
        for m in &members {
            let category = if tekun_hashes.contains(&m.id_hash) {
                Category::Tekun
            } else {
                class.ok_or_else(|| {
                    EligibilityError::GatesFailed(
                        result.gates.iter().filter(|g| !g.passed).map(|g| g.name.clone()).collect(),
                    )
                })?
            };
            enrolments.push(Enrol {
                person_id: m.person_id,
                id_hash: m.id_hash.clone(),
                national_id_masked: m.national_id_masked.clone(),
                category,
            });
        }
        Ok(enrolments)
    }

    pub async fn set_quota(&self, staff: &Staff, township: &str, quota: i64) -> Result<i64> {
        staff.county_only("set quotas")?;
        let township = check_place(township, 64).map_err(|e| Violations::of("township", e))?;
        if !(0..=10_000_000).contains(&quota) {
            return Err(Violations::of("dibaoQuota", "must be 0 to 10000000").into());
        }
        self.store().set_quota(&township, quota, &staff.actor()).await?;
        Ok(self.store().enrolled_dibao_on(&township, self.clock().today()).await?)
    }

    pub async fn set_poor_village(&self, staff: &Staff, township: &str, village: &str, poor: bool) -> Result<()> {
        staff.county_only("flag poor villages")?;
        let (township, village) = check_township_village(township, village)?;
        Ok(self.store().set_poor_village(&township, &village, poor, &staff.actor()).await?)
    }
}

/// A township and a village named by staff, each checked.
pub(crate) fn check_township_village(township: &str, village: &str) -> Result<(String, String)> {
    let mut violations = Violations::new();
    let township = violations.check("township", check_place(township, 64));
    let village = violations.check("village", check_place(village, 64));
    match (township, village) {
        (Some(township), Some(village)) => Ok((township, village)),
        _ => Err(violations.into()),
    }
}
