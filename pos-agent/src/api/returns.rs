//! `POST /v1/returns`: a return of lines of a sale in this register's
//! outbox, committed as a signed return record.

use axum::extract::State;
use axum::http::StatusCode;
use shared::wire::till::{ReturnCommitted, ReturnRequest};

use super::{ApiState, Json};
use crate::error::ApiError;

/// Commits the return; answers once it is durable.
pub async fn create(
    State(s): State<ApiState>,
    Json(request): Json<ReturnRequest>,
) -> Result<(StatusCode, Json<ReturnCommitted>), ApiError> {
    Ok((
        StatusCode::CREATED,
        Json(s.agent.return_items(request).await?),
    ))
}
