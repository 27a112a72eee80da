//! Every SQL statement of registry upkeep. Each change bumps the registry version and logs the
//! persons it touched (coverage indexes catch up), keeps its event, and is audited.

use crate::coverage::rules::CategoryPeriod;
use crate::registry::household::Member;
use crate::store::{DETAIL_ACCOUNT, HOUSEHOLD_ACCOUNT};
use crate::store::{Store, parse_stored};
use crate::upkeep::rules::{MemberChange, categories_end};
use doudi_core::{Category, Date};
use doudi_runtime::audit::AuditEntry;
use doudi_runtime::sealing;
use serde_json::{Value, json};
use sqlx::{AnyConnection, Row};

/// A registered person, where they are now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PersonPlace {
    pub person_id: i64,
    pub household_id: i64,
    pub household_no: String,
    pub relation: String,
    pub national_id_masked: String,
    /// The township of the household they are (or were last) in.
    pub township: String,
    /// Left their household (moved away, married out, died).
    pub left: bool,
    pub died: bool,
}

/// When a change took effect, who recorded it, and why.
#[derive(Debug, Clone, Copy)]
pub struct Recorded<'a> {
    pub on: Date,
    pub actor: &'a str,
    pub note: &'a str,
}

impl Store {
    pub async fn person_place(&self, id_hash: &[u8]) -> Result<Option<PersonPlace>, sqlx::Error> {
        let row = sqlx::query(
            "SELECT p.id, p.household_id, h.household_no, h.township, p.relation, p.national_id_masked, p.left_on,
                    p.died_on
             FROM persons p JOIN households h ON h.id = p.household_id WHERE p.id_hash = $1",
        )
        .bind(id_hash)
        .fetch_optional(self.db.reads())
        .await?;
        row.map(|r| {
            Ok(PersonPlace {
                person_id: r.try_get("id")?,
                household_id: r.try_get("household_id")?,
                household_no: r.try_get("household_no")?,
                relation: r.try_get("relation")?,
                national_id_masked: r.try_get("national_id_masked")?,
                township: r.try_get("township")?,
                left: r.try_get::<Option<String>, _>("left_on")?.is_some(),
                died: r.try_get::<Option<String>, _>("died_on")?.is_some(),
            })
        })
        .transpose()
    }

