//! Who staff are and where they may act: township staff on their own township's cases, county
//! staff everywhere; some acts are the county's alone.

use crate::error::{EligibilityError, Result};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Role {
    Township,
    County,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Township => "TOWNSHIP",
            Role::County => "COUNTY",
        }
    }

    pub fn parse(text: &str) -> Option<Role> {
        [Role::Township, Role::County].into_iter().find(|r| r.as_str() == text)
    }
}

/// A member of staff, as a valid token names them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Staff {
    pub id: i64,
    pub name: String,
    pub role: Role,
    /// Township staff only.
    pub township: Option<String>,
}

impl Staff {
    pub fn actor(&self) -> String {
        format!("staff:{}:{}", self.id, self.name)
    }
}

impl Staff {
    pub fn may_act_in(&self, township: &str) -> Result<()> {
        match (&self.role, &self.township) {
            (Role::County, _) => Ok(()),
            (Role::Township, Some(own)) if own == township => Ok(()),
            _ => Err(EligibilityError::OtherTownship(township.to_owned())),
        }
    }

    /// `what` completes "only county staff …".
    pub fn county_only(&self, what: &'static str) -> Result<()> {
        if self.role == Role::County { Ok(()) } else { Err(EligibilityError::CountyOnly(what)) }
    }
}
