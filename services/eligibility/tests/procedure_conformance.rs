//! The dibao procedure on SQLite and PostgreSQL, through real gRPC with staff tokens: every step
//! to enrolment, rejections, objections, township scope and roles, quotas, the waiting list,
//! reviews and the monthly roll.
//!
//! One file because `doudi_testkit::conformance!` lists every scenario once for both backends.

mod common;

use common::{person_id, spawn};
use doudi_core::Date;
use doudi_eligibility::staff::rules::Role;
use doudi_proto::eligibility::v1 as pb;
use doudi_proto::eligibility::v1::dibao_procedure_client::DibaoProcedureClient;
use doudi_runtime::audit::{self, ChainReport};
use doudi_runtime::error::field_violations;
use doudi_testkit::Backend;
use tonic::Code;
use tonic::transport::Channel;

doudi_testkit::conformance!(
    an_application_walks_every_step_to_enrolment,
    rejections_objections_and_steps_out_of_order,
    township_staff_keep_to_their_township_and_only_the_county_approves,
    an_approval_over_the_township_quota_is_refused,
    the_waiting_list_puts_poor_villages_then_vulnerable_households_then_score_first,
    reviews_and_the_monthly_roll,
    tekun_is_raised_into_or_lowered_out_of_by_the_county_within_the_quota,
    the_poverty_list_marks_registered_poor_and_compares_with_dibao,
    a_village_notice_lists_applicants_and_recipients_masked,
    registry_upkeep_births_moves_deaths_and_corrections,
    a_move_between_households_follows_the_rules_of_leaving,
);

const TOWN_A: &str = "城关镇";
const TOWN_B: &str = "河口乡";

struct Desk {
    t: common::TestService,
    client: DibaoProcedureClient<Channel>,
    county: String,
    clerk_a: String,
    clerk_b: String,
}

async fn desk(backend: Backend) -> Desk {
    let t = spawn(backend).await;
    let store = t.service.store();
    // Valid for the years these tests walk their calendars through.
    let until = day("2099-12-31");
    let (_, county) =
        store.add_staff("县民政局 王科长", Role::County, None, until, "test").await.expect("county staff");
    let (_, clerk_a) =
        store.add_staff("城关镇 李干事", Role::Township, Some(TOWN_A), until, "test").await.expect("clerk");
    let (_, clerk_b) =
        store.add_staff("河口乡 赵干事", Role::Township, Some(TOWN_B), until, "test").await.expect("clerk");
    t.service.clock().set_today(day("2016-03-01"));
    let client = DibaoProcedureClient::new(t.channel.clone());
    Desk { t, client, county, clerk_a, clerk_b }
}

fn day(s: &str) -> Date {
    s.parse().expect("date")
}

fn as_staff<T>(token: &str, message: T) -> tonic::Request<T> {
    let mut request = tonic::Request::new(message);
    request.metadata_mut().insert("authorization", format!("Bearer {token}").parse().expect("metadata"));
    request
}

fn member(
    n: u32,
    relation: pb::Relation,
    disability_grade: i32,
    seriously_ill: bool,
    able_to_work: bool,
) -> pb::MemberInput {
    pb::MemberInput {
        national_id: person_id(n),
        name: format!("成员{n}"),
        relation: relation as i32,
        disability_grade,
        seriously_ill,
        able_to_work,
        publicly_funded: false,
    }
}

/// A household of three in `township`/`village`: a grade-1 disabled head, a seriously ill spouse,
/// a working child; income 60 000 fen a month. With one pupil: 20 + 20 + 5 = 45 → DIBAO_2.
async fn register(d: &mut Desk, household_no: &str, township: &str, village: &str, first: u32) {
    let request = pb::RegisterHouseholdRequest {
        household_no: household_no.into(),
        township: township.into(),
        village: village.into(),
        address: "1号".into(),
        members: vec![
            member(first, pb::Relation::Head, 1, false, false),
            member(first + 1, pb::Relation::Spouse, 0, true, false),
            member(first + 2, pb::Relation::Child, 0, false, true),
        ],
        monthly_income_fen: 60_000,
        assets: Some(pb::Assets::default()),
        bank_account: "6228480000000777".into(),
    };
    d.t.client.register_household(request).await.expect("register");
}

async fn submit(d: &mut Desk, token: &str, household_no: &str) -> Result<pb::Application, tonic::Status> {
    let request = pb::SubmitApplicationRequest { household_no: household_no.into(), ..Default::default() };
    d.client.submit_application(as_staff(token, request)).await.map(tonic::Response::into_inner)
}

async fn step(
    d: &mut Desk,
    token: &str,
    id: i64,
    step: pb::ProcedureStep,
    note: &str,
) -> Result<pb::Application, tonic::Status> {
    let mut request =
        pb::TakeStepRequest { application_id: id, step: step as i32, note: note.into(), ..Default::default() };
    if step == pb::ProcedureStep::Investigate {
        request.findings = Some(pb::Findings { pupils: 1, ..Default::default() });
    }
    d.client.take_step(as_staff(token, request)).await.map(tonic::Response::into_inner)
}

/// Through the public notice, as the township clerk.
async fn to_notice(d: &mut Desk, id: i64) -> pb::Application {
    let clerk = d.clerk_a.clone();
    let mut last = None;
    for s in [
        pb::ProcedureStep::Accept,
        pb::ProcedureStep::Investigate,
        pb::ProcedureStep::CheckEconomy,
        pb::ProcedureStep::Appraise,
        pb::ProcedureStep::PublishNotice,
    ] {
        last = Some(step(d, &clerk, id, s, "").await.unwrap_or_else(|e| panic!("{s:?}: {e:?}")));
    }
    last.expect("steps taken")
}

