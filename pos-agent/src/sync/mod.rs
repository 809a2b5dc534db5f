//! Background sync with the server. Nothing here ever blocks a checkout:
//! checks commit locally and these tasks catch up whenever the server is
//! reachable.
//!
//! - [`upload`]: sends the outbox in seq order and records the acks.
//! - [`rulesets`]: long-polls for newer signed rulesets and activates them.
//! - [`customers`]: long-polls the customer change feed into the cache.
//! - [`backoff`]: retry delays with full jitter.
//!
//! Every request carries `Authorization: Bearer <register_id>.<secret>` and
//! the protocol header. Failures are retried: transport errors and
//! 429/5xx with exponential backoff (honouring `Retry-After`), other
//! refusals at the longest delay, since only a person can fix them.

pub mod backoff;
pub mod customers;
pub mod rulesets;
pub mod upload;

use std::sync::Arc;
use std::time::Duration;

use reqwest::header::{AUTHORIZATION, HeaderMap, HeaderValue, RETRY_AFTER};
use reqwest::{RequestBuilder, Response, StatusCode};
use secrecy::ExposeSecret;
use shared::wire::{ErrorBody, PROTOCOL_HEADER, PROTOCOL_VERSION};
use tokio::task::JoinSet;

use self::backoff::Backoff;
use crate::agent::{Agent, Stop};
use crate::config::SyncConfig;
use crate::store::StoreError;

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
    /// The server sheds load or failed (429, 5xx).
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
    #[error("the server refused the request ({status}): {}", body.message)]
    Refused {
        /// The status.
        status: StatusCode,
        /// Its error body.
        body: ErrorBody,
    },
    /// The reply does not parse.
    #[error("unexpected reply from the server: {0}")]
    Protocol(String),
    /// The local database failed.
    #[error(transparent)]
    Store(#[from] StoreError),
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
            SyncError::Refused { .. } | SyncError::Store(_) => backoff.max(),
        }
    }

    /// Records the failure for the status page and the log.
    fn report(&self, agent: &Agent, task: &'static str) {
        match self {
            SyncError::Store(err) => tracing::error!(task, error = %err, "sync: database failure"),
            SyncError::Refused { .. } => {
                tracing::error!(task, error = %self, "sync: request refused");
                agent.sync_health.failed(true, self.to_string());
            }
            other => {
                tracing::warn!(task, error = %other, "sync: server unavailable");
                let reached = !matches!(other, SyncError::Transport(_));
                agent.sync_health.failed(reached, other.to_string());
            }
        }
    }
}

/// An HTTP client for one register's sync API.
#[derive(Debug)]
pub struct SyncClient {
    http: reqwest::Client,
    base: String,
}

impl SyncClient {
    /// A client with the register's credentials.
    pub fn new(config: &SyncConfig) -> Result<Self, SyncError> {
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
        let http = reqwest::Client::builder()
            .default_headers(headers)
            .user_agent(concat!("pos-agent/", env!("CARGO_PKG_VERSION")))
            .connect_timeout(CONNECT_TIMEOUT)
            .timeout(REQUEST_TIMEOUT)
            .build()?;
        Ok(Self {
            http,
            base: config.url.trim_end_matches('/').to_owned(),
        })
    }

    fn get(&self, path: &str) -> RequestBuilder {
        self.http.get(format!("{}{path}", self.base))
    }

    fn post(&self, path: &str) -> RequestBuilder {
        self.http.post(format!("{}{path}", self.base))
    }

    /// Sends the request; a non-2xx reply becomes a [`SyncError`].
    async fn send(request: RequestBuilder) -> Result<Response, SyncError> {
        let response = request.send().await?;
        let status = response.status();
        if status.is_success() {
            return Ok(response);
        }
        let retry_after = response
            .headers()
            .get(RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok())
            .map(Duration::from_secs);
        let text = response.text().await.unwrap_or_default();
        let body = serde_json::from_str::<ErrorBody>(&text).unwrap_or_else(|_| ErrorBody {
            error: "http".into(),
            message: text.chars().take(200).collect(),
            expected_seq: None,
            faults: Vec::new(),
        });
        if status == StatusCode::TOO_MANY_REQUESTS || status.is_server_error() {
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
}

/// Starts the sync tasks in `tasks`; they end when `stop` fires.
pub fn spawn(agent: &Arc<Agent>, stop: &Stop, tasks: &mut JoinSet<()>) -> Result<(), SyncError> {
    let client = Arc::new(SyncClient::new(&agent.config.sync)?);
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
