//! Who may call relief, through the real service: the allow-list's every rule tried without
//! credentials, with each suite service's certificate and with a county token (relief is decided
//! by people: no certificate is admitted on its own); a person not in the registry is paid
//! into the account the case names, under their full name; `doudi check`'s invariants name a
//! budget changed behind the grants' back.

mod common;

use common::spawn;
use doudi_proto::relief::v1 as pb;
use doudi_testkit::Backend;

doudi_testkit::conformance!(every_rule_holds_and_a_stranger_is_paid_by_name);

async fn every_rule_holds_and_a_stranger_is_paid_by_name(backend: Backend) {
    let d = spawn(backend, 1).await;
    assert!(doudi_relief::access::ALLOW_LIST.0.iter().all(|rule| rule.services.is_empty()), "staff only");
    doudi_testkit::access::every_rule_holds(d.running.local_addr, &doudi_relief::access::ALLOW_LIST, &d.county).await;

    d.budget(1_000_000).await;
    let s = d.standard();
    let mut clerk = d.client(&d.clerk).await;
    let person =
        pb::Person { name: "赵六".into(), national_id: doudi_testkit::person_id(4242), township: "城关镇".into() };
    let mut request = common::case_of("", pb::CaseKind::Emergency);
    request.person = Some(person.clone());
    // Not registered, and no account named: there is nothing to pay into.
    let id = clerk.submit_case(request.clone()).await.expect("submit").into_inner().id;
    let none =
        clerk.grant_emergency(pb::GrantEmergencyRequest { case_id: id, amount_fen: s, note: String::new() }).await;
    assert_eq!(none.unwrap_err().code(), tonic::Code::InvalidArgument);
    request.account = "6222020000001234".into();
    let case = clerk.submit_case(request).await.expect("submit").into_inner();
    assert_eq!((case.person_name.as_str(), case.household_no.as_str()), ("赵*", ""));
    assert!(case.national_id.contains('*') && !case.national_id.contains(&person.national_id[6..14]));
    clerk
        .grant_emergency(pb::GrantEmergencyRequest { case_id: case.id, amount_fen: s, note: String::new() })
        .await
        .expect("grant");
    let paid = d.relief_payments(1).await;
    assert_eq!((paid[0].payee_kind, paid[0].payee_name.as_str()), (doudi_payment::funds::PayeeKind::Account, "赵六"));
    assert_eq!(paid[0].account_masked, "****1234");

    // The invariants hold, and name a budget changed behind the grants' back.
    assert!(d.relief.store().problems().await.unwrap().is_empty());
    sqlx::query("UPDATE relief_budgets SET granted_fen = granted_fen - 1")
        .execute(d.relief.store().db().writes())
        .await
        .unwrap();
    let problems = d.relief.store().problems().await.unwrap();
    assert!(problems.iter().any(|p| p.contains("relief budget")), "{problems:?}");
}
