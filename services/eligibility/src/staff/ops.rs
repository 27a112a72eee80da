//! The staff register answering for staff tokens: to this service's own guard, and to the
//! suite's other services through `StaffDirectory`.

use crate::error::EligibilityError;
use crate::service::EligibilityService;
use doudi_runtime::staff::{StaffDirectory, TokenCheck};
use futures_util::future::BoxFuture;

/// The register as the suite's one staff directory: a token's worth today, from the database
/// (a withdrawal counts from the next request).
#[derive(Debug, Clone)]
pub struct StaffRegister(pub EligibilityService);

impl StaffDirectory for StaffRegister {
    fn check<'a>(&'a self, token: &'a str) -> BoxFuture<'a, Result<TokenCheck, tonic::Status>> {
        Box::pin(async move {
            let today = self.0.clock().today();
            self.0.store().staff_by_token(token, today).await.map_err(|e| EligibilityError::from(e).into())
        })
    }
}
