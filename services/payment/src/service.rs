//! The payment service: its store, the policy in force, the eligibility service it reads the
//! benefit roll and staff tokens from, and the accounts only its configuration knows.

use crate::store::Store;
use doudi_core::pii::BankAccount;
use doudi_core::policy::PolicySet;
use doudi_runtime::staff::RemoteStaffDirectory;
use std::sync::Arc;
use tonic::transport::Channel;

/// The basic insurer, paid the year's premium subsidies.
#[derive(Clone, PartialEq, Eq)]
pub struct Insurer {
    pub name: String,
    pub account: Option<BankAccount>,
}

#[derive(Clone)]
pub struct PaymentService {
    pub(crate) store: Store,
    pub(crate) policy: Arc<PolicySet>,
    /// The eligibility service (the benefit roll), as this service's certificate.
    pub(crate) eligibility: Channel,
    pub(crate) staff: RemoteStaffDirectory,
    pub(crate) insurer: Insurer,
    /// The county's side of its bank files.
    pub(crate) bank: crate::bank::export::BankSettings,
}

impl std::fmt::Debug for PaymentService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PaymentService").field("store", &self.store).finish_non_exhaustive()
    }
}

impl PaymentService {
    pub fn store(&self) -> &Store {
        &self.store
    }

    pub fn staff_directory(&self) -> &RemoteStaffDirectory {
        &self.staff
    }
}
