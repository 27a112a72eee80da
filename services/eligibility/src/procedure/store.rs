//! Every statement of an application: opening one (one open application per household), its
//! steps with who took them, the waiting list, and a step's writes — for an approval, the
//! enrolments within the township's quota, in the same transaction.

use crate::procedure::quota_store::QuotaCheck;
use crate::procedure::rules::{Stage, Step};
use crate::staff::rules::Staff;
use crate::store::Store;
use doudi_core::{Category, Date};
use doudi_runtime::audit::AuditEntry;
use serde_json::{Value, json};
use sqlx::{AnyConnection, Row};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StepRow {
    pub step: String,
    pub staff_id: i64,
    pub staff_name: String,
    pub role: String,
    pub at: String,
    pub note: String,
    pub stage_after: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApplicationRow {
    pub id: i64,
    pub household_id: i64,
    pub household_no: String,
    pub township: String,
    pub village: String,
    pub poor_village: bool,
    pub stage: Stage,
    pub findings: Option<String>,
    pub assessment: Option<String>,
    pub score: i64,
    pub notice_until: Option<String>,
    pub enrolments: Option<String>,
    /// Brought at the single window: the relief service's intake.
    pub intake_ref: Option<String>,
    pub steps: Vec<StepRow>,
}

/// Who an approval enrols, in which category, from which day.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Enrol {
    pub person_id: i64,
    pub id_hash: Vec<u8>,
    pub national_id_masked: String,
    pub category: Category,
}

/// One step's writes, decided by the service.
#[derive(Debug)]
pub struct StepWrite<'a> {
    pub application_id: i64,
    pub from: Stage,
    pub to: Stage,
    pub step: Step,
    pub staff: &'a Staff,
    pub note: &'a str,
    pub findings: Option<Value>,
    pub assessment: Option<(Value, i64, bool)>,
    /// `Some(None)` clears the notice (an upheld objection).
    pub notice_until: Option<Option<Date>>,
    /// Approval: the enrolments, their first day, the township and its quota check.
    pub enrol: Option<(Vec<Enrol>, Date, String)>,
    pub enrolments_json: Option<Value>,
    pub today: Date,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StepOutcome {
    Done,
    /// Another change moved the application first: nothing was written.
    Moved,
    /// The approval would put the township over its quota (enrolled, quota).
    OverQuota {
        township: String,
        enrolled: i64,
        adding: i64,
        quota: Option<i64>,
    },
    /// A member already holds that category then.
    AlreadyEnrolled(String),
}

const APPLICATION_SELECT: &str = "SELECT a.id, a.household_id, h.household_no, h.township, h.village,
        CASE WHEN pv.village IS NULL THEN 0 ELSE 1 END AS poor, a.stage, a.findings, a.assessment, a.score,
        a.notice_until, a.enrolments, a.intake_ref
     FROM applications a
     JOIN households h ON h.id = a.household_id
     LEFT JOIN poor_villages pv ON pv.township = h.township AND pv.village = h.village";

fn application_from_row(row: &sqlx::any::AnyRow) -> Result<ApplicationRow, sqlx::Error> {
    let stage: String = row.try_get("stage")?;
    Ok(ApplicationRow {
        id: row.try_get("id")?,
        household_id: row.try_get("household_id")?,
        household_no: row.try_get("household_no")?,
        township: row.try_get("township")?,
        village: row.try_get("village")?,
        poor_village: row.try_get::<i64, _>("poor")? != 0,
        stage: Stage::parse(&stage).ok_or_else(|| sqlx::Error::Decode("stored stage is not valid".into()))?,
        findings: row.try_get("findings")?,
        assessment: row.try_get("assessment")?,
        score: row.try_get("score")?,
        notice_until: row.try_get("notice_until")?,
        enrolments: row.try_get("enrolments")?,
        intake_ref: row.try_get("intake_ref")?,
        steps: Vec::new(),
    })
}