async fn set_quota(d: &mut Desk, township: &str, quota: i64) -> Result<pb::TownshipQuota, tonic::Status> {
    let request = pb::SetTownshipQuotaRequest { township: township.into(), dibao_quota: quota };
    d.client.set_township_quota(as_staff(&d.county.clone(), request)).await.map(tonic::Response::into_inner)
}

async fn coverage(d: &mut Desk, n: u32, on: &str) -> pb::Category {
    let request = pb::GetCoverageRequest { national_id: person_id(n), date: on.into() };
    d.t.client.get_coverage(request).await.expect("coverage").into_inner().category()
}

async fn an_application_walks_every_step_to_enrolment(backend: Backend) {
    let mut d = desk(backend).await;
    register(&mut d, "A-1", TOWN_A, "东村", 10).await;
    set_quota(&mut d, TOWN_A, 10).await.expect("quota");
    let clerk = d.clerk_a.clone();
    let submitted = submit(&mut d, &clerk, "A-1").await.expect("submit");
    assert_eq!(submitted.stage(), pb::ApplicationStage::Submitted);
    let again = submit(&mut d, &clerk, "A-1").await.expect_err("one open application per household");
    assert_eq!(again.code(), Code::AlreadyExists);
    let id = submitted.application_id;
    let noticed = to_notice(&mut d, id).await;
    assert_eq!((noticed.stage(), noticed.notice_until.as_str()), (pb::ApplicationStage::InNotice, "2016-03-07"));

    // The assessment, with every gate and factor.
    let assessment = noticed.assessment.expect("assessed");
    assert!(assessment.gates.iter().all(|g| g.passed), "{:?}", assessment.gates);
    assert_eq!(
        assessment.gates.iter().map(|g| g.name.as_str()).collect::<Vec<_>>(),
        ["income", "assets", "public_funds"]
    );
    let points: Vec<(&str, i64)> =
        assessment.factors.iter().filter(|f| f.points > 0).map(|f| (f.name.as_str(), f.points)).collect();
    assert_eq!(points, [("severely_disabled", 20), ("seriously_ill", 20), ("pupil", 5)]);
    assert_eq!((assessment.score, assessment.class(), assessment.standard_fen), (45, pb::Category::Dibao2, 27_500));

    // The notice runs 7 days; a dismissed objection is recorded and changes nothing.
    d.t.service.clock().set_today(day("2016-03-07"));
    let early = step(&mut d, &clerk, id, pb::ProcedureStep::Review, "").await.expect_err("notice still up");
    assert_eq!(early.code(), Code::FailedPrecondition);
    let mut objection = pb::TakeStepRequest {
        application_id: id,
        step: pb::ProcedureStep::Object as i32,
        note: "邻居称其有收入".into(),
        ..Default::default()
    };
    let after = d.client.take_step(as_staff(&clerk, objection.clone())).await.expect("objection").into_inner();
    assert_eq!(after.stage(), pb::ApplicationStage::InNotice);
    objection.note.clear();
    let status = d.client.take_step(as_staff(&clerk, objection)).await.expect_err("an objection needs content");
    assert_eq!(field_violations(&status)[0].field, "note");

    d.t.service.clock().set_today(day("2016-03-08"));
    let reviewed = step(&mut d, &clerk, id, pb::ProcedureStep::Review, "核实无误").await.expect("township review");
    assert_eq!(reviewed.stage(), pb::ApplicationStage::Reviewed);
    let status = step(&mut d, &clerk, id, pb::ProcedureStep::Approve, "").await.expect_err("township cannot approve");
    assert_eq!(status.code(), Code::PermissionDenied);
    let county = d.county.clone();
    let approved = step(&mut d, &county, id, pb::ProcedureStep::Approve, "同意").await.expect("county approval");
    assert_eq!(approved.stage(), pb::ApplicationStage::Approved);
    assert_eq!(approved.enrolments.len(), 3);
    assert!(
        approved.enrolments.iter().all(|e| e.category() == pb::Category::Dibao2 && e.effective_from == "2016-04-01")
    );
    assert!(approved.enrolments[0].national_id.contains('*'), "masked");

    // Enrolled from the next month; the record of every step, by whom, stays.
    assert_eq!(coverage(&mut d, 10, "2016-03-31").await, pb::Category::None);
    assert_eq!(coverage(&mut d, 10, "2016-04-01").await, pb::Category::Dibao2);
    let steps: Vec<(pb::ProcedureStep, &str)> =
        approved.steps.iter().map(|s| (s.step(), s.staff_name.as_str())).collect();
    assert_eq!(steps.len(), 9, "submit, 5 steps, objection, review, approval: {steps:?}");
    assert_eq!(steps[0].0, pb::ProcedureStep::Submit);
    assert_eq!(steps.last().copied(), Some((pb::ProcedureStep::Approve, "县民政局 王科长")));
    assert_eq!(steps[1], (pb::ProcedureStep::Accept, "城关镇 李干事"));
    let chain = audit::verify(d.t.service.store().db().reads(), d.t.service.store().cipher()).await.expect("verify");
    assert!(matches!(chain, ChainReport::Intact { records } if records >= 12), "{chain:?}");
    let quota = set_quota(&mut d, TOWN_A, 10).await.expect("quota");
    assert_eq!(quota.enrolled, 0, "enrolled today (2016-03-08) is still none: it starts in April");
}

