//! Who may call the settlement service, tried from outside over real TLS: every method without a
//! certificate, with each other service's and with the gateway's; nobody but the gateway can
//! claim a hospital; premium subsidies take a county staff token, which the settlement service
//! verifies with the eligibility service's staff register (withdrawal counts within a second).

mod common;

use common::{authed, inpatient, spawn};
use doudi_eligibility::staff::rules::Role;
use doudi_proto::settlement::v1 as pb;
use doudi_proto::settlement::v1::settlements_client::SettlementsClient;
use doudi_settlement::access::ALLOW_LIST;
use doudi_testkit::Backend;
use doudi_testkit::access::{code_of, refused};
use doudi_testkit::pki::suite;
use prost::Message;
use tonic::Code;

doudi_testkit::conformance!(
    every_settlement_method_admits_only_its_callers,
    nobody_but_the_gateway_claims_a_hospital,
    staff_tokens_are_verified_with_the_register,
);

async fn every_settlement_method_admits_only_its_callers(backend: Backend) {
    let s = spawn(backend).await;
    let addr = s.settlement.local_addr;
    let set = prost_types::FileDescriptorSet::decode(doudi_proto::FILE_DESCRIPTOR_SET).expect("descriptors");
    let served: Vec<String> = set
        .file
        .iter()
        .filter(|f| f.package() == "doudi.settlement.v1")
        .flat_map(|f| f.service.iter())
        .flat_map(|svc| svc.method.iter().map(move |m| format!("/doudi.settlement.v1.{}/{}", svc.name(), m.name())))
        .collect();
    assert_eq!(served.len(), ALLOW_LIST.0.len(), "the allow-list names every method once");
    assert!(served.iter().all(|m| ALLOW_LIST.rule(m).is_some()));

    // The rules are the issue's, stated here independently of the list they check.
    use doudi_runtime::access::StaffMay;
    for rule in ALLOW_LIST.0 {
        let expected: (&[&str], StaffMay) = if rule.method.ends_with("/RecordPremiumSubsidies") {
            (&[], StaffMay::CountyOnly)
        } else {
            (&["gateway"], StaffMay::No)
        };
        assert_eq!((rule.services, rule.staff), expected, "{}", rule.method);
    }
    doudi_testkit::access::every_rule_holds(addr, &ALLOW_LIST, &s.county_token).await;
}

async fn nobody_but_the_gateway_claims_a_hospital(backend: Backend) {
    let s = spawn(backend).await;
    let addr = s.settlement.local_addr;
    let claim = || pb::SettleRequest {
        hospital: Some(pb::Hospital { code: "H-COUNTY".into(), level: pb::HospitalLevel::County as i32 }),
        bill: Some(inpatient("DIRECT-1", common::DIBAO2, "2016-03-01", "2016-03-10", 2_000_000, 1_800_000)),
    };
    for channel in [
        suite().channel(addr, None).await,
        suite().channel_as(addr, "eligibility").await,
        suite().channel_as(addr, "payment").await,
    ] {
        let refused = SettlementsClient::new(channel).settle(claim()).await.expect_err("not the gateway");
        assert!(matches!(refused.code(), Code::Unauthenticated | Code::PermissionDenied), "{refused:?}");
    }
    let staff = SettlementsClient::new(doudi_testkit::with_token(suite().channel(addr, None).await, &s.county_token))
        .settle(claim())
        .await
        .expect_err("staff are not hospitals");
    assert_eq!(staff.code(), Code::PermissionDenied);
    assert_eq!(s.settlements_stored().await, 0, "nothing was settled");
    // Through the gateway, with the hospital's key, the same bill settles.
    let bill = inpatient("DIRECT-1", common::DIBAO2, "2016-03-01", "2016-03-10", 2_000_000, 1_800_000);
    s.client().settle(authed(&s.county_key, bill)).await.expect("through the gateway");
    assert_eq!(s.settlements_stored().await, 1);
}

async fn staff_tokens_are_verified_with_the_register(backend: Backend) {
    let s = spawn(backend).await;
    let addr = s.settlement.local_addr;
    let today = doudi_core::Date::today_china();
    let register = s.eligibility_service.store();
    let (clerk_id, clerk) = register
        .add_staff("城关镇 李干事", Role::Township, Some("城关镇"), today.add_days(5), "test")
        .await
        .expect("add");
    let (county_id, county) =
        register.add_staff("县 张科长", Role::County, None, today.add_days(5), "test").await.expect("add");
    let (_, expired) =
        register.add_staff("县 旧人", Role::County, None, today.add_days(-1), "test").await.expect("add");
    let method = "/doudi.settlement.v1.Settlements/RecordPremiumSubsidies";
    let channel = suite().channel(addr, None).await;
    assert_eq!(code_of(&channel, method, Some(&clerk)).await, Code::PermissionDenied, "township staff");
    assert_eq!(code_of(&channel, method, Some(&expired)).await, Code::Unauthenticated, "expired");
    assert_eq!(code_of(&channel, method, Some("st_9_00_forged")).await, Code::Unauthenticated, "forged");
    assert!(!refused(code_of(&channel, method, Some(&county)).await), "county staff");
    register.revoke_staff(county_id, "test").await.expect("revoke");
    register.revoke_staff(clerk_id, "test").await.expect("revoke");
    // The settlement service may have kept the register's answer; never for a second.
    tokio::time::sleep(std::time::Duration::from_millis(1_000)).await;
    assert_eq!(code_of(&channel, method, Some(&county)).await, Code::Unauthenticated, "withdrawn within a second");

    // The county's act is audited under the member of staff who did it.
    let mut client = SettlementsClient::new(doudi_testkit::with_token(channel, &s.county_token));
    let request = pb::RecordPremiumSubsidiesRequest {
        year: 2016,
        persons: vec![pb::PremiumSubsidyEntry {
            national_id: doudi_testkit::person_id(common::TEKUN),
            category: doudi_proto::eligibility::v1::Category::Tekun as i32,
        }],
    };
    client.record_premium_subsidies(request).await.expect("county staff record");
    let pool = s.settlement_service.store().db().reads().clone();
    let actors: Vec<String> = sqlx::query_scalar("SELECT actor FROM audit_log").fetch_all(&pool).await.expect("audit");
    assert!(actors.iter().any(|a| a.starts_with("staff:") && a.contains("测试员")), "{actors:?}");
}
