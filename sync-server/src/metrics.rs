//! Prometheus metrics at `GET /metrics` (OpenMetrics text), one registry per
//! server instance so that tests running several servers in one process
//! each see their own.
//!
//! Counters and histograms are updated where the work happens (the upload
//! handler, the admission door, the response layer); gauges that describe
//! the present (long-polls held, uploads in flight) are read at scrape
//! time. The route wants `Authorization: Bearer` with `metrics_token`, or
//! with the admin token when no metrics token is set: the figures are the
//! chain's business volumes.

use shared::wire::ErrorBody;

use axum::extract::{Request, State};
use axum::http::{HeaderValue, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;
use secrecy::ExposeSecret as _;

use crate::auth::{bearer, hash_secret, hashes_match};

use crate::error::ApiError;
use crate::state::AppState;

/// What became of an uploaded record.
#[derive(Clone, Copy, Debug, Hash, PartialEq, Eq)]
pub enum RecordOutcome {
    /// Stored for the first time.
    Stored,
    /// Already stored: a retry.
    Duplicate,
    /// Refused (bad signature, broken chain, bad sums, too large).
    Refused,
}

impl RecordOutcome {
    fn label(self) -> &'static str {
        match self {
            RecordOutcome::Stored => "stored",
            RecordOutcome::Duplicate => "duplicate",
            RecordOutcome::Refused => "refused",
        }
    }
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OutcomeLabel {
    outcome: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct PathLabel {
    /// `chain` or `each_record`.
    path: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ResponseLabels {
    /// `api`, `admin`, `web` or `other`: bounded, unlike paths.
    area: &'static str,
    /// `2xx` … `5xx`.
    class: &'static str,
}

/// The server's metrics.
pub struct Metrics {
    registry: Registry,
    records: Family<OutcomeLabel, Counter>,
    batches: Family<PathLabel, Counter>,
    audited: Family<OutcomeLabel, Counter>,
    batch_records: Histogram,
    verify_seconds: Histogram,
    store_seconds: Histogram,
    shed: Counter,
    responses: Family<ResponseLabels, Counter>,
    long_polls_held: Gauge,
    uploads_in_flight: Gauge,
    basket_queue: Gauge,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metrics").finish_non_exhaustive()
    }
}

impl Default for Metrics {
    fn default() -> Self {
        let mut registry = Registry::with_prefix("sync_server");
        let records = Family::<OutcomeLabel, Counter>::default();
        registry.register(
            "ingest_records",
            "Uploaded purchase records, by outcome",
            records.clone(),
        );
        let batches = Family::<PathLabel, Counter>::default();
        registry.register(
            "ingest_batches",
            "Upload batches, by how their records were authenticated (chain or each_record)",
            batches.clone(),
        );
        let audited = Family::<OutcomeLabel, Counter>::default();
        registry.register(
            "audit_records",
            "Stored records whose own signature the audit checked, by outcome (verified or failed)",
            audited.clone(),
        );
        let batch_records = Histogram::new(exponential_buckets(1.0, 2.0, 12));
        registry.register(
            "ingest_batch_records",
            "Records per upload batch",
            batch_records.clone(),
        );
        let verify_seconds = Histogram::new(exponential_buckets(0.000_1, 2.0, 16));
        registry.register(
            "ingest_verify_seconds",
            "Time to verify one batch's signatures and chain",
            verify_seconds.clone(),
        );
        let store_seconds = Histogram::new(exponential_buckets(0.000_1, 2.0, 16));
        registry.register(
            "ingest_store_seconds",
            "Time to store one verified batch (the write transaction)",
            store_seconds.clone(),
        );
        let shed = Counter::default();
        registry.register(
            "ingest_shed",
            "Uploads refused at the door with 429 overloaded",
            shed.clone(),
        );
        let responses = Family::<ResponseLabels, Counter>::default();
        registry.register(
            "http_responses",
            "Responses by area and status class",
            responses.clone(),
        );
        let long_polls_held = Gauge::default();
        registry.register(
            "long_polls_held",
            "Register long-polls waiting for a change now",
            long_polls_held.clone(),
        );
        let uploads_in_flight = Gauge::default();
        registry.register(
            "ingest_uploads_in_flight",
            "Upload batches being handled now",
            uploads_in_flight.clone(),
        );
        let basket_queue = Gauge::default();
        registry.register(
            "analytics_basket_queue",
            "Stored records whose line rows (products, baskets) are still to add",
            basket_queue.clone(),
        );
        Metrics {
            registry,
            records,
            batches,
            audited,
            batch_records,
            verify_seconds,
            store_seconds,
            shed,
            responses,
            long_polls_held,
            uploads_in_flight,
            basket_queue,
        }
    }
}

impl Metrics {
    /// `count` records of one upload ended as `outcome`.
    pub fn records(&self, outcome: RecordOutcome, count: u64) {
        self.records
            .get_or_create(&OutcomeLabel {
                outcome: outcome.label(),
            })
            .inc_by(count);
    }

    /// One batch was authenticated by its chain (`true`) or record by
    /// record.
    pub fn authenticated(&self, chain: bool) {
        let path = if chain { "chain" } else { "each_record" };
        self.batches.get_or_create(&PathLabel { path }).inc();
    }

    /// The audit checked `verified` records' own signatures and found
    /// `failed` that do not verify.
    pub fn audited(&self, verified: u64, failed: u64) {
        for (outcome, n) in [("verified", verified), ("failed", failed)] {
            self.audited
                .get_or_create(&OutcomeLabel { outcome })
                .inc_by(n);
        }
    }

    /// One batch of `records` arrived.
    pub fn batch(&self, records: usize) {
        self.batch_records.observe(records as f64);
    }

    /// One batch's verification took `elapsed`.
    pub fn verified(&self, elapsed: std::time::Duration) {
        self.verify_seconds.observe(elapsed.as_secs_f64());
    }

    /// One batch's write transaction took `elapsed`.
    pub fn stored(&self, elapsed: std::time::Duration) {
        self.store_seconds.observe(elapsed.as_secs_f64());
    }

    /// An upload was shed with 429.
    pub fn shed(&self) {
        self.shed.inc();
    }

    /// The area a request's `path` counts in: `admin`, `api`, `web` or
    /// `other`.
    pub(crate) fn area_of(path: &str) -> &'static str {
        if path.starts_with("/api/v1/admin") {
            "admin"
        } else if path.starts_with("/api/") {
            "api"
        } else if path.starts_with("/hq") || path.starts_with("/c/") || path.starts_with("/join") {
            "web"
        } else {
            "other"
        }
    }

    /// A reply of `status` in `area` ([`Metrics::area_of`]).
    pub(crate) fn response_in(&self, area: &'static str, status: u16) {
        let class = match status {
            100..=199 => "1xx",
            200..=299 => "2xx",
            300..=399 => "3xx",
            400..=499 => "4xx",
            _ => "5xx",
        };
        self.responses
            .get_or_create(&ResponseLabels { area, class })
            .inc();
    }

    /// The OpenMetrics text, with the present-tense gauges read now.
    fn render(
        &self,
        long_polls: usize,
        uploads: usize,
        basket_queue: Option<i64>,
    ) -> Result<String, std::fmt::Error> {
        if let Some(queued) = basket_queue {
            self.basket_queue.set(queued);
        }
        self.long_polls_held
            .set(i64::try_from(long_polls).unwrap_or(i64::MAX));
        self.uploads_in_flight
            .set(i64::try_from(uploads).unwrap_or(i64::MAX));
        let mut text = String::new();
        prometheus_client::encoding::text::encode(&mut text, &self.registry)?;
        Ok(text)
    }
}

/// `GET /metrics`.
#[utoipa::path(
    get,
    path = "/metrics",
    operation_id = "metrics",
    tag = "server",
    summary = "Prometheus metrics (text exposition format).",
    responses(
        (status = 200, description = "The metrics (OpenMetrics text).", content_type = "application/openmetrics-text", body = String),
        (status = 401, description = "No metrics token (the admin token when none is set), or a wrong one.", body = ErrorBody),
    ),
    security(("metrics_token" = [])),
)]
pub(crate) async fn scrape(State(state): State<AppState>) -> Result<Response, ApiError> {
    // A storage hiccup leaves the queue's gauge as last read, not the scrape failed.
    let basket_queue = match state.services.basket_queue.queued_sales().await {
        Ok(queued) => Some(queued),
        Err(e) => {
            tracing::warn!(error = %e, "reading the basket queue's length for /metrics failed");
            None
        }
    };
    let text = state
        .metrics
        .render(
            state.notifier.parked(),
            state.ingest_admission.in_flight(),
            basket_queue,
        )
        .map_err(|e| ApiError::internal(&e))?;
    let mut response = text.into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/openmetrics-text; version=1.0.0; charset=utf-8"),
    );
    Ok(response)
}

/// Lets `/metrics` through with the metrics token (or, without one, the
/// admin token).
pub(crate) async fn require_metrics_token(
    State(state): State<AppState>,
    request: Request,
    next: Next,
) -> Result<Response, ApiError> {
    let expected = hash_secret(match &state.settings.metrics_token {
        Some(token) => token.expose_secret(),
        None => state.settings.admin_token.expose_secret(),
    });
    match bearer(request.headers()) {
        Some(token) if hashes_match(&hash_secret(token), &expected) => Ok(next.run(request).await),
        _ => Err(ApiError::unauthorized(
            "unauthorized",
            "send `Authorization: Bearer <metrics_token>` (the admin token when none is set)",
        )),
    }
}
