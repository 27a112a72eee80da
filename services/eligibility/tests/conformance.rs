//! The eligibility service's conformance suite: every test runs on SQLite and on PostgreSQL,
//! against a real gRPC server on an ephemeral port with a fresh database.
//!
//! One file because `doudi_testkit::conformance!` lists every scenario once for both backends;
//! the scenarios are grouped by capability (registry, import, coverage, audit, migrations).

mod common;

use common::{csv, person_id, row, spawn};
use doudi_eligibility::EligibilityError;
use doudi_eligibility::registry::csv_file::BLOCK_BYTES;
use doudi_eligibility::registry::ops::ImportSource;
use doudi_proto::eligibility::v1 as pb;
use doudi_runtime::audit::{self, ChainReport};
use doudi_runtime::error::field_violations;
use doudi_testkit::Backend;
use sqlx::Row;
use tonic::Code;

doudi_testkit::conformance!(
    premium_subsidy_persons_follow_the_first_of_january_rule,
    health_reflection_and_coverage_over_grpc,
    bad_coverage_input_gets_field_violations,
    import_twice_changes_nothing,
    later_file_closes_a_period_and_omitted_rows_stay,
    invalid_rows_import_nothing_unless_skipped,
    a_file_of_many_chunks_imports_as_one,
    register_household_is_idempotent_and_refuses_conflicts,
    bad_household_gets_every_field_violation_and_changes_nothing,
    concurrent_identical_registrations_create_one_household,
    personal_data_is_encrypted_at_rest,
    audit_chain_detects_tampering,
    migrations_rerun_cleanly,
    check_finds_overlapping_periods,
    writes_by_another_process_are_seen_at_once,
    a_bulk_import_is_answered_exactly_while_the_index_reloads,
    no_request_after_a_write_sees_the_state_before_it,
    bulk_imports_and_household_changes_reach_the_index,
    the_server_answers_from_its_coverage_index,
    an_index_behind_the_pruned_change_log_reloads_in_full,
    a_ciphertext_copied_to_another_row_does_not_open_and_check_names_it,
    values_an_older_version_wrote_unbound_are_sealed_when_the_service_opens,
);

const ACTOR: &str = "test";

async fn coverage(
    client: &mut pb::eligibility_client::EligibilityClient<doudi_testkit::StaffChannel>,
    n: u32,
    date: &str,
) -> pb::GetCoverageResponse {
    client
        .get_coverage(pb::GetCoverageRequest { national_id: person_id(n), date: date.into() })
        .await
        .expect("coverage answers")
        .into_inner()
}

async fn count(pool: &sqlx::AnyPool, table: &str) -> i64 {
    sqlx::query(sqlx::AssertSqlSafe(format!("SELECT COUNT(*) FROM {table}")))
        .fetch_one(pool)
        .await
        .expect("count")
        .get(0)
}

/// (households, persons, audit records): what a registration writes.
/// Households, persons, and audit records besides the test's county staff member's.
async fn registered_and_audited(t: &common::TestService) -> (i64, i64, i64) {
    let pool = t.service.store().db().reads();
    (count(pool, "households").await, count(pool, "persons").await, count(pool, "audit_log").await - 1)
}

async fn health_reflection_and_coverage_over_grpc(backend: Backend) {
    let mut t = spawn(backend).await;
    let file = csv(&[
        row("H1", 1, "HEAD", "DIBAO_2", "2015-01-01", "", "6228480012345678"),
        row("H1", 1, "HEAD", "REGISTERED_POOR", "2014-06-01", "", "6228480012345678"),
        row("H1", 2, "CHILD", "LOW_INCOME", "2015-01-01", "2015-12-31", ""),
        row("H1", 2, "CHILD", "DIBAO_1", "2016-01-01", "", ""),
    ]);
    t.service.import_csv(&file, "f.csv", ACTOR, false).await.expect("import");

    let c = coverage(&mut t.client, 1, "2016-03-10").await;
    assert_eq!((c.category(), c.household_no.as_str(), c.registered), (pb::Category::Dibao2, "H1", true));
    let held: Vec<_> = c.categories.iter().map(|p| (p.category(), p.effective_from.as_str())).collect();
    assert_eq!(held, [(pb::Category::Dibao2, "2015-01-01"), (pb::Category::RegisteredPoor, "2014-06-01")]);
    assert_eq!(coverage(&mut t.client, 1, "2014-12-31").await.category(), pb::Category::RegisteredPoor);
    assert_eq!(coverage(&mut t.client, 1, "2014-05-31").await.category(), pb::Category::None);
    assert_eq!(coverage(&mut t.client, 2, "2015-12-31").await.category(), pb::Category::LowIncome);
    assert_eq!(coverage(&mut t.client, 2, "2016-01-01").await.category(), pb::Category::Dibao1);
    let today = coverage(&mut t.client, 2, "").await;
    assert_eq!((today.category(), today.date.len()), (pb::Category::Dibao1, 10));
    let stranger = coverage(&mut t.client, 99, "2016-01-01").await;
    assert_eq!(
        (stranger.category(), stranger.registered, stranger.household_no.as_str()),
        (pb::Category::None, false, "")
    );

    // Reflection answers in both protocol versions.
    use tokio_stream::StreamExt;
    use tonic_reflection::pb::v1alpha::{
        ServerReflectionRequest, server_reflection_client::ServerReflectionClient,
        server_reflection_request::MessageRequest, server_reflection_response::MessageResponse,
    };
    let mut reflection = ServerReflectionClient::new(t.channel.clone());
    let request = ServerReflectionRequest {
        host: String::new(),
        message_request: Some(MessageRequest::ListServices(String::new())),
    };
    let mut answers =
        reflection.server_reflection_info(tokio_stream::iter([request])).await.expect("reflection").into_inner();
    let Some(Ok(answer)) = answers.next().await else { panic!("no reflection answer") };
    let Some(MessageResponse::ListServicesResponse(list)) = answer.message_response else {
        panic!("unexpected reflection answer")
    };
    let names: Vec<String> = list.service.into_iter().map(|s| s.name).collect();
    assert!(names.contains(&"doudi.eligibility.v1.Eligibility".to_string()), "{names:?}");
    let mut reflection_v1 =
        tonic_reflection::pb::v1::server_reflection_client::ServerReflectionClient::new(t.channel.clone());
    let request = tonic_reflection::pb::v1::ServerReflectionRequest {
        host: String::new(),
        message_request: Some(
            tonic_reflection::pb::v1::server_reflection_request::MessageRequest::FileContainingSymbol(
                "doudi.eligibility.v1.Eligibility".into(),
            ),
        ),
    };
    let mut answers =
        reflection_v1.server_reflection_info(tokio_stream::iter([request])).await.expect("reflection v1").into_inner();
    assert!(matches!(answers.next().await, Some(Ok(_))));
    t.running.shutdown().await;
}

