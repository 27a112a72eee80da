//! One-stop settlement as hospitals meet it, on SQLite and on PostgreSQL: worked examples,
//! idempotency, concurrency, reversal, isolation between hospitals, bad input, keys, limits,
//! reconciliation and premium subsidies.
//!
//! One file because `doudi_testkit::conformance!` lists every scenario once for both backends.

mod common;

use common::{DIBAO2, TEKUN, UNKNOWN, amounts, authed, http, inpatient, spawn, spawn_with};
use doudi_core::policy::PolicySet;
use doudi_core::{Category, Fen};
use doudi_proto::hospital::v1 as hpb;
use doudi_proto::settlement::v1 as pb;
use doudi_proto::settlement::v1::settlements_client::SettlementsClient;
use doudi_runtime::error::field_violations;
use doudi_settlement::outbox::Event;
use doudi_settlement::settle::engine::{assistance_due, critical_illness_due};
use doudi_testkit::{Backend, person_id};
use std::time::{Duration, Instant};
use tonic::Code;

doudi_testkit::conformance!(
    worked_examples_over_grpc_and_http,
    identical_submissions_settle_once,
    same_bill_number_with_other_content_is_refused,
    concurrent_bills_of_one_person_match_the_closed_form,
    reversal_restores_every_accumulator_and_stays_reversed,
    year_totals_need_a_settled_bill_of_the_patient_that_year,
    every_read_of_a_person_by_a_hospital_is_in_the_access_log,
    hospitals_see_only_their_own_settlements,
    bad_input_gets_field_errors_and_changes_nothing,
    keys_are_required_and_revocation_takes_effect_within_a_second,
    each_hospital_is_rate_limited,
    quotes_have_their_own_rate,
    an_address_guessing_keys_is_paused,
    a_request_past_its_deadline_gets_a_json_error,
    unknown_person_settles_as_none,
    eligibility_down_means_unavailable_and_nothing_settled,
    reconciliation_nets_settlements_and_reversals,
    premium_subsidies_are_recorded_once_per_person_and_year,
);

fn b1() -> pb::Bill {
    inpatient("B1", DIBAO2, "2016-03-01", "2016-03-10", 2_000_000, 1_800_000)
}

fn b1_json() -> String {
    serde_json::to_string(&b1()).expect("canonical JSON")
}

async fn worked_examples_over_grpc_and_http(backend: Backend) {
    let suite = spawn(backend).await;
    let mut client = suite.client();
    // B1 at a COUNTY hospital, over gRPC.
    let first = client.settle(authed(&suite.county_key, b1())).await.expect("settle B1").into_inner();
    assert_eq!(amounts(&first), (1_327_500, 111_250, 252_875, 308_375));
    assert_eq!(first.status, pb::SettlementStatus::Settled as i32);
    assert_eq!(first.category, doudi_proto::eligibility::v1::Category::Dibao2 as i32);
    assert_eq!(first.policy_version, "ref-2016-01");
    assert_eq!(first.national_id, format!("{}********{}", &person_id(DIBAO2)[..6], &person_id(DIBAO2)[14..]));
    let trace: Vec<(i64, i64, i64, i64)> =
        first.trace.iter().map(|t| (t.base_fen, t.deductible_fen, t.rate_bp, t.amount_fen)).collect();
    assert_eq!(
        trace,
        [(1_800_000, 30_000, 7_500, 1_327_500), (472_500, 250_000, 5_000, 111_250), (361_250, 0, 7_000, 252_875)]
    );

    // B2 at a MUNICIPAL hospital, over HTTP/JSON: a quote first (changes nothing), then settle.
    let b2 = r#"{"billNo":"B2","nationalId":"ID","visitType":"INPATIENT","admittedOn":"2016-08-20","dischargedOn":"2016-09-02","totalFen":9000000,"inPolicyFen":"8500000"}"#
        .replace("ID", &person_id(DIBAO2));
    let (status, quote) = http(suite.http, "POST", "/v1/settlements:quote", Some(&suite.municipal_key), &b2).await;
    assert_eq!(status, 200, "{quote}");
    assert_eq!((quote["status"].as_str(), quote["settlementId"].as_str()), (Some("QUOTED"), Some("")));
    let totals_request =
        || authed(&suite.county_key, hpb::YearTotalsRequest { national_id: person_id(DIBAO2), year: 2016 });
    let after_b1 = client.year_totals(totals_request()).await.expect("year totals").into_inner();
    assert_eq!((after_b1.medical_assistance_paid_fen, after_b1.settled_bills), (252_875, 1), "a quote changes nothing");

    let (status, second) = http(suite.http, "POST", "/v1/settlements", Some(&suite.municipal_key), &b2).await;
    assert_eq!(status, 200, "{second}");
    for (field, value) in [
        ("status", "SETTLED"),
        ("category", "DIBAO_2"),
        ("totalFen", "9000000"),
        ("inPolicyFen", "8500000"),
        ("basicInsuranceFen", "5052000"),
        ("criticalIllnessFen", "1724000"),
        ("medicalAssistanceFen", "1206800"),
        ("patientCopayFen", "1017200"),
    ] {
        assert_eq!(second[field].as_str(), Some(value), "{field} in {second}");
    }
    assert_eq!(second["trace"][1]["payer"], "CRITICAL_ILLNESS");
    assert_eq!(second["trace"][1]["yearBaseBeforeFen"], "472500");
    assert_eq!(second["trace"][2]["paidBeforeFen"], "252875");
    quote.as_object().expect("object").iter().filter(|(k, _)| k.ends_with("Fen")).for_each(|(k, v)| {
        assert_eq!(&second[k], v, "the quote's {k} is what settling gave");
    });

    // Found again by id and by bill number, over both transports.
    let id = second["settlementId"].as_str().expect("id").to_owned();
    let (status, by_id) =
        http(suite.http, "GET", &format!("/v1/settlements/{id}"), Some(&suite.municipal_key), "").await;
    assert_eq!((status, &by_id), (200, &second));
    let (status, by_bill) = http(suite.http, "GET", "/v1/settlements?billNo=B2", Some(&suite.municipal_key), "").await;
    assert_eq!((status, &by_bill), (200, &second));
    let found = client
        .find_settlement(authed(&suite.county_key, hpb::FindSettlementRequest { bill_no: "B1".into() }))
        .await
        .expect("find")
        .into_inner();
    assert_eq!(found, first);
    let year = client.year_totals(totals_request()).await.expect("year totals").into_inner();
    assert_eq!(
        (year.critical_illness_paid_fen, year.medical_assistance_paid_fen, year.medical_assistance_room_fen),
        (111_250 + 1_724_000, 252_875 + 1_206_800, 3_000_000 - 252_875 - 1_206_800)
    );
}

