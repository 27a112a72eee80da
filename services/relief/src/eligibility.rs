//! What relief asks the eligibility service: a household as the acting staff member may see it
//! (their token forwarded, so eligibility applies its township scope), and the head's account in
//! full as this service's certificate (a grant is paid there).

use crate::error::{ReliefError, Result};
use crate::service::{Acting, ReliefService};
use doudi_core::pii::BankAccount;
use doudi_proto::eligibility::v1 as epb;
use doudi_proto::eligibility::v1::dibao_procedure_client::DibaoProcedureClient;
use doudi_proto::eligibility::v1::eligibility_client::EligibilityClient;
use std::time::Duration;

const DEADLINE: Duration = Duration::from_secs(10);

pub(crate) fn with_token<T>(message: T, token: &str) -> Result<tonic::Request<T>> {
    let mut request = tonic::Request::new(message);
    let value = format!("Bearer {token}")
        .parse()
        .map_err(|_| ReliefError::forbidden("authorization", "the staff token cannot be forwarded"))?;
    request.metadata_mut().insert("authorization", value);
    request.set_timeout(DEADLINE);
    Ok(request)
}

fn upstream(what: &str, status: tonic::Status) -> ReliefError {
    match status.code() {
        tonic::Code::NotFound => ReliefError::Invalid(doudi_core::Violations::of("householdNo", status.message())),
        tonic::Code::PermissionDenied | tonic::Code::Unauthenticated => {
            ReliefError::forbidden("householdNo", status.message())
        }
        _ => ReliefError::Upstream(format!(
            "{what}: the eligibility service answered {:?}: {}",
            status.code(),
            status.message()
        )),
    }
}

impl ReliefService {
    /// The registered household, as `acting` may see it.
    pub(crate) async fn household(&self, acting: &Acting, household_no: &str) -> Result<epb::Household> {
        let request = with_token(epb::GetHouseholdRequest { household_no: household_no.to_owned() }, &acting.token)?;
        Ok(EligibilityClient::new(self.eligibility.clone())
            .get_household(request)
            .await
            .map_err(|s| upstream("looking up the household", s))?
            .into_inner())
    }

    /// The household head's account on file, if any.
    pub(crate) async fn head_account(&self, household_no: &str) -> Result<Option<BankAccount>> {
        let mut request =
            tonic::Request::new(epb::GetPaymentAccountsRequest { household_nos: vec![household_no.to_owned()] });
        request.set_timeout(DEADLINE);
        let answer = DibaoProcedureClient::new(self.eligibility.clone())
            .get_payment_accounts(request)
            .await
            .map_err(|s| upstream("reading the household's account", s))?
            .into_inner();
        answer
            .accounts
            .into_iter()
            .find(|a| a.household_no == household_no && !a.account_number.is_empty())
            .map(|a| BankAccount::parse(&a.account_number))
            .transpose()
            .map_err(|_| ReliefError::Upstream("eligibility gave an account that is not one".into()))
    }
}