async fn bad_coverage_input_gets_field_violations(backend: Backend) {
    let mut t = spawn(backend).await;
    let bad_check = {
        let id = person_id(1);
        let last = if id.ends_with('0') { '1' } else { '0' };
        format!("{}{last}", &id[..17])
    };
    for (id, date, fields) in [
        (bad_check.as_str(), "2016-01-01", vec!["nationalId"]),
        ("12345", "2016-01-01", vec!["nationalId"]),
        ("", "", vec!["nationalId"]),
        (person_id(1).as_str(), "2016-02-30", vec!["date"]),
        ("x", "01/02/2016", vec!["nationalId", "date"]),
    ] {
        let status = t
            .client
            .get_coverage(pb::GetCoverageRequest { national_id: id.into(), date: date.into() })
            .await
            .expect_err("bad input is refused");
        assert_eq!(status.code(), Code::InvalidArgument);
        let got: Vec<String> = field_violations(&status).into_iter().map(|v| v.field).collect();
        assert_eq!(got, fields, "{}", status.message());
        assert!(!status.message().contains(id) || id.len() < 18, "the message must not echo an ID");
    }
}

async fn premium_subsidy_persons_follow_the_first_of_january_rule(backend: Backend) {
    let mut t = spawn(backend).await;
    let file = csv(&[
        row("H1", 1, "HEAD", "DIBAO_2", "2015-01-01", "", "6228480012345678"),
        row("H1", 1, "HEAD", "REGISTERED_POOR", "2015-01-01", "", "6228480012345678"),
        row("H2", 2, "HEAD", "LOW_INCOME", "2016-03-01", "2016-05-31", ""),
        row("H2", 2, "HEAD", "DIBAO_1", "2016-06-01", "", ""),
        row("H3", 3, "HEAD", "TEKUN", "2015-01-01", "2015-12-31", ""),
        row("H4", 4, "HEAD", "TEKUN", "2017-01-01", "", ""),
    ]);
    t.service.import_csv(&file, "f.csv", ACTOR, false).await.expect("import");
    let answer = t
        .client
        .list_premium_subsidy_persons(pb::ListPremiumSubsidyPersonsRequest { year: 2016 })
        .await
        .expect("list")
        .into_inner();
    let mut listed: Vec<(String, i32, String)> =
        answer.persons.into_iter().map(|p| (p.national_id, p.category, p.household_no)).collect();
    listed.sort();
    let mut expected = vec![
        (person_id(1), pb::Category::Dibao2 as i32, "H1".to_owned()),
        (person_id(2), pb::Category::LowIncome as i32, "H2".to_owned()),
    ];
    expected.sort();
    assert_eq!(
        listed, expected,
        "1 January decides; else the first category held later; ended and future periods do not count"
    );
    let status = t
        .client
        .list_premium_subsidy_persons(pb::ListPremiumSubsidyPersonsRequest { year: 99_999 })
        .await
        .expect_err("no such year");
    assert_eq!(field_violations(&status)[0].field, "year");
}

async fn import_twice_changes_nothing(backend: Backend) {
    let mut t = spawn(backend).await;
    let file = csv(&[
        row("H1", 1, "HEAD", "DIBAO_1", "2015-01-01", "", "6228480012345678"),
        row("H1", 2, "SPOUSE", "DIBAO_1", "2015-01-01", "", ""),
        row("H2", 3, "HEAD", "TEKUN", "2015-01-01", "", ""),
    ]);
    let first = t.service.import_csv(&file, "f.csv", ACTOR, false).await.expect("first import").summary;
    assert_eq!((first.households_created, first.persons_created, first.periods_created), (2, 3, 3));
    let pool = t.service.store().db().reads().clone();
    let before =
        (count(&pool, "households").await, count(&pool, "persons").await, count(&pool, "category_periods").await);
    let second = t.service.import_csv(&file, "f.csv", ACTOR, false).await.expect("second import").summary;
    assert_eq!(
        (second.households_created, second.persons_created, second.periods_created, second.changes, second.unchanged),
        (0, 0, 0, 0, 3)
    );
    let after =
        (count(&pool, "households").await, count(&pool, "persons").await, count(&pool, "category_periods").await);
    assert_eq!(before, after);
    assert_eq!(coverage(&mut t.client, 3, "2016-01-01").await.category(), pb::Category::Tekun);
}

