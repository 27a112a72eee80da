//! Every type of this service that holds a person's national ID, name or bank account, formatted
//! with `{:?}` (as a log line or a panic would): none shows them.

use crate::coverage::ops::PremiumSubsidyPerson;
use crate::procedure::ops::StepRequest;
use crate::registry::household::{HouseholdDraft, MemberDraft};
use crate::registry::household_store::{StoredHousehold, StoredMember};
use crate::registry::import::ImportRow;
use crate::upkeep::ops::MemberChangeInput;
use doudi_core::pii::{BankAccount, PersonName};
use doudi_core::{Category, Date, NationalId, Relation};

const ID: &str = "11010519491231002X";
const NAME: &str = "欧阳娜娜";
const ACCOUNT: &str = "6228480012345678";

fn assert_masked(what: &str, shown: &str) {
    for secret in [ID, NAME, ACCOUNT] {
        assert!(!shown.contains(secret), "{what} shows {secret}: {shown}");
    }
}

#[test]
fn no_debug_output_shows_an_id_a_name_or_an_account() {
    let day: Date = "2016-01-01".parse().unwrap();
    let member = MemberDraft { national_id: ID.into(), name: NAME.into(), ..Default::default() };
    let household =
        HouseholdDraft { members: vec![member.clone()], bank_account: ACCOUNT.into(), ..Default::default() };
    assert_masked("MemberDraft", &format!("{member:?}"));
    assert_masked("HouseholdDraft", &format!("{household:?}"));
    let premium =
        PremiumSubsidyPerson { national_id: ID.into(), category: Category::Dibao2, household_no: "H1".into() };
    assert_masked("PremiumSubsidyPerson", &format!("{premium:?}"));
    let change = MemberChangeInput { member: Some(member), new_head_national_id: ID.into(), ..Default::default() };
    assert_masked("MemberChangeInput", &format!("{change:?}"));
    let step =
        StepRequest { tekun_national_ids: vec![ID.into()], member_national_ids: vec![ID.into()], ..Default::default() };
    assert_masked("StepRequest", &format!("{step:?}"));
    let name = PersonName::parse(NAME).unwrap();
    let account = BankAccount::parse(ACCOUNT).unwrap();
    let row = ImportRow {
        line: 2,
        household_no: "H1".into(),
        township: "城关镇".into(),
        village: "东村".into(),
        national_id: NationalId::parse(ID).unwrap(),
        name: name.clone(),
        relation: Relation::Head,
        birth_date: "1949-12-31".parse().unwrap(),
        category: Category::Tekun,
        effective_from: day,
        effective_to: None,
        bank_account: Some(account.clone()),
    };
    assert_masked("ImportRow", &format!("{row:?}"));
    let stored = StoredHousehold {
        household_no: "H1".into(),
        township: "城关镇".into(),
        village: "东村".into(),
        address: String::new(),
        bank_account: Some(account),
        monthly_income_fen: 0,
        savings_fen: 0,
        motor_vehicles: 0,
        vehicles_exempt: false,
        commercial_properties: 0,
        members: vec![StoredMember {
            national_id_masked: NationalId::parse(ID).unwrap().masked(),
            name,
            relation: Relation::Head,
            birth_date: day,
            disability_grade: 0,
            seriously_ill: false,
            able_to_work: false,
            publicly_funded: false,
        }],
    };
    assert_masked("StoredHousehold", &format!("{stored:?}"));
}
