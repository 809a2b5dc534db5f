//! The customer change feed: `GET /api/v1/customers/changes?after=C&wait=S`
//! into the cache, page by page, storing the cursor with each page.
//!
//! A page settles this register's pending effects through the seq the
//! server says it had stored when it built the page (`stored_through`,
//! read in the same snapshot as the customers), so an effect is never
//! counted twice even when the acknowledgement was lost. A server that
//! does not say falls back on the acknowledged seq read *before* the
//! request (see [`crate::store::customers`]).

use std::sync::Arc;

use reqwest::StatusCode;
use shared::wire::sync::CustomerDeltaPage;
use tokio::time::Instant;

use super::{MIN_POLL_INTERVAL, SyncClient, SyncError, backoff_for, pause};
use crate::agent::{Agent, Stop};
use crate::store::{customers, outbox};

/// Runs the feed until `stop`.
pub async fn run(agent: Arc<Agent>, client: Arc<SyncClient>, stop: Stop) {
    let mut backoff = backoff_for(&agent.config.sync);
    loop {
        let started = Instant::now();
        let outcome = tokio::select! {
            outcome = poll_once(&agent, &client) => outcome,
            () = stop.requested() => return,
        };
        let delay = match outcome {
            Ok(more) => {
                agent.sync_health.succeeded();
                backoff.reset();
                if more {
                    std::time::Duration::ZERO
                } else {
                    MIN_POLL_INTERVAL.saturating_sub(started.elapsed())
                }
            }
            Err(err) => {
                err.report(&agent, "customers");
                err.retry_delay(&mut backoff)
            }
        };
        if !pause(delay, &stop).await {
            return;
        }
    }
}

/// Fetches and applies one page; returns whether another is ready.
#[tracing::instrument(skip_all)]
async fn poll_once(agent: &Agent, client: &SyncClient) -> Result<bool, SyncError> {
    let (cursor, acked) = agent
        .db
        .call(|conn| Ok((customers::cursor(conn)?, outbox::acked_seq(conn)?)))
        .await?;
    let wait = agent.config.sync.longpoll_wait();
    let request = client.long_poll("/api/v1/customers/changes", wait).query(&[
        ("after", cursor),
        ("wait", i64::try_from(wait.as_secs()).unwrap_or(i64::MAX)),
    ]);
    let response = client.send(request).await?;
    if response.status() == StatusCode::NO_CONTENT {
        return Ok(false);
    }
    let page: CustomerDeltaPage = response
        .json()
        .await
        .map_err(|e| SyncError::Protocol(e.to_string()))?;
    let now = agent.clock.now();
    let changed = page.customers.len();
    let more = page.more;
    let settled_through = acked.max(page.stored_through);
    agent
        .db
        .call(move |conn| {
            customers::apply_page(
                conn,
                &page.customers,
                page.phone_salt.as_deref(),
                settled_through,
                page.next_cursor,
                now,
            )
        })
        .await?;
    if changed > 0 {
        tracing::info!(changed, "customer cache updated");
    }
    Ok(more)
}
