//! `…/merchants/{id}/drafts`: promotion drafts, their what-if and their
//! publishing, now or at a set time (`services::drafts`,
//! `services::whatif`). The pages at `/hq/merchants/{id}/drafts` call the
//! same service.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use shared::ids::MerchantId;
use shared::ruleset::Promotion;
use shared::wire::ErrorBody;

use super::extract::{Json, Path};
use crate::error::ApiError;
use crate::guard::{AuditNote, Principal};
use crate::services::drafts::DraftError;
use crate::services::whatif::{Days, WhatIfError};
use crate::state::AppState;
use crate::wire::drafts::{DraftView, PublishDraft, WhatIfReport, WhatIfRequest};

impl From<DraftError> for ApiError {
    fn from(e: DraftError) -> Self {
        match e {
            DraftError::NotFound => ApiError::not_found("no such draft of this merchant"),
            DraftError::Invalid { .. } => ApiError::bad_request("bad_request", e.to_string()),
            DraftError::Done(_) => ApiError::conflict("draft_done", e.to_string()),
            DraftError::Refused(refusal) => refusal.into(),
            DraftError::WhatIf(WhatIfError::NoRuleset) => {
                ApiError::conflict("no_ruleset", WhatIfError::NoRuleset.to_string())
            }
            DraftError::WhatIf(WhatIfError::Rules(invalid)) => {
                let faults = invalid.0.iter().map(ToString::to_string).collect();
                ApiError::validation(invalid.to_string()).with_faults(faults)
            }
            DraftError::WhatIf(WhatIfError::Invalid { field, message }) => {
                ApiError::bad_request("bad_request", format!("{field}: {message}"))
            }
            DraftError::WhatIf(WhatIfError::Db(e)) | DraftError::Db(e) => e.into(),
        }
    }
}

fn note(merchant: MerchantId, draft: &DraftView, after: String) -> AuditNote {
    AuditNote {
        merchant: Some(merchant),
        subject: Some(format!(
            "draft {} ({})",
            draft.id,
            draft.promotion.id.as_str()
        )),
        after,
        ..AuditNote::default()
    }
}

#[utoipa::path(
    get,
    path = "/api/v1/admin/merchants/{id}/drafts",
    tag = "drafts",
    summary = "The merchant's promotion drafts, newest first.",
    params(("id" = MerchantId, Path, description = "The merchant.", example = 1)),
    responses(
        (status = 200, description = "The drafts.", body = Vec<DraftView>),
        (status = 401, description = "No admin token or API key, or a wrong or revoked one.", body = ErrorBody),
        (status = 403, description = "The key's role does not permit this, or it is another merchant's.", body = ErrorBody),
        (status = 404, description = "No such merchant.", body = ErrorBody),
        (status = 400, description = "A path parameter does not parse.", body = ErrorBody),
    ),
    security(("admin_token" = []), ("api_key" = [])),
)]
#[tracing::instrument(skip_all, fields(merchant_id = %merchant))]
pub(crate) async fn list_drafts(
    State(state): State<AppState>,
    Path(merchant): Path<MerchantId>,
) -> Result<Json<Vec<DraftView>>, ApiError> {
    Ok(Json(state.services.drafts.list(merchant).await?))
}

#[utoipa::path(
    post,
    path = "/api/v1/admin/merchants/{id}/drafts",
    tag = "drafts",
    summary = "Saves a promotion as a draft: stored, never sent to a till until published.",
    params(("id" = MerchantId, Path, description = "The merchant.", example = 1)),
    request_body = Promotion,
    responses(
        (status = 201, description = "Saved.", body = DraftView),
        (status = 401, description = "No admin token or API key, or a wrong or revoked one.", body = ErrorBody),
        (status = 403, description = "The key's role does not permit this, or it is another merchant's.", body = ErrorBody),
        (status = 404, description = "No such merchant.", body = ErrorBody),
        (status = 400, description = "A path parameter does not parse. Malformed JSON.", body = ErrorBody),
        (status = 415, description = "The body is not `application/json`.", body = ErrorBody),
        (status = 422, description = "The body does not fit the schema.", body = ErrorBody),
    ),
    security(("admin_token" = []), ("api_key" = [])),
)]
#[tracing::instrument(skip_all, fields(merchant_id = %merchant))]
pub(crate) async fn create_draft(
    State(state): State<AppState>,
    Path(merchant): Path<MerchantId>,
    principal: Principal,
    Json(promotion): Json<Promotion>,
) -> Result<Response, ApiError> {
    let draft = state
        .services
        .drafts
        .save(merchant, promotion, principal.name())
        .await?;
    let note = note(merchant, &draft, "saved as a draft".to_owned());
    Ok(note.attach((StatusCode::CREATED, Json(draft)).into_response()))
}

