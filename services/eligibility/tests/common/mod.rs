//! A real eligibility server on an ephemeral port over a fresh database, and a real client.

#![allow(dead_code)]

use doudi_eligibility::EligibilityService;
use doudi_eligibility::registry::import::HEADER;
use doudi_proto::eligibility::v1::eligibility_client::EligibilityClient;
use doudi_runtime::Config;
use doudi_runtime::server::RunningService;
use doudi_testkit::{Backend, StaffChannel, TestDb};
use tonic::transport::Channel;

pub struct TestService {
    pub service: EligibilityService,
    /// A county staff member's client (server-side TLS and a staff token, as the console).
    pub client: EligibilityClient<StaffChannel>,
    /// TLS to the service, no client certificate, no token.
    pub channel: Channel,
    pub county_token: String,
    pub running: RunningService,
    pub db: TestDb,
}

/// A served eligibility service with a county staff member (one audit record) for `client`.
pub async fn spawn(backend: Backend) -> TestService {
    spawn_inner(backend, true).await
}

/// The same without the staff member: the audit chain starts empty (`client` has no valid token).
pub async fn spawn_without_staff(backend: Backend) -> TestService {
    spawn_inner(backend, false).await
}

async fn spawn_inner(backend: Backend, with_staff: bool) -> TestService {
    let db = TestDb::new(backend).await;
    let mut config = Config::default();
    config.eligibility.database_url = Some(db.url.clone());
    config.eligibility.listen = "127.0.0.1:0".parse().expect("address");
    let service = doudi_eligibility::open(&config, doudi_testkit::cipher()).await.expect("open eligibility");
    let listener = doudi_runtime::server::bind(config.eligibility.listen).await.expect("bind");
    let identity = doudi_testkit::pki::suite().identity(doudi_eligibility::SERVICE_NAME);
    let running = doudi_eligibility::serve(service.clone(), listener, &config, identity).await.expect("serve");
    let channel = doudi_testkit::pki::suite().channel(running.local_addr, None).await;
    wait_serving(channel.clone(), "doudi.eligibility.v1.Eligibility").await;
    let until = doudi_core::Date::today_china().add_days(30);
    let county_token = if with_staff {
        let county = doudi_eligibility::staff::rules::Role::County;
        service.store().add_staff("县民政局 测试员", county, None, until, "test").await.expect("county staff").1
    } else {
        "st_0_none_none".to_owned()
    };
    let client = EligibilityClient::new(doudi_testkit::with_token(channel.clone(), &county_token));
    TestService { service, client, channel, county_token, running, db }
}

pub use doudi_testkit::{person_id, row, wait_serving};

pub fn csv(rows: &[String]) -> String {
    doudi_testkit::csv(&HEADER, rows)
}
