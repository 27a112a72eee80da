//! The statements of an import besides its inserts: what the registry holds for the file's
//! rows (read inside the import's transaction), each change to an existing record with its
//! audit record, and the run's own record.

use crate::registry::import_plan::{Change, Existing, ExistingHousehold, ExistingPeriod, ExistingPerson};
use crate::store::{HOUSEHOLD_ACCOUNT, PERSON_NAME, Store, parse_stored, stored_period};
use doudi_core::pii::BankAccount;
use doudi_core::{Date, NationalId};
use doudi_runtime::audit::AuditEntry;
use serde_json::json;
use sqlx::{AnyConnection, Row};
use std::collections::HashMap;

/// Figures of one import, as recorded.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ImportSummary {
    pub run_id: i64,
    pub data_lines: usize,
    pub households_created: usize,
    pub persons_created: usize,
    pub periods_created: usize,
    pub changes: usize,
    pub unchanged: usize,
    pub skipped: usize,
}

/// Facts about an import run that the plan does not carry.
#[derive(Debug, Clone)]
pub struct ImportRunFacts<'a> {
    pub actor: &'a str,
    pub file_name: &'a str,
    pub file_sha256: &'a str,
    pub ran_on: Date,
    /// When it ran (RFC 3339), as every row it wrote records.
    pub now: &'a str,
    pub data_lines: usize,
    /// Rows left out: refused while parsing or by the plan.
    pub skipped_rows: usize,
}

impl Store {
    /// Whether the registry holds no household at all (a county's first import): then nothing
    /// in a file can exist yet, and nothing need be looked up.
    pub(crate) async fn registry_is_empty(&self, conn: &mut AnyConnection) -> Result<bool, sqlx::Error> {
        let any: i64 = sqlx::query("SELECT COUNT(*) FROM (SELECT 1 FROM households LIMIT 1) AS any_household")
            .fetch_one(&mut *conn)
            .await?
            .try_get(0)?;
        Ok(any == 0)
    }

    /// Loads what the registry holds for these households and persons, inside `conn`'s
    /// transaction so the plan is made against what the import will write over.
    pub(crate) async fn existing_for(
        &self,
        conn: &mut AnyConnection,
        household_numbers: &[&str],
        national_ids: &[&NationalId],
    ) -> Result<Existing, sqlx::Error> {
        let mut existing = Existing::default();
        let select =
            "SELECT id, household_no, township, village, bank_account_enc FROM households WHERE household_no IN ({})";
        for row in self.fetch_in(conn, select, household_numbers).await? {
            existing.households.insert(
                row.try_get("household_no")?,
                ExistingHousehold {
                    id: row.try_get("id")?,
                    township: row.try_get("township")?,
                    village: row.try_get("village")?,
                    bank_account: self.decrypt_account(
                        &row.try_get::<String, _>("household_no")?,
                        row.try_get("bank_account_enc")?,
                    )?,
                },
            );
        }
        let by_hash: HashMap<Vec<u8>, &NationalId> = national_ids.iter().map(|id| (self.id_hash(id), *id)).collect();
        let hashes: Vec<&[u8]> = by_hash.keys().map(Vec::as_slice).collect();
        let mut person_ids: HashMap<i64, NationalId> = HashMap::new();
        let select = "SELECT p.id, p.id_hash, p.name_enc, p.relation, h.household_no
                      FROM persons p JOIN households h ON h.id = p.household_id WHERE p.id_hash IN ({})";
        for row in self.fetch_in(conn, select, &hashes).await? {
            let hash: Vec<u8> = row.try_get("id_hash")?;
            let Some(national_id) = by_hash.get(&hash) else { continue };
            let id: i64 = row.try_get("id")?;
            person_ids.insert(id, (*national_id).clone());
            existing.persons.insert(
                (*national_id).clone(),
                ExistingPerson {
                    id,
                    household_no: row.try_get("household_no")?,
                    name: self.decrypt_name(&hash, &row.try_get::<Vec<u8>, _>("name_enc")?)?,
                    relation: parse_stored("relation", &row.try_get::<String, _>("relation")?)?,
                    periods: Vec::new(),
                },
            );
        }
        let ids: Vec<i64> = person_ids.keys().copied().collect();
        let select = "SELECT id, person_id, category, effective_from, effective_to FROM category_periods WHERE person_id IN ({})";
        for row in self.fetch_in(conn, select, &ids).await? {
            let person_id: i64 = row.try_get("person_id")?;
            let period = stored_period(&row)?;
            if let Some(person) = person_ids.get(&person_id).and_then(|nid| existing.persons.get_mut(nid)) {
                person.periods.push(ExistingPeriod { id: row.try_get("id")?, period });
            }
        }
        Ok(existing)
    }

