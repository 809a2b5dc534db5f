//! Following the server's signing key to a new one: the agent fetches the
//! key chain (`GET /api/v1/keys`) when a heartbeat reply names a newer
//! position, when a new release verifies with none of its keys, and when a
//! scanned token names a key id it does not know. Every new link must
//! verify from a key it already trusts ([`shared::keys::TrustedKeys`]);
//! the keys learnt are stored, so offline scans verify with them after a
//! restart. A refused chain (a forged or tampered endorsement, a replay)
//! is never taken: it raises an alarm (status, heartbeat, `doctor`) until
//! a good chain is fetched.

use reqwest::StatusCode;
use shared::keys::KeyChain;

use super::{SyncClient, SyncError};
use crate::agent::Agent;

/// What a fetch of the chain did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refreshed {
    /// New endorsements were verified and stored.
    Learnt,
    /// Nothing new (or a server without the endorsement chain).
    Unchanged,
}

/// Fetches the key chain, verifies what is new and stores it. A refused
/// chain raises the alarm and is returned as [`SyncError::Keys`].
#[tracing::instrument(skip_all)]
pub async fn refresh(agent: &Agent, client: &SyncClient) -> Result<Refreshed, SyncError> {
    let response = client.send(client.get("/api/v1/keys")).await;
    let response = match response {
        Err(SyncError::Refused { status, .. }) if status == StatusCode::NOT_FOUND => {
            return Ok(Refreshed::Unchanged);
        }
        other => other?,
    };
    let chain: KeyChain = response
        .json()
        .await
        .map_err(|e| SyncError::Protocol(format!("key chain: {e}")))?;
    take(agent, &chain).await
}

/// Verifies `chain` from the keys `agent` trusts and stores what is new.
pub async fn take(agent: &Agent, chain: &KeyChain) -> Result<Refreshed, SyncError> {
    let known = agent.trusted_keys();
    let updated = match known.update(&chain.endorsements) {
        Ok(updated) => updated,
        Err(refused) => {
            let alarm = format!(
                "the server's key chain was refused, its keys are not trusted: {refused}; \
                 tell HQ (the server may be impersonated or its data damaged)"
            );
            tracing::error!(error = %refused, "{alarm}");
            agent.sync_health.set_key_alarm(Some(alarm));
            return Err(SyncError::Keys(refused));
        }
    };
    agent.sync_health.set_key_alarm(None);
    if updated == known {
        return Ok(Refreshed::Unchanged);
    }
    let now = agent.clock.now();
    let stored = updated.clone();
    agent
        .db
        .call(move |conn| crate::store::server_keys::save(conn, &stored, now))
        .await?;
    for k in updated.keys().iter().filter(|k| !known.keys().contains(k)) {
        tracing::info!(
            key_id = k.key.key_id(),
            revoked = k.revoked,
            seq = %updated.seq(),
            "server key learnt from a verified endorsement"
        );
    }
    *agent
        .server_keys
        .write()
        .unwrap_or_else(std::sync::PoisonError::into_inner) = updated;
    Ok(Refreshed::Learnt)
}
