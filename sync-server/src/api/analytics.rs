//! `GET /api/v1/admin/merchants/{id}/analytics/{view}` (JSON) and
//! `GET /api/v1/admin/merchants/{id}/analytics/export/{table}` (CSV): the
//! analytics views and their tables, with the same filter as the HQ pages
//! (`from`, `to`, `store`, `brand`, `grain`, `promotion`).

use axum::extract::State;
use axum::response::{IntoResponse, Response};
use shared::ids::MerchantId;

use super::extract::{Json, Path, Query};
use crate::error::ApiError;
use crate::services::analytics::{AnalyticsError, AnalyticsParams};
use crate::state::AppState;
use crate::web::analytics::load_view;
use crate::web::export::{self, Table, View, ViewData};

fn refused(e: AnalyticsError) -> ApiError {
    match e {
        AnalyticsError::Db(e) => e.into(),
        AnalyticsError::Invalid(why) => {
            ApiError::bad_request("invalid_filter", crate::web::i18n::t(why))
        }
    }
}

#[tracing::instrument(skip_all, fields(merchant_id = %merchant))]
pub(crate) async fn view(
    State(state): State<AppState>,
    Path((merchant, view)): Path<(MerchantId, String)>,
    Query(params): Query<AnalyticsParams>,
) -> Result<Response, ApiError> {
    let view = View::parse(&view)
        .ok_or_else(|| ApiError::not_found(format!("no analytics view {view:?}")))?;
    let query = params
        .parse()
        .map_err(|why| ApiError::bad_request("invalid_filter", why))?;
    let data = load_view(&state, merchant, view, query)
        .await
        .map_err(refused)?;
    Ok(match data {
        ViewData::Sales(v) => Json(v).into_response(),
        ViewData::Stores(v) => Json(v).into_response(),
        ViewData::Products(v) => Json(v).into_response(),
        ViewData::Customers(v) => Json(v).into_response(),
        ViewData::Promotions(v) => Json(v).into_response(),
    })
}

#[tracing::instrument(skip_all, fields(merchant_id = %merchant))]
pub(crate) async fn export_csv(
    State(state): State<AppState>,
    Path((merchant, table)): Path<(MerchantId, String)>,
    Query(params): Query<AnalyticsParams>,
) -> Result<Response, ApiError> {
    let table = Table::parse(&table)
        .ok_or_else(|| ApiError::not_found(format!("no analytics table {table:?}")))?;
    let query = params
        .parse()
        .map_err(|why| ApiError::bad_request("invalid_filter", why))?;
    let data = load_view(&state, merchant, table.view(), query)
        .await
        .map_err(refused)?;
    Ok(export::response(table, data, "analytics"))
}
