//! Who a caller is, from their staff token.

use crate::error::{EligibilityError, Result};
use crate::service::EligibilityService;
use crate::staff::rules::Staff;
use crate::staff::store::TokenCheck;

impl EligibilityService {
    /// The member of staff an `authorization: Bearer st_…` value names.
    pub async fn staff(&self, authorization: Option<&str>) -> Result<Staff> {
        let token = doudi_runtime::auth::bearer(authorization).ok_or(EligibilityError::NoStaffToken)?;
        match self.store().staff_by_token(token, self.clock().today()).await? {
            TokenCheck::Valid(staff) => Ok(staff),
            TokenCheck::Expired(last) => Err(EligibilityError::ExpiredStaffToken(last)),
            TokenCheck::Unknown => Err(EligibilityError::UnknownStaffToken),
        }
    }
}