async fn rejections_objections_and_steps_out_of_order(backend: Backend) {
    let mut d = desk(backend).await;
    let clerk = d.clerk_a.clone();
    // Rejection at each step, with its reason; nothing after it.
    let steps = [
        pb::ProcedureStep::Accept,
        pb::ProcedureStep::Investigate,
        pb::ProcedureStep::CheckEconomy,
        pb::ProcedureStep::Appraise,
        pb::ProcedureStep::PublishNotice,
    ];
    for (k, first) in (0..=steps.len()).zip((0u32..).step_by(3)) {
        let household = format!("R-{k}");
        register(&mut d, &household, TOWN_A, "西村", 100 + first).await;
        let id = submit(&mut d, &clerk, &household).await.expect("submit").application_id;
        for s in &steps[..k] {
            step(&mut d, &clerk, id, *s, "").await.expect("step");
        }
        let status = step(&mut d, &clerk, id, pb::ProcedureStep::Reject, " ").await.expect_err("a reason is required");
        assert_eq!(field_violations(&status)[0].field, "note");
        let rejected = step(&mut d, &clerk, id, pb::ProcedureStep::Reject, "家庭收入超标").await.expect("reject");
        assert_eq!(rejected.stage(), pb::ApplicationStage::Rejected);
        assert_eq!(rejected.steps.last().map(|s| s.note.as_str()), Some("家庭收入超标"));
        let status = step(&mut d, &clerk, id, pb::ProcedureStep::Accept, "").await.expect_err("rejected is final");
        assert_eq!(status.code(), Code::FailedPrecondition);
    }
    // Out of order, and an upheld objection back to investigation.
    register(&mut d, "O-1", TOWN_A, "西村", 200).await;
    let id = submit(&mut d, &clerk, "O-1").await.expect("submit").application_id;
    let status = step(&mut d, &clerk, id, pb::ProcedureStep::Appraise, "").await.expect_err("out of order");
    assert_eq!(status.code(), Code::FailedPrecondition);
    assert!(status.message().contains("SUBMITTED"), "{}", status.message());
    to_notice(&mut d, id).await;
    let upheld = pb::TakeStepRequest {
        application_id: id,
        step: pb::ProcedureStep::Object as i32,
        note: "隐瞒车辆".into(),
        objection_upheld: true,
        ..Default::default()
    };
    let back = d.client.take_step(as_staff(&clerk, upheld)).await.expect("objection").into_inner();
    assert_eq!((back.stage(), back.notice_until.as_str()), (pb::ApplicationStage::Accepted, ""));
    let again = step(&mut d, &clerk, id, pb::ProcedureStep::Investigate, "复查").await.expect("investigate again");
    assert_eq!(again.stage(), pb::ApplicationStage::Investigated);
    let status = submit(&mut d, &clerk, "NO-SUCH").await.expect_err("unknown household");
    assert_eq!(status.code(), Code::NotFound);
    let unspecified = pb::TakeStepRequest { application_id: id, ..Default::default() };
    let status = d.client.take_step(as_staff(&clerk, unspecified)).await.expect_err("no step");
    assert_eq!(field_violations(&status)[0].field, "step");
}

async fn township_staff_keep_to_their_township_and_only_the_county_approves(backend: Backend) {
    let mut d = desk(backend).await;
    register(&mut d, "S-1", TOWN_A, "东村", 300).await;
    let (clerk_a, clerk_b, county) = (d.clerk_a.clone(), d.clerk_b.clone(), d.county.clone());
    let status = submit(&mut d, &clerk_b, "S-1").await.expect_err("another township's household");
    assert_eq!(status.code(), Code::PermissionDenied);
    let id = submit(&mut d, &clerk_a, "S-1").await.expect("submit").application_id;
    // Another township's case is not found, exactly as one that does not exist.
    let status = step(&mut d, &clerk_b, id, pb::ProcedureStep::Accept, "").await.expect_err("another township's case");
    assert_eq!((status.code(), status.message()), (Code::NotFound, format!("application {id} not found").as_str()));
    let status = d
        .client
        .get_application(as_staff(&clerk_b, pb::GetApplicationRequest { application_id: id }))
        .await
        .expect_err("not theirs to read");
    assert_eq!(status.code(), Code::NotFound);
    let missing = pb::GetApplicationRequest { application_id: id + 1000 };
    let status = d.client.get_application(as_staff(&clerk_b, missing)).await.expect_err("no such application");
    assert_eq!(
        (status.code(), status.message()),
        (Code::NotFound, format!("application {} not found", id + 1000).as_str())
    );
    let waiting = d.client.list_waiting(as_staff(&clerk_b, pb::ListWaitingRequest::default())).await.expect("list");
    assert!(waiting.into_inner().applications.is_empty(), "township B sees none of A's cases");
    step(&mut d, &county, id, pb::ProcedureStep::Accept, "").await.expect("county may act anywhere");
    let quota = pb::SetTownshipQuotaRequest { township: TOWN_A.into(), dibao_quota: 5 };
    let status = d.client.set_township_quota(as_staff(&clerk_a, quota)).await.expect_err("county only");
    assert_eq!(status.code(), Code::PermissionDenied);
    let status = d.client.get_application(tonic::Request::new(pb::GetApplicationRequest { application_id: id })).await;
    assert_eq!(status.expect_err("no token").code(), Code::Unauthenticated);
    let staff_id: i64 = clerk_a.split('_').nth(1).and_then(|n| n.parse().ok()).expect("id in token");
    assert!(d.t.service.store().revoke_staff(staff_id, "test").await.expect("revoke"));
    let status = step(&mut d, &clerk_a, id, pb::ProcedureStep::Investigate, "").await.expect_err("withdrawn");
    assert_eq!(status.code(), Code::Unauthenticated);
    // A token expires after its last valid day.
    let store = d.t.service.store().clone();
    let (_, brief) =
        store.add_staff("城关镇 临时工", Role::Township, Some(TOWN_A), day("2016-03-01"), "test").await.expect("add");
    d.t.service.clock().set_today(day("2016-03-01"));
    let ask = |token: &str| as_staff(token, pb::ListWaitingRequest::default());
    d.client.list_waiting(ask(&brief)).await.expect("valid on its last day");
    d.t.service.clock().set_today(day("2016-03-02"));
    let status = d.client.list_waiting(ask(&brief)).await.expect_err("expired");
    assert_eq!(status.code(), Code::Unauthenticated);
    assert!(status.message().contains("expired after 2016-03-01"), "{}", status.message());
    let listed = store.staff_list().await.expect("list");
    assert!(listed.iter().all(|s| !s.name.contains("临时工")), "names are masked");
    let brief_line = listed.last().expect("the last added");
    assert_eq!((brief_line.expires_on.as_deref(), brief_line.revoked_at.is_some()), (Some("2016-03-01"), false));
    assert!(listed.iter().find(|s| s.id == staff_id).is_some_and(|s| s.revoked_at.is_some()));
    // The last character of the MAC changed (always to another one).
    let last = if clerk_b.ends_with('0') { '1' } else { '0' };
    let forged = format!("{}{last}", &clerk_b[..clerk_b.len() - 1]);
    let status = submit(&mut d, &forged, "S-1").await.expect_err("forged");
    assert_eq!(status.code(), Code::Unauthenticated);
}

