//! What the bank answers, through the real service on SQLite and PostgreSQL: payroll → approve →
//! export → a pain.002 (settled, rejected, acknowledged) and a camt.054 (a booking, a return a
//! week later) → every instruction PAID, FAILED or RETURNED as the bank said, the ledger
//! balanced, the batch reconciled. The same file twice changes nothing; tampered and foreign
//! files are refused whole and change nothing; a rejected payment is re-issued once its account
//! is corrected in eligibility, and paid once in the next batch.

mod common;

use common::{month, registry, spawn};
use doudi_payment::bank::export::Format;
use doudi_payment::bank::reconcile::BatchState;
use doudi_payment::funds::State;
use doudi_proto::eligibility::v1 as epb;
use doudi_proto::payment::v1 as pb;
use doudi_testkit::Backend;
use std::path::{Path, PathBuf};

/// Yuan as the tests write them, to fen.
fn fen(yuan: &str) -> i64 {
    doudi_payment::bank::answers::fen_of_yuan(yuan).unwrap()
}

/// A status report for batch `batch_ref`: (EndToEndId, TxSts, reason, yuan).
fn pain002(message_id: &str, batch_ref: &str, count: i64, sum: &str, txs: &[(i64, &str, &str, &str)]) -> String {
    let txs: Vec<_> = txs.iter().map(|(id, status, reason, yuan)| (*id, *status, *reason, fen(yuan))).collect();
    doudi_testkit::bank::pain002(message_id, batch_ref, Some((count, fen(sum))), &txs)
}

/// A notification of the county's account: (EndToEndId, debit, yuan, return reason).
fn camt054(message_id: &str, entries: &[(i64, bool, &str, &str)]) -> String {
    let entries: Vec<_> = entries.iter().map(|(id, debit, yuan, reason)| (*id, *debit, fen(yuan), *reason)).collect();
    doudi_testkit::bank::camt054(message_id, "9558800000000001", &entries)
}

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path
}

doudi_testkit::conformance!(the_banks_answers_move_every_instruction_once);

