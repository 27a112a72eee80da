//! The relief service's invariants, re-derived for `doudi check`: each year's budget has granted
//! what its grants sum to, each household's year counts its granted cases and their sum, and
//! each case has been granted what its grants say.

use crate::store::Store;
use sqlx::Row;

impl Store {
    /// Every violated invariant, described; empty when they hold.
    pub async fn problems(&self) -> Result<Vec<String>, sqlx::Error> {
        let reads = self.db.reads();
        let mut problems = Vec::new();
        for r in sqlx::query(
            "SELECT b.year, b.granted_fen, CAST(COALESCE((SELECT SUM(g.amount_fen) FROM grants g WHERE g.year = b.year), 0) AS BIGINT) AS summed \
             FROM relief_budgets b",
        )
        .fetch_all(reads)
        .await?
        {
            let (year, granted, summed): (i64, i64, i64) = (r.try_get("year")?, r.try_get("granted_fen")?, r.try_get("summed")?);
            if granted != summed {
                problems.push(format!("relief budget {year}: {granted} fen granted but its grants sum to {summed} fen"));
            }
        }
        for r in sqlx::query(
            "SELECT y.household_key, y.year, y.grants, y.granted_fen, \
             (SELECT COUNT(DISTINCT g.case_id) FROM grants g JOIN cases c ON c.id = g.case_id \
              WHERE c.household_key = y.household_key AND g.year = y.year) AS cases, \
             CAST(COALESCE((SELECT SUM(g.amount_fen) FROM grants g JOIN cases c ON c.id = g.case_id \
              WHERE c.household_key = y.household_key AND g.year = y.year), 0) AS BIGINT) AS summed \
             FROM household_years y",
        )
        .fetch_all(reads)
        .await?
        {
            let (grants, cases): (i64, i64) = (r.try_get("grants")?, r.try_get("cases")?);
            let (granted, summed): (i64, i64) = (r.try_get("granted_fen")?, r.try_get("summed")?);
            if (grants, granted) != (cases, summed) {
                let (key, year): (String, i64) = (r.try_get("household_key")?, r.try_get("year")?);
                problems.push(format!(
                    "relief household {key} in {year}: counted {grants} grant(s) of {granted} fen, its grants are {cases} of {summed} fen"
                ));
            }
        }
        for r in sqlx::query(
            "SELECT c.id, c.granted_fen, CAST(COALESCE(SUM(g.amount_fen), 0) AS BIGINT) AS summed FROM cases c \
             LEFT JOIN grants g ON g.case_id = c.id GROUP BY c.id, c.granted_fen HAVING c.granted_fen <> COALESCE(SUM(g.amount_fen), 0)",
        )
        .fetch_all(reads)
        .await?
        {
            let (id, granted, summed): (i64, i64, i64) = (r.try_get("id")?, r.try_get("granted_fen")?, r.try_get("summed")?);
            problems.push(format!("relief case {id}: granted {granted} fen but its grants sum to {summed} fen"));
        }
        Ok(problems)
    }
}
