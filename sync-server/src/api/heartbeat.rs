//! `POST /api/v1/heartbeat`: a register says how it is (version, backlog,
//! dead letters, ruleset, alarms) every minute or so, so HQ's fleet view
//! shows its last contact even when it has nothing to upload. The reply
//! names the merchant's minimum agent version and whether this register is
//! below it, and the position of the server's key chain, so a register
//! behind it fetches `GET /api/v1/keys` while online.

use shared::wire::ErrorBody;

use axum::extract::State;
use shared::wire::sync::{Heartbeat, HeartbeatReply};

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
        (status = 200, description = "Noted; the minimum agent version HQ requires and whether this register is below it.", body = HeartbeatReply),
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
) -> Result<axum::Json<HeartbeatReply>, ApiError> {
    let mut reply = state
        .services
        .catalog
        .heartbeat(register.0.register_id, register.0.merchant_id, heartbeat)
        .await?;
    if reply.below_minimum {
        tracing::info!(
            minimum = ?reply.minimum_agent_version.as_ref().map(ToString::to_string),
            "the register is below the minimum agent version"
        );
    }
    reply.key_seq = state.key_chain.seq();
    Ok(axum::Json(reply))
}
