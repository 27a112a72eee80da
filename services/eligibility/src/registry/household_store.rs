//! Every statement on households and their members: registration (idempotent on the
//! household number), a household as staff see it, its place and current members, and the
//! registry's own invariants.

use crate::registry::household::{Member, NewHousehold};
use crate::store::{HOUSEHOLD_ACCOUNT, PERSON_ID, PERSON_NAME};
use crate::store::{Store, flag, parse_stored};
use doudi_core::pii::{BankAccount, PersonName};
use doudi_core::{Date, Relation};
use doudi_runtime::audit::AuditEntry;
use serde_json::json;
use sqlx::{AnyConnection, Row};
use std::collections::HashMap;

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

/// A member as the approval sees them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemberRef {
    pub person_id: i64,
    pub id_hash: Vec<u8>,
    pub national_id_masked: String,
    pub relation: String,
    pub able_to_work: bool,
}

impl Store {
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
        .bind(household.bank_account.as_ref().map(|a| self.seal(&HOUSEHOLD_ACCOUNT, &household.household_no, a.expose())))
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
        member: &Member,
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
        .bind(self.seal(&PERSON_ID, &hex::encode(id_hash), member.national_id.expose()))
        .bind(member.national_id.masked())
        .bind(self.seal(&PERSON_NAME, &hex::encode(id_hash), member.name.expose()))
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
            "SELECT id_hash, national_id_masked, name_enc, relation, birth_date, disability_grade, seriously_ill, able_to_work, publicly_funded
             FROM persons WHERE household_id = $1 AND left_on IS NULL ORDER BY id",
        )
        .bind(household_id)
        .fetch_all(self.db.reads())
        .await?
        .iter()
        .map(|m| {
            Ok(StoredMember {
                national_id_masked: m.try_get("national_id_masked")?,
                name: self.decrypt_name(&m.try_get::<Vec<u8>, _>("id_hash")?, &m.try_get::<Vec<u8>, _>("name_enc")?)?,
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
            bank_account: self
                .decrypt_account(&h.try_get::<String, _>("household_no")?, h.try_get("bank_account_enc")?)?,
            monthly_income_fen: h.try_get("monthly_income_fen")?,
            savings_fen: h.try_get("savings_fen")?,
            motor_vehicles: h.try_get("motor_vehicles")?,
            vehicles_exempt: h.try_get::<i64, _>("vehicles_exempt")? != 0,
            commercial_properties: h.try_get("commercial_properties")?,
            members,
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

    pub async fn counts(&self) -> Result<(i64, i64, i64), sqlx::Error> {
        let row = sqlx::query(
            "SELECT (SELECT COUNT(*) FROM households), (SELECT COUNT(*) FROM persons), (SELECT COUNT(*) FROM category_periods)",
        )
        .fetch_one(self.db.reads())
        .await?;
        Ok((row.try_get(0)?, row.try_get(1)?, row.try_get(2)?))
    }
}
