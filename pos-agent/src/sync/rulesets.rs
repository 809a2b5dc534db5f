//! Rulesets from the server: fetched, verified, stored, then activated at
//! their `effective_from` on the server's time scale.
//!
//! # Fetching
//!
//! By long-poll, `GET /api/v1/ruleset?after=V&wait=S`, held by the server
//! until a newer version exists or the wait ends; or by ETag polling,
//! `GET /api/v1/ruleset?after=V&wait=0` with `If-None-Match: "V"`,
//! answered at once with 304 when nothing is newer. With
//! `sync.ruleset_transport = "auto"` the agent long-polls and falls back to
//! polling every `ruleset_poll_secs` when long-polls are not supported on
//! the way to the server: three in a row cut off (a timeout, a broken
//! connection, 502 or 504) or answered empty in under a quarter of a wait
//! of at least four seconds (nothing holds them). It tries long-polling
//! again after [`ETAG_SPELL`] polls.
//!
//! # Accepting
//!
//! A release is stored only if it opens with the pinned key (complete body,
//! hash, signature, known schema, agent version, valid rules), belongs to
//! this register's merchant and currency, and is newer than every release
//! stored. Anything else is refused, logged and shown in the status; the
//! last good ruleset keeps pricing. A release is activated only after it
//! is stored, so a failed write (a full disk) leaves the old one in use
//! and the release is fetched again.
//!
//! # Activating
//!
//! The newest stored release whose `effective_from` has passed on the
//! drift-corrected clock (the register clock plus the estimated offset to
//! the server's, see [`super::drift`]) is the one in use. The estimate is
//! good to its uncertainty (about a second from a `Date` header, a few
//! milliseconds from an upload acknowledgement), and a release is taken as
//! due once the server's time may have reached it, so a release published
//! "now" is used at once rather than up to a second late. A newer one
//! waiting for its time is shown as pending, and the task wakes when it is
//! due.

use std::sync::Arc;
use std::time::Duration;

use reqwest::StatusCode;
use reqwest::header::IF_NONE_MATCH;
use shared::ids::RulesetVersion;
use shared::release::{ReleaseError, SignedRuleset};
use shared::wire::till::{PendingRuleset, TillEvent};
use tokio::time::Instant;

use super::drift::ClockOffset;
use super::monitor::RulesetTransport;
use super::{MIN_POLL_INTERVAL, SyncClient, SyncError, backoff_for};
use crate::active_ruleset::{ActiveRuleset, ReleaseRejected};
use crate::agent::{Agent, Stop};
use crate::config::RulesetTransportSetting;
use crate::store;

/// Polls made by ETag before long-polling is tried again.
const ETAG_SPELL: u32 = 30;
/// Long-polls in a row that must fail before falling back to polling.
const STRIKES: u32 = 3;
/// Waits shorter than this are too short to tell a held long-poll.
const MIN_JUDGED_WAIT: Duration = Duration::from_secs(4);
/// The longest sleep before re-checking a pending ruleset (the clock
/// estimate may change meanwhile).
const MAX_ACTIVATION_SLEEP: Duration = Duration::from_secs(60);