async fn later_file_closes_a_period_and_omitted_rows_stay(backend: Backend) {
    let mut t = spawn(backend).await;
    let first = csv(&[
        row("H1", 1, "HEAD", "DIBAO_2", "2015-01-01", "", "6228480012345678"),
        row("H1", 2, "CHILD", "DIBAO_2", "2015-01-01", "", ""),
    ]);
    t.service.import_csv(&first, "jan.csv", ACTOR, false).await.expect("import");
    // The later file closes the head's period and leaves the child out entirely.
    let later = csv(&[row("H1", 1, "HEAD", "DIBAO_2", "2015-01-01", "2015-12-31", "6228480012345678")]);
    let summary = t.service.import_csv(&later, "dec.csv", ACTOR, false).await.expect("import").summary;
    assert_eq!(summary.changes, 1);
    assert_eq!(coverage(&mut t.client, 1, "2015-12-31").await.category(), pb::Category::Dibao2);
    assert_eq!(coverage(&mut t.client, 1, "2016-01-01").await.category(), pb::Category::None);
    assert_eq!(
        coverage(&mut t.client, 2, "2016-01-01").await.category(),
        pb::Category::Dibao2,
        "omitted rows are not deleted"
    );
    let closing =
        sqlx::query("SELECT actor, before_json, after_json FROM audit_log WHERE action = 'category_period.close'")
            .fetch_one(t.service.store().db().reads())
            .await
            .expect("the closure is audited");
    let (before, after): (String, String) = (closing.get(1), closing.get(2));
    assert!(
        before.contains("\"effectiveTo\":null") && after.contains("\"effectiveTo\":\"2015-12-31\""),
        "{before} → {after}"
    );
    // Reopening by import is refused, and changes nothing.
    let reopen = csv(&[row("H1", 1, "HEAD", "DIBAO_2", "2015-01-01", "", "6228480012345678")]);
    let Err(EligibilityError::ImportRows(errors)) = t.service.import_csv(&reopen, "x.csv", ACTOR, false).await else {
        panic!("reopening must be refused")
    };
    assert_eq!(
        errors[0].to_string(),
        "line 2: effective_to: the period was closed on 2015-12-31; an import does not reopen it"
    );
    assert_eq!(coverage(&mut t.client, 1, "2016-01-01").await.category(), pb::Category::None);
}

async fn invalid_rows_import_nothing_unless_skipped(backend: Backend) {
    let mut t = spawn(backend).await;
    let file = csv(&[
        row("H1", 1, "HEAD", "DIBAO_1", "2015-01-01", "", "6228480012345678"),
        row("H1", 2, "SPOUSE", "DIBAO_3", "2015-01-01", "", ""),
        row("H2", 3, "HEAD", "TEKUN", "2015-01-01", "2014-01-01", ""),
        row("H3", 4, "HEAD", "TEKUN", "2015-01-01", "", ""),
    ]);
    let Err(EligibilityError::ImportRows(errors)) = t.service.import_csv(&file, "f.csv", ACTOR, false).await else {
        panic!("must be refused")
    };
    let lines: Vec<String> = errors.iter().map(ToString::to_string).collect();
    assert_eq!(
        lines,
        [
            "line 3: category: must be one of TEKUN|DIBAO_1|DIBAO_2|REGISTERED_POOR|LOW_INCOME|NONE",
            "line 4: effective_to: is before effective_from",
        ]
    );
    let pool = t.service.store().db().reads().clone();
    assert_eq!(
        (count(&pool, "persons").await, count(&pool, "audit_log").await, count(&pool, "import_runs").await),
        (0, 1, 0),
        "nothing but the test's county staff member"
    );

    let outcome = t.service.import_csv(&file, "f.csv", ACTOR, true).await.expect("valid rows import");
    assert_eq!((outcome.summary.persons_created, outcome.summary.skipped, outcome.skipped.len()), (2, 2, 2));
    assert_eq!(coverage(&mut t.client, 4, "2016-01-01").await.category(), pb::Category::Tekun);
    assert!(!coverage(&mut t.client, 3, "2016-01-01").await.registered);

    let Err(EligibilityError::ImportFile(error)) = t.service.import_csv("name,id\n", "f.csv", ACTOR, false).await
    else {
        panic!("bad header")
    };
    assert_eq!(error.line, 1);
}

