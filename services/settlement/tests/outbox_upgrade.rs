//! A database written by a version whose outbox held JSON: on opening it, every undelivered
//! message is moved to the protobuf outbox under its key, once, on SQLite and on PostgreSQL.

use doudi_runtime::Config;
use doudi_runtime::db::{Db, Migrations};
use doudi_settlement::outbox::Event;
use doudi_settlement::store::MIGRATIONS;
use doudi_testkit::{Backend, TestDb};

doudi_testkit::conformance!(json_outbox_messages_move_to_the_protobuf_outbox);

/// The migrations of the version before the protobuf outbox.
const BEFORE: Migrations =
    Migrations { sqlite: MIGRATIONS.sqlite.split_at(2).0, postgres: MIGRATIONS.postgres.split_at(2).0 };

async fn json_outbox_messages_move_to_the_protobuf_outbox(backend: Backend) {
    let db = TestDb::new(backend).await;
    let old = Db::open(&db.url, 2, &BEFORE).await.expect("the older schema");
    for (key, topic, payload, delivered) in [
        (
            "settle:s1",
            "hospital-payable",
            r#"{"kind":"HOSPITAL_PAYABLE","settlementId":"s1","hospitalCode":"H1","billNo":"B1","basicInsuranceFen":1327500,"criticalIllnessFen":111250,"medicalAssistanceFen":252875}"#,
            None,
        ),
        (
            "premium:2016:0a0b",
            "premium-subsidy",
            r#"{"kind":"PREMIUM_SUBSIDY","year":2016,"personKey":"0a0b","category":"DIBAO_2","subsidyFen":3600}"#,
            None,
        ),
        // Delivered already: not moved.
        ("settle:s0", "hospital-payable", "{}", Some("2016-01-01T00:00:00.000Z")),
    ] {
        sqlx::query(
            "INSERT INTO outbox (topic, message_key, payload, created_at, delivered_at) VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(topic)
        .bind(key)
        .bind(payload)
        .bind("2016-03-10T08:00:00.000Z")
        .bind(delivered)
        .execute(old.writes())
        .await
        .expect("a JSON message");
    }
    old.close().await;

    let mut config = Config::default();
    config.settlement.database_url = Some(db.url.clone());
    let service = doudi_settlement::open_for_admin(&config, doudi_testkit::cipher()).await.expect("open");
    let pending = service.store().outbox_pending(10).await.expect("outbox");
    let keys: Vec<&str> = pending.iter().map(|m| m.key.as_str()).collect();
    assert_eq!(keys, ["settle:s1", "premium:2016:0a0b"]);
    let Event::Payable(payable) = &pending[0].event else { panic!("a payable: {:?}", pending[0]) };
    assert_eq!((payable.bill_no.as_str(), payable.medical_assistance_fen), ("B1", 252_875));
    let Event::PremiumSubsidy(subsidy) = &pending[1].event else { panic!("a subsidy: {:?}", pending[1]) };
    assert_eq!((subsidy.year, subsidy.subsidy_fen), (2016, 3_600));
    service.store().db().close().await;

    // Opening again moves nothing twice.
    let service = doudi_settlement::open_for_admin(&config, doudi_testkit::cipher()).await.expect("reopen");
    assert_eq!(service.store().outbox_pending(10).await.expect("outbox").len(), 2);
    assert_eq!(service.store().move_legacy_outbox().await.expect("again"), 0);
}
