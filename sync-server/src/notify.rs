//! Wake-ups for long-polls. A customer change moves the merchant's
//! customer generation forward and wakes its customer long-polls, which
//! ask the customers service again: the service builds one page for every
//! waiter at the same cursor and generation (see
//! `services::customers`), so a sale wakes N registers for one page
//! computation, not N. A publish hands the new release itself, serialised
//! once, to the merchant's ruleset long-polls ([`ReleaseNews`] in a
//! `watch` channel per merchant): a thousand waiting registers cost one
//! serialisation and a thousand writes, not a thousand storage reads.
//! Waiters subscribe *before* they read storage, so a change between the
//! read and the wait is never missed.
//!
//! Wake-ups here stay inside one process; between instances on one
//! PostgreSQL, `instances` hands what `LISTEN` hears to this notifier.

use std::collections::HashMap;
use std::future::Future;
use std::sync::atomic::{AtomicUsize, Ordering};
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

/// A topic's generation for a merchant: how many changes this process
/// has heard of. It only moves forward.
pub type Generation = u64;

/// Per-merchant wake-up channels (each holding its generation), and the
/// shutdown signal that ends every long-poll at once.
#[derive(Debug)]
pub struct Notifier {
    channels: Mutex<HashMap<(Topic, MerchantId), watch::Sender<Generation>>>,
    releases: Mutex<HashMap<MerchantId, ReleaseFeed>>,
    closing: watch::Sender<bool>,
    /// Long-polls waiting for a change right now, every topic.
    parked: Arc<AtomicUsize>,
}

impl Default for Notifier {
    fn default() -> Self {
        Notifier {
            channels: Mutex::default(),
            releases: Mutex::default(),
            closing: watch::Sender::new(false),
            parked: Arc::default(),
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

    /// Moves `topic`'s generation for `merchant` forward and wakes everyone
    /// waiting on it.
    pub fn notify(&self, topic: Topic, merchant: MerchantId) {
        self.lock()
            .entry((topic, merchant))
            .or_insert_with(|| watch::Sender::new(0))
            .send_modify(|generation| *generation += 1);
    }

    /// `topic`'s generation for `merchant` now.
    pub fn generation(&self, topic: Topic, merchant: MerchantId) -> Generation {
        self.lock()
            .get(&(topic, merchant))
            .map_or(0, |tx| *tx.borrow())
    }

    /// Starts listening for `topic` of `merchant`.
    pub fn subscribe(&self, topic: Topic, merchant: MerchantId) -> Subscription {
        let changes = self
            .lock()
            .entry((topic, merchant))
            .or_insert_with(|| watch::Sender::new(0))
            .subscribe();
        Subscription {
            changes,
            closing: self.closing.subscribe(),
            parked: self.parked.clone(),
            first: true,
        }
    }

    /// Long-polls of any topic waiting for a change right now (not those
    /// reading storage).
    pub fn parked(&self) -> usize {
        self.parked.load(Ordering::SeqCst)
    }

    /// Ends every long-poll now and any started later: the server is stopping.
    pub fn close(&self) {
        self.closing.send_replace(true);
    }

    fn lock(
        &self,
    ) -> std::sync::MutexGuard<'_, HashMap<(Topic, MerchantId), watch::Sender<Generation>>> {
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

/// What a check of [`Subscription::poll_until`] is asked at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Wake {
    /// The topic's generation, read after the subscription (first check)
    /// or after the wake-up: every change announced at or before it was
    /// committed before the check began.
    pub generation: Generation,
    /// The request's first check, right after it arrived; later checks
    /// follow a wake-up.
    pub first: bool,
}

/// One waiter's view of a topic.
#[derive(Debug)]
pub struct Subscription {
    changes: watch::Receiver<Generation>,
    closing: watch::Receiver<bool>,
    parked: Arc<AtomicUsize>,
    first: bool,
}

/// Counts a waiter as parked while it lives.
struct Parked<'a>(&'a AtomicUsize);

impl<'a> Parked<'a> {
    fn new(count: &'a AtomicUsize) -> Self {
        count.fetch_add(1, Ordering::SeqCst);
        Parked(count)
    }
}

impl Drop for Parked<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

impl Subscription {
    /// Waits for a change until `deadline`. False when the deadline passed
    /// or the server is stopping.
    async fn changed_before(&mut self, deadline: Instant) -> bool {
        if *self.closing.borrow() {
            return false;
        }
        let _parked = Parked::new(&self.parked);
        tokio::select! {
            changed = self.changes.changed() => changed.is_ok(),
            () = tokio::time::sleep_until(deadline) => false,
            _ = self.closing.wait_for(|closing| *closing) => false,
        }
    }

    /// Waits until `at`, or until the server is stopping; a change
    /// meanwhile is still seen by the next check.
    pub async fn pause_until(&mut self, at: Instant) {
        if *self.closing.borrow() {
            return;
        }
        tokio::select! {
            () = tokio::time::sleep_until(at) => {}
            _ = self.closing.wait_for(|closing| *closing) => {}
        }
    }

    /// The generation now, marked seen.
    fn wake(&mut self) -> Wake {
        let wake = Wake {
            generation: *self.changes.borrow_and_update(),
            first: self.first,
        };
        self.first = false;
        wake
    }

    /// Asks `check` until it finds something, waiting for a change between
    /// asks, until `deadline`. `None` when nothing turned up in time.
    pub async fn poll_until<T, E, F, Fut>(
        mut self,
        deadline: Instant,
        mut check: F,
    ) -> Result<Option<T>, E>
    where
        F: FnMut(Wake) -> Fut,
        Fut: Future<Output = Result<Option<T>, E>>,
    {
        loop {
            if let Some(found) = check(self.wake()).await? {
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
        let found: Result<Option<()>, ()> = sub.poll_until(deadline, |_| async { Ok(None) }).await;
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
                sub.poll_until(Instant::now() + Duration::from_secs(30), move |_| {
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
            .poll_until(started + Duration::from_secs(30), |_| async { Ok(None) })
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
