//! The till's local HTTP API (JSON, amounts in kopecks), served only on the
//! listener the caller binds, normally loopback.
//!
//! | route | handler |
//! | --- | --- |
//! | `POST /v1/checks` | [`checks::open`] |
//! | `GET /v1/checks/{id}` | [`checks::get`] |
//! | `POST /v1/checks/{id}/lines` | [`checks::add_line`] |
//! | `DELETE /v1/checks/{id}/lines/{line_id}` | [`checks::remove_line`] |
//! | `PUT`, `DELETE /v1/checks/{id}/customer` | [`checks::attach_customer`], [`checks::detach_customer`] |
//! | `PUT`, `POST /v1/checks/{id}/coupons` | [`checks::set_coupons`], [`checks::add_coupon`] |
//! | `POST /v1/checks/{id}/redeem` | [`checks::redeem`] |
//! | `POST /v1/checks/{id}/price` | [`checks::price`] |
//! | `POST /v1/checks/{id}/commit` | [`checks::commit`] |
//! | `GET /v1/sales/{sale_id}` | [`checks::sale`] |
//! | `POST /v1/checks/{id}/cancel` | [`checks::cancel`] |
//! | `POST /v1/returns` | [`returns::create`] |
//! | `GET /v1/events` | [`events::stream`] |
//! | `GET /v1/status` | [`status::status`] |
//! | `GET /v1/scanners` | [`scanners::list`] |
//! | `GET /health` | [`status::health`] |
//! | `GET /metrics` | [`metrics::scrape`] (Prometheus) |
//! | `GET /v1/openapi.json` | [`openapi::document`]: the OpenAPI document of every route here |
//!
//! Every request passes the [`guard`] first: its `Host`, its `Origin`, the
//! till's token when required and the media type of its body.
//!
//! Every error is an [`ApiError`] with a JSON `ErrorBody`, including bodies
//! and paths that do not parse, unknown routes and methods, and whatever
//! else the framework refuses ([`crate::error::json_errors`]).

pub mod checks;
pub mod events;
pub mod guard;
pub mod metrics;
pub mod openapi;
pub mod returns;
pub mod scanners;
pub mod status;

use std::sync::Arc;

use axum::Router;
use axum::extract::{FromRequest, FromRequestParts};
use axum::routing::{delete, get, post, put};

use crate::agent::{Agent, Stop};
use crate::error::ApiError;
use crate::scanners::Scanners;

/// State shared by the handlers.
#[derive(Clone)]
pub struct ApiState {
    /// The agent.
    pub agent: Arc<Agent>,
    /// Ends event streams when the agent stops.
    pub stop: Stop,
    /// The scanner readers.
    pub scanners: Arc<Scanners>,
    /// Who may call.
    pub guard: Arc<guard::Guard>,
    /// The Prometheus metrics.
    pub metrics: Arc<metrics::AgentMetrics>,
}

/// `axum::Json` whose rejection is an [`ApiError`].
#[derive(FromRequest)]
#[from_request(via(axum::Json), rejection(ApiError))]
pub struct Json<T>(pub T);

impl<T: serde::Serialize> axum::response::IntoResponse for Json<T> {
    fn into_response(self) -> axum::response::Response {
        axum::Json(self.0).into_response()
    }
}

/// A JSON body that may be absent: an empty body is `T::default()`.
pub struct OptionalJson<T>(pub T);

impl<T, S> FromRequest<S> for OptionalJson<T>
where
    T: serde::de::DeserializeOwned + Default,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request(req: axum::extract::Request, state: &S) -> Result<Self, ApiError> {
        let bytes = axum::body::Bytes::from_request(req, state)
            .await
            .map_err(|e| ApiError::BadRequest {
                status: e.status(),
                message: e.body_text(),
            })?;
        if bytes.is_empty() {
            return Ok(Self(T::default()));
        }
        // The guard let a body through only as `application/json`.
        let axum::Json(value) = axum::Json::<T>::from_bytes(&bytes)?;
        Ok(Self(value))
    }
}

/// `axum::extract::Path` whose rejection is an [`ApiError`].
#[derive(FromRequestParts)]
#[from_request(via(axum::extract::Path), rejection(ApiError))]
pub struct Path<T>(pub T);

/// The router of the local API.
pub fn router(state: ApiState) -> Router {
    routes()
        .fallback(|| async { ApiError::NoRoute })
        .method_not_allowed_fallback(|| async { ApiError::MethodNotAllowed })
        .layer(axum::middleware::from_fn_with_state(
            Arc::clone(&state.guard),
            guard::guard,
        ))
        .layer(axum::middleware::from_fn(crate::error::json_errors))
        .with_state(state)
}

/// The routing table: every route of the local API (each documented in
/// [`openapi`]).
fn routes() -> Router<ApiState> {
    Router::new()
        .route("/v1/checks", post(checks::open))
        .route("/v1/checks/{id}", get(checks::get))
        .route("/v1/checks/{id}/lines", post(checks::add_line))
        .route(
            "/v1/checks/{id}/lines/{line_id}",
            delete(checks::remove_line),
        )
        .route(
            "/v1/checks/{id}/customer",
            put(checks::attach_customer).delete(checks::detach_customer),
        )
        .route(
            "/v1/checks/{id}/coupons",
            put(checks::set_coupons).post(checks::add_coupon),
        )
        .route("/v1/checks/{id}/redeem", post(checks::redeem))
        .route("/v1/checks/{id}/price", post(checks::price))
        .route("/v1/checks/{id}/commit", post(checks::commit))
        .route("/v1/checks/{id}/cancel", post(checks::cancel))
        .route("/v1/sales/{sale_id}", get(checks::sale))
        .route("/v1/returns", post(returns::create))
        .route("/v1/events", get(events::stream))
        .route("/v1/status", get(status::status))
        .route("/v1/scanners", get(scanners::list))
        .route("/health", get(status::health))
        .route("/metrics", get(metrics::scrape))
        .route("/v1/openapi.json", get(openapi::document))
}
