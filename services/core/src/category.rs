//! Assistance categories and household relations, with the names used in code, protos, CSV
//! files and JSON alike.

use serde::{Deserialize, Serialize};
use std::{fmt, str::FromStr};

/// In priority order: when a person holds several categories, the first applies.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Category {
    Tekun,
    #[serde(rename = "DIBAO_1")]
    Dibao1,
    #[serde(rename = "DIBAO_2")]
    Dibao2,
    RegisteredPoor,
    LowIncome,
    None,
}

impl Category {
    pub const ALL: [Category; 6] = [
        Category::Tekun,
        Category::Dibao1,
        Category::Dibao2,
        Category::RegisteredPoor,
        Category::LowIncome,
        Category::None,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Category::Tekun => "TEKUN",
            Category::Dibao1 => "DIBAO_1",
            Category::Dibao2 => "DIBAO_2",
            Category::RegisteredPoor => "REGISTERED_POOR",
            Category::LowIncome => "LOW_INCOME",
            Category::None => "NONE",
        }
    }

    /// TEKUN, DIBAO_1, DIBAO_2 and REGISTERED_POOR.
    pub fn is_poor(self) -> bool {
        matches!(self, Category::Tekun | Category::Dibao1 | Category::Dibao2 | Category::RegisteredPoor)
    }

    /// The category that applies among those held: the first in priority order, NONE if none.
    pub fn applying(held: impl IntoIterator<Item = Category>) -> Category {
        held.into_iter().min().unwrap_or(Category::None)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("must be one of {0}")]
pub struct UnknownName(&'static str);

impl FromStr for Category {
    type Err = UnknownName;

    fn from_str(text: &str) -> Result<Self, UnknownName> {
        Category::ALL
            .into_iter()
            .find(|c| c.as_str() == text)
            .ok_or(UnknownName("TEKUN|DIBAO_1|DIBAO_2|REGISTERED_POOR|LOW_INCOME|NONE"))
    }
}

impl fmt::Display for Category {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A member's relation to the head of the household.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Relation {
    Head,
    Spouse,
    Child,
    Parent,
    Other,
}

impl Relation {
    pub const ALL: [Relation; 5] =
        [Relation::Head, Relation::Spouse, Relation::Child, Relation::Parent, Relation::Other];

    pub fn as_str(self) -> &'static str {
        match self {
            Relation::Head => "HEAD",
            Relation::Spouse => "SPOUSE",
            Relation::Child => "CHILD",
            Relation::Parent => "PARENT",
            Relation::Other => "OTHER",
        }
    }
}

impl FromStr for Relation {
    type Err = UnknownName;

    fn from_str(text: &str) -> Result<Self, UnknownName> {
        Relation::ALL.into_iter().find(|r| r.as_str() == text).ok_or(UnknownName("HEAD|SPOUSE|CHILD|PARENT|OTHER"))
    }
}

impl fmt::Display for Relation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn priority_and_names() {
        use Category::*;
        assert_eq!(Category::applying([LowIncome, Dibao2, RegisteredPoor]), Dibao2);
        assert_eq!(Category::applying([]), None);
        for c in Category::ALL {
            assert_eq!(c.as_str().parse::<Category>(), Ok(c));
        }
        assert!("dibao_1".parse::<Category>().is_err());
        assert!(Tekun.is_poor() && !LowIncome.is_poor());
    }
}
