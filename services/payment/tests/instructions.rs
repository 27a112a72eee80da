//! Instructions through the real service, on SQLite and PostgreSQL: idempotent submission under
//! concurrency, a budget never overdrawn by concurrent instructions, every method behind its
//! allow-list, the settlement outbox relayed into hospital payables, and the closes.

mod common;

use common::{Deployment, registry, spawn};
use doudi_payment::funds::{Fund, Month};
use doudi_proto::payment::v1 as pb;
use doudi_proto::payment::v1::payments_client::PaymentsClient;
use doudi_proto::settlement::v1 as spb;
use doudi_testkit::{Backend, person_id};
use std::time::Duration;
use tonic::Code;

doudi_testkit::conformance!(
    identical_concurrent_submissions_make_one_instruction,
    concurrent_instructions_never_overdraw_their_fund,
    every_method_refuses_the_wrong_caller,
    the_settlement_outbox_drains_into_payables_net_of_reversals,
    premium_subsidies_are_one_payment_to_the_insurer_with_its_list,
);

fn grant(source_ref: &str, amount_fen: i64) -> pb::SubmitInstructionRequest {
    pb::SubmitInstructionRequest {
        source: "relief".into(),
        source_ref: source_ref.into(),
        fund: pb::FundName::Relief as i32,
        budget_year: 2016,
        payee: Some(pb::Payee {
            kind: pb::PayeeKind::Household as i32,
            reference: "H001".into(),
            name: "张三".into(),
            account: "6228480000000011".into(),
        }),
        amount_fen,
        purpose: "temporary relief grant".into(),
        reference: format!("case {source_ref}"),
    }
}

async fn relief_client(d: &Deployment) -> PaymentsClient<tonic::transport::Channel> {
    PaymentsClient::new(d.channel_as("relief").await)
}

async fn identical_concurrent_submissions_make_one_instruction(backend: Backend) {
    let d = spawn(backend, &[]).await;
    d.payment.set_budget(Fund::Relief, 2016, 1_000_000, "test").await.unwrap();
    let client = relief_client(&d).await;
    let calls = (0..64).map(|_| {
        let mut client = client.clone();
        tokio::spawn(async move { client.submit_instruction(grant("case-1", 50_000)).await })
    });
    let mut ids = Vec::new();
    for call in calls {
        let answer = call.await.expect("task").expect("submit").into_inner();
        assert_eq!(answer.state, pb::InstructionState::Approved as i32, "{}", answer.held_reason);
        assert_eq!(answer.payee.unwrap().account, "****0011", "masked in the answer");
        ids.push(answer.id);
    }
    ids.dedup();
    assert_eq!(ids.len(), 1, "one instruction: {ids:?}");
    let fund = d.payment.store().fund(Fund::Relief, 2016).await.unwrap().0;
    assert_eq!(fund.committed, 50_000, "reserved once");
    // Owed to the payee once, from the fund's obligations.
    assert_eq!(d.payment.store().account_balance("payee:HOUSEHOLD:H001:owed").await.unwrap(), 50_000);
    assert_eq!(d.payment.store().account_balance("fund:RELIEF:2016:obligations").await.unwrap(), -50_000);

    // The same key with other content is refused, naming the key.
    let mut client = client.clone();
    let status = client.submit_instruction(grant("case-1", 60_000)).await.expect_err("other content");
    assert_eq!(status.code(), Code::AlreadyExists);
    assert!(status.message().contains("relief/case-1"), "{}", status.message());
    // Bad input names its fields and changes nothing.
    let mut bad = grant("case-2", -5);
    bad.payee.as_mut().unwrap().account = "12ab".into();
    let status = client.submit_instruction(bad).await.expect_err("bad");
    assert_eq!(status.code(), Code::InvalidArgument);
    let fields: Vec<String> = doudi_runtime::error::field_violations(&status).into_iter().map(|v| v.field).collect();
    assert_eq!(fields, ["payee.account", "amountFen"]);
    let (all, _) = d.payment.list_instructions(&Default::default()).await.unwrap();
    assert_eq!(all.len(), 1);
    d.ledger_holds().await;
}

