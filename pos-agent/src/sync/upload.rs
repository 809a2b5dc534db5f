//! The uploader: sends unacknowledged outbox records in seq order, at most
//! `batch_records` (≤ 1000) or 1 MiB at a time, and records how far the
//! server acknowledged. It wakes on every commit and at least every
//! `upload_interval_ms`; when nothing waits it prunes acknowledged records
//! past `retention_days`.
//!
//! # Acknowledgements
//!
//! A record is marked sent only through `min(acked_through, last sent)`:
//! the server compared every record of the batch at or below its head with
//! what it stores (a difference is a 409 fork), so those are known equal;
//! anything the server holds past the batch was not compared and is sent
//! again (a harmless duplicate). When `acked_through` is the batch's last
//! seq, `head_hash` must equal that record's hash. An acknowledgement below
//! the batch, or with another hash, is a protocol error and acknowledges
//! nothing. A `409` with `expected_seq` means the server holds exactly the
//! records before it: the uploader resumes there. Going back re-sends
//! records (duplicates are harmless); going forward is safe too, because
//! the next record's `prev_hash` must link to the server's stored head, so
//! the server proves it holds the same records or refuses with
//! `chain_broken`.
//!
//! # Chain-verified ingest
//!
//! While the server lists `chain-ingest` in `x-loyalty-features` (noted
//! from every reply), each batch carries the register's signature over the
//! hash of its last record, as computed at commit; the server then checks
//! the hash chain and that one signature instead of every record's. Each
//! record is still sent with its own signature, so a server that does not
//! offer the feature verifies those instead.
//!
//! # Retries
//!
//! Transport errors, 408, 429 and 5xx are retried with exponential backoff
//! and full jitter, honouring `Retry-After`. The server sheds load with 429
//! and the records wait in the outbox, which is a better queue than the
//! server's memory.
//!
//! # Permanent refusals and dead letters
//!
//! A refusal of the records themselves (400 `bad_signature`, `bad_record`,
//! 403, 409 `fork` or `chain_broken`, 413, 422) is permanent: retrying the
//! same bytes gets the same answer. The uploader first isolates the record
//! by halving the batch (the good records before it are acknowledged on
//! the way, in at most log₂(batch) requests), then files that single record
//! as a **dead letter** with the server's status, code and message.
//!
//! Seqs are dense and the server stores nothing past a missing seq, so no
//! record after a dead letter can be acknowledged, and skipping it would
//! lose it. The honest policy is therefore: **stop at the dead letter,
//! alarm loudly, keep committing locally, retry it at the longest
//! backoff**. The outbox row is never changed or deleted; the dead letter
//! is marked resolved if the server ever takes the record (after the
//! server is fixed, or HQ resolves the fork). The status page and
//! `pos-agent status` show it with why and since when; the server alerts
//! HQ on its side (fork, bad signature).
//!
//! A refusal of the register rather than its records (401: revoked or
//! unknown credentials; 426 or a reply in another protocol version; other
//! 4xx) blocks uploads: nothing is filed, the status says why, and the
//! request is retried at the longest backoff. After a protocol mismatch the
//! uploader asks `GET /api/v1/protocol` before sending records again.

use std::sync::Arc;
use std::time::Duration;

use reqwest::StatusCode;
use shared::crypto::Hash256;
use shared::ids::Seq;
use shared::record::sign_chain_head;
use shared::wire::ErrorBody;
use shared::wire::sync::{MAX_BATCH_BYTES, MAX_BATCH_RECORDS, UploadAck, UploadBatch};
use tokio::time::Instant;

use super::backoff::Backoff;
use super::drift::ClockOffset;
use super::{SyncClient, SyncError, backoff_for, pause, persist_error};
use crate::agent::{Agent, Stop};
use crate::store::outbox::{self, Acknowledgement, PendingBatch};
use crate::store::sync_state::{self, Refusal};

/// Register clocks further off than this are logged.
const DRIFT_WARNING_MS: i64 = 5 * 60 * 1000;
/// How often acknowledged records are pruned, at most.
const PRUNE_INTERVAL: Duration = Duration::from_secs(3600);
/// Records deleted per pruning transaction, so commits wait little.
const PRUNE_CHUNK: usize = 5_000;

/// What one upload step came to.
#[derive(Debug, PartialEq, Eq)]
enum Step {
    /// Nothing was waiting.
    Idle,
    /// The acknowledgement moved through this seq.
    Advanced(Seq),
    /// The server holds less than we thought; resume at this seq.
    Rewound(Seq),
    /// A permanent refusal of a batch of several: try the first half.
    Narrowed,
    /// A single record was refused for good.
    DeadLettered(Seq),
    /// The server refuses this register; only a person can fix it.
    Blocked,
}

