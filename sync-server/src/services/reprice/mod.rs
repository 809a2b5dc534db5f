//! The re-pricer: the same engine the tills run prices every stored sale
//! again, and every return is computed again from its original, so a till
//! that priced differently (a kopeck of drift, a stale or tampered build)
//! is flagged instead of trusted.
//!
//! It runs beside the server, off the ingest path: a cursor over the
//! stored records in insert order (`reprice_cursor`) is read a batch at a
//! time, and each batch's outcomes, mismatches, alerts and the new cursor
//! are written in one transaction, so it is idempotent and carries on
//! after a restart where it stopped.
//!
//! - A **sale** is priced with the ruleset at its `ruleset_version` (one
//!   [`Engine`] per version, cached), its lines, its `wall_time`, the
//!   store's time zone and brand as the server knows them, and the inputs
//!   the till recorded (`pricing_inputs`: standing, coupons, points asked
//!   for, usage of limited promotions).
//! - A **return** is computed by [`shared::returns::return_record`] from
//!   its original and the returns of it seen before.
//! - Subtotal, discount, total, points earned and redeemed and each line's
//!   discount, total and points are compared; any difference is stored
//!   field by field and raises a `price_mismatch` alert, and the points the
//!   record earned are held until HQ resolves it (`services::holds`).
//! - It is a background task: it yields between records and rests between
//!   batches, and writes one short transaction per batch.
//! - A record that cannot be priced again (no recorded inputs, an unknown
//!   ruleset version, a refund without its line mapping, an original not
//!   stored) is counted as skipped with the reason, never silently.

mod compare;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use shared::ids::{MerchantId, RulesetVersion};
use shared::pricing::Engine;
use shared::record::{PurchaseRecord, RecordKind};
use shared::returns::{ReturnHeader, ReturnLine, return_record};
use tokio::sync::watch;

use crate::alerts::NewAlert;
use crate::clock::Clock;
use crate::db::{DbError, RecordKey, Repository, RepriceCandidate, RepriceOutcome, RepriceResult};
use crate::notify::{Notifier, Topic};
use crate::services::holds::hold_in;
use crate::services::oversight::raise_in;
use compare::{Figures, compare};

/// Records read per batch.
const BATCH: usize = 200;
/// How long the re-pricer rests when it has caught up.
const IDLE: Duration = Duration::from_millis(500);
/// How long it rests between full batches, so a large backlog never
/// starves ingest of the CPU or the writer.
const BETWEEN_BATCHES: Duration = Duration::from_millis(20);
/// After a storage failure.
const RETRY: Duration = Duration::from_secs(5);
/// Engines kept; the cache is emptied beyond (versions come and go slowly).
const MAX_ENGINES: usize = 64;

/// Runs the re-pricer until `stop` turns true; `busy` says whether
/// uploads are being handled now. While they are, it rests between full
/// batches as the audit does ([`super::audit::BUSY_REST_FACTOR`] times as
/// long as the batch took): a till draining weeks of sales gets the CPU,
/// and the re-pricer catches up once the drain is done.
pub async fn run(
    db: Arc<dyn Repository>,
    clock: Arc<dyn Clock>,
    notifier: Arc<Notifier>,
    busy: impl Fn() -> bool + Send + 'static,
    mut stop: watch::Receiver<bool>,
) {
    let mut repricer = Repricer::new(db, clock).with_notifier(notifier);
    tracing::info!("re-pricer started");
    loop {
        if *stop.borrow() {
            break;
        }
        let started = tokio::time::Instant::now();
        let rest = match repricer.step().await {
            Ok(n) if n >= BATCH => {
                super::audit::rest_after(started.elapsed(), busy()).max(BETWEEN_BATCHES)
            }
            Ok(_) => IDLE,
            Err(err) => {
                tracing::error!(error = %err, "re-pricing failed; retrying");
                RETRY
            }
        };
        tokio::select! {
            _ = stop.changed() => {}
            () = tokio::time::sleep(rest) => {}
        }
    }
    tracing::info!("re-pricer stopped");
}

/// The re-pricer's state: its storage, clock and engines by version.
pub struct Repricer {
    db: Arc<dyn Repository>,
    clock: Arc<dyn Clock>,
    engines: HashMap<(MerchantId, RulesetVersion), Option<Arc<Engine>>>,
    /// Wakes the registers' customer feed when points are held.
    notifier: Option<Arc<Notifier>>,
}