async fn an_approval_over_the_township_quota_is_refused(backend: Backend) {
    let mut d = desk(backend).await;
    register(&mut d, "Q-1", TOWN_A, "东村", 400).await;
    let (clerk, county) = (d.clerk_a.clone(), d.county.clone());
    let id = submit(&mut d, &clerk, "Q-1").await.expect("submit").application_id;
    to_notice(&mut d, id).await;
    d.t.service.clock().set_today(day("2016-03-08"));
    step(&mut d, &clerk, id, pb::ProcedureStep::Review, "").await.expect("review");
    let status = step(&mut d, &county, id, pb::ProcedureStep::Approve, "").await.expect_err("no quota set");
    assert!(status.message().contains("no dibao quota"), "{}", status.message());
    set_quota(&mut d, TOWN_A, 2).await.expect("quota");
    let status =
        step(&mut d, &county, id, pb::ProcedureStep::Approve, "").await.expect_err("3 persons over a quota of 2");
    assert_eq!(status.code(), Code::FailedPrecondition);
    assert!(
        status.message().contains("quota is 2 persons; 0 are enrolled and this approval adds 3"),
        "{}",
        status.message()
    );
    assert_eq!(coverage(&mut d, 400, "2016-04-01").await, pb::Category::None, "nothing enrolled");
    // Two of the three, the head (unable to work) as TEKUN and the spouse in dibao: within the
    // quota; a person outside the household cannot be named.
    let outsider = pb::TakeStepRequest {
        application_id: id,
        step: pb::ProcedureStep::Approve as i32,
        member_national_ids: vec![person_id(400), person_id(9)],
        ..Default::default()
    };
    let status = d.client.take_step(as_staff(&county, outsider)).await.expect_err("not a member");
    assert_eq!(field_violations(&status)[0].field, "memberNationalIds[1]");
    let two = pb::TakeStepRequest {
        application_id: id,
        step: pb::ProcedureStep::Approve as i32,
        member_national_ids: vec![person_id(401), person_id(400)],
        tekun_national_ids: vec![person_id(400)],
        ..Default::default()
    };
    set_quota(&mut d, TOWN_A, 1).await.expect("quota");
    let approved = d.client.take_step(as_staff(&county, two)).await.expect("approve two").into_inner();
    let categories: Vec<pb::Category> = approved.enrolments.iter().map(|e| e.category()).collect();
    assert_eq!(categories, [pb::Category::Tekun, pb::Category::Dibao2]);
    assert_eq!(coverage(&mut d, 402, "2016-04-01").await, pb::Category::None, "the third member is not enrolled");
    assert_eq!(coverage(&mut d, 400, "2016-04-01").await, pb::Category::Tekun);
}

async fn the_waiting_list_puts_poor_villages_then_vulnerable_households_then_score_first(backend: Backend) {
    let mut d = desk(backend).await;
    let (clerk, county) = (d.clerk_a.clone(), d.county.clone());
    let poor = pb::SetPoorVillageRequest { township: TOWN_A.into(), village: "贫困村".into(), poor: true };
    d.client.set_poor_village(as_staff(&county, poor)).await.expect("flag");
    // W-1: ordinary village, not assessed; W-2: ordinary, assessed (vulnerable, 45); W-3: poor
    // village, not assessed; W-4: ordinary, assessed with a higher score but no vulnerable member.
    register(&mut d, "W-1", TOWN_A, "东村", 500).await;
    register(&mut d, "W-2", TOWN_A, "东村", 510).await;
    register(&mut d, "W-3", TOWN_A, "贫困村", 520).await;
    let request = pb::RegisterHouseholdRequest {
        household_no: "W-4".into(),
        township: TOWN_A.into(),
        village: "东村".into(),
        members: vec![member(530, pb::Relation::Head, 0, false, false)],
        assets: Some(pb::Assets::default()),
        ..Default::default()
    };
    d.t.client.register_household(request).await.expect("register");
    let mut ids = Vec::new();
    for household in ["W-1", "W-2", "W-3", "W-4"] {
        ids.push(submit(&mut d, &clerk, household).await.expect("submit").application_id);
    }
    for id in [ids[1], ids[3]] {
        for s in [pb::ProcedureStep::Accept, pb::ProcedureStep::Investigate, pb::ProcedureStep::CheckEconomy] {
            step(&mut d, &clerk, id, s, "").await.expect("step");
        }
    }
    let waiting = d.client.list_waiting(as_staff(&clerk, pb::ListWaitingRequest::default())).await.expect("list");
    let order: Vec<String> = waiting.into_inner().applications.into_iter().map(|a| a.household_no).collect();
    assert_eq!(order, ["W-3", "W-2", "W-4", "W-1"], "poor village, vulnerable, score (W-4: 30 + 5), then the rest");
}

