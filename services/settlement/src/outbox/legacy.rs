//! Messages of the JSON outbox (migration 2) still waiting when a database is upgraded: each is
//! re-encoded as the event it stands for and moved to `outbox_messages` under the same key, in
//! one transaction, so none is lost and none is queued twice. Runs when the service opens; a
//! later migration drops the old table once every database has been opened.

use crate::outbox::{Event, HOSPITAL_PAYABLE, PREMIUM_SUBSIDY, encode};
use crate::store::{Store, corrupt};
use doudi_proto::eligibility::v1::Category;
use doudi_proto::settlement::v1::{HospitalPayable, PremiumSubsidyRecorded};
use serde_json::Value;
use sqlx::Row;

/// The event a JSON payload of migration 2 stood for.
fn event_of(topic: &str, json: &Value) -> Option<Event> {
    let text = |name: &str| json.get(name).and_then(Value::as_str).map(str::to_owned);
    let fen = |name: &str| json.get(name).and_then(Value::as_i64);
    match (topic, json.get("kind")?.as_str()?) {
        (HOSPITAL_PAYABLE, kind @ ("HOSPITAL_PAYABLE" | "HOSPITAL_PAYABLE_REVERSED")) => {
            let payable = HospitalPayable {
                settlement_id: text("settlementId")?,
                hospital_code: text("hospitalCode")?,
                bill_no: text("billNo")?,
                basic_insurance_fen: fen("basicInsuranceFen")?,
                critical_illness_fen: fen("criticalIllnessFen")?,
                medical_assistance_fen: fen("medicalAssistanceFen")?,
                // Those payloads did not carry the day; the settlement row has it.
                day: String::new(),
            };
            Some(if kind == "HOSPITAL_PAYABLE" { Event::Payable(payable) } else { Event::Reversal(payable) })
        }
        (PREMIUM_SUBSIDY, "PREMIUM_SUBSIDY") => Some(Event::PremiumSubsidy(PremiumSubsidyRecorded {
            year: i32::try_from(fen("year")?).ok()?,
            person_key: hex::decode(text("personKey")?).ok()?,
            category: Category::from_str_name(&text("category")?)? as i32,
            subsidy_fen: fen("subsidyFen")?,
            ..Default::default()
        })),
        _ => None,
    }
}

impl Store {
    /// Moves every undelivered message of the JSON outbox; returns how many.
    pub async fn move_legacy_outbox(&self) -> Result<u64, sqlx::Error> {
        let mut tx = self.db.writes().begin().await?;
        let rows = sqlx::query(
            "SELECT id, topic, message_key, payload, created_at FROM outbox WHERE delivered_at IS NULL ORDER BY id",
        )
        .fetch_all(&mut *tx)
        .await?;
        for row in &rows {
            let (topic, payload): (String, String) = (row.try_get("topic")?, row.try_get("payload")?);
            let json: Value = serde_json::from_str(&payload).map_err(|_| corrupt("legacy outbox payload"))?;
            let event = event_of(&topic, &json).ok_or_else(|| corrupt("legacy outbox payload"))?;
            sqlx::query(
                "INSERT INTO outbox_messages (topic, message_key, payload, created_at) VALUES ($1, $2, $3, $4)
                 ON CONFLICT (message_key) DO NOTHING",
            )
            .bind(&topic)
            .bind(row.try_get::<String, _>("message_key")?)
            .bind(encode(event))
            .bind(row.try_get::<String, _>("created_at")?)
            .execute(&mut *tx)
            .await?;
            sqlx::query("DELETE FROM outbox WHERE id = $1")
                .bind(row.try_get::<i64, _>("id")?)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(rows.len() as u64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_legacy_payload_maps_to_its_event() {
        let payable = serde_json::json!({"kind": "HOSPITAL_PAYABLE_REVERSED", "settlementId": "s1", "hospitalCode": "H1",
            "billNo": "B1", "basicInsuranceFen": -10, "criticalIllnessFen": -2, "medicalAssistanceFen": -3});
        let Some(Event::Reversal(p)) = event_of(HOSPITAL_PAYABLE, &payable) else { panic!("a reversal") };
        assert_eq!((p.settlement_id.as_str(), p.basic_insurance_fen, p.medical_assistance_fen), ("s1", -10, -3));
        let premium = serde_json::json!({"kind": "PREMIUM_SUBSIDY", "year": 2016, "personKey": "0a0b",
            "category": "DIBAO_2", "subsidyFen": 3600});
        let Some(Event::PremiumSubsidy(s)) = event_of(PREMIUM_SUBSIDY, &premium) else { panic!("a subsidy") };
        assert_eq!(
            (s.year, s.person_key, s.category, s.subsidy_fen),
            (2016, vec![10, 11], Category::Dibao2 as i32, 3600)
        );
        assert_eq!(event_of(PREMIUM_SUBSIDY, &payable), None);
        assert_eq!(event_of(HOSPITAL_PAYABLE, &serde_json::json!({"kind": "HOSPITAL_PAYABLE"})), None);
    }
}