    async fn record_change(
        &self,
        conn: &mut AnyConnection,
        (person_id, household_id): (i64, i64),
        kind: &str,
        recorded: Recorded<'_>,
        now: &str,
    ) -> Result<(), sqlx::Error> {
        sqlx::query(
            "INSERT INTO member_changes (person_id, household_id, kind, effective_on, actor, note, recorded_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(person_id)
        .bind(household_id)
        .bind(kind)
        .bind(recorded.on.to_string())
        .bind(recorded.actor)
        .bind(recorded.note)
        .bind(now)
        .execute(conn)
        .await?;
        Ok(())
    }

    /// A new person joins a household (a birth, or someone new to the registry).
    pub async fn add_member(
        &self,
        household_id: i64,
        household_no: &str,
        member: &Member,
        kind: MemberChange,
        recorded: Recorded<'_>,
    ) -> Result<bool, sqlx::Error> {
        let Recorded { on, actor, .. } = recorded;
        let now = doudi_runtime::now_rfc3339();
        let hash = self.id_hash(&member.national_id);
        let (mut tx, version) = self.begin_write().await?;
        let inserted = self.insert_person(&mut tx, household_id, member, &hash, &now).await;
        let person_id = match inserted {
            Ok(id) => id,
            Err(sqlx::Error::Database(e)) if e.is_unique_violation() => return Ok(false),
            Err(e) => return Err(e),
        };
        self.record_change(&mut tx, (person_id, household_id), kind.as_str(), recorded, &now).await?;
        self.log_changes(&mut tx, version, &[hash.as_slice()]).await?;
        let after = json!({"household": household_no, "member": member.national_id.masked(), "name": member.name.masked(),
            "relation": member.relation.as_str(), "kind": kind.as_str(), "effectiveOn": on.to_string()});
        self.audit(&mut tx, AuditEntry::new(actor, "member.join", "household", household_no, Value::Null, after))
            .await?;
        tx.commit().await?;
        Ok(true)
    }

    /// A registered person moves into `household_id` (from their current household, if any):
    /// their categories end with the month, as for leaving (the new household applies anew), and
    /// `new_head` succeeds them in the old household if they headed it. Returns the periods ended.
    #[allow(clippy::too_many_arguments)]
    pub async fn move_member(
        &self,
        place: &PersonPlace,
        id_hash: &[u8],
        (household_id, household_no): (i64, &str),
        relation: &str,
        kind: MemberChange,
        new_head: Option<i64>,
        recorded: Recorded<'_>,
    ) -> Result<Vec<CategoryPeriod>, sqlx::Error> {
        let Recorded { on, actor, .. } = recorded;
        let now = doudi_runtime::now_rfc3339();
        let (mut tx, version) = self.begin_write().await?;
        let ended = self.end_categories(&mut tx, place.person_id, categories_end(on), &now).await?;
        if let Some(head) = new_head {
            self.name_head(&mut tx, head, &now).await?;
        }
        if !place.left {
            let out = if kind == MemberChange::MarriageIn { "MARRIAGE_OUT" } else { "MOVE_AWAY" };
            self.record_change(&mut tx, (place.person_id, place.household_id), out, recorded, &now).await?;
        }
        sqlx::query(
            "UPDATE persons SET household_id = $1, relation = $2, left_on = NULL, updated_at = $3 WHERE id = $4",
        )
        .bind(household_id)
        .bind(relation)
        .bind(&now)
        .bind(place.person_id)
        .execute(&mut *tx)
        .await?;
        self.record_change(&mut tx, (place.person_id, household_id), kind.as_str(), recorded, &now).await?;
        self.log_changes(&mut tx, version, &[id_hash]).await?;
        let before = json!({"household": place.household_no, "relation": place.relation});
        let after = json!({"household": household_no, "relation": relation, "kind": kind.as_str(),
            "effectiveOn": on.to_string(), "ended": ended_json(&ended), "newHead": new_head});
        self.audit(&mut tx, AuditEntry::new(actor, "member.move", "person", &place.national_id_masked, before, after))
            .await?;
        tx.commit().await?;
        Ok(ended)
    }

    /// Ends every category the person holds after `end` with `end` (one that has not begun by
    /// then never will: it is removed). Returns the periods as ended.
    async fn end_categories(
        &self,
        conn: &mut AnyConnection,
        person_id: i64,
        end: Date,
        now: &str,
    ) -> Result<Vec<CategoryPeriod>, sqlx::Error> {
        let open = sqlx::query(
            "SELECT id, category, effective_from FROM category_periods
             WHERE person_id = $1 AND (effective_to IS NULL OR effective_to > $2)",
        )
        .bind(person_id)
        .bind(end.to_string())
        .fetch_all(&mut *conn)
        .await?;
        let mut ended = Vec::new();
        for period in &open {
            let id: i64 = period.try_get("id")?;
            let category: String = period.try_get("category")?;
            let from: String = period.try_get("effective_from")?;
            let from: Date = parse_stored("date", &from)?;
            if from > end {
                sqlx::query("DELETE FROM category_periods WHERE id = $1").bind(id).execute(&mut *conn).await?;
            } else {
                sqlx::query("UPDATE category_periods SET effective_to = $1, updated_at = $2 WHERE id = $3")
                    .bind(end.to_string())
                    .bind(now)
                    .bind(id)
                    .execute(&mut *conn)
                    .await?;
            }
            let category: Category = parse_stored("category", &category)?;
            ended.push(CategoryPeriod { category, from, to: Some(end) });
        }
        Ok(ended)
    }

    async fn name_head(&self, conn: &mut AnyConnection, person_id: i64, now: &str) -> Result<(), sqlx::Error> {
        sqlx::query("UPDATE persons SET relation = 'HEAD', updated_at = $1 WHERE id = $2")
            .bind(now)
            .bind(person_id)
            .execute(conn)
            .await?;
        Ok(())
    }

    /// A member leaves (or dies): their categories end with the month, the change is kept, and a
    /// new head is named if the head left others behind. Returns the periods ended.
    pub async fn remove_member(
        &self,
        place: &PersonPlace,
        id_hash: &[u8],
        kind: MemberChange,
        new_head: Option<i64>,
        recorded: Recorded<'_>,
    ) -> Result<Vec<CategoryPeriod>, sqlx::Error> {
        let Recorded { on, actor, .. } = recorded;
        let now = doudi_runtime::now_rfc3339();
        let (mut tx, version) = self.begin_write().await?;
        let ended = self.end_categories(&mut tx, place.person_id, categories_end(on), &now).await?;
        let died = (kind == MemberChange::Death).then(|| on.to_string());
        sqlx::query("UPDATE persons SET left_on = $1, died_on = COALESCE($2, died_on), updated_at = $3 WHERE id = $4")
            .bind(on.to_string())
            .bind(died)
            .bind(&now)
            .bind(place.person_id)
            .execute(&mut *tx)
            .await?;
        if let Some(head) = new_head {
            self.name_head(&mut tx, head, &now).await?;
        }
        self.record_change(&mut tx, (place.person_id, place.household_id), kind.as_str(), recorded, &now).await?;
        self.log_changes(&mut tx, version, &[id_hash]).await?;
        let after = json!({"kind": kind.as_str(), "effectiveOn": on.to_string(), "ended": ended_json(&ended), "newHead": new_head});
        self.audit(
            &mut tx,
            AuditEntry::new(actor, "member.leave", "person", &place.national_id_masked, Value::Null, after),
        )
        .await?;
        tx.commit().await?;
        Ok(ended)
    }

    /// Corrects a household's address and/or account from `on`, keeping the history.
    pub async fn correct_household(
        &self,
        household_id: i64,
        household_no: &str,
        address: Option<&str>,
        account: Option<&doudi_core::pii::BankAccount>,
        recorded: Recorded<'_>,
    ) -> Result<(), sqlx::Error> {
        let Recorded { on, actor, note } = recorded;
        let now = doudi_runtime::now_rfc3339();
        let mut tx = self.db.writes().begin().await?;
        let before = sqlx::query("SELECT address, bank_account_enc FROM households WHERE id = $1")
            .bind(household_id)
            .fetch_one(&mut *tx)
            .await?;
        let old_address: String = before.try_get("address")?;
        let old_account: Option<Vec<u8>> = before.try_get("bank_account_enc")?;
        let new_address = address.map_or(old_address.clone(), str::to_owned);
        // Read in place, then sealed anew for each row it goes to: a ciphertext is never copied.
        let current = match account {
            Some(a) => Some(a.clone()),
            None => self.decrypt_account(household_no, old_account.clone())?,
        };
        let details_row = sealing::row_key(&[&household_id.to_string(), &now]);
        let new_account = current.as_ref().map(|a| self.seal(&HOUSEHOLD_ACCOUNT, household_no, a.expose()));
        let detail_account = current.as_ref().map(|a| self.seal(&DETAIL_ACCOUNT, &details_row, a.expose()));
        sqlx::query("UPDATE households SET address = $1, bank_account_enc = $2, updated_at = $3 WHERE id = $4")
            .bind(&new_address)
            .bind(&new_account)
            .bind(&now)
            .bind(household_id)
            .execute(&mut *tx)
            .await?;
        sqlx::query(
            "INSERT INTO household_details (household_id, address, bank_account_enc, effective_from, actor, note, recorded_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(household_id)
        .bind(&new_address)
        .bind(&detail_account)
        .bind(on.to_string())
        .bind(actor)
        .bind(note)
        .bind(&now)
        .execute(&mut *tx)
        .await?;
        let masked =
            |enc: &Option<Vec<u8>>| self.decrypt_account(household_no, enc.clone()).ok().flatten().map(|a| a.masked());
        let before = json!({"address": old_address, "account": masked(&old_account)});
        let after = json!({"address": new_address, "account": masked(&new_account), "effectiveFrom": on.to_string()});
        self.audit(&mut tx, AuditEntry::new(actor, "household.correct", "household", household_no, before, after))
            .await?;
        tx.commit().await
    }
}

/// The periods a change ended, as its audit record shows them.
fn ended_json(ended: &[CategoryPeriod]) -> Vec<Value> {
    ended.iter().map(|p| json!({"category": p.category.as_str(), "to": p.to.map(|d| d.to_string())})).collect()
}