    /// Records the run (`counts`: what it created and changed) and its audit record.
    pub(crate) async fn record_run(
        &self,
        conn: &mut AnyConnection,
        run: &ImportRunFacts<'_>,
        counts: ImportSummary,
    ) -> Result<ImportSummary, sqlx::Error> {
        let summary = ImportSummary { data_lines: run.data_lines, skipped: run.skipped_rows, ..counts };
        let run_id: i64 = sqlx::query(
            "INSERT INTO import_runs (ran_at, ran_on, actor, file_name, file_sha256, data_lines, households_created, persons_created,
                 periods_created, changes, unchanged, skipped)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12) RETURNING id",
        )
        .bind(run.now)
        .bind(run.ran_on.to_string())
        .bind(run.actor)
        .bind(run.file_name)
        .bind(run.file_sha256)
        .bind(summary.data_lines as i64)
        .bind(summary.households_created as i64)
        .bind(summary.persons_created as i64)
        .bind(summary.periods_created as i64)
        .bind(summary.changes as i64)
        .bind(summary.unchanged as i64)
        .bind(summary.skipped as i64)
        .fetch_one(&mut *conn)
        .await?
        .try_get("id")?;
        let summary = ImportSummary { run_id, ..summary };
        let after = json!({"fileName": run.file_name, "fileSha256": run.file_sha256, "summary": summary});
        self.audit(
            conn,
            AuditEntry::new(run.actor, "registry.import", "import_run", &run_id.to_string(), json!(null), after),
        )
        .await?;
        Ok(summary)
    }

    /// Writes one change to an existing record, with its audit record.
    pub(crate) async fn apply_change(
        &self,
        conn: &mut AnyConnection,
        change: &Change,
        actor: &str,
        now: &str,
    ) -> Result<(), sqlx::Error> {
        match change {
            Change::HouseholdPlace { household_id, household_no, before, after } => {
                sqlx::query("UPDATE households SET township = $1, village = $2, updated_at = $3 WHERE id = $4")
                    .bind(&after.0)
                    .bind(&after.1)
                    .bind(now)
                    .bind(household_id)
                    .execute(&mut *conn)
                    .await?;
                let (b, a) = (
                    json!({"township": before.0, "village": before.1}),
                    json!({"township": after.0, "village": after.1}),
                );
                self.audit(conn, AuditEntry::new(actor, "household.move_place", "household", household_no, b, a))
                    .await?;
            }
            Change::HouseholdAccount { household_id, household_no, before, after } => {
                sqlx::query("UPDATE households SET bank_account_enc = $1, updated_at = $2 WHERE id = $3")
                    .bind(after.as_ref().map(|a| self.seal(&HOUSEHOLD_ACCOUNT, household_no, a.expose())))
                    .bind(now)
                    .bind(household_id)
                    .execute(&mut *conn)
                    .await?;
                let mask = |a: &Option<BankAccount>| json!({"bankAccount": a.as_ref().map(BankAccount::masked)});
                let entry = AuditEntry::new(
                    actor,
                    "household.change_account",
                    "household",
                    household_no,
                    mask(before),
                    mask(after),
                );
                self.audit(conn, entry).await?;
            }
            Change::PersonName { person_id, national_id, before, after } => {
                sqlx::query("UPDATE persons SET name_enc = $1, updated_at = $2 WHERE id = $3")
                    .bind(self.seal(&PERSON_NAME, &hex::encode(self.id_hash(national_id)), after.expose()))
                    .bind(now)
                    .bind(person_id)
                    .execute(&mut *conn)
                    .await?;
                let (b, a) = (json!({"name": before.masked()}), json!({"name": after.masked()}));
                self.audit(conn, AuditEntry::new(actor, "person.rename", "person", &national_id.masked(), b, a))
                    .await?;
            }
            Change::PersonRelation { person_id, national_id, before, after } => {
                sqlx::query("UPDATE persons SET relation = $1, updated_at = $2 WHERE id = $3")
                    .bind(after.as_str())
                    .bind(now)
                    .bind(person_id)
                    .execute(&mut *conn)
                    .await?;
                let (b, a) = (json!({"relation": before.as_str()}), json!({"relation": after.as_str()}));
                self.audit(
                    conn,
                    AuditEntry::new(actor, "person.change_relation", "person", &national_id.masked(), b, a),
                )
                .await?;
            }
            Change::PeriodEnd { period_id, national_id, category, from, before, after } => {
                sqlx::query("UPDATE category_periods SET effective_to = $1, updated_at = $2 WHERE id = $3")
                    .bind(after.to_string())
                    .bind(now)
                    .bind(period_id)
                    .execute(&mut *conn)
                    .await?;
                let period =
                    |to: Option<Date>| json!({"category": category.as_str(), "effectiveFrom": from, "effectiveTo": to});
                let action = if before.is_none() { "category_period.close" } else { "category_period.change_end" };
                self.audit(
                    conn,
                    AuditEntry::new(
                        actor,
                        action,
                        "person",
                        &national_id.masked(),
                        period(*before),
                        period(Some(*after)),
                    ),
                )
                .await?;
            }
        }
        Ok(())
    }
}
