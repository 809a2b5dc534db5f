//! `POST /api/v1/admin/customers/{id}/link` (admin token): a new personal
//! link to the customer's phone page, through the same issuing code as the
//! merchant pages; the earlier link stops working.

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use shared::ids::CustomerId;

use super::extract::{Json, Path};
use crate::error::ApiError;
use crate::state::AppState;
use crate::web::links::{self, LinkError};
use crate::wire::CustomerLink;

#[tracing::instrument(skip_all, fields(customer_id = %id))]
pub(crate) async fn issue_link(
    State(state): State<AppState>,
    Path(id): Path<CustomerId>,
    headers: HeaderMap,
) -> Result<(StatusCode, Json<CustomerLink>), ApiError> {
    let link = links::issue(&state, id, &headers)
        .await
        .map_err(|e| match e {
            LinkError::Storage(e) => ApiError::from(e),
            LinkError::Random(e) => ApiError::internal(&e),
        })?;
    Ok((
        StatusCode::CREATED,
        Json(CustomerLink {
            customer_id: id,
            url: link.url,
            path: link.path,
        }),
    ))
}
