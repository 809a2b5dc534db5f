//! `GET /api/v1/admin/merchants/{id}/stats?from=YYYY-MM-DD&to=YYYY-MM-DD`:
//! the merchant's CRM statistics over local days (both ends inclusive).

use axum::extract::State;
use shared::ids::MerchantId;
use shared::wire::admin::Stats;

use super::extract::{Json, Path, Query};
use crate::error::ApiError;
use crate::state::AppState;
use crate::stats::{DayRange, compute};

#[tracing::instrument(skip_all, fields(merchant_id = %merchant))]
pub(crate) async fn merchant_stats(
    State(state): State<AppState>,
    Path(merchant): Path<MerchantId>,
    Query(range): Query<DayRange>,
) -> Result<Json<Stats>, ApiError> {
    let facts = state.db.stats_facts(merchant).await?;
    let stats = tokio::task::spawn_blocking(move || compute(&facts, range))
        .await
        .map_err(|e| ApiError::internal(&e))?
        .map_err(|e| ApiError::internal(&e))?;
    Ok(Json(stats))
}
