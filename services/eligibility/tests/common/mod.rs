//! A real eligibility server on an ephemeral port over a fresh database, and a real client.

#![allow(dead_code)]

use doudi_eligibility::EligibilityService;
use doudi_eligibility::registry::import::HEADER;
use doudi_proto::eligibility::v1::eligibility_client::EligibilityClient;
use doudi_runtime::Config;
use doudi_runtime::server::RunningService;
use doudi_testkit::{Backend, TestDb};
use tonic::transport::{Channel, Endpoint};

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

pub use doudi_testkit::{person_id, row, wait_serving};

pub fn csv(rows: &[String]) -> String {
    doudi_testkit::csv(&HEADER, rows)
}
