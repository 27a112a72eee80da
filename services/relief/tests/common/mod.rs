//! A relief service on an ephemeral port over a fresh database, with a real eligibility service
//! (households of two townships, staff) and a real payment service its relay delivers grants
//! to, all three over mutual TLS.

#![allow(dead_code)]

use doudi_eligibility::registry::import::HEADER;
use doudi_eligibility::staff::rules::Role;
use doudi_payment::funds::Fund;
use doudi_proto::relief::v1 as pb;
use doudi_proto::relief::v1::relief_client::ReliefClient;
use doudi_relief::ReliefService;
use doudi_runtime::Config;
use doudi_runtime::server::RunningService;
use doudi_testkit::{Backend, StaffChannel, TestDb, row};
use std::net::SocketAddr;
use std::time::Duration;

pub const TOWNSHIP: &str = "城关镇";
pub const OTHER_TOWNSHIP: &str = "河口镇";

pub struct Deployment {
    pub config: Config,
    pub eligibility: RunningService,
    pub payment: doudi_payment::PaymentService,
    pub payment_running: RunningService,
    pub relief: ReliefService,
    pub running: RunningService,
    pub relay: Option<doudi_runtime::relay::Relay>,
    pub county: String,
    pub clerk: String,
    pub other_clerk: String,
    pub dbs: Vec<TestDb>,
}

/// Household `R0001` … of 城关镇 with an account each; `X0001` of 河口镇.
pub fn household(n: u32) -> String {
    format!("R{n:04}")
}

pub async fn spawn(backend: Backend, households: u32) -> Deployment {
    let dbs = vec![TestDb::new(backend).await, TestDb::new(backend).await, TestDb::new(backend).await];
    let mut config = Config::default();
    let any_port: SocketAddr = "127.0.0.1:0".parse().expect("address");
    config.eligibility.listen = any_port;
    config.eligibility.database_url = Some(dbs[0].url.clone());
    config.payment.listen = any_port;
    config.payment.database_url = Some(dbs[1].url.clone());
    config.relief.listen = any_port;
    config.relief.database_url = Some(dbs[2].url.clone());
    let cipher = doudi_testkit::cipher();
    let eligibility = doudi_eligibility::open(&config, cipher.clone()).await.expect("open eligibility");
    let mut rows: Vec<String> = (1..=households)
        .map(|n| row(&household(n), n, "HEAD", "DIBAO_2", "2015-01-01", "", &format!("62284800{n:08}")))
        .collect();
    rows.push(
        row("X0001", 90_001, "HEAD", "DIBAO_2", "2015-01-01", "", "6228489000000001").replace("城关镇", OTHER_TOWNSHIP),
    );
    eligibility.import_csv(&doudi_testkit::csv(&HEADER, &rows), "test.csv", "test", false).await.expect("import");
    let until = doudi_core::Date::today_china().add_days(30);
    let store = eligibility.store();
    let (_, county) = store.add_staff("县民政局 救助股", Role::County, None, until, "test").await.expect("county");
    let (_, clerk) =
        store.add_staff("城关镇 民政员", Role::Township, Some(TOWNSHIP), until, "test").await.expect("clerk");
    let (_, other_clerk) =
        store.add_staff("河口镇 民政员", Role::Township, Some(OTHER_TOWNSHIP), until, "test").await.expect("clerk");
    let pki = doudi_testkit::pki::suite();
    let listener = doudi_runtime::server::bind(any_port).await.expect("bind");
    let eligibility = doudi_eligibility::serve(eligibility, listener, &config, pki.identity("eligibility"))
        .await
        .expect("serve eligibility");
    let eligibility_url = format!("https://{}", eligibility.local_addr);
    let payment = doudi_payment::open(&config, cipher.clone(), &eligibility_url, &pki.identity("payment"))
        .await
        .expect("payment");
    let this_year = i64::from(doudi_core::Date::today_china().year());
    payment.set_budget(Fund::Relief, this_year, 1_000_000_000, "test").await.expect("payment's relief fund");
    let listener = doudi_runtime::server::bind(any_port).await.expect("bind");
    let payment_running =
        doudi_payment::serve(payment.clone(), listener, &config, pki.identity("payment")).await.expect("serve payment");
    let relief = doudi_relief::open(&config, cipher, &eligibility_url, &pki.identity("relief")).await.expect("relief");
    let payment_url = format!("https://{}", payment_running.local_addr);
    let relay = doudi_relief::start_relay(&relief, &payment_url, &config, &pki.identity("relief")).expect("relay");
    let listener = doudi_runtime::server::bind(any_port).await.expect("bind");
    let running =
        doudi_relief::serve(relief.clone(), listener, &config, pki.identity("relief")).await.expect("serve relief");
    Deployment {
        config,
        eligibility,
        payment,
        payment_running,
        relief,
        running,
        relay: Some(relay),
        county,
        clerk,
        other_clerk,
        dbs,
    }
}

