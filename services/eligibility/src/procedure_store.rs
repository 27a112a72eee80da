//! Every SQL statement of the dibao procedure: staff and their tokens, applications and their
//! steps, quotas and poor villages, reviews, and the rows of the monthly roll. Every change is
//! audited in the same transaction; a change to who holds which category also bumps the registry
//! version, so coverage indexes everywhere catch up.

use crate::domain::coverage::CategoryPeriod;
use crate::domain::procedure::{Role, Stage, Step};
use crate::store::{Store, parse_stored, stored_period};
use doudi_core::{Category, Date};
use doudi_runtime::audit::AuditEntry;
use serde_json::{Value, json};
use sqlx::{AnyConnection, Row};

/// A member of staff, as a valid token names them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Staff {
    pub id: i64,
    pub name: String,
    pub role: Role,
    /// Township staff only.
    pub township: Option<String>,
}

impl Staff {
    pub fn actor(&self) -> String {
        format!("staff:{}:{}", self.id, self.name)
    }
}

const TOKEN_PREFIX: &str = "st_";

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
    pub steps: Vec<StepRow>,
}

/// A member as the approval sees them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemberRef {
    pub person_id: i64,
    pub id_hash: Vec<u8>,
    pub national_id_masked: String,
    pub relation: String,
    pub able_to_work: bool,
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

/// A row of the monthly roll: a person's paid-category period containing the month's first day.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RollRow {
    pub person_id: i64,
    pub national_id_masked: String,
    pub household_no: String,
    pub account_enc: Option<Vec<u8>>,
    pub period: CategoryPeriod,
    pub reviewed_on: Date,
    pub last_review: Option<Date>,
}

/// The paid period a person holds on a day, for a review.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeldPaid {
    pub person_id: i64,
    pub period_id: i64,
    pub category: Category,
    pub national_id_masked: String,
    pub township: String,
}

/// Equal-time comparison of two MACs in hex.
fn same_mac(a: &str, b: &str) -> bool {
    a.len() == b.len() && a.bytes().zip(b.bytes()).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

const APPLICATION_SELECT: &str = "SELECT a.id, a.household_id, h.household_no, h.township, h.village,
        CASE WHEN pv.village IS NULL THEN 0 ELSE 1 END AS poor, a.stage, a.findings, a.assessment, a.score,
        a.notice_until, a.enrolments
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
        steps: Vec::new(),
    })
}

impl Store {
    fn token_mac(&self, id: i64, nonce: &str) -> String {
        hex::encode(self.cipher.blind_index("staff_token", &format!("{id}:{nonce}")))
    }

    /// Adds a member of staff; returns their id and token (shown once, stored nowhere).
    pub async fn add_staff(
        &self,
        name: &str,
        role: Role,
        township: Option<&str>,
        actor: &str,
    ) -> Result<(i64, String), sqlx::Error> {
        let mut nonce = [0u8; 16];
        getrandom::getrandom(&mut nonce).map_err(|e| sqlx::Error::Protocol(e.to_string()))?;
        let nonce = hex::encode(nonce);
        let now = doudi_runtime::now_rfc3339();
        let role_text = role.as_str();
        let mut tx = self.db.writes().begin().await?;
        let id: i64 = sqlx::query(
            "INSERT INTO staff (name, role, township, token_nonce, created_at) VALUES ($1, $2, $3, $4, $5) RETURNING id",
        )
        .bind(name)
        .bind(role_text)
        .bind(township)
        .bind(&nonce)
        .bind(&now)
        .fetch_one(&mut *tx)
        .await?
        .try_get(0)?;
        let after = json!({"id": id, "name": name, "role": role_text, "township": township});
        self.audit(&mut tx, AuditEntry::new(actor, "staff.add", "staff", &id.to_string(), Value::Null, after)).await?;
        tx.commit().await?;
        Ok((id, format!("{TOKEN_PREFIX}{id}_{nonce}_{}", self.token_mac(id, &nonce))))
    }

