//! `GET /api/v1/keys`: the server's key chain, for a register that meets a
//! release or token signed by a key it does not know, or whose heartbeat
//! reply names a newer chain position. The register verifies every link
//! itself from keys it already trusts (see [`shared::keys`]).

use shared::keys::KeyChain;
use shared::wire::ErrorBody;

use axum::extract::State;

use crate::auth::AuthenticatedRegister;
use crate::state::AppState;

#[utoipa::path(
    get,
    path = "/api/v1/keys",
    tag = "sync",
    summary = "The server's signing key, recovery key and endorsement chain.",
    responses(
        (status = 200, description = "The chain, oldest endorsement first.", body = KeyChain),
        (status = 401, description = "Missing or wrong register credentials, or a revoked register.", body = ErrorBody),
        (status = 426, description = "A sync protocol version this server does not speak.", body = ErrorBody),
    ),
    security(("register" = [])),
)]
#[tracing::instrument(skip_all, fields(register_id = %register.0.register_id))]
pub(crate) async fn chain(
    State(state): State<AppState>,
    register: AuthenticatedRegister,
) -> axum::Json<KeyChain> {
    axum::Json(KeyChain::clone(&state.key_chain))
}
