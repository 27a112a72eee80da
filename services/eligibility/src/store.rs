//! Every SQL statement of the eligibility service. One set of queries for SQLite and
//! PostgreSQL; dates are ISO text (which orders as dates do), flags are 0/1 integers.

use crate::domain::coverage::CategoryPeriod;
use crate::domain::household::NewHousehold;
use crate::domain::import::{
    Change, Existing, ExistingHousehold, ExistingPeriod, ExistingPerson, ImportPlan, ImportRow,
};
use doudi_core::pii::{BankAccount, PersonName};
use doudi_core::{Category, Date, NationalId, Relation};
use doudi_runtime::audit::{self, AuditEntry};
use doudi_runtime::crypto::PiiCipher;
use doudi_runtime::db::{Backend, Db, Migration, Migrations};
use serde_json::json;
use sqlx::any::AnyRow;
use sqlx::{AnyConnection, AssertSqlSafe, Row};
use std::collections::HashMap;
use std::str::FromStr;
use std::sync::Arc;

pub const MIGRATIONS: Migrations = Migrations {
    sqlite: &[
        Migration { version: 1, name: "audit", sql: audit::AUDIT_DDL },
        Migration { version: 2, name: "registry", sql: include_str!("../migrations/sqlite/0002_registry.sql") },
        Migration {
            version: 3,
            name: "registry_version",
            sql: include_str!("../migrations/sqlite/0003_registry_version.sql"),
        },
        Migration { version: 4, name: "procedure", sql: include_str!("../migrations/sqlite/0004_procedure.sql") },
        Migration { version: 5, name: "upkeep", sql: include_str!("../migrations/sqlite/0005_upkeep.sql") },
    ],
    postgres: &[
        Migration { version: 1, name: "audit", sql: audit::AUDIT_DDL },
        Migration { version: 2, name: "registry", sql: include_str!("../migrations/postgres/0002_registry.sql") },
        Migration {
            version: 3,
            name: "registry_version",
            sql: include_str!("../migrations/postgres/0003_registry_version.sql"),
        },
        Migration { version: 4, name: "procedure", sql: include_str!("../migrations/postgres/0004_procedure.sql") },
        Migration { version: 5, name: "upkeep", sql: include_str!("../migrations/postgres/0005_upkeep.sql") },
    ],
};

/// A write touching more persons than this logs one "everything changed" marker instead.
const CHANGE_LOG_LIMIT: usize = 1000;
/// How many versions of change log are kept, and how often older ones are pruned.
const CHANGE_LOG_VERSIONS: i64 = 10_000;
const CHANGE_LOG_PRUNE_EVERY: i64 = 100;

/// A person's record: the household and every period, one row per period (or one with NULL
/// period columns). Callers add the `WHERE`; `records_by_hash` groups the rows.
const PERSON_RECORD_SELECT: &str =
    "SELECT p.id_hash, h.household_no, h.township, h.village, c.category, c.effective_from, c.effective_to
     FROM persons p
     JOIN households h ON h.id = p.household_id
     LEFT JOIN category_periods c ON c.person_id = p.id";

/// Bind parameters per generated statement (lookups by `IN (…)`, multi-row inserts).
const PARAMS: usize = Backend::PARAMS_PER_STATEMENT;

fn decode_error(what: &str, value: &str) -> sqlx::Error {
    sqlx::Error::Decode(format!("stored {what} {value:?} is not valid").into())
}

pub(crate) fn parse_stored<T: FromStr>(what: &str, text: &str) -> Result<T, sqlx::Error> {
    text.parse().map_err(|_| decode_error(what, text))
}

fn flag(value: bool) -> i64 {
    i64::from(value)
}

/// A registered person's household and every category period they hold or held.
#[derive(Debug, Clone)]
pub struct PersonRecord {
    pub household_no: String,
    pub township: String,
    pub village: String,
    pub periods: Vec<CategoryPeriod>,
}

#[derive(Debug)]
pub enum RegisterOutcome {
    Created,
    /// The same registration was already made.
    Replayed,
    /// The number is taken by a registration with other content.
    NumberTaken,
    /// These members (by index) are registered in other households.
    MembersElsewhere(Vec<(usize, String)>),
}

#[derive(Debug, Clone)]
pub struct StoredMember {
    pub national_id_masked: String,
    pub name: PersonName,
    pub relation: Relation,
    pub birth_date: Date,
    pub disability_grade: i64,
    pub seriously_ill: bool,
    pub able_to_work: bool,
    pub publicly_funded: bool,
}