    /// Withdraws a member of staff's token. `false` if there is no such member.
    pub async fn revoke_staff(&self, id: i64, actor: &str) -> Result<bool, sqlx::Error> {
        let mut tx = self.db.writes().begin().await?;
        let now = doudi_runtime::now_rfc3339();
        let changed = sqlx::query("UPDATE staff SET revoked_at = $1 WHERE id = $2 AND revoked_at IS NULL")
            .bind(&now)
            .bind(id)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        let exists =
            sqlx::query("SELECT 1 FROM staff WHERE id = $1").bind(id).fetch_optional(&mut *tx).await?.is_some();
        if changed > 0 {
            let after = json!({"revokedAt": now});
            self.audit(&mut tx, AuditEntry::new(actor, "staff.revoke", "staff", &id.to_string(), Value::Null, after))
                .await?;
        }
        tx.commit().await?;
        Ok(exists)
    }

    /// The member of staff a token names, if the token is genuine and not withdrawn.
    pub async fn staff_by_token(&self, token: &str) -> Result<Option<Staff>, sqlx::Error> {
        let Some(rest) = token.strip_prefix(TOKEN_PREFIX) else { return Ok(None) };
        let mut parts = rest.splitn(3, '_');
        let (Some(id), Some(nonce), Some(mac)) = (parts.next(), parts.next(), parts.next()) else { return Ok(None) };
        let Ok(id) = id.parse::<i64>() else { return Ok(None) };
        if !same_mac(mac, &self.token_mac(id, nonce)) {
            return Ok(None);
        }
        let row = sqlx::query(
            "SELECT name, role, township FROM staff WHERE id = $1 AND token_nonce = $2 AND revoked_at IS NULL",
        )
        .bind(id)
        .bind(nonce)
        .fetch_optional(self.db.reads())
        .await?;
        let Some(row) = row else { return Ok(None) };
        Ok(Some(Staff {
            id,
            name: row.try_get("name")?,
            role: Role::parse(&row.try_get::<String, _>("role")?)
                .ok_or_else(|| sqlx::Error::Decode("stored role is not valid".into()))?,
            township: row.try_get("township")?,
        }))
    }

    /// (household id, township) of a registered household.
    pub async fn household_place(&self, household_no: &str) -> Result<Option<(i64, String)>, sqlx::Error> {
        let row = sqlx::query("SELECT id, township FROM households WHERE household_no = $1")
            .bind(household_no)
            .fetch_optional(self.db.reads())
            .await?;
        row.map(|r| Ok((r.try_get("id")?, r.try_get("township")?))).transpose()
    }

