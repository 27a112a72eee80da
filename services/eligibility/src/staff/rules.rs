//! Where staff may act: township staff on their own township's cases, county staff everywhere;
//! some acts are the county's alone. Who staff are (`Staff`, `Role`) is the suite's one staff
//! identity (`doudi_runtime::staff`); these are the eligibility service's refusals.

use crate::error::{EligibilityError, Result};
pub use doudi_runtime::staff::{Role, Staff};

/// The township and county rules as this service's errors.
pub trait Scope {
    fn may_act_in(&self, township: &str) -> Result<()>;
    /// `what` completes "only county staff …".
    fn county_only(&self, what: &'static str) -> Result<()>;
}

impl Scope for Staff {
    fn may_act_in(&self, township: &str) -> Result<()> {
        if self.acts_in(township) { Ok(()) } else { Err(EligibilityError::OtherTownship(township.to_owned())) }
    }

    fn county_only(&self, what: &'static str) -> Result<()> {
        if self.is_county() { Ok(()) } else { Err(EligibilityError::CountyOnly(what)) }
    }
}