async fn identical_submissions_settle_once(backend: Backend) {
    let suite = spawn(backend).await;
    let calls = (0..64).map(|_| {
        let mut client = suite.client();
        let request = authed(&suite.county_key, b1());
        tokio::spawn(async move { client.settle(request).await.map(tonic::Response::into_inner) })
    });
    let answers: Vec<pb::Settlement> = futures_util::future::join_all(calls)
        .await
        .into_iter()
        .map(|joined| joined.expect("task").expect("every identical submission succeeds"))
        .collect();
    assert!(answers.iter().all(|a| *a == answers[0]), "64 identical answers");
    assert_eq!(amounts(&answers[0]), (1_327_500, 111_250, 252_875, 308_375));
    assert_eq!(suite.settlements_stored().await, 1);
    assert!(suite.settlement_service.store().accumulator_mismatches().await.expect("check").is_empty());
}

async fn same_bill_number_with_other_content_is_refused(backend: Backend) {
    let suite = spawn(backend).await;
    let mut client = suite.client();
    let first = client.settle(authed(&suite.county_key, b1())).await.expect("settle").into_inner();
    let mut changed = b1();
    changed.total_fen += 1;
    let status = client.settle(authed(&suite.county_key, changed)).await.expect_err("refused");
    assert_eq!(status.code(), Code::AlreadyExists);
    assert!(status.message().contains("bill B1"), "{}", status.message());
    assert_eq!(field_violations(&status)[0].field, "billNo");
    // Another hospital's B1 is another bill.
    let elsewhere = client.settle(authed(&suite.other_key, b1())).await.expect("other hospital").into_inner();
    assert_ne!(elsewhere.settlement_id, first.settlement_id);
    assert_eq!(suite.settlements_stored().await, 2);
}

