//! `POST /api/v1/admin/customers/{id}/link` (admin token): a new personal
//! link to the customer's phone page, through the same issuing code as the
//! merchant pages; the earlier link stops working.

use shared::wire::ErrorBody;

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use shared::ids::CustomerId;

use super::extract::{Json, Path};
use crate::error::ApiError;
use crate::state::AppState;
use crate::web::links::{self, LinkError};
use crate::wire::CustomerLink;

#[utoipa::path(
    post,
    path = "/api/v1/admin/customers/{id}/link",
    tag = "customers",
    summary = "A new personal link to the customer's phone page; the earlier one stops working.",
    params(("id" = CustomerId, Path, description = "The customer.", example = 1)),
    responses(
        (status = 201, description = "The link.", body = CustomerLink),
        (status = 401, description = "No admin token or API key, or a wrong or revoked one.", body = ErrorBody),
        (status = 403, description = "The key's role does not permit this, or it is another merchant's.", body = ErrorBody),
        (status = 404, description = "No such customer.", body = ErrorBody),
        (status = 400, description = "A path parameter does not parse.", body = ErrorBody),
    ),
    security(("admin_token" = []), ("api_key" = [])),
)]
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
