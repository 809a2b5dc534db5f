//! `POST /v1/returns`: a return of lines of a sale in this register's
//! outbox, committed as a signed return record.

use shared::wire::ErrorBody;

use axum::extract::State;
use axum::http::StatusCode;
use shared::wire::till::{ReturnCommitted, ReturnRequest};

use super::{ApiState, Json};
use crate::error::ApiError;

/// Commits the return; answers once it is durable.
#[utoipa::path(
    post,
    path = "/v1/returns",
    operation_id = "create_return",
    tag = "returns",
    summary = "Returns lines of a sale (of this register or another of the merchant's) as a signed return record.",
    request_body = ReturnRequest,
    responses(
        (status = 201, description = "The return is durable in the outbox.", body = ReturnCommitted),
        (status = 404, description = "The original sale is not found.", body = ErrorBody),
        (status = 422, description = "The return is refused (more than was sold, …).", body = ErrorBody),
        (status = 400, description = "Malformed JSON.", body = ErrorBody),
        (status = 415, description = "The body is not `application/json`.", body = ErrorBody),
        (status = 503, description = "The register's disk fails: finish the sale without loyalty.", body = ErrorBody),
        (status = 507, description = "The register's disk is full: finish the sale without loyalty.", body = ErrorBody),
        (status = 401, description = "The till's token is required and was missing or wrong.", body = ErrorBody),
        (status = 403, description = "The `Host` or `Origin` is not allowed.", body = ErrorBody),
    ),
)]
pub async fn create(
    State(s): State<ApiState>,
    Json(request): Json<ReturnRequest>,
) -> Result<(StatusCode, Json<ReturnCommitted>), ApiError> {
    Ok((
        StatusCode::CREATED,
        Json(s.agent.return_items(request).await?),
    ))
}
