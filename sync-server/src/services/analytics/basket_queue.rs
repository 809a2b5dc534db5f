//! The basket rows of new sales, added off the ingest transaction.
//!
//! A sale's basket rows (see [`super::baskets`]) are its checks, products,
//! categories and their pairs, at its store and chain-wide, again under
//! each promotion that applied: some thirty upserts into the largest
//! tables, more than the rest of the sale's storage. So ingest only queues
//! the sale (`rollup_basket_queue`, in the records' own transaction), and
//! [`run`] adds the queued sales in batches merged by row (a burst's
//! checks and products rows are written once, not once a sale), removing
//! them in the same transaction: each sale is added exactly once, and a
//! crash or restart loses none. A pass waits [`GATHER`] after ingest wakes
//! it, so that a burst merges into one batch; with several instances on
//! one PostgreSQL each takes the rows the others have not locked.
//!
//! **Read your writes.** The baskets view adds up to one batch still
//! queued before it reads ([`BasketQueue::catch_up`]), so a sale stored
//! before the page was asked for is on it.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

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
/// How often the queue is looked at without a wake (sales queued by
/// another instance, or left by a failed pass).
const CHECK_EVERY: Duration = Duration::from_secs(5);

/// The queue of sales whose basket rows are still to add.
#[derive(Clone)]
pub struct BasketQueue {
    repo: Arc<dyn Repository>,
    wake: Arc<Notify>,
}

impl BasketQueue {
    /// The queue stored in `repo`.
    pub fn new(repo: Arc<dyn Repository>) -> Self {
        BasketQueue {
            repo,
            wake: Arc::new(Notify::new()),
        }
    }

    /// Tells the pass that sales were queued (after their transaction).
    pub fn queued(&self) {
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
    /// another instance is adding: how many it added.
    pub async fn drain(&self) -> Result<u64, DbError> {
        let mut added = 0_u64;
        loop {
            let batch = self.repo.write(|tx| add_batch(tx, BATCH, true)).await?;
            if batch == 0 {
                return Ok(added);
            }
            added += batch as u64;
        }
    }

    /// How many sales are queued.
    pub async fn queued_sales(&self) -> Result<i64, DbError> {
        self.repo.read(|tx| tx.basket_queue_len()).await
    }
}

/// Adds the basket rows of up to `limit` queued sales, merged, and takes
/// them off the queue: how many.
fn add_batch(tx: &mut dyn Tx, limit: i64, skip_locked: bool) -> Result<usize, DbError> {
    let queued = tx.queued_baskets(limit, skip_locked)?;
    if queued.is_empty() {
        return Ok(0);
    }
    let mut zones = HashMap::new();
    let mut rollups = Rollups::baskets_only();
    for stored in &queued {
        add_stored(tx, &mut zones, &mut rollups, stored)?;
    }
    rollups.flush(tx)?;
    let ids: Vec<i64> = queued.iter().map(|q| q.id).collect();
    tx.dequeue_baskets(&ids)?;
    tracing::debug!(sales = queued.len(), "basket rows added");
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
    loop {
        if *stop.borrow() {
            break;
        }
        match queue.drain().await {
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
