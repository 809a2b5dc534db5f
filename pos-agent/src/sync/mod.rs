//! Background sync with the server. Nothing here ever blocks a checkout:
//! checks commit locally and these tasks catch up whenever the server is
//! reachable.
//!
//! - [`upload`]: sends the outbox in seq order, records the acks, files
//!   dead letters and prunes acknowledged records.
//! - [`rulesets`]: fetches newer signed rulesets (long-poll, or ETag
//!   polling) and activates each at its `effective_from`.
//! - [`customers`]: long-polls the customer change feed into the cache.
//! - [`keys`]: follows the server's signing key through verified
//!   endorsements.
//! - [`leases`]: renews the till's quota leases of promotions' global
//!   limits.
//! - [`backoff`]: retry delays with full jitter.
//! - [`drift`]: the estimate of the server's clock.
//! - [`monitor`]: what the tasks know now, for the status page.
//! - [`status`]: the sync part of `GET /v1/status` and `pos-agent status`.
//!
//! Every request carries `Authorization: Bearer <register_id>.<secret>` and
//! the protocol header. Failures are retried: transport errors, 408, 429
//! and 5xx with exponential backoff and full jitter (honouring
//! `Retry-After`); refusals that only a person can fix at the longest
//! delay. A server that speaks another protocol version (426, or a reply
//! marked with another version) is never parsed: uploads stop and the
//! status says which side is too old.

pub mod backoff;
pub mod customers;
pub mod drift;
mod heartbeat;
pub mod keys;
pub mod leases;
pub mod monitor;
pub mod rulesets;
pub mod sales;
pub mod status;
pub mod upload;

use std::sync::Arc;
use std::time::Duration;

use reqwest::header::{AUTHORIZATION, DATE, HeaderMap, HeaderValue, RETRY_AFTER};
use reqwest::{RequestBuilder, Response, StatusCode};
use secrecy::ExposeSecret;
use shared::wire::{ErrorBody, FEATURES_HEADER, PROTOCOL_HEADER, PROTOCOL_VERSION};
use tokio::task::JoinSet;

use self::backoff::Backoff;
use self::drift::ClockOffset;
use self::monitor::SyncMonitor;
use crate::agent::{Agent, Stop};
use crate::clock::Clock;
use crate::config::SyncConfig;
use crate::store::StoreError;
use crate::store::sync_state::{self, ErrorRecord};

const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// How long an ordinary request may take.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
/// How much longer than the requested wait a long-poll may take.
const LONGPOLL_MARGIN: Duration = Duration::from_secs(10);
/// The longest `Retry-After` honoured, against a misconfigured server.
const MAX_RETRY_AFTER: Duration = Duration::from_secs(3600);
/// The shortest cycle of a long-poll loop, should a server answer at once.
const MIN_POLL_INTERVAL: Duration = Duration::from_millis(500);

