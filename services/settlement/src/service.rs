//! The settlement service: its store, the policy in force, and the eligibility client it asks
//! categories of. Its operations live with their capability (`settle/ops.rs`,
//! `reconcile/ops.rs`, `premium/ops.rs`), each an `impl SettlementService` block.

use crate::coverage_client::CoverageClient;
use crate::settle::group::GroupCommit;
use crate::store::Store;
use doudi_core::policy::PolicySet;
use doudi_runtime::staff::RemoteStaffDirectory;
use std::sync::Arc;

#[derive(Clone)]
pub struct SettlementService {
    pub(crate) store: Store,
    /// Where settlements wait to be committed together (`settle::group`).
    pub(crate) commits: Arc<GroupCommit>,
    pub(crate) policy: Arc<PolicySet>,
    pub(crate) coverage: CoverageClient,
    /// Staff tokens, verified by the staff register (the eligibility service).
    pub(crate) staff: RemoteStaffDirectory,
}

impl std::fmt::Debug for SettlementService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SettlementService").field("store", &self.store).field("coverage", &self.coverage).finish()
    }
}

impl SettlementService {
    pub fn new(store: Store, policy: PolicySet, coverage: CoverageClient, staff: RemoteStaffDirectory) -> Self {
        Self { store, commits: Arc::default(), policy: Arc::new(policy), coverage, staff }
    }

    pub fn store(&self) -> &Store {
        &self.store
    }
}
