//! `POST /api/v1/registers/enroll`: a register trades a one-time enrollment
//! token and its public key for an id, a secret and the server's key.

use shared::wire::ErrorBody;

use axum::extract::State;
use axum::http::StatusCode;
use shared::wire::sync::{EnrollRequest, EnrollResponse};

use super::extract::Json;
use crate::auth::{REGISTER_SECRET_BYTES, hash_secret, random_hex};
use crate::db::NewRegister;
use crate::error::ApiError;
use crate::services::catalog::EnrollOutcome;
use crate::state::AppState;

/// The longest host name or agent version accepted.
const MAX_LABEL_CHARS: usize = 255;

#[utoipa::path(
    post,
    path = "/api/v1/registers/enroll",
    tag = "sync",
    summary = "A register trades a one-time enrollment token and its public key for credentials.",
    request_body = EnrollRequest,
    responses(
        (status = 201, description = "Enrolled.", body = EnrollResponse),
        (status = 401, description = "Unknown enrollment token.", body = ErrorBody),
        (status = 409, description = "The token enrolled another register already.", body = ErrorBody),
        (status = 410, description = "The token expired.", body = ErrorBody),
        (status = 400, description = "Malformed JSON.", body = ErrorBody),
        (status = 415, description = "The body is not `application/json`.", body = ErrorBody),
        (status = 422, description = "The body does not fit the schema or its content is invalid.", body = ErrorBody),
        (status = 426, description = "A sync protocol version this server does not speak.", body = ErrorBody),
    ),
    security(()),
)]
#[tracing::instrument(skip_all, fields(hostname = %request.hostname))]
pub(crate) async fn enroll(
    State(state): State<AppState>,
    Json(request): Json<EnrollRequest>,
) -> Result<(StatusCode, Json<EnrollResponse>), ApiError> {
    for (field, value) in [
        ("hostname", &request.hostname),
        ("agent_version", &request.agent_version),
    ] {
        if value.chars().count() > MAX_LABEL_CHARS {
            return Err(ApiError::validation(format!(
                "{field} must be at most {MAX_LABEL_CHARS} characters"
            )));
        }
    }
    let secret = random_hex(REGISTER_SECRET_BYTES)?;
    let outcome = state
        .services
        .catalog
        .enroll(NewRegister {
            token_hash: hash_secret(request.enrollment_token.trim()),
            public_key: request.public_key,
            secret_hash: hash_secret(&secret),
            hostname: request.hostname,
            agent_version: request.agent_version,
            now: state.clock.now(),
        })
        .await?;
    let enrolled = match outcome {
        EnrollOutcome::Enrolled(enrolled) => enrolled,
        EnrollOutcome::TokenUnknown => {
            return Err(ApiError::unauthorized(
                "enrollment_token_unknown",
                "the enrollment token is not known; ask HQ for a new one",
            ));
        }
        EnrollOutcome::TokenUsed => {
            return Err(ApiError::conflict(
                "enrollment_token_used",
                "the enrollment token enrolled another register already; each token works once",
            ));
        }
        EnrollOutcome::TokenExpired(at) => {
            return Err(ApiError::new(
                StatusCode::GONE,
                "enrollment_token_expired",
                format!("the enrollment token expired at {at}; ask HQ for a new one"),
            ));
        }
    };
    tracing::info!(register_id = %enrolled.register_id, store_id = %enrolled.store_id, "enrolled a register");
    Ok((
        StatusCode::CREATED,
        Json(EnrollResponse {
            register_id: enrolled.register_id,
            merchant_id: enrolled.merchant_id,
            store_id: enrolled.store_id,
            store_name: enrolled.store_name,
            store_timezone: enrolled.store_timezone,
            store_brand: enrolled.store_brand,
            currency: enrolled.currency,
            register_secret: secret,
            server_public_key: state.signing_key.public_key(),
            server_recovery_key: state.key_chain.recovery_key,
            key_seq: state.key_chain.seq(),
        }),
    ))
}
