//! A payment service on an ephemeral port over a fresh database, reading the benefit roll from a
//! real eligibility service (its own fresh database), both over mutual TLS.

#![allow(dead_code)]

use doudi_eligibility::registry::import::HEADER;
use doudi_payment::PaymentService;
use doudi_payment::funds::{Fund, Month};
use doudi_runtime::Config;
use doudi_runtime::server::RunningService;
use doudi_testkit::{Backend, TestDb, person_id, row};
use std::net::SocketAddr;

pub struct Deployment {
    pub config: Config,
    pub eligibility_service: doudi_eligibility::EligibilityService,
    pub eligibility: RunningService,
    pub payment: PaymentService,
    pub running: RunningService,
    pub county_token: String,
    pub dbs: Vec<TestDb>,
}

pub fn month(text: &str) -> Month {
    Month::parse(text).expect("month")
}

/// A household head or member line of the registry import.
pub fn person(household: &str, n: u32, relation: &str, category: &str, from: &str, account: &str) -> String {
    row(household, n, relation, category, from, "", account)
}

/// H001: two DIBAO_1 persons; H002: one TEKUN; H003: one DIBAO_2 (a second member joins the roll
/// later in some tests).
pub fn registry() -> Vec<String> {
    vec![
        person("H001", 1, "HEAD", "DIBAO_1", "2015-01-01", "6228480000000011"),
        person("H001", 2, "SPOUSE", "DIBAO_1", "2015-01-01", ""),
        person("H002", 3, "HEAD", "TEKUN", "2015-01-01", "6228480000000022"),
        person("H003", 4, "HEAD", "DIBAO_2", "2015-01-01", "6228480000000033"),
    ]
}

pub async fn spawn(backend: Backend, rows: &[String]) -> Deployment {
    let dbs = vec![TestDb::new(backend).await, TestDb::new(backend).await];
    let mut config = Config::default();
    let any_port: SocketAddr = "127.0.0.1:0".parse().expect("address");
    config.eligibility.listen = any_port;
    config.eligibility.database_url = Some(dbs[0].url.clone());
    config.payment.listen = any_port;
    config.payment.database_url = Some(dbs[1].url.clone());
    config.payment.insurer_account = Some("6228480000009999".into());
    for fund in ["dibao", "tekun", "price_subsidy", "relief"] {
        let accounts = doudi_runtime::config::FundAccountConfig {
            account: Some("9558800000000001".into()),
            bank_code: Some("402".into()),
        };
        config.payment.funds.insert(fund.into(), accounts);
    }
    let cipher = doudi_testkit::cipher();
    let eligibility = doudi_eligibility::open(&config, cipher.clone()).await.expect("open eligibility");
    if !rows.is_empty() {
        eligibility.import_csv(&doudi_testkit::csv(&HEADER, rows), "test.csv", "test", false).await.expect("import");
    }
    let until = doudi_core::Date::today_china().add_days(30);
    let county = doudi_eligibility::staff::rules::Role::County;
    let (_, county_token) =
        eligibility.store().add_staff("县民政局 测试员", county, None, until, "test").await.expect("county staff");
    let pki = doudi_testkit::pki::suite();
    let listener = doudi_runtime::server::bind(any_port).await.expect("bind");
    let eligibility_service = eligibility.clone();
    let eligibility = doudi_eligibility::serve(eligibility, listener, &config, pki.identity("eligibility"))
        .await
        .expect("serve eligibility");
    let eligibility_url = format!("https://{}", eligibility.local_addr);
    let payment =
        doudi_payment::open(&config, cipher, &eligibility_url, &pki.identity("payment")).await.expect("open payment");
    let listener = doudi_runtime::server::bind(any_port).await.expect("bind");
    let running =
        doudi_payment::serve(payment.clone(), listener, &config, pki.identity("payment")).await.expect("serve payment");
    Deployment { config, eligibility_service, eligibility, payment, running, county_token, dbs }
}

impl Deployment {
    pub async fn budgets(&self, year: i64, fen: i64) {
        for fund in Fund::ALL {
            self.payment.set_budget(*fund, year, fen, "test").await.expect("budget");
        }
    }

    /// The ledger's invariants hold.
    pub async fn ledger_holds(&self) {
        let problems = self.payment.store().ledger_problems().await.expect("check");
        assert!(problems.is_empty(), "ledger: {problems:?}");
    }

    pub async fn channel_as(&self, service: &str) -> tonic::transport::Channel {
        doudi_testkit::pki::suite().channel_as(self.running.local_addr, service).await
    }

    pub async fn staff_channel(&self) -> doudi_testkit::StaffChannel {
        let channel = doudi_testkit::pki::suite().channel(self.running.local_addr, None).await;
        doudi_testkit::with_token(channel, &self.county_token)
    }

    pub fn id_of(n: u32) -> String {
        person_id(n)
    }
}