async fn the_banks_answers_move_every_instruction_once(backend: Backend) {
    let d = spawn(backend, &registry()).await;
    d.budgets(2016, 100_000_000).await;
    d.payment.run_payroll(month("2016-03"), "test").await.unwrap();
    d.payment.approve_payroll(month("2016-03"), "test").await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let batch =
        d.payment.export_batch(&dir.path().join("b1.xml"), None, Format::Pain001, "test").await.unwrap().unwrap();
    let (all, _) = d.payment.list_instructions(&Default::default()).await.unwrap();
    let of = |household: &str| all.iter().find(|i| i.payee_ref == household).unwrap().id;
    let (h1, h2, h3) = (of("H001"), of("H002"), of("H003"));
    let state = |id: i64| {
        let payment = d.payment.clone();
        async move { payment.store().instruction(id).await.unwrap() }
    };

    // The status report: H001 settled, H003 rejected (closed account), H002 only accepted.
    let report = pain002(
        "BANK-STS-1",
        &batch.batch_ref,
        3,
        "1134.00",
        &[(h1, "ACSC", "", "550.00"), (h3, "RJCT", "AC04", "234.00"), (h2, "ACCP", "", "350.00")],
    );
    let report_file = write(dir.path(), "pain002.xml", &report);
    let imported = d.payment.import_bank_file(&report_file, "test").await.unwrap();
    assert_eq!((imported.paid, imported.failed, imported.returned, imported.unchanged), (1, 1, 0, 1));
    assert_eq!(state(h1).await.state, State::Paid);
    let failed = state(h3).await;
    assert_eq!((failed.state, failed.bank_reason_code.as_deref()), (State::Failed, Some("AC04")));
    assert_eq!(failed.bank_reason.as_deref(), Some("账户已销户"));
    assert_eq!(state(h2).await.state, State::Sent);
    d.ledger_holds().await;
    assert_eq!(d.payment.store().account_balance("fund:DIBAO:2016:paid").await.unwrap(), 55_000);
    assert_eq!(d.payment.store().account_balance("payee:HOUSEHOLD:H001:paid").await.unwrap(), 55_000);
    assert_eq!(d.payment.store().account_balance("payee:HOUSEHOLD:H003:owed").await.unwrap(), 0);
    let r = d.payment.reconcile_batch(batch.batch_id, 100).await.unwrap();
    assert_eq!((r.state, r.awaiting.count, r.acknowledged), (BatchState::Open, 1, 1));
    assert_eq!((r.paid.fen, r.failed.fen), (55_000, 23_400));

    // The same file again changes nothing.
    let again = d.payment.import_bank_file(&report_file, "test").await.unwrap();
    assert!(again.imported_before.is_some());
    assert_eq!(again.file_id, imported.file_id);

    // Refused whole: an amount that differs (with a line that would have paid H002), a batch not
    // ours, an EndToEndId not ours, a settlement of what the bank rejected.
    let events_before = d.payment.store().instruction_events(h2).await.unwrap().len();
    for (name, bad, why) in [
        (
            "amount",
            pain002("B-2", &batch.batch_ref, 3, "1134.00", &[(h2, "ACSC", "", "350.00"), (h1, "ACSC", "", "550.01")]),
            "we sent",
        ),
        ("foreign", pain002("B-3", "SOMEONE-ELSES", 1, "350.00", &[(h2, "ACSC", "", "350.00")]), "not one of ours"),
        (
            "unknown",
            pain002("B-4", &batch.batch_ref, 3, "1134.00", &[(h2, "ACSC", "", "350.00"), (99_999, "ACSC", "", "1.00")]),
            "99999",
        ),
        (
            "contradiction",
            pain002("B-5", &batch.batch_ref, 3, "1134.00", &[(h2, "ACSC", "", "350.00"), (h3, "ACSC", "", "234.00")]),
            "FAILED",
        ),
        ("totals", pain002("B-6", &batch.batch_ref, 4, "1134.00", &[(h2, "ACSC", "", "350.00")]), "held 4"),
    ] {
        let file = write(dir.path(), &format!("{name}.xml"), &bad);
        let refused = d.payment.import_bank_file(&file, "test").await.expect_err(name).to_string();
        assert!(refused.contains("refused whole") && refused.contains(why), "{name}: {refused}");
        assert_eq!(state(h2).await.state, State::Sent, "{name} changed nothing");
    }
    assert_eq!(d.payment.store().instruction_events(h2).await.unwrap().len(), events_before);
    let camt_foreign = camt054("N-X", &[(h2, true, "350.00", "")]).replace("9558800000000001", "6222000000000001");
    let file = write(dir.path(), "camt-foreign.xml", &camt_foreign);
    assert!(d.payment.import_bank_file(&file, "test").await.is_err());
    let r = d.payment.reconcile_batch(batch.batch_id, 100).await.unwrap();
    assert_eq!(r.state, BatchState::Broken, "a refused answer about the batch: {:?}", r.differences);
    d.ledger_holds().await;

    // The notification: H002 booked; a week later H001 comes back (name mismatch).
    let camt = camt054("N-1", &[(h2, true, "350.00", ""), (h1, false, "550.00", "BE01")]);
    let imported = d.payment.import_bank_file(&write(dir.path(), "camt054.xml", &camt), "test").await.unwrap();
    assert_eq!((imported.paid, imported.returned), (1, 1));
    assert_eq!(state(h2).await.state, State::Paid);
    let returned = state(h1).await;
    assert_eq!((returned.state, returned.bank_reason_code.as_deref()), (State::Returned, Some("BE01")));
    d.ledger_holds().await;
    assert_eq!(d.payment.store().account_balance("fund:DIBAO:2016:paid").await.unwrap(), 0, "H001 came back");
    assert_eq!(d.payment.store().account_balance("fund:TEKUN:2016:paid").await.unwrap(), 35_000);
    let r = d.payment.reconcile_batch(batch.batch_id, 100).await.unwrap();
    assert_eq!(r.state, BatchState::Confirmed, "{:?}", r.differences);
    assert_eq!((r.paid.count, r.failed.count, r.returned.count, r.awaiting.count), (1, 1, 1, 0));
    assert_eq!(r.unpaid.iter().map(|u| u.instruction_id).collect::<Vec<_>>(), [h1, h3]);

    // Nothing is re-issued to the account the bank refused.
    let none = d.payment.reissue_corrected("test").await.unwrap();
    assert_eq!((none.reissued, none.awaiting_correction, none.unchecked), (0, 2, None));

    // H003's account is corrected in eligibility: its payment is re-issued, and only it.
    let staff = doudi_testkit::with_token(
        doudi_testkit::pki::suite().channel(d.eligibility.local_addr, None).await,
        &d.county_token,
    );
    epb::dibao_procedure_client::DibaoProcedureClient::new(staff)
        .correct_household(epb::CorrectHouseholdRequest {
            household_no: "H003".into(),
            bank_account: "6228480000000044".into(),
            effective_on: doudi_core::Date::today_china().to_string(),
            note: "the bank closed the old account".into(),
            ..Default::default()
        })
        .await
        .expect("correct the account");
    let done = d.payment.reissue_corrected("test").await.unwrap();
    assert_eq!((done.reissued, done.reissued_fen, done.awaiting_correction), (1, 23_400, 1));
    let first = state(h3).await;
    let reissue = state(first.reissued_as.expect("linked")).await;
    assert_eq!((reissue.reissue_of, reissue.state, reissue.amount), (Some(h3), State::Approved, 23_400));
    assert_eq!(reissue.account_masked, "****0044");
    assert_eq!(d.payment.reissue_corrected("test").await.unwrap().reissued, 0, "once");
    d.ledger_holds().await;

    // A payroll rerun pays nothing again: the re-issue is the month's payment for H003.
    let count = d.payment.list_instructions(&Default::default()).await.unwrap().0.len();
    d.payment.run_payroll(month("2016-03"), "test").await.unwrap();
    assert_eq!(d.payment.list_instructions(&Default::default()).await.unwrap().0.len(), count);
    let (payments, overpayments) = d.payment.household_history("H003").await.unwrap();
    assert!(overpayments.is_empty(), "the re-issue is no overpayment: {overpayments:?}");
    assert_eq!(payments.len(), 2, "the chain: the rejected payment and its re-issue");

    // The next batch carries the re-issue alone, to the corrected account; then nothing.
    let out = dir.path().join("b2.xml");
    let second = d.payment.export_batch(&out, None, Format::Pain001, "test").await.unwrap().unwrap();
    assert_eq!((second.count, second.sum_fen), (1, 23_400));
    let xml = std::fs::read_to_string(&out).unwrap();
    assert!(xml.contains(&format!("<EndToEndId>{}</EndToEndId>", reissue.id)) && xml.contains("6228480000000044"));
    assert_eq!(d.payment.export_batch(&dir.path().join("b3.xml"), None, Format::Pain001, "test").await.unwrap(), None);
    let settled = pain002("BANK-STS-2", &second.batch_ref, 1, "234.00", &[(reissue.id, "ACSC", "", "234.00")]);
    d.payment.import_bank_file(&write(dir.path(), "pain002-2.xml", &settled), "test").await.unwrap();
    assert_eq!(state(reissue.id).await.state, State::Paid);
    assert_eq!(d.payment.store().account_balance("payee:HOUSEHOLD:H003:paid").await.unwrap(), 23_400, "paid once");
    assert_eq!(d.payment.reconcile_batch(second.batch_id, 10).await.unwrap().state, BatchState::Confirmed);
    d.ledger_holds().await;

    // The console's view over gRPC: the first batch, its unpaid transfers and their chain.
    let mut client = pb::payments_client::PaymentsClient::new(d.staff_channel().await);
    let r = client
        .reconcile_batch(pb::ReconcileBatchRequest { batch_id: batch.batch_id, limit: 10 })
        .await
        .expect("reconcile")
        .into_inner();
    assert_eq!((r.state(), r.sent.map(|t| (t.count, t.fen))), (pb::BatchState::Confirmed, Some((3, 113_400))));
    let rejected = r.unpaid.iter().find(|u| u.instruction_id == h3).expect("the rejected transfer");
    assert_eq!((rejected.answer.as_str(), rejected.reason_code.as_str()), ("RJCT", "AC04"));
    assert_eq!(rejected.reissued_as, reissue.id);
    assert_eq!(r.files.len(), 2, "the status report and the notification");
    let got = client.get_instruction(pb::GetInstructionRequest { id: reissue.id }).await.unwrap().into_inner();
    assert_eq!((got.reissue_of, got.batch_id, got.payee.unwrap().account), (h3, second.batch_id, "****0044".into()));
    let missing = client.reconcile_batch(pb::ReconcileBatchRequest { batch_id: 999, limit: 0 }).await.unwrap_err();
    assert_eq!(missing.code(), tonic::Code::NotFound);
}
