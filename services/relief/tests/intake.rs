//! The single window through the real services, on SQLite and PostgreSQL: a dibao request
//! becomes an application in the eligibility service naming the intake (and the intake names
//! it), a relief request a case, other matters referrals followed to their answer (OVERDUE past
//! the due day), and a bad request is refused by field with nothing recorded.

mod common;

use common::{Deployment, case_of, household, spawn};
use doudi_proto::eligibility::v1 as epb;
use doudi_proto::relief::v1 as pb;
use doudi_testkit::Backend;
use tonic::Code;

doudi_testkit::conformance!(the_window_sends_each_request_where_it_is_handled, a_bad_request_records_nothing);

fn request(matter: pb::Matter, household_no: &str) -> pb::RecordIntakeRequest {
    pb::RecordIntakeRequest {
        matter: matter as i32,
        household_no: household_no.into(),
        summary: "母亲病重，家中无收入".into(),
        ..Default::default()
    }
}

fn fields(status: &tonic::Status) -> Vec<String> {
    tonic_types::StatusExt::get_details_bad_request(status)
        .map(|d| d.field_violations.iter().map(|v| v.field.clone()).collect())
        .unwrap_or_default()
}

async fn eligibility_application(d: &Deployment, id: i64) -> epb::Application {
    let channel = doudi_testkit::pki::suite().channel(d.eligibility.local_addr, None).await;
    epb::dibao_procedure_client::DibaoProcedureClient::new(doudi_testkit::with_token(channel, &d.county))
        .get_application(epb::GetApplicationRequest { application_id: id })
        .await
        .expect("the application in eligibility")
        .into_inner()
}

async fn the_window_sends_each_request_where_it_is_handled(backend: Backend) {
    let d = spawn(backend, 3).await;
    let mut clerk = d.client(&d.clerk).await;

    // Dibao: an application in eligibility, linked both ways.
    let intake =
        clerk.record_intake(request(pb::Matter::Dibao, &household(1))).await.expect("dibao intake").into_inner();
    assert!(intake.application_id > 0 && intake.reference.starts_with("relief-intake-"), "{intake:?}");
    let application = eligibility_application(&d, intake.application_id).await;
    assert_eq!(
        (application.household_no.as_str(), application.intake_ref.as_str()),
        ("R0001", intake.reference.as_str())
    );
    assert_eq!(application.stage(), epb::ApplicationStage::Submitted);
    // The household has an application open: a second is refused, and nothing is recorded.
    let again = clerk.record_intake(request(pb::Matter::Dibao, &household(1))).await.unwrap_err();
    assert_eq!((again.code(), fields(&again)), (Code::InvalidArgument, vec!["householdNo".to_owned()]), "{again:?}");

    // Temporary relief: a case here, from the intake.
    let mut relief = request(pb::Matter::TemporaryRelief, &household(2));
    relief.relief_case = Some(case_of("", pb::CaseKind::Emergency));
    let intake = clerk.record_intake(relief).await.expect("relief intake").into_inner();
    assert!(intake.case_id > 0);
    let case = clerk.get_case(pb::GetCaseRequest { id: intake.case_id }).await.unwrap().into_inner();
    assert_eq!((case.household_no.as_str(), case.state()), ("R0002", pb::CaseState::Submitted));

    // Another department: referred, overdue past its day, answered, closed.
    let today = d.relief.clock().today();
    let mut education = request(pb::Matter::OtherDepartment, &household(3));
    education.department = pb::Department::Education as i32;
    education.due_on = today.add_days(5).to_string();
    let referred = clerk.record_intake(education).await.expect("referral").into_inner();
    let medical =
        clerk.record_intake(request(pb::Matter::MedicalAssistance, &household(3))).await.expect("medical").into_inner();
    let list = |department: pb::Department, state: pb::ReferralState| pb::ListReferralsRequest {
        department: department as i32,
        state: state as i32,
        township: String::new(),
    };
    let listed = clerk
        .list_referrals(list(pb::Department::Education, pb::ReferralState::Unspecified))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(listed.referrals.iter().map(|r| r.id).collect::<Vec<_>>(), [referred.referral_id]);
    assert_eq!(listed.referrals[0].state(), pb::ReferralState::Referred);
    let insurance = clerk
        .list_referrals(list(pb::Department::MedicalInsurance, pb::ReferralState::Unspecified))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(insurance.referrals.iter().map(|r| r.id).collect::<Vec<_>>(), [medical.referral_id]);
    assert_eq!(insurance.referrals[0].due_on, today.add_days(15).to_string(), "the default due day");
    d.relief.clock().set_today(today.add_days(6));
    let overdue = clerk
        .list_referrals(list(pb::Department::Unspecified, pb::ReferralState::ReferralOverdue))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(overdue.referrals.iter().map(|r| r.id).collect::<Vec<_>>(), [referred.referral_id]);
    let all = clerk
        .list_referrals(list(pb::Department::Unspecified, pb::ReferralState::Unspecified))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(all.referrals[0].id, referred.referral_id, "OVERDUE first");
    let empty = clerk
        .answer_referral(pb::AnswerReferralRequest { referral_id: referred.referral_id, answer: " ".into() })
        .await
        .unwrap_err();
    assert_eq!(empty.code(), Code::InvalidArgument);
    let answered = clerk
        .answer_referral(pb::AnswerReferralRequest {
            referral_id: referred.referral_id, answer: "已落实助学金".into()
        })
        .await
        .expect("answer")
        .into_inner();
    assert_eq!((answered.state(), answered.answer.as_str()), (pb::ReferralState::Answered, "已落实助学金"));
    let closed = clerk
        .close_referral(pb::CloseReferralRequest { referral_id: referred.referral_id, note: String::new() })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(closed.state(), pb::ReferralState::Closed);
    let twice = clerk
        .close_referral(pb::CloseReferralRequest { referral_id: referred.referral_id, note: String::new() })
        .await
        .unwrap_err();
    assert_eq!(twice.code(), Code::FailedPrecondition);
    // Another township's clerk sees none of it.
    let mut other = d.client(&d.other_clerk).await;
    let theirs = other
        .list_referrals(list(pb::Department::Unspecified, pb::ReferralState::Unspecified))
        .await
        .unwrap()
        .into_inner();
    assert!(theirs.referrals.is_empty());
    let foreign = other
        .answer_referral(pb::AnswerReferralRequest { referral_id: medical.referral_id, answer: "x".into() })
        .await
        .unwrap_err();
    assert_eq!(foreign.code(), Code::PermissionDenied);
}