/// Why an exchange with the server failed.
#[derive(Debug, thiserror::Error)]
pub enum SyncError {
    /// The server could not be reached or the exchange broke off.
    #[error("cannot reach the server: {0}")]
    Transport(#[from] reqwest::Error),
    /// The server sheds load or failed (408, 429, 5xx).
    #[error("the server is unavailable ({status}): {message}")]
    Busy {
        /// The status.
        status: StatusCode,
        /// How long the server asked us to wait.
        retry_after: Option<Duration>,
        /// Its message, if any.
        message: String,
    },
    /// The server refused the request (4xx).
    #[error("the server refused the request ({status} {}): {}", body.error, body.message)]
    Refused {
        /// The status.
        status: StatusCode,
        /// Its error body.
        body: ErrorBody,
    },
    /// The server does not speak this agent's protocol version.
    #[error("protocol mismatch: {0}")]
    Incompatible(String),
    /// The reply does not parse or contradicts the protocol.
    #[error("unexpected reply from the server: {0}")]
    Protocol(String),
    /// The local database failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// `sync.ca_cert` cannot be used.
    #[error("sync.ca_cert: {0}")]
    CaCert(String),
    /// The server's key chain was refused (forged, tampered, replayed).
    #[error("key chain refused: {0}")]
    Keys(#[from] shared::keys::EndorsementError),
}

impl SyncError {
    /// How long to wait before retrying after this error.
    fn retry_delay(&self, backoff: &mut Backoff) -> Duration {
        match self {
            SyncError::Busy {
                retry_after: Some(after),
                ..
            } => {
                // Still a failure: the next one without a hint waits longer.
                backoff.next_ceiling();
                (*after).min(MAX_RETRY_AFTER)
            }
            SyncError::Transport(_) | SyncError::Busy { .. } | SyncError::Protocol(_) => {
                backoff.next_delay()
            }
            SyncError::Refused { .. }
            | SyncError::Incompatible(_)
            | SyncError::Store(_)
            | SyncError::CaCert(_)
            | SyncError::Keys(_) => backoff.max(),
        }
    }

    /// Whether the server answered at all.
    fn reached_server(&self) -> bool {
        !matches!(
            self,
            SyncError::Transport(_) | SyncError::Store(_) | SyncError::CaCert(_)
        )
    }

    /// Records the failure for the status page and the log.
    fn report(&self, agent: &Agent, task: &'static str) {
        match self {
            SyncError::Store(err) => {
                tracing::error!(task, error = %err, "sync: database failure");
            }
            SyncError::Refused { .. } | SyncError::Incompatible(_) => {
                tracing::error!(task, error = %self, "sync: request refused");
                agent.sync_health.failed(true, self.to_string());
            }
            other => {
                tracing::warn!(task, error = %other, "sync: server unavailable");
                agent
                    .sync_health
                    .failed(other.reached_server(), other.to_string());
            }
        }
    }
}

/// Writes a sync error to the database for `pos-agent status`; a database
/// that cannot take it (a full disk) only costs the record.
async fn persist_error(agent: &Agent, error: String, blocked: Option<String>, reached: bool) {
    let at = agent.clock.now();
    let stored = agent
        .db
        .call(move |conn| {
            sync_state::record_error(
                conn,
                &ErrorRecord {
                    at,
                    error: &error,
                    blocked: blocked.as_deref(),
                    reached_server: reached,
                },
            )
        })
        .await;
    if let Err(err) = stored {
        tracing::debug!(error = %err, "could not record the sync error");
    }
}

/// An HTTP client for one register's sync API. It notes the server's
/// `Date` on every reply as a clock measurement.
pub struct SyncClient {
    http: reqwest::Client,
    /// The server's URL and the others it may fail over to, in order.
    bases: Arc<[String]>,
    /// Which of `bases` requests go to now.
    current: Arc<std::sync::atomic::AtomicUsize>,
    clock: Arc<dyn Clock>,
    monitor: Arc<SyncMonitor>,
}

impl std::fmt::Debug for SyncClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SyncClient")
            .field("base", &self.base())
            .finish_non_exhaustive()
    }
}

/// `GET /api/v1/protocol`, as far as the agent reads it.
#[derive(Debug, serde::Deserialize)]
struct ProtocolInfo {
    versions: Vec<u32>,
}

impl SyncClient {
    /// A client with the register's credentials.
    pub fn new(
        config: &SyncConfig,
        clock: Arc<dyn Clock>,
        monitor: Arc<SyncMonitor>,
    ) -> Result<Self, SyncError> {
        let mut auth = HeaderValue::try_from(format!(
            "Bearer {}.{}",
            config.register_id,
            config.secret.expose_secret()
        ))
        .map_err(|_| SyncError::Protocol("the register secret is not valid in a header".into()))?;
        auth.set_sensitive(true);
        let mut headers = HeaderMap::new();
        headers.insert(AUTHORIZATION, auth);
        headers.insert(PROTOCOL_HEADER, HeaderValue::from(PROTOCOL_VERSION));
        let http = config
            .http_builder()
            .map_err(SyncError::CaCert)?
            .default_headers(headers)
            .user_agent(concat!("pos-agent/", env!("CARGO_PKG_VERSION")))
            .connect_timeout(CONNECT_TIMEOUT)
            .timeout(REQUEST_TIMEOUT)
            .build()?;
        let bases: Vec<String> = config
            .server_urls()
            .map(|url| url.trim_end_matches('/').to_owned())
            .collect();
        Ok(Self {
            http,
            bases: bases.into(),
            current: Arc::default(),
            clock,
            monitor,
        })
    }

    /// The server requests go to now.
    fn base(&self) -> &str {
        let at = self.current.load(std::sync::atomic::Ordering::Relaxed);
        &self.bases[at % self.bases.len()]
    }