#[utoipa::path(
    get,
    path = "/api/v1/admin/merchants/{id}/drafts/{draft}",
    tag = "drafts",
    summary = "One draft.",
    params(
        ("id" = MerchantId, Path, description = "The merchant.", example = 1),
        ("draft" = i64, Path, description = "The draft.", example = 1),
    ),
    responses(
        (status = 200, description = "The draft.", body = DraftView),
        (status = 401, description = "No admin token or API key, or a wrong or revoked one.", body = ErrorBody),
        (status = 403, description = "The key's role does not permit this, or it is another merchant's.", body = ErrorBody),
        (status = 404, description = "No such draft of this merchant.", body = ErrorBody),
        (status = 400, description = "A path parameter does not parse.", body = ErrorBody),
    ),
    security(("admin_token" = []), ("api_key" = [])),
)]
#[tracing::instrument(skip_all, fields(merchant_id = %merchant, draft_id = draft))]
pub(crate) async fn get_draft(
    State(state): State<AppState>,
    Path((merchant, draft)): Path<(MerchantId, i64)>,
) -> Result<Json<DraftView>, ApiError> {
    Ok(Json(state.services.drafts.get(merchant, draft).await?))
}

#[utoipa::path(
    delete,
    path = "/api/v1/admin/merchants/{id}/drafts/{draft}",
    tag = "drafts",
    summary = "Deletes a draft (a published promotion stays published).",
    params(
        ("id" = MerchantId, Path, description = "The merchant.", example = 1),
        ("draft" = i64, Path, description = "The draft.", example = 1),
    ),
    responses(
        (status = 204, description = "Deleted."),
        (status = 401, description = "No admin token or API key, or a wrong or revoked one.", body = ErrorBody),
        (status = 403, description = "The key's role does not permit this, or it is another merchant's.", body = ErrorBody),
        (status = 404, description = "No such draft of this merchant.", body = ErrorBody),
        (status = 400, description = "A path parameter does not parse.", body = ErrorBody),
    ),
    security(("admin_token" = []), ("api_key" = [])),
)]
#[tracing::instrument(skip_all, fields(merchant_id = %merchant, draft_id = draft))]
pub(crate) async fn delete_draft(
    State(state): State<AppState>,
    Path((merchant, draft)): Path<(MerchantId, i64)>,
) -> Result<Response, ApiError> {
    let view = state.services.drafts.get(merchant, draft).await?;
    state.services.drafts.delete(merchant, draft).await?;
    Ok(note(merchant, &view, "deleted".to_owned()).attach(StatusCode::NO_CONTENT.into_response()))
}

