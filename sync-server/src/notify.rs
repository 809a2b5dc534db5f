//! Wake-ups for long-polls. A publish wakes the merchant's ruleset
//! long-polls; a customer change wakes its customer long-polls. Waiters
//! subscribe *before* they read storage, so a change between the read and
//! the wait is never missed; after a wake-up they read storage again.
//!
//! Wake-ups stay inside one process. Several instances behind one
//! PostgreSQL would add `LISTEN/NOTIFY`; until then their long-polls end at
//! the timeout and the registers ask again.

use std::collections::HashMap;
use std::future::Future;
use std::sync::Mutex;

use shared::ids::MerchantId;
use tokio::sync::watch;
use tokio::time::Instant;

/// What changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Topic {
    /// A new ruleset version.
    Ruleset,
    /// A customer's profile, balance or spend.
    Customers,
}

/// Per-merchant wake-up channels, and the shutdown signal that ends every
/// long-poll at once.
#[derive(Debug)]
pub struct Notifier {
    channels: Mutex<HashMap<(Topic, MerchantId), watch::Sender<()>>>,
    closing: watch::Sender<bool>,
}

impl Default for Notifier {
    fn default() -> Self {
        Notifier {
            channels: Mutex::default(),
            closing: watch::Sender::new(false),
        }
    }
}

impl Notifier {
    /// Wakes everyone waiting on `topic` for `merchant`.
    pub fn notify(&self, topic: Topic, merchant: MerchantId) {
        if let Some(tx) = self.lock().get(&(topic, merchant)) {
            tx.send_replace(());
        }
    }

    /// Starts listening for `topic` of `merchant`.
    pub fn subscribe(&self, topic: Topic, merchant: MerchantId) -> Subscription {
        let changes = self
            .lock()
            .entry((topic, merchant))
            .or_insert_with(|| watch::Sender::new(()))
            .subscribe();
        Subscription {
            changes,
            closing: self.closing.subscribe(),
        }
    }

    /// Ends every long-poll now and any started later: the server is stopping.
    pub fn close(&self) {
        self.closing.send_replace(true);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<(Topic, MerchantId), watch::Sender<()>>> {
        self.channels
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// One waiter's view of a topic.
#[derive(Debug)]
pub struct Subscription {
    changes: watch::Receiver<()>,
    closing: watch::Receiver<bool>,
}

impl Subscription {
    /// Waits for a change until `deadline`. False when the deadline passed
    /// or the server is stopping.
    async fn changed_before(&mut self, deadline: Instant) -> bool {
        if *self.closing.borrow() {
            return false;
        }
        tokio::select! {
            changed = self.changes.changed() => changed.is_ok(),
            () = tokio::time::sleep_until(deadline) => false,
            _ = self.closing.wait_for(|closing| *closing) => false,
        }
    }

    /// Asks `check` until it finds something, waiting for a change between
    /// asks, until `deadline`. `None` when nothing turned up in time.
    pub async fn poll_until<T, E, F, Fut>(
        mut self,
        deadline: Instant,
        mut check: F,
    ) -> Result<Option<T>, E>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<Option<T>, E>>,
    {
        loop {
            if let Some(found) = check().await? {
                return Ok(Some(found));
            }
            if !self.changed_before(deadline).await {
                return Ok(None);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicU32, Ordering};
    use std::time::Duration;

    fn merchant() -> MerchantId {
        MerchantId::new(1).unwrap()
    }

    #[tokio::test(start_paused = true)]
    async fn a_wait_ends_at_the_deadline_when_nothing_changes() {
        let notifier = Notifier::default();
        let sub = notifier.subscribe(Topic::Ruleset, merchant());
        let deadline = Instant::now() + Duration::from_secs(5);
        let found: Result<Option<()>, ()> = sub.poll_until(deadline, || async { Ok(None) }).await;
        assert_eq!(found, Ok(None));
        assert!(Instant::now() >= deadline);
    }

    #[tokio::test(start_paused = true)]
    async fn a_notify_wakes_the_waiter_which_checks_again() {
        let notifier = Arc::new(Notifier::default());
        let version = Arc::new(AtomicU32::new(0));
        let sub = notifier.subscribe(Topic::Ruleset, merchant());
        let waiter = {
            let version = version.clone();
            tokio::spawn(
                sub.poll_until(Instant::now() + Duration::from_secs(30), move || {
                    let v = version.load(Ordering::SeqCst);
                    async move { Ok::<_, ()>((v > 0).then_some(v)) }
                }),
            )
        };
        tokio::time::sleep(Duration::from_secs(1)).await;
        version.store(7, Ordering::SeqCst);
        notifier.notify(Topic::Customers, merchant());
        notifier.notify(Topic::Ruleset, merchant());
        assert_eq!(waiter.await.unwrap(), Ok(Some(7)));
    }

    #[tokio::test(start_paused = true)]
    async fn closing_ends_every_wait() {
        let notifier = Notifier::default();
        let sub = notifier.subscribe(Topic::Customers, merchant());
        notifier.close();
        let started = Instant::now();
        let found: Result<Option<()>, ()> = sub
            .poll_until(started + Duration::from_secs(30), || async { Ok(None) })
            .await;
        assert_eq!(found, Ok(None));
        assert_eq!(Instant::now(), started);
    }
}
