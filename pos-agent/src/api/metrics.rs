//! `GET /metrics`: the agent's Prometheus metrics (OpenMetrics text), behind
//! the same guard as the rest of the local API.
//!
//! The commit latency histogram is fed by the commit handler; everything
//! else (backlog, dead letters, alarms, the ruleset in use, each scanner's
//! state and counters) is read from the agent's status at scrape time, so
//! the figures are the ones `GET /v1/status` shows.

use shared::wire::ErrorBody;

use std::time::Duration;

use axum::extract::State;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;
use shared::wire::till::ScannerState;

use super::ApiState;
use crate::checks::CommitStages;
use crate::error::ApiError;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ScannerLabel {
    scanner: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct StageLabel {
    stage: &'static str,
}

/// A commit stage's histogram: 10 µs … 2.6 s.
fn stage_histogram() -> Histogram {
    Histogram::new(exponential_buckets(0.000_01, 2.0, 19))
}

/// The agent's metrics.
pub struct AgentMetrics {
    registry: Registry,
    commit_seconds: Histogram,
    commit_stage_seconds: Family<StageLabel, Histogram, fn() -> Histogram>,
    outbox_pending: Gauge,
    dead_letters: Gauge,
    alarms: Gauge,
    below_minimum_version: Gauge,
    server_reachable: Gauge,
    offline: Gauge,
    ruleset_version: Gauge,
    cached_customers: Gauge,
    uploaded_permille: Gauge,
    scanner_connected: Family<ScannerLabel, Gauge>,
    scanner_scans: Family<ScannerLabel, Counter>,
    scanner_errors: Family<ScannerLabel, Counter>,
}

impl std::fmt::Debug for AgentMetrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AgentMetrics").finish_non_exhaustive()
    }
}

fn gauge(registry: &mut Registry, name: &str, help: &str) -> Gauge {
    let gauge = Gauge::default();
    registry.register(name, help, gauge.clone());
    gauge
}

impl Default for AgentMetrics {
    fn default() -> Self {
        let mut registry = Registry::with_prefix("pos_agent");
        // 100 µs … 3.3 s: a commit is a price, a signature and an fsync.
        let commit_seconds = Histogram::new(exponential_buckets(0.000_1, 2.0, 16));
        registry.register(
            "commit_seconds",
            "Time from a commit request to its durable reply",
            commit_seconds.clone(),
        );
        let commit_stage_seconds: Family<StageLabel, Histogram, fn() -> Histogram> =
            Family::new_with_constructor(stage_histogram);
        registry.register(
            "commit_stage_seconds",
            "Where a commit's time went: priced (pricing and the record), queued (waiting for \
             the database thread), sealed (signing and encoding), written (the transaction's \
             statements), durable (the COMMIT and its fsyncs), after (the sale counted in the leases' book)",
            commit_stage_seconds.clone(),
        );
        let outbox_pending = gauge(
            &mut registry,
            "outbox_pending_records",
            "Committed records the server has not acknowledged",
        );
        let dead_letters = gauge(
            &mut registry,
            "dead_letters",
            "Records the server refused for good",
        );
        let alarms = gauge(&mut registry, "alarms", "Alarms shown on the till's banner");
        let below_minimum_version = gauge(
            &mut registry,
            "below_minimum_version",
            "1 when this agent is below the minimum version HQ requires",
        );
        let server_reachable = gauge(
            &mut registry,
            "server_reachable",
            "1 when the last contact with the server succeeded",
        );
        let offline = gauge(
            &mut registry,
            "offline",
            "1 when the register counts as offline (offline caps apply)",
        );
        let ruleset_version = gauge(
            &mut registry,
            "ruleset_version",
            "The ruleset version prices are made with (0: none yet)",
        );
        let cached_customers = gauge(
            &mut registry,
            "cached_customers",
            "Customers in the register's cache",
        );
        let uploaded_permille = gauge(
            &mut registry,
            "uploaded_permille",
            "Thousandths of the committed records the server acknowledged",
        );
        let scanner_connected = Family::<ScannerLabel, Gauge>::default();
        registry.register(
            "scanner_connected",
            "1 when the scanner is open and reading",
            scanner_connected.clone(),
        );
        let scanner_scans = Family::<ScannerLabel, Counter>::default();
        registry.register(
            "scanner_scans",
            "Scans delivered since the agent started",
            scanner_scans.clone(),
        );
        let scanner_errors = Family::<ScannerLabel, Counter>::default();
        registry.register(
            "scanner_errors",
            "Open and read failures since the agent started",
            scanner_errors.clone(),
        );
        AgentMetrics {
            registry,
            commit_seconds,
            commit_stage_seconds,
            outbox_pending,
            dead_letters,
            alarms,
            below_minimum_version,
            server_reachable,
            offline,
            ruleset_version,
            cached_customers,
            uploaded_permille,
            scanner_connected,
            scanner_scans,
            scanner_errors,
        }
    }
}

