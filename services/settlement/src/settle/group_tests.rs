//! What group commit promises, on a real database of each kind: every settlement of a group
//! gets exactly the answer it would have had alone.

use crate::error::SettlementError;
use crate::settle::bill::{Bill, RawBill};
use crate::settle::engine::{BillFigures, Calculation, VisitType, YearAccumulators};
use crate::settle::group::{GroupCommit, Job};
use crate::settle::ops::calculation;
use crate::settle::write::{Calculate, NewSettlement, Settled};
use crate::store::{MIGRATIONS, SETTLEMENT_ID, Store};
use doudi_core::policy::{HospitalLevel, PolicySet};
use doudi_core::{Category, Date, Fen};
use doudi_runtime::db::Db;
use doudi_testkit::{Backend, TestDb};
use std::sync::Arc;
use std::sync::atomic::Ordering::SeqCst;
use tokio::sync::oneshot;

doudi_testkit::conformance!(
    a_bill_that_fails_its_checks_fails_alone,
    the_same_bill_twice_in_a_group_is_one_settlement,
    a_bill_number_taken_before_the_group_is_answered_as_alone,
    a_persons_bills_in_one_group_get_what_they_would_alone,
    accumulators_equal_the_closed_form_under_a_hot_set,
    a_year_another_replica_changed_is_settled_on_its_stored_figures,
    a_group_that_panics_leaves_the_lane_settling,
);

async fn store(db: &TestDb) -> Store {
    Store::new(Db::open(&db.url, 4, &MIGRATIONS).await.expect("open"), doudi_testkit::cipher())
}

/// Bill `bill_no` of test person `person`: inpatient, discharged in 2016, 1 000 yuan in policy
/// out of `total`.
fn settlement(store: &Store, hospital: &str, bill_no: &str, person: u32, total: i64) -> NewSettlement {
    let id_text = doudi_testkit::person_id(person);
    let raw = RawBill {
        bill_no,
        national_id: &id_text,
        visit: Some(VisitType::Inpatient),
        admitted_on: "2016-03-01",
        discharged_on: "2016-03-10",
        total_fen: total,
        in_policy_fen: total * 9 / 10,
    };
    let bill = Bill::parse(&raw, Date::from_ymd(2016, 12, 31).expect("date")).expect("a valid bill");
    let id = format!("{hospital}-{bill_no}-{}", rand_suffix());
    NewSettlement {
        national_id_enc: store.seal(&SETTLEMENT_ID, &id, bill.national_id.expose()),
        person_key: store.person_key(&bill.national_id),
        id,
        hospital_code: hospital.to_owned(),
        hospital_level: HospitalLevel::County.as_str(),
        content_digest: format!("digest-{bill_no}-{total}"),
        bill,
        category: Category::Dibao1,
        policy_version: "test".to_owned(),
        now: "2016-03-10T08:00:00.000Z".to_owned(),
        today: Date::from_ymd(2016, 3, 10).expect("date"),
    }
}

fn rand_suffix() -> String {
    let mut random = [0u8; 6];
    getrandom::getrandom(&mut random).expect("randomness");
    hex::encode(random)
}

fn engine_for(new: &NewSettlement) -> Calculate {
    let figures = BillFigures {
        visit: new.bill.visit,
        level: HospitalLevel::County,
        total: new.bill.total,
        in_policy: new.bill.in_policy,
    };
    calculation(figures, Category::Dibao1, Arc::new(PolicySet::reference()), new.bill.day())
}

fn refused() -> Calculate {
    Box::new(|_| Err(SettlementError::internal("refused by the test")))
}

/// Jobs for `settlements`, and where each one's answer arrives.
fn jobs(settlements: Vec<(NewSettlement, Calculate)>) -> Vec<Job> {
    settlements.into_iter().map(|(new, calculate)| Job { new, calculate, answer: oneshot::channel().0 }).collect()
}

fn inserted(result: &crate::error::Result<Settled>) -> &Calculation {
    match result {
        Ok(Settled::Inserted(calculation)) => calculation,
        other => panic!("expected a settlement, got {other:?}"),
    }
}

