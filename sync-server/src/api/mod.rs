//! The HTTP API: the routing table, with one module per resource.
//!
//! | route | who |
//! | --- | --- |
//! | `GET /health` | anyone |
//! | `/api/v1/admin/…` | the admin token, or a merchant's API key within its role (the guard, `crate::guard`, from the table in `crate::access`) |
//! | `GET /api/v1/protocol` | anyone (the protocol versions spoken) |
//! | `GET /api/v1/openapi.json` | anyone (the OpenAPI document of these routes, see `openapi`) |
//! | `POST /api/v1/registers/enroll` | a register, with a one-time token |
//! | `POST /api/v1/records`, `GET /api/v1/ruleset`, `GET /api/v1/customers/changes`, `POST /api/v1/leases` | an enrolled register |
//! | `/hq/…`, `/c/…`, `/join/…`, `/static/…` | browsers: the pages in `web` |
//!
//! Every `/api/v1` route outside the admin API is a register route: it
//! negotiates the sync protocol (see `protocol`) and marks its replies with
//! the version. Uploads also pass the ingest admission (see `admission`).

mod accounts;
mod adjustments;
pub(crate) use accounts::link_url;
pub(crate) use adjustments::audit_note as audit_note_of_adjustment;
pub(crate) use holds::audit_note as audit_note_of_hold;
mod admin;
mod analytics;
mod content;
mod customer_links;
mod customers;
mod drafts;
mod enroll;
mod extract;
mod fleet;
pub(crate) use fleet::{
    audit_note as audit_note_of_minimum_version, parse_minimum as parse_minimum_version,
};
mod health;
mod heartbeat;
mod holds;
mod keys;
mod leases;
mod openapi;
pub use openapi::openapi;
mod oversight;
mod protocol;
mod records;
mod rulesets;
mod sales;
mod segments;
mod stats;

use std::time::Duration;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::trace::{DefaultOnResponse, TraceLayer};

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::StatusCode;
use axum::middleware;
use axum::routing::{get, post};
use tokio::time::Instant;

use crate::admission::shed_ingest_load;
use crate::error::ApiError;
use crate::guard::guard;
use crate::layers::{CountResponsesLayer, JsonErrorsLayer, NegotiateProtocolLayer};
use crate::state::AppState;