impl Repricer {
    /// A re-pricer over `db`.
    #[must_use]
    pub fn new(db: Arc<dyn Repository>, clock: Arc<dyn Clock>) -> Self {
        Repricer {
            db,
            clock,
            engines: HashMap::new(),
            notifier: None,
        }
    }

    /// The same re-pricer, waking the registers' customer feed through
    /// `notifier` when it holds points.
    #[must_use]
    pub fn with_notifier(self, notifier: Arc<Notifier>) -> Self {
        Repricer {
            notifier: Some(notifier),
            ..self
        }
    }

    /// Prices one batch after the cursor again and stores the outcomes;
    /// returns how many records it looked at.
    #[tracing::instrument(skip_all)]
    pub async fn step(&mut self) -> Result<usize, DbError> {
        let candidates = self.db.read(|tx| tx.reprice_candidates(BATCH)).await?;
        let Some(last) = candidates.last().map(|c| c.row) else {
            return Ok(0);
        };
        // Returns of this batch, by original, for later returns in it.
        let mut batch_returns: HashMap<RecordKey, Vec<PurchaseRecord>> = HashMap::new();
        let mut results = Vec::with_capacity(candidates.len());
        for c in &candidates {
            results.push(self.check(c, &mut batch_returns).await?);
            // Pricing is CPU work on a shared runtime: let requests in.
            tokio::task::yield_now().await;
        }
        let mismatched = results
            .iter()
            .filter(|r| matches!(r.outcome, RepriceOutcome::Mismatched(_)))
            .count();
        if mismatched > 0 {
            tracing::warn!(mismatched, "records priced differently by the server");
        }
        let n = candidates.len();
        let now = self.clock.now();
        let held = self
            .db
            .write(move |tx| {
                let mut held = Vec::new();
                for r in &results {
                    tx.save_reprice_result(r, now)?;
                    // Each mismatch is an alert for HQ, and the points it
                    // earned wait for HQ, in the same transaction as its
                    // outcome.
                    if let RepriceOutcome::Mismatched(fields) = &r.outcome {
                        let alert =
                            NewAlert::price_mismatch(r.key.register_id, r.key.seq, fields, now);
                        raise_in(tx, &alert)?;
                        if hold_in(tx, r.key, r.merchant_id, now)? {
                            held.push(r.merchant_id);
                        }
                    }
                }
                tx.advance_reprice_cursor(last)?;
                Ok(held)
            })
            .await?;
        if let Some(notifier) = &self.notifier {
            for merchant in held {
                notifier.notify(Topic::Customers, merchant);
            }
        }
        tracing::debug!(records = n, cursor = last, "re-priced a batch");
        Ok(n)
    }

    async fn check(
        &mut self,
        c: &RepriceCandidate,
        batch_returns: &mut HashMap<RecordKey, Vec<PurchaseRecord>>,
    ) -> Result<RepriceResult, DbError> {
        let key = c.key;
        let record: PurchaseRecord = match serde_json::from_slice(&c.body) {
            Ok(record) => record,
            Err(e) => {
                // Verified and parsed at ingest; only a format newer than
                // this build lands here.
                return Ok(RepriceResult {
                    key,
                    merchant_id: c.merchant_id,
                    outcome: RepriceOutcome::Skipped(format!(
                        "the stored body does not parse: {e}"
                    )),
                    return_of: None,
                });
            }
        };
        let mut return_of = None;
        let outcome = match &record.kind {
            RecordKind::Sale => self.check_sale(c, &record).await?,
            RecordKind::Return {
                original,
                original_lines,
                ..
            } => {
                let of = RecordKey {
                    register_id: original.register_id,
                    seq: original.seq,
                };
                let outcome = self
                    .check_return(&record, of, original.id, original_lines, batch_returns)
                    .await?;
                if !original_lines.is_empty() {
                    return_of = Some(of);
                    batch_returns.entry(of).or_default().push(record.clone());
                }
                outcome
            }
        };
        if let RepriceOutcome::Mismatched(fields) = &outcome {
            tracing::warn!(register_id = %key.register_id, seq = %key.seq,
                fields = fields.len(), "price mismatch");
        }
        Ok(RepriceResult {
            key,
            merchant_id: c.merchant_id,
            outcome,
            return_of,
        })
    }