/// A file longer than the importer's chunk: rows that depend on each other across chunks (a
/// HEAD after its members, a row that disagrees with one thousands of lines before), an error in
/// the last line, and the same file again against what the first run wrote.
async fn a_file_of_many_chunks_imports_as_one(backend: Backend) {
    let mut t = spawn(backend).await;
    // Several chunks of the planner, and a file of three blocks for the reader.
    let persons = 26_000;
    assert!(persons > 2 * doudi_eligibility::registry::import::CHUNK_SIZES.most as u32);
    // Person 1 is a member of household L, whose HEAD (person `persons`) is the file's last
    // valid row; person 2's household never gets a HEAD.
    let mut rows = vec![
        row("L", 1, "CHILD", "DIBAO_1", "2015-01-01", "", ""),
        row("N", 2, "CHILD", "DIBAO_1", "2015-01-01", "", ""),
    ];
    rows.extend((3..persons).map(|n| row(&format!("H{n}"), n, "HEAD", "TEKUN", "2015-01-01", "", "")));
    // Line 2 said person 1 is a CHILD of L.
    rows.push(row("L", 1, "SPOUSE", "LOW_INCOME", "2015-01-01", "", ""));
    rows.push(row("L", persons, "HEAD", "DIBAO_1", "2015-01-01", "", "6228480012345678"));
    let valid = rows.clone();
    rows.push(row("Z", persons + 1, "HEAD", "DIBAO_9", "2015-01-01", "", ""));
    let (file, lines) = (csv(&rows), rows.len() + 1);
    let (disagreeing, last) = (lines - 2, lines);

    let Err(EligibilityError::ImportRows(errors)) = t.service.import_csv(&file, "f.csv", ACTOR, false).await else {
        panic!("must be refused")
    };
    let errors: Vec<String> = errors.iter().map(ToString::to_string).collect();
    assert_eq!(
        errors,
        [
            format!("line {disagreeing}: relation: differs from line 2 for the same person"),
            format!("line {last}: category: must be one of TEKUN|DIBAO_1|DIBAO_2|REGISTERED_POOR|LOW_INCOME|NONE"),
        ],
        "parse errors come first, from every chunk"
    );
    let pool = t.service.store().db().reads().clone();
    let written = async || {
        (count(&pool, "households").await, count(&pool, "persons").await, count(&pool, "category_periods").await)
    };
    assert_eq!(written().await, (0, 0, 0), "a refused file writes nothing, however many chunks it wrote");
    // Without its parse errors, the file is refused for the row whose HEAD never comes.
    let mut plan_only = valid.clone();
    plan_only.remove(plan_only.len() - 2);
    let Err(EligibilityError::ImportRows(errors)) = t.service.import_csv(&csv(&plan_only), "p.csv", ACTOR, false).await
    else {
        panic!("must be refused")
    };
    assert_eq!(errors.iter().map(|e| e.line).collect::<Vec<_>>(), [3]);
    assert_eq!(written().await, (0, 0, 0));

    // From a file, read a block at a time as `doudi registry import` reads it.
    let dir = tempfile::tempdir().expect("dir");
    let path = dir.path().join("f.csv");
    std::fs::write(&path, &file).expect("write");
    assert!(file.len() > 2 * BLOCK_BYTES, "{} bytes", file.len());
    let source = ImportSource::File(path);
    let outcome = t.service.import(source, "f.csv", ACTOR, true).await.expect("valid rows import");
    let expected_persons = persons as usize - 1;
    assert_eq!(
        (outcome.summary.persons_created, outcome.summary.households_created, outcome.summary.data_lines),
        (expected_persons, expected_persons - 1, lines - 1)
    );
    let skipped: Vec<usize> = outcome.skipped.iter().map(|e| e.line).collect();
    assert_eq!(skipped, [3, disagreeing, last]);
    assert_eq!(
        outcome.skipped[0].to_string(),
        "line 3: household_no: a new household needs a valid HEAD row in the file"
    );
    let expected = (expected_persons as i64 - 1, expected_persons as i64, expected_persons as i64);
    assert_eq!(written().await, expected);
    assert_eq!(
        coverage(&mut t.client, 1, "2016-01-01").await.category(),
        pb::Category::Dibao1,
        "member before its HEAD"
    );
    assert!(!coverage(&mut t.client, 2, "2016-01-01").await.registered);
    let household = t.service.household("L").await.expect("household L");
    assert_eq!(household.members.len(), 2);

    // Against a registry that holds it all: every chunk looks its rows up, and nothing changes.
    let again = t.service.import_csv(&csv(&valid), "again.csv", ACTOR, true).await.expect("same file");
    assert_eq!(
        (again.summary.persons_created, again.summary.periods_created, again.summary.changes, again.summary.unchanged),
        (0, 0, 0, expected_persons)
    );
    assert_eq!(written().await, expected);
}

fn household_request(no: &str, ids: &[u32]) -> pb::RegisterHouseholdRequest {
    pb::RegisterHouseholdRequest {
        household_no: no.into(),
        township: "城关镇".into(),
        village: "东村".into(),
        address: "东村 12 号".into(),
        members: ids
            .iter()
            .enumerate()
            .map(|(i, n)| pb::MemberInput {
                national_id: person_id(*n),
                name: format!("成员{n}"),
                relation: if i == 0 { pb::Relation::Head } else { pb::Relation::Child } as i32,
                disability_grade: if i == 1 { 2 } else { 0 },
                seriously_ill: false,
                able_to_work: i == 0,
                publicly_funded: false,
            })
            .collect(),
        monthly_income_fen: 60_000,
        assets: Some(pb::Assets {
            savings_fen: 1_000_000,
            motor_vehicles: 0,
            vehicles_exempt: false,
            commercial_properties: 0,
        }),
        bank_account: "6228480012345678".into(),
    }
}

async fn register_household_is_idempotent_and_refuses_conflicts(backend: Backend) {
    let mut t = spawn(backend).await;
    let request = household_request("H-7", &[71, 72]);
    let first = t.client.register_household(request.clone()).await.expect("registered").into_inner();
    assert_eq!(first.members.len(), 2);
    assert_eq!(first.bank_account_masked, "****5678");
    assert!(first.members[0].national_id_masked.contains("********"));
    assert_eq!(first.members[1].disability_grade, 2);
    let again = t.client.register_household(request.clone()).await.expect("same request again").into_inner();
    assert_eq!(first, again);
    let fetched =
        t.client.get_household(pb::GetHouseholdRequest { household_no: "H-7".into() }).await.expect("get").into_inner();
    assert_eq!(first, fetched);

    let mut other = request.clone();
    other.monthly_income_fen += 1;
    let status = t.client.register_household(other).await.expect_err("other content");
    assert_eq!(status.code(), Code::AlreadyExists);
    assert!(status.message().contains("H-7"), "{}", status.message());

    let elsewhere = household_request("H-8", &[73, 72]);
    let status = t.client.register_household(elsewhere).await.expect_err("member elsewhere");
    assert_eq!(status.code(), Code::AlreadyExists);
    let violations = field_violations(&status);
    assert_eq!(
        (violations[0].field.as_str(), violations[0].description.as_str()),
        ("members[1].nationalId", "already a member of household H-7")
    );
    assert_eq!(registered_and_audited(&t).await, (1, 2, 1));
    let missing =
        t.client.get_household(pb::GetHouseholdRequest { household_no: "H-9".into() }).await.expect_err("unknown");
    assert_eq!(missing.code(), Code::NotFound);
    let registered = coverage(&mut t.client, 71, "2020-01-01").await;
    assert_eq!((registered.registered, registered.category()), (true, pb::Category::None));
}