impl AgentMetrics {
    /// A commit answered after `elapsed`; a new one (not a replay) also
    /// says where its time went.
    pub fn committed(&self, elapsed: Duration, stages: Option<&CommitStages>) {
        self.commit_seconds.observe(elapsed.as_secs_f64());
        let Some(stages) = stages else {
            return;
        };
        for (stage, took) in [
            ("priced", stages.priced),
            ("queued", stages.queued),
            ("sealed", stages.transaction.sealed),
            ("written", stages.transaction.written),
            ("durable", stages.transaction.durable),
            ("after", stages.after),
        ] {
            self.commit_stage_seconds
                .get_or_create(&StageLabel { stage })
                .observe(took.as_secs_f64());
        }
    }
}

fn to_i64<T: TryInto<i64>>(value: T) -> i64 {
    value.try_into().unwrap_or(i64::MAX)
}

/// `GET /metrics`.
#[utoipa::path(
    get,
    path = "/metrics",
    operation_id = "metrics",
    tag = "agent",
    summary = "Prometheus metrics (OpenMetrics text).",
    responses(
        (status = 200, description = "The metrics.", content_type = "application/openmetrics-text", body = String),
        (status = 401, description = "The till's token is required and was missing or wrong.", body = ErrorBody),
        (status = 403, description = "The `Host` or `Origin` is not allowed.", body = ErrorBody),
    ),
)]
pub async fn scrape(State(s): State<ApiState>) -> Result<Response, ApiError> {
    let status = s.agent.status().await?;
    let m = &s.metrics;
    m.outbox_pending.set(status.outbox_pending);
    m.dead_letters.set(to_i64(status.sync.dead_letters.len()));
    m.alarms.set(to_i64(status.sync.alarms.len()));
    m.below_minimum_version
        .set(i64::from(status.sync.required_agent_version.is_some()));
    m.server_reachable.set(i64::from(status.server_reachable));
    m.offline.set(i64::from(status.sync.offline));
    m.ruleset_version
        .set(status.ruleset_version.map_or(0, |v| v.get()));
    m.cached_customers.set(status.cached_customers);
    m.uploaded_permille
        .set(i64::from(status.sync.uploaded_permille));
    for view in s.scanners.views() {
        let label = ScannerLabel { scanner: view.name };
        m.scanner_connected
            .get_or_create(&label)
            .set(i64::from(view.state == ScannerState::Connected));
        // Counters only go up: bring each to the scanner's own count.
        let scans = m.scanner_scans.get_or_create(&label);
        scans.inc_by(view.scans.saturating_sub(scans.get()));
        let errors = m.scanner_errors.get_or_create(&label);
        errors.inc_by(view.errors.saturating_sub(errors.get()));
    }
    let mut text = String::new();
    prometheus_client::encoding::text::encode(&mut text, &m.registry).map_err(|e| {
        tracing::error!(error = %e, "cannot encode the metrics");
        ApiError::Internal
    })?;
    let mut response = text.into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/openmetrics-text; version=1.0.0; charset=utf-8"),
    );
    Ok(response)
}
