//! The ruleset long-poll: `GET /api/v1/ruleset?after=V&wait=S`. A newer
//! release that opens with the pinned key is stored, then put in use, and
//! announced to the till; anything else is logged and the last good
//! ruleset stays in use.

use std::sync::Arc;

use reqwest::StatusCode;
use shared::release::SignedRuleset;
use shared::wire::till::TillEvent;
use tokio::time::Instant;

use super::{MIN_POLL_INTERVAL, SyncClient, SyncError, backoff_for, pause};
use crate::active_ruleset::{ActiveRuleset, ReleaseRejected};
use crate::agent::{Agent, Stop};
use crate::store;

#[derive(Debug, thiserror::Error)]
enum PollError {
    #[error(transparent)]
    Sync(#[from] SyncError),
    #[error("refused a ruleset: {0}")]
    Rejected(#[from] ReleaseRejected),
}

/// Runs the long-poll until `stop`.
pub async fn run(agent: Arc<Agent>, client: Arc<SyncClient>, stop: Stop) {
    let mut backoff = backoff_for(&agent.config.sync);
    loop {
        let started = Instant::now();
        let outcome = tokio::select! {
            outcome = poll_once(&agent, &client) => outcome,
            () = stop.requested() => return,
        };
        let delay = match outcome {
            Ok(()) => {
                agent.sync_health.succeeded();
                backoff.reset();
                MIN_POLL_INTERVAL.saturating_sub(started.elapsed())
            }
            Err(PollError::Sync(err)) => {
                err.report(&agent, "rulesets");
                err.retry_delay(&mut backoff)
            }
            Err(PollError::Rejected(err)) => {
                tracing::error!(error = %err, "keeping the ruleset in use");
                backoff.next_delay()
            }
        };
        if !pause(delay, &stop).await {
            return;
        }
    }
}

#[tracing::instrument(skip_all)]
async fn poll_once(agent: &Agent, client: &SyncClient) -> Result<(), PollError> {
    let current = agent.rulesets.current().version;
    let wait = agent.config.sync.longpoll_wait();
    let request = client.long_poll("/api/v1/ruleset", wait).query(&[
        ("after", current.map_or(0, |v| v.get())),
        ("wait", i64::try_from(wait.as_secs()).unwrap_or(i64::MAX)),
    ]);
    let response = SyncClient::send(request).await?;
    if response.status() == StatusCode::NO_CONTENT {
        return Ok(());
    }
    let signed: SignedRuleset = response
        .json()
        .await
        .map_err(|e| SyncError::Protocol(e.to_string()))?;
    let (active, release) =
        ActiveRuleset::open(&signed, &agent.server_key, &agent.config.register)?;
    if let Some(current) = current.filter(|&current| release.version <= current) {
        return Err(ReleaseRejected::NotNewer {
            offered: release.version,
            active: current,
        }
        .into());
    }
    let now = agent.clock.now();
    agent
        .db
        .call(move |conn| store::rulesets::save(conn, &signed, now))
        .await
        .map_err(SyncError::from)?;
    agent.rulesets.replace(active);
    tracing::info!(version = %release.version, "ruleset activated");
    agent.publish(TillEvent::RulesetActivated {
        version: release.version,
    });
    Ok(())
}