async fn the_poverty_list_marks_registered_poor_and_compares_with_dibao(backend: Backend) {
    let d = desk(backend).await;
    let file = common::csv(&[
        common::row("V-1", 700, "HEAD", "DIBAO_2", "2015-01-01", "", "6228480000000700"),
        common::row("V-2", 701, "HEAD", "LOW_INCOME", "2015-01-01", "", ""),
        common::row("V-3", 702, "HEAD", "DIBAO_1", "2015-01-01", "", ""),
    ]);
    d.t.service.import_csv(&file, "v.csv", "test", false).await.expect("import");
    let unknown = doudi_core::national_id::synthesize("360730", day("1990-01-01"), 999);
    let list =
        format!("household_no,national_id\nV-1,{}\nV-2,{}\nV-9,{}\n", person_id(700), person_id(701), unknown.expose());
    let first = d.t.service.match_poverty(&list, "test").await.expect("match");
    assert_eq!((first.marked, first.already, first.unknown.len()), (2, 0, 1));
    assert_eq!(first.poor_without_dibao, ["V-2", "V-9"], "registered poor without dibao: candidates");
    assert_eq!(first.dibao_not_registered_poor, ["V-3"]);
    let again = d.t.service.match_poverty(&list, "test").await.expect("again");
    assert_eq!((again.marked, again.already), (0, 2), "marking twice changes nothing");
    let held = d.t.service.coverage(&person_id(701), "2016-03-01").await.expect("coverage");
    assert_eq!(held.coverage.category, doudi_core::Category::RegisteredPoor);
    let bad = format!("household_no,national_id\nV-1,{}0\n", person_id(700));
    assert!(matches!(
        d.t.service.match_poverty(&bad, "test").await,
        Err(doudi_eligibility::EligibilityError::ImportRows(_))
    ));
}

async fn a_village_notice_lists_applicants_and_recipients_masked(backend: Backend) {
    let mut d = desk(backend).await;
    register(&mut d, "N-1", TOWN_A, "南村", 800).await;
    let clerk = d.clerk_a.clone();
    let id = submit(&mut d, &clerk, "N-1").await.expect("submit").application_id;
    to_notice(&mut d, id).await;
    d.t.service.clock().set_today(day("2015-12-20"));
    let file = common::csv(&[common::row("N-2", 810, "HEAD", "TEKUN", "2015-01-01", "", "")]);
    let file = file.replace("东村", "南村");
    d.t.service.import_csv(&file, "n.csv", "test", false).await.expect("import");
    let notice = d.t.service.notice_list(TOWN_A, "南村", day("2016-03-05")).await.expect("notice");
    let applicants: Vec<(&str, &str, doudi_core::Category)> = notice
        .applications_in_notice
        .iter()
        .map(|a| (a.line.household_no.as_str(), a.line.name.as_str(), a.line.category))
        .collect();
    assert_eq!(applicants.len(), 3, "{applicants:?}");
    assert!(
        applicants.iter().all(|(h, name, c)| *h == "N-1" && name.contains('*') && *c == doudi_core::Category::Dibao2)
    );
    assert_eq!(notice.applications_in_notice[0].notice_until, "2016-03-07");
    assert_eq!(notice.recipients.len(), 1);
    let recipient = &notice.recipients[0];
    assert_eq!((recipient.household_no.as_str(), recipient.category), ("N-2", doudi_core::Category::Tekun));
    assert!(recipient.national_id.contains("********") && recipient.name.starts_with('测'), "{recipient:?}");
    let request =
        pb::GetNoticeListRequest { township: TOWN_A.into(), village: "南村".into(), date: "2016-03-05".into() };
    let over_grpc = d.client.get_notice_list(as_staff(&clerk, request.clone())).await.expect("notice").into_inner();
    assert_eq!((over_grpc.applicants.len(), over_grpc.recipients.len()), (3, 1));
    assert_eq!(over_grpc.applicants[0].notice_until, "2016-03-07");
    let clerk_b = d.clerk_b.clone();
    let status = d.client.get_notice_list(as_staff(&clerk_b, request)).await.expect_err("another township");
    assert_eq!(status.code(), Code::PermissionDenied);
    let json = serde_json::to_string(&notice).expect("json");
    assert!(!json.contains(&person_id(810)) && !json.contains(&person_id(800)), "no full ID in a public list");
}

fn change(household: &str, kind: pb::MemberChangeKind, on: &str, member: pb::MemberInput) -> pb::MemberChangeRequest {
    pb::MemberChangeRequest {
        household_no: household.into(),
        kind: kind as i32,
        effective_on: on.into(),
        member: Some(member),
        ..Default::default()
    }
}

fn only_id(n: u32) -> pb::MemberInput {
    pb::MemberInput { national_id: person_id(n), ..Default::default() }
}