    /// Moves on to the next server URL, if the register has more than one:
    /// the one in use did not answer, or answered that it is unwell.
    fn fail_over(&self, why: &str) {
        if self.bases.len() < 2 {
            return;
        }
        let from = self.base().to_owned();
        self.current
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        tracing::warn!(from = %from, to = %self.base(), reason = why,
            "sync: failing over to the next server");
    }

    fn get(&self, path: &str) -> RequestBuilder {
        self.http.get(format!("{}{path}", self.base()))
    }

    fn post(&self, path: &str) -> RequestBuilder {
        self.http.post(format!("{}{path}", self.base()))
    }

    /// Sends the request; a non-2xx reply becomes a [`SyncError`], and so
    /// does a reply in another protocol version.
    async fn send(&self, request: RequestBuilder) -> Result<Response, SyncError> {
        let response = match request.send().await {
            Ok(response) => response,
            Err(e) => {
                // No answer (refused, reset, timed out): the next request
                // goes to the next server, if there is one. A long-poll that
                // simply ran its course answers, so it never lands here.
                if e.is_connect() || e.is_timeout() || e.is_request() {
                    self.fail_over("no answer");
                }
                return Err(e.into());
            }
        };
        let received = self.clock.now();
        self.monitor.contacted(received);
        if let Some(measured) = response
            .headers()
            .get(DATE)
            .and_then(|v| v.to_str().ok())
            .and_then(|date| ClockOffset::from_date_header(received, date))
        {
            self.monitor.observe_clock(measured);
        }
        if let Some(features) = response
            .headers()
            .get(FEATURES_HEADER)
            .and_then(|v| v.to_str().ok())
        {
            self.monitor.observe_features(features);
        }
        let status = response.status();
        let answered_in = response
            .headers()
            .get(PROTOCOL_HEADER)
            .and_then(|v| v.to_str().ok())
            .map(|v| v.trim().parse::<u32>());
        if status.is_success() || status == StatusCode::NOT_MODIFIED {
            return match answered_in {
                None | Some(Ok(PROTOCOL_VERSION)) => Ok(response),
                Some(other) => Err(SyncError::Incompatible(format!(
                    "the server answered in sync protocol version {}, this agent speaks {PROTOCOL_VERSION}",
                    other.map_or_else(|_| "?".to_owned(), |v| v.to_string())
                ))),
            };
        }
        let retry_after = response
            .headers()
            .get(RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| parse_retry_after(v, received));
        let text = response.text().await.unwrap_or_default();
        let body = serde_json::from_str::<ErrorBody>(&text).unwrap_or_else(|_| ErrorBody {
            error: "http".into(),
            message: text.chars().take(200).collect(),
            expected_seq: None,
            faults: Vec::new(),
        });
        if status == StatusCode::UPGRADE_REQUIRED {
            return Err(SyncError::Incompatible(body.message));
        }
        if matches!(
            status,
            StatusCode::BAD_GATEWAY | StatusCode::SERVICE_UNAVAILABLE | StatusCode::GATEWAY_TIMEOUT
        ) {
            self.fail_over(status.as_str());
        }
        if status == StatusCode::TOO_MANY_REQUESTS
            || status == StatusCode::REQUEST_TIMEOUT
            || status.is_server_error()
        {
            Err(SyncError::Busy {
                status,
                retry_after,
                message: body.message,
            })
        } else {
            Err(SyncError::Refused { status, body })
        }
    }

    /// A long-poll request with a timeout beyond the wait it asks for.
    fn long_poll(&self, path: &str, wait: Duration) -> RequestBuilder {
        self.get(path).timeout(wait + LONGPOLL_MARGIN)
    }

    /// The protocol versions the server speaks (`GET /api/v1/protocol`).
    async fn server_versions(&self) -> Result<Vec<u32>, SyncError> {
        let response = self.http.get(format!("{}/api/v1/protocol", self.base()));
        let reply = response.send().await?;
        if !reply.status().is_success() {
            return Err(SyncError::Protocol(format!(
                "GET /api/v1/protocol answered {}",
                reply.status()
            )));
        }
        let info: ProtocolInfo = reply
            .json()
            .await
            .map_err(|e| SyncError::Protocol(e.to_string()))?;
        Ok(info.versions)
    }

