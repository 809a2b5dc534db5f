//! `GET /v1/status` and `GET /health`.

use axum::extract::State;
use shared::wire::till::AgentStatus;

use super::{ApiState, Json};
use crate::error::ApiError;

/// Register, ruleset in use, outbox backlog and server reachability.
pub async fn status(State(s): State<ApiState>) -> Result<Json<AgentStatus>, ApiError> {
    Ok(Json(s.agent.status().await?))
}

/// Liveness: the agent answers.
pub async fn health() -> &'static str {
    "ok"
}