#[derive(Debug, Clone)]
pub struct StoredHousehold {
    pub household_no: String,
    pub township: String,
    pub village: String,
    pub address: String,
    pub bank_account: Option<BankAccount>,
    pub monthly_income_fen: i64,
    pub savings_fen: i64,
    pub motor_vehicles: i64,
    pub vehicles_exempt: bool,
    pub commercial_properties: i64,
    pub members: Vec<StoredMember>,
}

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

#[derive(Debug, Clone)]
pub struct Store {
    pub(crate) db: Db,
    pub(crate) cipher: PiiCipher,
}

impl Store {
    pub fn new(db: Db, cipher: PiiCipher) -> Self {
        Self { db, cipher }
    }

    pub fn db(&self) -> &Db {
        &self.db
    }

    pub fn cipher(&self) -> &PiiCipher {
        &self.cipher
    }

    /// The rows of `select` for every key: its `IN ({})` takes up to `PARAMS` keys a statement.
    async fn fetch_in<'k, K>(
        &self,
        conn: &mut AnyConnection,
        select: &str,
        keys: &[K],
    ) -> Result<Vec<AnyRow>, sqlx::Error>
    where
        K: 'k + Copy + Send + sqlx::Encode<'k, sqlx::Any> + sqlx::Type<sqlx::Any>,
    {
        let mut rows = Vec::new();
        for chunk in keys.chunks(PARAMS) {
            let sql = select.replacen("{}", &self.db.backend().placeholders(1, chunk.len()), 1);
            let mut query = sqlx::query(AssertSqlSafe(sql));
            for key in chunk {
                query = query.bind(*key);
            }
            rows.extend(query.fetch_all(&mut *conn).await?);
        }
        Ok(rows)
    }

    pub fn id_hash(&self, national_id: &NationalId) -> Vec<u8> {
        self.cipher.person_key(national_id)
    }

    /// The person's household and all their periods; `None` if not registered. One indexed
    /// query: the path of a one-shot command (a server answers from its coverage index).
    pub async fn person_record(&self, id_hash: &[u8]) -> Result<Option<Arc<PersonRecord>>, sqlx::Error> {
        let sql = format!("{PERSON_RECORD_SELECT} WHERE p.id_hash = $1");
        let rows = sqlx::query(AssertSqlSafe(sql)).bind(id_hash).fetch_all(self.db.reads()).await?;
        Ok(records_by_hash(&rows)?.remove(id_hash))
    }

    /// The registry's version (it changes with every committed write) and the newest version
    /// whose change log was pruned.
    pub async fn registry_version(&self) -> Result<(i64, i64), sqlx::Error> {
        let mut conn = self.db.reads().acquire().await?;
        self.registry_version_on(&mut conn).await
    }

    /// The same, on a connection the caller keeps (the coverage index holds one for it).
    pub async fn registry_version_on(&self, conn: &mut AnyConnection) -> Result<(i64, i64), sqlx::Error> {
        let row =
            sqlx::query("SELECT version, pruned_through FROM registry_version WHERE id = 1").fetch_one(conn).await?;
        Ok((row.try_get(0)?, row.try_get(1)?))
    }

    /// Begins a transaction that writes the registry: its first statement bumps the registry
    /// version (on PostgreSQL this also makes registry writers take turns). Returns the version
    /// the transaction's changes are logged under.
    pub async fn begin_write(&self) -> Result<(sqlx::Transaction<'static, sqlx::Any>, i64), sqlx::Error> {
        let mut tx = self.db.writes().begin().await?;
        let version: i64 =
            sqlx::query("UPDATE registry_version SET version = version + 1 WHERE id = 1 RETURNING version")
                .fetch_one(&mut *tx)
                .await?
                .try_get(0)?;
        if version % CHANGE_LOG_PRUNE_EVERY == 0 {
            let through = version - CHANGE_LOG_VERSIONS;
            sqlx::query("DELETE FROM registry_changes WHERE version <= $1").bind(through).execute(&mut *tx).await?;
            sqlx::query("UPDATE registry_version SET pruned_through = $1 WHERE id = 1 AND pruned_through < $1")
                .bind(through)
                .execute(&mut *tx)
                .await?;
        }
        Ok((tx, version))
    }

    /// Logs the persons (by id hash) whose coverage facts `version` changes; past
    /// `CHANGE_LOG_LIMIT` persons, one marker saying everything changed.
    pub async fn log_changes(
        &self,
        conn: &mut AnyConnection,
        version: i64,
        hashes: &[&[u8]],
    ) -> Result<(), sqlx::Error> {
        if hashes.len() > CHANGE_LOG_LIMIT {
            return self.log_everything_changed(conn, version).await;
        }
        for chunk in hashes.chunks(PARAMS / 2) {
            let sql = format!(
                "INSERT INTO registry_changes (version, id_hash) VALUES {}",
                self.db.backend().values_rows(chunk.len(), 2)
            );
            let mut query = sqlx::query(AssertSqlSafe(sql));
            for hash in chunk {
                query = query.bind(version).bind(*hash);
            }
            query.execute(&mut *conn).await?;
        }
        Ok(())
    }

    pub async fn log_everything_changed(&self, conn: &mut AnyConnection, version: i64) -> Result<(), sqlx::Error> {
        sqlx::query("INSERT INTO registry_changes (version, id_hash) VALUES ($1, $2)")
            .bind(version)
            .bind(Vec::<u8>::new())
            .execute(&mut *conn)
            .await?;
        Ok(())
    }

    /// Logs every member of a household as changed.
    async fn log_household_changed(
        &self,
        conn: &mut AnyConnection,
        version: i64,
        household_id: i64,
    ) -> Result<(), sqlx::Error> {
        sqlx::query(
            "INSERT INTO registry_changes (version, id_hash) SELECT $1, id_hash FROM persons WHERE household_id = $2",
        )
        .bind(version)
        .bind(household_id)
        .execute(&mut *conn)
        .await?;
        Ok(())
    }

    /// Every registered person's record, as of a version no older than the one returned.
    pub async fn load_registry(&self) -> Result<(i64, HashMap<Vec<u8>, Arc<PersonRecord>>), sqlx::Error> {
        // The version first: what is read after it is at least that new.
        let (version, _) = self.registry_version().await?;
        let rows = sqlx::query(PERSON_RECORD_SELECT).fetch_all(self.db.reads()).await?;
        Ok((version, records_by_hash(&rows)?))
    }

    /// What changed after `since`: the persons to reload (or drop), or `None` when the index
    /// must reload in full (a bulk change, or a log pruned past `since`).
    pub async fn changes_since(
        &self,
        since: i64,
    ) -> Result<Option<(i64, Vec<(Vec<u8>, Option<Arc<PersonRecord>>)>)>, sqlx::Error> {
        let (version, pruned_through) = self.registry_version().await?;
        if since < pruned_through {
            return Ok(None);
        }
        let hashes: Vec<Vec<u8>> =
            sqlx::query("SELECT DISTINCT id_hash FROM registry_changes WHERE version > $1 AND version <= $2")
                .bind(since)
                .bind(version)
                .fetch_all(self.db.reads())
                .await?
                .iter()
                .map(|row| row.try_get(0))
                .collect::<Result<_, _>>()?;
        if hashes.iter().any(Vec::is_empty) {
            return Ok(None);
        }
        let keys: Vec<&[u8]> = hashes.iter().map(Vec::as_slice).collect();
        let mut conn = self.db.reads().acquire().await?;
        let select = format!("{PERSON_RECORD_SELECT} WHERE p.id_hash IN ({{}})");
        let rows = self.fetch_in(&mut conn, &select, &keys).await?;
        let mut records = records_by_hash(&rows)?;
        let changed = hashes
            .into_iter()
            .map(|h| {
                let record = records.remove(&h);
                (h, record)
            })
            .collect();
        Ok(Some((version, changed)))
    }

    pub async fn register_household(
        &self,
        household: &NewHousehold,
        actor: &str,
    ) -> Result<RegisterOutcome, sqlx::Error> {
        let digest = self.cipher.blind_index("household_registration", &household.canonical_text());
        match self.try_register(household, &digest, actor).await {
            Err(sqlx::Error::Database(e)) if e.is_unique_violation() => {
                // A concurrent registration won the race: answer as if it had come first.
                let mut conn = self.db.writes().acquire().await?;
                match self.existing_registration(&mut conn, &household.household_no, &digest).await? {
                    Some(outcome) => Ok(outcome),
                    None => Err(sqlx::Error::Database(e)),
                }
            }
            other => other,
        }
    }

    /// What registering `household_no` with `digest` means if the number is taken: the same
    /// registration again, or another one. `None` while the number is free.
    async fn existing_registration(
        &self,
        conn: &mut AnyConnection,
        household_no: &str,
        digest: &[u8],
    ) -> Result<Option<RegisterOutcome>, sqlx::Error> {
        let Some(row) = sqlx::query("SELECT registration_digest FROM households WHERE household_no = $1")
            .bind(household_no)
            .fetch_optional(conn)
            .await?
        else {
            return Ok(None);
        };
        let stored: Option<Vec<u8>> = row.try_get("registration_digest")?;
        Ok(Some(if stored.as_deref() == Some(digest) {
            RegisterOutcome::Replayed
        } else {
            RegisterOutcome::NumberTaken
        }))
    }

    async fn try_register(
        &self,
        household: &NewHousehold,
        digest: &[u8],
        actor: &str,
    ) -> Result<RegisterOutcome, sqlx::Error> {
        let (mut tx, version) = self.begin_write().await?;
        if let Some(outcome) = self.existing_registration(&mut tx, &household.household_no, digest).await? {
            return Ok(outcome);
        }
        let hashes: Vec<Vec<u8>> = household.members.iter().map(|m| self.id_hash(&m.national_id)).collect();
        let elsewhere = self.households_of(&mut tx, &hashes).await?;
        if !elsewhere.is_empty() {
            let conflicts =
                hashes.iter().enumerate().filter_map(|(i, h)| elsewhere.get(h).map(|no| (i, no.clone()))).collect();
            return Ok(RegisterOutcome::MembersElsewhere(conflicts));
        }
        let now = doudi_runtime::now_rfc3339();
        let household_id: i64 = sqlx::query(
            "INSERT INTO households (household_no, township, village, address, bank_account_enc, monthly_income_fen,
                 savings_fen, motor_vehicles, vehicles_exempt, commercial_properties, registration_digest, created_at, updated_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $12) RETURNING id",
        )
        .bind(&household.household_no)
        .bind(&household.township)
        .bind(&household.village)
        .bind(&household.address)
        .bind(household.bank_account.as_ref().map(|a| self.cipher.encrypt(a.expose())))
        .bind(household.monthly_income_fen)
        .bind(household.assets.savings_fen)
        .bind(household.assets.motor_vehicles)
        .bind(flag(household.assets.vehicles_exempt))
        .bind(household.assets.commercial_properties)
        .bind(digest)
        .bind(&now)
        .fetch_one(&mut *tx)
        .await?
        .try_get("id")?;
        for (member, hash) in household.members.iter().zip(&hashes) {
            self.insert_person(&mut tx, household_id, member, hash, &now).await?;
        }
        let members: Vec<_> = household
            .members
            .iter()
            .map(|m| json!({"nationalId": m.national_id.masked(), "name": m.name.masked(), "relation": m.relation.as_str()}))
            .collect();
        let after = json!({
            "householdNo": household.household_no, "township": household.township, "village": household.village,
            "monthlyIncomeFen": household.monthly_income_fen, "members": members,
            "bankAccount": household.bank_account.as_ref().map(BankAccount::masked),
        });
        let touched: Vec<&[u8]> = hashes.iter().map(Vec::as_slice).collect();
        self.log_changes(&mut tx, version, &touched).await?;
        self.audit(
            &mut tx,
            AuditEntry::new(actor, "household.register", "household", &household.household_no, json!(null), after),
        )
        .await?;
        tx.commit().await?;
        Ok(RegisterOutcome::Created)
    }

    /// Adds one member with every registered fact; returns the person's id.
    pub(crate) async fn insert_person(
        &self,
        conn: &mut AnyConnection,
        household_id: i64,
        member: &crate::domain::household::Member,
        id_hash: &[u8],
        now: &str,
    ) -> Result<i64, sqlx::Error> {
        sqlx::query(
            "INSERT INTO persons (household_id, id_hash, national_id_enc, national_id_masked, name_enc, relation, birth_date,
                 disability_grade, seriously_ill, able_to_work, publicly_funded, created_at, updated_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $12) RETURNING id",
        )
        .bind(household_id)
        .bind(id_hash)
        .bind(self.cipher.encrypt(member.national_id.expose()))
        .bind(member.national_id.masked())
        .bind(self.cipher.encrypt(member.name.expose()))
        .bind(member.relation.as_str())
        .bind(member.birth_date.to_string())
        .bind(member.disability_grade)
        .bind(flag(member.seriously_ill))
        .bind(flag(member.able_to_work))
        .bind(flag(member.publicly_funded))
        .bind(now)
        .fetch_one(conn)
        .await?
        .try_get(0)
    }

    /// Household numbers of the persons (by id hash) already registered.
    async fn households_of(
        &self,
        conn: &mut AnyConnection,
        hashes: &[Vec<u8>],
    ) -> Result<HashMap<Vec<u8>, String>, sqlx::Error> {
        let keys: Vec<&[u8]> = hashes.iter().map(Vec::as_slice).collect();
        let select = "SELECT p.id_hash, h.household_no FROM persons p JOIN households h ON h.id = p.household_id
                      WHERE p.id_hash IN ({})";
        let mut found = HashMap::new();
        for row in self.fetch_in(conn, select, &keys).await? {
            found.insert(row.try_get("id_hash")?, row.try_get("household_no")?);
        }
        Ok(found)
    }

    pub async fn household(&self, household_no: &str) -> Result<Option<StoredHousehold>, sqlx::Error> {
        let Some(h) = sqlx::query(
            "SELECT id, household_no, township, village, address, bank_account_enc, monthly_income_fen, savings_fen,
                    motor_vehicles, vehicles_exempt, commercial_properties
             FROM households WHERE household_no = $1",
        )
        .bind(household_no)
        .fetch_optional(self.db.reads())
        .await?
        else {
            return Ok(None);
        };
        let household_id: i64 = h.try_get("id")?;
        let members = sqlx::query(
            "SELECT national_id_masked, name_enc, relation, birth_date, disability_grade, seriously_ill, able_to_work, publicly_funded
             FROM persons WHERE household_id = $1 AND left_on IS NULL ORDER BY id",
        )
        .bind(household_id)
        .fetch_all(self.db.reads())
        .await?
        .iter()
        .map(|m| {
            Ok(StoredMember {
                national_id_masked: m.try_get("national_id_masked")?,
                name: self.decrypt_name(&m.try_get::<Vec<u8>, _>("name_enc")?)?,
                relation: parse_stored("relation", &m.try_get::<String, _>("relation")?)?,
                birth_date: parse_stored("date", &m.try_get::<String, _>("birth_date")?)?,
                disability_grade: m.try_get("disability_grade")?,
                seriously_ill: m.try_get::<i64, _>("seriously_ill")? != 0,
                able_to_work: m.try_get::<i64, _>("able_to_work")? != 0,
                publicly_funded: m.try_get::<i64, _>("publicly_funded")? != 0,
            })
        })
        .collect::<Result<Vec<_>, sqlx::Error>>()?;
        Ok(Some(StoredHousehold {
            household_no: h.try_get("household_no")?,
            township: h.try_get("township")?,
            village: h.try_get("village")?,
            address: h.try_get("address")?,
            bank_account: self.decrypt_account(h.try_get("bank_account_enc")?)?,
            monthly_income_fen: h.try_get("monthly_income_fen")?,
            savings_fen: h.try_get("savings_fen")?,
            motor_vehicles: h.try_get("motor_vehicles")?,
            vehicles_exempt: h.try_get::<i64, _>("vehicles_exempt")? != 0,
            commercial_properties: h.try_get("commercial_properties")?,
            members,
        }))
    }

    pub(crate) fn decrypt_name(&self, stored: &[u8]) -> Result<PersonName, sqlx::Error> {
        let text = self.cipher.decrypt(stored).map_err(|e| sqlx::Error::Decode(e.into()))?;
        PersonName::parse(&text).map_err(|_| decode_error("name", "(encrypted)"))
    }

    pub(crate) fn decrypt_account(&self, stored: Option<Vec<u8>>) -> Result<Option<BankAccount>, sqlx::Error> {
        stored
            .map(|bytes| {
                let text = self.cipher.decrypt(&bytes).map_err(|e| sqlx::Error::Decode(e.into()))?;
                BankAccount::parse(&text).map_err(|_| decode_error("bank account", "(encrypted)"))
            })
            .transpose()
    }

    pub(crate) async fn audit(&self, conn: &mut AnyConnection, entry: AuditEntry<'_>) -> Result<i64, sqlx::Error> {
        audit::append(conn, &self.cipher, &entry).await
    }

    /// Loads what the registry holds for the rows' households and persons, inside `conn`'s
    /// transaction so the plan is made against what the import will write over.
    pub async fn existing_for(&self, conn: &mut AnyConnection, rows: &[ImportRow]) -> Result<Existing, sqlx::Error> {
        let mut existing = Existing::default();
        // A county's first import meets an empty registry: nothing to look up (no household
        // means no person either).
        let any: i64 = sqlx::query("SELECT COUNT(*) FROM (SELECT 1 FROM households LIMIT 1) AS any_household")
            .fetch_one(&mut *conn)
            .await?
            .try_get(0)?;
        if any == 0 {
            return Ok(existing);
        }
        let mut numbers: Vec<&str> = rows.iter().map(|r| r.household_no.as_str()).collect();
        numbers.sort_unstable();
        numbers.dedup();
        let select =
            "SELECT id, household_no, township, village, bank_account_enc FROM households WHERE household_no IN ({})";
        for row in self.fetch_in(conn, select, &numbers).await? {
            existing.households.insert(
                row.try_get("household_no")?,
                ExistingHousehold {
                    id: row.try_get("id")?,
                    township: row.try_get("township")?,
                    village: row.try_get("village")?,
                    bank_account: self.decrypt_account(row.try_get("bank_account_enc")?)?,
                },
            );
        }
        let mut by_hash: HashMap<Vec<u8>, &NationalId> = HashMap::new();
        for row in rows {
            by_hash.entry(self.id_hash(&row.national_id)).or_insert(&row.national_id);
        }
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
                    name: self.decrypt_name(&row.try_get::<Vec<u8>, _>("name_enc")?)?,
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

    /// Writes a plan in the caller's transaction: new households, persons and periods in
    /// multi-row inserts, each change with its audit record, then the run and its audit record.
    pub async fn apply_import(
        &self,
        conn: &mut AnyConnection,
        plan: &ImportPlan,
        run: &ImportRunFacts<'_>,
        existing: &Existing,
        version: i64,
    ) -> Result<ImportSummary, sqlx::Error> {
        let now = doudi_runtime::now_rfc3339();
        let today = run.ran_on.to_string();
        let mut household_ids: HashMap<String, i64> =
            existing.households.iter().map(|(no, h)| (no.clone(), h.id)).collect();
        for chunk in plan.new_households.chunks(PARAMS / 6) {
            let chunk: Vec<&ImportRow> = plan.rows_at(chunk).collect();
            let sql = format!(
                "INSERT INTO households (household_no, township, village, bank_account_enc, created_at, updated_at) VALUES {} RETURNING id, household_no",
                self.db.backend().values_rows(chunk.len(), 6)
            );
            let mut query = sqlx::query(AssertSqlSafe(sql));
            for row in chunk {
                query = query
                    .bind(&row.household_no)
                    .bind(&row.township)
                    .bind(&row.village)
                    .bind(row.bank_account.as_ref().map(|a| self.cipher.encrypt(a.expose())))
                    .bind(&now)
                    .bind(&now);
            }
            for returned in query.fetch_all(&mut *conn).await? {
                household_ids.insert(returned.try_get("household_no")?, returned.try_get("id")?);
            }
        }
        // New persons' ids come back with their keyed hash; map them to the ID they stand for.
        let mut person_ids: HashMap<&NationalId, i64> = existing.persons.iter().map(|(id, p)| (id, p.id)).collect();
        for chunk in plan.new_persons.chunks(PARAMS / 9) {
            let chunk: Vec<&ImportRow> = plan.rows_at(chunk).collect();
            let sql = format!(
                "INSERT INTO persons (household_id, id_hash, national_id_enc, national_id_masked, name_enc, relation, birth_date, created_at, updated_at)
                 VALUES {} RETURNING id, id_hash",
                self.db.backend().values_rows(chunk.len(), 9)
            );
            let mut by_hash: HashMap<Vec<u8>, &NationalId> = HashMap::with_capacity(chunk.len());
            let mut query = sqlx::query(AssertSqlSafe(sql));
            for row in chunk {
                let household_id = household_ids
                    .get(&row.household_no)
                    .copied()
                    .ok_or_else(|| decode_error("household", &row.household_no))?;
                let hash = self.id_hash(&row.national_id);
                query = query
                    .bind(household_id)
                    .bind(hash.clone())
                    .bind(self.cipher.encrypt(row.national_id.expose()))
                    .bind(row.national_id.masked())
                    .bind(self.cipher.encrypt(row.name.expose()))
                    .bind(row.relation.as_str())
                    .bind(row.birth_date.to_string())
                    .bind(&now)
                    .bind(&now);
                by_hash.insert(hash, &row.national_id);
            }
            for returned in query.fetch_all(&mut *conn).await? {
                let hash: Vec<u8> = returned.try_get("id_hash")?;
                if let Some(national_id) = by_hash.get(&hash) {
                    person_ids.insert(national_id, returned.try_get("id")?);
                }
            }
        }
        let source = format!("import:{}", run.file_sha256);
        for chunk in plan.new_periods.chunks(PARAMS / 8) {
            let chunk: Vec<&ImportRow> = plan.rows_at(chunk).collect();
            let sql = format!(
                "INSERT INTO category_periods (person_id, category, effective_from, effective_to, reviewed_on, source, created_at, updated_at) VALUES {}",
                self.db.backend().values_rows(chunk.len(), 8)
            );
            let mut query = sqlx::query(AssertSqlSafe(sql));
            for row in chunk {
                let person_id = person_ids
                    .get(&row.national_id)
                    .copied()
                    .ok_or_else(|| decode_error("person", &row.national_id.masked()))?;
                query = query
                    .bind(person_id)
                    .bind(row.category.as_str())
                    .bind(row.effective_from.to_string())
                    .bind(row.effective_to.map(|d| d.to_string()))
                    .bind(&today)
                    .bind(&source)
                    .bind(&now)
                    .bind(&now);
            }
            query.execute(&mut *conn).await?;
        }
        for change in &plan.changes {
            self.apply_change(conn, change, run.actor, &now).await?;
        }
        self.log_import_changes(conn, plan, version).await?;
        let summary = ImportSummary {
            run_id: 0,
            data_lines: run.data_lines,
            households_created: plan.new_households.len(),
            persons_created: plan.new_persons.len(),
            periods_created: plan.new_periods.len(),
            changes: plan.changes.len(),
            unchanged: plan.unchanged_rows,
            skipped: plan.errors.len() + run.rejected_before_plan,
        };
        let run_id: i64 = sqlx::query(
            "INSERT INTO import_runs (ran_at, ran_on, actor, file_name, file_sha256, data_lines, households_created, persons_created,
                 periods_created, changes, unchanged, skipped)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12) RETURNING id",
        )
        .bind(&now)
        .bind(&today)
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

    /// Logs the persons an import touched for the coverage indexes (or "everything" in bulk).
    async fn log_import_changes(
        &self,
        conn: &mut AnyConnection,
        plan: &ImportPlan,
        version: i64,
    ) -> Result<(), sqlx::Error> {
        if plan.new_persons.len() + plan.new_periods.len() + plan.changes.len() > CHANGE_LOG_LIMIT {
            return self.log_everything_changed(conn, version).await;
        }
        let mut hashes: Vec<Vec<u8>> = Vec::new();
        for row in plan.rows_at(&plan.new_persons).chain(plan.rows_at(&plan.new_periods)) {
            hashes.push(self.id_hash(&row.national_id));
        }
        for change in &plan.changes {
            match change {
                Change::HouseholdPlace { household_id, .. } | Change::HouseholdAccount { household_id, .. } => {
                    self.log_household_changed(conn, version, *household_id).await?;
                }
                Change::PersonName { national_id, .. }
                | Change::PersonRelation { national_id, .. }
                | Change::PeriodEnd { national_id, .. } => hashes.push(self.id_hash(national_id)),
            }
        }
        hashes.sort_unstable();
        hashes.dedup();
        let touched: Vec<&[u8]> = hashes.iter().map(Vec::as_slice).collect();
        self.log_changes(conn, version, &touched).await
    }

    async fn apply_change(
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
                    .bind(after.as_ref().map(|a| self.cipher.encrypt(a.expose())))
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
                    .bind(self.cipher.encrypt(after.expose()))
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

    /// The registry's own invariants, beyond what constraints enforce: the first violation.
    pub async fn first_registry_violation(&self) -> Result<Option<String>, sqlx::Error> {
        let overlap = sqlx::query(
            "SELECT a.person_id, a.category, a.effective_from FROM category_periods a
             JOIN category_periods b ON a.person_id = b.person_id AND a.category = b.category AND a.id < b.id
              AND a.effective_from <= COALESCE(b.effective_to, '9999-12-31')
              AND b.effective_from <= COALESCE(a.effective_to, '9999-12-31')
             ORDER BY a.person_id LIMIT 1",
        )
        .fetch_optional(self.db.reads())
        .await?;
        if let Some(row) = overlap {
            let (person, category, from): (i64, String, String) = (row.try_get(0)?, row.try_get(1)?, row.try_get(2)?);
            return Ok(Some(format!("person #{person} holds overlapping {category} periods (one from {from})")));
        }
        let headless = sqlx::query(
            "SELECT h.household_no FROM households h
             WHERE EXISTS (SELECT 1 FROM persons p WHERE p.household_id = h.id AND p.left_on IS NULL)
               AND (SELECT COUNT(*) FROM persons p
                    WHERE p.household_id = h.id AND p.relation = 'HEAD' AND p.left_on IS NULL) <> 1
             ORDER BY h.household_no LIMIT 1",
        )
        .fetch_optional(self.db.reads())
        .await?;
        if let Some(row) = headless {
            let no: String = row.try_get(0)?;
            return Ok(Some(format!("household {no} does not have exactly one HEAD")));
        }
        Ok(None)
    }

    /// Every person holding a category at some time in `year`: (national ID, household number,
    /// the periods that touch the year).
    pub async fn persons_with_periods_in_year(
        &self,
        year: i32,
    ) -> Result<Vec<(String, String, Vec<CategoryPeriod>)>, sqlx::Error> {
        let (first_day, last_day) = (format!("{year:04}-01-01"), format!("{year:04}-12-31"));
        let rows = sqlx::query(
            "SELECT p.id, p.national_id_enc, h.household_no, c.category, c.effective_from, c.effective_to
             FROM category_periods c
             JOIN persons p ON p.id = c.person_id
             JOIN households h ON h.id = p.household_id
             WHERE c.effective_from <= $1 AND (c.effective_to IS NULL OR c.effective_to >= $2)
             ORDER BY p.id",
        )
        .bind(last_day)
        .bind(first_day)
        .fetch_all(self.db.reads())
        .await?;
        let mut persons: Vec<(i64, String, String, Vec<CategoryPeriod>)> = Vec::new();
        for row in &rows {
            let id: i64 = row.try_get("id")?;
            if persons.last().is_none_or(|(last, ..)| *last != id) {
                let stored: Vec<u8> = row.try_get("national_id_enc")?;
                let national_id = self.cipher.decrypt(&stored).map_err(|e| sqlx::Error::Decode(e.into()))?;
                persons.push((id, national_id, row.try_get("household_no")?, Vec::new()));
            }
            if let Some((.., periods)) = persons.last_mut() {
                periods.push(stored_period(row)?);
            }
        }
        Ok(persons.into_iter().map(|(_, id, household, periods)| (id, household, periods)).collect())
    }

    pub async fn counts(&self) -> Result<(i64, i64, i64), sqlx::Error> {
        let row = sqlx::query(
            "SELECT (SELECT COUNT(*) FROM households), (SELECT COUNT(*) FROM persons), (SELECT COUNT(*) FROM category_periods)",
        )
        .fetch_one(self.db.reads())
        .await?;
        Ok((row.try_get(0)?, row.try_get(1)?, row.try_get(2)?))
    }
}

