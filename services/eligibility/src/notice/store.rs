//! What a village's public notice shows: its applications under notice with the proposed
//! class, and its current TEKUN and dibao recipients, names and IDs masked.

use crate::procedure::assessment::{AssessmentResult, DibaoClass};
use crate::store::{Store, parse_stored};
use doudi_core::{Category, Date};
use sqlx::Row;

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
            "SELECT h.household_no, p.id_hash, p.name_enc, p.national_id_masked, c.category
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
                name: self
                    .decrypt_name(&r.try_get::<Vec<u8>, _>("id_hash")?, &r.try_get::<Vec<u8>, _>("name_enc")?)?
                    .masked(),
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
            "SELECT h.household_no, p.id_hash, p.name_enc, p.national_id_masked, a.assessment, a.notice_until
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
                    .and_then(|a| serde_json::from_str::<AssessmentResult>(&a).ok())
                    .and_then(|a| a.class)
                    .map_or(Category::None, |c| match c {
                        DibaoClass::Dibao1 => Category::Dibao1,
                        DibaoClass::Dibao2 => Category::Dibao2,
                    });
                let line = NoticeLine {
                    household_no: r.try_get("household_no")?,
                    name: self
                        .decrypt_name(&r.try_get::<Vec<u8>, _>("id_hash")?, &r.try_get::<Vec<u8>, _>("name_enc")?)?
                        .masked(),
                    national_id: r.try_get("national_id_masked")?,
                    category: class,
                };
                Ok((line, r.try_get::<Option<String>, _>("notice_until")?.unwrap_or_default()))
            })
            .collect()
    }
}