/// The server's routes over `state`.
pub fn router(state: AppState) -> Router {
    let admin = Router::new()
        .route(
            "/merchants",
            post(admin::create_merchant).get(admin::list_merchants),
        )
        .route("/merchants/{id}/brands", post(admin::create_brand))
        .route(
            "/merchants/{id}/stores",
            post(admin::create_store).get(admin::list_stores),
        )
        .route(
            "/merchants/{id}/ruleset",
            get(admin::get_ruleset).put(admin::put_ruleset),
        )
        .route("/merchants/{id}/promotions", post(admin::post_promotion))
        .route(
            "/merchants/{id}/media",
            post(content::upload_media).layer(DefaultBodyLimit::max(crate::media::MAX_BYTES)),
        )
        .route(
            "/merchants/{id}/promotions/{promotion}/content",
            get(content::get_promotion_content).put(content::put_promotion_content),
        )
        .route("/merchants/{id}/registers", get(admin::list_registers))
        .route("/merchants/{id}/fleet", get(fleet::fleet))
        .route(
            "/merchants/{id}/fleet/minimum-version",
            get(fleet::get_minimum).put(fleet::put_minimum),
        )
        .route("/merchants/{id}/alerts", get(oversight::alerts))
        .route("/merchants/{id}/quarantine", get(oversight::quarantine))
        .route("/merchants/{id}/mismatches", get(oversight::mismatches))
        .route("/merchants/{id}/overdrafts", get(oversight::overdrafts))
        .route("/merchants/{id}/holds", get(holds::holds))
        .route(
            "/merchants/{id}/holds/{register}/{seq}",
            post(holds::resolve_hold),
        )
        .route("/merchants/{id}/leases", get(oversight::leases))
        .route(
            "/merchants/{id}/customers",
            post(customers::create_customer),
        )
        .route("/merchants/{id}/stats", get(stats::merchant_stats))
        .route("/merchants/{id}/invitations", post(accounts::invite))
        .route(
            "/merchants/{id}/password-resets",
            post(accounts::password_reset),
        )
        .route("/merchants/{id}/accounts", get(accounts::accounts))
        .route(
            "/merchants/{id}/api-keys",
            post(accounts::create_api_key).get(accounts::api_keys),
        )
        .route("/merchants/{id}/audit", get(accounts::audit))
        .route(
            "/merchants/{id}/segments",
            get(segments::list).post(segments::create),
        )
        .route("/merchants/{id}/segments/refresh", post(segments::refresh))
        .route(
            "/merchants/{id}/segments/{code}",
            axum::routing::delete(segments::delete),
        )
        .route(
            "/merchants/{id}/drafts",
            get(drafts::list_drafts).post(drafts::create_draft),
        )
        .route(
            "/merchants/{id}/drafts/{draft}",
            get(drafts::get_draft).delete(drafts::delete_draft),
        )
        .route(
            "/merchants/{id}/drafts/{draft}/what-if",
            post(drafts::draft_what_if),
        )
        .route(
            "/merchants/{id}/drafts/{draft}/publish",
            post(drafts::publish_draft),
        )
        .route("/merchants/{id}/analytics/{view}", get(analytics::view))
        .route(
            "/merchants/{id}/analytics/export/{table}",
            get(analytics::export_csv),
        )
        .route(
            "/stores/{id}/enrollment-tokens",
            post(admin::create_enrollment_token),
        )
        .route("/registers/{id}/revoke", post(admin::revoke_register))
        .route("/customer-feed", get(customers::feed_metrics))
        .route("/customers/{id}", get(customers::get_customer))
        .route("/customers/{id}/token", post(customers::issue_token))
        .route("/customers/{id}/link", post(customer_links::issue_link))
        .route("/customers/{id}/adjustments", post(adjustments::adjust))
        .route(
            "/customers/{id}/revoke-tokens",
            post(customers::revoke_tokens),
        )
        .route_layer(middleware::from_fn_with_state(state.clone(), guard));

    let registers = Router::new()
        .route("/registers/enroll", post(enroll::enroll))
        .route(
            "/records",
            post(records::upload)
                .layer(DefaultBodyLimit::max(state.settings.ingest.max_batch_bytes))
                .layer(middleware::from_fn_with_state(
                    state.clone(),
                    shed_ingest_load,
                )),
        )
        .route("/ruleset", get(rulesets::latest))
        .route("/customers/changes", get(customers::changes))
        .route("/sales", get(sales::sale_with_returns))
        .route("/protocol", get(protocol::protocol))
        .route("/heartbeat", post(heartbeat::heartbeat))
        .route("/keys", get(keys::chain))
        .route("/leases", post(leases::leases))
        .route_layer(NegotiateProtocolLayer::new(&state.settings.ingest));

    let metrics = state.metrics.clone();
    Router::new()
        .route("/health", get(health::health))
        .route(
            "/metrics",
            get(crate::metrics::scrape).route_layer(middleware::from_fn_with_state(
                state.clone(),
                crate::metrics::require_metrics_token,
            )),
        )
        .route("/api/v1/openapi.json", get(openapi::document))
        .nest("/api/v1/admin", admin)
        .nest("/api/v1", registers)
        .merge(crate::web::routes(&state))
        .fallback(no_such_route)
        .method_not_allowed_fallback(method_not_allowed)
        // One layer of plain services (see `layers`), outermost first:
        // every request is routed through one boxed service, not one per
        // middleware, and a waiting long-poll holds their futures unboxed.
        .layer(
            tower::ServiceBuilder::new()
                .layer(SetRequestIdLayer::x_request_id(MakeRequestUuid))
                .layer(
                    TraceLayer::new_for_http()
                        .make_span_with(request_span)
                        .on_request(())
                        .on_response(DefaultOnResponse::new().level(tracing::Level::INFO)),
                )
                .layer(PropagateRequestIdLayer::x_request_id())
                .layer(CountResponsesLayer(metrics))
                .layer(JsonErrorsLayer),
        )
        .with_state(state)
}

/// The access log's span of a request: method, path and request id. A
/// customer's page address and a one-time HQ link are secrets, so they are
/// never logged.
fn request_span(request: &axum::http::Request<axum::body::Body>) -> tracing::Span {
    let path = request.uri().path();
    let shown = if path.starts_with("/c/") {
        "/c/…"
    } else if path.starts_with("/hq/welcome/") {
        "/hq/welcome/…"
    } else {
        path
    };
    let id = request
        .headers()
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("-");
    tracing::info_span!("request", method = %request.method(), path = shown, request_id = id)
}

async fn no_such_route() -> ApiError {
    ApiError::not_found("no such route")
}

async fn method_not_allowed() -> ApiError {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        "this route does not accept that method",
    )
}

/// When a long-poll asking to `wait` seconds must answer: the request's
/// wait, capped by the configured maximum (which is also the default),
/// less up to a tenth at random, so thousands of registers that connected
/// together do not all come back in the same second.
fn long_poll_deadline(state: &AppState, wait: Option<u64>) -> Instant {
    let max = state.settings.longpoll.max_wait_secs;
    let wait = Duration::from_secs(wait.unwrap_or(max).min(max));
    Instant::now() + wait - jitter(wait / 10)
}

/// A duration in `0..=most`, at random (none without randomness).
fn jitter(most: Duration) -> Duration {
    use ring::rand::SecureRandom as _;
    let mut buf = [0u8; 8];
    let millis = u64::try_from(most.as_millis()).unwrap_or(u64::MAX);
    match ring::rand::SystemRandom::new().fill(&mut buf) {
        Ok(()) if millis > 0 => {
            Duration::from_millis(u64::from_le_bytes(buf) % millis.saturating_add(1))
        }
        _ => Duration::ZERO,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_polls_end_within_a_tenth_before_their_wait() {
        let most = Duration::from_secs(3);
        let draws: Vec<Duration> = (0..200).map(|_| jitter(most)).collect();
        assert!(draws.iter().all(|d| *d <= most));
        assert!(draws.iter().any(|d| *d != draws[0]), "it varies");
        assert_eq!(jitter(Duration::ZERO), Duration::ZERO);
    }
}
