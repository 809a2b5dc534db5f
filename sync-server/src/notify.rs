//! Wake-ups for long-polls. A customer change wakes the merchant's
//! customer long-polls, which read storage again. A publish hands the new
//! release itself, serialised once, to the merchant's ruleset long-polls
//! ([`ReleaseNews`] in a `watch` channel per merchant): a thousand waiting
//! registers cost one serialisation and a thousand writes, not a thousand
//! storage reads. Waiters subscribe *before* they read storage, so a change
//! between the read and the wait is never missed.
//!
//! Wake-ups stay inside one process. Several instances behind one
//! PostgreSQL would add `LISTEN/NOTIFY`; until then their long-polls end at
//! the timeout and the registers ask again (a long-poll always reads
//! storage first, so it never answers from another instance's stale news).

use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use shared::ids::{MerchantId, RulesetVersion};
use tokio::sync::watch;
use tokio::time::Instant;

/// What changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Topic {
    /// A customer's profile, balance or spend.
    Customers,
}

/// A newly published release as every ruleset long-poll answers it.
#[derive(Debug)]
pub struct ReleaseNews {
    /// Its version.
    pub version: RulesetVersion,
    /// The signed release as JSON, serialised once for every waiter.
    pub json: Bytes,
}

/// The newest release announced for a merchant, if any.
type ReleaseFeed = watch::Sender<Option<Arc<ReleaseNews>>>;

/// Per-merchant wake-up channels, and the shutdown signal that ends every
/// long-poll at once.
#[derive(Debug)]
pub struct Notifier {
    channels: Mutex<HashMap<(Topic, MerchantId), watch::Sender<()>>>,
    releases: Mutex<HashMap<MerchantId, ReleaseFeed>>,
    closing: watch::Sender<bool>,
}

impl Default for Notifier {
    fn default() -> Self {
        Notifier {
            channels: Mutex::default(),
            releases: Mutex::default(),
            closing: watch::Sender::new(false),
        }
    }
}

impl Notifier {
    /// Hands `news` to the merchant's ruleset long-polls, unless a newer
    /// release was announced already (concurrent publishes may announce
    /// out of order; the feed only moves forward).
    pub fn announce_release(&self, merchant: MerchantId, news: ReleaseNews) {
        let news = Arc::new(news);
        let feeds = self
            .releases
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let Some(feed) = feeds.get(&merchant) else {
            // Nobody waits; the first waiter reads storage anyway.
            return;
        };
        feed.send_if_modified(|newest| {
            let newer = newest.as_ref().is_none_or(|n| n.version < news.version);
            if newer {
                *newest = Some(news);
            }
            newer
        });
    }

    /// Starts listening for releases of `merchant`.
    pub fn watch_releases(&self, merchant: MerchantId) -> ReleaseWatch {
        let releases = self
            .releases
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .entry(merchant)
            .or_insert_with(|| watch::Sender::new(None))
            .subscribe();
        ReleaseWatch {
            releases,
            closing: self.closing.subscribe(),
        }
    }

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

/// One ruleset long-poll's view of its merchant's releases.
#[derive(Debug)]
pub struct ReleaseWatch {
    releases: watch::Receiver<Option<Arc<ReleaseNews>>>,
    closing: watch::Receiver<bool>,
}

impl ReleaseWatch {
    /// The first release announced after the subscription that is newer
    /// than `known`, or `None` at `deadline` or when the server stops.
    pub async fn newer_than(mut self, known: i64, deadline: Instant) -> Option<Arc<ReleaseNews>> {
        loop {
            if *self.closing.borrow() {
                return None;
            }
            tokio::select! {
                changed = self.releases.changed() => changed.ok()?,
                () = tokio::time::sleep_until(deadline) => return None,
                _ = self.closing.wait_for(|closing| *closing) => return None,
            }
            let newest = self.releases.borrow_and_update().clone();
            if let Some(news) = newest.filter(|n| n.version.get() > known) {
                return Some(news);
            }
        }
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
        let sub = notifier.subscribe(Topic::Customers, merchant());
        let deadline = Instant::now() + Duration::from_secs(5);
        let found: Result<Option<()>, ()> = sub.poll_until(deadline, || async { Ok(None) }).await;
        assert_eq!(found, Ok(None));
        assert!(Instant::now() >= deadline);
    }

    #[tokio::test(start_paused = true)]
    async fn a_notify_wakes_the_waiter_which_checks_again() {
        let notifier = Arc::new(Notifier::default());
        let version = Arc::new(AtomicU32::new(0));
        let sub = notifier.subscribe(Topic::Customers, merchant());
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
        notifier.notify(Topic::Customers, MerchantId::new(2).unwrap());
        notifier.notify(Topic::Customers, merchant());
        assert_eq!(waiter.await.unwrap(), Ok(Some(7)));
    }

    fn news(version: i64) -> ReleaseNews {
        ReleaseNews {
            version: RulesetVersion::new(version).unwrap(),
            json: Bytes::from(format!("{{\"version\":{version}}}")),
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_release_reaches_every_waiter_and_the_feed_never_goes_back() {
        let notifier = Arc::new(Notifier::default());
        let deadline = Instant::now() + Duration::from_secs(30);
        let waiters: Vec<_> = (0..3)
            .map(|_| {
                let watch = notifier.watch_releases(merchant());
                tokio::spawn(watch.newer_than(4, deadline))
            })
            .collect();
        tokio::time::sleep(Duration::from_secs(1)).await;
        // Not newer than what the waiters have: they keep waiting.
        notifier.announce_release(merchant(), news(4));
        notifier.announce_release(merchant(), news(6));
        // A slower publish of 5 announces after 6: ignored.
        notifier.announce_release(merchant(), news(5));
        for waiter in waiters {
            let got = waiter.await.unwrap().unwrap();
            assert_eq!(got.version.get(), 6);
        }
        let late = notifier.watch_releases(merchant());
        notifier.announce_release(merchant(), news(5));
        assert!(
            late.newer_than(4, Instant::now() + Duration::from_secs(5))
                .await
                .is_none()
        );
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
        let releases = notifier.watch_releases(merchant());
        assert!(
            releases
                .newer_than(0, started + Duration::from_secs(30))
                .await
                .is_none()
        );
        assert_eq!(Instant::now(), started);
    }
}
