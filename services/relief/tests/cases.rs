//! Temporary relief through the real services, on SQLite and PostgreSQL: every limit of
//! policy.md (the township's 3 S, the county's 12 S, the special approval above, 2 grants and
//! 12 S per household per year, the emergency path's 3 S and the top-up that counts as the same
//! grant), 50 concurrent approvals against a budget for 10, the emergency grant paid before its
//! paperwork and OVERDUE after 10 days, and bad input refused field by field, changing nothing.

mod common;

use common::{Deployment, OTHER_TOWNSHIP, case_of, document, household, spawn};
use doudi_proto::relief::v1 as pb;
use doudi_testkit::Backend;
use tonic::Code;

doudi_testkit::conformance!(
    every_limit_holds_and_says_which,
    fifty_concurrent_approvals_grant_exactly_what_the_budget_covers,
    an_emergency_grant_is_paid_first_and_its_paperwork_falls_overdue,
    bad_input_is_refused_by_field_and_changes_nothing,
);

fn refused(status: &tonic::Status, code: Code, says: &[&str]) {
    assert_eq!(status.code(), code, "{status:?}");
    for word in says {
        assert!(status.message().contains(word), "{:?} does not say {word:?}", status.message());
    }
}

async fn approve(d: &Deployment, token: &str, id: i64, fen: i64, special: &str) -> Result<pb::Case, tonic::Status> {
    let request =
        pb::ApproveCaseRequest { case_id: id, amount_fen: fen, special_approval: special.into(), note: String::new() };
    d.client(token).await.approve_case(request).await.map(|r| r.into_inner())
}

