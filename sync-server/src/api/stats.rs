//! `GET /api/v1/admin/merchants/{id}/stats?from=YYYY-MM-DD&to=YYYY-MM-DD`:
//! the merchant's CRM statistics over local days (both ends inclusive).

use shared::wire::ErrorBody;

use crate::wire::admin::Stats;
use axum::extract::State;
use shared::ids::MerchantId;

use super::extract::{Json, Path, Query};
use crate::error::ApiError;
use crate::services::stats::{DayRange, StatsError};
use crate::state::AppState;

#[utoipa::path(
    get,
    path = "/api/v1/admin/merchants/{id}/stats",
    tag = "analytics",
    summary = "CRM statistics over local days, both ends inclusive.",
    params(("id" = MerchantId, Path, description = "The merchant.", example = 1), DayRange),
    responses(
        (status = 200, description = "The statistics.", body = Stats),
        (status = 401, description = "No admin token or API key, or a wrong or revoked one.", body = ErrorBody),
        (status = 403, description = "The key's role does not permit this, or it is another merchant's.", body = ErrorBody),
        (status = 404, description = "No such merchant.", body = ErrorBody),
        (status = 400, description = "A query parameter does not parse.", body = ErrorBody),
    ),
    security(("admin_token" = []), ("api_key" = [])),
)]
#[tracing::instrument(skip_all, fields(merchant_id = %merchant))]
pub(crate) async fn merchant_stats(
    State(state): State<AppState>,
    Path(merchant): Path<MerchantId>,
    Query(range): Query<DayRange>,
) -> Result<Json<Stats>, ApiError> {
    match state.services.stats.stats(merchant, range).await {
        Ok(stats) => Ok(Json(stats)),
        Err(StatsError::Db(e)) => Err(e.into()),
        Err(e) => Err(ApiError::internal(&e)),
    }
}
