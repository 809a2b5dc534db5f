//! `POST /api/v1/admin/customers/{id}/adjustments`: a points credit or
//! debit with a reason and an idempotency key, the admin API's twin of the
//! support page's form (`services::adjustments`). The guard writes the
//! audit trail's entry with the balance before and after.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use shared::ids::CustomerId;

use super::extract::{Json, Path};
use crate::error::ApiError;
use crate::guard::{AuditNote, Principal};
use crate::notify::Topic;
use crate::services::adjustments::{Adjusted, AdjustmentError, AdjustmentRequest};
use crate::state::AppState;
use crate::wire::admin::{AdjustmentReceipt, NewPointsAdjustment};
use shared::wire::ErrorBody;

impl From<AdjustmentError> for ApiError {
    fn from(e: AdjustmentError) -> Self {
        match e {
            AdjustmentError::Storage(e) => e.into(),
            AdjustmentError::Invalid { .. } => ApiError::validation(e.to_string()),
            AdjustmentError::Insufficient { .. } => ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "insufficient_points",
                e.to_string(),
            ),
            AdjustmentError::KeyReused => {
                ApiError::conflict("idempotency_key_reused", e.to_string())
            }
        }
    }
}

/// What the audit trail keeps of an adjustment, or of a request repeated
/// under its key (which changed nothing).
pub(crate) fn audit_note(adjusted: &Adjusted) -> AuditNote {
    let a = &adjusted.adjustment;
    let after = if adjusted.created {
        format!(
            "balance {}; {:+} points, reason: {}; adjustment {} (key {})",
            adjusted.balance_after, a.points, a.reason, a.id, a.idempotency_key
        )
    } else {
        format!(
            "balance {}; repeated key {}: adjustment {} was made before, nothing changed",
            adjusted.balance_after, a.idempotency_key, a.id
        )
    };
    AuditNote {
        merchant: Some(adjusted.merchant),
        subject: Some(format!("customer {}", a.customer_id)),
        before: format!("balance {}", adjusted.balance_before),
        after,
        ..AuditNote::default()
    }
}

#[utoipa::path(
    post,
    path = "/api/v1/admin/customers/{id}/adjustments",
    tag = "customers",
    summary = "Credits (positive) or debits (negative) the customer's points, with a reason, once per idempotency key.",
    params(("id" = CustomerId, Path, description = "The customer.", example = 1)),
    request_body = NewPointsAdjustment,
    responses(
        (status = 201, description = "The adjustment was made: it, and the balance after it.", body = AdjustmentReceipt),
        (status = 200, description = "The key was used before for the same customer and points: the first adjustment, nothing changed.", body = AdjustmentReceipt),
        (status = 401, description = "No admin token or API key, or a wrong or revoked one.", body = ErrorBody),
        (status = 403, description = "The key's role does not permit this, or it is another merchant's.", body = ErrorBody),
        (status = 404, description = "No such customer.", body = ErrorBody),
        (status = 409, description = "`idempotency_key_reused`: the key was used for another adjustment.", body = ErrorBody),
        (status = 400, description = "A path parameter does not parse. Malformed JSON.", body = ErrorBody),
        (status = 415, description = "The body is not `application/json`.", body = ErrorBody),
        (status = 422, description = "The body does not fit the schema or a field is invalid (zero points, more than 1 000 000 either way, an empty reason), or `insufficient_points`: the debit would take the balance below zero.", body = ErrorBody),
    ),
    security(("admin_token" = []), ("api_key" = [])),
)]
#[tracing::instrument(skip_all, fields(customer_id = %id))]
pub(crate) async fn adjust(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<CustomerId>,
    Json(body): Json<NewPointsAdjustment>,
) -> Result<Response, ApiError> {
    let request = AdjustmentRequest {
        customer: id,
        points: body.points,
        reason: body.reason,
        idempotency_key: body.idempotency_key,
        actor: principal.name(),
        account: principal.account().map(|a| a.id),
    };
    let adjusted = state
        .services
        .adjustments
        .adjust(None, request, state.clock.now())
        .await?;
    state.notifier.notify(Topic::Customers, adjusted.merchant);
    let receipt = AdjustmentReceipt {
        adjustment: adjusted.adjustment.clone(),
        points_balance: adjusted.balance_after,
        created: adjusted.created,
    };
    let status = if adjusted.created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok(audit_note(&adjusted).attach((status, Json(receipt)).into_response()))
}