impl Store {
    /// Opens an application; `None` if the household already has an open one.
    pub async fn submit_application(
        &self,
        household_id: i64,
        staff: &Staff,
        intake_ref: Option<&str>,
    ) -> Result<Option<i64>, sqlx::Error> {
        let now = doudi_runtime::now_rfc3339();
        let mut tx = self.db.writes().begin().await?;
        let inserted = sqlx::query(
            "INSERT INTO applications (household_id, stage, submitted_at, updated_at, intake_ref) \
             VALUES ($1, 'SUBMITTED', $2, $2, $3) RETURNING id",
        )
        .bind(household_id)
        .bind(&now)
        .bind(intake_ref)
        .fetch_one(&mut *tx)
        .await;
        let id: i64 = match inserted {
            Ok(row) => row.try_get(0)?,
            Err(sqlx::Error::Database(e)) if e.is_unique_violation() => return Ok(None),
            Err(e) => return Err(e),
        };
        self.insert_step(&mut tx, id, "SUBMIT", staff, "", Stage::Submitted, &now).await?;
        let after = json!({"stage": "SUBMITTED", "householdId": household_id});
        self.audit(
            &mut tx,
            AuditEntry::new(&staff.actor(), "application.submit", "application", &id.to_string(), Value::Null, after),
        )
        .await?;
        tx.commit().await?;
        Ok(Some(id))
    }