async fn concurrent_bills_of_one_person_match_the_closed_form(backend: Backend) {
    let suite = spawn(backend).await;
    let mut seed: u64 = 0x2545_f491_4f6c_dd1d;
    let mut next = move |n: u64| {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed % n
    };
    let bills: Vec<pb::Bill> = (0..200)
        .map(|i| {
            let in_policy = 1_000 + next(400_000) as i64;
            let day = doudi_core::Date::from_ymd(2016, 1, 1).expect("date").add_days(next(360) as i64).to_string();
            inpatient(&format!("C{i}"), DIBAO2, &day, &day, in_policy + next(50_000) as i64, in_policy)
        })
        .collect();
    let calls = bills.iter().cloned().enumerate().map(|(i, bill)| {
        let mut client = suite.client();
        let key = if i % 2 == 0 { suite.county_key.clone() } else { suite.other_key.clone() };
        tokio::spawn(async move { client.settle(authed(&key, bill)).await.map(tonic::Response::into_inner) })
    });
    let settled: Vec<pb::Settlement> = futures_util::future::join_all(calls)
        .await
        .into_iter()
        .map(|joined| joined.expect("task").expect("settled"))
        .collect();
    let sum = |f: fn(&pb::Settlement) -> i64| settled.iter().map(f).sum::<i64>();
    let year = suite
        .client()
        .year_totals(authed(&suite.county_key, hpb::YearTotalsRequest { national_id: person_id(DIBAO2), year: 2016 }))
        .await
        .expect("year totals")
        .into_inner();
    assert_eq!(year.settled_bills, 200);
    assert_eq!(year.basic_inpatient_paid_fen, sum(|s| s.basic_insurance_fen));
    assert_eq!(year.critical_illness_base_fen, sum(|s| s.in_policy_fen - s.basic_insurance_fen));
    assert_eq!(year.critical_illness_paid_fen, sum(|s| s.critical_illness_fen));
    assert_eq!(year.medical_assistance_paid_fen, sum(|s| s.medical_assistance_fen));
    let policy = PolicySet::reference();
    let policy = policy.in_force_on("2016-06-01".parse().expect("day")).expect("policy");
    let ci = &policy.critical_illness;
    let (f2, _) = critical_illness_due(
        Fen(year.critical_illness_base_fen),
        ci.poor_threshold_fen,
        &ci.segments,
        ci.annual_cap_fen,
    )
    .expect("F2");
    assert_eq!(year.critical_illness_paid_fen, f2.0, "yearly payer 2 = F2(yearly base)");
    let rule = policy.medical_assistance[&Category::Dibao2];
    let f3 =
        assistance_due(Fen(year.medical_assistance_base_fen), rule.deductible_fen, rule.rate_bp, rule.annual_cap_fen)
            .expect("F3");
    assert_eq!(year.medical_assistance_paid_fen, f3.0, "yearly payer 3 = F3(yearly base)");
    assert!(year.basic_inpatient_paid_fen <= policy.basic_insurance.inpatient_annual_cap_fen.0);
    assert!(suite.settlement_service.store().accumulator_mismatches().await.expect("check").is_empty());
}

async fn reversal_restores_every_accumulator_and_stays_reversed(backend: Backend) {
    let suite = spawn(backend).await;
    let mut client = suite.client();
    let key = &suite.county_key;
    client.settle(authed(key, b1())).await.expect("settle B1");
    let totals = || authed(key, hpb::YearTotalsRequest { national_id: person_id(DIBAO2), year: 2016 });
    let before = client.year_totals(totals()).await.expect("totals").into_inner();
    let later = inpatient("B3", DIBAO2, "2016-05-01", "2016-05-09", 3_000_000, 2_900_000);
    let settled = client.settle(authed(key, later.clone())).await.expect("settle B3").into_inner();
    assert!(settled.medical_assistance_fen > 0);
    let reverse = || {
        authed(key, hpb::ReverseRequest { settlement_id: settled.settlement_id.clone(), reason: "wrong ward".into() })
    };
    let reversed = client.reverse(reverse()).await.expect("reverse").into_inner();
    assert_eq!(reversed.status, pb::SettlementStatus::Reversed as i32);
    assert_eq!((reversed.reverse_reason.as_str(), amounts(&reversed)), ("wrong ward", amounts(&settled)));
    let after = client.year_totals(totals()).await.expect("totals").into_inner();
    assert_eq!(after, before, "every accumulator back to before the reversed bill");
    // Reversing again, or settling the same bill again, answers the reversed settlement.
    assert_eq!(client.reverse(reverse()).await.expect("again").into_inner(), reversed);
    assert_eq!(client.settle(authed(key, later)).await.expect("same bill").into_inner(), reversed);
    assert_eq!(client.year_totals(totals()).await.expect("totals").into_inner(), before);
    // The hospital's payable and its refund wait in the outbox.
    let outbox = suite.settlement_service.store().outbox_pending(100).await.expect("outbox");
    let keys: Vec<&str> = outbox.iter().map(|m| m.key.as_str()).collect();
    assert!(keys.contains(&format!("settle:{}", settled.settlement_id).as_str()), "{keys:?}");
    assert!(keys.contains(&format!("reverse:{}", settled.settlement_id).as_str()), "{keys:?}");
    let refund = outbox.iter().find(|m| m.key.starts_with("reverse:")).expect("refund");
    let Event::Reversal(refund) = &refund.event else { panic!("a reversal: {refund:?}") };
    assert_eq!(refund.medical_assistance_fen, -settled.medical_assistance_fen);
    // The reversal is in the settlement service's audit chain, with who asked and why.
    let store = suite.settlement_service.store();
    let report = doudi_runtime::audit::verify(store.db().reads(), store.cipher()).await.expect("verify");
    assert_eq!(report, doudi_runtime::audit::ChainReport::Intact { records: 1 });
    let (action, entity_key, after): (String, String, String) =
        sqlx::query_as("SELECT action, entity_key, after_json FROM audit_log WHERE seq = 1")
            .fetch_one(store.db().reads())
            .await
            .expect("record");
    assert_eq!((action.as_str(), entity_key.as_str()), ("settlement.reverse", settled.settlement_id.as_str()));
    assert!(after.contains("wrong ward"), "{after}");
    // Over HTTP, with a reason required.
    let (status, body) = http(
        suite.http,
        "POST",
        &format!("/v1/settlements/{}:reverse", settled.settlement_id),
        Some(key),
        r#"{"reason":""}"#,
    )
    .await;
    assert_eq!((status, body["details"][0]["field"].as_str()), (400, Some("reason")));
    assert!(suite.settlement_service.store().accumulator_mismatches().await.expect("check").is_empty());
}