async fn count(store: &Store, sql: &'static str) -> i64 {
    sqlx::query_scalar(sql).fetch_one(store.db.reads()).await.expect("count")
}

async fn year_of(store: &Store, new: &NewSettlement) -> YearAccumulators {
    store.accumulators(&new.person_key, new.year()).await.expect("year")
}

async fn a_bill_that_fails_its_checks_fails_alone(backend: Backend) {
    let db = TestDb::new(backend).await;
    let store = store(&db).await;
    let (a, b, c) = (
        settlement(&store, "H1", "A1", 1, 500_000),
        settlement(&store, "H1", "B1", 2, 500_000),
        settlement(&store, "H1", "C1", 3, 500_000),
    );
    let (a_engine, c_engine) = (engine_for(&a), engine_for(&c));
    let group = jobs(vec![(a.clone(), a_engine), (b.clone(), refused()), (c.clone(), c_engine)]);
    let results = store.write_group(&group).await.expect("the group is written");
    let a_calc = inserted(&results[0]).clone();
    assert!(matches!(&results[1], Err(SettlementError::Internal(cause)) if cause == "refused by the test"));
    inserted(&results[2]);
    assert_eq!(count(&store, "SELECT COUNT(*) FROM settlements").await, 2);
    assert_eq!(count(&store, "SELECT COUNT(*) FROM outbox_messages").await, 2);
    assert_eq!(count(&store, "SELECT COUNT(*) FROM access_log").await, 2);
    assert_eq!(year_of(&store, &a).await, YearAccumulators::default().plus(&a_calc.added).expect("sum"));
    assert_eq!(year_of(&store, &b).await, YearAccumulators::default());
    assert_eq!(store.accumulator_mismatches().await.expect("check"), []);
}

async fn the_same_bill_twice_in_a_group_is_one_settlement(backend: Backend) {
    let db = TestDb::new(backend).await;
    let store = store(&db).await;
    let first = settlement(&store, "H1", "SAME", 1, 500_000);
    let again = settlement(&store, "H1", "SAME", 1, 500_000);
    let other_hospital = settlement(&store, "H2", "SAME", 1, 500_000);
    let group = jobs(vec![
        (first.clone(), engine_for(&first)),
        (again.clone(), engine_for(&again)),
        (other_hospital.clone(), engine_for(&other_hospital)),
    ]);
    let results = store.write_group(&group).await.expect("the group is written");
    let once = inserted(&results[0]).clone();
    assert_eq!(results[1].as_ref().ok(), Some(&Settled::BillNoTaken));
    let second = inserted(&results[2]).clone();
    assert_eq!(count(&store, "SELECT COUNT(*) FROM settlements").await, 2);
    let both = YearAccumulators::default().plus(&once.added).and_then(|y| y.plus(&second.added)).expect("sum");
    assert_eq!(year_of(&store, &first).await, both);
    assert_eq!(store.accumulator_mismatches().await.expect("check"), []);
}

async fn a_bill_number_taken_before_the_group_is_answered_as_alone(backend: Backend) {
    let db = TestDb::new(backend).await;
    let store = store(&db).await;
    let earlier = settlement(&store, "H1", "X", 1, 2_000_000);
    let result = store.settle_alone(&earlier, &engine_for(&earlier)).await;
    let earlier_calc = inserted(&result).clone();
    // The retry of X comes first in the group; Y of the same person is calculated on the year
    // with X once, not twice.
    let retry = settlement(&store, "H1", "X", 1, 2_000_000);
    let next = settlement(&store, "H1", "Y", 1, 2_000_000);
    let group = jobs(vec![(retry.clone(), engine_for(&retry)), (next.clone(), engine_for(&next))]);
    let results = store.write_group(&group).await.expect("the group is written");
    assert_eq!(results[0].as_ref().ok(), Some(&Settled::BillNoTaken));
    let next_calc = inserted(&results[1]).clone();
    let after_x = YearAccumulators::default().plus(&earlier_calc.added).expect("sum");
    let alone = engine_for(&next)(&after_x).expect("calculation");
    assert_eq!(next_calc, alone);
    assert_eq!(count(&store, "SELECT COUNT(*) FROM settlements").await, 2);
    assert_eq!(store.accumulator_mismatches().await.expect("check"), []);
}

