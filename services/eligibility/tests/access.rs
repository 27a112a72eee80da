//! Who may call what on the eligibility port, tried from outside over real TLS: every method of
//! every service it serves, without a certificate, with a stranger's, with another service's and
//! with the right one; staff tokens of each role, township, withdrawn and expired.

mod common;

use common::{csv, person_id, row, spawn};
use doudi_eligibility::access::ALLOW_LIST;
use doudi_eligibility::staff::rules::Role;
use doudi_proto::eligibility::v1 as pb;
use doudi_testkit::Backend;
use doudi_testkit::access::{code_of, refused};
use doudi_testkit::pki::{TestPki, suite};
use prost::Message;
use tonic::Code;

doudi_testkit::conformance!(
    every_method_admits_only_its_callers,
    staff_tokens_are_checked_for_role_expiry_and_withdrawal,
    township_staff_see_their_own_township_only,
);

/// Every method the port serves, from the contracts themselves.
fn served_methods() -> Vec<String> {
    let set = prost_types::FileDescriptorSet::decode(doudi_proto::FILE_DESCRIPTOR_SET).expect("descriptors");
    let served = ["Eligibility", "DibaoProcedure", "StaffDirectory"];
    set.file
        .iter()
        .filter(|f| f.package() == "doudi.eligibility.v1")
        .flat_map(|f| f.service.iter())
        .filter(|s| served.contains(&s.name()))
        .flat_map(|s| s.method.iter().map(move |m| format!("/doudi.eligibility.v1.{}/{}", s.name(), m.name())))
        .collect()
}

async fn every_method_admits_only_its_callers(backend: Backend) {
    let t = spawn(backend).await;
    let addr = t.running.local_addr;
    let methods = served_methods();
    assert_eq!(methods.len(), ALLOW_LIST.0.len(), "the allow-list names every served method once");
    for method in &methods {
        assert!(ALLOW_LIST.rule(method).is_some(), "{method} has no rule");
    }

    // A certificate from a CA the suite does not trust does not even connect.
    let stranger = TestPki::new("a stranger's CA").identity("settlement");
    let endpoint = tonic::transport::Endpoint::from_shared(format!("https://{addr}")).expect("endpoint");
    let tls = tonic::transport::ClientTlsConfig::new()
        .ca_certificate(tonic::transport::Certificate::from_pem(suite().ca_pem()))
        .identity(tonic::transport::Identity::from_pem(stranger.cert_pem(), stranger.key_pem()));
    let stranger_channel = endpoint.tls_config(tls).expect("tls").connect().await;
    if let Ok(channel) = stranger_channel {
        // TLS 1.3 reports a refused client certificate on the first request, not the handshake.
        let mut health = tonic_health::pb::health_client::HealthClient::new(channel);
        assert!(health.check(tonic_health::pb::HealthCheckRequest::default()).await.is_err());
    }
    // Nor does plain text.
    let plain = tonic::transport::Endpoint::from_shared(format!("http://{addr}")).expect("endpoint");
    if let Ok(channel) = plain.connect().await {
        let mut health = tonic_health::pb::health_client::HealthClient::new(channel);
        assert!(health.check(tonic_health::pb::HealthCheckRequest::default()).await.is_err());
    }

    // The rules are the issue's, stated here independently of the list they check.
    use doudi_runtime::access::StaffMay;
    let payers: &[&str] = &["settlement", "payment"];
    let expected: Vec<(&str, &[&str], StaffMay)> = vec![
        ("Eligibility/GetCoverage", &["settlement"], StaffMay::Call),
        ("Eligibility/RegisterHousehold", &[], StaffMay::Call),
        ("Eligibility/GetHousehold", &[], StaffMay::Call),
        ("Eligibility/ListPremiumSubsidyPersons", payers, StaffMay::CountyOnly),
        ("DibaoProcedure/StreamBenefitRoll", payers, StaffMay::CountyOnly),
        ("DibaoProcedure/GetPaymentAccounts", &["payment", "relief"], StaffMay::No),
        ("StaffDirectory/CheckStaffToken", &doudi_runtime::access::service::ALL, StaffMay::No),
    ];
    for rule in ALLOW_LIST.0 {
        let named = rule.method.trim_start_matches("/doudi.eligibility.v1.");
        match expected.iter().find(|(m, ..)| *m == named) {
            Some((_, services, staff)) => assert_eq!((rule.services, rule.staff), (*services, *staff), "{named}"),
            // The procedure's steps: staff only, no service.
            None => assert!(named.starts_with("DibaoProcedure/") && rule.services.is_empty(), "{named}: {rule:?}"),
        }
    }
    doudi_testkit::access::every_rule_holds(addr, &ALLOW_LIST, &t.county_token).await;
    let anonymous = t.channel.clone();
    // Health answers anyone: balancers and probes carry no credentials.
    let mut health = tonic_health::pb::health_client::HealthClient::new(anonymous);
    health.check(tonic_health::pb::HealthCheckRequest::default()).await.expect("health is open");
}