/// A hospital reads a patient's year only while it holds a SETTLED bill of theirs in that year
/// (PIPL: no access left behind by a reversed bill).
async fn year_totals_need_a_settled_bill_of_the_patient_that_year(backend: Backend) {
    let suite = spawn(backend).await;
    let mut client = suite.client();
    let key = &suite.other_key;
    let totals = |year| authed(key, hpb::YearTotalsRequest { national_id: person_id(TEKUN), year });
    assert_eq!(client.year_totals(totals(2016)).await.expect_err("no bill yet").code(), Code::NotFound);
    let bill = inpatient("T1", TEKUN, "2016-04-01", "2016-04-05", 500_000, 450_000);
    let settled = client.settle(authed(key, bill)).await.expect("settle").into_inner();
    assert_eq!(client.year_totals(totals(2016)).await.expect("while settled").into_inner().settled_bills, 1);
    assert_eq!(client.year_totals(totals(2015)).await.expect_err("another year").code(), Code::NotFound);
    let reverse = hpb::ReverseRequest { settlement_id: settled.settlement_id, reason: "duplicate".into() };
    client.reverse(authed(key, reverse)).await.expect("reverse");
    let status = client.year_totals(totals(2016)).await.expect_err("its only bill was reversed");
    assert_eq!(status.code(), Code::NotFound);
}

/// PIPL: every quote, settlement and year-totals read is logged (hospital, person, what, when,
/// outcome), a settlement in its own transaction; county staff list it by person or hospital.
async fn every_read_of_a_person_by_a_hospital_is_in_the_access_log(backend: Backend) {
    let suite = spawn(backend).await;
    let mut client = suite.client();
    let key = &suite.county_key;
    let totals = || authed(key, hpb::YearTotalsRequest { national_id: person_id(DIBAO2), year: 2016 });
    client.year_totals(totals()).await.expect_err("no bill yet");
    client.quote(authed(key, b1())).await.expect("quote");
    let settled = client.settle(authed(key, b1())).await.expect("settle").into_inner();
    client.settle(authed(key, b1())).await.expect("the same bill again");
    client.year_totals(totals()).await.expect("totals");
    let other = inpatient("X1", TEKUN, "2016-03-01", "2016-03-02", 100_000, 100_000);
    client.settle(authed(&suite.other_key, other)).await.expect("another hospital, another person");

    let store = suite.settlement_service.store();
    let (from, to) = ("2015-01-01".parse().unwrap(), doudi_core::Date::today_china());
    let id = doudi_core::NationalId::parse(&person_id(DIBAO2)).unwrap();
    let lines = store.access_by_person(&id, from, to).await.expect("by person");
    let seen: Vec<(&str, &str, &str)> =
        lines.iter().map(|l| (l.action.as_str(), l.outcome.as_str(), l.reference.as_str())).collect();
    let id_text = settled.settlement_id.as_str();
    assert_eq!(
        seen,
        [
            ("YEAR_TOTALS", "NOT_FOUND", "2016"),
            ("QUOTE", "ANSWERED", "B1"),
            ("SETTLE", "ANSWERED", id_text),
            ("SETTLE", "ANSWERED", id_text),
            ("YEAR_TOTALS", "ANSWERED", "2016"),
        ]
    );
    assert!(lines.iter().all(|l| l.national_id == id.masked() && !l.at.is_empty()), "{lines:?}");
    let county = lines[0].hospital_code.clone();
    assert!(lines.iter().all(|l| l.hospital_code == county));
    let by_hospital = store.access_by_hospital(&county, from, to).await.expect("by hospital");
    assert_eq!(by_hospital, lines, "the county hospital looked at no one else");
    let before = store.access_by_person(&id, from, "2015-12-31".parse().unwrap()).await.expect("a range");
    assert!(before.is_empty());
}

