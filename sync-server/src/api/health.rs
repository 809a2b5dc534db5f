//! `GET /health`: the server is up and its database answers.

use shared::wire::ErrorBody;

use axum::extract::State;
use axum::http::StatusCode;
use serde::Serialize;

use super::extract::Json;
use crate::error::ApiError;
use crate::state::AppState;

/// The health reply.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Health {
    /// Always `ok` when the reply is 200.
    status: &'static str,
    /// The server's version.
    version: &'static str,
}

#[utoipa::path(
    get,
    path = "/health",
    tag = "server",
    summary = "Liveness: the server is up and its database answers.",
    responses(
        (status = 200, description = "Up.", body = Health),
        (status = 503, description = "The database does not answer.", body = ErrorBody),
    ),
    security(()),
)]
pub(crate) async fn health(State(state): State<AppState>) -> Result<Json<Health>, ApiError> {
    if let Err(e) = state.db.ping().await {
        tracing::error!(error = %e, "health check: the database does not answer");
        return Err(ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "unavailable",
            "the database does not answer",
        ));
    }
    Ok(Json(Health {
        status: "ok",
        version: env!("CARGO_PKG_VERSION"),
    }))
}
