//! A real eligibility server on an ephemeral port over a fresh database, and a real client.

#![allow(dead_code)]

use doudi_core::Date;
use doudi_core::national_id::synthesize;
use doudi_eligibility::EligibilityService;
use doudi_eligibility::domain::import::HEADER;
use doudi_proto::eligibility::v1::eligibility_client::EligibilityClient;
use doudi_runtime::Config;
use doudi_runtime::server::RunningService;
use doudi_testkit::{Backend, TestDb};
use tonic::transport::{Channel, Endpoint};
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::{HealthCheckRequest, health_client::HealthClient};

pub struct TestService {
    pub service: EligibilityService,
    pub client: EligibilityClient<Channel>,
    pub channel: Channel,
    pub running: RunningService,
    pub db: TestDb,
}

pub async fn spawn(backend: Backend) -> TestService {
    let db = TestDb::new(backend).await;
    let mut config = Config::default();
    config.eligibility.database_url = Some(db.url.clone());
    config.eligibility.listen = "127.0.0.1:0".parse().expect("address");
    let service = doudi_eligibility::open(&config, doudi_testkit::cipher()).await.expect("open eligibility");
    let listener = doudi_runtime::server::bind(config.eligibility.listen).await.expect("bind");
    let running = doudi_eligibility::serve(service.clone(), listener, &config).await.expect("serve");
    let channel = Endpoint::from_shared(format!("http://{}", running.local_addr))
        .expect("endpoint")
        .connect()
        .await
        .expect("connect");
    wait_serving(channel.clone(), "doudi.eligibility.v1.Eligibility").await;
    TestService { service, client: EligibilityClient::new(channel.clone()), channel, running, db }
}

/// Waits on the health service rather than sleeping.
pub async fn wait_serving(channel: Channel, service: &str) {
    let mut health = HealthClient::new(channel);
    for _ in 0..100 {
        let answer = health.check(HealthCheckRequest { service: service.into() }).await;
        if answer.is_ok_and(|r| r.into_inner().status == ServingStatus::Serving as i32) {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    panic!("{service} never became SERVING");
}

/// A valid national ID for test person `n` (born 1970-01-01 plus n days).
pub fn person_id(n: u32) -> String {
    let birth = Date::from_ymd(1960, 1, 1).expect("date").add_days(i64::from(n % 15_000));
    synthesize("360730", birth, n / 15_000 * 7 + 3).expose().to_owned()
}

pub fn birth_of(id: &str) -> String {
    format!("{}-{}-{}", &id[6..10], &id[10..12], &id[12..14])
}

/// One CSV row: person `n` in `household`, as `relation`, holding `category` over the period.
pub fn row(household: &str, n: u32, relation: &str, category: &str, from: &str, to: &str, account: &str) -> String {
    let id = person_id(n);
    format!("{household},城关镇,东村,{id},测试{n},{relation},{},{category},{from},{to},{account}", birth_of(&id))
}

pub fn csv(rows: &[String]) -> String {
    let mut text = HEADER.join(",");
    for r in rows {
        text.push('\n');
        text.push_str(r);
    }
    text.push('\n');
    text
}