impl Deployment {
    pub async fn client(&self, token: &str) -> ReliefClient<StaffChannel> {
        let channel = doudi_testkit::pki::suite().channel(self.running.local_addr, None).await;
        ReliefClient::new(doudi_testkit::with_token(channel, token))
    }

    /// S today.
    pub fn standard(&self) -> i64 {
        self.relief.standard_on(self.relief.clock().today()).expect("a policy in force")
    }

    pub fn year(&self) -> i32 {
        self.relief.clock().today().year()
    }

    pub async fn budget(&self, fen: i64) {
        self.relief.set_budget(i64::from(self.year()), fen, "test").await.expect("budget");
    }

    /// A case of household `n`, brought by the township clerk and taken to REVIEWED.
    pub async fn reviewed(&self, n: u32, kind: pb::CaseKind) -> i64 {
        let id = self.submitted(n, kind).await;
        let mut clerk = self.client(&self.clerk).await;
        clerk.accept_case(pb::CaseStepRequest { case_id: id, note: "受理".into() }).await.expect("accept");
        clerk.review_case(pb::CaseStepRequest { case_id: id, note: "审核".into() }).await.expect("review");
        id
    }

    pub async fn submitted(&self, n: u32, kind: pb::CaseKind) -> i64 {
        let mut clerk = self.client(&self.clerk).await;
        clerk.submit_case(case_of(&household(n), kind)).await.expect("submit").into_inner().id
    }

    /// The payment service's instructions from relief, waiting up to 10 s for `count` of them.
    pub async fn relief_payments(&self, count: usize) -> Vec<doudi_payment::instructions::store::StoredInstruction> {
        for _ in 0..500 {
            let filter = doudi_payment::instructions::ops::InstructionFilter {
                fund: Some(Fund::Relief),
                limit: 1_000,
                ..Default::default()
            };
            let (found, _) = self.payment.list_instructions(&filter).await.expect("list");
            if found.len() >= count {
                return found;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        panic!("the payment service never received {count} relief instruction(s)");
    }
}

pub fn case_of(household_no: &str, kind: pb::CaseKind) -> pb::SubmitCaseRequest {
    pb::SubmitCaseRequest {
        kind: kind as i32,
        household_no: household_no.into(),
        facts: "家中失火，住房损毁".into(),
        asked_fen: 100_000,
        documents: vec![document("火灾证明")],
        occurred_on: doudi_core::Date::today_china().add_days(-1).to_string(),
        ..Default::default()
    }
}

pub fn document(name: &str) -> pb::Document {
    let hex: String = name.bytes().map(|b| format!("{b:02x}")).collect();
    let mut sha = hex.repeat(64 / hex.len().max(1) + 1);
    sha.truncate(64);
    pb::Document { name: name.into(), kind: "证明".into(), sha256: sha }
}
