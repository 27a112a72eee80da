//! Group commit: settlements that arrive together are written in one transaction (one commit,
//! one fsync on PostgreSQL, one WAL append on SQLite), and each is answered only after that
//! commit, with exactly the result it would have had alone.
//!
//! Each lane is one task writing one group at a time; while a group commits, the next one
//! gathers in the lane's queue, so a group is as large as the load makes it and a lone request
//! waits for nothing. A person's bills always go to the same lane (by a hash of the person's
//! key), so they serialize in arrival order inside and across groups. SQLite has one lane (it
//! has one writer connection); PostgreSQL has several, as its commits overlap.
//!
//! A group of one is settled on its own (`Store::settle_alone`: on PostgreSQL the one-statement
//! compare-and-set, which costs one round trip); a larger group in one transaction
//! (`group_write`). A group whose transaction fails for a reason of the database is settled
//! again one by one, so a failure is answered to the settlement it belongs to.

use crate::error::{Result, SettlementError};
use crate::settle::write::{Calculate, NewSettlement, Settled};
use crate::store::Store;
use doudi_runtime::Backend;
use std::hash::{Hash, Hasher};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use tokio::sync::{mpsc, oneshot};

/// Settlements per transaction at most: 26 parameters each keeps a group's settlement insert
/// under `Backend::PARAMS_PER_STATEMENT`.
pub(crate) const MAX_GROUP: usize = 256;
/// PostgreSQL lanes: enough overlapping commits to keep the WAL writer busy, few enough that
/// groups stay large (measured: see README, "Group commit").
const POSTGRES_LANES: usize = 4;
/// Settlements waiting per lane before a new one waits for room (back-pressure, not loss).
const QUEUE_PER_LANE: usize = 4 * MAX_GROUP;

/// One settlement waiting for its group's commit.
pub(crate) struct Job {
    pub new: NewSettlement,
    pub calculate: Calculate,
    pub answer: oneshot::Sender<Result<Settled>>,
}

/// The lanes, started on first use (a service opened for admin commands never settles).
#[derive(Debug, Default)]
pub struct GroupCommit {
    lanes: OnceLock<Vec<mpsc::Sender<Job>>>,
    counts: Arc<GroupCounts>,
}

/// How many groups the lanes have committed, and how many settlements they held: their ratio
/// is the mean group size.
#[derive(Debug, Default)]
pub struct GroupCounts {
    pub groups: AtomicU64,
    pub settlements: AtomicU64,
}

impl GroupCommit {
    /// Settles `new` in the next group of its person's lane; answers after that group's commit.
    pub async fn settle(&self, store: &Store, new: NewSettlement, calculate: Calculate) -> Result<Settled> {
        let lanes = self.lanes.get_or_init(|| start_lanes(store, &self.counts));
        let lane = &lanes[lane_of(&new.person_key, lanes.len())];
        let (answer, answered) = oneshot::channel();
        let stopped = || SettlementError::internal("the settlement writer stopped");
        lane.send(Job { new, calculate, answer }).await.map_err(|_| stopped())?;
        answered.await.map_err(|_| stopped())?
    }

    pub fn counts(&self) -> &GroupCounts {
        &self.counts
    }
}

fn lane_of(person_key: &[u8], lanes: usize) -> usize {
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    person_key.hash(&mut hasher);
    (hasher.finish() % lanes as u64) as usize
}

/// The lanes hold a clone of the store without the lanes, so they stop when the last service
/// handle (and with it every sender) is dropped.
fn start_lanes(store: &Store, counts: &Arc<GroupCounts>) -> Vec<mpsc::Sender<Job>> {
    let count = match store.db.backend() {
        Backend::Sqlite => 1,
        Backend::Postgres => POSTGRES_LANES,
    };
    (0..count)
        .map(|_| {
            let (sender, receiver) = mpsc::channel(QUEUE_PER_LANE);
            tokio::spawn(run_lane(store.clone(), receiver, counts.clone()));
            sender
        })
        .collect()
}

async fn run_lane(store: Store, mut queue: mpsc::Receiver<Job>, counts: Arc<GroupCounts>) {
    let mut group = Vec::with_capacity(MAX_GROUP);
    while queue.recv_many(&mut group, MAX_GROUP).await > 0 {
        counts.groups.fetch_add(1, Ordering::Relaxed);
        counts.settlements.fetch_add(group.len() as u64, Ordering::Relaxed);
        commit(&store, std::mem::take(&mut group)).await;
    }
}

async fn commit(store: &Store, mut jobs: Vec<Job>) {
    if jobs.len() > 1 {
        match store.write_group(&jobs).await {
            Ok(results) => {
                for (job, result) in jobs.into_iter().zip(results) {
                    // The caller may have gone (a cancelled request): its settlement stands, and
                    // a retry finds it by bill number.
                    let _ = job.answer.send(result);
                }
                return;
            }
            Err(e) => tracing::warn!(error = %e, settlements = jobs.len(), "group commit failed; settling one by one"),
        }
    }
    for job in jobs.drain(..) {
        let result = store.settle_alone(&job.new, &job.calculate).await;
        let _ = job.answer.send(result);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_person_always_goes_to_the_same_lane_and_persons_spread() {
        let lanes: Vec<usize> = (0..400u32).map(|p| lane_of(&p.to_le_bytes(), POSTGRES_LANES)).collect();
        for p in 0..400u32 {
            assert_eq!(lane_of(&p.to_le_bytes(), POSTGRES_LANES), lanes[p as usize]);
        }
        for lane in 0..POSTGRES_LANES {
            let used = lanes.iter().filter(|&&l| l == lane).count();
            assert!(used > 50, "lane {lane} got {used} of 400 persons");
        }
    }
}
