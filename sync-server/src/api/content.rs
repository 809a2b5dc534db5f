//! `…/merchants/{id}/media` and `…/merchants/{id}/promotions/{promotion}/content`:
//! the JSON twin of the content page (`web::content`). A picture is
//! uploaded as the raw bytes of the body (its kind is sniffed from them,
//! whatever the `Content-Type`), checked and re-encoded, and answered with
//! its hash; a promotion's content names its picture and poster by hash.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use shared::ids::{MerchantId, PromotionId};
use shared::wire::ErrorBody;

use super::extract::{Json, Path};
use crate::db::ContentRow;
use crate::error::ApiError;
use crate::guard::AuditNote;
use crate::media::MediaError;
use crate::rich_text;
use crate::services::content::{ContentError, ContentUpdate};
use crate::state::AppState;
use crate::web::content::audit_text;
use crate::wire::content::{MediaView, PictureBytes, PromotionContent, PromotionContentUpdate};

impl From<ContentError> for ApiError {
    fn from(e: ContentError) -> Self {
        match e {
            ContentError::Db(e) => e.into(),
            ContentError::UnknownPromotion => ApiError::not_found(e.to_string()),
            ContentError::Media(MediaError::TooBig { .. }) => ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "picture_too_big",
                e.to_string(),
            ),
            ContentError::Media(refusal) => ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                refusal.code(),
                refusal.to_string(),
            ),
            ContentError::Invalid { field, message_id } => {
                let why = match message_id {
                    "content-error-description-long" => {
                        format!("at most {} characters", rich_text::MAX_CHARS)
                    }
                    "content-error-period" => "must be after shown_from".to_owned(),
                    _ => "no such picture was uploaded".to_owned(),
                };
                ApiError::validation(format!("{field}: {why}"))
            }
        }
    }
}

fn view(promotion: &PromotionId, content: Option<ContentRow>) -> PromotionContent {
    match content {
        Some(c) => PromotionContent {
            promotion_id: promotion.to_string(),
            picture: c.picture,
            poster: c.poster,
            description_html: rich_text::render(&c.description),
            description: c.description,
            shown_from: c.shown_from,
            shown_until: c.shown_until,
            updated_at: Some(c.updated_at),
        },
        None => PromotionContent {
            promotion_id: promotion.to_string(),
            picture: None,
            poster: None,
            description: String::new(),
            description_html: String::new(),
            shown_from: None,
            shown_until: None,
            updated_at: None,
        },
    }
}

/// A promotion id from the path; one that cannot be is not found.
fn promotion_id(text: String) -> Result<PromotionId, ApiError> {
    PromotionId::parse(text).map_err(|_| ApiError::not_found("no such promotion"))
}

#[utoipa::path(
    post,
    path = "/api/v1/admin/merchants/{id}/media",
    tag = "content",
    summary = "Uploads a picture or poster: the body is the file's bytes (JPEG, PNG or WebP, told by the bytes, at most 8 MiB and 40 megapixels). It is re-encoded (no metadata kept), thumbnailed and stored once by the SHA-256 of what is kept.",
    params(("id" = MerchantId, Path, description = "The merchant.", example = 1)),
    request_body(content = inline(PictureBytes), content_type = "application/octet-stream", description = "The picture's bytes (its kind is told by them, whatever the `Content-Type`)."),
    responses(
        (status = 201, description = "Stored (or stored before: `new` is false).", body = MediaView),
        (status = 401, description = "No admin token or API key, or a wrong or revoked one.", body = ErrorBody),
        (status = 403, description = "The key's role does not permit this, or it is another merchant's.", body = ErrorBody),
        (status = 400, description = "A path parameter does not parse.", body = ErrorBody),
        (status = 413, description = "`picture_too_big` / `payload_too_large`: more than 8 MiB.", body = ErrorBody),
        (status = 422, description = "`not_a_picture`, `unsupported_picture` (GIF, BMP…), `too_many_pixels`, `damaged_picture` or `empty_picture`: the message names the problem.", body = ErrorBody),
    ),
    security(("admin_token" = []), ("api_key" = [])),
)]
#[tracing::instrument(skip_all, fields(merchant_id = %merchant))]
pub(crate) async fn upload_media(
    State(state): State<AppState>,
    Path(merchant): Path<MerchantId>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let (info, new) = state.services.content.upload(body.to_vec()).await?;
    let reply = MediaView {
        url: crate::web::media::url(&info.hash),
        thumbnail_url: crate::web::media::thumbnail_url(&info.hash),
        hash: info.hash,
        content_type: info.content_type,
        width: info.width,
        height: info.height,
        new,
    };
    let note = AuditNote {
        merchant: Some(merchant),
        subject: Some(format!("media {}", reply.hash)),
        after: format!("{} {}×{}", reply.content_type, reply.width, reply.height),
        ..AuditNote::default()
    };
    Ok(note.attach((StatusCode::CREATED, Json(reply)).into_response()))
}

