//! `POST /api/v1/heartbeat`: a register says how it is (version, backlog,
//! dead letters, ruleset, alarms) every minute or so, so HQ's fleet view
//! shows its last contact even when it has nothing to upload.

use axum::extract::State;
use axum::http::StatusCode;
use shared::wire::sync::Heartbeat;

use super::extract::Json;
use crate::auth::AuthenticatedRegister;
use crate::error::ApiError;
use crate::state::AppState;

#[tracing::instrument(skip_all, fields(register_id = %register.0.register_id))]
pub(crate) async fn heartbeat(
    State(state): State<AppState>,
    register: AuthenticatedRegister,
    Json(heartbeat): Json<Heartbeat>,
) -> Result<StatusCode, ApiError> {
    state
        .services
        .catalog
        .heartbeat(register.0.register_id, heartbeat)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}
