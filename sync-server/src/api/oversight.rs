//! What HQ watches (admin token): a merchant's alerts and the records its
//! registers forked into quarantine, newest first.
//!
//! `GET /api/v1/admin/merchants/{id}/alerts?before=<id>&limit=<n>` pages
//! back through older alerts; `GET …/quarantine?limit=<n>` lists the newest
//! quarantined records with the hash stored at their seq and the hash that
//! arrived. `GET …/mismatches?limit=<n>` reports the re-pricer: records
//! re-priced, matched, mismatched, skipped (by reason) and pending, and the
//! newest mismatched records with the fields that differ.
//! `GET …/overdrafts` lists the customers whose records left
//! their points balance negative (offline redemptions on several tills, a
//! return of points already spent), with those records.

use shared::wire::ErrorBody;

use crate::wire::admin::{LeaseReport, OverdraftReport};
use axum::extract::State;
use serde::Deserialize;
use shared::ids::MerchantId;

use super::extract::{Json, Path, Query};
use crate::db::AlertPage;
use crate::error::ApiError;
use crate::state::AppState;
use crate::wire::{Alert, QuarantinedRecord, RepriceReport};

/// Entries per page when the caller does not say.
const DEFAULT_LIMIT: usize = 100;
/// The most entries per page.
const MAX_LIMIT: usize = 1000;

/// `…/alerts` parameters.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct AlertsQuery {
    /// Only alerts older than this id.
    before: Option<i64>,
    /// The most alerts.
    limit: Option<usize>,
}

/// `…/quarantine` parameters.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct QuarantineQuery {
    /// The most records.
    limit: Option<usize>,
}

fn page_limit(asked: Option<usize>) -> usize {
    asked.unwrap_or(DEFAULT_LIMIT).clamp(1, MAX_LIMIT)
}

#[utoipa::path(
    get,
    path = "/api/v1/admin/merchants/{id}/alerts",
    tag = "oversight",
    summary = "The merchant's alerts, newest first, paged back by `before`.",
    params(("id" = MerchantId, Path, description = "The merchant.", example = 1), AlertsQuery),
    responses(
        (status = 200, description = "Alerts.", body = Vec<Alert>),
        (status = 401, description = "No admin token or API key, or a wrong or revoked one.", body = ErrorBody),
        (status = 403, description = "The key's role does not permit this, or it is another merchant's.", body = ErrorBody),
        (status = 404, description = "No such merchant.", body = ErrorBody),
        (status = 400, description = "A query parameter does not parse.", body = ErrorBody),
    ),
    security(("admin_token" = []), ("api_key" = [])),
)]
#[tracing::instrument(skip_all, fields(merchant_id = %merchant))]
pub(crate) async fn alerts(
    State(state): State<AppState>,
    Path(merchant): Path<MerchantId>,
    Query(query): Query<AlertsQuery>,
) -> Result<Json<Vec<Alert>>, ApiError> {
    let page = AlertPage {
        before: query.before,
        limit: page_limit(query.limit),
    };
    Ok(Json(state.services.oversight.alerts(merchant, page).await?))
}

#[utoipa::path(
    get,
    path = "/api/v1/admin/merchants/{id}/quarantine",
    tag = "oversight",
    summary = "The newest quarantined (forked) records.",
    params(("id" = MerchantId, Path, description = "The merchant.", example = 1), QuarantineQuery),
    responses(
        (status = 200, description = "Quarantined records.", body = Vec<QuarantinedRecord>),
        (status = 401, description = "No admin token or API key, or a wrong or revoked one.", body = ErrorBody),
        (status = 403, description = "The key's role does not permit this, or it is another merchant's.", body = ErrorBody),
        (status = 404, description = "No such merchant.", body = ErrorBody),
        (status = 400, description = "A query parameter does not parse.", body = ErrorBody),
    ),
    security(("admin_token" = []), ("api_key" = [])),
)]
#[tracing::instrument(skip_all, fields(merchant_id = %merchant))]
pub(crate) async fn quarantine(
    State(state): State<AppState>,
    Path(merchant): Path<MerchantId>,
    Query(query): Query<QuarantineQuery>,
) -> Result<Json<Vec<QuarantinedRecord>>, ApiError> {
    Ok(Json(
        state
            .services
            .oversight
            .quarantine(merchant, page_limit(query.limit))
            .await?,
    ))
}