    async fn check_sale(
        &mut self,
        c: &RepriceCandidate,
        record: &PurchaseRecord,
    ) -> Result<RepriceOutcome, DbError> {
        let Some(inputs) = &record.pricing_inputs else {
            return Ok(skipped("no pricing inputs recorded (an older agent)"));
        };
        let Some(version) = record.ruleset_version else {
            return Ok(skipped("priced without a ruleset"));
        };
        let Some(engine) = self.engine(c.merchant_id, version).await? else {
            return Ok(RepriceOutcome::Skipped(format!(
                "unknown ruleset version {version}"
            )));
        };
        let ctx = inputs.context(
            record.store_id,
            record.wall_time,
            c.store_timezone.name(),
            c.store_brand,
            record.customer.map(|c| c.id),
        );
        let priced = match engine.price(&record.basket(), inputs.standing.as_ref(), &ctx) {
            Ok(priced) => priced,
            Err(e) => {
                return Ok(RepriceOutcome::Skipped(format!(
                    "the server cannot price its lines: {e}"
                )));
            }
        };
        Ok(outcome(compare(
            &Figures::from(record),
            &Figures::from(&priced),
        )))
    }

    async fn check_return(
        &self,
        record: &PurchaseRecord,
        of: RecordKey,
        original_id: uuid::Uuid,
        original_lines: &[u32],
        batch_returns: &HashMap<RecordKey, Vec<PurchaseRecord>>,
    ) -> Result<RepriceOutcome, DbError> {
        if original_lines.is_empty() {
            return Ok(skipped("a refund without its line mapping"));
        }
        let Some(body) = self.db.read(move |tx| tx.record_body(of)).await? else {
            return Ok(skipped("its original sale is not stored"));
        };
        let original = match serde_json::from_slice::<PurchaseRecord>(&body) {
            Ok(original) if original.id == original_id => original,
            _ => return Ok(skipped("its original sale is not the one stored")),
        };
        let mut earlier = Vec::new();
        for bytes in self.db.read(move |tx| tx.seen_returns(of)).await? {
            if let Ok(r) = serde_json::from_slice::<PurchaseRecord>(&bytes) {
                earlier.push(r);
            }
        }
        earlier.extend(batch_returns.get(&of).into_iter().flatten().cloned());
        earlier.retain(|r| r.id != record.id);
        let lines: Vec<ReturnLine> = original_lines
            .iter()
            .zip(&record.lines)
            .map(|(&line_no, l)| ReturnLine {
                line_no,
                quantity: l.quantity,
            })
            .collect();
        let header = ReturnHeader {
            id: record.id,
            merchant_id: record.merchant_id,
            store_id: record.store_id,
            register_id: record.register_id,
            seq: record.seq,
            prev_hash: record.prev_hash,
            wall_time: record.wall_time,
        };
        Ok(match return_record(&original, &earlier, &lines, header) {
            Ok(computed) => outcome(compare(&Figures::from(record), &Figures::from(&computed))),
            Err(e) => RepriceOutcome::Skipped(format!("cannot be computed from its original: {e}")),
        })
    }

    /// The engine of a merchant's ruleset version; `None` for a version
    /// the server does not have (or cannot index).
    async fn engine(
        &mut self,
        merchant: MerchantId,
        version: RulesetVersion,
    ) -> Result<Option<Arc<Engine>>, DbError> {
        if let Some(engine) = self.engines.get(&(merchant, version)) {
            return Ok(engine.clone());
        }
        let engine = match self
            .db
            .read(move |tx| tx.ruleset_at(merchant, version))
            .await?
        {
            Some(ruleset) => match Engine::new(ruleset) {
                Ok(engine) => Some(Arc::new(engine)),
                Err(e) => {
                    tracing::error!(merchant_id = %merchant, %version, error = %e,
                        "a stored ruleset does not index");
                    None
                }
            },
            None => None,
        };
        if self.engines.len() >= MAX_ENGINES {
            self.engines.clear();
        }
        self.engines.insert((merchant, version), engine.clone());
        Ok(engine)
    }
}

fn skipped(reason: &str) -> RepriceOutcome {
    RepriceOutcome::Skipped(reason.to_owned())
}

fn outcome(fields: Vec<crate::wire::MismatchedField>) -> RepriceOutcome {
    if fields.is_empty() {
        RepriceOutcome::Matched
    } else {
        RepriceOutcome::Mismatched(fields)
    }
}