#[utoipa::path(
    post,
    path = "/api/v1/admin/merchants/{id}/drafts/{draft}/what-if",
    tag = "drafts",
    summary = "Replays the draft against the merchant's stored sales of the last `days` (1–90, default 28) with the engine the tills run, and reports the checks and customers it touches, its cost by store and by day, and the running promotions it displaces.",
    params(
        ("id" = MerchantId, Path, description = "The merchant.", example = 1),
        ("draft" = i64, Path, description = "The draft.", example = 1),
    ),
    request_body = WhatIfRequest,
    responses(
        (status = 200, description = "The what-if.", body = WhatIfReport),
        (status = 401, description = "No admin token or API key, or a wrong or revoked one.", body = ErrorBody),
        (status = 403, description = "The key's role does not permit this, or it is another merchant's.", body = ErrorBody),
        (status = 404, description = "No such draft of this merchant.", body = ErrorBody),
        (status = 409, description = "`no_ruleset`: the merchant has published no ruleset to compare with.", body = ErrorBody),
        (status = 400, description = "A path parameter does not parse. Malformed JSON. `days` is out of range (the message names it).", body = ErrorBody),
        (status = 415, description = "The body is not `application/json`.", body = ErrorBody),
        (status = 422, description = "The body does not fit the schema, or the rules with the draft cannot be priced (the faults name the field).", body = ErrorBody),
    ),
    security(("admin_token" = []), ("api_key" = [])),
)]
#[tracing::instrument(skip_all, fields(merchant_id = %merchant, draft_id = draft))]
pub(crate) async fn draft_what_if(
    State(state): State<AppState>,
    Path((merchant, draft)): Path<(MerchantId, i64)>,
    Json(body): Json<WhatIfRequest>,
) -> Result<Response, ApiError> {
    let days = Days::parse(body.days).map_err(DraftError::from)?;
    let report = state.services.drafts.what_if(merchant, draft, days).await?;
    let after = format!(
        "what-if over {} days: {} of {} checks touched",
        report.days, report.total.checks_touched, report.sales_priced
    );
    let note = AuditNote {
        merchant: Some(merchant),
        subject: Some(format!("draft {draft} ({})", report.promotion_id)),
        after,
        ..AuditNote::default()
    };
    Ok(note.attach(Json(report).into_response()))
}

#[utoipa::path(
    post,
    path = "/api/v1/admin/merchants/{id}/drafts/{draft}/publish",
    tag = "drafts",
    summary = "Publishes the draft's promotion as the next ruleset version now, or schedules it for `at`, when the server publishes it once through the same path.",
    params(
        ("id" = MerchantId, Path, description = "The merchant.", example = 1),
        ("draft" = i64, Path, description = "The draft.", example = 1),
    ),
    request_body = PublishDraft,
    responses(
        (status = 201, description = "Published now.", body = DraftView),
        (status = 202, description = "Scheduled for `at`.", body = DraftView),
        (status = 401, description = "No admin token or API key, or a wrong or revoked one.", body = ErrorBody),
        (status = 403, description = "The key's role does not permit this, or it is another merchant's.", body = ErrorBody),
        (status = 404, description = "No such draft of this merchant.", body = ErrorBody),
        (status = 409, description = "`draft_done`: published or being published already; `no_ruleset`: the merchant has no ruleset to add to.", body = ErrorBody),
        (status = 400, description = "A path parameter does not parse. Malformed JSON. `at` is not in the future.", body = ErrorBody),
        (status = 415, description = "The body is not `application/json`.", body = ErrorBody),
        (status = 422, description = "The body does not fit the schema, or the promotion is invalid (the faults name the field).", body = ErrorBody),
    ),
    security(("admin_token" = []), ("api_key" = [])),
)]
#[tracing::instrument(skip_all, fields(merchant_id = %merchant, draft_id = draft))]
pub(crate) async fn publish_draft(
    State(state): State<AppState>,
    Path((merchant, draft)): Path<(MerchantId, i64)>,
    Json(body): Json<PublishDraft>,
) -> Result<Response, ApiError> {
    let drafts = &state.services.drafts;
    let (status, view, after) = match body.at {
        None => {
            let view = drafts.publish_now(merchant, draft).await?;
            let after = format!(
                "published as version {}",
                view.published_version.unwrap_or_default()
            );
            (StatusCode::CREATED, view, after)
        }
        Some(at) => {
            let view = drafts.schedule(merchant, draft, at).await?;
            (StatusCode::ACCEPTED, view, format!("scheduled for {at}"))
        }
    };
    Ok(note(merchant, &view, after).attach((status, Json(view)).into_response()))
}