async fn concurrent_instructions_never_overdraw_their_fund(backend: Backend) {
    let d = spawn(backend, &[]).await;
    d.payment.set_budget(Fund::Relief, 2016, 10 * 30_000, "test").await.unwrap();
    let client = relief_client(&d).await;
    let calls: Vec<_> = (0..50)
        .map(|i| {
            let mut client = client.clone();
            tokio::spawn(async move { client.submit_instruction(grant(&format!("case-{i}"), 30_000)).await })
        })
        .collect();
    let mut states = Vec::new();
    for call in calls {
        states.push(call.await.expect("task").expect("submit").into_inner());
    }
    let approved = states.iter().filter(|i| i.state == pb::InstructionState::Approved as i32).count();
    let held: Vec<_> = states.iter().filter(|i| i.state == pb::InstructionState::Held as i32).collect();
    assert_eq!((approved, held.len()), (10, 40));
    assert!(held.iter().all(|i| i.held_reason.contains("RELIEF 2016")), "{:?}", held[0].held_reason);
    let (fund, held_count, held_fen) = d.payment.store().fund(Fund::Relief, 2016).await.unwrap();
    assert_eq!((fund.available, fund.committed, held_count, held_fen), (0, 300_000, 40, 1_200_000));
    d.ledger_holds().await;

    // Raising the budget by three grants releases the three oldest held, in order.
    let raised = d.payment.set_budget(Fund::Relief, 2016, 13 * 30_000, "test").await.unwrap();
    assert_eq!(raised.released, 3);
    let mut held_ids: Vec<i64> = held.iter().map(|i| i.id).collect();
    held_ids.sort();
    for (n, id) in held_ids.iter().enumerate() {
        let state = d.payment.store().instruction(*id).await.unwrap().state;
        let expected = if n < 3 { doudi_payment::funds::State::Approved } else { doudi_payment::funds::State::Held };
        assert_eq!(state, expected, "instruction {id}");
    }
    // Cancelling an approved one frees its money for the next held one.
    let first = held_ids[0];
    let mut staff = PaymentsClient::new(d.staff_channel().await);
    let cancelled = staff
        .cancel_instruction(pb::CancelInstructionRequest { id: first, reason: "paid in cash".into() })
        .await
        .expect("cancel")
        .into_inner();
    assert_eq!(cancelled.state, pb::InstructionState::Cancelled as i32);
    assert_eq!(cancelled.events.last().map(|e| e.reason.as_str()), Some("paid in cash"));
    assert_eq!(d.payment.store().instruction(held_ids[3]).await.unwrap().state, doudi_payment::funds::State::Approved);
    // Thirteen approved, one cancelled and one released after it: thirteen grants owed.
    assert_eq!(d.payment.store().account_balance("payee:HOUSEHOLD:H001:owed").await.unwrap(), 13 * 30_000);
    d.ledger_holds().await;

    // A balance changed behind the ledger's back is found, by name.
    sqlx::query("UPDATE ledger_accounts SET credits_fen = credits_fen + 1 WHERE code = 'fund:RELIEF:2016:available'")
        .execute(d.payment.store().db().writes())
        .await
        .unwrap();
    let problems = d.payment.store().ledger_problems().await.unwrap();
    assert!(problems.iter().any(|p| p.contains("fund:RELIEF:2016:available")), "{problems:?}");
}

async fn every_method_refuses_the_wrong_caller(backend: Backend) {
    let d = spawn(backend, &[]).await;
    doudi_testkit::access::every_rule_holds(d.running.local_addr, &doudi_payment::access::ALLOW_LIST, &d.county_token)
        .await;
}

async fn deliver(d: &Deployment, key: &str, event: spb::settlement_event::Event) -> bool {
    let mut client = PaymentsClient::new(d.channel_as("settlement").await);
    let request = pb::DeliverSettlementEventRequest {
        message_key: key.into(),
        event: Some(spb::SettlementEvent { event: Some(event) }),
    };
    client.deliver_settlement_event(request).await.expect("deliver").into_inner().first_delivery
}

