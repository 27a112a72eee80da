//! The rows behind a month's roll: every paid-category period containing the month's first
//! day, with the household, its account (encrypted) and the person's latest review.

use crate::coverage::rules::CategoryPeriod;
use crate::store::{Store, parse_stored, stored_period};
use doudi_core::Date;
use sqlx::Row;

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

const ROLL_ROWS: &str = "SELECT p.id AS person_id, p.national_id_masked, h.household_no, h.bank_account_enc,
        c.category, c.effective_from, c.effective_to, c.reviewed_on,
        (SELECT MAX(r.reviewed_on) FROM reviews r WHERE r.person_id = p.id AND r.reviewed_on <= $1) AS last_review
 FROM category_periods c
 JOIN persons p ON p.id = c.person_id
 JOIN households h ON h.id = p.household_id
 WHERE c.category IN ('TEKUN', 'DIBAO_1', 'DIBAO_2')
   AND c.effective_from <= $1 AND (c.effective_to IS NULL OR c.effective_to >= $1)
 ORDER BY h.household_no, p.id";

fn roll_row(r: &sqlx::any::AnyRow) -> Result<RollRow, sqlx::Error> {
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
}

impl Store {
    /// Every paid-category period containing `first_day`, with the person's household, the
    /// household's account (encrypted) and their latest review on or before that day, ordered
    /// by household and person, as the database returns them (nothing collected).
    pub fn roll_rows(
        &self,
        first_day: Date,
    ) -> impl futures_util::Stream<Item = Result<RollRow, sqlx::Error>> + Send + '_ {
        use futures_util::StreamExt;
        sqlx::query(ROLL_ROWS).bind(first_day.to_string()).fetch(self.db.reads()).map(|row| roll_row(&row?))
    }
}