async fn bad_household_gets_every_field_violation_and_changes_nothing(backend: Backend) {
    let mut t = spawn(backend).await;
    let mut request = household_request("bad no!", &[81, 82]);
    request.members[1].national_id = "36073019600101001".into();
    request.members[1].relation = 0;
    request.members[0].name = " ".into();
    request.monthly_income_fen = -5;
    request.assets.as_mut().expect("assets").motor_vehicles = -1;
    request.bank_account = "abc".into();
    let status = t.client.register_household(request).await.expect_err("invalid");
    assert_eq!(status.code(), Code::InvalidArgument);
    let fields: Vec<String> = field_violations(&status).into_iter().map(|v| v.field).collect();
    assert_eq!(
        fields,
        [
            "householdNo",
            "members[0].name",
            "members[1].nationalId",
            "members[1].relation",
            "monthlyIncomeFen",
            "assets.motorVehicles",
            "bankAccount",
        ]
    );
    let mut no_head = household_request("H-1", &[81, 82]);
    no_head.members[0].relation = pb::Relation::Spouse as i32;
    let status = t.client.register_household(no_head).await.expect_err("no head");
    assert_eq!(field_violations(&status)[0].description, "exactly one member must be the HEAD (found 0)");
    assert_eq!(registered_and_audited(&t).await, (0, 0, 0));
}

async fn concurrent_identical_registrations_create_one_household(backend: Backend) {
    let t = spawn(backend).await;
    let request = household_request("H-C", &[91, 92, 93]);
    let calls = (0..16).map(|_| {
        let mut client = t.client.clone();
        let request = request.clone();
        tokio::spawn(async move { client.register_household(request).await.map(tonic::Response::into_inner) })
    });
    let mut answers = Vec::new();
    for call in calls {
        answers.push(call.await.expect("task").expect("every identical registration succeeds"));
    }
    assert!(answers.windows(2).all(|w| w[0] == w[1]));
    assert_eq!(registered_and_audited(&t).await, (1, 3, 1));
}

