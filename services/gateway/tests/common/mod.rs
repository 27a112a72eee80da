//! The settlement path as hospitals meet it: real eligibility, settlement and gateway servers on
//! ephemeral ports, each over a fresh database of its own, and real gRPC and HTTP clients.

#![allow(dead_code)]

use doudi_eligibility::registry::import::HEADER;
use doudi_gateway::RunningGateway;
use doudi_gateway::hospitals::HospitalStore;
use doudi_proto::hospital::v1::hospital_settlement_client::HospitalSettlementClient;
use doudi_proto::settlement::v1 as pb;
use doudi_runtime::Config;
use doudi_runtime::server::RunningService;
use doudi_settlement::SettlementService;
use doudi_testkit::{Backend, TestDb, person_id, row};
use std::net::SocketAddr;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tonic::transport::{Channel, Endpoint};

/// Test persons: a DIBAO_2 recipient (the policy's worked examples), a TEKUN one, and one the
/// registry does not know.
pub const DIBAO2: u32 = 101;
pub const TEKUN: u32 = 202;
pub const UNKNOWN: u32 = 303;

pub struct Suite {
    pub config: Config,
    pub eligibility: Option<RunningService>,
    pub settlement_service: SettlementService,
    pub settlement: RunningService,
    pub gateway: Option<RunningGateway>,
    pub hospitals: HospitalStore,
    pub channel: Channel,
    /// To the settlement service with the gateway's certificate.
    pub settlement_channel: Channel,
    pub http: SocketAddr,
    /// Keys of hospitals COUNTY, MUNICIPAL and a second COUNTY one (another hospital).
    pub county_key: String,
    pub municipal_key: String,
    pub other_key: String,
    /// A county staff member's token, from the eligibility service's staff register.
    pub county_token: String,
    pub eligibility_service: doudi_eligibility::EligibilityService,
    pub dbs: Vec<TestDb>,
}

async fn connect(addr: SocketAddr) -> Channel {
    Endpoint::from_shared(format!("http://{addr}")).expect("endpoint").connect().await.expect("connect")
}

pub async fn spawn(backend: Backend) -> Suite {
    spawn_with(backend, |_| {}).await
}

pub async fn spawn_with(backend: Backend, tweak: impl FnOnce(&mut Config)) -> Suite {
    let dbs = vec![TestDb::new(backend).await, TestDb::new(backend).await, TestDb::new(backend).await];
    let mut config = Config::default();
    let any_port: SocketAddr = "127.0.0.1:0".parse().expect("address");
    for (service, db) in [&mut config.eligibility, &mut config.settlement, &mut config.gateway].into_iter().zip(&dbs) {
        service.listen = any_port;
        service.database_url = Some(db.url.clone());
    }
    config.http.listen = any_port;
    tweak(&mut config);
    let cipher = doudi_testkit::cipher();

    let eligibility = doudi_eligibility::open(&config, cipher.clone()).await.expect("open eligibility");
    let registry = doudi_testkit::csv(
        &HEADER,
        &[
            row("H-DIBAO", DIBAO2, "HEAD", "DIBAO_2", "2015-01-01", "", "6228480000000011"),
            row("H-TEKUN", TEKUN, "HEAD", "TEKUN", "2015-01-01", "", "6228480000000022"),
        ],
    );
    eligibility.import_csv(&registry, "test.csv", "test", false).await.expect("import");
    let until = doudi_core::Date::today_china().add_days(30);
    let county = doudi_eligibility::staff::rules::Role::County;
    let (_, county_token) =
        eligibility.store().add_staff("县民政局 测试员", county, None, until, "test").await.expect("county staff");
    let eligibility_service = eligibility.clone();
    let listener = doudi_runtime::server::bind(any_port).await.expect("bind");
    let pki = doudi_testkit::pki::suite();
    let eligibility = doudi_eligibility::serve(eligibility, listener, &config, pki.identity("eligibility"))
        .await
        .expect("serve eligibility");

    let eligibility_url = format!("https://{}", eligibility.local_addr);
    let settlement_tls = pki.identity("settlement");
    let settlement_service = doudi_settlement::open(&config, cipher.clone(), &eligibility_url, &settlement_tls)
        .await
        .expect("open settlement");
    let listener = doudi_runtime::server::bind(any_port).await.expect("bind");
    let settlement = doudi_settlement::serve(settlement_service.clone(), listener, &config, settlement_tls)
        .await
        .expect("serve settlement");

    let hospitals = doudi_gateway::open_hospitals(&config, cipher).await.expect("open gateway");
    let county_key = hospitals.add("H-COUNTY", "县医院", "COUNTY", None, "test").await.expect("add");
    let municipal_key = hospitals.add("H-CITY", "市医院", "MUNICIPAL", None, "test").await.expect("add");
    let other_key = hospitals.add("H-OTHER", "另一县医院", "COUNTY", None, "test").await.expect("add");
    let grpc_listener = doudi_runtime::server::bind(any_port).await.expect("bind");
    let http_listener = doudi_runtime::server::bind(any_port).await.expect("bind");
    let settlement_url = format!("https://{}", settlement.local_addr);
    let gateway_tls = pki.identity("gateway");
    let gateway =
        doudi_gateway::serve(hospitals.clone(), grpc_listener, http_listener, &settlement_url, &config, &gateway_tls)
            .await
            .expect("serve gateway");
    // A gateway given a public certificate (from the test CA) speaks TLS to hospitals.
    let channel = match config.gateway.tls.cert_file {
        Some(_) => pki.channel(gateway.grpc.local_addr, None).await,
        None => connect(gateway.grpc.local_addr).await,
    };
    doudi_testkit::wait_serving(channel.clone(), "doudi.hospital.v1.HospitalSettlement").await;
    // As the gateway calls it: its certificate.
    let settlement_channel = pki.channel(settlement.local_addr, Some(&gateway_tls)).await;
    let http = gateway.http_addr;
    Suite {
        config,
        eligibility: Some(eligibility),
        settlement_service,
        settlement,
        gateway: Some(gateway),
        hospitals,
        channel,
        settlement_channel,
        http,
        county_key,
        municipal_key,
        other_key,
        county_token,
        eligibility_service,
        dbs,
    }
}

