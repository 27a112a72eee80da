//! The dibao procedure's operations, independent of transport: who the caller is, whether they
//! may act here, what the rules say, then one store write.

use crate::domain::assessment::{self, AssessmentResult, DibaoClass, Economy, Findings, MemberFacts};
use crate::domain::procedure::{self, Role, Step, StepError};
use crate::domain::roll::{self, PaidPeriod, RollDecision};
use crate::procedure_store::{ApplicationRow, Enrol, Staff, StepOutcome, StepWrite};
use crate::service::EligibilityService;
use doudi_core::policy::PolicySet;
use doudi_core::{Category, Date, Fen, FieldViolation, NationalId, Violations};
use doudi_runtime::{ApiError, ErrorKind};
use serde::Serialize;
use std::collections::BTreeMap;

/// A step as requested.
#[derive(Debug, Clone, Default)]
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

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReviewDecision {
    Keep,
    Raise,
    Lower,
    Stop,
}

impl ReviewDecision {
    fn as_str(self) -> &'static str {
        match self {
            ReviewDecision::Keep => "KEEP",
            ReviewDecision::Raise => "RAISE",
            ReviewDecision::Lower => "LOWER",
            ReviewDecision::Stop => "STOP",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReviewOutcome {
    pub national_id_masked: String,
    pub decision: ReviewDecision,
    pub from: Category,
    pub to: Option<Category>,
    pub reviewed_on: Date,
    pub effective_from: Date,
}

/// One enrolment an approval made.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EnrolmentView {
    pub national_id: String,
    pub category: Category,
    pub effective_from: Date,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct NoticeApplicant {
    #[serde(flatten)]
    pub line: crate::procedure_store::NoticeLine,
    pub notice_until: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct VillageNotice {
    pub township: String,
    pub village: String,
    pub on: Date,
    pub applications_in_notice: Vec<NoticeApplicant>,
    pub recipients: Vec<crate::procedure_store::NoticeLine>,
}

/// A line of the benefit roll: one paid (or suspended) person.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RollLine {
    pub household_no: String,
    pub national_id: String,
    pub decision: RollDecision,
}

/// What a household is paid for the month, into its head's account.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct HouseholdPayment {
    pub household_no: String,
    pub account: Option<String>,
    pub dibao_fen: Fen,
    pub tekun_fen: Fen,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct BenefitRoll {
    pub month: String,
    pub policy_version: String,
    /// Everyone paid for the month.
    pub lines: Vec<RollLine>,
    /// Not on the roll: a review more than a month overdue (shown so staff can act on it).
    pub suspended: Vec<RollLine>,
    pub households: Vec<HouseholdPayment>,
    pub total_fen: Fen,
}

fn invalid(field: &str, description: impl Into<String>) -> ApiError {
    ApiError::invalid(vec![FieldViolation::new(field, description)])
}

fn denied(message: impl Into<String>) -> ApiError {
    ApiError::new(ErrorKind::PermissionDenied, message)
}

fn step_error(error: StepError) -> ApiError {
    match error {
        StepError::CountyOnly => denied(error.to_string()),
        _ => ApiError::new(ErrorKind::FailedPrecondition, error.to_string()),
    }
}

/// `YYYY-MM` into the month's first day.
pub fn parse_month(text: &str) -> Result<Date, ApiError> {
    format!("{text}-01").parse::<Date>().map_err(|_| invalid("month", "must be YYYY-MM"))
}

impl EligibilityService {
    /// The member of staff an `authorization: Bearer st_…` value names.
    pub async fn staff(&self, authorization: Option<&str>) -> Result<Staff, ApiError> {
        let unauthenticated = |m: &str| ApiError::new(ErrorKind::Unauthenticated, m);
        let token = authorization
            .and_then(|v| v.strip_prefix("Bearer "))
            .map(str::trim)
            .ok_or_else(|| unauthenticated("a staff token is required: `authorization: Bearer st_…`"))?;
        self.store().staff_by_token(token).await?.ok_or_else(|| unauthenticated("unknown or withdrawn staff token"))
    }

    pub(crate) fn may_act_in(staff: &Staff, township: &str) -> Result<(), ApiError> {
        match (&staff.role, &staff.township) {
            (Role::County, _) => Ok(()),
            (Role::Township, Some(own)) if own == township => Ok(()),
            _ => Err(denied(format!("township staff act only on their own township's cases, not {township}'s"))),
        }
    }

    fn county_only(staff: &Staff, what: &str) -> Result<(), ApiError> {
        if staff.role == Role::County { Ok(()) } else { Err(denied(format!("only county staff {what}"))) }
    }

    pub async fn submit_application(&self, staff: &Staff, household_no: &str) -> Result<ApplicationRow, ApiError> {
        crate::domain::household::check_household_no(household_no).map_err(|e| invalid("householdNo", e))?;
        let (household_id, township) =
            self.store().household_place(household_no).await?.ok_or_else(|| {
                ApiError::new(ErrorKind::NotFound, format!("household {household_no} is not registered"))
            })?;
        Self::may_act_in(staff, &township)?;
        let id = self.store().submit_application(household_id, staff).await?.ok_or_else(|| {
            ApiError::new(ErrorKind::AlreadyExists, format!("household {household_no} already has an open application"))
        })?;
        self.application(staff, id).await
    }

    pub async fn application(&self, staff: &Staff, id: i64) -> Result<ApplicationRow, ApiError> {
        let application = self
            .store()
            .application(id)
            .await?
            .ok_or_else(|| ApiError::new(ErrorKind::NotFound, format!("application {id} not found")))?;
        Self::may_act_in(staff, &application.township)?;
        Ok(application)
    }

    pub async fn waiting(&self, staff: &Staff, township: &str) -> Result<Vec<ApplicationRow>, ApiError> {
        let township = match (&staff.township, township) {
            (Some(own), "") => own.clone(),
            (_, "") => String::new(),
            (_, asked) => {
                Self::may_act_in(staff, asked)?;
                asked.to_owned()
            }
        };
        Ok(self.store().waiting((!township.is_empty()).then_some(township.as_str())).await?)
    }

    pub async fn take_step(
        &self,
        staff: &Staff,
        policy: &PolicySet,
        request: &StepRequest,
    ) -> Result<ApplicationRow, ApiError> {
        let step = request.step.ok_or_else(|| invalid("step", "must be one of the procedure's steps"))?;
        let note = request.note.trim();
        let mut violations = Violations::new();
        if note.chars().count() > 1000 {
            violations.add("note", "must be at most 1000 characters");
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
            return Err(ApiError::invalid(violations.into_vec()));
        }
        let application = self.application(staff, request.application_id).await?;
        let today = self.clock().today();
        let notice_until = application.notice_until.as_deref().and_then(|d| d.parse().ok());
        let to = procedure::advance(application.stage, step, staff.role, today, notice_until, request.objection_upheld)
            .map_err(step_error)?;
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
            Step::PublishNotice => write.notice_until = Some(Some(procedure::notice_until(today))),
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
            StepOutcome::Moved => {
                Err(ApiError::new(ErrorKind::FailedPrecondition, "the application changed meanwhile; read it again"))
            }
            StepOutcome::OverQuota { township, enrolled, adding, quota } => Err(ApiError::new(
                ErrorKind::FailedPrecondition,
                match quota {
                    Some(q) => format!(
                        "township {township}'s dibao quota is {q} persons; {enrolled} are enrolled and this approval adds {adding}"
                    ),
                    None => format!("township {township} has no dibao quota set; the county sets one first"),
                },
            )),
            StepOutcome::AlreadyEnrolled(category) => Err(ApiError::new(
                ErrorKind::FailedPrecondition,
                format!("a member already holds {category} from then"),
            )),
        }
    }

    /// The 3+X assessment of the application's household today, from the registry and the
    /// investigation's findings.
    async fn assess(
        &self,
        application: &ApplicationRow,
        policy: &PolicySet,
        today: Date,
    ) -> Result<AssessmentResult, ApiError> {
        let household = self.store().household(&application.household_no).await?.ok_or_else(|| {
            ApiError::new(ErrorKind::NotFound, format!("household {} is not registered", application.household_no))
        })?;
        let findings: Findings =
            application.findings.as_deref().and_then(|f| serde_json::from_str(f).ok()).unwrap_or_default();
        let version =
            policy.in_force_on(today).ok_or_else(|| ApiError::internal(&"no policy version in force today"))?;
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
    ) -> Result<Vec<Enrol>, ApiError> {
        let result: AssessmentResult = application
            .assessment
            .as_deref()
            .and_then(|a| serde_json::from_str(a).ok())
            .ok_or_else(|| ApiError::new(ErrorKind::FailedPrecondition, "the application has no assessment"))?;
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
            return Err(ApiError::invalid(violations.into_vec()));
        }
        if members.is_empty() {
            return Err(ApiError::new(ErrorKind::FailedPrecondition, "the household has no current member to enrol"));
        }
        let mut enrolments = Vec::new();
        for m in &members {
            let category = if tekun_hashes.contains(&m.id_hash) {
                Category::Tekun
            } else {
                match result.class {
                    Some(DibaoClass::Dibao1) => Category::Dibao1,
                    Some(DibaoClass::Dibao2) => Category::Dibao2,
                    None => {
                        let failed: Vec<&str> =
                            result.gates.iter().filter(|g| !g.passed).map(|g| g.name.as_str()).collect();
                        return Err(ApiError::new(
                            ErrorKind::FailedPrecondition,
                            format!(
                                "the household failed the {} gate(s): it cannot be enrolled in dibao",
                                failed.join(", ")
                            ),
                        ));
                    }
                }
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

    /// The roll, for county staff.
    pub async fn benefit_roll_for(
        &self,
        staff: &Staff,
        policy: &PolicySet,
        month: &str,
    ) -> Result<BenefitRoll, ApiError> {
        Self::county_only(staff, "read the county's benefit roll")?;
        self.benefit_roll(policy, parse_month(month)?).await
    }

    /// A village's notice, for staff of its township or the county; `date` empty means today.
    pub async fn notice_list_for(
        &self,
        staff: &Staff,
        township: &str,
        village: &str,
        date: &str,
    ) -> Result<VillageNotice, ApiError> {
        Self::may_act_in(staff, township.trim())?;
        let day = if date.is_empty() {
            self.clock().today()
        } else {
            date.parse().map_err(|_| invalid("date", "must be YYYY-MM-DD"))?
        };
        self.notice_list(township, village, day).await
    }

    pub async fn set_quota(&self, staff: &Staff, township: &str, quota: i64) -> Result<i64, ApiError> {
        Self::county_only(staff, "set quotas")?;
        let township = crate::domain::household::check_place(township, 64).map_err(|e| invalid("township", e))?;
        if !(0..=10_000_000).contains(&quota) {
            return Err(invalid("dibaoQuota", "must be 0 to 10000000"));
        }
        self.store().set_quota(&township, quota, &staff.actor()).await?;
        Ok(self.store().enrolled_dibao_on(&township, self.clock().today()).await?)
    }

    pub async fn set_poor_village(
        &self,
        staff: &Staff,
        township: &str,
        village: &str,
        poor: bool,
    ) -> Result<(), ApiError> {
        Self::county_only(staff, "flag poor villages")?;
        let mut violations = Violations::new();
        let township = violations.check("township", crate::domain::household::check_place(township, 64));
        let village = violations.check("village", crate::domain::household::check_place(village, 64));
        let (Some(township), Some(village)) = (township, village) else {
            return Err(ApiError::invalid(violations.into_vec()));
        };
        Ok(self.store().set_poor_village(&township, &village, poor, &staff.actor()).await?)
    }

    /// A review today of a person's TEKUN or dibao benefit, effective from next month.
    pub async fn record_review(
        &self,
        staff: &Staff,
        policy: &PolicySet,
        national_id: &str,
        decision: Option<ReviewDecision>,
        to: Option<Category>,
        note: &str,
    ) -> Result<ReviewOutcome, ApiError> {
        let today = self.clock().today();
        let mut violations = Violations::new();
        let id = violations.check("nationalId", NationalId::parse_on(national_id, today));
        if decision.is_none() {
            violations.add("decision", "must be KEEP, RAISE, LOWER or STOP");
        }
        let changes_class = matches!(decision, Some(ReviewDecision::Raise | ReviewDecision::Lower));
        if changes_class && !to.is_some_and(|c| roll::PAID.contains(&c)) {
            violations.add("category", "RAISE and LOWER need the new category: TEKUN, DIBAO_1 or DIBAO_2");
        }
        let (Some(id), Some(decision)) = (id, decision) else { return Err(ApiError::invalid(violations.into_vec())) };
        if !violations.is_empty() {
            return Err(ApiError::invalid(violations.into_vec()));
        }
        let hash = self.store().id_hash(&id);
        let held = self.store().held_paid(&hash, today).await?.ok_or_else(|| {
            ApiError::new(ErrorKind::FailedPrecondition, "the person holds no TEKUN or dibao benefit today")
        })?;
        Self::may_act_in(staff, &held.township)?;
        let effective_from = today.first_of_month_after(1);
        let version = policy.in_force_on(effective_from).ok_or_else(|| ApiError::internal(&"no policy in force"))?;
        let amount = |c: Category| version.monthly_benefit_fen.get(&c).copied().unwrap_or_default();
        let to = match decision {
            ReviewDecision::Keep => Some(held.category),
            ReviewDecision::Stop => None,
            ReviewDecision::Raise | ReviewDecision::Lower => to,
        };
        if let Some(new) = to.filter(|_| changes_class) {
            let raises = amount(new) > amount(held.category);
            if (decision == ReviewDecision::Raise) != raises || new == held.category {
                return Err(invalid(
                    "category",
                    format!(
                        "{} {} → {new} does not {} the monthly amount",
                        decision.as_str(),
                        held.category,
                        decision.as_str().to_ascii_lowercase()
                    ),
                ));
            }
        }
        let changes_category = decision != ReviewDecision::Keep;
        let applied = self
            .store()
            .apply_review(
                &held,
                &hash,
                decision.as_str(),
                to.filter(|_| changes_category),
                changes_category,
                today,
                effective_from,
                staff,
                note.trim(),
            )
            .await?;
        if !applied {
            return Err(ApiError::new(ErrorKind::FailedPrecondition, "the benefit changed meanwhile; read it again"));
        }
        Ok(ReviewOutcome {
            national_id_masked: held.national_id_masked,
            decision,
            from: held.category,
            to,
            reviewed_on: today,
            effective_from,
        })
    }

    /// A village's public notice on `day`: applications under notice (with the proposed class)
    /// and the persons receiving TEKUN or dibao, names and IDs masked.
    pub async fn notice_list(&self, township: &str, village: &str, day: Date) -> Result<VillageNotice, ApiError> {
        let mut violations = Violations::new();
        let township = violations.check("township", crate::domain::household::check_place(township, 64));
        let village = violations.check("village", crate::domain::household::check_place(village, 64));
        let (Some(township), Some(village)) = (township, village) else {
            return Err(ApiError::invalid(violations.into_vec()));
        };
        let in_notice = self.store().village_applications_in_notice(&township, &village).await?;
        let recipients = self.store().village_recipients(&township, &village, day).await?;
        Ok(VillageNotice {
            township,
            village,
            on: day,
            applications_in_notice: in_notice
                .into_iter()
                .map(|(line, until)| NoticeApplicant { line, notice_until: until })
                .collect(),
            recipients,
        })
    }

    /// `doudi registry match-poverty`: every row checked first (nothing changes if one is wrong).
    pub async fn match_poverty(
        &self,
        text: &str,
        actor: &str,
    ) -> Result<crate::domain::poverty::PovertyMatch, crate::service::ImportError> {
        use crate::service::ImportError;
        let persons =
            crate::domain::poverty::parse_poverty_list(text, self.clock().today()).map_err(ImportError::Rows)?;
        self.store().match_poverty(&persons, self.clock().today(), actor).await.map_err(ImportError::Storage)
    }

    /// The benefit roll of the month starting `first_day`: every person paid (or suspended) with
    /// category and amount, and each household's sums into its head's account.
    pub async fn benefit_roll(&self, policy: &PolicySet, first_day: Date) -> Result<BenefitRoll, ApiError> {
        let version = policy
            .in_force_on(first_day)
            .ok_or_else(|| invalid("month", "is before the first policy version in force"))?;
        let rows = self.store().roll_rows(first_day).await?;
        let mut lines = Vec::with_capacity(rows.len());
        let mut households: BTreeMap<String, HouseholdPayment> = BTreeMap::new();
        let mut i = 0;
        while i < rows.len() {
            // A person's rows are adjacent (ordered by household, then person).
            let person = rows[i].person_id;
            let mut periods = Vec::new();
            let first = &rows[i];
            while i < rows.len() && rows[i].person_id == person {
                periods.push(PaidPeriod { period: rows[i].period, reviewed_on: rows[i].reviewed_on });
                i += 1;
            }
            let Some(decision) = roll::decide(&periods, first.last_review, first_day, version) else { continue };
            let payment = households.entry(first.household_no.clone()).or_insert_with(|| HouseholdPayment {
                household_no: first.household_no.clone(),
                account: None,
                dibao_fen: Fen::ZERO,
                tekun_fen: Fen::ZERO,
            });
            if payment.account.is_none() {
                payment.account = self.store().decrypt_account(first.account_enc.clone())?.map(|a| a.masked());
            }
            let sum =
                if decision.category == Category::Tekun { &mut payment.tekun_fen } else { &mut payment.dibao_fen };
            *sum = sum.checked_add(decision.amount).map_err(|e| ApiError::internal(&e))?;
            lines.push(RollLine {
                household_no: first.household_no.clone(),
                national_id: first.national_id_masked.clone(),
                decision,
            });
        }
        let (suspended, lines): (Vec<RollLine>, Vec<RollLine>) =
            lines.into_iter().partition(|l| l.decision.suspended_since_due.is_some());
        let total = lines.iter().map(|l| l.decision.amount.0).sum();
        Ok(BenefitRoll {
            month: format!("{:04}-{:02}", first_day.year(), first_day.month()),
            policy_version: version.id.clone(),
            lines,
            suspended,
            households: households.into_values().filter(|h| h.dibao_fen.0 + h.tekun_fen.0 > 0).collect(),
            total_fen: Fen(total),
        })
    }
}
