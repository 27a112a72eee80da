//! Conversions between the contracts' enums and the domain's, written once for every service.
//! From the wire an unknown or UNSPECIFIED value is `None`: the caller names the field.

use crate::eligibility::v1 as eligibility;
use crate::settlement::v1 as settlement;
use doudi_core::Category;
use doudi_core::policy::HospitalLevel;

impl From<Category> for eligibility::Category {
    fn from(category: Category) -> Self {
        match category {
            Category::Tekun => Self::Tekun,
            Category::Dibao1 => Self::Dibao1,
            Category::Dibao2 => Self::Dibao2,
            Category::RegisteredPoor => Self::RegisteredPoor,
            Category::LowIncome => Self::LowIncome,
            Category::None => Self::None,
        }
    }
}

pub fn category(value: i32) -> Option<Category> {
    Some(match eligibility::Category::try_from(value).ok()? {
        eligibility::Category::Tekun => Category::Tekun,
        eligibility::Category::Dibao1 => Category::Dibao1,
        eligibility::Category::Dibao2 => Category::Dibao2,
        eligibility::Category::RegisteredPoor => Category::RegisteredPoor,
        eligibility::Category::LowIncome => Category::LowIncome,
        eligibility::Category::None => Category::None,
        eligibility::Category::Unspecified => return None,
    })
}

impl From<HospitalLevel> for settlement::HospitalLevel {
    fn from(level: HospitalLevel) -> Self {
        match level {
            HospitalLevel::Township => Self::Township,
            HospitalLevel::County => Self::County,
            HospitalLevel::Municipal => Self::Municipal,
            HospitalLevel::Provincial => Self::Provincial,
        }
    }
}

pub fn hospital_level(value: i32) -> Option<HospitalLevel> {
    Some(match settlement::HospitalLevel::try_from(value).ok()? {
        settlement::HospitalLevel::Township => HospitalLevel::Township,
        settlement::HospitalLevel::County => HospitalLevel::County,
        settlement::HospitalLevel::Municipal => HospitalLevel::Municipal,
        settlement::HospitalLevel::Provincial => HospitalLevel::Provincial,
        settlement::HospitalLevel::Unspecified => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips() {
        for c in Category::ALL {
            assert_eq!(category(eligibility::Category::from(c) as i32), Some(c));
        }
        for l in HospitalLevel::ALL {
            assert_eq!(hospital_level(settlement::HospitalLevel::from(l) as i32), Some(l));
        }
        assert_eq!(category(0), None);
        assert_eq!(hospital_level(99), None);
    }
}
