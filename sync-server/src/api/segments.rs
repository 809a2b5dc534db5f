//! `…/merchants/{id}/segments`: the merchant's customer segments (RFM and
//! saved) with their sizes; saving, deleting and recomputing them
//! (`services::segments`). A promotion targets a segment by naming its
//! tag in `conditions.segment.tags`.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use shared::ids::MerchantId;
use shared::wire::ErrorBody;

use super::extract::{Json, Path};
use crate::error::ApiError;
use crate::guard::AuditNote;
use crate::services::segments::SegmentError;
use crate::state::AppState;
use crate::wire::segments::{NewSegment, RefreshReport, SegmentsView};

impl From<SegmentError> for ApiError {
    fn from(e: SegmentError) -> Self {
        match e {
            SegmentError::Db(e) => e.into(),
            SegmentError::Invalid(_) => ApiError::validation(e.to_string()),
            SegmentError::Taken => ApiError::conflict("segment_exists", e.to_string()),
            SegmentError::NotFound => ApiError::not_found(e.to_string()),
        }
    }
}

fn note(merchant: MerchantId, code: &str, after: String) -> AuditNote {
    AuditNote {
        merchant: Some(merchant),
        subject: Some(format!("segment {code}")),
        after,
        ..AuditNote::default()
    }
}

#[utoipa::path(
    get,
    path = "/api/v1/admin/merchants/{id}/segments",
    tag = "segments",
    summary = "The merchant's RFM and saved segments, with how many customers each holds as last computed.",
    params(("id" = MerchantId, Path, description = "The merchant.", example = 1)),
    responses(
        (status = 200, description = "The segments.", body = SegmentsView),
        (status = 401, description = "No admin token or API key, or a wrong or revoked one.", body = ErrorBody),
        (status = 403, description = "The key's role does not permit this, or it is another merchant's.", body = ErrorBody),
        (status = 404, description = "No such merchant.", body = ErrorBody),
        (status = 400, description = "A path parameter does not parse.", body = ErrorBody),
    ),
    security(("admin_token" = []), ("api_key" = [])),
)]
#[tracing::instrument(skip_all, fields(merchant_id = %merchant))]
pub(crate) async fn list(
    State(state): State<AppState>,
    Path(merchant): Path<MerchantId>,
) -> Result<Json<SegmentsView>, ApiError> {
    Ok(Json(state.services.segments.list(merchant).await?))
}

#[utoipa::path(
    post,
    path = "/api/v1/admin/merchants/{id}/segments",
    tag = "segments",
    summary = "Saves a segment (a filter over customers' last year) and computes who is in it; its customers' tills get the tag `seg:<code>`.",
    params(("id" = MerchantId, Path, description = "The merchant.", example = 1)),
    request_body = NewSegment,
    responses(
        (status = 201, description = "Saved; every customer's segment tags were computed.", body = RefreshReport),
        (status = 401, description = "No admin token or API key, or a wrong or revoked one.", body = ErrorBody),
        (status = 403, description = "The key's role does not permit this, or it is another merchant's.", body = ErrorBody),
        (status = 404, description = "No such merchant.", body = ErrorBody),
        (status = 409, description = "`segment_exists`: the code is taken.", body = ErrorBody),
        (status = 400, description = "A path parameter does not parse. Malformed JSON.", body = ErrorBody),
        (status = 415, description = "The body is not `application/json`.", body = ErrorBody),
        (status = 422, description = "The body does not fit the schema, or a field is invalid (the message names it).", body = ErrorBody),
    ),
    security(("admin_token" = []), ("api_key" = [])),
)]
#[tracing::instrument(skip_all, fields(merchant_id = %merchant))]
pub(crate) async fn create(
    State(state): State<AppState>,
    Path(merchant): Path<MerchantId>,
    Json(body): Json<NewSegment>,
) -> Result<Response, ApiError> {
    let code = body.code.trim().to_owned();
    let report = state.services.segments.save(merchant, body).await?;
    let after = format!("saved; {} customers' tags changed", report.changed);
    Ok(note(merchant, &code, after).attach((StatusCode::CREATED, Json(report)).into_response()))
}

#[utoipa::path(
    delete,
    path = "/api/v1/admin/merchants/{id}/segments/{code}",
    tag = "segments",
    summary = "Deletes a saved segment and takes its tag from its customers.",
    params(
        ("id" = MerchantId, Path, description = "The merchant.", example = 1),
        ("code" = String, Path, description = "The segment's code.", example = "women-35"),
    ),
    responses(
        (status = 200, description = "Deleted; every customer's segment tags were computed.", body = RefreshReport),
        (status = 401, description = "No admin token or API key, or a wrong or revoked one.", body = ErrorBody),
        (status = 403, description = "The key's role does not permit this, or it is another merchant's.", body = ErrorBody),
        (status = 404, description = "No such merchant or segment.", body = ErrorBody),
        (status = 400, description = "A path parameter does not parse.", body = ErrorBody),
    ),
    security(("admin_token" = []), ("api_key" = [])),
)]
#[tracing::instrument(skip_all, fields(merchant_id = %merchant))]
pub(crate) async fn delete(
    State(state): State<AppState>,
    Path((merchant, code)): Path<(MerchantId, String)>,
) -> Result<Response, ApiError> {
    let report = state
        .services
        .segments
        .delete(merchant, code.clone())
        .await?;
    let after = format!("deleted; {} customers' tags changed", report.changed);
    Ok(note(merchant, &code, after).attach(Json(report).into_response()))
}

#[utoipa::path(
    post,
    path = "/api/v1/admin/merchants/{id}/segments/refresh",
    tag = "segments",
    summary = "Computes every customer's segment tags as of today now, instead of at the daily run.",
    params(("id" = MerchantId, Path, description = "The merchant.", example = 1)),
    responses(
        (status = 200, description = "Computed.", body = RefreshReport),
        (status = 401, description = "No admin token or API key, or a wrong or revoked one.", body = ErrorBody),
        (status = 403, description = "The key's role does not permit this, or it is another merchant's.", body = ErrorBody),
        (status = 404, description = "No such merchant.", body = ErrorBody),
        (status = 400, description = "A path parameter does not parse.", body = ErrorBody),
    ),
    security(("admin_token" = []), ("api_key" = [])),
)]
#[tracing::instrument(skip_all, fields(merchant_id = %merchant))]
pub(crate) async fn refresh(
    State(state): State<AppState>,
    Path(merchant): Path<MerchantId>,
) -> Result<Json<RefreshReport>, ApiError> {
    Ok(Json(state.services.segments.refresh_now(merchant).await?))
}
