//! The CPI-linked price subsidy's indexes (policy.md): a month's published CPI and food-price
//! rises, recorded by the county; the payroll of a month that meets the condition pays the
//! subsidy per covered person.

use crate::error::Result;
use crate::funds::Month;
use crate::service::PaymentService;
use doudi_core::policy::PriceSubsidy;
use doudi_core::{Bp, Fen};
use doudi_runtime::audit::AuditEntry;
use sqlx::Row;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PriceIndex {
    pub cpi_bp: i64,
    pub food_bp: i64,
}

/// The rise that triggers the subsidy for a month, if any: the larger of the indexes that meet
/// their condition.
pub fn triggering_rise(index: PriceIndex, rule: &PriceSubsidy) -> Option<Bp> {
    let cpi = (index.cpi_bp >= rule.cpi_trigger_bp.0).then_some(index.cpi_bp);
    let food = (index.food_bp >= rule.food_trigger_bp.0).then_some(index.food_bp);
    cpi.max(food).map(Bp)
}

/// Each covered person's subsidy: `round(S × rise / 10000)`.
pub fn per_person(standard: Fen, rise: Bp) -> Option<Fen> {
    standard.apply_rate(rise).ok()
}

impl PaymentService {
    pub async fn record_price_index(&self, month: Month, index: PriceIndex, actor: &str) -> Result<Option<PriceIndex>> {
        let mut v = doudi_core::Violations::default();
        for (field, value) in [("cpiBp", index.cpi_bp), ("foodBp", index.food_bp)] {
            if !(-10_000..=100_000).contains(&value) {
                v.add(field, "must be between -10000 and 100000 bp");
            }
        }
        if !v.is_empty() {
            return Err(v.into());
        }
        let now = doudi_runtime::now_rfc3339();
        let text = month.to_string();
        let mut tx = self.store.db.writes().begin().await?;
        let before = self.price_index_in(&mut tx, month).await?;
        sqlx::query(
            "INSERT INTO price_indexes (month, cpi_bp, food_bp, recorded_at, recorded_by) VALUES ($1, $2, $3, $4, $5) \
             ON CONFLICT (month) DO UPDATE SET cpi_bp = excluded.cpi_bp, food_bp = excluded.food_bp, \
             recorded_at = excluded.recorded_at, recorded_by = excluded.recorded_by",
        )
        .bind(&text)
        .bind(index.cpi_bp)
        .bind(index.food_bp)
        .bind(&now)
        .bind(actor)
        .execute(&mut *tx)
        .await?;
        let as_json = |i: Option<PriceIndex>| {
            i.map_or(serde_json::Value::Null, |i| serde_json::json!({"cpiBp": i.cpi_bp, "foodBp": i.food_bp}))
        };
        let entry =
            AuditEntry::new(actor, "price_index.record", "price_index", &text, as_json(before), as_json(Some(index)));
        self.store.audit(&mut tx, entry).await?;
        tx.commit().await?;
        Ok(before)
    }

    pub(crate) async fn price_index_in(
        &self,
        conn: &mut sqlx::AnyConnection,
        month: Month,
    ) -> Result<Option<PriceIndex>> {
        let row = sqlx::query("SELECT cpi_bp, food_bp FROM price_indexes WHERE month = $1")
            .bind(month.to_string())
            .fetch_optional(conn)
            .await?;
        Ok(row
            .map(|r| Ok::<_, sqlx::Error>(PriceIndex { cpi_bp: r.try_get("cpi_bp")?, food_bp: r.try_get("food_bp")? }))
            .transpose()?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const RULE: PriceSubsidy = PriceSubsidy { cpi_trigger_bp: Bp(350), food_trigger_bp: Bp(600) };

    #[test]
    fn the_larger_triggering_index_decides() {
        let rise = |cpi, food| triggering_rise(PriceIndex { cpi_bp: cpi, food_bp: food }, &RULE);
        assert_eq!(rise(349, 599), None);
        assert_eq!(rise(350, 0), Some(Bp(350)));
        assert_eq!(rise(400, 599), Some(Bp(400)), "food does not trigger, so CPI's rise applies");
        assert_eq!(rise(360, 610), Some(Bp(610)));
        assert_eq!(rise(700, 650), Some(Bp(700)));
        assert_eq!(rise(100, 600), Some(Bp(600)));
    }

    #[test]
    fn per_person_is_the_standard_times_the_rise_rounded_half_up() {
        // S = 27 500 from 2015-07: 3.5 % is 962.5 → 963; 6.1 % is 1 677.5 → 1 678.
        assert_eq!(per_person(Fen(27_500), Bp(350)), Some(Fen(963)));
        assert_eq!(per_person(Fen(27_500), Bp(610)), Some(Fen(1_678)));
        assert_eq!(per_person(Fen(24_600), Bp(400)), Some(Fen(984)));
    }
}