async fn a_persons_bills_in_one_group_get_what_they_would_alone(backend: Backend) {
    let (grouped_db, alone_db) = (TestDb::new(backend).await, TestDb::new(backend).await);
    let (grouped, alone) = (store(&grouped_db).await, store(&alone_db).await);
    // Large bills, so the person's year crosses deductibles and caps within the group.
    let totals = [8_000_000, 15_000_000, 30_000_000, 60_000_000, 9_000_000];
    let bills: Vec<_> = totals.iter().enumerate().map(|(i, t)| (format!("P{i}"), *t)).collect();
    let mut group = Vec::new();
    let mut expected = Vec::new();
    for (bill_no, total) in &bills {
        let one = settlement(&alone, "H1", bill_no, 7, *total);
        expected.push(inserted(&alone.settle_alone(&one, &engine_for(&one)).await).clone());
        let new = settlement(&grouped, "H1", bill_no, 7, *total);
        group.push((new.clone(), engine_for(&new)));
    }
    let results = grouped.write_group(&jobs(group)).await.expect("the group is written");
    let got: Vec<Calculation> = results.iter().map(|r| inserted(r).clone()).collect();
    assert_eq!(got, expected);
    assert!(got.iter().any(|c| c.assistance > Fen(0)), "the bills reach medical assistance");
    let year = |store| async move { year_of(store, &settlement(store, "H1", "any", 7, 1)).await };
    assert_eq!(year(&grouped).await, year(&alone).await);
    assert_eq!(grouped.accumulator_mismatches().await.expect("check"), []);
}

/// Eight hospitals settle at once, one bill in ten on five hot persons, the rest on distinct
/// persons, all through the lanes; every hot person's year is then what their bills give one
/// after another (identical bills, so the order does not matter), and every stored year equals
/// the sum of its settled bills.
async fn accumulators_equal_the_closed_form_under_a_hot_set(backend: Backend) {
    let db = TestDb::new(backend).await;
    let store = store(&db).await;
    let commits = Arc::new(GroupCommit::default());
    const HOSPITALS: u32 = 8;
    const BILLS_EACH: u32 = 40;
    const HOT: u32 = 5;
    const TOTAL: i64 = 3_000_000;
    let tasks: Vec<_> = (0..HOSPITALS)
        .map(|h| {
            let (store, commits) = (store.clone(), commits.clone());
            tokio::spawn(async move {
                for i in 0..BILLS_EACH {
                    let n = h * BILLS_EACH + i;
                    let person = if n.is_multiple_of(10) { n / 10 % HOT } else { 1_000 + n };
                    let new = settlement(&store, &format!("H{h}"), &format!("B{i}"), person, TOTAL);
                    let calculate = engine_for(&new);
                    let settled = commits.settle(&store, new, calculate).await.expect("settled");
                    assert!(matches!(settled, Settled::Inserted(_)), "{settled:?}");
                }
            })
        })
        .collect();
    for task in tasks {
        task.await.expect("a hospital");
    }
    let calculate = engine_for(&settlement(&store, "H0", "shape", 0, TOTAL));
    for person in 0..HOT {
        let bills = (0..HOSPITALS * BILLS_EACH).filter(|n| n.is_multiple_of(10) && n / 10 % HOT == person).count();
        let closed_form = (0..bills).fold(YearAccumulators::default(), |year, _| {
            year.plus(&calculate(&year).expect("calculation").added).expect("sum")
        });
        let of_person = settlement(&store, "H0", "shape", person, TOTAL);
        assert_eq!(year_of(&store, &of_person).await, closed_form, "hot person {person}, {bills} bills");
    }
    let (groups, grouped) = (commits.counts().groups.load(SeqCst), commits.counts().settlements.load(SeqCst));
    assert_eq!(grouped, u64::from(HOSPITALS * BILLS_EACH));
    assert!(groups < grouped, "no group held more than one settlement ({groups} groups)");
    let total = i64::from(HOSPITALS * BILLS_EACH);
    assert_eq!(count(&store, "SELECT COUNT(*) FROM settlements").await, total);
    assert_eq!(count(&store, "SELECT COUNT(*) FROM outbox_messages").await, total);
    assert_eq!(store.accumulator_mismatches().await.expect("check"), []);
}