/// `…/mismatches` parameters.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct MismatchesQuery {
    /// The most mismatched records.
    limit: Option<usize>,
}

#[utoipa::path(
    get,
    path = "/api/v1/admin/merchants/{id}/mismatches",
    tag = "oversight",
    summary = "The re-pricer's report: records whose server pricing differs from the till's.",
    params(("id" = MerchantId, Path, description = "The merchant.", example = 1), MismatchesQuery),
    responses(
        (status = 200, description = "The report.", body = RepriceReport),
        (status = 401, description = "No admin token or API key, or a wrong or revoked one.", body = ErrorBody),
        (status = 403, description = "The key's role does not permit this, or it is another merchant's.", body = ErrorBody),
        (status = 404, description = "No such merchant.", body = ErrorBody),
        (status = 400, description = "A query parameter does not parse.", body = ErrorBody),
    ),
    security(("admin_token" = []), ("api_key" = [])),
)]
#[tracing::instrument(skip_all, fields(merchant_id = %merchant))]
pub(crate) async fn mismatches(
    State(state): State<AppState>,
    Path(merchant): Path<MerchantId>,
    Query(query): Query<MismatchesQuery>,
) -> Result<Json<RepriceReport>, ApiError> {
    state.services.catalog.merchant(merchant).await?;
    Ok(Json(
        state
            .services
            .oversight
            .mismatches(merchant, page_limit(query.limit))
            .await?,
    ))
}

#[utoipa::path(
    get,
    path = "/api/v1/admin/merchants/{id}/overdrafts",
    tag = "oversight",
    summary = "Customers whose records left their points balance negative.",
    params(("id" = MerchantId, Path, description = "The merchant.", example = 1)),
    responses(
        (status = 200, description = "The report.", body = OverdraftReport),
        (status = 401, description = "No admin token or API key, or a wrong or revoked one.", body = ErrorBody),
        (status = 403, description = "The key's role does not permit this, or it is another merchant's.", body = ErrorBody),
        (status = 404, description = "No such merchant.", body = ErrorBody),
        (status = 400, description = "A path parameter does not parse.", body = ErrorBody),
    ),
    security(("admin_token" = []), ("api_key" = [])),
)]
#[tracing::instrument(skip_all, fields(merchant_id = %merchant))]
pub(crate) async fn overdrafts(
    State(state): State<AppState>,
    Path(merchant): Path<MerchantId>,
) -> Result<Json<OverdraftReport>, ApiError> {
    Ok(Json(
        state
            .services
            .customers
            .overdrafts(merchant, state.clock.now())
            .await?,
    ))
}

/// `GET /api/v1/admin/merchants/{id}/leases`: the promotions with global
/// limits, their spend, the leases outstanding, and each register's spend
/// and lease.
#[utoipa::path(
    get,
    path = "/api/v1/admin/merchants/{id}/leases",
    operation_id = "lease_report",
    tag = "oversight",
    summary = "Promotions with global limits, their spend and the registers' leases.",
    params(("id" = MerchantId, Path, description = "The merchant.", example = 1)),
    responses(
        (status = 200, description = "The report.", body = LeaseReport),
        (status = 401, description = "No admin token or API key, or a wrong or revoked one.", body = ErrorBody),
        (status = 403, description = "The key's role does not permit this, or it is another merchant's.", body = ErrorBody),
        (status = 404, description = "No such merchant.", body = ErrorBody),
        (status = 400, description = "A path parameter does not parse.", body = ErrorBody),
    ),
    security(("admin_token" = []), ("api_key" = [])),
)]
pub(crate) async fn leases(
    State(state): State<AppState>,
    Path(merchant): Path<MerchantId>,
) -> Result<Json<LeaseReport>, ApiError> {
    Ok(Json(state.services.leases.report(merchant).await?))
}
