//! The outbox relay every sender uses (settlement today, relief next): messages written in a
//! change's transaction are delivered, oldest first, to the receiver's idempotent RPC until it
//! acknowledges, then marked delivered. A failed or unanswered delivery is retried with the same
//! key after a backoff that doubles up to a ceiling; the receiver deduplicates on the key, so a
//! delivery whose acknowledgement was lost (or a relay killed between the two) does no harm.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{Notify, watch};

/// One message waiting for delivery, its payload as the sender wrote it (opened if sealed).
#[derive(Clone, PartialEq, Eq)]
pub struct PendingMessage {
    pub id: i64,
    pub topic: String,
    pub key: String,
    pub payload: Vec<u8>,
}

impl std::fmt::Debug for PendingMessage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PendingMessage")
            .field("id", &self.id)
            .field("topic", &self.topic)
            .field("key", &self.key)
            .field("payload_bytes", &self.payload.len())
            .finish()
    }
}

/// The sender's side: its outbox table.
pub trait Outbox: Send + Sync + 'static {
    /// Undelivered messages, oldest first.
    fn pending(&self, limit: i64) -> impl Future<Output = Result<Vec<PendingMessage>, sqlx::Error>> + Send;
    fn mark_delivered(&self, id: i64) -> impl Future<Output = Result<(), sqlx::Error>> + Send;
}

/// The receiving service, called once per message (and again after a failure).
pub trait Receiver: Send + Sync + 'static {
    fn deliver(&self, message: &PendingMessage) -> impl Future<Output = Result<(), tonic::Status>> + Send;
}

#[derive(Debug, Clone, Copy)]
pub struct RelayTiming {
    /// How often an empty outbox is looked at again (a sender may also `wake` the relay).
    pub idle_poll: Duration,
    pub first_backoff: Duration,
    pub max_backoff: Duration,
    pub batch: i64,
}

impl Default for RelayTiming {
    fn default() -> Self {
        Self {
            idle_poll: Duration::from_millis(250),
            first_backoff: Duration::from_millis(100),
            max_backoff: Duration::from_secs(30),
            batch: 256,
        }
    }
}

/// A running relay: wake it after enqueueing, stop it on shutdown.
#[derive(Debug)]
pub struct Relay {
    wake: Arc<Notify>,
    stop: watch::Sender<bool>,
    task: tokio::task::JoinHandle<()>,
}

impl Relay {
    pub fn spawn<O: Outbox, R: Receiver>(name: &'static str, outbox: O, receiver: R, timing: RelayTiming) -> Self {
        let wake = Arc::new(Notify::new());
        let (stop, stopped) = watch::channel(false);
        let task = tokio::spawn(run(name, outbox, receiver, timing, wake.clone(), stopped));
        Self { wake, stop, task }
    }

    /// A handle that wakes the relay (held by the code that enqueues).
    pub fn waker(&self) -> Arc<Notify> {
        self.wake.clone()
    }

    /// Stops after the delivery in flight, if any.
    pub async fn stop(self) {
        let _ = self.stop.send(true);
        let _ = self.task.await;
    }
}

/// What one pass over the outbox achieved.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pass {
    /// Nothing was waiting.
    Empty,
    /// Every message read was delivered.
    Delivered(usize),
    /// A delivery failed after `delivered` others; the rest wait for the retry.
    Failed { delivered: usize },
}

/// One pass: deliver the oldest waiting messages in order, stopping at the first failure (so
/// messages reach the receiver in the order they were written).
pub async fn deliver_pending<O: Outbox, R: Receiver>(
    name: &str,
    outbox: &O,
    receiver: &R,
    batch: i64,
) -> Result<Pass, sqlx::Error> {
    let messages = outbox.pending(batch).await?;
    if messages.is_empty() {
        return Ok(Pass::Empty);
    }
    let mut delivered = 0;
    for message in &messages {
        if let Err(status) = receiver.deliver(message).await {
            tracing::warn!(relay = name, key = %message.key, code = ?status.code(), error = %status.message(), "delivery failed; will retry");
            return Ok(Pass::Failed { delivered });
        }
        outbox.mark_delivered(message.id).await?;
        delivered += 1;
    }
    Ok(Pass::Delivered(delivered))
}