#[derive(Debug, thiserror::Error)]
enum PollError {
    #[error(transparent)]
    Sync(#[from] SyncError),
    #[error("refused a ruleset: {0}")]
    Rejected(#[from] ReleaseRejected),
}

/// What one poll brought.
#[derive(Debug, PartialEq, Eq)]
enum Polled {
    /// Nothing newer; the request was held this long.
    NothingNew(Duration),
    /// A newer release was stored.
    Stored(RulesetVersion),
}

/// The fetching mode and the evidence for switching it.
#[derive(Debug)]
struct Transport {
    setting: RulesetTransportSetting,
    mode: RulesetTransport,
    strikes: u32,
    polls_left: u32,
}

impl Transport {
    fn new(setting: RulesetTransportSetting) -> Self {
        let mode = match setting {
            RulesetTransportSetting::EtagPoll => RulesetTransport::EtagPoll,
            RulesetTransportSetting::Auto | RulesetTransportSetting::LongPoll => {
                RulesetTransport::LongPoll
            }
        };
        Transport {
            setting,
            mode,
            strikes: 0,
            polls_left: 0,
        }
    }

    /// Counts one poll's outcome; returns the mode for the next.
    fn observe(&mut self, outcome: &Result<Polled, PollError>, wait: Duration) -> RulesetTransport {
        if self.setting != RulesetTransportSetting::Auto {
            return self.mode;
        }
        match self.mode {
            RulesetTransport::LongPoll => {
                let struck = match outcome {
                    Ok(Polled::NothingNew(held)) => wait >= MIN_JUDGED_WAIT && *held < wait / 4,
                    Err(PollError::Sync(err)) => long_poll_cut(err),
                    Ok(Polled::Stored(_)) | Err(PollError::Rejected(_)) => false,
                };
                self.strikes = if struck { self.strikes + 1 } else { 0 };
                if self.strikes >= STRIKES {
                    tracing::warn!(
                        strikes = self.strikes,
                        "long-polls are cut or not held on the way to the server; \
                         polling rulesets with ETags instead"
                    );
                    self.mode = RulesetTransport::EtagPoll;
                    self.polls_left = ETAG_SPELL;
                    self.strikes = 0;
                }
            }
            RulesetTransport::EtagPoll => {
                self.polls_left = self.polls_left.saturating_sub(1);
                if self.polls_left == 0 {
                    tracing::info!("trying ruleset long-polls again");
                    self.mode = RulesetTransport::LongPoll;
                }
            }
        }
        self.mode
    }
}

/// Whether a long-poll failed in a way that says something between the
/// agent and the server does not let long requests through.
fn long_poll_cut(err: &SyncError) -> bool {
    match err {
        SyncError::Transport(e) => !e.is_connect(),
        SyncError::Busy { status, .. } => {
            *status == StatusCode::BAD_GATEWAY || *status == StatusCode::GATEWAY_TIMEOUT
        }
        _ => false,
    }
}

/// Runs the ruleset task until `stop`.
pub async fn run(agent: Arc<Agent>, client: Arc<SyncClient>, stop: Stop) {
    let config = &agent.config.sync;
    let mut backoff = backoff_for(config);
    let mut transport = Transport::new(config.ruleset_transport);
    agent.sync_health.set_ruleset_transport(transport.mode);
    let mut saved_clock = None;
    loop {
        let due = activate_due(&agent).await;
        save_clock_if_moved(&agent, &mut saved_clock).await;
        let started = Instant::now();
        let mode = transport.mode;
        let outcome = tokio::select! {
            outcome = poll_once(&agent, &client, mode) => outcome,
            () = sleep_for(due) => continue,
            () = stop.requested() => return,
        };
        if matches!(outcome, Ok(Polled::Stored(_))) {
            // A new ruleset may bring promotions with global limits: take
            // their leases before it prices anything.
            super::leases::renew_now(&agent, &client).await;
        }
        let next_mode = transport.observe(&outcome, config.longpoll_wait());
        agent.sync_health.set_ruleset_transport(next_mode);
        let delay = match outcome {
            Ok(polled) => {
                agent.sync_health.succeeded();
                backoff.reset();
                match (polled, mode) {
                    (Polled::Stored(_), _) => Duration::ZERO,
                    (Polled::NothingNew(_), RulesetTransport::EtagPoll) => {
                        config.ruleset_poll_interval()
                    }
                    (Polled::NothingNew(_), RulesetTransport::LongPoll) => {
                        MIN_POLL_INTERVAL.saturating_sub(started.elapsed())
                    }
                }
            }
            Err(PollError::Sync(err)) => {
                err.report(&agent, "rulesets");
                err.retry_delay(&mut backoff)
            }
            Err(PollError::Rejected(err)) => {
                tracing::error!(error = %err, "keeping the ruleset in use");
                agent
                    .sync_health
                    .set_ruleset_rejected(Some(err.to_string()));
                backoff.next_delay()
            }
        };
        tokio::select! {
            () = tokio::time::sleep(delay) => {}
            () = sleep_for(due) => {}
            () = stop.requested() => return,
        }
    }
}

/// Stores the clock estimate the replies' `Date` headers gave when it
/// moved by more than its uncertainty since last stored, so a restart
/// without a server starts from it. (Upload acknowledgements store theirs.)
async fn save_clock_if_moved(agent: &Agent, saved: &mut Option<ClockOffset>) {
    let Some(current) = agent.sync_health.snapshot().clock else {
        return;
    };
    let moved = saved.is_none_or(|s| {
        (s.offset_ms - current.offset_ms).abs() > current.uncertainty_ms.max(s.uncertainty_ms)
    });
    if !moved {
        return;
    }
    let stored = current.into();
    match agent
        .db
        .call(move |conn| store::sync_state::save_clock(conn, stored))
        .await
    {
        Ok(()) => *saved = Some(current),
        Err(err) => tracing::debug!(error = %err, "could not store the clock estimate"),
    }
}

/// Sleeps for `due`, or forever when nothing is due.
async fn sleep_for(due: Option<Duration>) {
    match due {
        Some(d) => tokio::time::sleep(d).await,
        None => std::future::pending().await,
    }
}

#[tracing::instrument(skip_all, fields(mode = mode.name()))]
async fn poll_once(
    agent: &Agent,
    client: &SyncClient,
    mode: RulesetTransport,
) -> Result<Polled, PollError> {
    let known = agent
        .db
        .call(|conn| store::rulesets::newest_version(conn))
        .await
        .map_err(SyncError::from)?;
    let after = known.map_or(0, RulesetVersion::get);
    let started = Instant::now();
    let request = match mode {
        RulesetTransport::LongPoll => {
            let wait = agent.config.sync.longpoll_wait();
            client.long_poll("/api/v1/ruleset", wait).query(&[
                ("after", after),
                ("wait", i64::try_from(wait.as_secs()).unwrap_or(i64::MAX)),
            ])
        }
        RulesetTransport::EtagPoll => {
            let request = client
                .get("/api/v1/ruleset")
                .query(&[("after", after), ("wait", 0)]);
            match known {
                Some(v) => request.header(IF_NONE_MATCH, format!("\"{v}\"")),
                None => request,
            }
        }
    };
    let response = client.send(request).await?;
    if matches!(
        response.status(),
        StatusCode::NO_CONTENT | StatusCode::NOT_MODIFIED
    ) {
        return Ok(Polled::NothingNew(started.elapsed()));
    }
    let signed: SignedRuleset = response
        .json()
        .await
        .map_err(|e| SyncError::Protocol(e.to_string()))?;
    let opened = ActiveRuleset::open(
        &signed,
        &agent.trusted_keys().valid(),
        &agent.config.register,
    );
    // Signed by a key this register does not know yet: the server rotated
    // its key. Learn the chain and try once more.
    let opened = match opened {
        Err(ReleaseRejected::Release(ReleaseError::BadSignature(_))) => {
            super::keys::refresh(agent, client).await?;
            ActiveRuleset::open(
                &signed,
                &agent.trusted_keys().valid(),
                &agent.config.register,
            )
        }
        other => other,
    };
    let (_, release) = opened?;
    if let Some(known) = known.filter(|&known| release.version <= known) {
        return Err(ReleaseRejected::NotNewer {
            offered: release.version,
            active: known,
        }
        .into());
    }
    let now = agent.clock.now();
    agent
        .db
        .call(move |conn| store::rulesets::save(conn, &signed, now))
        .await
        .map_err(SyncError::from)?;
    agent.sync_health.set_ruleset_rejected(None);
    tracing::info!(
        version = %release.version,
        effective_from = %release.effective_from,
        "ruleset received"
    );
    Ok(Polled::Stored(release.version))
}

/// Puts in use the newest stored release whose time has come on the
/// server's clock, and notes the next one waiting. Returns how long until
/// that one is due.
async fn activate_due(agent: &Agent) -> Option<Duration> {
    let active = agent.rulesets.current().version;
    let stored = match agent
        .db
        .call(move |conn| store::rulesets::newer_than(conn, active))
        .await
    {
        Ok(stored) => stored,
        Err(err) => {
            tracing::warn!(error = %err, "cannot read stored rulesets");
            return Some(MAX_ACTIVATION_SLEEP);
        }
    };
    let server_now = agent.sync_health.latest_server_time(agent.clock.now());
    let mut pending: Option<PendingRuleset> = None;
    let mut due_now = None;
    for signed in stored {
        let opened = signed.map_err(|e| e.to_string()).and_then(|s| {
            ActiveRuleset::open(&s, &agent.trusted_keys().all(), &agent.config.register)
                .map_err(|e| e.to_string())
        });
        let (next, release) = match opened {
            Ok(opened) => opened,
            Err(err) => {
                tracing::warn!(error = %err, "skipping a stored ruleset");
                continue;
            }
        };
        if release.effective_from <= server_now {
            due_now = Some((next, release.version));
            break;
        }
        if pending.is_none_or(|p| release.effective_from < p.effective_from) {
            pending = Some(PendingRuleset {
                version: release.version,
                effective_from: release.effective_from,
            });
        }
    }
    // Whoever sees the new version in the status sees the pending one too.
    agent.sync_health.set_pending_ruleset(pending);
    if let Some((next, version)) = due_now {
        agent.rulesets.replace(next);
        tracing::info!(%version, "ruleset activated");
        agent.publish(TillEvent::RulesetActivated { version });
        let at = agent.clock.now();
        if let Err(err) = agent
            .db
            .call(move |conn| store::rulesets::mark_in_use(conn, version, at))
            .await
        {
            // In use all the same; after a restart the clock decides.
            tracing::warn!(error = %err, "could not record the ruleset in use");
        }
    }
    let pending = pending?;
    tracing::debug!(version = %pending.version, effective_from = %pending.effective_from, "ruleset pending");
    let until = (pending.effective_from - server_now)
        .to_std()
        .unwrap_or(Duration::ZERO);
    Some(until.min(MAX_ACTIVATION_SLEEP))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn empty(held_ms: u64) -> Result<Polled, PollError> {
        Ok(Polled::NothingNew(Duration::from_millis(held_ms)))
    }

    #[test]
    fn auto_falls_back_to_etag_polling_after_three_unheld_long_polls() {
        let wait = Duration::from_secs(25);
        let mut t = Transport::new(RulesetTransportSetting::Auto);
        assert_eq!(t.observe(&empty(100), wait), RulesetTransport::LongPoll);
        assert_eq!(t.observe(&empty(25_000), wait), RulesetTransport::LongPoll);
        assert_eq!(t.observe(&empty(100), wait), RulesetTransport::LongPoll);
        assert_eq!(t.observe(&empty(100), wait), RulesetTransport::LongPoll);
        assert_eq!(t.observe(&empty(100), wait), RulesetTransport::EtagPoll);
        for _ in 1..ETAG_SPELL {
            assert_eq!(t.observe(&empty(5), wait), RulesetTransport::EtagPoll);
        }
        assert_eq!(t.observe(&empty(5), wait), RulesetTransport::LongPoll);
    }

    #[test]
    fn short_waits_are_not_judged_and_forced_modes_stay() {
        let mut t = Transport::new(RulesetTransportSetting::Auto);
        for _ in 0..10 {
            assert_eq!(
                t.observe(&empty(10), Duration::from_secs(1)),
                RulesetTransport::LongPoll
            );
        }
        let mut forced = Transport::new(RulesetTransportSetting::LongPoll);
        for _ in 0..10 {
            assert_eq!(
                forced.observe(&empty(10), Duration::from_secs(25)),
                RulesetTransport::LongPoll
            );
        }
        let mut etag = Transport::new(RulesetTransportSetting::EtagPoll);
        for _ in 0..(ETAG_SPELL + 5) {
            assert_eq!(
                etag.observe(&empty(10), Duration::from_secs(25)),
                RulesetTransport::EtagPoll
            );
        }
    }

    #[test]
    fn gateway_errors_count_as_cut_long_polls() {
        let busy = |status| SyncError::Busy {
            status,
            retry_after: None,
            message: String::new(),
        };
        assert!(long_poll_cut(&busy(StatusCode::GATEWAY_TIMEOUT)));
        assert!(long_poll_cut(&busy(StatusCode::BAD_GATEWAY)));
        assert!(!long_poll_cut(&busy(StatusCode::SERVICE_UNAVAILABLE)));
        assert!(!long_poll_cut(&SyncError::Protocol("x".into())));
    }
}
