//! The monthly payroll against a real eligibility service, on SQLite and PostgreSQL: the sums
//! policy.md gives per household and kind, with and without a price subsidy, nothing paid
//! twice, arrears for a period opened late, and an overpayment recovered after a death recorded
//! three months late.

mod common;

use common::{Deployment, month, person, registry, spawn};
use doudi_payment::funds::{Kind, Month, State};
use doudi_payment::instructions::ops::InstructionFilter;
use doudi_payment::prices::PriceIndex;
use doudi_proto::eligibility::v1 as epb;
use doudi_proto::payment::v1 as pb;
use doudi_testkit::Backend;
use std::collections::BTreeMap;

doudi_testkit::conformance!(
    a_months_payroll_is_the_rolls_sum_per_household_and_kind,
    a_late_death_is_an_overpayment_withheld_and_a_late_period_is_paid_as_arrears,
    a_payroll_beyond_its_budget_is_held_and_released_in_order,
);

/// Every payroll instruction: (household, kind, month paid for, run) → (gross, withheld, net, state).
async fn payroll(d: &Deployment) -> BTreeMap<(String, String, String, String), (i64, i64, i64, State)> {
    let mut out = BTreeMap::new();
    let mut after_id = 0;
    loop {
        let filter = InstructionFilter { after_id, limit: 1_000, ..Default::default() };
        let (page, more) = d.payment.list_instructions(&filter).await.expect("list");
        for i in &page {
            if i.source != "payroll" {
                continue;
            }
            let key = (
                i.household_no.clone().unwrap(),
                i.kind.unwrap().as_str().to_owned(),
                i.month.unwrap().to_string(),
                i.run_month.unwrap().to_string(),
            );
            assert!(out.insert(key, (i.gross, i.withheld, i.amount, i.state)).is_none(), "one instruction per key");
            after_id = i.id;
        }
        if !more {
            return out;
        }
    }
}

fn key(h: &str, kind: Kind, of: &str, run: &str) -> (String, String, String, String) {
    (h.into(), kind.as_str().into(), of.into(), run.into())
}

async fn run(d: &Deployment, m: &str) -> doudi_payment::payroll::ops::RunSummary {
    d.payment.run_payroll(month(m), "test").await.expect("payroll run")
}

async fn a_months_payroll_is_the_rolls_sum_per_household_and_kind(backend: Backend) {
    let d = spawn(backend, &registry()).await;
    d.budgets(2016, 100_000_000).await;
    let first = run(&d, "2016-03").await;
    // 2016 amounts: DIBAO_1 27 500, DIBAO_2 23 400, TEKUN 35 000 per person.
    let paid = payroll(&d).await;
    let expected = BTreeMap::from([
        (key("H001", Kind::Dibao, "2016-03", "2016-03"), (55_000, 0, 55_000, State::Draft)),
        (key("H002", Kind::Tekun, "2016-03", "2016-03"), (35_000, 0, 35_000, State::Draft)),
        (key("H003", Kind::Dibao, "2016-03", "2016-03"), (23_400, 0, 23_400, State::Draft)),
    ]);
    assert_eq!(paid, expected);
    assert_eq!((first.instructions, first.paid_fen), (3, 113_400));

    // Again: nothing is added.
    let again = run(&d, "2016-03").await;
    assert_eq!(again.instructions, 0);
    assert_eq!(payroll(&d).await, expected);

    // The month's index is recorded after the run (CPI 4.0 %): running again adds just the
    // subsidy, round(27 500 × 400 / 10000) = 1 100 per covered person, into each household.
    d.payment
        .record_price_index(month("2016-03"), PriceIndex { cpi_bp: 400, food_bp: 100 }, "test")
        .await
        .expect("index");
    let subsidy = run(&d, "2016-03").await;
    assert_eq!((subsidy.instructions, subsidy.paid_fen), (3, 4 * 1_100));
    let paid = payroll(&d).await;
    assert_eq!(paid[&key("H001", Kind::PriceSubsidy, "2016-03", "2016-03")].0, 2_200);
    assert_eq!(paid[&key("H002", Kind::PriceSubsidy, "2016-03", "2016-03")].0, 1_100);
    assert_eq!(paid[&key("H003", Kind::PriceSubsidy, "2016-03", "2016-03")].0, 1_100);
    assert_eq!(run(&d, "2016-03").await.instructions, 0, "the subsidy is paid once");

    // A month below both triggers pays no subsidy; food at 6.5 % triggers with its own rise.
    d.payment.record_price_index(month("2016-04"), PriceIndex { cpi_bp: 349, food_bp: 599 }, "test").await.unwrap();
    d.payment.record_price_index(month("2016-05"), PriceIndex { cpi_bp: 200, food_bp: 650 }, "test").await.unwrap();
    let april = run(&d, "2016-04").await;
    assert_eq!(april.by_kind.get("PRICE_SUBSIDY"), None);
    let may = run(&d, "2016-05").await;
    // round(27 500 × 650 / 10000) = 1 787.5 → 1 788.
    assert_eq!(may.by_kind["PRICE_SUBSIDY"], 4 * 1_788);

    // Approval by county staff over gRPC: every DRAFT of the run becomes APPROVED.
    let mut client = pb::payments_client::PaymentsClient::new(d.staff_channel().await);
    let approved =
        client.approve_payroll(pb::ApprovePayrollRequest { month: "2016-03".into() }).await.expect("approve");
    assert_eq!(approved.get_ref().approved, 6);
    assert_eq!(approved.get_ref().approved_fen, 113_400 + 4_400);
    let paid = payroll(&d).await;
    assert!(paid.iter().filter(|(k, _)| k.3 == "2016-03").all(|(_, v)| v.3 == State::Approved));
    assert!(paid.iter().filter(|(k, _)| k.3 == "2016-04").all(|(_, v)| v.3 == State::Draft));

    // Accounts are masked in every answer.
    let list = client
        .list_instructions(pb::ListInstructionsRequest { payee_reference: "H001".into(), ..Default::default() })
        .await
        .expect("list");
    let accounts: Vec<String> =
        list.get_ref().instructions.iter().map(|i| i.payee.clone().unwrap_or_default().account).collect();
    assert!(!accounts.is_empty() && accounts.iter().all(|a| a == "****0011"), "{accounts:?}");
    let fund = client
        .get_fund(pb::GetFundRequest { fund: pb::FundName::Dibao as i32, year: 2016 })
        .await
        .expect("fund")
        .into_inner();
    assert_eq!(fund.committed_fen, 3 * (55_000 + 23_400));
    // Approved: owed to each household (March's DIBAO and price subsidy), from the funds' obligations.
    assert_eq!(d.payment.store().account_balance("payee:HOUSEHOLD:H001:owed").await.unwrap(), 55_000 + 2_200);
    assert_eq!(d.payment.store().account_balance("fund:DIBAO:2016:obligations").await.unwrap(), -(55_000 + 23_400));
    assert_eq!(fund.available_fen, fund.budget_fen - fund.committed_fen);
    d.ledger_holds().await;
}