async fn hospitals_see_only_their_own_settlements(backend: Backend) {
    let suite = spawn(backend).await;
    let mut client = suite.client();
    let mine = client.settle(authed(&suite.county_key, b1())).await.expect("settle").into_inner();
    let id = mine.settlement_id.clone();
    let theirs = &suite.other_key;
    let status = client
        .get_settlement(authed(theirs, hpb::GetSettlementRequest { settlement_id: id.clone() }))
        .await
        .expect_err("not theirs");
    assert_eq!(status.code(), Code::NotFound);
    let status = client
        .find_settlement(authed(theirs, hpb::FindSettlementRequest { bill_no: "B1".into() }))
        .await
        .expect_err("not theirs");
    assert_eq!(status.code(), Code::NotFound);
    let status = client
        .reverse(authed(theirs, hpb::ReverseRequest { settlement_id: id.clone(), reason: "mine now".into() }))
        .await
        .expect_err("not theirs");
    assert_eq!(status.code(), Code::NotFound);
    let status = client
        .year_totals(authed(theirs, hpb::YearTotalsRequest { national_id: person_id(DIBAO2), year: 2016 }))
        .await
        .expect_err("not their patient");
    assert_eq!(status.code(), Code::NotFound);
    let (status, body) = http(suite.http, "GET", &format!("/v1/settlements/{id}"), Some(theirs), "").await;
    assert_eq!((status, body["code"].as_str()), (404, Some("NOT_FOUND")));
    let still = client
        .get_settlement(authed(&suite.county_key, hpb::GetSettlementRequest { settlement_id: id }))
        .await
        .expect("still there")
        .into_inner();
    assert_eq!(still, mine);
}