/// The uploader's state between steps.
#[derive(Debug)]
struct Uploader {
    /// The most records in the next batch.
    limit: usize,
    /// The configured batch size.
    max_batch: usize,
    backoff: Backoff,
    /// Whether the last block was a protocol mismatch.
    protocol_blocked: bool,
    last_prune: Option<Instant>,
    /// The batch read while the one before it was in flight: kept only
    /// when the server acknowledged that one whole, so it follows the ack.
    ahead: Option<PendingBatch>,
}

/// Runs the uploader until `stop`.
pub async fn run(agent: Arc<Agent>, client: Arc<SyncClient>, stop: Stop) {
    let config = &agent.config.sync;
    let max_batch = config.batch_records.clamp(1, MAX_BATCH_RECORDS);
    let mut uploader = Uploader {
        limit: max_batch,
        max_batch,
        backoff: backoff_for(config),
        protocol_blocked: false,
        last_prune: None,
        ahead: None,
    };
    loop {
        let outcome = tokio::select! {
            outcome = uploader.step(&agent, &client) => outcome,
            () = stop.requested() => return,
        };
        let delay = match outcome {
            Ok(Step::Idle) => {
                uploader.backoff.reset();
                uploader.prune_if_due(&agent).await;
                let woken = tokio::select! {
                    () = agent.upload_wake.notified() => true,
                    () = tokio::time::sleep(config.upload_interval()) => true,
                    () = stop.requested() => false,
                };
                if !woken {
                    return;
                }
                Duration::ZERO
            }
            Ok(Step::Advanced(_) | Step::Rewound(_)) => {
                agent.sync_health.succeeded();
                // The server counts the records now: renew the leases.
                agent.lease_wake.notify_one();
                uploader.backoff.reset();
                Duration::ZERO
            }
            Ok(Step::Narrowed) => Duration::ZERO,
            Ok(Step::DeadLettered(_) | Step::Blocked) => uploader.backoff.max(),
            Err(err) => {
                err.report(&agent, "upload");
                persist_error(&agent, err.to_string(), None, err.reached_server()).await;
                err.retry_delay(&mut uploader.backoff)
            }
        };
        if !pause(delay, &stop).await {
            return;
        }
    }
}