async fn record_death(d: &Deployment, household: &str, n: u32, day: &str) {
    let channel = doudi_testkit::pki::suite().channel(d.eligibility.local_addr, None).await;
    let mut client =
        epb::dibao_procedure_client::DibaoProcedureClient::new(doudi_testkit::with_token(channel, &d.county_token));
    client
        .record_member_change(epb::MemberChangeRequest {
            household_no: household.into(),
            kind: epb::MemberChangeKind::Death as i32,
            effective_on: day.into(),
            member: Some(epb::MemberInput { national_id: Deployment::id_of(n), ..Default::default() }),
            note: "reported late".into(),
            ..Default::default()
        })
        .await
        .expect("record death");
}

async fn a_late_death_is_an_overpayment_withheld_and_a_late_period_is_paid_as_arrears(backend: Backend) {
    let d = spawn(backend, &registry()).await;
    d.budgets(2016, 100_000_000).await;
    for m in ["2016-01", "2016-02", "2016-03"] {
        run(&d, m).await;
    }
    // Three months late: H001's second member died on 2016-01-20 (their benefit ends with
    // January); a new household's period began on 2016-01-01 and is imported only now.
    record_death(&d, "H001", 2, "2016-01-20").await;
    let late = [person("H004", 5, "HEAD", "DIBAO_2", "2016-01-01", "6228480000000044")];
    d.eligibility_service
        .import_csv(&doudi_testkit::csv(&doudi_eligibility::registry::import::HEADER, &late), "late.csv", "test", false)
        .await
        .expect("late import");

    let april = run(&d, "2016-04").await;
    assert_eq!(april.months_revisited, ["2016-01", "2016-02", "2016-03"]);
    // Overpaid: the second member's 27 500 for February and March.
    assert_eq!((april.overpayments, april.overpaid_fen), (2, 55_000));
    let paid = payroll(&d).await;
    // Arrears: one payment per original month for H004, with April's own.
    for m in ["2016-01", "2016-02", "2016-03"] {
        assert_eq!(paid[&key("H004", Kind::Dibao, m, "2016-04")], (23_400, 0, 23_400, State::Draft), "{m}");
    }
    assert_eq!(paid[&key("H004", Kind::Dibao, "2016-04", "2016-04")].0, 23_400);
    assert_eq!(april.arrears, 3);
    // H001's April: one person now, 27 500, half withheld for the February overpayment.
    assert_eq!(paid[&key("H001", Kind::Dibao, "2016-04", "2016-04")], (27_500, 13_750, 13_750, State::Draft));
    // Others untouched.
    assert_eq!(paid[&key("H002", Kind::Tekun, "2016-04", "2016-04")], (35_000, 0, 35_000, State::Draft));

    let explained = d.payment.explain("H001", month("2016-04")).await;
    // explain reads the roll through the eligibility service like a run.
    let explained = explained.expect("explain");
    assert_eq!(explained.roll_now.len(), 1);
    assert_eq!(explained.payments.len(), 1);
    let withholding = &explained.payments[0].withholdings;
    assert_eq!(withholding.len(), 1);
    assert_eq!((withholding[0].overpayment_month.as_str(), withholding[0].amount_fen), ("2016-02", 13_750));

    // Again in April: nothing more (not a second overpayment, not a second arrears).
    let again = run(&d, "2016-04").await;
    assert_eq!((again.instructions, again.overpayments), (0, 0));

    // May withholds the rest of February's and begins March's: 13 750 + 0, at most half.
    let may = run(&d, "2016-05").await;
    assert_eq!(may.withheld_fen, 13_750);
    let (_, overpayments) = d.payment.household_history("H001").await.expect("history");
    let recovered: Vec<(String, i64, i64)> =
        overpayments.iter().map(|o| (o.month.clone(), o.amount_fen, o.recovered_fen)).collect();
    assert_eq!(recovered, [("2016-02".to_owned(), 27_500, 27_500), ("2016-03".to_owned(), 27_500, 0)]);
    // The same history over gRPC, as the console reads it.
    let mut client = pb::payments_client::PaymentsClient::new(d.staff_channel().await);
    let history = client
        .household_history(pb::HouseholdHistoryRequest { household_no: "H001".into() })
        .await
        .expect("history")
        .into_inner();
    let months: Vec<(String, String, i64, i64)> =
        history.payments.iter().map(|p| (p.month.clone(), p.run_month.clone(), p.gross_fen, p.withheld_fen)).collect();
    assert_eq!(
        months,
        [
            ("2016-01".to_owned(), "2016-01".to_owned(), 55_000, 0),
            ("2016-02".to_owned(), "2016-02".to_owned(), 55_000, 0),
            ("2016-03".to_owned(), "2016-03".to_owned(), 55_000, 0),
            ("2016-04".to_owned(), "2016-04".to_owned(), 27_500, 13_750),
            ("2016-05".to_owned(), "2016-05".to_owned(), 27_500, 13_750),
        ]
    );
    assert_eq!(history.overpayments.len(), 2);
    d.ledger_holds().await;
}

