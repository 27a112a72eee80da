//! A household as it is registered: validated members, declared income and assets.

use doudi_core::pii::{BankAccount, PersonName, mask_account, mask_id_text, mask_name};
use doudi_core::{Date, NationalId, Relation, Violations};

/// `[A-Za-z0-9_-]{1,32}`: county household numbers, safe in files, URLs and logs.
pub fn check_household_no(text: &str) -> Result<String, &'static str> {
    let valid =
        (1..=32).contains(&text.len()) && text.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if valid { Ok(text.to_owned()) } else { Err("must be 1 to 32 characters of A-Z, a-z, 0-9, - or _") }
}

/// A township, village or address: trimmed, non-empty, bounded, no control characters.
pub fn check_place(text: &str, max_chars: usize) -> Result<String, String> {
    let text = text.trim();
    if text.is_empty() {
        return Err("must not be empty".into());
    }
    if text.chars().count() > max_chars {
        return Err(format!("must be at most {max_chars} characters"));
    }
    if text.chars().any(char::is_control) {
        return Err("must not contain control characters".into());
    }
    Ok(text.to_owned())
}

/// As received, before validation; field names are those of the request. `Debug` masks the ID
/// and the name.
#[derive(Clone, Default)]
pub struct MemberDraft {
    pub national_id: String,
    pub name: String,
    /// `None` when the request named no known relation.
    pub relation: Option<Relation>,
    pub disability_grade: i32,
    pub seriously_ill: bool,
    pub able_to_work: bool,
    pub publicly_funded: bool,
}

impl std::fmt::Debug for MemberDraft {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MemberDraft")
            .field("national_id", &mask_id_text(&self.national_id))
            .field("name", &mask_name(&self.name))
            .field("relation", &self.relation)
            .field("disability_grade", &self.disability_grade)
            .field("seriously_ill", &self.seriously_ill)
            .field("able_to_work", &self.able_to_work)
            .field("publicly_funded", &self.publicly_funded)
            .finish()
    }
}

impl std::fmt::Debug for HouseholdDraft {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HouseholdDraft")
            .field("household_no", &self.household_no)
            .field("township", &self.township)
            .field("village", &self.village)
            .field("members", &self.members)
            .field("monthly_income_fen", &self.monthly_income_fen)
            .field("bank_account", &mask_account(&self.bank_account))
            .finish_non_exhaustive()
    }
}

impl MemberDraft {
    /// The member, or its problems added to `v` against `{prefix}.field`.
    pub fn check(self, prefix: &str, today: Date, v: &mut Violations) -> Option<Member> {
        let at = |field: &str| format!("{prefix}.{field}");
        let national_id = v.check(&at("nationalId"), NationalId::parse_on(&self.national_id, today));
        let name = v.check(&at("name"), PersonName::parse(&self.name));
        if self.relation.is_none() {
            v.add(at("relation"), "must be one of HEAD|SPOUSE|CHILD|PARENT|OTHER");
        }
        if !(0..=4).contains(&self.disability_grade) {
            v.add(at("disabilityGrade"), "must be 0 (none) or a grade from 1 to 4");
            return None;
        }
        let (national_id, name, relation) = (national_id?, name?, self.relation?);
        Some(Member {
            birth_date: national_id.birth_date(),
            national_id,
            name,
            relation,
            disability_grade: i64::from(self.disability_grade),
            seriously_ill: self.seriously_ill,
            able_to_work: self.able_to_work,
            publicly_funded: self.publicly_funded,
        })
    }
}