impl Suite {
    pub fn client(&self) -> HospitalSettlementClient<Channel> {
        HospitalSettlementClient::new(self.channel.clone())
    }

    pub async fn settlements_stored(&self) -> i64 {
        self.settlement_service.store().count_settlements().await.expect("count")
    }
}

/// A request carrying `Authorization: Bearer KEY`.
pub fn authed<T>(key: &str, message: T) -> tonic::Request<T> {
    let mut request = tonic::Request::new(message);
    request.metadata_mut().insert("authorization", format!("Bearer {key}").parse().expect("metadata"));
    request
}

pub fn inpatient(bill_no: &str, person: u32, admitted: &str, discharged: &str, total: i64, in_policy: i64) -> pb::Bill {
    pb::Bill {
        bill_no: bill_no.into(),
        national_id: person_id(person),
        visit_type: pb::VisitType::Inpatient as i32,
        admitted_on: admitted.into(),
        discharged_on: discharged.into(),
        total_fen: total,
        in_policy_fen: in_policy,
    }
}

/// (basic, critical illness, medical assistance, copay) of a settlement.
pub fn amounts(s: &pb::Settlement) -> (i64, i64, i64, i64) {
    (s.basic_insurance_fen, s.critical_illness_fen, s.medical_assistance_fen, s.patient_copay_fen)
}

/// One HTTP/1.1 exchange: (status, JSON body).
pub async fn http(
    addr: SocketAddr,
    method: &str,
    path: &str,
    key: Option<&str>,
    body: &str,
) -> (u16, serde_json::Value) {
    let mut stream = tokio::net::TcpStream::connect(addr).await.expect("connect http");
    let auth = key.map(|k| format!("Authorization: Bearer {k}\r\n")).unwrap_or_default();
    let request = format!(
        "{method} {path} HTTP/1.1\r\nHost: test\r\nContent-Type: application/json\r\n{auth}Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(request.as_bytes()).await.expect("send");
    let mut response = Vec::new();
    stream.read_to_end(&mut response).await.expect("receive");
    let text = String::from_utf8(response).expect("utf-8 response");
    let (head, body) = text.split_once("\r\n\r\n").expect("a head and a body");
    let status = head.split(' ').nth(1).and_then(|s| s.parse().ok()).expect("status");
    let json = if body.is_empty() { serde_json::Value::Null } else { serde_json::from_str(body).expect("JSON body") };
    (status, json)
}
