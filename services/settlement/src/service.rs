//! The settlement service: its store, the policy in force, and the eligibility client it asks
//! categories of. Its operations live with their capability (`settle/ops.rs`,
//! `reconcile/ops.rs`, `premium/ops.rs`), each an `impl SettlementService` block.

use crate::coverage_client::CoverageClient;
use crate::store::Store;
use doudi_core::policy::PolicySet;
use std::sync::Arc;

#[derive(Debug, Clone)]
pub struct SettlementService {
    pub(crate) store: Store,
    pub(crate) policy: Arc<PolicySet>,
    pub(crate) coverage: CoverageClient,
}

impl SettlementService {
    pub fn new(store: Store, policy: PolicySet, coverage: CoverageClient) -> Self {
        Self { store, policy: Arc::new(policy), coverage }
    }

    pub fn store(&self) -> &Store {
        &self.store
    }
}