#[utoipa::path(
    get,
    path = "/api/v1/admin/merchants/{id}/promotions/{promotion}/content",
    tag = "content",
    summary = "A promotion's content: picture, poster, description and publication period on the customers' phones (empty when none was saved).",
    params(
        ("id" = MerchantId, Path, description = "The merchant.", example = 1),
        ("promotion" = String, Path, description = "A promotion of the merchant's current rules.", example = "milk-10"),
    ),
    responses(
        (status = 200, description = "The content.", body = PromotionContent),
        (status = 401, description = "No admin token or API key, or a wrong or revoked one.", body = ErrorBody),
        (status = 403, description = "The key's role does not permit this, or it is another merchant's.", body = ErrorBody),
        (status = 404, description = "No such promotion in the merchant's current rules.", body = ErrorBody),
        (status = 400, description = "A path parameter does not parse.", body = ErrorBody),
    ),
    security(("admin_token" = []), ("api_key" = [])),
)]
#[tracing::instrument(skip_all, fields(merchant_id = %merchant))]
pub(crate) async fn get_promotion_content(
    State(state): State<AppState>,
    Path((merchant, promotion)): Path<(MerchantId, String)>,
) -> Result<Json<PromotionContent>, ApiError> {
    let promotion = promotion_id(promotion)?;
    let (_, content) = state
        .services
        .content
        .content(merchant, promotion.clone())
        .await?;
    Ok(Json(view(&promotion, content)))
}

#[utoipa::path(
    put,
    path = "/api/v1/admin/merchants/{id}/promotions/{promotion}/content",
    tag = "content",
    summary = "Saves a promotion's content, replacing what was: pictures by the hashes uploads answered, the description in Markdown, the publication period (apart from the pricing period).",
    params(
        ("id" = MerchantId, Path, description = "The merchant.", example = 1),
        ("promotion" = String, Path, description = "A promotion of the merchant's current rules.", example = "milk-10"),
    ),
    request_body = PromotionContentUpdate,
    responses(
        (status = 200, description = "Saved.", body = PromotionContent),
        (status = 401, description = "No admin token or API key, or a wrong or revoked one.", body = ErrorBody),
        (status = 403, description = "The key's role does not permit this, or it is another merchant's.", body = ErrorBody),
        (status = 404, description = "No such promotion in the merchant's current rules.", body = ErrorBody),
        (status = 400, description = "A path parameter does not parse. Malformed JSON.", body = ErrorBody),
        (status = 415, description = "The body is not `application/json`.", body = ErrorBody),
        (status = 422, description = "The body does not fit the schema, or a field is invalid (the message names it): an unknown picture, a long description, a period ending before it starts.", body = ErrorBody),
    ),
    security(("admin_token" = []), ("api_key" = [])),
)]
#[tracing::instrument(skip_all, fields(merchant_id = %merchant))]
pub(crate) async fn put_promotion_content(
    State(state): State<AppState>,
    Path((merchant, promotion)): Path<(MerchantId, String)>,
    Json(body): Json<PromotionContentUpdate>,
) -> Result<Response, ApiError> {
    let promotion = promotion_id(promotion)?;
    let (before, after) = state
        .services
        .content
        .save(
            merchant,
            promotion.clone(),
            ContentUpdate {
                picture: body.picture,
                poster: body.poster,
                description: body.description.trim().to_owned(),
                shown_from: body.shown_from,
                shown_until: body.shown_until,
            },
        )
        .await?;
    let note = AuditNote {
        merchant: Some(merchant),
        subject: Some(format!("promotion {promotion} content")),
        before: before.as_ref().map(audit_text).unwrap_or_default(),
        after: audit_text(&after),
        ..AuditNote::default()
    };
    Ok(note.attach(Json(view(&promotion, Some(after))).into_response()))
}
