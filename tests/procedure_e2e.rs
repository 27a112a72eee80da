//! End-to-end: the dibao procedure's admin commands as a county operator uses them.

use super::{doudi, text, write_csv};

const KEY: &str = "6d6d6d6d6d6d6d6d6d6d6d6d6d6d6d6d6d6d6d6d6d6d6d6d6d6d6d6d6d6d6d6d";

fn person(n: u32) -> String {
    doudi_testkit::person_id(20_000 + n)
}

#[test]
fn staff_roll_poverty_list_and_notice_from_the_command_line() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("data");
    let data = data.to_str().expect("utf-8");
    let env = [("DOUDI__SECURITY__MASTER_KEY", KEY)];
    let run = |args: &[&str]| {
        let mut all = args.to_vec();
        all.extend(["--data-dir", data]);
        doudi(&all, &env)
    };

    let out = run(&["staff", "add", "--name", "王科长", "--role", "COUNTY"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let token = text(&out.stdout).split_whitespace().last().expect("token").to_owned();
    assert!(token.starts_with("st_"), "{}", text(&out.stdout));
    let out = run(&["staff", "add", "--name", "李干事", "--role", "TOWNSHIP"]);
    assert!(!out.status.success() && text(&out.stderr).contains("--township"), "{}", text(&out.stderr));
    let out = run(&["staff", "add", "--name", "李干事", "--role", "TOWNSHIP", "--township", "城关镇"]);
    assert!(out.status.success() && text(&out.stdout).contains("township 城关镇"), "{}", text(&out.stdout));
    let out = run(&["staff", "revoke", "--id", "99"]);
    assert!(!out.status.success() && text(&out.stderr).contains("not found"), "{}", text(&out.stderr));
    let out = run(&["staff", "revoke", "--id", "2"]);
    assert!(out.status.success(), "{}", text(&out.stderr));

    let rows: Vec<String> =
        [(1, "DIBAO_1", "E-1", "6228480000000001"), (2, "DIBAO_2", "E-2", ""), (3, "LOW_INCOME", "E-3", "")]
            .iter()
            .map(|(n, category, household, account)| {
                let id = person(*n);
                let birth = doudi_testkit::birth_of(&id);
                format!("{household},城关镇,东村,{id},某{n},HEAD,{birth},{category},2015-01-01,,{account}")
            })
            .collect();
    let file = write_csv(dir.path(), "recipients.csv", &rows);
    let out = run(&["registry", "import", &file]);
    assert!(out.status.success(), "{}", text(&out.stderr));

    // The roll of a month: every payable person and each household's sum, as JSON.
    let out = run(&["benefit-roll", "--month", "2016-03"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let roll: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    assert_eq!(
        (roll["policyVersion"].as_str(), roll["totalFen"].as_i64()),
        (Some("ref-2016-01"), Some(27_500 + 23_400))
    );
    assert_eq!(roll["households"][0]["account"], "****0001");
    let out = run(&["benefit-roll", "--month", "2016-13"]);
    assert!(!out.status.success() && text(&out.stderr).contains("YYYY-MM"), "{}", text(&out.stderr));

    // The poverty office's list: E-3 is registered poor without dibao; E-1 and E-2 have dibao
    // and are not on the list.
    let list = dir.path().join("poor.csv");
    std::fs::write(&list, format!("household_no,national_id\nE-3,{}\n", person(3))).expect("write");
    let out = run(&["registry", "match-poverty", list.to_str().expect("utf-8")]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let report = text(&out.stdout);
    assert!(report.contains("1 persons marked now"), "{report}");
    assert!(report.contains("without dibao (candidates for an assessment): 1\n  E-3"), "{report}");
    assert!(report.contains("dibao households not registered as poor: 2\n  E-1\n  E-2"), "{report}");
    std::fs::write(&list, "household_no,national_id\nE-3,123\n").expect("write");
    let out = run(&["registry", "match-poverty", list.to_str().expect("utf-8")]);
    assert!(!out.status.success() && text(&out.stderr).contains("line 2: national_id"), "{}", text(&out.stderr));

    // The village's public list, masked.
    let out = run(&["notice-list", "--township", "城关镇", "--village", "东村", "--on", "2016-03-01"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let notice: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    assert_eq!(notice["recipients"].as_array().map(Vec::len), Some(2));
    assert!(!text(&out.stdout).contains(&person(1)), "no full ID on a public list");

    let out = run(&["audit", "verify"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
}