impl Uploader {
    #[tracing::instrument(skip_all, fields(register_id = %agent.config.sync.register_id))]
    async fn step(&mut self, agent: &Agent, client: &SyncClient) -> Result<Step, SyncError> {
        if self.protocol_blocked {
            if !client.speaks_our_protocol().await? {
                return Ok(Step::Blocked);
            }
            tracing::info!("the server speaks this agent's protocol again; resuming uploads");
            self.protocol_blocked = false;
        }
        let limit = self.limit;
        let register = agent.config.sync.register_id;
        // The batch read ahead follows the seq the last step's
        // acknowledgement stored (it is kept only then).
        let batch = match self.ahead.take() {
            Some(batch) => batch,
            None => {
                agent
                    .db
                    .call(move |conn| outbox::pending_batch(conn, register, limit, MAX_BATCH_BYTES))
                    .await?
            }
        };
        let (Some(first), Some(last)) = (batch.first(), batch.last()) else {
            return Ok(Step::Idle);
        };
        let count = batch.records.len();
        // A full batch: more are likely waiting (a backlog), so the next is
        // read while this one is in flight, at the size it will then have.
        let max_batch = self.max_batch;
        let read_ahead = async {
            if count < limit {
                return None;
            }
            let next_limit = (limit * 2).min(max_batch);
            agent
                .db
                .call(move |conn| {
                    outbox::batch_after(conn, register, Some(last), next_limit, MAX_BATCH_BYTES)
                })
                .await
                .ok()
                .filter(|next| !next.records.is_empty())
        };
        // On the chain path the register signs the hash of the batch's
        // last record as it was computed at commit (kept in the outbox),
        // never the bytes as read back now: a record that rotted on disk
        // no longer chains and the batch is refused.
        let chain_signature = agent
            .sync_health
            .chain_ingest()
            .then(|| sign_chain_head(&agent.key, &batch.last_hash));
        let sent = agent.clock.now();
        let request = client.post("/api/v1/records").json(&UploadBatch {
            records: batch.records,
            chain_signature,
        });
        let (sent_batch, ahead) = tokio::join!(client.send(request), read_ahead);
        match sent_batch {
            Ok(response) => {
                let received = agent.clock.now();
                let ack: UploadAck = response
                    .json()
                    .await
                    .map_err(|e| SyncError::Protocol(e.to_string()))?;
                let through = accepted_through(&ack, first, last, batch.last_hash)?;
                let measured = ClockOffset::from_exchange(sent, received, ack.server_time, 1);
                let clock = agent.sync_health.observe_clock(measured).then(|| {
                    warn_on_drift(&measured);
                    measured.into()
                });
                let resolved = agent
                    .db
                    .call(move |conn| {
                        outbox::acknowledge(
                            conn,
                            &Acknowledgement {
                                through,
                                at: received,
                                clock,
                            },
                        )
                    })
                    .await?;
                if resolved > 0 {
                    tracing::info!(%through, resolved, "the server took dead-lettered records");
                }
                if agent.sync_health.unblock_uploads() {
                    tracing::info!("uploads resumed");
                }
                tracing::debug!(%first, count, %through, "uploaded");
                self.limit = (self.limit * 2).min(self.max_batch);
                self.ahead =
                    ahead.filter(|next| through == last && next.records.len() <= self.limit);
                Ok(Step::Advanced(through))
            }
            Err(SyncError::Refused {
                status: StatusCode::CONFLICT,
                body:
                    ErrorBody {
                        expected_seq: Some(expected),
                        ..
                    },
            }) => {
                if expected == first {
                    return Err(SyncError::Protocol(format!(
                        "the server expects seq {expected}, which is where the batch starts"
                    )));
                }
                let kept = agent
                    .db
                    .call(move |conn| outbox::holds_all(conn, expected, first))
                    .await?;
                if !kept {
                    // The server lost records this register pruned after
                    // they were acknowledged: only a restore can help.
                    let reason = format!(
                        "the server lacks records from seq {expected}, which this register \
                         pruned after the server had acknowledged them; restore the server's \
                         data. Sales go on and stay in the outbox"
                    );
                    self.block(agent, reason).await;
                    return Ok(Step::Blocked);
                }
                tracing::info!(sent = %first, %expected, "the server expects another seq; resuming there");
                agent
                    .db
                    .call(move |conn| outbox::rewind_to(conn, expected))
                    .await?;
                Ok(Step::Rewound(expected))
            }
            Err(SyncError::Refused { status, body }) if refuses_the_records(status, &body) => {
                if count > 1 {
                    self.limit = count / 2;
                    if status == StatusCode::PAYLOAD_TOO_LARGE {
                        // The server takes less than configured: stay below.
                        self.max_batch = self.limit;
                    }
                    tracing::warn!(
                        %first, count, %status, code = %body.error,
                        "the server refused a batch for good; narrowing it to find the record"
                    );
                    return Ok(Step::Narrowed);
                }
                self.limit = 1;
                self.dead_letter(agent, first, status, body).await?;
                Ok(Step::DeadLettered(first))
            }
            Err(SyncError::Refused { status, body }) => {
                let reason = if status == StatusCode::UNAUTHORIZED {
                    format!(
                        "the server refuses this register's credentials (revoked or unknown \
                         register: {}); sales go on and stay in the outbox",
                        body.message
                    )
                } else {
                    format!(
                        "the server refuses uploads ({status} {}): {}",
                        body.error, body.message
                    )
                };
                self.block(agent, reason).await;
                Ok(Step::Blocked)
            }
            Err(SyncError::Incompatible(message)) => {
                let reason = client.describe_incompatibility(&message).await;
                self.protocol_blocked = true;
                self.block(agent, reason).await;
                Ok(Step::Blocked)
            }
            Err(err) => Err(err),
        }
    }

    async fn block(&self, agent: &Agent, reason: String) {
        tracing::error!(reason = %reason, "uploads stopped");
        agent.sync_health.failed(true, reason.clone());
        agent.sync_health.block_uploads(reason.clone());
        persist_error(agent, reason.clone(), Some(reason), true).await;
    }

    async fn dead_letter(
        &self,
        agent: &Agent,
        seq: Seq,
        status: StatusCode,
        body: ErrorBody,
    ) -> Result<(), SyncError> {
        let refusal = Refusal {
            http_status: status.as_u16(),
            code: body.error,
            message: body.message,
        };
        let summary = format!(
            "record {seq} refused by the server ({status} {}): {}; uploads stop there, \
             later sales stay in the outbox",
            refusal.code, refusal.message
        );
        let at = agent.clock.now();
        let fresh = agent
            .db
            .call(move |conn| sync_state::dead_letter(conn, seq, &refusal, at))
            .await?;
        if fresh {
            tracing::error!(%seq, %status, "dead letter: {summary}");
        } else {
            tracing::warn!(%seq, %status, "dead letter still refused: {summary}");
        }
        agent.sync_health.failed(true, summary.clone());
        persist_error(agent, summary, None, true).await;
        Ok(())
    }

