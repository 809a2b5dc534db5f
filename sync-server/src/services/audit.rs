//! The audit of stored records' own signatures (issue 16).
//!
//! A batch that came by the chain path was authenticated by its hash chain
//! and one signature over its last record's hash; each record's own
//! signature was stored unverified (`records.audit = 0`). This task
//! verifies them in the background, oldest first, marks each verified (1)
//! or failed (−1), and raises a `bad_signature` alert for every failure.
//! A record is also verified before it is used as evidence
//! ([`super::sales`]), audited or not.
//!
//! It takes its share of the CPU only: under a backlog it rests between
//! passes in proportion to the time a pass took while uploads are being
//! handled ([`BUSY_REST_FACTOR`]), and runs passes back to back when
//! ingest is idle. Two instances on one PostgreSQL may audit the same
//! records at once; the outcome is the same and the alert is raised once
//! per seq (its quiet period).

use std::sync::Arc;
use std::time::Duration;

use shared::record::verify_record_bytes;
use tokio::sync::watch;

use super::oversight::raise_in;
use crate::alerts::NewAlert;
use crate::clock::Clock;
use crate::db::{DbError, RecordKey, Repository};

/// While uploads are in flight, the audit rests this many times as long as
/// its last pass took: at most a tenth of one core goes to it then (and as
/// much to the re-pricer), and it catches up once they stop.
pub const BUSY_REST_FACTOR: u32 = 9;
/// How long a background pass rests after a full batch that took `took`:
/// [`BUSY_REST_FACTOR`] times as long while uploads are in flight
/// (`busy`), not at all otherwise. The audit and the re-pricer share it.
pub fn rest_after(took: Duration, busy: bool) -> Duration {
    if busy {
        took * BUSY_REST_FACTOR
    } else {
        Duration::ZERO
    }
}

/// How long the audit sleeps when nothing awaits it.
const IDLE: Duration = Duration::from_secs(1);
/// How long it waits after a failure before trying again.
const RETRY: Duration = Duration::from_secs(5);

/// What one pass did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct AuditPass {
    /// Records whose own signature verified.
    pub verified: u64,
    /// Records whose own signature does not verify (each alerted).
    pub failed: u64,
}

impl AuditPass {
    /// Records the pass looked at.
    #[must_use]
    pub fn checked(&self) -> u64 {
        self.verified + self.failed
    }
}

/// The audit of stored records' own signatures.
#[derive(Clone)]
pub struct Audit {
    repo: Arc<dyn Repository>,
    clock: Arc<dyn Clock>,
    batch: usize,
}

impl Audit {
    /// The audit over `repo`, `batch` records a pass.
    pub fn new(repo: Arc<dyn Repository>, clock: Arc<dyn Clock>, batch: usize) -> Self {
        Audit {
            repo,
            clock,
            batch: batch.max(1),
        }
    }

    /// Verifies the own signatures of up to a batch of records awaiting
    /// the audit, notes each outcome and alerts on each failure.
    #[tracing::instrument(skip_all)]
    pub async fn pass(&self) -> Result<AuditPass, DbError> {
        let limit = self.batch;
        let rows = self.repo.read(move |tx| tx.unaudited(limit)).await?;
        if rows.is_empty() {
            return Ok(AuditPass::default());
        }
        // The CPU work, off the async workers.
        let outcomes: Vec<(RecordKey, bool)> = tokio::task::spawn_blocking(move || {
            rows.into_iter()
                .map(|r| {
                    let ok = verify_record_bytes(&r.public_key, r.key.seq, &r.body, &r.signature)
                        .is_ok();
                    (r.key, ok)
                })
                .collect()
        })
        .await
        .map_err(DbError::other)?;
        let now = self.clock.now();
        self.repo
            .write(move |tx| {
                let mut pass = AuditPass::default();
                for &(key, ok) in &outcomes {
                    tx.set_audited(key, ok)?;
                    if ok {
                        pass.verified += 1;
                    } else {
                        pass.failed += 1;
                        tracing::error!(
                            register_id = %key.register_id,
                            seq = %key.seq,
                            "a stored record's own signature does not verify"
                        );
                        let alert = NewAlert::stored_signature_fails(
                            key.register_id,
                            key.seq,
                            "the background audit",
                            now,
                        );
                        raise_in(tx, &alert)?;
                    }
                }
                Ok(pass)
            })
            .await
    }

    /// How many stored records await the audit.
    pub async fn backlog(&self) -> Result<u64, DbError> {
        self.repo.read(|tx| tx.audit_backlog()).await
    }
}

/// Runs the audit until `stop`; `busy` says whether uploads are being
/// handled now, and `done` is told each pass's outcome (for the metrics).
pub async fn run(
    audit: Audit,
    busy: impl Fn() -> bool + Send + 'static,
    done: impl Fn(AuditPass) + Send + 'static,
    mut stop: watch::Receiver<bool>,
) {
    tracing::info!("the audit of records' own signatures started");
    loop {
        if *stop.borrow() {
            break;
        }
        let started = tokio::time::Instant::now();
        let rest = match audit.pass().await {
            Ok(pass) if pass.checked() >= audit.batch as u64 => {
                done(pass);
                rest_after(started.elapsed(), busy())
            }
            Ok(pass) => {
                done(pass);
                IDLE
            }
            Err(err) => {
                tracing::error!(error = %err, "the audit failed; retrying");
                RETRY
            }
        };
        tokio::select! {
            _ = stop.changed() => {}
            () = tokio::time::sleep(rest) => {}
        }
    }
    tracing::info!("the audit of records' own signatures stopped");
}
