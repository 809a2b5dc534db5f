//! `POST /api/v1/heartbeat`: a register says how it is (version, backlog,
//! dead letters, ruleset, alarms) every minute or so, so HQ's fleet view
//! shows its last contact even when it has nothing to upload.

use shared::wire::ErrorBody;

use axum::extract::State;
use axum::http::StatusCode;
use shared::wire::sync::Heartbeat;

use super::extract::Json;
use crate::auth::AuthenticatedRegister;
use crate::error::ApiError;
use crate::state::AppState;

#[utoipa::path(
    post,
    path = "/api/v1/heartbeat",
    tag = "sync",
    summary = "The register says how it is: version, backlog, dead letters, ruleset, alarms.",
    request_body = Heartbeat,
    responses(
        (status = 204, description = "Noted."),
        (status = 401, description = "Missing or wrong register credentials, or a revoked register.", body = ErrorBody),
        (status = 426, description = "A sync protocol version this server does not speak.", body = ErrorBody),
        (status = 400, description = "Malformed JSON.", body = ErrorBody),
        (status = 415, description = "The body is not `application/json`.", body = ErrorBody),
        (status = 422, description = "The body does not fit the schema or its content is invalid.", body = ErrorBody),
    ),
    security(("register" = [])),
)]
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