async fn bad_input_gets_field_errors_and_changes_nothing(backend: Backend) {
    let suite = spawn(backend).await;
    let mut client = suite.client();
    let key = &suite.county_key;
    let bad = pb::Bill {
        bill_no: "B 1!".into(),
        national_id: "360730197506300318".into(),
        visit_type: 0,
        admitted_on: "2016-03-10".into(),
        discharged_on: "2016-03-01".into(),
        total_fen: -5,
        in_policy_fen: 10,
    };
    let status = client.settle(authed(key, bad)).await.expect_err("invalid");
    assert_eq!(status.code(), Code::InvalidArgument);
    let fields: Vec<String> = field_violations(&status).into_iter().map(|v| v.field).collect();
    assert_eq!(fields, ["billNo", "nationalId", "visitType", "dischargedOn", "totalFen"]);
    let mut over = b1();
    over.in_policy_fen = over.total_fen + 1;
    let status = client.settle(authed(key, over)).await.expect_err("in policy over total");
    assert_eq!(field_violations(&status)[0].field, "inPolicyFen");
    let mut future = b1();
    future.discharged_on = "2999-01-01".into();
    let status = client.quote(authed(key, future)).await.expect_err("future");
    assert_eq!(field_violations(&status)[0].field, "dischargedOn");

    let id = person_id(DIBAO2);
    let good = format!(
        r#"{{"billNo":"B1","nationalId":"{id}","visitType":"INPATIENT","admittedOn":"2016-03-01","dischargedOn":"2016-03-10","totalFen":"2000000","inPolicyFen":"1800000"}}"#
    );
    let cases = [
        (good.replace("totalFen", "totalFenn"), "totalFenn"),
        (good.replace("INPATIENT", "SURGERY"), "visitType"),
        (good.replace("\"2000000\"", "\"20x\""), "totalFen"),
        (good.replace("\"2000000\"", "\"-1\""), "totalFen"),
        (good.replace("\"B1\"", "\"B/1\""), "billNo"),
        (good.replace(&id, &format!("{}X", &id[..17])), "nationalId"),
        ("{not json".to_owned(), "body"),
        (format!(r#"{{"billNo":"{}"}}"#, "x".repeat(70_000)), "body"),
    ];
    for (body, field) in cases {
        let (status, answer) = http(suite.http, "POST", "/v1/settlements", Some(key), &body).await;
        assert_eq!(status, 400, "{answer}");
        assert_eq!(answer["code"], "INVALID_ARGUMENT");
        assert_eq!(answer["details"][0]["field"].as_str(), Some(field), "{answer}");
        assert!(answer["message"].as_str().is_some_and(|m| !m.is_empty()));
    }
    let (status, _) = http(suite.http, "POST", "/v1/settlements/x:explode", Some(key), "{}").await;
    assert_eq!(status, 404);
    assert_eq!(suite.settlements_stored().await, 0, "bad input changes nothing");
}

async fn keys_are_required_and_revocation_takes_effect_within_a_second(backend: Backend) {
    let suite = spawn(backend).await;
    let mut client = suite.client();
    let status = client.quote(tonic::Request::new(b1())).await.expect_err("no key");
    assert_eq!(status.code(), Code::Unauthenticated);
    let status = client.quote(authed("dk_nope", b1())).await.expect_err("unknown key");
    assert_eq!(status.code(), Code::Unauthenticated);
    let (status, body) = http(suite.http, "POST", "/v1/settlements:quote", None, "{}").await;
    assert_eq!((status, body["code"].as_str()), (401, Some("UNAUTHENTICATED")));

    // Revoke: refused within a second.
    client.quote(authed(&suite.other_key, b1())).await.expect("works before");
    suite.hospitals.revoke("H-OTHER", "test").await.expect("revoke");
    let revoked_at = Instant::now();
    loop {
        match client.quote(authed(&suite.other_key, b1())).await {
            Err(status) if status.code() == Code::Unauthenticated => break,
            _ => assert!(revoked_at.elapsed() < Duration::from_secs(1), "a revoked key still works after 1 s"),
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // Rotate: the new key works on its first request, the old one stops within a second.
    client.quote(authed(&suite.county_key, b1())).await.expect("old key works before rotation");
    let new_key = suite.hospitals.rotate_key("H-COUNTY", "test").await.expect("rotate");
    client.quote(authed(&new_key, b1())).await.expect("the new key works at once");
    let rotated_at = Instant::now();
    loop {
        match client.quote(authed(&suite.county_key, b1())).await {
            Err(status) if status.code() == Code::Unauthenticated => break,
            _ => assert!(rotated_at.elapsed() < Duration::from_secs(1), "a replaced key still works after 1 s"),
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn each_hospital_is_rate_limited(backend: Backend) {
    let suite = spawn_with(backend, |config| {
        config.hospital_access.requests_per_second = 1;
        config.hospital_access.burst = 2;
    })
    .await;
    let mut client = suite.client();
    let find = |key: &str| authed(key, hpb::FindSettlementRequest { bill_no: "NONE".into() });
    for _ in 0..2 {
        let status = client.find_settlement(find(&suite.county_key)).await.expect_err("not found, but admitted");
        assert_eq!(status.code(), Code::NotFound);
    }
    let status = client.find_settlement(find(&suite.county_key)).await.expect_err("limited");
    assert_eq!(status.code(), Code::ResourceExhausted);
    let (status, body) = http(suite.http, "GET", "/v1/settlements?billNo=NONE", Some(&suite.county_key), "").await;
    assert_eq!((status, body["code"].as_str()), (429, Some("RESOURCE_EXHAUSTED")));
    // Another hospital has its own allowance.
    let status = client.find_settlement(find(&suite.municipal_key)).await.expect_err("not found");
    assert_eq!(status.code(), Code::NotFound);
}

async fn quotes_have_their_own_rate(backend: Backend) {
    let suite = spawn_with(backend, |config| {
        config.hospital_access.quotes_per_second = 1;
        config.hospital_access.quote_burst = 3;
    })
    .await;
    let mut client = suite.client();
    for _ in 0..3 {
        client.quote(authed(&suite.county_key, b1())).await.expect("a quote within the burst");
    }
    let status = client.quote(authed(&suite.county_key, b1())).await.expect_err("quotes limited");
    assert_eq!(status.code(), Code::ResourceExhausted);
    assert!(status.message().starts_with("quote rate limit of 1 per second"), "{}", status.message());
    let (status, body) = http(suite.http, "POST", "/v1/settlements:quote", Some(&suite.county_key), &b1_json()).await;
    assert_eq!((status, body["code"].as_str()), (429, Some("RESOURCE_EXHAUSTED")));
    // Settling is not a quote, and another hospital quotes on its own allowance.
    client.settle(authed(&suite.county_key, b1())).await.expect("settle is not limited by quotes");
    client.quote(authed(&suite.other_key, b1())).await.expect("another hospital's quote");
}

async fn an_address_guessing_keys_is_paused(backend: Backend) {
    let suite = spawn_with(backend, |config| {
        config.hospital_access.failed_keys_per_second = 1;
        config.hospital_access.failed_key_burst = 3;
        // Known keys stay known for the whole test.
        config.hospital_access.key_cache_ms = 60_000;
    })
    .await;
    let mut client = suite.client();
    let find = |key: &str| authed(key, hpb::FindSettlementRequest { bill_no: "NONE".into() });
    let known = client.find_settlement(find(&suite.county_key)).await.expect_err("admitted, not found");
    assert_eq!(known.code(), Code::NotFound);
    for guess in 0..3 {
        let status = client.find_settlement(find(&format!("dk_guess{guess}"))).await.expect_err("unknown");
        assert_eq!(status.code(), Code::Unauthenticated);
    }
    // The burst is used up by the third; the fourth unknown key, and the next, are refused
    // without a lookup; the same unknown key again is answered from the cache.
    for guess in 3..5 {
        let status = client.find_settlement(find(&format!("dk_guess{guess}"))).await.expect_err("paused");
        assert_eq!(status.code(), Code::ResourceExhausted, "{}", status.message());
    }
    let status = client.find_settlement(find("dk_guess0")).await.expect_err("cached as unknown");
    assert_eq!(status.code(), Code::Unauthenticated);
    // A key already known keeps working from the paused address.
    let known = client.find_settlement(find(&suite.county_key)).await.expect_err("admitted, not found");
    assert_eq!(known.code(), Code::NotFound);
}

async fn a_request_past_its_deadline_gets_a_json_error(backend: Backend) {
    use sqlx::Connection;
    let suite = spawn_with(backend, |config| config.server.request_timeout_ms = 300).await;
    // Another client holds the settlement database's write lock, so the settlement cannot finish
    // in time.
    let mut blocker = sqlx::AnyConnection::connect(&suite.dbs[1].url).await.expect("connect");
    let lock = match backend {
        Backend::Sqlite => "BEGIN IMMEDIATE",
        Backend::Postgres => "BEGIN; LOCK TABLE accumulators IN ACCESS EXCLUSIVE MODE",
    };
    sqlx::raw_sql(lock).execute(&mut blocker).await.expect("lock");
    let body = serde_json::to_string(&b1()).expect("json");
    let (status, answer) = http(suite.http, "POST", "/v1/settlements", Some(&suite.county_key), &body).await;
    sqlx::raw_sql("ROLLBACK").execute(&mut blocker).await.expect("unlock");
    // The gateway's own timeout (504) or the inner hop's deadline, passed through: either way
    // the outcome is unknown and the body says so in the usual shape.
    assert!(matches!(status, 504 | 499), "{status} {answer}");
    assert!(matches!(answer["code"].as_str(), Some("DEADLINE_EXCEEDED" | "CANCELLED")), "{answer}");
    assert!(answer["message"].as_str().is_some_and(|m| !m.is_empty()) && answer["details"].is_array(), "{answer}");
}

async fn unknown_person_settles_as_none(backend: Backend) {
    let suite = spawn(backend).await;
    let bill = inpatient("U1", UNKNOWN, "2016-03-01", "2016-03-10", 2_000_000, 1_800_000);
    let settled = suite.client().settle(authed(&suite.county_key, bill)).await.expect("settle").into_inner();
    assert_eq!(settled.category, doudi_proto::eligibility::v1::Category::None as i32);
    // Insurance still pays; the NONE threshold is 500 000: F2 = 0.5 × (472 500 − 500 000)⁺ = 0.
    assert_eq!(amounts(&settled), (1_327_500, 0, 0, 672_500));
    let tekun = inpatient("T1", TEKUN, "2016-03-01", "2016-03-10", 2_000_000, 1_800_000);
    let settled = suite.client().settle(authed(&suite.county_key, tekun)).await.expect("settle").into_inner();
    assert_eq!(amounts(&settled), (1_327_500, 111_250, 361_250, 200_000), "TEKUN: assistance pays all in-policy");
}

async fn eligibility_down_means_unavailable_and_nothing_settled(backend: Backend) {
    let mut suite = spawn(backend).await;
    let settled = suite.client().settle(authed(&suite.county_key, b1())).await.expect("settle").into_inner();
    suite.eligibility.take().expect("running").shutdown().await;
    let again = suite.client().settle(authed(&suite.county_key, b1())).await.expect("a settled bill is still answered");
    assert_eq!(again.into_inner(), settled);
    let other = inpatient("B9", DIBAO2, "2016-03-01", "2016-03-10", 2_000, 1_000);
    let status = suite.client().settle(authed(&suite.county_key, other)).await.expect_err("no category, no settlement");
    assert_eq!(status.code(), Code::Unavailable, "{status:?}");
    let (status, body) = http(
        suite.http,
        "POST",
        "/v1/settlements:quote",
        Some(&suite.county_key),
        &serde_json::to_string(&b1()).expect("json"),
    )
    .await;
    assert_eq!((status, body["code"].as_str()), (503, Some("UNAVAILABLE")));
    assert_eq!(suite.settlements_stored().await, 1);
}

async fn reconciliation_nets_settlements_and_reversals(backend: Backend) {
    let suite = spawn(backend).await;
    let mut client = suite.client();
    let key = &suite.county_key;
    let mut settled = Vec::new();
    for (i, in_policy) in [100_000, 600_000, 900_000].into_iter().enumerate() {
        let bill = inpatient(&format!("R{i}"), DIBAO2, "2016-04-01", "2016-04-02", in_policy, in_policy);
        settled.push(client.settle(authed(key, bill)).await.expect("settle").into_inner());
    }
    let reverse = hpb::ReverseRequest { settlement_id: settled[2].settlement_id.clone(), reason: "duplicate".into() };
    client.reverse(authed(key, reverse)).await.expect("reverse");
    let today = doudi_core::Date::today_china().to_string();
    let sum = |f: fn(&pb::Settlement) -> i64| settled[..2].iter().map(f).sum::<i64>();
    let claim = pb::ReconciliationClaim {
        from_date: today.clone(),
        to_date: today.clone(),
        count: 2,
        basic_insurance_fen: sum(|s| s.basic_insurance_fen),
        critical_illness_fen: sum(|s| s.critical_illness_fen),
        medical_assistance_fen: sum(|s| s.medical_assistance_fen),
        bills: vec![],
    };
    let matched = client.reconcile(authed(key, claim.clone())).await.expect("reconcile").into_inner();
    assert_eq!(matched.status, pb::ReconciliationStatus::Matched as i32, "{matched:?}");
    assert_eq!(matched.ours, matched.theirs);

    let line = |s: &pb::Settlement| pb::BillAmounts {
        bill_no: s.bill_no.clone(),
        basic_insurance_fen: s.basic_insurance_fen,
        critical_illness_fen: s.critical_illness_fen,
        medical_assistance_fen: s.medical_assistance_fen,
    };
    let mut wrong = line(&settled[1]);
    wrong.medical_assistance_fen += 1;
    let unknown = pb::BillAmounts { bill_no: "R9".into(), basic_insurance_fen: 5, ..Default::default() };
    let body = serde_json::json!({
        "fromDate": today, "toDate": today, "count": "2",
        "basicInsuranceFen": claim.basic_insurance_fen.to_string(),
        "criticalIllnessFen": claim.critical_illness_fen.to_string(),
        "medicalAssistanceFen": claim.medical_assistance_fen.to_string(),
        "bills": [wrong, unknown],
    });
    let (status, answer) = http(suite.http, "POST", "/v1/reconciliations", Some(key), &body.to_string()).await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["status"], "MISMATCHED");
    let differences: Vec<(&str, &str)> = answer["differences"]
        .as_array()
        .expect("differences")
        .iter()
        .map(|d| (d["billNo"].as_str().unwrap_or(""), d["kind"].as_str().unwrap_or("")))
        .collect();
    assert_eq!(differences, [("R0", "MISSING_AT_HOSPITAL"), ("R1", "AMOUNTS_DIFFER"), ("R9", "MISSING_HERE")]);
    // Another hospital's figures for the same days are its own (none).
    let theirs = client
        .reconcile(authed(
            &suite.other_key,
            pb::ReconciliationClaim { from_date: today.clone(), to_date: today, ..Default::default() },
        ))
        .await
        .expect("reconcile")
        .into_inner();
    assert_eq!(theirs.status, pb::ReconciliationStatus::Matched as i32);
    let status = client
        .reconcile(authed(
            key,
            pb::ReconciliationClaim {
                from_date: "2016-02-01".into(),
                to_date: "2016-01-01".into(),
                ..Default::default()
            },
        ))
        .await
        .expect_err("backwards range");
    assert_eq!(field_violations(&status)[0].field, "toDate");
}

async fn premium_subsidies_are_recorded_once_per_person_and_year(backend: Backend) {
    let suite = spawn(backend).await;
    // County staff queue them: server-side TLS and a staff token the settlement service verifies
    // with the eligibility service's staff register.
    let staff_channel = doudi_testkit::pki::suite().channel(suite.settlement.local_addr, None).await;
    let mut client = SettlementsClient::new(doudi_testkit::with_token(staff_channel, &suite.county_token));
    let entry = |person: u32, category: doudi_proto::eligibility::v1::Category| pb::PremiumSubsidyEntry {
        national_id: person_id(person),
        category: category as i32,
    };
    use doudi_proto::eligibility::v1::Category as C;
    let request = pb::RecordPremiumSubsidiesRequest {
        year: 2016,
        persons: vec![entry(DIBAO2, C::Dibao2), entry(TEKUN, C::Tekun), entry(UNKNOWN, C::None)],
    };
    let first = client.record_premium_subsidies(request.clone()).await.expect("record").into_inner();
    // 2016 premium 12 000: DIBAO_2 30 % = 3 600, TEKUN 100 % = 12 000; NONE gets nothing.
    assert_eq!((first.recorded, first.already_recorded, first.recorded_fen), (2, 0, 15_600));
    assert_eq!(first.policy_version, "ref-2016-01");
    let again = client.record_premium_subsidies(request).await.expect("record again").into_inner();
    assert_eq!((again.recorded, again.already_recorded, again.recorded_fen), (0, 2, 0));
    let queued = suite.settlement_service.store().outbox_pending(100).await.expect("outbox");
    assert_eq!(queued.iter().filter(|m| m.topic == "premium-subsidy").count(), 2);
}