    #[allow(clippy::too_many_arguments)]
    async fn insert_step(
        &self,
        conn: &mut AnyConnection,
        application_id: i64,
        step: &str,
        staff: &Staff,
        note: &str,
        stage_after: Stage,
        now: &str,
    ) -> Result<(), sqlx::Error> {
        sqlx::query(
            "INSERT INTO application_steps (application_id, step, staff_id, staff_name, role, at, note, stage_after)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .bind(application_id)
        .bind(step)
        .bind(staff.id)
        .bind(&staff.name)
        .bind(staff.role.as_str())
        .bind(now)
        .bind(note)
        .bind(stage_after.as_str())
        .execute(conn)
        .await?;
        Ok(())
    }

    pub async fn application(&self, id: i64) -> Result<Option<ApplicationRow>, sqlx::Error> {
        let sql = format!("{APPLICATION_SELECT} WHERE a.id = $1");
        let Some(row) = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(id).fetch_optional(self.db.reads()).await? else {
            return Ok(None);
        };
        let mut application = application_from_row(&row)?;
        let steps = sqlx::query(
            "SELECT step, staff_id, staff_name, role, at, note, stage_after FROM application_steps
             WHERE application_id = $1 ORDER BY id",
        )
        .bind(id)
        .fetch_all(self.db.reads())
        .await?;
        application.steps = steps
            .iter()
            .map(|r| {
                Ok(StepRow {
                    step: r.try_get("step")?,
                    staff_id: r.try_get("staff_id")?,
                    staff_name: r.try_get("staff_name")?,
                    role: r.try_get("role")?,
                    at: r.try_get("at")?,
                    note: r.try_get("note")?,
                    stage_after: r.try_get("stage_after")?,
                })
            })
            .collect::<Result<_, sqlx::Error>>()?;
        Ok(Some(application))
    }

    /// Open applications (of one township, or all), in waiting-list order.
    pub async fn waiting(&self, township: Option<&str>) -> Result<Vec<ApplicationRow>, sqlx::Error> {
        let sql = format!(
            "{APPLICATION_SELECT} WHERE a.stage NOT IN ('APPROVED', 'REJECTED') AND ($1 = '' OR h.township = $1)
             ORDER BY poor DESC, a.vulnerable DESC, a.score DESC, a.submitted_at, a.id"
        );
        let rows =
            sqlx::query(sqlx::AssertSqlSafe(sql)).bind(township.unwrap_or("")).fetch_all(self.db.reads()).await?;
        rows.iter().map(application_from_row).collect()
    }

    /// Writes one step: the application's new stage (only if it is still at `from`), the step
    /// record, the audit entry, and for an approval the enrolments within the township's quota.
    pub async fn apply_step(&self, write: &StepWrite<'_>) -> Result<StepOutcome, sqlx::Error> {
        let now = doudi_runtime::now_rfc3339();
        let (mut tx, version) = if write.enrol.is_some() {
            let (tx, version) = self.begin_write().await?;
            (tx, Some(version))
        } else {
            (self.db.writes().begin().await?, None)
        };
        if let Some((enrolments, from, township)) = &write.enrol {
            let adding =
                enrolments.iter().filter(|e| matches!(e.category, Category::Dibao1 | Category::Dibao2)).count() as i64;
            if let QuotaCheck::Over { quota, enrolled } = self.quota_room(&mut tx, township, *from, adding).await? {
                tx.rollback().await?;
                return Ok(StepOutcome::OverQuota { township: township.clone(), enrolled, adding, quota });
            }
            for e in enrolments {
                let inserted = sqlx::query(
                    "INSERT INTO category_periods (person_id, category, effective_from, reviewed_on, source, created_at, updated_at)
                     SELECT $1, $2, $3, $4, $5, $6, $6
                     WHERE NOT EXISTS (SELECT 1 FROM category_periods WHERE person_id = $1 AND category = $2
                                       AND (effective_to IS NULL OR effective_to >= $3))",
                )
                .bind(e.person_id)
                .bind(e.category.as_str())
                .bind(from.to_string())
                .bind(write.today.to_string())
                .bind(format!("application:{}", write.application_id))
                .bind(&now)
                .execute(&mut *tx)
                .await?
                .rows_affected();
                if inserted == 0 {
                    tx.rollback().await?;
                    return Ok(StepOutcome::AlreadyEnrolled(e.category.as_str().to_owned()));
                }
            }
            let hashes: Vec<&[u8]> = enrolments.iter().map(|e| e.id_hash.as_slice()).collect();
            self.log_changes(&mut tx, version.unwrap_or_default(), &hashes).await?;
        }
        let notice = write.notice_until.map(|n| n.map(|d| d.to_string()));
        let moved = sqlx::query(
            "UPDATE applications SET stage = $1, updated_at = $2,
                 findings = CASE WHEN $3 THEN $4 ELSE findings END,
                 assessment = CASE WHEN $5 THEN $6 ELSE assessment END,
                 score = CASE WHEN $5 THEN $7 ELSE score END,
                 vulnerable = CASE WHEN $5 THEN $8 ELSE vulnerable END,
                 notice_until = CASE WHEN $9 THEN $10 ELSE notice_until END,
                 enrolments = CASE WHEN $11 THEN $12 ELSE enrolments END
             WHERE id = $13 AND stage = $14",
        )
        .bind(write.to.as_str())
        .bind(&now)
        .bind(write.findings.is_some())
        .bind(write.findings.as_ref().map(Value::to_string))
        .bind(write.assessment.is_some())
        .bind(write.assessment.as_ref().map(|a| a.0.to_string()))
        .bind(write.assessment.as_ref().map_or(0, |a| a.1))
        .bind(write.assessment.as_ref().map_or(0, |a| i64::from(a.2)))
        .bind(notice.is_some())
        .bind(notice.flatten())
        .bind(write.enrolments_json.is_some())
        .bind(write.enrolments_json.as_ref().map(Value::to_string))
        .bind(write.application_id)
        .bind(write.from.as_str())
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if moved == 0 {
            tx.rollback().await?;
            return Ok(StepOutcome::Moved);
        }
        let step = write.step.as_str();
        self.insert_step(&mut tx, write.application_id, step, write.staff, write.note, write.to, &now).await?;
        let before = json!({"stage": write.from.as_str()});
        let after = json!({"stage": write.to.as_str(), "note": write.note, "enrolments": write.enrolments_json});
        let action = format!("application.{}", step.to_ascii_lowercase());
        let key = write.application_id.to_string();
        self.audit(&mut tx, AuditEntry::new(&write.staff.actor(), &action, "application", &key, before, after)).await?;
        tx.commit().await?;
        Ok(StepOutcome::Done)
    }
}