async fn registry_upkeep_births_moves_deaths_and_corrections(backend: Backend) {
    let mut d = desk(backend).await;
    d.t.service.clock().set_today(day("2015-12-20"));
    let file = common::csv(&[
        common::row("U-1", 900, "HEAD", "DIBAO_1", "2015-01-01", "", "6228480000000900"),
        common::row("U-1", 901, "SPOUSE", "DIBAO_1", "2015-01-01", "", ""),
        common::row("U-2", 910, "HEAD", "LOW_INCOME", "2015-01-01", "", ""),
    ]);
    d.t.service.import_csv(&file, "u.csv", "test", false).await.expect("import");
    d.t.service.clock().set_today(day("2016-02-10"));
    let (clerk, clerk_b) = (d.clerk_a.clone(), d.clerk_b.clone());

    // A birth.
    let birth =
        change("U-1", pb::MemberChangeKind::Birth, "2016-02-01", member(902, pb::Relation::Child, 0, false, false));
    let record = d.client.record_member_change(as_staff(&clerk, birth.clone())).await.expect("birth").into_inner();
    assert!(record.national_id.contains('*'));
    let status = d.client.record_member_change(as_staff(&clerk, birth)).await.expect_err("registered already");
    assert_eq!(status.code(), Code::AlreadyExists);

    // The head dies: a new head is named, and the head's DIBAO_1 ends with February.
    let death = change("U-1", pb::MemberChangeKind::Death, "2016-02-10", only_id(900));
    let status = d.client.record_member_change(as_staff(&clerk, death.clone())).await.expect_err("no new head");
    assert_eq!(field_violations(&status)[0].field, "newHeadNationalId");
    let status = d.client.record_member_change(as_staff(&clerk_b, death.clone())).await.expect_err("another township");
    assert_eq!(status.code(), Code::PermissionDenied);
    let death = pb::MemberChangeRequest { new_head_national_id: person_id(901), ..death };
    let record = d.client.record_member_change(as_staff(&clerk, death)).await.expect("death").into_inner();
    assert_eq!(record.ended.len(), 1);
    assert_eq!(
        (record.ended[0].category(), record.ended[0].effective_to.as_str()),
        (pb::Category::Dibao1, "2016-02-29")
    );
    assert_eq!(coverage(&mut d, 900, "2016-02-29").await, pb::Category::Dibao1, "history as of February stays");
    assert_eq!(coverage(&mut d, 900, "2016-03-01").await, pb::Category::None);
    assert_eq!(d.t.service.store().first_registry_violation().await.expect("check"), None, "901 is now the head");
    let status = d
        .client
        .record_member_change(as_staff(
            &clerk,
            change("U-1", pb::MemberChangeKind::MoveAway, "2016-02-10", only_id(900)),
        ))
        .await
        .expect_err("no longer a member");
    assert_eq!(status.code(), Code::FailedPrecondition);

    // A marriage moves a registered person into U-1; their categories end with the month, as for
    // leaving (the new household applies anew).
    let mut spouse = only_id(910);
    spouse.relation = pb::Relation::Spouse as i32;
    let record = d
        .client
        .record_member_change(as_staff(&clerk, change("U-1", pb::MemberChangeKind::MarriageIn, "2016-02-05", spouse)))
        .await
        .expect("marriage")
        .into_inner();
    assert_eq!(record.moved_from, "U-2");
    let ended: Vec<(pb::Category, &str)> =
        record.ended.iter().map(|p| (p.category(), p.effective_to.as_str())).collect();
    assert_eq!(ended, [(pb::Category::LowIncome, "2016-02-29")]);
    assert_eq!(coverage(&mut d, 910, "2016-03-01").await, pb::Category::None);
    let moved = d.t.service.coverage(&person_id(910), "2016-02-10").await.expect("coverage");
    assert_eq!(moved.household.map(|h| h.0), Some("U-1".to_owned()));
    let household =
        d.t.client.get_household(pb::GetHouseholdRequest { household_no: "U-1".into() }).await.expect("get");
    let members: Vec<(String, pb::Relation)> =
        household.into_inner().members.into_iter().map(|m| (m.national_id_masked.clone(), m.relation())).collect();
    let masked = |n: u32| format!("{}********{}", &person_id(n)[..6], &person_id(n)[14..]);
    assert_eq!(
        members,
        [(masked(901), pb::Relation::Head), (masked(910), pb::Relation::Spouse), (masked(902), pb::Relation::Child)],
        "the household now: the deceased head is gone, the spouse heads it, the newborn and the new spouse are in"
    );
    let status = d
        .client
        .record_member_change(as_staff(&clerk, change("U-1", pb::MemberChangeKind::Death, "2016-03-01", only_id(902))))
        .await
        .expect_err("future");
    assert_eq!(field_violations(&status)[0].field, "effectiveOn");

    // The account is corrected; the roll of March pays the surviving spouse into it.
    let correction = pb::CorrectHouseholdRequest {
        household_no: "U-1".into(),
        bank_account: "6228480000004321".into(),
        effective_on: "2016-02-10".into(),
        ..Default::default()
    };
    let household = d.client.correct_household(as_staff(&clerk, correction)).await.expect("correct").into_inner();
    assert_eq!(household.bank_account_masked, "****4321");
    let policy = doudi_core::policy::PolicySet::reference();
    let march = d.t.service.benefit_roll(&policy, day("2016-03-01")).await.expect("roll");
    let u1 = march.households.iter().find(|h| h.household_no == "U-1").expect("paid");
    assert_eq!((u1.dibao_fen.0, u1.account.as_deref()), (27_500, Some("****4321")));
    let empty = pb::CorrectHouseholdRequest {
        household_no: "U-1".into(),
        effective_on: "2016-02-10".into(),
        ..Default::default()
    };
    let status = d.client.correct_household(as_staff(&clerk, empty)).await.expect_err("nothing to correct");
    assert_eq!(field_violations(&status)[0].field, "address");
    let chain = audit::verify(d.t.service.store().db().reads(), d.t.service.store().cipher()).await.expect("verify");
    assert!(matches!(chain, ChainReport::Intact { .. }), "{chain:?}");
}

