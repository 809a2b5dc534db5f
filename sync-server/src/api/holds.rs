//! Points held while HQ checks a sale the re-pricer flagged
//! (`services::holds`): `GET /api/v1/admin/merchants/{id}/holds` lists
//! them with the fields the server priced differently, and
//! `POST …/holds/{register}/{seq}` releases or voids them. The guard
//! writes the audit trail's entry.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use shared::ids::{MerchantId, RegisterId, Seq};
use shared::wire::ErrorBody;

use super::extract::{Json, Path, Query};
use crate::db::{HoldStatus, RecordKey};
use crate::error::ApiError;
use crate::guard::{AuditNote, Principal};
use crate::services::holds::{HoldError, MAX_HOLDS};
use crate::state::AppState;
use crate::wire::{PointsHoldView, ResolveHold};

impl From<HoldError> for ApiError {
    fn from(e: HoldError) -> Self {
        match e {
            HoldError::Storage(e) => e.into(),
            HoldError::NotFound => ApiError::not_found(e.to_string()),
            HoldError::AlreadyResolved(_) => ApiError::conflict("hold_resolved", e.to_string()),
        }
    }
}

/// `…/holds` parameters.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct HoldsQuery {
    /// `held` (the default), `released`, `voided` or `all`.
    status: Option<String>,
    /// The most holds (at most 200).
    limit: Option<usize>,
}

/// The status filter of `text`.
fn status_filter(text: Option<&str>) -> Result<Option<HoldStatus>, ApiError> {
    match text.map(str::trim) {
        None | Some("held") => Ok(Some(HoldStatus::Held)),
        Some("all") => Ok(None),
        Some(other) => HoldStatus::parse(other).map(Some).map_err(|_| {
            ApiError::bad_request(
                "bad_status",
                format!("status must be held, released, voided or all, not {other:?}"),
            )
        }),
    }
}

#[utoipa::path(
    get,
    path = "/api/v1/admin/merchants/{id}/holds",
    tag = "oversight",
    summary = "Points of flagged sales held until HQ releases or voids them, newest first.",
    params(("id" = MerchantId, Path, description = "The merchant.", example = 1), HoldsQuery),
    responses(
        (status = 200, description = "The holds.", body = [PointsHoldView]),
        (status = 401, description = "No admin token or API key, or a wrong or revoked one.", body = ErrorBody),
        (status = 403, description = "The key's role does not permit this, or it is another merchant's.", body = ErrorBody),
        (status = 404, description = "No such merchant.", body = ErrorBody),
        (status = 400, description = "A parameter does not parse, or an unknown status.", body = ErrorBody),
    ),
    security(("admin_token" = []), ("api_key" = [])),
)]
#[tracing::instrument(skip_all, fields(merchant_id = %merchant))]
pub(crate) async fn holds(
    State(state): State<AppState>,
    Path(merchant): Path<MerchantId>,
    Query(query): Query<HoldsQuery>,
) -> Result<Json<Vec<PointsHoldView>>, ApiError> {
    let status = status_filter(query.status.as_deref())?;
    let limit = query.limit.unwrap_or(MAX_HOLDS);
    Ok(Json(
        state.services.holds.list(merchant, status, limit).await?,
    ))
}

#[utoipa::path(
    post,
    path = "/api/v1/admin/merchants/{id}/holds/{register}/{seq}",
    tag = "oversight",
    summary = "Releases (the till's figures stand) or voids (no points) the held points of a flagged sale.",
    params(
        ("id" = MerchantId, Path, description = "The merchant.", example = 1),
        ("register" = RegisterId, Path, description = "The register of the sale.", example = 1),
        ("seq" = Seq, Path, description = "The sale's seq there.", example = 1),
    ),
    request_body = ResolveHold,
    responses(
        (status = 200, description = "Resolved: the hold as it stands now.", body = PointsHoldView),
        (status = 401, description = "No admin token or API key, or a wrong or revoked one.", body = ErrorBody),
        (status = 403, description = "The key's role does not permit this, or it is another merchant's.", body = ErrorBody),
        (status = 404, description = "No points are held for this record at this merchant.", body = ErrorBody),
        (status = 409, description = "`hold_resolved`: released or voided before.", body = ErrorBody),
        (status = 400, description = "A path parameter does not parse. Malformed JSON.", body = ErrorBody),
        (status = 415, description = "The body is not `application/json`.", body = ErrorBody),
        (status = 422, description = "The body does not fit the schema.", body = ErrorBody),
    ),
    security(("admin_token" = []), ("api_key" = [])),
)]
#[tracing::instrument(skip_all, fields(merchant_id = %merchant, register_id = %register, seq = %seq))]
pub(crate) async fn resolve_hold(
    State(state): State<AppState>,
    principal: Principal,
    Path((merchant, register, seq)): Path<(MerchantId, RegisterId, Seq)>,
    Json(body): Json<ResolveHold>,
) -> Result<Response, ApiError> {
    let key = RecordKey {
        register_id: register,
        seq,
    };
    let hold = state
        .services
        .holds
        .resolve(
            merchant,
            key,
            body.resolution,
            principal.name(),
            state.clock.now(),
        )
        .await?;
    let note = audit_note(&hold);
    Ok(note.attach((StatusCode::OK, Json(hold)).into_response()))
}

/// What the audit trail keeps of a resolved hold.
pub(crate) fn audit_note(hold: &PointsHoldView) -> AuditNote {
    AuditNote {
        subject: Some(format!(
            "points of register {} seq {} (customer {})",
            hold.register_id, hold.seq, hold.customer_id
        )),
        before: format!("held {} points", hold.points),
        after: format!("{} {} points", hold.status, hold.points),
        ..AuditNote::default()
    }
}
