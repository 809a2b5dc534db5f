//! `/hq/merchants/{id}/reviews`: the moderation queue of offer reviews.
//! Waiting reviews come first; each can be approved (shown on customers'
//! pages and counted in the offer's rating) or hidden, with the merchant's
//! reply, which customers see under an approved review.

use std::collections::HashMap;

use askama::Template;
use axum::extract::State;
use axum::response::{Html, IntoResponse, Response};
use serde::Deserialize;
use shared::ids::{CustomerId, MerchantId, PromotionId};

use crate::db::ReviewStatus;
use crate::guard::AuditNote;
use crate::state::AppState;
use crate::web::error::PageError;
use crate::web::extract::Path;
use crate::web::format;
use crate::web::i18n;
use crate::web::layout::HqHeader;
use crate::web::login::see_other;
use crate::web::session::{CsrfProtected, HqSession, ProtectedForm};

/// Reviews the queue shows.
const SHOWN: usize = 200;
/// The longest reply.
const MAX_REPLY_CHARS: usize = 1000;

struct Row {
    anchor: String,
    customer_id: CustomerId,
    promotion_id: String,
    offer: String,
    stars: u8,
    text: String,
    reply: String,
    status: &'static str,
    waiting: bool,
    updated: String,
}

#[derive(Template)]
#[template(path = "hq/reviews.html")]
struct ReviewsPage {
    header: HqHeader,
    merchant_id: MerchantId,
    merchant_name: String,
    rows: Vec<Row>,
}

fn status_label(status: ReviewStatus) -> &'static str {
    match status {
        ReviewStatus::Pending => "reviews-status-pending",
        ReviewStatus::Approved => "reviews-status-approved",
        ReviewStatus::Hidden => "reviews-status-hidden",
    }
}

/// `GET /hq/merchants/{id}/reviews`.
#[tracing::instrument(skip_all, fields(merchant_id = %merchant))]
pub async fn page(
    State(state): State<AppState>,
    session: HqSession,
    Path(merchant): Path<MerchantId>,
) -> Result<Response, PageError> {
    let m = state.services.catalog.merchant(merchant).await?;
    let zone = format::display_zone(&state.services.catalog.stores(merchant).await?);
    let names: HashMap<PromotionId, String> = state
        .services
        .publisher
        .current(merchant)
        .await?
        .map(|c| {
            c.ruleset
                .promotions
                .into_iter()
                .map(|p| (p.id, p.name))
                .collect()
        })
        .unwrap_or_default();
    let mut reviews = state.services.pages.recent_reviews(merchant, SHOWN).await?;
    // Waiting first; the newest first within each.
    reviews.sort_by_key(|r| r.status != ReviewStatus::Pending);
    let rows = reviews
        .into_iter()
        .map(|r| Row {
            anchor: format!("review-{}-{}", r.customer_id, r.promotion_id),
            customer_id: r.customer_id,
            offer: names
                .get(&r.promotion_id)
                .cloned()
                .unwrap_or_else(|| r.promotion_id.to_string()),
            promotion_id: r.promotion_id.to_string(),
            stars: r.rating.stars(),
            text: r.text,
            reply: r.reply.unwrap_or_default(),
            status: status_label(r.status),
            waiting: r.status == ReviewStatus::Pending,
            updated: format::instant(r.updated_at, zone),
        })
        .collect();
    let page = ReviewsPage {
        header: HqHeader::for_merchant(&session, &m),
        merchant_id: merchant,
        merchant_name: m.name,
        rows,
    };
    Ok(Html(page.render()?).into_response())
}

/// The moderation form of one review.
#[derive(Debug, Deserialize)]
pub struct ModerateForm {
    #[serde(default)]
    csrf: String,
    customer_id: String,
    promotion_id: String,
    #[serde(default)]
    action: String,
    #[serde(default)]
    reply: String,
}

impl CsrfProtected for ModerateForm {
    fn csrf_token(&self) -> &str {
        &self.csrf
    }
}

/// `POST /hq/merchants/{id}/reviews/moderate`: approves or hides a review
/// with the reply typed; back to the queue.
#[tracing::instrument(skip_all, fields(merchant_id = %merchant))]
pub async fn moderate(
    State(state): State<AppState>,
    Path(merchant): Path<MerchantId>,
    ProtectedForm { form, .. }: ProtectedForm<ModerateForm>,
) -> Result<Response, PageError> {
    let status = match form.action.as_str() {
        "approve" => ReviewStatus::Approved,
        "hide" => ReviewStatus::Hidden,
        _ => return Err(PageError::BadRequest("action: approve or hide")),
    };
    let customer = form
        .customer_id
        .trim()
        .parse::<i64>()
        .ok()
        .and_then(|id| CustomerId::new(id).ok())
        .ok_or(PageError::NotFound)?;
    let promotion =
        PromotionId::parse(form.promotion_id.trim()).map_err(|_| PageError::NotFound)?;
    let reply: String = form.reply.trim().chars().take(MAX_REPLY_CHARS).collect();
    state
        .services
        .pages
        .moderate_review(
            merchant,
            customer,
            promotion.clone(),
            status,
            reply.clone(),
            state.clock.now(),
        )
        .await?;
    tracing::info!(%customer, promotion_id = %promotion, status = status.as_str(), "moderated a review");
    let note = AuditNote {
        subject: Some(format!("review of {promotion} by customer {customer}")),
        after: format!("{}; reply: {reply}", status.as_str()),
        ..AuditNote::default()
    };
    Ok(note.attach(see_other(&format!(
        "/hq/merchants/{merchant}/reviews#review-{customer}-{promotion}"
    ))))
}
