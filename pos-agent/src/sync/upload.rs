//! The uploader: sends unacknowledged outbox records in seq order, at most
//! `batch_records` (≤ 1000) or 1 MiB at a time, and records how far the
//! server acknowledged. A `409` with `expected_seq` means the server holds
//! exactly the records before it, so the uploader resumes there. Records
//! are never dropped: a refused batch is retried at the longest delay.
//!
//! It wakes on every commit and at least every `upload_interval_ms`.

use std::sync::Arc;
use std::time::Duration;

use reqwest::StatusCode;
use shared::wire::ErrorBody;
use shared::wire::sync::{MAX_BATCH_BYTES, MAX_BATCH_RECORDS, UploadAck, UploadBatch};

use super::{SyncClient, SyncError, backoff_for, pause};
use crate::agent::{Agent, Stop};
use crate::store::outbox;

/// Server clocks further off than this are logged.
const DRIFT_WARNING: chrono::TimeDelta = chrono::TimeDelta::minutes(5);

/// What one upload achieved.
#[derive(Debug, PartialEq, Eq)]
enum Progress {
    /// Nothing was waiting.
    Idle,
    /// The acknowledgement moved; more may be waiting.
    Advanced,
    /// The server answered but acknowledged nothing new.
    Stalled,
}

/// Runs the uploader until `stop`.
pub async fn run(agent: Arc<Agent>, client: Arc<SyncClient>, stop: Stop) {
    let config = &agent.config.sync;
    let batch_records = config.batch_records.clamp(1, MAX_BATCH_RECORDS);
    let mut backoff = backoff_for(config);
    loop {
        let outcome = tokio::select! {
            outcome = upload_once(&agent, &client, batch_records) => outcome,
            () = stop.requested() => return,
        };
        let delay = match outcome {
            Ok(Progress::Idle) => {
                backoff.reset();
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
            Ok(Progress::Advanced) => {
                agent.sync_health.succeeded();
                backoff.reset();
                Duration::ZERO
            }
            Ok(Progress::Stalled) => {
                tracing::warn!("the server acknowledged nothing new; retrying later");
                backoff.next_delay()
            }
            Err(err) => {
                err.report(&agent, "upload");
                err.retry_delay(&mut backoff)
            }
        };
        if !pause(delay, &stop).await {
            return;
        }
    }
}

#[tracing::instrument(skip_all, fields(register_id = %agent.config.sync.register_id))]
async fn upload_once(
    agent: &Agent,
    client: &SyncClient,
    batch_records: usize,
) -> Result<Progress, SyncError> {
    let records = agent
        .db
        .call(move |conn| outbox::unacked(conn, batch_records, MAX_BATCH_BYTES))
        .await?;
    let Some(first) = records.first().map(|r| r.seq) else {
        return Ok(Progress::Idle);
    };
    let count = records.len();
    let request = client
        .post("/api/v1/records")
        .json(&UploadBatch { records });
    match SyncClient::send(request).await {
        Ok(response) => {
            let ack: UploadAck = response
                .json()
                .await
                .map_err(|e| SyncError::Protocol(e.to_string()))?;
            warn_on_drift(agent, &ack);
            match ack.acked_through {
                Some(through) if through >= first => {
                    agent
                        .db
                        .call(move |conn| outbox::ack_through(conn, through))
                        .await?;
                    tracing::debug!(%first, count, %through, "uploaded");
                    Ok(Progress::Advanced)
                }
                _ => Ok(Progress::Stalled),
            }
        }
        Err(SyncError::Refused {
            status: StatusCode::CONFLICT,
            body:
                ErrorBody {
                    expected_seq: Some(expected),
                    ..
                },
        }) if expected != first => {
            tracing::info!(sent = %first, %expected, "the server expects another seq; resuming there");
            agent
                .db
                .call(move |conn| outbox::rewind_to(conn, expected))
                .await?;
            Ok(Progress::Advanced)
        }
        Err(err) => Err(err),
    }
}

fn warn_on_drift(agent: &Agent, ack: &UploadAck) {
    let drift = agent.clock.now() - ack.server_time;
    if drift.abs() > DRIFT_WARNING {
        tracing::warn!(
            drift_secs = drift.num_seconds(),
            "the register clock differs from the server's"
        );
    }
}