/// `Debug` masks the members and the account.
#[derive(Clone, Default)]
pub struct HouseholdDraft {
    pub household_no: String,
    pub township: String,
    pub village: String,
    pub address: String,
    pub members: Vec<MemberDraft>,
    pub monthly_income_fen: i64,
    pub savings_fen: i64,
    pub motor_vehicles: i32,
    pub vehicles_exempt: bool,
    pub commercial_properties: i32,
    pub bank_account: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Member {
    pub national_id: NationalId,
    pub name: PersonName,
    pub relation: Relation,
    pub birth_date: Date,
    /// 0 when not disabled, else 1 (most severe) to 4.
    pub disability_grade: i64,
    pub seriously_ill: bool,
    pub able_to_work: bool,
    pub publicly_funded: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Assets {
    pub savings_fen: i64,
    pub motor_vehicles: i64,
    pub vehicles_exempt: bool,
    pub commercial_properties: i64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewHousehold {
    pub household_no: String,
    pub township: String,
    pub village: String,
    pub address: String,
    pub members: Vec<Member>,
    pub monthly_income_fen: i64,
    pub assets: Assets,
    pub bank_account: Option<BankAccount>,
}

impl HouseholdDraft {
    /// Every problem at once, each against its field (`members[1].nationalId`).
    pub fn validate(self, today: Date) -> Result<NewHousehold, Vec<doudi_core::FieldViolation>> {
        let mut v = Violations::new();
        let household_no = v.check("householdNo", check_household_no(&self.household_no));
        let township = v.check("township", check_place(&self.township, 64));
        let village = v.check("village", check_place(&self.village, 64));
        let address = if self.address.trim().is_empty() {
            Some(String::new())
        } else {
            v.check("address", check_place(&self.address, 200))
        };
        let mut members = Vec::new();
        if self.members.is_empty() {
            v.add("members", "a household has at least one member");
        }
        if self.members.len() > 64 {
            v.add("members", "a household has at most 64 members");
        }
        for (i, m) in self.members.into_iter().enumerate() {
            if let Some(member) = m.check(&format!("members[{i}]"), today, &mut v) {
                members.push(member);
            }
        }
        let heads = members.iter().filter(|m| m.relation == Relation::Head).count();
        if heads != 1 && !members.is_empty() {
            v.add("members", format!("exactly one member must be the HEAD (found {heads})"));
        }
        for (i, m) in members.iter().enumerate() {
            if members[..i].iter().any(|n| n.national_id == m.national_id) {
                v.add(format!("members[{i}].nationalId"), "appears twice in the household");
            }
        }
        for (field, value) in [("monthlyIncomeFen", self.monthly_income_fen), ("assets.savingsFen", self.savings_fen)] {
            if value < 0 {
                v.add(field, "must not be negative");
            }
        }
        for (field, value) in
            [("assets.motorVehicles", self.motor_vehicles), ("assets.commercialProperties", self.commercial_properties)]
        {
            if value < 0 {
                v.add(field, "must not be negative");
            }
        }
        let bank_account = if self.bank_account.trim().is_empty() {
            Some(None)
        } else {
            v.check("bankAccount", BankAccount::parse(&self.bank_account)).map(Some)
        };
        match (household_no, township, village, address, bank_account) {
            (Some(household_no), Some(township), Some(village), Some(address), Some(bank_account)) if v.is_empty() => {
                Ok(NewHousehold {
                    household_no,
                    township,
                    village,
                    address,
                    members,
                    monthly_income_fen: self.monthly_income_fen,
                    assets: Assets {
                        savings_fen: self.savings_fen,
                        motor_vehicles: i64::from(self.motor_vehicles),
                        vehicles_exempt: self.vehicles_exempt,
                        commercial_properties: i64::from(self.commercial_properties),
                    },
                    bank_account,
                })
            }
            _ => Err(v.into_vec()),
        }
    }
}

impl NewHousehold {
    /// A canonical text of the whole registration (personal data included), to be keyed-hashed:
    /// the same registration sent again has the same digest, any other content another.
    pub fn canonical_text(&self) -> String {
        let mut text = format!(
            "{}|{}|{}|{}|{}|{}|{}|{}|{}|{}",
            self.household_no,
            self.township,
            self.village,
            self.address,
            self.monthly_income_fen,
            self.assets.savings_fen,
            self.assets.motor_vehicles,
            self.assets.vehicles_exempt,
            self.assets.commercial_properties,
            self.bank_account.as_ref().map_or("", |a| a.expose()),
        );
        for m in &self.members {
            text.push_str(&format!(
                "|{}|{}|{}|{}|{}|{}|{}",
                m.national_id.expose(),
                m.name.expose(),
                m.relation,
                m.disability_grade,
                m.seriously_ill,
                m.able_to_work,
                m.publicly_funded
            ));
        }
        text
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use doudi_core::national_id::synthesize;

    fn today() -> Date {
        "2026-11-29".parse().unwrap()
    }

    fn draft() -> HouseholdDraft {
        let id = |seq| synthesize("360730", "1980-05-01".parse().unwrap(), seq).expose().to_owned();
        HouseholdDraft {
            household_no: "H-001".into(),
            township: "城关镇".into(),
            village: "东村".into(),
            members: vec![
                MemberDraft {
                    national_id: id(11),
                    name: "李大山".into(),
                    relation: Some(Relation::Head),
                    able_to_work: true,
                    ..Default::default()
                },
                MemberDraft {
                    national_id: id(12),
                    name: "王小花".into(),
                    relation: Some(Relation::Spouse),
                    ..Default::default()
                },
            ],
            monthly_income_fen: 80_000,
            bank_account: "6228480012345678".into(),
            ..Default::default()
        }
    }

    #[test]
    fn valid_household() {
        let household = draft().validate(today()).unwrap();
        assert_eq!(household.members[0].birth_date.to_string(), "1980-05-01");
        assert_eq!(household.bank_account.unwrap().masked(), "****5678");
    }

    #[test]
    fn every_violation_is_reported_against_its_field() {
        let mut d = draft();
        d.household_no = "H 001".into();
        d.members[1].national_id = "360730198005010121".into();
        d.members[1].relation = Some(Relation::Head);
        d.members[0].disability_grade = 7;
        d.monthly_income_fen = -1;
        d.bank_account = "12-34".into();
        let fields: Vec<String> = d.validate(today()).unwrap_err().into_iter().map(|v| v.field).collect();
        assert_eq!(
            fields,
            ["householdNo", "members[0].disabilityGrade", "members[1].nationalId", "monthlyIncomeFen", "bankAccount"]
        );
        let mut d = draft();
        d.members[1].relation = Some(Relation::Head);
        let err = d.validate(today()).unwrap_err();
        assert_eq!(err[0].description, "exactly one member must be the HEAD (found 2)");
    }
}
