//! The heartbeat: every `sync.heartbeat_secs` the register tells the server
//! how it is (its version, backlog, dead letters, ruleset and alarms), so
//! HQ sees its last contact even when it has nothing to upload. A missed
//! heartbeat is not retried: the next one says the same, newer.
//!
//! The reply names the minimum agent version HQ requires and whether this
//! agent is below it: then the agent raises an alarm (status, doctor,
//! metrics, a `agent_outdated` event) and goes on selling and syncing.
//! Agents do not update themselves. An older server answers 204 with no
//! body: no minimum. The reply also names the server's key chain position:
//! a register behind it fetches the chain ([`super::keys`]).

use std::sync::Arc;
use std::time::Duration;

use reqwest::StatusCode;
use shared::wire::sync::{Heartbeat, HeartbeatReply};
use shared::wire::till::TillEvent;

use super::{SyncClient, SyncError, pause};
use crate::agent::{Agent, Stop};

/// Sends heartbeats until `stop` fires.
pub async fn run(agent: Arc<Agent>, client: Arc<SyncClient>, stop: Stop) {
    let every = agent.config.sync.heartbeat_secs;
    if every == 0 {
        return;
    }
    let every = Duration::from_secs(every);
    loop {
        if let Err(e) = beat(&agent, &client).await {
            tracing::debug!(error = %e, "heartbeat not delivered");
        }
        if !pause(every, &stop).await {
            return;
        }
    }
}

async fn beat(agent: &Agent, client: &SyncClient) -> Result<(), SyncError> {
    let status = agent.status().await?;
    let heartbeat = Heartbeat {
        agent_version: super::status::AGENT_VERSION.to_owned(),
        backlog: status.outbox_pending,
        dead_letters: u32::try_from(status.sync.dead_letters.len()).unwrap_or(u32::MAX),
        ruleset_version: status.ruleset_version,
        alarms: status.sync.alarms,
    };
    let response = client
        .send(client.post("/api/v1/heartbeat").json(&heartbeat))
        .await?;
    let reply = if response.status() == StatusCode::NO_CONTENT {
        HeartbeatReply::default()
    } else {
        response
            .json::<HeartbeatReply>()
            .await
            .map_err(|e| SyncError::Protocol(format!("heartbeat reply: {e}")))?
    };
    let key_seq = reply.key_seq;
    take_reply(agent, reply).await?;
    // The server's key chain moved on: learn the new key while online, so
    // offline scans verify tokens it signs.
    if key_seq > agent.trusted_keys().seq() {
        super::keys::refresh(agent, client).await?;
    }
    Ok(())
}

/// Raises or clears the version alarm as the server's reply says, keeps it
/// in the database for `status` and `doctor`, and tells the till when it
/// is raised or its minimum changes.
async fn take_reply(agent: &Agent, reply: HeartbeatReply) -> Result<(), SyncError> {
    let required = reply.minimum_agent_version.filter(|_| reply.below_minimum);
    if !agent.sync_health.set_required_version(required.clone()) {
        return Ok(());
    }
    let stored = required.clone();
    agent
        .db
        .call(move |conn| crate::store::sync_state::set_required_version(conn, stored.as_ref()))
        .await?;
    match required {
        Some(minimum) => {
            let alarm = super::status::version_alarm(&minimum);
            tracing::warn!(%minimum, "{alarm}");
            agent.publish(TillEvent::AgentOutdated {
                agent_version: super::status::AGENT_VERSION.to_owned(),
                minimum_agent_version: minimum,
                alarm,
            });
        }
        None => tracing::info!("the agent's version meets HQ's minimum"),
    }
    Ok(())
}