async fn a_payroll_beyond_its_budget_is_held_and_released_in_order(backend: Backend) {
    let d = spawn(backend, &registry()).await;
    // DIBAO covers H001 (55 000) but not H003 (23 400) after it; TEKUN has no budget at all.
    d.payment.set_budget(doudi_payment::funds::Fund::Dibao, 2016, 60_000, "test").await.unwrap();
    let summary = run(&d, "2016-03").await;
    assert_eq!((summary.held, summary.held_fen), (2, 23_400 + 35_000));
    let paid = payroll(&d).await;
    assert_eq!(paid[&key("H001", Kind::Dibao, "2016-03", "2016-03")].3, State::Draft);
    assert_eq!(paid[&key("H003", Kind::Dibao, "2016-03", "2016-03")].3, State::Held);
    assert_eq!(paid[&key("H002", Kind::Tekun, "2016-03", "2016-03")].3, State::Held);
    let held = d.payment.store().instruction(3).await;
    let reason = held.map(|i| i.held_reason.unwrap_or_default()).unwrap_or_default();
    assert!(reason.contains("budget") && reason.contains("fen"), "{reason}");
    // Lowering the budget below what is committed is refused.
    let lower = d.payment.set_budget(doudi_payment::funds::Fund::Dibao, 2016, 50_000, "test").await;
    assert!(
        matches!(lower, Err(doudi_payment::PaymentError::BudgetBelowCommitted { committed: 55_000, .. })),
        "{lower:?}"
    );
    // Raising it releases the held DIBAO instruction (to DRAFT: it still needs approval).
    let raised = d.payment.set_budget(doudi_payment::funds::Fund::Dibao, 2016, 80_000, "test").await.unwrap();
    assert_eq!(raised.released, 1);
    assert_eq!(payroll(&d).await[&key("H003", Kind::Dibao, "2016-03", "2016-03")].3, State::Draft);
    let approved = d.payment.approve_payroll(Month::parse("2016-03").unwrap(), "test").await.unwrap();
    assert_eq!(approved, (2, 78_400, 1), "TEKUN stays held");
    d.ledger_holds().await;
}
