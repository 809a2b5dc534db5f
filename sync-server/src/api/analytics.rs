//! `GET /api/v1/admin/merchants/{id}/analytics/{view}` (JSON) and
//! `GET /api/v1/admin/merchants/{id}/analytics/export/{table}` (CSV): the
//! analytics views and their tables, with the same filter as the HQ pages
//! (`from`, `to`, `store`, `brand`, `grain`, `promotion`, `segment`,
//! and for `baskets` `product` and `min_checks`).

use shared::wire::ErrorBody;

use axum::extract::State;
use axum::response::{IntoResponse, Response};
use shared::ids::MerchantId;

use super::extract::{Json, Path, Query};
use serde::Serialize;

use super::openapi::{AnalyticsTableCode, AnalyticsViewCode};
use crate::error::ApiError;
use crate::services::analytics::{AnalyticsError, AnalyticsParams};
use crate::state::AppState;
use crate::web::analytics::load_view;
use crate::web::export::{self, Table, View, ViewData};
use crate::wire::analytics::{
    BasketsView, CustomersView, ProductsView, PromotionsView, SalesView, StoresView,
};

/// One analytics view as JSON: which one the path names.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(untagged)]
pub(crate) enum AnalyticsView {
    /// `sales`.
    Sales(SalesView),
    /// `stores`.
    Stores(StoresView),
    /// `products`.
    Products(ProductsView),
    /// `customers`.
    Customers(CustomersView),
    /// `promotions`.
    Promotions(PromotionsView),
    /// `baskets`.
    Baskets(BasketsView),
}

impl From<ViewData> for AnalyticsView {
    fn from(data: ViewData) -> Self {
        match data {
            ViewData::Sales(v) => AnalyticsView::Sales(v),
            ViewData::Stores(v) => AnalyticsView::Stores(v),
            ViewData::Products(v) => AnalyticsView::Products(v),
            ViewData::Customers(v) => AnalyticsView::Customers(v),
            ViewData::Promotions(v) => AnalyticsView::Promotions(v),
            ViewData::Baskets(v) => AnalyticsView::Baskets(v),
        }
    }
}

fn refused(e: AnalyticsError) -> ApiError {
    match e {
        AnalyticsError::Db(e) => e.into(),
        AnalyticsError::Invalid(why) => {
            ApiError::bad_request("invalid_filter", crate::web::i18n::t(why))
        }
    }
}

#[utoipa::path(
    get,
    path = "/api/v1/admin/merchants/{id}/analytics/{view}",
    operation_id = "analytics_view",
    tag = "analytics",
    summary = "One analytics view as JSON, with the HQ pages' filter.",
    params(("id" = MerchantId, Path, description = "The merchant.", example = 1), ("view" = AnalyticsViewCode, Path, description = "The view."), AnalyticsParams),
    responses(
        (status = 200, description = "The view; its shape depends on `view`.", body = AnalyticsView),
        (status = 401, description = "No admin token or API key, or a wrong or revoked one.", body = ErrorBody),
        (status = 403, description = "The key's role does not permit this, or it is another merchant's.", body = ErrorBody),
        (status = 404, description = "No such merchant or view.", body = ErrorBody),
        (status = 400, description = "The filter does not parse.", body = ErrorBody),
    ),
    security(("admin_token" = []), ("api_key" = [])),
)]
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
    Ok(Json(AnalyticsView::from(data)).into_response())
}

#[utoipa::path(
    get,
    path = "/api/v1/admin/merchants/{id}/analytics/export/{table}",
    operation_id = "analytics_export",
    tag = "analytics",
    summary = "One analytics table as CSV (UTF-8 with a BOM, for spreadsheets).",
    params(("id" = MerchantId, Path, description = "The merchant.", example = 1), ("table" = AnalyticsTableCode, Path, description = "The table."), AnalyticsParams),
    responses(
        (status = 200, description = "The table.", content_type = "text/csv", body = String),
        (status = 401, description = "No admin token or API key, or a wrong or revoked one.", body = ErrorBody),
        (status = 403, description = "The key's role does not permit this, or it is another merchant's.", body = ErrorBody),
        (status = 404, description = "No such merchant or table.", body = ErrorBody),
        (status = 400, description = "The filter does not parse.", body = ErrorBody),
    ),
    security(("admin_token" = []), ("api_key" = [])),
)]
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
