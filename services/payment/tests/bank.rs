//! Bank batches through the real service, on SQLite and PostgreSQL: payroll → approve → export
//! marks every approved instruction SENT in one batch whose file has the batch's count and sum;
//! a second export right after has nothing; a cancelled batch's instructions go into the next;
//! a batch's file can be written again byte for byte.

mod common;

use common::{month, registry, spawn};
use doudi_payment::bank::export::Format;
use doudi_payment::funds::State;
use doudi_testkit::Backend;

doudi_testkit::conformance!(an_export_sends_each_approved_instruction_once);

async fn an_export_sends_each_approved_instruction_once(backend: Backend) {
    let d = spawn(backend, &registry()).await;
    d.budgets(2016, 100_000_000).await;
    d.payment.run_payroll(month("2016-03"), "test").await.unwrap();
    d.payment.approve_payroll(month("2016-03"), "test").await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("batch-1.xml");
    let first = d.payment.export_batch(&file, None, Format::Pain001, "test").await.unwrap().expect("a batch");
    assert_eq!((first.count, first.sum_fen), (3, 55_000 + 35_000 + 23_400));
    let xml = std::fs::read_to_string(&file).unwrap();
    assert!(xml.contains(&format!("<MsgId>{}</MsgId>", first.batch_ref)));
    assert!(xml.contains("<NbOfTxs>3</NbOfTxs><CtrlSum>1134.00</CtrlSum>"), "{xml}");
    assert!(xml.contains("<Id>6228480000000011</Id>"), "the bank file carries the full account");
    assert_eq!(xml.matches("<PmtInf>").count(), 2, "DIBAO and TEKUN");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(std::fs::metadata(&file).unwrap().permissions().mode() & 0o777, 0o600);
    }
    let (all, _) = d.payment.list_instructions(&Default::default()).await.unwrap();
    assert!(all.iter().all(|i| i.state == State::Sent), "{:?}", all.iter().map(|i| i.state).collect::<Vec<_>>());
    // Right after: nothing to send.
    assert_eq!(
        d.payment.export_batch(&dir.path().join("batch-2.xml"), None, Format::Pain001, "test").await.unwrap(),
        None
    );
    // The batch's file again, exactly.
    let again = dir.path().join("again.xml");
    let rewritten = d.payment.rewrite_batch(first.batch_id, &again).await.unwrap();
    assert_eq!(rewritten.sha256, first.sha256);
    assert_eq!(std::fs::read(&again).unwrap(), std::fs::read(&file).unwrap());

    // Cancelled before the bank answered: back to APPROVED, and into the next batch (as CSV).
    assert_eq!(d.payment.cancel_batch(first.batch_id, "test").await.unwrap(), 3);
    assert!(d.payment.cancel_batch(first.batch_id, "test").await.is_err(), "cancelled once");
    let csv = dir.path().join("batch-3.csv");
    let second = d.payment.export_batch(&csv, None, Format::Csv, "test").await.unwrap().expect("a batch");
    assert_ne!(second.batch_id, first.batch_id);
    let text = std::fs::read_to_string(&csv).unwrap();
    assert_eq!(text.lines().next(), Some("instruction_id,payee_name,account,amount_yuan,purpose"));
    assert_eq!(text.lines().last(), Some(format!("TOTAL,3,1134.00,{}", second.batch_ref).as_str()));
    let events = d.payment.store().instruction_events(1).await.unwrap();
    let path: Vec<(State, State)> = events.iter().map(|e| (e.from, e.to)).collect();
    assert_eq!(
        path,
        [
            (State::Draft, State::Approved),
            (State::Approved, State::Sent),
            (State::Sent, State::Approved),
            (State::Approved, State::Sent)
        ]
    );
    d.ledger_holds().await;
}