async fn staff_tokens_are_checked_for_role_expiry_and_withdrawal(backend: Backend) {
    let t = spawn(backend).await;
    let store = t.service.store();
    let today = doudi_core::Date::today_china();
    let (clerk_id, clerk) = store
        .add_staff("城关镇 李干事", Role::Township, Some("城关镇"), today.add_days(10), "test")
        .await
        .expect("add");
    let (_, expired) = store
        .add_staff("城关镇 临时工", Role::Township, Some("城关镇"), today.add_days(-1), "test")
        .await
        .expect("add");
    let roll = "/doudi.eligibility.v1.DibaoProcedure/StreamBenefitRoll";
    let premium = "/doudi.eligibility.v1.Eligibility/ListPremiumSubsidyPersons";
    let waiting = "/doudi.eligibility.v1.DibaoProcedure/ListWaiting";
    let channel = &t.channel;
    for method in [roll, premium, "/doudi.eligibility.v1.DibaoProcedure/SetTownshipQuota"] {
        assert_eq!(code_of(channel, method, Some(&clerk)).await, Code::PermissionDenied, "{method}: county only");
    }
    assert!(!refused(code_of(channel, waiting, Some(&clerk)).await));
    assert_eq!(code_of(channel, waiting, Some(&expired)).await, Code::Unauthenticated);
    assert_eq!(code_of(channel, waiting, Some("st_1_00_forged")).await, Code::Unauthenticated);
    assert_eq!(code_of(channel, waiting, Some(&format!("{clerk}0"))).await, Code::Unauthenticated);
    store.revoke_staff(clerk_id, "test").await.expect("revoke");
    assert_eq!(code_of(channel, waiting, Some(&clerk)).await, Code::Unauthenticated, "withdrawn at once");

    // The other services ask the register: the same verdicts, for a service's certificate only.
    let mut directory = pb::staff_directory_client::StaffDirectoryClient::new(
        suite().channel_as(t.running.local_addr, "settlement").await,
    );
    let check = |token: &str| pb::CheckStaffTokenRequest { token: token.to_owned() };
    let county = directory.check_staff_token(check(&t.county_token)).await.expect("check").into_inner();
    assert_eq!(county.verdict(), pb::StaffTokenVerdict::StaffTokenValid);
    assert_eq!(county.staff.expect("holder").role(), pb::StaffRole::County);
    let withdrawn = directory.check_staff_token(check(&clerk)).await.expect("check").into_inner();
    assert_eq!(withdrawn.verdict(), pb::StaffTokenVerdict::StaffTokenUnknown);
    let old = directory.check_staff_token(check(&expired)).await.expect("check").into_inner();
    assert_eq!(
        (old.verdict(), old.expired_after),
        (pb::StaffTokenVerdict::StaffTokenExpired, today.add_days(-1).to_string())
    );
}

async fn township_staff_see_their_own_township_only(backend: Backend) {
    let t = spawn(backend).await;
    // The test rows are in 城关镇; H-WEST is moved to 河口乡.
    let west = row("H-WEST", 2, "HEAD", "TEKUN", "2015-01-01", "", "").replace("城关镇", "河口乡");
    let file = csv(&[row("H-EAST", 1, "HEAD", "DIBAO_2", "2015-01-01", "", ""), west]);
    t.service.import_csv(&file, "t.csv", "test", false).await.expect("import");
    let until = doudi_core::Date::today_china().add_days(10);
    let (_, clerk) =
        t.service.store().add_staff("城关镇 干事", Role::Township, Some("城关镇"), until, "test").await.expect("add");
    let mut client =
        pb::eligibility_client::EligibilityClient::new(doudi_testkit::with_token(t.channel.clone(), &clerk));
    let coverage = |n: u32| pb::GetCoverageRequest { national_id: person_id(n), date: "2016-03-10".into() };
    let own = client.get_coverage(coverage(1)).await.expect("own township").into_inner();
    assert_eq!(own.category(), pb::Category::Dibao2);
    let other = client.get_coverage(coverage(2)).await.expect_err("another township's person");
    assert_eq!(other.code(), Code::PermissionDenied);
    let other = client.get_household(pb::GetHouseholdRequest { household_no: "H-WEST".into() }).await;
    assert_eq!(other.expect_err("another township's household").code(), Code::NotFound);
    // County staff see both.
    let mut county = t.client.clone();
    assert_eq!(county.get_coverage(coverage(2)).await.expect("county").into_inner().category(), pb::Category::Tekun);
    let unknown = client.get_coverage(coverage(99)).await.expect_err("a person nobody registered");
    assert_eq!(unknown.code(), Code::PermissionDenied, "refused exactly as another township's person");
    client.get_household(pb::GetHouseholdRequest { household_no: "H-EAST".into() }).await.expect("own household");
    let elsewhere = pb::RegisterHouseholdRequest {
        household_no: "H-NEW".into(),
        township: "另一乡".into(),
        village: "村".into(),
        address: "1 号".into(),
        members: vec![pb::MemberInput {
            national_id: person_id(3),
            name: "新户".into(),
            relation: pb::Relation::Head as i32,
            able_to_work: true,
            ..Default::default()
        }],
        ..Default::default()
    };
    let refused = client.register_household(elsewhere).await.expect_err("registering in another township");
    assert_eq!(refused.code(), Code::PermissionDenied);
}