async fn every_limit_holds_and_says_which(backend: Backend) {
    let d = spawn(backend, 8).await;
    d.budget(1_000_000_000).await;
    let s = d.standard();
    let (clerk, county) = (d.clerk.clone(), d.county.clone());

    // The township decides up to 3 S, not a fen more.
    let a = d.reviewed(1, pb::CaseKind::Expenditure).await;
    let over = approve(&d, &clerk, a, 3 * s + 1, "").await.unwrap_err();
    refused(&over, Code::FailedPrecondition, &["township", &(3 * s).to_string(), "1 fen over"]);
    let granted = approve(&d, &clerk, a, 3 * s, "").await.expect("3 S by the township");
    assert_eq!((granted.state(), granted.granted_fen), (pb::CaseState::Approved, 3 * s));
    assert_eq!(granted.grants[0].authority, "TOWNSHIP");
    assert_eq!(granted.grants[0].standard_fen, s);

    // The county up to 12 S; above only with a special approval, which only the county records.
    let b = d.reviewed(2, pb::CaseKind::Expenditure).await;
    refused(&approve(&d, &county, b, 12 * s + 1, "").await.unwrap_err(), Code::FailedPrecondition, &["county"]);
    refused(&approve(&d, &clerk, b, 13 * s, "县长特批").await.unwrap_err(), Code::PermissionDenied, &["special"]);
    let special = approve(&d, &county, b, 13 * s, "县政府专题会议纪要 2016-7 特批").await.expect("special approval");
    assert_eq!(
        (special.grants[0].authority.as_str(), special.special_approval.as_str()),
        ("SPECIAL", "县政府专题会议纪要 2016-7 特批")
    );

    // A household: 2 grants a year, and 12 S; what is left and how much over.
    let c1 = d.reviewed(3, pb::CaseKind::Expenditure).await;
    approve(&d, &county, c1, 9 * s, "").await.expect("9 S");
    let c2 = d.reviewed(3, pb::CaseKind::Expenditure).await;
    let over = approve(&d, &county, c2, 4 * s, "").await.unwrap_err();
    refused(
        &over,
        Code::FailedPrecondition,
        &["12 S a year", &format!("{} fen left", 3 * s), &format!("{s} fen over")],
    );
    approve(&d, &county, c2, 3 * s, "").await.expect("the last 3 S");
    let c3 = d.reviewed(3, pb::CaseKind::Expenditure).await;
    refused(&approve(&d, &county, c3, 100, "").await.unwrap_err(), Code::FailedPrecondition, &["2 grants a year"]);
    let year = d
        .client(&county)
        .await
        .household_grants(pb::HouseholdGrantsRequest { household_no: household(3), year: d.year() })
        .await
        .expect("household grants")
        .into_inner();
    assert_eq!((year.grants_used, year.granted_fen, year.grants_left, year.fen_left), (2, 12 * s, 0, 0));

    // The emergency path: 3 S at most; the county's top-up is the same grant, and adds up.
    let e = d.submitted(4, pb::CaseKind::Emergency).await;
    let mut township = d.client(&clerk).await;
    let over = township
        .grant_emergency(pb::GrantEmergencyRequest { case_id: e, amount_fen: 3 * s + 1, note: String::new() })
        .await
        .unwrap_err();
    refused(&over, Code::FailedPrecondition, &["emergency"]);
    township
        .grant_emergency(pb::GrantEmergencyRequest { case_id: e, amount_fen: 3 * s, note: String::new() })
        .await
        .expect("emergency");
    refused(
        &approve(&d, &county, e, 10 * s, "").await.unwrap_err(),
        Code::FailedPrecondition,
        &["county", &format!("{} fen left", 9 * s)],
    );
    let topped = approve(&d, &county, e, 9 * s, "").await.expect("the county's record with a top-up");
    assert_eq!((topped.state(), topped.granted_fen, topped.grants.len()), (pb::CaseState::Approved, 12 * s, 2));
    let year = d
        .client(&county)
        .await
        .household_grants(pb::HouseholdGrantsRequest { household_no: household(4), year: d.year() })
        .await
        .unwrap()
        .into_inner();
    assert_eq!((year.grants_used, year.granted_fen), (1, 12 * s), "one grant, its parts added up");

    // Every grant reached the payment service once: 3 S, 13 S, 9 S, 3 S, 3 S and 9 S.
    let paid = d.relief_payments(6).await;
    let mut amounts: Vec<i64> = paid.iter().map(|i| i.amount).collect();
    amounts.sort_unstable();
    assert_eq!(amounts, [3 * s, 3 * s, 3 * s, 9 * s, 9 * s, 13 * s]);
    assert!(paid.iter().all(|i| i.source == "relief" && i.payee_kind == doudi_payment::funds::PayeeKind::Household));
    let budget =
        d.client(&county).await.get_budget(pb::GetBudgetRequest { year: d.year() }).await.unwrap().into_inner();
    assert_eq!(budget.granted_fen, 40 * s);
}

async fn fifty_concurrent_approvals_grant_exactly_what_the_budget_covers(backend: Backend) {
    let d = spawn(backend, 50).await;
    let s = d.standard();
    d.budget(10 * 2 * s).await;
    let mut cases = Vec::new();
    for n in 1..=50 {
        cases.push(d.reviewed(n, pb::CaseKind::Expenditure).await);
    }
    let mut clients = Vec::new();
    for _ in 0..50 {
        clients.push(d.client(&d.county).await);
    }
    let approvals = cases.iter().zip(clients).map(|(id, mut client)| async move {
        let request = pb::ApproveCaseRequest { case_id: *id, amount_fen: 2 * s, ..Default::default() };
        client.approve_case(request).await
    });
    let outcomes = futures_util::future::join_all(approvals).await;
    let granted = outcomes.iter().filter(|o| o.is_ok()).count();
    assert_eq!(granted, 10, "{:?}", outcomes.iter().filter_map(|o| o.as_ref().err()).take(3).collect::<Vec<_>>());
    for refusal in outcomes.iter().filter_map(|o| o.as_ref().err()) {
        refused(refusal, Code::FailedPrecondition, &["budget"]);
    }
    let budget = d.relief.budget(i64::from(d.year())).await.unwrap();
    assert_eq!((budget.granted_fen, budget.available_fen()), (20 * s, 0), "spent to the fen, never below");
    assert_eq!(d.relief_payments(10).await.len(), 10);
}