async fn personal_data_is_encrypted_at_rest(backend: Backend) {
    let t = spawn(backend).await;
    let file = csv(&[row("H1", 5, "HEAD", "DIBAO_1", "2015-01-01", "", "6228480055556666")]);
    t.service.import_csv(&file, "f.csv", ACTOR, false).await.expect("import");
    let later = csv(&[row("H1", 5, "HEAD", "DIBAO_1", "2015-01-01", "2016-01-31", "6228480077778888")]);
    t.service.import_csv(&later, "f2.csv", ACTOR, false).await.expect("import");
    let id = person_id(5);
    let secrets = [id.as_str(), "测试5", "6228480055556666", "6228480077778888"];
    let pool = t.service.store().db().reads().clone();
    let person = sqlx::query("SELECT national_id_enc, name_enc, national_id_masked FROM persons")
        .fetch_one(&pool)
        .await
        .expect("person");
    let (id_enc, name_enc, masked): (Vec<u8>, Vec<u8>, String) = (person.get(0), person.get(1), person.get(2));
    assert!(!contains(&id_enc, id.as_bytes()) && !contains(&name_enc, "测试5".as_bytes()));
    assert_eq!(masked, format!("{}********{}", &id[..6], &id[14..]));
    let key = hex::encode(t.service.store().id_hash(&doudi_core::NationalId::parse(&id).expect("id")));
    let place = doudi_eligibility::store::PERSON_ID.place(&key);
    assert_eq!(t.service.store().cipher().open(place, &id_enc).expect("opens in its place"), id);
    let audit_text: Vec<String> = sqlx::query("SELECT before_json || after_json || entity_key FROM audit_log")
        .fetch_all(&pool)
        .await
        .expect("audit")
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert!(audit_text.iter().any(|t| t.contains("****8888")), "{audit_text:?}");
    for secret in secrets {
        assert!(audit_text.iter().all(|t| !t.contains(secret)), "audit holds {secret}");
    }
    if let Some(dir) = t.db.dir() {
        // Every byte SQLite wrote, the write-ahead log included.
        for entry in std::fs::read_dir(dir).expect("dir") {
            let bytes = std::fs::read(entry.expect("entry").path()).expect("file");
            for secret in secrets {
                assert!(!contains(&bytes, secret.as_bytes()), "{secret} is stored in clear");
            }
        }
    }
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

async fn audit_chain_detects_tampering(backend: Backend) {
    let t = common::spawn_without_staff(backend).await;
    let store = t.service.store();
    t.service
        .import_csv(&csv(&[row("H1", 1, "HEAD", "DIBAO_1", "2015-01-01", "", "")]), "a.csv", ACTOR, false)
        .await
        .expect("import");
    t.service
        .import_csv(&csv(&[row("H1", 1, "HEAD", "DIBAO_1", "2015-01-01", "2015-06-30", "")]), "b.csv", ACTOR, false)
        .await
        .expect("import");
    t.service
        .import_csv(&csv(&[row("H2", 2, "HEAD", "TEKUN", "2015-01-01", "", "")]), "c.csv", ACTOR, false)
        .await
        .expect("import");
    let pool = store.db().writes().clone();
    assert_eq!(audit::verify(&pool, store.cipher()).await.expect("verify"), ChainReport::Intact { records: 4 });

    let original: String =
        sqlx::query("SELECT after_json FROM audit_log WHERE seq = 2").fetch_one(&pool).await.expect("row").get(0);
    sqlx::query("UPDATE audit_log SET after_json = $1 WHERE seq = 2")
        .bind(original.replace("2015-06-30", "2015-07-31"))
        .execute(&pool)
        .await
        .expect("tamper");
    let report = audit::verify(&pool, store.cipher()).await.expect("verify");
    assert!(matches!(report, ChainReport::Broken { seq: 2, .. }), "{report:?}");
    sqlx::query("UPDATE audit_log SET after_json = $1 WHERE seq = 2")
        .bind(&original)
        .execute(&pool)
        .await
        .expect("restore");
    assert_eq!(audit::verify(&pool, store.cipher()).await.expect("verify"), ChainReport::Intact { records: 4 });

    // Cutting the tail and fixing the head row to match: only an anchor kept outside shows it.
    let anchor = audit::head(&pool).await.expect("head");
    assert_eq!(anchor.seq, 4);
    let third: String =
        sqlx::query("SELECT mac FROM audit_log WHERE seq = 3").fetch_one(&pool).await.expect("mac").get(0);
    let fourth: String =
        sqlx::query("SELECT mac FROM audit_log WHERE seq = 4").fetch_one(&pool).await.expect("mac").get(0);
    sqlx::query("CREATE TABLE cut AS SELECT * FROM audit_log WHERE seq = 4").execute(&pool).await.expect("keep");
    sqlx::query("DELETE FROM audit_log WHERE seq = 4").execute(&pool).await.expect("cut");
    sqlx::query("UPDATE audit_head SET seq = 3, mac = $1").bind(&third).execute(&pool).await.expect("fix up");
    let plain = audit::verify(&pool, store.cipher()).await.expect("verify");
    assert_eq!(plain, ChainReport::Intact { records: 3 }, "a fixed-up cut passes without an anchor");
    let anchored = audit::verify_against(&pool, store.cipher(), Some(&anchor)).await.expect("verify");
    assert!(matches!(anchored, ChainReport::Broken { seq: 4, .. }), "{anchored:?}");
    let forged = audit::Anchor { seq: 3, mac: "0".repeat(64) };
    let report = audit::verify_against(&pool, store.cipher(), Some(&forged)).await.expect("verify");
    assert!(matches!(report, ChainReport::Broken { seq: 3, .. }), "{report:?}");
    sqlx::query("INSERT INTO audit_log SELECT * FROM cut").execute(&pool).await.expect("put back");
    sqlx::query("DROP TABLE cut").execute(&pool).await.expect("drop");
    sqlx::query("UPDATE audit_head SET seq = 4, mac = $1").bind(&fourth).execute(&pool).await.expect("head back");
    assert_eq!(
        audit::verify_against(&pool, store.cipher(), Some(&anchor)).await.expect("verify"),
        ChainReport::Intact { records: 4 }
    );

    sqlx::query("DELETE FROM audit_log WHERE seq = 3").execute(&pool).await.expect("remove a middle record");
    let report = audit::verify(&pool, store.cipher()).await.expect("verify");
    assert!(matches!(report, ChainReport::Broken { seq: 3, .. }), "{report:?}");
    let report = audit::verify(&pool, store.cipher()).await.expect("verify");
    assert!(matches!(report, ChainReport::Broken { .. }), "{report:?}");
    // A chain computed without the key does not verify.
    let other = doudi_testkit::cipher();
    assert!(matches!(audit::verify(&pool, &other).await.expect("verify"), ChainReport::Broken { seq: 1, .. }));
}

async fn migrations_rerun_cleanly(backend: Backend) {
    let t = spawn(backend).await;
    t.service.store().db().migrate(&doudi_eligibility::store::MIGRATIONS).await.expect("second run is a no-op");
    let reopened = doudi_runtime::Db::open(&t.db.url, 2, &doudi_eligibility::store::MIGRATIONS).await.expect("reopen");
    let known = doudi_eligibility::store::MIGRATIONS.sqlite.len() as i64;
    assert_eq!(count(reopened.reads(), "schema_migrations").await, known);
}

async fn check_finds_overlapping_periods(backend: Backend) {
    let t = spawn(backend).await;
    t.service
        .import_csv(&csv(&[row("H1", 1, "HEAD", "DIBAO_1", "2015-01-01", "2015-12-31", "")]), "a.csv", ACTOR, false)
        .await
        .expect("import");
    assert_eq!(t.service.store().first_registry_violation().await.expect("check"), None);
    sqlx::query("INSERT INTO category_periods (person_id, category, effective_from, effective_to, reviewed_on, source, created_at, updated_at)
                 SELECT person_id, category, '2015-06-01', NULL, reviewed_on, 'manual', created_at, updated_at FROM category_periods")
        .execute(t.service.store().db().writes())
        .await
        .expect("corrupt");
    let violation = t.service.store().first_registry_violation().await.expect("check").expect("a violation");
    assert!(violation.contains("overlapping DIBAO_1 periods"), "{violation}");
}

/// The same database, opened separately: what another process or replica would be.
async fn other_process(t: &common::TestService) -> doudi_eligibility::EligibilityService {
    let db = doudi_runtime::Db::open(&t.db.url, 2, &doudi_eligibility::store::MIGRATIONS).await.expect("open");
    doudi_eligibility::EligibilityService::new(doudi_eligibility::store::Store::new(
        db,
        t.service.store().cipher().clone(),
    ))
}

async fn writes_by_another_process_are_seen_at_once(backend: Backend) {
    let mut t = spawn(backend).await;
    let other = other_process(&t).await;
    // Cached as unknown first, and as a category after.
    assert!(!coverage(&mut t.client, 1, "2016-01-01").await.registered);
    other
        .import_csv(&csv(&[row("H1", 1, "HEAD", "DIBAO_2", "2015-01-01", "", "")]), "a.csv", ACTOR, false)
        .await
        .expect("import");
    assert_eq!(coverage(&mut t.client, 1, "2016-01-01").await.category(), pb::Category::Dibao2);
    other
        .import_csv(&csv(&[row("H1", 1, "HEAD", "DIBAO_2", "2015-01-01", "2015-12-31", "")]), "b.csv", ACTOR, false)
        .await
        .expect("import");
    assert_eq!(coverage(&mut t.client, 1, "2016-01-01").await.category(), pb::Category::None);
    let mut request = household_request("H-X", &[2]);
    request.members[0].national_id = person_id(2);
    let mut other_client = t.client.clone();
    assert!(!coverage(&mut other_client, 2, "2016-01-01").await.registered);
    t.client.register_household(request).await.expect("registered");
    assert!(coverage(&mut other_client, 2, "2016-01-01").await.registered);
}

async fn a_bulk_import_is_answered_exactly_while_the_index_reloads(backend: Backend) {
    let t = spawn(backend).await;
    let other = other_process(&t).await;
    assert!(!coverage(&mut t.client.clone(), 5, "2016-01-01").await.registered);
    // More persons than the change log lists one by one: the index reloads everything.
    let rows: Vec<String> =
        (1..=1_200).map(|n| row(&format!("B{n}"), n, "HEAD", "DIBAO_2", "2015-01-01", "", "")).collect();
    other.import_csv(&csv(&rows), "bulk.csv", ACTOR, false).await.expect("import");
    let askers: Vec<_> = (0..16u32)
        .map(|i| {
            let mut client = t.client.clone();
            tokio::spawn(async move {
                let mut answers = Vec::new();
                for n in [1 + i, 600 + i, 1_184 + i] {
                    answers.push(coverage(&mut client, n, "2016-01-01").await.category());
                }
                answers.push(coverage(&mut client, 5_000 + i, "2016-01-01").await.category());
                answers
            })
        })
        .collect();
    for asker in askers {
        let answers = asker.await.expect("asker");
        assert_eq!(answers, [pb::Category::Dibao2, pb::Category::Dibao2, pb::Category::Dibao2, pb::Category::None]);
    }
}

async fn no_request_after_a_write_sees_the_state_before_it(backend: Backend) {
    use std::sync::atomic::{AtomicBool, Ordering};
    let t = spawn(backend).await;
    let other = other_process(&t).await;
    // Set once the last write has committed; every reader then makes at least one more request.
    let committed = std::sync::Arc::new(AtomicBool::new(false));
    let readers: Vec<_> = (0..16)
        .map(|_| {
            let (mut client, committed) = (t.client.clone(), committed.clone());
            tokio::spawn(async move {
                let mut after_commit = Vec::new();
                loop {
                    let began_after_commit = committed.load(Ordering::SeqCst);
                    let answer = coverage(&mut client, 7, "2016-01-01").await;
                    if began_after_commit {
                        after_commit.push(answer.category());
                        if after_commit.len() >= 3 {
                            return after_commit;
                        }
                    }
                }
            })
        })
        .collect();
    for (i, category) in ["DIBAO_2", "TEKUN", "LOW_INCOME"].iter().enumerate() {
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        let from = format!("2015-0{}-01", i + 1);
        let to = if i < 2 { format!("2015-0{}-28", i + 1) } else { String::new() };
        // Each file adds a period; only the last one covers 2016-01-01.
        let file = csv(&[row("H7", 7, "HEAD", category, &from, &to, "")]);
        other.import_csv(&file, "f.csv", ACTOR, false).await.expect("import");
    }
    committed.store(true, Ordering::SeqCst);
    for reader in readers {
        for category in reader.await.expect("reader") {
            assert_eq!(category, pb::Category::LowIncome, "a request after the commit saw the state before it");
        }
    }
}

async fn bulk_imports_and_household_changes_reach_the_index(backend: Backend) {
    let mut t = spawn(backend).await;
    let other = other_process(&t).await;
    assert!(!coverage(&mut t.client, 1500, "2016-01-01").await.registered);
    // More persons than the change log lists one by one: the index reloads in full.
    let rows: Vec<String> = (1000..2200)
        .map(|n| {
            row(&format!("B{}", n / 4), n, if n % 4 == 0 { "HEAD" } else { "CHILD" }, "DIBAO_1", "2015-01-01", "", "")
        })
        .collect();
    other.import_csv(&csv(&rows), "bulk.csv", ACTOR, false).await.expect("bulk import");
    assert_eq!(coverage(&mut t.client, 1500, "2016-01-01").await.category(), pb::Category::Dibao1);
    assert_eq!(coverage(&mut t.client, 2199, "2016-01-01").await.category(), pb::Category::Dibao1);
    // A household moved to another village: every member's answer changes.
    let moved: Vec<String> = (1500..1504)
        .map(|n| {
            row("B375", n, if n % 4 == 0 { "HEAD" } else { "CHILD" }, "DIBAO_1", "2015-01-01", "", "")
                .replace(",东村,", ",西村,")
        })
        .collect();
    let summary = other.import_csv(&csv(&moved), "move.csv", ACTOR, false).await.expect("move").summary;
    assert_eq!(summary.changes, 1);
    for n in 1500..1504 {
        assert_eq!(coverage(&mut t.client, n, "2016-01-01").await.village, "西村");
    }
    assert_eq!(coverage(&mut t.client, 1496, "2016-01-01").await.village, "东村");
}

/// Guards the design, not a feature: coverage is answered from memory. A change written behind
/// the store's back (no version bump, no change log) would show through a database lookup; the
/// index does not see it until a logged write touches that person.
async fn the_server_answers_from_its_coverage_index(backend: Backend) {
    let mut t = spawn(backend).await;
    t.service
        .import_csv(&csv(&[row("H1", 1, "HEAD", "TEKUN", "2015-01-01", "", "")]), "a.csv", ACTOR, false)
        .await
        .expect("import");
    assert_eq!(coverage(&mut t.client, 1, "2016-01-01").await.village, "东村");
    sqlx::query("UPDATE households SET village = 'behind the store' WHERE household_no = 'H1'")
        .execute(t.service.store().db().writes())
        .await
        .expect("raw update");
    assert_eq!(coverage(&mut t.client, 1, "2016-01-01").await.village, "东村");
    let direct = t.service.coverage(&person_id(1), "2016-01-01").await.expect("direct");
    assert_eq!(
        direct.household.expect("registered").2,
        "behind the store",
        "the un-indexed service reads the database"
    );
}

async fn an_index_behind_the_pruned_change_log_reloads_in_full(backend: Backend) {
    let mut t = spawn(backend).await;
    t.service
        .import_csv(&csv(&[row("H1", 1, "HEAD", "TEKUN", "2015-01-01", "", "")]), "a.csv", ACTOR, false)
        .await
        .expect("import");
    assert_eq!(coverage(&mut t.client, 1, "2016-01-01").await.village, "东村");
    // A change the log does not list, then a version whose log was pruned past the index: only
    // a full reload can bring the index up to date, and it must.
    let pool = t.service.store().db().writes().clone();
    sqlx::query("UPDATE households SET village = '西村' WHERE household_no = 'H1'")
        .execute(&pool)
        .await
        .expect("raw update");
    sqlx::query("UPDATE registry_version SET version = version + 1, pruned_through = version + 1 WHERE id = 1")
        .execute(&pool)
        .await
        .expect("prune");
    assert_eq!(coverage(&mut t.client, 1, "2016-01-01").await.village, "西村");
}

async fn a_ciphertext_copied_to_another_row_does_not_open_and_check_names_it(backend: Backend) {
    let mut t = spawn(backend).await;
    let file = csv(&[
        row("H1", 1, "HEAD", "DIBAO_1", "2015-01-01", "", "6228480011112222"),
        row("H2", 2, "HEAD", "DIBAO_2", "2015-01-01", "", "6228480033334444"),
    ]);
    t.service.import_csv(&file, "f.csv", ACTOR, false).await.expect("import");
    let store = t.service.store();
    let columns = doudi_eligibility::store::SEALED_COLUMNS;
    let intact = doudi_runtime::sealing::misplaced_all(store.db(), store.cipher(), &columns).await.expect("scan");
    assert!(intact.is_empty(), "{intact:?}");
    // Someone with database access gives household H2 the account of H1 (and person 2 the name
    // of person 1), copying the ciphertexts.
    let pool = store.db().writes().clone();
    for sql in [
        "UPDATE households SET bank_account_enc = (SELECT bank_account_enc FROM households WHERE household_no = 'H1') WHERE household_no = 'H2'",
        "UPDATE persons SET name_enc = (SELECT p.name_enc FROM persons p JOIN households h ON h.id = p.household_id WHERE h.household_no = 'H1')
         WHERE household_id = (SELECT id FROM households WHERE household_no = 'H2')",
    ] {
        sqlx::query(sqlx::AssertSqlSafe(sql)).execute(&pool).await.expect("copy");
    }
    let refused = t.client.get_household(pb::GetHouseholdRequest { household_no: "H2".into() }).await;
    assert!(refused.is_err(), "a copied account is not read as H2's");
    t.client.get_household(pb::GetHouseholdRequest { household_no: "H1".into() }).await.expect("H1 is intact");
    let found = doudi_runtime::sealing::misplaced_all(store.db(), store.cipher(), &columns).await.expect("scan");
    let key = hex::encode(store.id_hash(&doudi_core::NationalId::parse(&person_id(2)).expect("id")));
    assert_eq!(
        found,
        vec![("persons.name_enc".to_owned(), key), ("households.bank_account_enc".to_owned(), "H2".to_owned())]
    );
}

async fn values_an_older_version_wrote_unbound_are_sealed_when_the_service_opens(backend: Backend) {
    let t = spawn(backend).await;
    let file = csv(&[row("H1", 1, "HEAD", "DIBAO_1", "2015-01-01", "", "6228480011112222")]);
    t.service.import_csv(&file, "f.csv", ACTOR, false).await.expect("import");
    let store = t.service.store();
    let cipher = store.cipher();
    // As a version before sealing wrote them: no version byte, no associated data.
    let pool = store.db().writes().clone();
    sqlx::query("UPDATE persons SET national_id_enc = $1, name_enc = $2")
        .bind(cipher.encrypt_unbound(&person_id(1)))
        .bind(cipher.encrypt_unbound("测试1"))
        .execute(&pool)
        .await
        .expect("write unbound");
    sqlx::query("UPDATE households SET bank_account_enc = $1")
        .bind(cipher.encrypt_unbound("6228480011112222"))
        .execute(&pool)
        .await
        .expect("write unbound");
    // An older version's database has no record of sealing either.
    sqlx::query("DELETE FROM data_upgrades").execute(&pool).await.expect("as before sealing");
    let columns = doudi_eligibility::store::SEALED_COLUMNS;
    assert_eq!(doudi_runtime::sealing::misplaced_all(store.db(), cipher, &columns).await.expect("scan").len(), 3);
    let mut config = doudi_runtime::Config::default();
    config.eligibility.database_url = Some(t.db.url.clone());
    let reopened = doudi_eligibility::open(&config, cipher.clone()).await.expect("reopen");
    let sealed = doudi_runtime::sealing::misplaced_all(reopened.store().db(), cipher, &columns).await.expect("scan");
    assert!(sealed.is_empty(), "{sealed:?}");
    let household = reopened.household("H1").await.expect("read");
    assert_eq!(household.bank_account.expect("account").masked(), "****2222");
    // Opening again changes nothing, and does not scan again: each column is recorded as done.
    let again = doudi_runtime::sealing::reseal_all(reopened.store().db(), cipher, &columns).await.expect("reseal");
    assert_eq!(again, 0);
    let done: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM data_upgrades WHERE name LIKE 'seal:%'")
        .fetch_one(&pool)
        .await
        .expect("upgrades");
    assert_eq!(done, columns.len() as i64);
    for column in &columns {
        assert_eq!(column.reseal_unbound(reopened.store().db(), cipher).await.expect("scan"), 0, "{column:?}");
    }
}