    /// Deletes acknowledged records past the retention, a chunk at a time,
    /// at most once per [`PRUNE_INTERVAL`].
    async fn prune_if_due(&mut self, agent: &Agent) {
        let Some(retention) = agent.config.sync.retention() else {
            return;
        };
        if self
            .last_prune
            .is_some_and(|last| last.elapsed() < PRUNE_INTERVAL)
        {
            return;
        }
        self.last_prune = Some(Instant::now());
        let now = agent.clock.now();
        let cutoff = now - retention;
        let mut pruned = 0;
        loop {
            match agent
                .db
                .call(move |conn| outbox::prune(conn, cutoff, PRUNE_CHUNK))
                .await
            {
                Ok(n) => {
                    pruned += n;
                    if n < PRUNE_CHUNK {
                        break;
                    }
                    tokio::task::yield_now().await;
                }
                Err(err) => {
                    tracing::warn!(error = %err, "pruning the outbox failed");
                    return;
                }
            }
        }
        if pruned > 0 {
            tracing::info!(pruned, cutoff = %cutoff, "pruned acknowledged records");
        }
        if let Err(err) = agent
            .db
            .call(move |conn| sync_state::record_prune(conn, now))
            .await
        {
            tracing::debug!(error = %err, "could not record the prune");
        }
    }
}

/// Whether a refusal is about the records sent (permanent for those bytes)
/// rather than about the register or the route.
fn refuses_the_records(status: StatusCode, body: &ErrorBody) -> bool {
    match status {
        StatusCode::BAD_REQUEST
        | StatusCode::FORBIDDEN
        | StatusCode::PAYLOAD_TOO_LARGE
        | StatusCode::UNPROCESSABLE_ENTITY => true,
        // With `expected_seq` it is a gap the uploader follows instead.
        StatusCode::CONFLICT => body.expected_seq.is_none(),
        _ => false,
    }
}

/// The seq through which a reply to the batch `first..=last` may be taken
/// as an acknowledgement.
fn accepted_through(
    ack: &UploadAck,
    first: Seq,
    last: Seq,
    last_hash: Hash256,
) -> Result<Seq, SyncError> {
    let Some(acked) = ack.acked_through.filter(|&t| t >= first) else {
        return Err(SyncError::Protocol(format!(
            "the server accepted records {first}..{last} but acknowledged only through {}",
            ack.acked_through
                .map_or_else(|| "nothing".to_owned(), |s| s.to_string())
        )));
    };
    if acked == last && ack.head_hash != last_hash {
        return Err(SyncError::Protocol(format!(
            "the server acknowledged record {last} with another hash than the register's"
        )));
    }
    Ok(acked.min(last))
}

fn warn_on_drift(measured: &ClockOffset) {
    let drift = measured.register_drift_ms();
    if drift.abs() > DRIFT_WARNING_MS {
        tracing::warn!(
            drift_ms = drift,
            at = %measured.measured_at,
            "the register clock differs from the server's"
        );
    }
}

#[cfg(test)]
mod tests {
    use chrono::DateTime;

    use super::*;

    fn seq(n: i64) -> Seq {
        Seq::new(n).unwrap()
    }

    fn ack(through: Option<i64>, hash: Hash256) -> UploadAck {
        UploadAck {
            acked_through: through.map(seq),
            head_hash: hash,
            server_time: DateTime::from_timestamp(1_790_000_000, 0).unwrap(),
        }
    }

    #[test]
    fn acknowledgements_count_only_what_the_batch_proved() {
        let ours = Hash256([7; 32]);
        let other = Hash256([8; 32]);
        let accepted = |a: &UploadAck| accepted_through(a, seq(11), seq(20), ours);
        assert_eq!(accepted(&ack(Some(20), ours)).unwrap(), seq(20));
        assert_eq!(accepted(&ack(Some(15), other)).unwrap(), seq(15));
        assert_eq!(
            accepted(&ack(Some(90), other)).unwrap(),
            seq(20),
            "not past what was sent"
        );
        assert!(
            accepted(&ack(Some(20), other)).is_err(),
            "another head hash"
        );
        assert!(accepted(&ack(Some(10), ours)).is_err(), "below the batch");
        assert!(accepted(&ack(None, ours)).is_err());
    }

    #[test]
    fn refusals_of_records_are_told_from_refusals_of_the_register() {
        let body = |expected: Option<i64>| ErrorBody {
            error: "x".into(),
            message: "x".into(),
            expected_seq: expected.map(seq),
            faults: vec![],
        };
        for status in [400, 403, 409, 413, 422] {
            let status = StatusCode::from_u16(status).unwrap();
            assert!(refuses_the_records(status, &body(None)), "{status}");
        }
        assert!(!refuses_the_records(StatusCode::CONFLICT, &body(Some(3))));
        for status in [401, 404, 405] {
            let status = StatusCode::from_u16(status).unwrap();
            assert!(!refuses_the_records(status, &body(None)), "{status}");
        }
    }
}
