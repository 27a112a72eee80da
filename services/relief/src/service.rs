//! The relief service: its store, the policy in force (the dibao standard S of each day), its
//! calendar, and the eligibility service it checks households, staff tokens and accounts with.

use crate::store::Store;
use doudi_core::policy::PolicySet;
use doudi_runtime::clock::Clock;
use doudi_runtime::staff::{RemoteStaffDirectory, Staff};
use std::sync::{Arc, Mutex};
use tokio::sync::Notify;
use tonic::transport::Channel;

/// A member of staff acting, with the token they presented (forwarded when relief asks
/// eligibility on their behalf: a household lookup, an application from the window).
#[derive(Debug, Clone)]
pub struct Acting {
    pub staff: Staff,
    pub token: String,
}

#[derive(Clone)]
pub struct ReliefService {
    pub(crate) store: Store,
    pub(crate) policy: Arc<PolicySet>,
    pub(crate) clock: Clock,
    pub(crate) eligibility: Channel,
    pub(crate) staff: RemoteStaffDirectory,
    /// Woken after a grant is written, so the relay delivers it at once.
    pub(crate) relay_waker: Arc<Mutex<Option<Arc<Notify>>>>,
}

impl std::fmt::Debug for ReliefService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ReliefService").field("store", &self.store).finish_non_exhaustive()
    }
}

impl ReliefService {
    pub fn store(&self) -> &Store {
        &self.store
    }

    pub fn clock(&self) -> &Clock {
        &self.clock
    }

    pub fn staff_directory(&self) -> &RemoteStaffDirectory {
        &self.staff
    }

    /// The dibao standard S in force on `day`.
    pub fn standard_on(&self, day: doudi_core::Date) -> crate::error::Result<i64> {
        self.policy
            .in_force_on(day)
            .map(|v| v.dibao_standard_fen.0)
            .ok_or_else(|| crate::error::ReliefError::Internal(format!("no policy is in force on {day}")))
    }

    pub(crate) fn wake_relay(&self) {
        if let Some(waker) = self.relay_waker.lock().expect("waker").as_ref() {
            waker.notify_one();
        }
    }
}