async fn reviews_and_the_monthly_roll(backend: Backend) {
    let mut d = desk(backend).await;
    // Imported on 2015-12-20 (so reviewed then): a DIBAO_1 household of two and a DIBAO_2 one.
    d.t.service.clock().set_today(day("2015-12-20"));
    let file = common::csv(&[
        common::row("P-1", 600, "HEAD", "DIBAO_1", "2015-01-01", "", "6228480000000600"),
        common::row("P-1", 601, "SPOUSE", "DIBAO_1", "2015-01-01", "", ""),
        common::row("P-2", 602, "HEAD", "DIBAO_2", "2015-01-01", "", "6228480000000602"),
        common::row("P-3", 603, "HEAD", "TEKUN", "2015-01-01", "", ""),
    ]);
    d.t.service.import_csv(&file, "roll.csv", "test", false).await.expect("import");
    let policy = doudi_core::policy::PolicySet::reference();
    let roll = d.t.service.benefit_roll(&policy, day("2016-01-01")).await.expect("roll");
    assert_eq!((roll.policy_version.as_str(), roll.lines.len(), roll.suspended.len()), ("ref-2016-01", 4, 0));
    let household = |r: &doudi_eligibility::roll::ops::BenefitRoll, no: &str| {
        r.households.iter().find(|h| h.household_no == no).map(|h| (h.dibao_fen.0, h.tekun_fen.0, h.account.clone()))
    };
    assert_eq!(household(&roll, "P-1"), Some((2 * 27_500, 0, Some("****0600".into()))));
    assert_eq!(household(&roll, "P-3"), Some((0, 35_000, None)));
    assert_eq!(roll.total_fen.0, 2 * 27_500 + 23_400 + 35_000);

    // DIBAO_2 is reviewed every 6 months: due 2016-06-20; more than a month overdue on
    // 2016-08-01, so not paid for August; DIBAO_1 (12 months) still is.
    let august = d.t.service.benefit_roll(&policy, day("2016-08-01")).await.expect("roll");
    assert!(august.lines.iter().all(|l| l.household_no != "P-2"), "not on the roll");
    let p2 = august.suspended.iter().find(|l| l.household_no == "P-2").expect("listed as suspended");
    assert_eq!(
        (p2.decision.amount.0, p2.decision.suspended_since_due.map(|d| d.to_string())),
        (0, Some("2016-06-20".into()))
    );
    assert!(household(&august, "P-2").is_none(), "nothing paid to the household");
    assert_eq!(household(&august, "P-1").map(|h| h.0), Some(2 * 27_500));

    // The same roll over gRPC, streamed in chunks, for county staff only.
    let county = d.county.clone();
    let request = pb::StreamBenefitRollRequest { month: "2016-08".into() };
    let mut stream =
        d.client.stream_benefit_roll(as_staff(&county, request.clone())).await.expect("stream").into_inner();
    let mut chunks = Vec::new();
    while let Some(chunk) = stream.message().await.expect("chunk") {
        chunks.push(chunk);
    }
    let last = chunks.last().expect("a last chunk");
    assert!(last.last && chunks.iter().filter(|c| c.last).count() == 1);
    assert_eq!((last.total_fen, last.paid_persons, last.suspended_persons), (august.total_fen.0, 3, 1));
    let paid: i64 = chunks.iter().flat_map(|c| &c.households).map(|h| h.dibao_fen + h.tekun_fen).sum();
    assert_eq!(paid, august.total_fen.0, "the households' sums add up to the roll's total");
    let suspended: Vec<&str> = chunks.iter().flat_map(|c| &c.suspended).map(|l| l.review_due.as_str()).collect();
    assert_eq!(suspended, ["2016-06-20"]);
    let clerk = d.clerk_a.clone();
    let status = d.client.stream_benefit_roll(as_staff(&clerk, request)).await.expect_err("county only");
    assert_eq!(status.code(), Code::PermissionDenied);

    // A review on 2016-08-10 that lowers P-1's head to DIBAO_2 and keeps P-2: from September.
    d.t.service.clock().set_today(day("2016-08-10"));
    let county = d.county.clone();
    let lower = pb::RecordReviewRequest {
        national_id: person_id(600),
        decision: pb::ReviewDecision::Lower as i32,
        category: pb::Category::Dibao2 as i32,
        note: "收入增加".into(),
    };
    let record = d.client.record_review(as_staff(&county, lower)).await.expect("review").into_inner();
    assert_eq!((record.to_category(), record.effective_from.as_str()), (pb::Category::Dibao2, "2016-09-01"));
    let keep = pb::RecordReviewRequest {
        national_id: person_id(602),
        decision: pb::ReviewDecision::Keep as i32,
        ..Default::default()
    };
    d.client.record_review(as_staff(&county, keep)).await.expect("keep");
    let raise_wrong = pb::RecordReviewRequest {
        national_id: person_id(601),
        decision: pb::ReviewDecision::Raise as i32,
        category: pb::Category::Dibao2 as i32,
        ..Default::default()
    };
    let status =
        d.client.record_review(as_staff(&county, raise_wrong)).await.expect_err("DIBAO_1 → DIBAO_2 is no raise");
    assert_eq!(field_violations(&status)[0].field, "category");

    let august_again = d.t.service.benefit_roll(&policy, day("2016-08-01")).await.expect("roll");
    assert_eq!(august_again, august, "a review changes nothing before its month: August stays as it was");
    let september = d.t.service.benefit_roll(&policy, day("2016-09-01")).await.expect("roll");
    assert_eq!(household(&september, "P-1").map(|h| h.0), Some(23_400 + 27_500), "head lowered from September");
    assert_eq!(household(&september, "P-2").map(|h| h.0), Some(23_400), "reviewed again: paid from September");
    // History answers as of any day.
    assert_eq!(coverage(&mut d, 600, "2016-08-31").await, pb::Category::Dibao1);
    assert_eq!(coverage(&mut d, 600, "2016-09-01").await, pb::Category::Dibao2);

    // A stop ends the benefit from the next month.
    let stop = pb::RecordReviewRequest {
        national_id: person_id(603),
        decision: pb::ReviewDecision::Stop as i32,
        ..Default::default()
    };
    let record = d.client.record_review(as_staff(&county, stop)).await.expect("stop").into_inner();
    assert_eq!(record.to_category(), pb::Category::None);
    let september = d.t.service.benefit_roll(&policy, day("2016-09-01")).await.expect("roll");
    assert!(household(&september, "P-3").is_none());
    assert_eq!(coverage(&mut d, 603, "2016-08-31").await, pb::Category::Tekun);
}