async fn an_emergency_grant_is_paid_first_and_its_paperwork_falls_overdue(backend: Backend) {
    let d = spawn(backend, 3).await;
    d.budget(1_000_000_000).await;
    let s = d.standard();
    let today = d.relief.clock().today();
    let mut clerk = d.client(&d.clerk).await;
    let mut request = case_of(&household(1), pb::CaseKind::Emergency);
    request.documents.clear();
    let id = clerk.submit_case(request).await.unwrap().into_inner().id;
    let other = d.reviewed(2, pb::CaseKind::Expenditure).await;
    let granted = clerk
        .grant_emergency(pb::GrantEmergencyRequest { case_id: id, amount_fen: 2 * s, note: "火灾".into() })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(granted.state(), pb::CaseState::EmergencyGranted);
    assert_eq!(granted.paperwork_due, today.add_days(10).to_string());
    // Paid before any paperwork: the instruction is in the payment service, approved.
    let paid = d.relief_payments(1).await;
    assert_eq!((paid[0].amount, paid[0].state), (2 * s, doudi_payment::funds::State::Approved));
    assert_eq!(paid[0].source_ref, format!("case:{id}:grant:1"));

    // Ten days on it is still due; the eleventh, OVERDUE, and listed first.
    d.relief.clock().set_today(today.add_days(10));
    let case = clerk.get_case(pb::GetCaseRequest { id }).await.unwrap().into_inner();
    assert_eq!(case.state(), pb::CaseState::EmergencyGranted);
    d.relief.clock().set_today(today.add_days(11));
    let case = clerk.get_case(pb::GetCaseRequest { id }).await.unwrap().into_inner();
    assert_eq!(case.state(), pb::CaseState::Overdue);
    let listed = clerk.list_cases(pb::ListCasesRequest::default()).await.unwrap().into_inner();
    assert_eq!(listed.cases.iter().map(|c| c.id).collect::<Vec<_>>(), [id, other], "OVERDUE first");
    let overdue = clerk
        .list_cases(pb::ListCasesRequest { state: pb::CaseState::Overdue as i32, ..Default::default() })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(overdue.cases.len(), 1);

    // The county's record needs the documents; completed late, and recorded as late.
    refused(&approve(&d, &d.county, id, 0, "").await.unwrap_err(), Code::InvalidArgument, &["documents"]);
    clerk
        .add_documents(pb::AddDocumentsRequest {
            case_id: id,
            documents: vec![document("火灾证明"), document("户口簿")],
        })
        .await
        .unwrap();
    refused(&approve(&d, &d.clerk, id, 0, "").await.unwrap_err(), Code::PermissionDenied, &["county"]);
    let done = approve(&d, &d.county, id, 0, "补齐材料").await.expect("the county's record");
    assert_eq!(
        (done.state(), done.paperwork_late, done.paperwork_done_on),
        (pb::CaseState::Approved, true, today.add_days(11).to_string())
    );
    assert_eq!(done.documents.len(), 2);
    assert_eq!(d.relief_payments(1).await.len(), 1, "a record without a top-up pays nothing more");
}