fn payable(id: &str, hospital: &str, assistance: i64, day: &str) -> spb::HospitalPayable {
    spb::HospitalPayable {
        settlement_id: id.into(),
        hospital_code: hospital.into(),
        bill_no: format!("B-{id}"),
        basic_insurance_fen: assistance * 3,
        critical_illness_fen: assistance,
        medical_assistance_fen: assistance,
        day: day.into(),
    }
}

async fn the_settlement_outbox_drains_into_payables_net_of_reversals(backend: Backend) {
    use spb::settlement_event::Event;
    let d = spawn(backend, &registry()).await;
    d.payment.set_budget(Fund::MedicalAssistance, 2016, 10_000_000, "test").await.unwrap();
    let account = doudi_core::pii::BankAccount::parse("6228480000005555").unwrap();
    d.payment
        .set_payee_account(doudi_payment::funds::PayeeKind::Hospital, "H-COUNTY", "县医院", &account)
        .await
        .unwrap();

    // A real settlement service, its outbox relayed here.
    let settlement_db = doudi_testkit::TestDb::new(backend).await;
    let mut config = d.config.clone();
    config.settlement.listen = "127.0.0.1:0".parse().unwrap();
    config.settlement.database_url = Some(settlement_db.url.clone());
    let pki = doudi_testkit::pki::suite();
    let settlement_tls = pki.identity("settlement");
    let eligibility_url = format!("https://{}", d.eligibility.local_addr);
    let settlement = doudi_settlement::open(&config, doudi_testkit::cipher(), &eligibility_url, &settlement_tls)
        .await
        .expect("open settlement");
    let listener = doudi_runtime::server::bind(config.settlement.listen).await.unwrap();
    let running = doudi_settlement::serve(settlement.clone(), listener, &config, settlement_tls.clone()).await.unwrap();
    let mut hospital =
        spb::settlements_client::SettlementsClient::new(pki.channel_as(running.local_addr, "gateway").await);
    let mut assistance = 0;
    for (n, person) in [(1, 1u32), (2, 3)] {
        let bill = spb::Bill {
            bill_no: format!("B{n}"),
            national_id: person_id(person),
            visit_type: spb::VisitType::Inpatient as i32,
            admitted_on: "2016-03-01".into(),
            discharged_on: "2016-03-10".into(),
            total_fen: 2_000_000,
            in_policy_fen: 1_800_000,
        };
        let hospital_ref = Some(spb::Hospital { code: "H-COUNTY".into(), level: spb::HospitalLevel::County as i32 });
        let settled =
            hospital.settle(spb::SettleRequest { hospital: hospital_ref, bill: Some(bill) }).await.expect("settle");
        assistance += settled.get_ref().medical_assistance_fen;
    }
    assert!(assistance > 0);
    let payment_url = format!("https://{}", d.running.local_addr);
    let relay = doudi_settlement::start_relay(&settlement, &payment_url, &config, &settlement_tls).unwrap();
    for _ in 0..200 {
        if settlement.store().outbox_backlog().await.unwrap().waiting == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    relay.stop().await;
    assert_eq!(settlement.store().outbox_backlog().await.unwrap().waiting, 0, "the outbox drained");
    // Medical assistance accrues in the month of the settlement (today's, China time).
    let open = d.payment.store().open_payables().await.unwrap();
    let this_month = Month::of(doudi_core::Date::today_china()).to_string();
    assert_eq!(open.len(), 1);
    assert_eq!((open[0].hospital_code.as_str(), open[0].month.as_str()), ("H-COUNTY", this_month.as_str()));
    assert_eq!((open[0].entries, open[0].assistance_fen), (2, assistance));
    // A month that has not ended is not closed.
    let early =
        d.payment.close_payables(Month::parse(&this_month).unwrap(), std::path::Path::new("unused"), "test").await;
    assert!(matches!(early, Err(doudi_payment::PaymentError::Refused(_))), "{early:?}");

    // Settlements in 2016 as the relay would deliver them: a February bill reversed in March
    // counts in both months; a reversal made in April counts in April; a redelivered message
    // changes nothing.
    assert!(deliver(&d, "settle:S-FEB", Event::Payable(payable("S-FEB", "H-COUNTY", 10_000, "2016-02-20"))).await);
    assert!(deliver(&d, "settle:S-MAR1", Event::Payable(payable("S-MAR1", "H-COUNTY", 400_000, "2016-03-10"))).await);
    assert!(deliver(&d, "settle:S-MAR2", Event::Payable(payable("S-MAR2", "H-COUNTY", 276_375, "2016-03-31"))).await);
    let refund =
        |id: &str, fen: i64, day: &str| Event::Reversal(spb::HospitalPayable { ..payable(id, "H-COUNTY", -fen, day) });
    assert!(deliver(&d, "reverse:S-FEB", refund("S-FEB", 10_000, "2016-03-05")).await);
    assert!(!deliver(&d, "reverse:S-FEB", refund("S-FEB", 10_000, "2016-03-05")).await, "deduplicated");
    assert!(deliver(&d, "reverse:S-APR", refund("S-APR", 7_000, "2016-04-02")).await);

    let statements = tempfile::tempdir().unwrap();
    let february = d.payment.close_payables(Month::parse("2016-02").unwrap(), statements.path(), "test").await.unwrap();
    assert_eq!(february.hospitals[0].assistance_fen, 10_000);
    let march = d.payment.close_payables(Month::parse("2016-03").unwrap(), statements.path(), "test").await.unwrap();
    assert!(march.closed_now);
    assert_eq!(march.hospitals.len(), 1);
    let march_net = 400_000 + 276_375 - 10_000;
    assert_eq!(march.hospitals[0].assistance_fen, march_net, "March's settlements net of March's reversal");
    let id = march.hospitals[0].instruction_id.expect("an instruction");
    let instruction = d.payment.store().instruction(id).await.unwrap();
    assert_eq!((instruction.amount, instruction.account_masked.as_str()), (march_net, "****5555"));
    let statement = std::fs::read_to_string(&march.hospitals[0].statement).unwrap();
    let lines: Vec<&str> = statement.lines().collect();
    assert_eq!(lines.len(), 1 + 3 + 1, "header, two settlements, one reversal, totals: {statement}");
    assert_eq!(*lines.last().unwrap(), format!("TOTAL,,,,{},{},{march_net}", 3 * march_net, march_net));
    // Closing again changes nothing.
    let again = d.payment.close_payables(Month::parse("2016-03").unwrap(), statements.path(), "test").await.unwrap();
    assert!(!again.closed_now);
    assert_eq!(again.hospitals[0].instruction_id, Some(id));
    let (all, _) = d.payment.list_instructions(&Default::default()).await.unwrap();
    assert_eq!(all.len(), 2, "February's and March's");
    d.ledger_holds().await;
    running.shutdown().await;
}

async fn premium_subsidies_are_one_payment_to_the_insurer_with_its_list(backend: Backend) {
    use spb::settlement_event::Event;
    let d = spawn(backend, &[]).await;
    d.payment.set_budget(Fund::PremiumSubsidy, 2016, 1_000_000, "test").await.unwrap();
    for (n, fen) in [(1u32, 12_000), (2, 3_600)] {
        let subsidy = spb::PremiumSubsidyRecorded {
            year: 2016,
            person_key: vec![n as u8; 32],
            category: doudi_proto::eligibility::v1::Category::Dibao1 as i32,
            policy_version: "ref-2016-01".into(),
            premium_fen: 12_000,
            subsidy_bp: 10_000,
            subsidy_fen: fen,
            national_id: person_id(n),
        };
        assert!(deliver(&d, &format!("premium:2016:{n}"), Event::PremiumSubsidy(subsidy)).await);
    }
    let lists = tempfile::tempdir().unwrap();
    let closed = d.payment.close_premiums(2016, lists.path(), "test").await.unwrap();
    assert_eq!((closed.persons, closed.subsidy_fen), (2, 15_600));
    let instruction = d.payment.store().instruction(closed.instruction_id.unwrap()).await.unwrap();
    assert_eq!((instruction.amount, instruction.account_masked.as_str()), (15_600, "****9999"));
    let list = std::fs::read_to_string(&closed.list).unwrap();
    assert!(list.contains(&person_id(1)) && list.contains(&person_id(2)), "{list}");
    assert!(!d.payment.close_premiums(2016, lists.path(), "test").await.unwrap().closed_now);
    d.ledger_holds().await;
}
