//! `GET /api/v1/admin/merchants/{id}/stats?from=YYYY-MM-DD&to=YYYY-MM-DD`:
//! the merchant's CRM statistics over local days (both ends inclusive).

use crate::wire::admin::Stats;
use axum::extract::State;
use shared::ids::MerchantId;

use super::extract::{Json, Path, Query};
use crate::error::ApiError;
use crate::services::stats::{DayRange, StatsError};
use crate::state::AppState;

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
