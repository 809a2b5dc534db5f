//! `POST /api/v1/leases`: a register's shares of the promotions with
//! global limits, renewed at every sync (see `services::leases`).

use axum::extract::State;
use shared::wire::sync::{LeaseGrant, LeaseRequest};

use super::extract::Json;
use crate::auth::AuthenticatedRegister;
use crate::error::ApiError;
use crate::state::AppState;

#[tracing::instrument(skip_all, fields(register_id = %register.0.register_id))]
pub(crate) async fn leases(
    State(state): State<AppState>,
    register: AuthenticatedRegister,
    Json(request): Json<LeaseRequest>,
) -> Result<Json<LeaseGrant>, ApiError> {
    tracing::debug!(committed_through = ?request.committed_through, "lease renewal");
    Ok(Json(state.services.leases.grant(&register.0).await?))
}