    /// Opens an application; `None` if the household already has an open one.
    pub async fn submit_application(&self, household_id: i64, staff: &Staff) -> Result<Option<i64>, sqlx::Error> {
        let now = doudi_runtime::now_rfc3339();
        let mut tx = self.db.writes().begin().await?;
        let inserted = sqlx::query(
            "INSERT INTO applications (household_id, stage, submitted_at, updated_at) VALUES ($1, 'SUBMITTED', $2, $2)
             RETURNING id",
        )
        .bind(household_id)
        .bind(&now)
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

    /// The household's members now (not those who left or died).
    pub async fn current_members(&self, household_id: i64) -> Result<Vec<MemberRef>, sqlx::Error> {
        let rows = sqlx::query(
            "SELECT id, id_hash, national_id_masked, relation, able_to_work FROM persons
             WHERE household_id = $1 AND left_on IS NULL ORDER BY id",
        )
        .bind(household_id)
        .fetch_all(self.db.reads())
        .await?;
        rows.iter()
            .map(|r| {
                Ok(MemberRef {
                    person_id: r.try_get("id")?,
                    id_hash: r.try_get("id_hash")?,
                    national_id_masked: r.try_get("national_id_masked")?,
                    relation: r.try_get("relation")?,
                    able_to_work: r.try_get::<i64, _>("able_to_work")? != 0,
                })
            })
            .collect()
    }

    /// Persons of `township` holding DIBAO_1 or DIBAO_2 on `day`.
    async fn enrolled_dibao(&self, conn: &mut AnyConnection, township: &str, day: Date) -> Result<i64, sqlx::Error> {
        sqlx::query(
            "SELECT COUNT(DISTINCT c.person_id) FROM category_periods c
             JOIN persons p ON p.id = c.person_id JOIN households h ON h.id = p.household_id
             WHERE h.township = $1 AND c.category IN ('DIBAO_1', 'DIBAO_2')
               AND c.effective_from <= $2 AND (c.effective_to IS NULL OR c.effective_to >= $2)",
        )
        .bind(township)
        .bind(day.to_string())
        .fetch_one(conn)
        .await?
        .try_get(0)
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
            // Lock the township's quota row first: approvals in one township queue here.
            let quota: Option<i64> = sqlx::query(
                "UPDATE township_quotas SET updated_at = updated_at WHERE township = $1 RETURNING dibao_quota",
            )
            .bind(township)
            .fetch_optional(&mut *tx)
            .await?
            .map(|r| r.try_get(0))
            .transpose()?;
            let adding =
                enrolments.iter().filter(|e| matches!(e.category, Category::Dibao1 | Category::Dibao2)).count() as i64;
            let enrolled = self.enrolled_dibao(&mut tx, township, *from).await?;
            if adding > 0 && quota.is_none_or(|q| enrolled + adding > q) {
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

    pub async fn set_quota(&self, township: &str, quota: i64, actor: &str) -> Result<(), sqlx::Error> {
        let now = doudi_runtime::now_rfc3339();
        let mut tx = self.db.writes().begin().await?;
        sqlx::query(
            "INSERT INTO township_quotas (township, dibao_quota, updated_at) VALUES ($1, $2, $3)
             ON CONFLICT (township) DO UPDATE SET dibao_quota = excluded.dibao_quota, updated_at = excluded.updated_at",
        )
        .bind(township)
        .bind(quota)
        .bind(&now)
        .execute(&mut *tx)
        .await?;
        let after = json!({"dibaoQuota": quota});
        self.audit(&mut tx, AuditEntry::new(actor, "township.quota", "township", township, Value::Null, after)).await?;
        tx.commit().await
    }

    pub async fn enrolled_dibao_on(&self, township: &str, day: Date) -> Result<i64, sqlx::Error> {
        let mut conn = self.db.reads().acquire().await?;
        self.enrolled_dibao(&mut conn, township, day).await
    }

    pub async fn set_poor_village(
        &self,
        township: &str,
        village: &str,
        poor: bool,
        actor: &str,
    ) -> Result<(), sqlx::Error> {
        let mut tx = self.db.writes().begin().await?;
        let statement = if poor {
            "INSERT INTO poor_villages (township, village) VALUES ($1, $2) ON CONFLICT (township, village) DO NOTHING"
        } else {
            "DELETE FROM poor_villages WHERE township = $1 AND village = $2"
        };
        sqlx::query(statement).bind(township).bind(village).execute(&mut *tx).await?;
        let key = format!("{township}/{village}");
        self.audit(
            &mut tx,
            AuditEntry::new(actor, "village.poor", "village", &key, Value::Null, json!({"poor": poor})),
        )
        .await?;
        tx.commit().await
    }

    /// The TEKUN/DIBAO period a person holds on `day` (the first in priority), with their township.
    pub async fn held_paid(&self, id_hash: &[u8], day: Date) -> Result<Option<HeldPaid>, sqlx::Error> {
        let rows = sqlx::query(
            "SELECT p.id AS person_id, c.id AS period_id, c.category, p.national_id_masked, h.township
             FROM persons p JOIN households h ON h.id = p.household_id
             JOIN category_periods c ON c.person_id = p.id
             WHERE p.id_hash = $1 AND c.category IN ('TEKUN', 'DIBAO_1', 'DIBAO_2')
               AND c.effective_from <= $2 AND (c.effective_to IS NULL OR c.effective_to >= $2)",
        )
        .bind(id_hash)
        .bind(day.to_string())
        .fetch_all(self.db.reads())
        .await?;
        let mut held = rows
            .iter()
            .map(|r| {
                Ok(HeldPaid {
                    person_id: r.try_get("person_id")?,
                    period_id: r.try_get("period_id")?,
                    category: parse_stored("category", &r.try_get::<String, _>("category")?)?,
                    national_id_masked: r.try_get("national_id_masked")?,
                    township: r.try_get("township")?,
                })
            })
            .collect::<Result<Vec<_>, sqlx::Error>>()?;
        held.sort_by_key(|h| h.category);
        Ok(held.into_iter().next())
    }

    /// Records a review; a change of category closes the held period at the end of this month
    /// and (unless stopped) opens the new one from `effective_from`. `false` if the period
    /// changed meanwhile (nothing written).
    #[allow(clippy::too_many_arguments)]
    pub async fn apply_review(
        &self,
        held: &HeldPaid,
        id_hash: &[u8],
        decision: &str,
        to: Option<Category>,
        changes_category: bool,
        reviewed_on: Date,
        effective_from: Date,
        staff: &Staff,
        note: &str,
    ) -> Result<bool, sqlx::Error> {
        let now = doudi_runtime::now_rfc3339();
        let (mut tx, version) = self.begin_write().await?;
        if changes_category {
            let closed = sqlx::query(
                "UPDATE category_periods SET effective_to = $1, updated_at = $2
                 WHERE id = $3 AND (effective_to IS NULL OR effective_to >= $4)",
            )
            .bind(effective_from.add_days(-1).to_string())
            .bind(&now)
            .bind(held.period_id)
            .bind(effective_from.to_string())
            .execute(&mut *tx)
            .await?
            .rows_affected();
            if closed == 0 {
                tx.rollback().await?;
                return Ok(false);
            }
            if let Some(to) = to {
                sqlx::query(
                    "INSERT INTO category_periods (person_id, category, effective_from, reviewed_on, source, created_at, updated_at)
                     VALUES ($1, $2, $3, $4, 'review', $5, $5)",
                )
                .bind(held.person_id)
                .bind(to.as_str())
                .bind(effective_from.to_string())
                .bind(reviewed_on.to_string())
                .bind(&now)
                .execute(&mut *tx)
                .await?;
            }
        }
        sqlx::query(
            "INSERT INTO reviews (person_id, reviewed_on, decision, from_category, to_category, effective_from, staff_id, note, created_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        )
        .bind(held.person_id)
        .bind(reviewed_on.to_string())
        .bind(decision)
        .bind(held.category.as_str())
        .bind(to.map(Category::as_str))
        .bind(effective_from.to_string())
        .bind(staff.id)
        .bind(note)
        .bind(&now)
        .execute(&mut *tx)
        .await?;
        self.log_changes(&mut tx, version, &[id_hash]).await?;
        let before = json!({"category": held.category.as_str()});
        let after = json!({"decision": decision, "category": to.map(Category::as_str), "effectiveFrom": effective_from.to_string()});
        self.audit(
            &mut tx,
            AuditEntry::new(&staff.actor(), "review.record", "person", &held.national_id_masked, before, after),
        )
        .await?;
        tx.commit().await?;
        Ok(true)
    }

    /// Every paid-category period containing `first_day`, with the person's household, the
    /// household's account (encrypted) and their latest review on or before that day.
    pub async fn roll_rows(&self, first_day: Date) -> Result<Vec<RollRow>, sqlx::Error> {
        let rows = sqlx::query(
            "SELECT p.id AS person_id, p.national_id_masked, h.household_no, h.bank_account_enc,
                    c.category, c.effective_from, c.effective_to, c.reviewed_on,
                    (SELECT MAX(r.reviewed_on) FROM reviews r WHERE r.person_id = p.id AND r.reviewed_on <= $1) AS last_review
             FROM category_periods c
             JOIN persons p ON p.id = c.person_id
             JOIN households h ON h.id = p.household_id
             WHERE c.category IN ('TEKUN', 'DIBAO_1', 'DIBAO_2')
               AND c.effective_from <= $1 AND (c.effective_to IS NULL OR c.effective_to >= $1)
             ORDER BY h.household_no, p.id",
        )
        .bind(first_day.to_string())
        .fetch_all(self.db.reads())
        .await?;
        rows.iter()
            .map(|r| {
                let last_review: Option<String> = r.try_get("last_review")?;
                Ok(RollRow {
                    person_id: r.try_get("person_id")?,
                    national_id_masked: r.try_get("national_id_masked")?,
                    household_no: r.try_get("household_no")?,
                    account_enc: r.try_get("bank_account_enc")?,
                    period: stored_period(r)?,
                    reviewed_on: parse_stored("date", &r.try_get::<String, _>("reviewed_on")?)?,
                    last_review: last_review.map(|t| parse_stored("date", &t)).transpose()?,
                })
            })
            .collect()
    }
}

impl Store {
    /// Marks the listed persons REGISTERED_POOR from `today` (unless they already hold it then),
    /// in one audited transaction, and compares the list with dibao households.
    pub async fn match_poverty(
        &self,
        persons: &[crate::domain::poverty::PoorPerson],
        today: Date,
        actor: &str,
    ) -> Result<crate::domain::poverty::PovertyMatch, sqlx::Error> {
        use crate::domain::poverty::{PovertyMatch, compare};
        let now = doudi_runtime::now_rfc3339();
        let day = today.to_string();
        let (mut tx, version) = self.begin_write().await?;
        let mut outcome = PovertyMatch::default();
        let mut touched: Vec<Vec<u8>> = Vec::new();
        for person in persons {
            let hash = self.id_hash(&person.national_id);
            let found = sqlx::query(
                "SELECT p.id, h.household_no FROM persons p JOIN households h ON h.id = p.household_id WHERE p.id_hash = $1",
            )
            .bind(&hash)
            .fetch_optional(&mut *tx)
            .await?;
            let Some(found) = found else {
                outcome.unknown.push((person.line, person.national_id.masked()));
                continue;
            };
            let person_id: i64 = found.try_get("id")?;
            let registered_in: String = found.try_get("household_no")?;
            if registered_in != person.household_no {
                outcome.moved.push((person.line, person.national_id.masked(), registered_in));
            }
            let inserted = sqlx::query(
                "INSERT INTO category_periods (person_id, category, effective_from, reviewed_on, source, created_at, updated_at)
                 SELECT $1, 'REGISTERED_POOR', $2, $2, 'poverty-list', $3, $3
                 WHERE NOT EXISTS (SELECT 1 FROM category_periods WHERE person_id = $1 AND category = 'REGISTERED_POOR'
                                   AND (effective_to IS NULL OR effective_to >= $2))",
            )
            .bind(person_id)
            .bind(&day)
            .bind(&now)
            .execute(&mut *tx)
            .await?
            .rows_affected();
            if inserted == 0 {
                outcome.already += 1;
            } else {
                outcome.marked += 1;
                touched.push(hash);
            }
        }
        let refs: Vec<&[u8]> = touched.iter().map(Vec::as_slice).collect();
        self.log_changes(&mut tx, version, &refs).await?;
        let dibao: std::collections::BTreeSet<String> = sqlx::query(
            "SELECT DISTINCT h.household_no FROM category_periods c
             JOIN persons p ON p.id = c.person_id JOIN households h ON h.id = p.household_id
             WHERE c.category IN ('DIBAO_1', 'DIBAO_2') AND c.effective_from <= $1
               AND (c.effective_to IS NULL OR c.effective_to >= $1)",
        )
        .bind(&day)
        .fetch_all(&mut *tx)
        .await?
        .iter()
        .map(|r| r.try_get("household_no"))
        .collect::<Result<_, _>>()?;
        let listed = persons.iter().map(|p| p.household_no.clone()).collect();
        (outcome.poor_without_dibao, outcome.dibao_not_registered_poor) = compare(&listed, &dibao);
        let after = json!({
            "listed": persons.len(), "marked": outcome.marked, "already": outcome.already,
            "unknown": outcome.unknown.len(), "moved": outcome.moved.len(),
        });
        self.audit(&mut tx, AuditEntry::new(actor, "registry.match_poverty", "registry", &day, Value::Null, after))
            .await?;
        tx.commit().await?;
        Ok(outcome)
    }
}

/// A line of a village's public notice: a person, masked, with what they hold or are proposed for.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct NoticeLine {
    pub household_no: String,
    pub name: String,
    pub national_id: String,
    pub category: Category,
}

impl Store {
    /// Persons of a village holding TEKUN or dibao on `day`, masked, household by household.
    pub async fn village_recipients(
        &self,
        township: &str,
        village: &str,
        day: Date,
    ) -> Result<Vec<NoticeLine>, sqlx::Error> {
        let rows = sqlx::query(
            "SELECT h.household_no, p.name_enc, p.national_id_masked, c.category
             FROM category_periods c JOIN persons p ON p.id = c.person_id JOIN households h ON h.id = p.household_id
             WHERE h.township = $1 AND h.village = $2 AND c.category IN ('TEKUN', 'DIBAO_1', 'DIBAO_2')
               AND c.effective_from <= $3 AND (c.effective_to IS NULL OR c.effective_to >= $3)
             ORDER BY h.household_no, p.id, c.category",
        )
        .bind(township)
        .bind(village)
        .bind(day.to_string())
        .fetch_all(self.db.reads())
        .await?;
        let mut lines: Vec<NoticeLine> = Vec::with_capacity(rows.len());
        for r in &rows {
            let national_id: String = r.try_get("national_id_masked")?;
            let category: Category = parse_stored("category", &r.try_get::<String, _>("category")?)?;
            // One line a person: the first category in priority (rows are ordered so).
            if lines.last().is_some_and(|l| l.national_id == national_id && l.category <= category) {
                continue;
            }
            lines.push(NoticeLine {
                household_no: r.try_get("household_no")?,
                name: self.decrypt_name(&r.try_get::<Vec<u8>, _>("name_enc")?)?.masked(),
                national_id,
                category,
            });
        }
        Ok(lines)
    }

    /// Members (masked) of a village's applications under public notice on `day`, with the class
    /// the assessment proposes, and the notice's last day.
    pub async fn village_applications_in_notice(
        &self,
        township: &str,
        village: &str,
    ) -> Result<Vec<(NoticeLine, String)>, sqlx::Error> {
        let rows = sqlx::query(
            "SELECT h.household_no, p.name_enc, p.national_id_masked, a.assessment, a.notice_until
             FROM applications a JOIN households h ON h.id = a.household_id JOIN persons p ON p.household_id = h.id
             WHERE h.township = $1 AND h.village = $2 AND a.stage = 'IN_NOTICE'
             ORDER BY h.household_no, p.id",
        )
        .bind(township)
        .bind(village)
        .fetch_all(self.db.reads())
        .await?;
        rows.iter()
            .map(|r| {
                let assessment: Option<String> = r.try_get("assessment")?;
                let class = assessment
                    .and_then(|a| serde_json::from_str::<crate::domain::assessment::AssessmentResult>(&a).ok())
                    .and_then(|a| a.class)
                    .map_or(Category::None, |c| match c {
                        crate::domain::assessment::DibaoClass::Dibao1 => Category::Dibao1,
                        crate::domain::assessment::DibaoClass::Dibao2 => Category::Dibao2,
                    });
                let line = NoticeLine {
                    household_no: r.try_get("household_no")?,
                    name: self.decrypt_name(&r.try_get::<Vec<u8>, _>("name_enc")?)?.masked(),
                    national_id: r.try_get("national_id_masked")?,
                    category: class,
                };
                Ok((line, r.try_get::<Option<String>, _>("notice_until")?.unwrap_or_default()))
            })
            .collect()
    }
}