async fn bad_input_is_refused_by_field_and_changes_nothing(backend: Backend) {
    let d = spawn(backend, 2).await;
    d.budget(1_000_000_000).await;
    let mut clerk = d.client(&d.clerk).await;
    let field_of = |status: &tonic::Status| -> Vec<String> {
        let details = tonic_types::StatusExt::get_details_bad_request(status).expect("field details");
        details.field_violations.iter().map(|v| v.field.clone()).collect()
    };
    let cases: Vec<(&str, pb::SubmitCaseRequest)> = vec![
        (
            "householdNo",
            pb::SubmitCaseRequest { household_no: "NOSUCH".into(), ..case_of("NOSUCH", pb::CaseKind::Emergency) },
        ),
        ("askedFen", pb::SubmitCaseRequest { asked_fen: 0, ..case_of(&household(1), pb::CaseKind::Emergency) }),
        ("askedFen", pb::SubmitCaseRequest { asked_fen: -5, ..case_of(&household(1), pb::CaseKind::Emergency) }),
        ("kind", pb::SubmitCaseRequest { kind: 0, ..case_of(&household(1), pb::CaseKind::Emergency) }),
        ("kind", pb::SubmitCaseRequest { kind: 99, ..case_of(&household(1), pb::CaseKind::Emergency) }),
        (
            "occurredOn",
            pb::SubmitCaseRequest {
                occurred_on: doudi_core::Date::today_china().add_days(1).to_string(),
                ..case_of(&household(1), pb::CaseKind::Emergency)
            },
        ),
        (
            "person.nationalId",
            pb::SubmitCaseRequest {
                household_no: String::new(),
                person: Some(pb::Person {
                    name: "王五".into(),
                    national_id: "110101199003070000".into(),
                    township: "城关镇".into(),
                }),
                ..case_of("", pb::CaseKind::Emergency)
            },
        ),
        (
            "documents[0].sha256",
            pb::SubmitCaseRequest {
                documents: vec![pb::Document { name: "x".into(), kind: "y".into(), sha256: "not-a-hash".into() }],
                ..case_of(&household(1), pb::CaseKind::Emergency)
            },
        ),
    ];
    for (field, request) in cases {
        let status = clerk.submit_case(request).await.expect_err(field);
        let code = status.code();
        assert!(matches!(code, Code::InvalidArgument), "{field}: {status:?}");
        assert!(field_of(&status).iter().any(|f| f == field), "{field}: {:?}", field_of(&status));
    }
    // The wrong township, the wrong role: refused. (Eligibility does not even tell another
    // township's clerk that the household exists.)
    let mut other = d.client(&d.other_clerk).await;
    let status = other.submit_case(case_of(&household(1), pb::CaseKind::Emergency)).await.unwrap_err();
    assert_eq!(
        (status.code(), field_of(&status)),
        (Code::InvalidArgument, vec!["householdNo".to_owned()]),
        "{status:?}"
    );
    let person =
        pb::Person { name: "王五".into(), national_id: doudi_testkit::person_id(77), township: "城关镇".into() };
    let stranger = pb::SubmitCaseRequest {
        household_no: String::new(),
        person: Some(person),
        ..case_of("", pb::CaseKind::Emergency)
    };
    let status = other.submit_case(stranger).await.unwrap_err();
    refused(&status, Code::PermissionDenied, &["城关镇"]);
    assert_eq!(field_of(&status), ["township"], "a field-level error");
    let id = d.reviewed(2, pb::CaseKind::Expenditure).await;
    refused(&other.get_case(pb::GetCaseRequest { id }).await.unwrap_err(), Code::PermissionDenied, &[OTHER_TOWNSHIP]);
    let status = approve(&d, &d.other_clerk, id, 100, "").await.unwrap_err();
    assert_eq!((status.code(), field_of(&status)), (Code::PermissionDenied, vec!["township".to_owned()]));
    let status = approve(&d, &d.clerk, id, 100, "县长特批").await.unwrap_err();
    assert_eq!((status.code(), field_of(&status)), (Code::PermissionDenied, vec!["specialApproval".to_owned()]));
    refused(&approve(&d, &d.clerk, id, 0, "").await.unwrap_err(), Code::InvalidArgument, &[]);
    // Nothing was made but the one good case; nothing was paid.
    let listed = d.client(&d.county).await.list_cases(pb::ListCasesRequest::default()).await.unwrap().into_inner();
    assert_eq!(listed.cases.iter().map(|c| c.id).collect::<Vec<_>>(), [id]);
    assert_eq!(d.relief.budget(i64::from(d.year())).await.unwrap().granted_fen, 0);
}