async fn run<O: Outbox, R: Receiver>(
    name: &'static str,
    outbox: O,
    receiver: R,
    timing: RelayTiming,
    wake: Arc<Notify>,
    mut stopped: watch::Receiver<bool>,
) {
    let mut backoff = timing.first_backoff;
    loop {
        if *stopped.borrow() {
            return;
        }
        let wait = match deliver_pending(name, &outbox, &receiver, timing.batch).await {
            Ok(Pass::Delivered(_)) => {
                backoff = timing.first_backoff;
                continue;
            }
            Ok(Pass::Empty) => {
                backoff = timing.first_backoff;
                timing.idle_poll
            }
            Ok(Pass::Failed { .. }) => next_backoff(&mut backoff, timing.max_backoff),
            Err(e) => {
                tracing::warn!(relay = name, error = %e, "reading the outbox failed; will retry");
                next_backoff(&mut backoff, timing.max_backoff)
            }
        };
        tokio::select! {
            _ = tokio::time::sleep(wait) => {}
            _ = wake.notified() => {}
            _ = stopped.changed() => return,
        }
    }
}

/// The wait before the next attempt, doubling up to `max`.
fn next_backoff(backoff: &mut Duration, max: Duration) -> Duration {
    let wait = *backoff;
    *backoff = (*backoff * 2).min(max);
    wait
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;
    use std::sync::atomic::{AtomicUsize, Ordering};

    #[derive(Default, Clone)]
    struct Table(Arc<Mutex<Vec<(PendingMessage, bool)>>>);

    impl Outbox for Table {
        async fn pending(&self, limit: i64) -> Result<Vec<PendingMessage>, sqlx::Error> {
            let rows = self.0.lock().unwrap();
            Ok(rows.iter().filter(|(_, done)| !done).take(limit as usize).map(|(m, _)| m.clone()).collect())
        }
        async fn mark_delivered(&self, id: i64) -> Result<(), sqlx::Error> {
            let mut rows = self.0.lock().unwrap();
            rows.iter_mut().filter(|(m, _)| m.id == id).for_each(|(_, done)| *done = true);
            Ok(())
        }
    }

    /// Fails the first `failures` calls, then records what it received.
    #[derive(Default, Clone)]
    struct Flaky {
        failures: Arc<AtomicUsize>,
        got: Arc<Mutex<Vec<String>>>,
    }

    impl Receiver for Flaky {
        async fn deliver(&self, message: &PendingMessage) -> Result<(), tonic::Status> {
            if self.failures.load(Ordering::SeqCst) > 0 {
                self.failures.fetch_sub(1, Ordering::SeqCst);
                return Err(tonic::Status::unavailable("down"));
            }
            self.got.lock().unwrap().push(message.key.clone());
            Ok(())
        }
    }

    fn message(id: i64) -> (PendingMessage, bool) {
        (PendingMessage { id, topic: "t".into(), key: format!("k{id}"), payload: vec![] }, false)
    }

    #[tokio::test]
    async fn a_failure_stops_the_pass_and_later_passes_deliver_in_order() {
        let table = Table::default();
        table.0.lock().unwrap().extend([message(1), message(2), message(3)]);
        let receiver = Flaky::default();
        // The second message fails once.
        let first = deliver_pending("t", &table, &receiver, 1).await.unwrap();
        assert_eq!(first, Pass::Delivered(1));
        receiver.failures.store(1, Ordering::SeqCst);
        assert_eq!(deliver_pending("t", &table, &receiver, 10).await.unwrap(), Pass::Failed { delivered: 0 });
        assert_eq!(deliver_pending("t", &table, &receiver, 10).await.unwrap(), Pass::Delivered(2));
        assert_eq!(deliver_pending("t", &table, &receiver, 10).await.unwrap(), Pass::Empty);
        assert_eq!(*receiver.got.lock().unwrap(), ["k1", "k2", "k3"]);
    }

    #[tokio::test]
    async fn the_running_relay_retries_until_the_receiver_answers() {
        let table = Table::default();
        table.0.lock().unwrap().extend([message(1), message(2)]);
        let receiver = Flaky { failures: Arc::new(AtomicUsize::new(3)), ..Default::default() };
        let timing = RelayTiming {
            idle_poll: Duration::from_millis(5),
            first_backoff: Duration::from_millis(1),
            max_backoff: Duration::from_millis(4),
            batch: 10,
        };
        let relay = Relay::spawn("t", table.clone(), receiver.clone(), timing);
        for _ in 0..500 {
            if receiver.got.lock().unwrap().len() == 2 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        relay.stop().await;
        assert_eq!(*receiver.got.lock().unwrap(), ["k1", "k2"]);
        assert!(table.0.lock().unwrap().iter().all(|(_, done)| *done));
    }

    #[test]
    fn backoff_doubles_to_its_ceiling() {
        let mut b = Duration::from_millis(100);
        let waits: Vec<_> = (0..5).map(|_| next_backoff(&mut b, Duration::from_millis(500)).as_millis()).collect();
        assert_eq!(waits, [100, 200, 400, 500, 500]);
    }
}