    /// Says which side is too old, asking the server which versions it
    /// speaks; `refusal` is the server's own message.
    async fn describe_incompatibility(&self, refusal: &str) -> String {
        match self.server_versions().await {
            Ok(versions) => explain_versions(&versions, refusal),
            Err(err) => format!(
                "the server refused sync protocol version {PROTOCOL_VERSION}: {refusal} \
                 (its versions are unknown: {err})"
            ),
        }
    }

    /// Whether the server now speaks this agent's protocol version.
    async fn speaks_our_protocol(&self) -> Result<bool, SyncError> {
        Ok(self.server_versions().await?.contains(&PROTOCOL_VERSION))
    }
}

/// The status line for a protocol mismatch.
fn explain_versions(versions: &[u32], refusal: &str) -> String {
    let listed = versions
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(", ");
    if versions.contains(&PROTOCOL_VERSION) {
        format!(
            "the server refused sync protocol version {PROTOCOL_VERSION} although it lists it \
             ({listed}): {refusal}"
        )
    } else if versions.iter().all(|&v| v > PROTOCOL_VERSION) {
        format!(
            "agent too old for server: the server speaks sync protocol version(s) {listed}, \
             this agent speaks {PROTOCOL_VERSION}; upgrade pos-agent. Sales go on and stay \
             in the outbox."
        )
    } else {
        format!(
            "server too old for agent: the server speaks sync protocol version(s) {listed}, \
             this agent speaks {PROTOCOL_VERSION}; upgrade the server. Sales go on and stay \
             in the outbox."
        )
    }
}

/// `Retry-After` as seconds or an HTTP date.
fn parse_retry_after(value: &str, now: chrono::DateTime<chrono::Utc>) -> Option<Duration> {
    let value = value.trim();
    if let Ok(secs) = value.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let at = chrono::DateTime::parse_from_rfc2822(value).ok()?;
    (at.with_timezone(&chrono::Utc) - now).to_std().ok()
}

/// Starts the sync tasks in `tasks`; they end when `stop` fires.
pub fn spawn(agent: &Arc<Agent>, stop: &Stop, tasks: &mut JoinSet<()>) -> Result<(), SyncError> {
    let client = Arc::new(SyncClient::new(
        &agent.config.sync,
        Arc::clone(&agent.clock),
        Arc::clone(&agent.sync_health),
    )?);
    let _ = agent.sync_client.set(Arc::clone(&client));
    tasks.spawn(upload::run(
        Arc::clone(agent),
        Arc::clone(&client),
        stop.clone(),
    ));
    tasks.spawn(rulesets::run(
        Arc::clone(agent),
        Arc::clone(&client),
        stop.clone(),
    ));
    tasks.spawn(heartbeat::run(
        Arc::clone(agent),
        Arc::clone(&client),
        stop.clone(),
    ));
    tasks.spawn(leases::run(
        Arc::clone(agent),
        Arc::clone(&client),
        stop.clone(),
    ));
    tasks.spawn(customers::run(Arc::clone(agent), client, stop.clone()));
    Ok(())
}

/// Sleeps for `delay` unless stopping is requested first; returns whether
/// to go on.
async fn pause(delay: Duration, stop: &Stop) -> bool {
    tokio::select! {
        () = tokio::time::sleep(delay) => true,
        () = stop.requested() => false,
    }
}

fn backoff_for(config: &SyncConfig) -> Backoff {
    Backoff::new(
        Duration::from_millis(config.backoff_initial_ms),
        Duration::from_millis(config.backoff_max_ms),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_mismatch_names_the_side_that_is_too_old() {
        let newer = explain_versions(&[PROTOCOL_VERSION + 1], "426");
        assert!(newer.starts_with("agent too old for server"), "{newer}");
        let older = explain_versions(&[0], "426");
        assert!(older.starts_with("server too old for agent"), "{older}");
    }

    #[test]
    fn retry_after_is_seconds_or_a_date() {
        let now = chrono::DateTime::parse_from_rfc3339("2026-03-01T10:00:00Z")
            .unwrap()
            .with_timezone(&chrono::Utc);
        assert_eq!(parse_retry_after(" 3 ", now), Some(Duration::from_secs(3)));
        assert_eq!(
            parse_retry_after("Sun, 01 Mar 2026 10:00:07 GMT", now),
            Some(Duration::from_secs(7))
        );
        assert_eq!(
            parse_retry_after("Sun, 01 Mar 2026 09:00:00 GMT", now),
            None
        );
        assert_eq!(parse_retry_after("soon", now), None);
    }
}
