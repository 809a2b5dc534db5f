//! `GET /v1/status` and `GET /health`.

use shared::wire::ErrorBody;

use axum::extract::State;
use shared::wire::till::AgentStatus;

use super::{ApiState, Json};
use crate::error::ApiError;

/// Register, ruleset in use, outbox backlog and server reachability.
#[utoipa::path(
    get,
    path = "/v1/status",
    operation_id = "status",
    tag = "agent",
    summary = "The register, the ruleset in use, the outbox backlog, sync health and alarms.",
    responses(
        (status = 200, description = "The status.", body = AgentStatus),
        (status = 503, description = "The register's disk fails: finish the sale without loyalty.", body = ErrorBody),
        (status = 507, description = "The register's disk is full: finish the sale without loyalty.", body = ErrorBody),
        (status = 401, description = "The till's token is required and was missing or wrong.", body = ErrorBody),
        (status = 403, description = "The `Host` or `Origin` is not allowed.", body = ErrorBody),
    ),
)]
pub async fn status(State(s): State<ApiState>) -> Result<Json<AgentStatus>, ApiError> {
    Ok(Json(s.agent.status().await?))
}

/// Liveness: the agent answers.
#[utoipa::path(
    get,
    path = "/health",
    operation_id = "health",
    tag = "agent",
    summary = "Liveness: the agent answers (open without the till's token).",
    responses(
        (status = 200, description = "Up.", content_type = "text/plain", body = String),
        (status = 403, description = "The `Host` or `Origin` is not allowed.", body = ErrorBody),
    ),
    security(()),
)]
pub async fn health() -> &'static str {
    "ok"
}
