//! Quota lease renewal: every `sync.lease_renew_secs`, and after every
//! upload that stored records, the register asks `POST /api/v1/leases` for
//! its shares of the promotions with global limits and stores them in
//! place of the old ones (see [`crate::quota`]).
//!
//! The server's reply lasts `expires_at - server_time` from when the
//! request was sent, by the till's own clock, less a tenth (at most five
//! minutes) for clocks that run apart: the till stops giving a lease
//! before the server takes it back. A server that answers 404 offers no
//! leases (an older server): the till keeps the global limits as before,
//! and remembers it; one that grants leases marks its replies with
//! `x-loyalty-features: quota-leases`, and the till enforces them from
//! then on, through restarts and offline spells.

use std::sync::Arc;
use std::time::Duration;

use chrono::TimeDelta;
use reqwest::StatusCode;
use shared::wire::sync::{LeaseGrant, LeaseRequest};
use shared::wire::{FEATURE_QUOTA_LEASES, FEATURES_HEADER};

use super::{SyncClient, SyncError, backoff_for, pause};
use crate::agent::{Agent, Stop};
use crate::store::leases::{self, NewHeldLease};
use crate::store::outbox;

/// The shortest time between two renewals.
const MIN_GAP: Duration = Duration::from_millis(500);

/// The most a lease's life is shortened by at the till.
const MAX_MARGIN: TimeDelta = TimeDelta::minutes(5);

/// Renews the leases until `stop` fires.
pub async fn run(agent: Arc<Agent>, client: Arc<SyncClient>, stop: Stop) {
    let every = Duration::from_secs(agent.config.sync.lease_renew_secs.max(1));
    let mut backoff = backoff_for(&agent.config.sync);
    loop {
        let delay = match renew(&agent, &client).await {
            Ok(()) => {
                backoff.reset();
                every
            }
            Err(e) => {
                tracing::debug!(error = %e, "quota leases not renewed");
                e.retry_delay(&mut backoff).min(every)
            }
        };
        // Uploads wake the renewal after each batch; a backlog of many
        // batches renews at most once per `MIN_GAP`.
        if !pause(MIN_GAP.min(delay), &stop).await {
            return;
        }
        let go_on = tokio::select! {
            () = agent.lease_wake.notified() => true,
            go_on = pause(delay.saturating_sub(MIN_GAP), &stop) => go_on,
        };
        if !go_on {
            return;
        }
    }
}

/// The most a renewal out of turn (a new ruleset) may hold things up.
const RENEW_NOW_TIMEOUT: Duration = Duration::from_secs(5);

/// Renews the leases at once (a new ruleset arrived), best effort: a
/// failure leaves the leases held and the loop retries.
pub(super) async fn renew_now(agent: &Agent, client: &SyncClient) {
    match tokio::time::timeout(RENEW_NOW_TIMEOUT, renew(agent, client)).await {
        Ok(Ok(())) => {}
        Ok(Err(e)) => tracing::debug!(error = %e, "quota leases not renewed"),
        Err(_) => tracing::debug!("quota lease renewal timed out"),
    }
}

async fn renew(agent: &Agent, client: &SyncClient) -> Result<(), SyncError> {
    let head = agent.db.call(|conn| outbox::head(conn)).await?;
    let request = LeaseRequest {
        committed_through: head.seq,
    };
    let sent = agent.clock.now();
    let response = match client
        .send(client.post("/api/v1/leases").json(&request))
        .await
    {
        Ok(response) => response,
        Err(SyncError::Refused { status, .. }) if status == StatusCode::NOT_FOUND => {
            // An older server: no leases; the global limits apply as before.
            agent
                .update_leases(|conn| leases::set_offered(conn, false))
                .await?;
            return Ok(());
        }
        Err(e) => return Err(e),
    };
    let offered = response
        .headers()
        .get(FEATURES_HEADER)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|f| f.trim() == FEATURE_QUOTA_LEASES));
    if !offered {
        return Err(SyncError::Protocol(format!(
            "POST /api/v1/leases answered without `{FEATURES_HEADER}: {FEATURE_QUOTA_LEASES}`"
        )));
    }
    let grant: LeaseGrant = response
        .json()
        .await
        .map_err(|e| SyncError::Protocol(e.to_string()))?;
    let held: Vec<NewHeldLease> = grant
        .leases
        .iter()
        .map(|l| {
            let life = (l.expires_at - grant.server_time).max(TimeDelta::zero());
            let margin = (life / 10).min(MAX_MARGIN);
            NewHeldLease {
                promotion: l.promotion.clone(),
                lease_id: l.lease_id,
                through_seq: l.through_seq.map_or(0, |s| s.get()),
                uses: i64::try_from(l.uses).unwrap_or(i64::MAX),
                budget: l.budget.minor(),
                expires_at: sent + life - margin,
            }
        })
        .collect();
    let count = held.len();
    agent
        .update_leases(move |conn| {
            leases::set_offered(conn, true)?;
            leases::replace(conn, &held, sent)
        })
        .await?;
    tracing::debug!(leases = count, "quota leases renewed");
    Ok(())
}
