//! The heartbeat: every `sync.heartbeat_secs` the register tells the server
//! how it is (its version, backlog, dead letters, ruleset and alarms), so
//! HQ sees its last contact even when it has nothing to upload. A missed
//! heartbeat is not retried: the next one says the same, newer.

use std::sync::Arc;
use std::time::Duration;

use shared::wire::sync::Heartbeat;

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
        agent_version: env!("CARGO_PKG_VERSION").to_owned(),
        backlog: status.outbox_pending,
        dead_letters: u32::try_from(status.sync.dead_letters.len()).unwrap_or(u32::MAX),
        ruleset_version: status.ruleset_version,
        alarms: status.sync.alarms,
    };
    client
        .send(client.post("/api/v1/heartbeat").json(&heartbeat))
        .await?;
    Ok(())
}