async fn tekun_is_raised_into_or_lowered_out_of_by_the_county_within_the_quota(backend: Backend) {
    let mut d = desk(backend).await;
    d.t.service.clock().set_today(day("2016-03-10"));
    let file = common::csv(&[
        common::row("T-1", 700, "HEAD", "TEKUN", "2015-01-01", "", ""),
        common::row("T-2", 701, "HEAD", "DIBAO_2", "2015-01-01", "", ""),
    ]);
    d.t.service.import_csv(&file, "tekun.csv", "test", false).await.expect("import");
    let review = |n: u32, decision: pb::ReviewDecision, category: pb::Category| pb::RecordReviewRequest {
        national_id: person_id(n),
        decision: decision as i32,
        category: category as i32,
        note: String::new(),
    };
    let (clerk, county) = (d.clerk_a.clone(), d.county.clone());
    let raise = review(701, pb::ReviewDecision::Raise, pb::Category::Tekun);
    let status = d.client.record_review(as_staff(&clerk, raise.clone())).await.expect_err("township staff");
    assert_eq!(status.code(), Code::PermissionDenied, "{}", status.message());
    let lower = review(700, pb::ReviewDecision::Lower, pb::Category::Dibao1);
    let status = d.client.record_review(as_staff(&clerk, lower.clone())).await.expect_err("township staff");
    assert_eq!(status.code(), Code::PermissionDenied, "{}", status.message());
    // A township clerk still lowers within dibao, as before.
    let within = review(701, pb::ReviewDecision::Keep, pb::Category::Unspecified);
    d.client.record_review(as_staff(&clerk, within)).await.expect("keep is the township's");

    // Lowering TEKUN into dibao takes a place in the quota, like an approval.
    let status = d.client.record_review(as_staff(&county, lower.clone())).await.expect_err("no quota set");
    assert_eq!(status.code(), Code::FailedPrecondition);
    set_quota(&mut d, TOWN_A, 1).await.expect("quota");
    let status = d.client.record_review(as_staff(&county, lower.clone())).await.expect_err("quota full");
    assert_eq!(status.code(), Code::FailedPrecondition);
    assert!(
        status.message().contains("quota is 1 persons; 1 are enrolled and this review adds 1"),
        "{}",
        status.message()
    );
    assert_eq!(coverage(&mut d, 700, "2016-04-01").await, pb::Category::Tekun, "nothing changed");
    set_quota(&mut d, TOWN_A, 2).await.expect("quota");
    let record = d.client.record_review(as_staff(&county, lower)).await.expect("within the quota").into_inner();
    assert_eq!((record.to_category(), record.effective_from.as_str()), (pb::Category::Dibao1, "2016-04-01"));
    d.client.record_review(as_staff(&county, raise)).await.expect("the county raises into TEKUN");
    assert_eq!(coverage(&mut d, 701, "2016-04-01").await, pb::Category::Tekun);
}

async fn a_move_between_households_follows_the_rules_of_leaving(backend: Backend) {
    let mut d = desk(backend).await;
    d.t.service.clock().set_today(day("2016-02-10"));
    let in_town_b = common::row("W-1", 940, "HEAD", "DIBAO_2", "2015-01-01", "", "").replacen(TOWN_A, TOWN_B, 1);
    let file = common::csv(&[
        common::row("V-1", 920, "HEAD", "DIBAO_2", "2015-01-01", "", ""),
        common::row("V-1", 921, "CHILD", "DIBAO_2", "2015-01-01", "", ""),
        common::row("V-2", 930, "HEAD", "TEKUN", "2015-01-01", "", ""),
        in_town_b,
    ]);
    d.t.service.import_csv(&file, "v.csv", "test", false).await.expect("import");
    let (clerk, county) = (d.clerk_a.clone(), d.county.clone());
    let moving = |n: u32| pb::MemberInput { relation: pb::Relation::Other as i32, ..only_id(n) };

    // A head who leaves others behind names a successor in the old household.
    let request = change("V-2", pb::MemberChangeKind::MoveIn, "2016-02-01", moving(920));
    let status = d.client.record_member_change(as_staff(&clerk, request.clone())).await.expect_err("no successor");
    assert_eq!(field_violations(&status)[0].field, "newHeadNationalId");
    let request = pb::MemberChangeRequest { new_head_national_id: person_id(921), ..request };
    let record = d.client.record_member_change(as_staff(&clerk, request)).await.expect("move").into_inner();
    assert_eq!((record.moved_from.as_str(), record.ended.len()), ("V-1", 1));
    assert_eq!(d.t.service.store().first_registry_violation().await.expect("check"), None, "921 heads V-1");
    assert_eq!(coverage(&mut d, 920, "2016-03-01").await, pb::Category::None, "V-2 applies anew");
    assert_eq!(coverage(&mut d, 921, "2016-03-01").await, pb::Category::Dibao2, "the child's benefit stays");

    // From another township: only staff who may act in both move them.
    let request = change("V-2", pb::MemberChangeKind::MoveIn, "2016-02-01", moving(940));
    let status = d.client.record_member_change(as_staff(&clerk, request.clone())).await.expect_err("town B");
    assert_eq!(status.code(), Code::PermissionDenied);
    assert_eq!(coverage(&mut d, 940, "2016-03-01").await, pb::Category::Dibao2, "nothing changed");
    d.client.record_member_change(as_staff(&county, request)).await.expect("the county acts in both");

    // A deceased person does not move.
    let death = change("V-2", pb::MemberChangeKind::Death, "2016-02-05", only_id(930));
    let death = pb::MemberChangeRequest { new_head_national_id: person_id(920), ..death };
    d.client.record_member_change(as_staff(&clerk, death)).await.expect("death");
    let request = change("V-1", pb::MemberChangeKind::MoveIn, "2016-02-06", moving(930));
    let status = d.client.record_member_change(as_staff(&clerk, request)).await.expect_err("deceased");
    assert_eq!(status.code(), Code::FailedPrecondition);
    assert!(status.message().contains("has died"), "{}", status.message());
}
