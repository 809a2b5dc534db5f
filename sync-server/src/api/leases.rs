//! `POST /api/v1/leases`: a register's shares of the promotions with
//! global limits, renewed at every sync (see `services::leases`).

use shared::wire::ErrorBody;

use axum::extract::State;
use shared::wire::sync::{LeaseGrant, LeaseRequest};

use super::extract::Json;
use crate::auth::AuthenticatedRegister;
use crate::error::ApiError;
use crate::state::AppState;

#[utoipa::path(
    post,
    path = "/api/v1/leases",
    operation_id = "renew_leases",
    tag = "sync",
    summary = "The register's shares of the promotions with global limits.",
    request_body = LeaseRequest,
    responses(
        (status = 200, description = "The leases.", body = LeaseGrant),
        (status = 401, description = "Missing or wrong register credentials, or a revoked register.", body = ErrorBody),
        (status = 426, description = "A sync protocol version this server does not speak.", body = ErrorBody),
        (status = 400, description = "Malformed JSON.", body = ErrorBody),
        (status = 415, description = "The body is not `application/json`.", body = ErrorBody),
        (status = 422, description = "The body does not fit the schema or its content is invalid.", body = ErrorBody),
    ),
    security(("register" = [])),
)]
#[tracing::instrument(skip_all, fields(register_id = %register.0.register_id))]
pub(crate) async fn leases(
    State(state): State<AppState>,
    register: AuthenticatedRegister,
    Json(request): Json<LeaseRequest>,
) -> Result<Json<LeaseGrant>, ApiError> {
    tracing::debug!(committed_through = ?request.committed_through, "lease renewal");
    Ok(Json(state.services.leases.grant(&register.0).await?))
}