async fn a_bad_request_records_nothing(backend: Backend) {
    let d = spawn(backend, 1).await;
    let mut clerk = d.client(&d.clerk).await;
    let today = d.relief.clock().today();
    let mut unspecified = request(pb::Matter::Unspecified, &household(1));
    unspecified.matter = 0;
    let mut no_department = request(pb::Matter::OtherDepartment, &household(1));
    no_department.department = 0;
    let mut past = request(pb::Matter::OtherDepartment, &household(1));
    past.department = pb::Department::Housing as i32;
    past.due_on = today.add_days(-1).to_string();
    let mut no_case = request(pb::Matter::TemporaryRelief, &household(1));
    no_case.relief_case = None;
    let mut bad_case = request(pb::Matter::TemporaryRelief, &household(1));
    bad_case.relief_case = Some(pb::SubmitCaseRequest { asked_fen: 0, ..case_of("", pb::CaseKind::Emergency) });
    for (field, r) in [
        ("matter", unspecified),
        ("householdNo", request(pb::Matter::Dibao, "")),
        ("householdNo", request(pb::Matter::Dibao, "NOSUCH")),
        ("department", no_department),
        ("dueOn", past),
        ("reliefCase", no_case),
        ("reliefCase.askedFen", bad_case),
        ("summary", pb::RecordIntakeRequest { summary: String::new(), ..request(pb::Matter::Dibao, &household(1)) }),
    ] {
        let status = clerk.record_intake(r).await.expect_err(field);
        assert_eq!(status.code(), Code::InvalidArgument, "{field}: {status:?}");
        assert!(fields(&status).iter().any(|f| f == field), "{field}: {:?}", fields(&status));
    }
    let listed = clerk.list_referrals(pb::ListReferralsRequest::default()).await.unwrap().into_inner();
    assert!(listed.referrals.is_empty());
    let cases = clerk.list_cases(pb::ListCasesRequest::default()).await.unwrap().into_inner();
    assert!(cases.cases.is_empty());
}
