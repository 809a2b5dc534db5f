//! The line rows of new records, added off the ingest transaction.
//!
//! A sale's line rows are its products' day and month rows, at its store
//! and chain-wide, and its basket rows (see [`super::baskets`]): its
//! checks, products, categories and their pairs, again under each
//! promotion that applied. For a sale of a few lines that is some forty
//! upserts into the largest tables, more than the rest of the sale's
//! storage. So ingest adds a record's own rows (its store's hour and day,
//! its customer's visits, its promotions) and only queues the record
//! (`rollup_basket_queue`, in the records' own transaction; returns too,
//! for the product rows they take back), and [`run`] adds the queued
//! records in batches merged by row (a burst's product and pair rows are
//! written once, not once a sale), removing them in the same transaction:
//! each record is added exactly once, and a crash or restart loses none. A pass waits [`GATHER`] after ingest wakes
//! it, so that a burst merges into one batch; with several instances on
//! one PostgreSQL each takes the rows the others have not locked.
//!
//! **Ingest first.** While uploads keep coming, the pass takes at most
//! [`BUSY_SHARE_PERCENT`] of the writer: after a batch that took `t`
//! (its wait for the writer included, so the share errs towards ingest)
//! it waits `t × (100 − share) / share` before the next. A burst of
//! uploads (a store's backlog after an outage) is stored at the pace it
//! would have without the basket rows, which catch up once the burst is
//! over; at a chain's usual pace there is no wait at all. Batches are
//! then of [`BUSY_BATCH`] sales, so an upload waits for the writer tens
//! of milliseconds at most.
//!
//! **Read your writes.** The products and baskets views add up to one
//! batch still queued before they read ([`BasketQueue::catch_up`]), so a
//! sale stored before the page was asked for is on it; after a burst
//! larger than a batch they show what the pass has reached.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use shared::ids::StoreId;
use shared::record::PurchaseRecord;
use shared::timezone::TimeZone;
use tokio::sync::{Notify, watch};

use super::Rollups;
use crate::db::analytics::BackfillRecord;
use crate::db::{DbError, Repository, Tx};

/// The most queued sales one transaction adds: a few hundred milliseconds
/// of the writer at most, so uploads waiting for it are not held long.
pub const BATCH: i64 = 1_000;
/// How long a pass waits after a wake for more sales to merge.
const GATHER: Duration = Duration::from_millis(500);
/// The most queued sales one transaction adds while uploads keep coming:
/// tens of milliseconds of the writer.
pub const BUSY_BATCH: i64 = 100;
/// The most of the writer's time the pass takes while uploads keep
/// coming, in percent.
pub const BUSY_SHARE_PERCENT: u32 = 10;
/// The longest wait between two batches while uploads keep coming.
const MAX_PAUSE: Duration = Duration::from_secs(5);
/// How often the queue is looked at without a wake (sales queued by
/// another instance, or left by a failed pass).
const CHECK_EVERY: Duration = Duration::from_secs(5);

/// The queue of sales whose basket rows are still to add.
#[derive(Clone)]
pub struct BasketQueue {
    repo: Arc<dyn Repository>,
    wake: Arc<Notify>,
    /// Uploads that queued sales, counted: the pass sees whether any came
    /// while it worked.
    uploads: Arc<AtomicU64>,
}

impl BasketQueue {
    /// The queue stored in `repo`.
    pub fn new(repo: Arc<dyn Repository>) -> Self {
        BasketQueue {
            repo,
            wake: Arc::new(Notify::new()),
            uploads: Arc::new(AtomicU64::new(0)),
        }
    }

    /// Tells the pass that sales were queued (after their transaction).
    pub fn queued(&self) {
        self.uploads.fetch_add(1, Ordering::Relaxed);
        self.wake.notify_one();
    }

    /// Adds up to one batch of queued sales, waiting for a pass that holds
    /// some of them to finish first: how many it added.
    pub async fn catch_up(&self) -> Result<usize, DbError> {
        // A page does not take the one writer (SQLite's) from uploads when
        // there is nothing to add, as nearly always.
        if self.queued_sales().await? == 0 {
            return Ok(0);
        }
        self.repo.write(|tx| add_batch(tx, BATCH, false)).await
    }

    /// Adds every queued sale, a batch a transaction, skipping the ones
    /// another instance is adding, yielding the writer to uploads that
    /// keep coming (see the module's docs) until `stop`: how many it
    /// added. `seen` is the uploads counted when it last looked.
    async fn drain(
        &self,
        seen: &mut u64,
        stop: &mut watch::Receiver<bool>,
    ) -> Result<u64, DbError> {
        let mut added = 0_u64;
        loop {
            let uploads = self.uploads.load(Ordering::Relaxed);
            let busy = uploads != *seen;
            *seen = uploads;
            let limit = if busy { BUSY_BATCH } else { BATCH };
            let started = Instant::now();
            let batch = self
                .repo
                .write(move |tx| add_batch(tx, limit, true))
                .await?;
            if batch == 0 {
                return Ok(added);
            }
            added += batch as u64;
            if busy {
                tokio::select! {
                    _ = stop.changed() => return Ok(added),
                    () = tokio::time::sleep(pause_after(started.elapsed())) => {}
                }
            } else if *stop.borrow() {
                return Ok(added);
            }
        }
    }

