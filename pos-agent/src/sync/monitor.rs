//! What the sync tasks know right now, for `GET /v1/status`: whether the
//! server answers, the last error, why uploads are blocked, the clock
//! offset estimate and the ruleset pipeline. The parts `pos-agent status`
//! needs while the agent is stopped are also written to the database
//! (see [`crate::store::sync_state`]).

use std::sync::{Mutex, MutexGuard, PoisonError};

use chrono::{DateTime, Utc};
use shared::version::AgentVersion;
use shared::wire::till::PendingRuleset;

use super::drift::ClockOffset;

/// How rulesets are fetched.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum RulesetTransport {
    /// `GET /api/v1/ruleset?after=V&wait=S`, held by the server.
    #[default]
    LongPoll,
    /// `GET /api/v1/ruleset` with `If-None-Match`, answered at once.
    EtagPoll,
}

impl RulesetTransport {
    /// The name shown in the status.
    #[must_use]
    pub const fn name(self) -> &'static str {
        match self {
            RulesetTransport::LongPoll => "long_poll",
            RulesetTransport::EtagPoll => "etag_poll",
        }
    }
}

/// The sync tasks' shared view of the server.
#[derive(Debug, Default)]
pub struct SyncMonitor(Mutex<MonitorState>);

/// A copy of what [`SyncMonitor`] holds.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct MonitorState {
    /// Whether the last exchange reached the server.
    pub reachable: bool,
    /// When the server last answered anything (register clock).
    pub last_contact_at: Option<DateTime<Utc>>,
    /// The last error, cleared by a success.
    pub last_error: Option<String>,
    /// Why uploads stopped until a person acts.
    pub upload_blocked: Option<String>,
    /// The clock offset estimate.
    pub clock: Option<ClockOffset>,
    /// A stored ruleset waiting for its `effective_from`.
    pub pending_ruleset: Option<PendingRuleset>,
    /// Why the last offered ruleset was refused.
    pub ruleset_rejected: Option<String>,
    /// How rulesets are fetched now.
    pub ruleset_transport: RulesetTransport,
    /// Whether the server offers chain-verified ingest, as its last reply
    /// that listed its features said.
    pub chain_ingest: bool,
    /// The minimum agent version HQ requires, while this agent is below
    /// it (the last heartbeat reply said so).
    pub required_version: Option<AgentVersion>,
    /// Why the server's key chain was refused (a forged or tampered
    /// endorsement), until a good one is fetched.
    pub key_alarm: Option<String>,
}

impl SyncMonitor {
    fn lock(&self) -> MutexGuard<'_, MonitorState> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// A copy of the state.
    pub fn snapshot(&self) -> MonitorState {
        self.lock().clone()
    }

    /// Notes that the server answered (with any status) at `at`.
    pub fn contacted(&self, at: DateTime<Utc>) {
        self.lock().last_contact_at = Some(at);
    }

    /// Takes the features a reply listed (`x-loyalty-features`); the
    /// uploader signs its batches' chain heads while the server offers
    /// [`FEATURE_CHAIN_INGEST`](shared::wire::FEATURE_CHAIN_INGEST).
    pub fn observe_features(&self, features: &str) {
        self.lock().chain_ingest = features
            .split(',')
            .any(|f| f.trim() == shared::wire::FEATURE_CHAIN_INGEST);
    }

    /// Whether the server offers chain-verified ingest.
    pub fn chain_ingest(&self) -> bool {
        self.lock().chain_ingest
    }

    /// Records a successful exchange.
    pub fn succeeded(&self) {
        let mut s = self.lock();
        s.reachable = true;
        s.last_error = None;
    }

    /// Records a failed exchange.
    pub fn failed(&self, reached_server: bool, error: String) {
        let mut s = self.lock();
        s.reachable = reached_server;
        s.last_error = Some(error);
    }

    /// Uploads stop for `reason` until a person acts.
    pub fn block_uploads(&self, reason: String) {
        self.lock().upload_blocked = Some(reason);
    }

    /// Uploads may go on; returns whether they were blocked.
    pub fn unblock_uploads(&self) -> bool {
        self.lock().upload_blocked.take().is_some()
    }

    /// Takes `measured` as the clock estimate if it supersedes the current
    /// one; returns whether it did.
    pub fn observe_clock(&self, measured: ClockOffset) -> bool {
        let mut s = self.lock();
        let adopt = s
            .clock
            .is_none_or(|current| current.superseded_by(&measured));
        if adopt {
            s.clock = Some(measured);
        }
        adopt
    }

    /// The latest the server's time may be when the register clock reads
    /// `register_now`: the estimate plus its uncertainty. A ruleset is due
    /// once its `effective_from` is not after this.
    pub fn latest_server_time(&self, register_now: DateTime<Utc>) -> DateTime<Utc> {
        self.lock().clock.map_or(register_now, |c| {
            c.server_time(register_now) + chrono::TimeDelta::milliseconds(c.uncertainty_ms)
        })
    }

    /// Sets the ruleset waiting for its time.
    pub fn set_pending_ruleset(&self, pending: Option<PendingRuleset>) {
        self.lock().pending_ruleset = pending;
    }

    /// Records why an offered ruleset was refused (`None`: one was taken).
    pub fn set_ruleset_rejected(&self, reason: Option<String>) {
        self.lock().ruleset_rejected = reason;
    }

    /// Takes the minimum agent version the server requires while this
    /// agent is below it (`None`: it is not); returns whether that changed.
    pub fn set_required_version(&self, required: Option<AgentVersion>) -> bool {
        let mut s = self.lock();
        let changed = s.required_version != required;
        s.required_version = required;
        changed
    }

    /// Raises (or clears, `None`) the alarm of a refused key chain.
    pub fn set_key_alarm(&self, alarm: Option<String>) {
        self.lock().key_alarm = alarm;
    }

    /// Records how rulesets are fetched.
    pub fn set_ruleset_transport(&self, transport: RulesetTransport) {
        self.lock().ruleset_transport = transport;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_clock_is_the_registers_until_estimated() {
        let monitor = SyncMonitor::default();
        let now = DateTime::from_timestamp(1_790_000_000, 0).unwrap();
        assert_eq!(monitor.latest_server_time(now), now);
        let ahead = ClockOffset {
            offset_ms: 60_000,
            uncertainty_ms: 10,
            measured_at: now,
        };
        assert!(monitor.observe_clock(ahead));
        assert_eq!(
            monitor.latest_server_time(now),
            now + chrono::TimeDelta::milliseconds(60_010)
        );
    }

    #[test]
    fn errors_blocks_and_successes() {
        let monitor = SyncMonitor::default();
        monitor.failed(false, "down".into());
        monitor.block_uploads("agent too old".into());
        assert!(monitor.snapshot().upload_blocked.is_some());
        monitor.succeeded();
        let s = monitor.snapshot();
        assert!(s.reachable && s.last_error.is_none());
        assert!(monitor.unblock_uploads());
        assert!(!monitor.unblock_uploads());
    }
}
