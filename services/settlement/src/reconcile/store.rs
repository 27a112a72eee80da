//! The settled bills a reconciliation compares with the hospital's figures.

use crate::reconcile::rules::OurBill;
use crate::store::Store;
use doudi_core::{Date, Fen};
use sqlx::Row;

impl Store {
    /// Settled bills of the hospital touched by the days `from..=to`, for reconciliation.
    pub async fn bills_touched(&self, hospital: &str, from: Date, to: Date) -> Result<Vec<OurBill>, sqlx::Error> {
        let (from, to) = (from.to_string(), to.to_string());
        let rows = sqlx::query(
            "SELECT bill_no, basic_fen, critical_fen, assistance_fen, settled_day, reversed_day FROM settlements \
             WHERE hospital_code = $1 AND ((settled_day >= $2 AND settled_day <= $3) \
             OR (reversed_day >= $2 AND reversed_day <= $3))",
        )
        .bind(hospital)
        .bind(&from)
        .bind(&to)
        .fetch_all(self.db.reads())
        .await?;
        let within = |day: &Option<String>| day.as_deref().is_some_and(|d| d >= from.as_str() && d <= to.as_str());
        rows.iter()
            .map(|row| {
                let settled: Option<String> = row.try_get(4)?;
                let reversed: Option<String> = row.try_get(5)?;
                Ok(OurBill {
                    bill_no: row.try_get(0)?,
                    amounts: [Fen(row.try_get(1)?), Fen(row.try_get(2)?), Fen(row.try_get(3)?)],
                    settled_in_range: within(&settled),
                    reversed_in_range: within(&reversed),
                })
            })
            .collect()
    }
}