    /// How many sales are queued.
    pub async fn queued_sales(&self) -> Result<i64, DbError> {
        self.repo.read(|tx| tx.basket_queue_len()).await
    }
}

/// The wait after a batch that took `held` (its wait for the writer
/// included) while uploads keep coming: the pass takes at most
/// [`BUSY_SHARE_PERCENT`] of the writer.
fn pause_after(held: Duration) -> Duration {
    (held * (100 - BUSY_SHARE_PERCENT) / BUSY_SHARE_PERCENT).min(MAX_PAUSE)
}

/// Adds the basket rows of up to `limit` queued sales, merged, and takes
/// them off the queue: how many.
fn add_batch(tx: &mut dyn Tx, limit: i64, skip_locked: bool) -> Result<usize, DbError> {
    let queued = tx.queued_baskets(limit, skip_locked)?;
    if queued.is_empty() {
        return Ok(0);
    }
    let mut zones = HashMap::new();
    let (mut lines, mut baskets) = (Rollups::lines_only(), Rollups::baskets_only());
    for queued in &queued {
        let into = if queued.products {
            &mut lines
        } else {
            &mut baskets
        };
        add_stored(tx, &mut zones, into, &queued.stored)?;
    }
    lines.flush(tx)?;
    baskets.flush(tx)?;
    let ids: Vec<i64> = queued.iter().map(|q| q.stored.id).collect();
    tx.dequeue_baskets(&ids)?;
    tracing::debug!(records = queued.len(), "line rows added");
    Ok(queued.len())
}

/// Adds a stored record (its signed body parsed again) to `rollups`, in
/// its store's time zone: the backfill's and the queue's step.
pub(super) fn add_stored(
    tx: &mut dyn Tx,
    zones: &mut HashMap<StoreId, TimeZone>,
    rollups: &mut Rollups,
    stored: &BackfillRecord,
) -> Result<(), DbError> {
    let record: PurchaseRecord = serde_json::from_slice(&stored.body)
        .map_err(|e| DbError::other(format!("stored record {}: {e}", stored.id)))?;
    let zone = store_zone(tx, zones, record.store_id)?;
    let uses = crate::services::ingest::promotion_uses(&record)?;
    rollups.add(&record, stored.customer, zone, &uses);
    Ok(())
}

/// The time zone of `store`, read once per pass.
fn store_zone(
    tx: &mut dyn Tx,
    zones: &mut HashMap<StoreId, TimeZone>,
    store: StoreId,
) -> Result<TimeZone, DbError> {
    if let Some(zone) = zones.get(&store) {
        return Ok(*zone);
    }
    let zone = tx
        .store(store)?
        .ok_or_else(|| DbError::NotFound(format!("store {store}")))?
        .timezone;
    zones.insert(store, zone);
    Ok(zone)
}

/// Adds queued sales as they come until `stop` turns true.
pub async fn run(queue: BasketQueue, mut stop: watch::Receiver<bool>) {
    tracing::info!("basket rows task started");
    let mut seen = 0;
    loop {
        if *stop.borrow() {
            break;
        }
        match queue.drain(&mut seen, &mut stop).await {
            Ok(0) => {}
            Ok(added) => tracing::debug!(sales = added, "queued sales added to the baskets"),
            Err(e) => {
                tracing::error!(error = %e, "adding queued sales to the baskets failed; retrying")
            }
        }
        tokio::select! {
            _ = stop.changed() => {}
            () = queue.wake.notified() => {
                tokio::select! {
                    _ = stop.changed() => {}
                    () = tokio::time::sleep(GATHER) => {}
                }
            }
            () = tokio::time::sleep(CHECK_EVERY) => {}
        }
    }
    // What is left is added by the next start's pass (or a view).
    tracing::info!("basket rows task stopped");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn while_uploads_keep_coming_the_pass_takes_its_share_of_the_writer() {
        let held = Duration::from_millis(30);
        let pause = pause_after(held);
        assert_eq!(pause, Duration::from_millis(270));
        let share = held.as_secs_f64() / (held + pause).as_secs_f64();
        assert!((share - f64::from(BUSY_SHARE_PERCENT) / 100.0).abs() < 1e-9);
        assert_eq!(pause_after(Duration::from_secs(60)), MAX_PAUSE);
    }
}