/// Groups rows of (id_hash, household, period…) into one record per person.
fn records_by_hash(rows: &[AnyRow]) -> Result<HashMap<Vec<u8>, Arc<PersonRecord>>, sqlx::Error> {
    let mut records: HashMap<Vec<u8>, PersonRecord> = HashMap::with_capacity(rows.len());
    for row in rows {
        let hash: Vec<u8> = row.try_get("id_hash")?;
        let record = match records.entry(hash) {
            std::collections::hash_map::Entry::Occupied(entry) => entry.into_mut(),
            std::collections::hash_map::Entry::Vacant(entry) => entry.insert(PersonRecord {
                household_no: row.try_get("household_no")?,
                township: row.try_get("township")?,
                village: row.try_get("village")?,
                periods: Vec::new(),
            }),
        };
        if row.try_get::<Option<String>, _>("category")?.is_some() {
            record.periods.push(stored_period(row)?);
        }
    }
    Ok(records.into_iter().map(|(hash, record)| (hash, Arc::new(record))).collect())
}

pub(crate) fn stored_period(row: &AnyRow) -> Result<CategoryPeriod, sqlx::Error> {
    let category: String = row.try_get("category")?;
    let from: String = row.try_get("effective_from")?;
    let to: Option<String> = row.try_get("effective_to")?;
    Ok(CategoryPeriod {
        category: parse_stored::<Category>("category", &category)?,
        from: parse_stored("date", &from)?,
        to: to.map(|t| parse_stored("date", &t)).transpose()?,
    })
}

/// Facts about an import run that the plan does not carry.
#[derive(Debug, Clone)]
pub struct ImportRunFacts<'a> {
    pub actor: &'a str,
    pub file_name: &'a str,
    pub file_sha256: &'a str,
    pub ran_on: Date,
    pub data_lines: usize,
    /// Rows refused while parsing (before the plan).
    pub rejected_before_plan: usize,
}