/// Two replicas on one database: the first knows person 1's year from its own settlement, the
/// second then settles another bill of that person. The first's next group (persons 1, 2 and 3)
/// must calculate person 1's bill on the stored year, not on what it remembered.
async fn a_year_another_replica_changed_is_settled_on_its_stored_figures(backend: Backend) {
    let db = TestDb::new(backend).await;
    let cipher = doudi_testkit::cipher();
    let open = || async { Db::open(&db.url, 4, &MIGRATIONS).await.expect("open") };
    let (first, second) = (Store::new(open().await, cipher.clone()), Store::new(open().await, cipher));
    let mine = settlement(&first, "H1", "R1", 1, 20_000_000);
    inserted(&first.settle_alone(&mine, &engine_for(&mine)).await);
    let theirs = settlement(&second, "H2", "R2", 1, 20_000_000);
    inserted(&second.settle_alone(&theirs, &engine_for(&theirs)).await);
    let stored = year_of(&first, &mine).await;

    let bills = [
        settlement(&first, "H1", "R3", 1, 20_000_000),
        settlement(&first, "H1", "S1", 2, 20_000_000),
        settlement(&first, "H1", "T1", 3, 20_000_000),
    ];
    let mut answers = Vec::new();
    let mut group = Vec::new();
    for new in &bills {
        let (answer, answered) = oneshot::channel();
        group.push(Job { new: new.clone(), calculate: engine_for(new), answer });
        answers.push(answered);
    }
    if backend == Backend::Postgres {
        // The one statement settles persons 2 and 3 and leaves person 1 to the lock.
        let statement = first.settle_group_if_unchanged(&group).await.expect("the statement runs");
        let settled: Vec<bool> = statement.iter().map(|a| matches!(a, Some(Ok(Settled::Inserted(_))))).collect();
        assert_eq!(settled, [false, true, true]);
        assert!(statement[0].is_none(), "person 1 was left to the lock");
        let mut left = group;
        left.truncate(1);
        crate::settle::group::commit(&first, left).await;
        let first_answer = answers.remove(0).await.expect("answered");
        assert_eq!(inserted(&first_answer), &engine_for(&bills[0])(&stored).expect("calculation"));
        assert_eq!(count(&first, "SELECT COUNT(*) FROM settlements").await, 5);
        assert_eq!(first.accumulator_mismatches().await.expect("check"), []);
        return;
    }
    crate::settle::group::commit(&first, group).await;
    let mut results = Vec::new();
    for answered in answers {
        results.push(answered.await.expect("answered"));
    }
    assert_eq!(inserted(&results[0]), &engine_for(&bills[0])(&stored).expect("calculation"));
    inserted(&results[1]);
    inserted(&results[2]);
    assert_eq!(count(&first, "SELECT COUNT(*) FROM settlements").await, 5);
    assert_eq!(first.accumulator_mismatches().await.expect("check"), []);
}

/// A calculation that panics takes its group's answers with it, not the lane: the next
/// settlement is written as usual.
async fn a_group_that_panics_leaves_the_lane_settling(backend: Backend) {
    let db = TestDb::new(backend).await;
    let store = store(&db).await;
    let commits = GroupCommit::default();
    let broken = settlement(&store, "H1", "PANIC", 1, 500_000);
    let panics: Calculate = Box::new(|_| panic!("a broken calculation"));
    let answer = commits.settle(&store, broken, panics).await;
    assert!(matches!(&answer, Err(SettlementError::Internal(cause)) if cause.contains("stopped")), "{answer:?}");
    let next = settlement(&store, "H1", "AFTER", 2, 500_000);
    let calculate = engine_for(&next);
    inserted(&commits.settle(&store, next, calculate).await);
    assert_eq!(count(&store, "SELECT COUNT(*) FROM settlements").await, 1);
}
