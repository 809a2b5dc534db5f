//! `GET /hq/merchants/{id}/campaigns`: each campaign (one per promotion
//! whose publication started) with its messages planned, waiting, sent,
//! failed and skipped, the links followed, and the purchases that followed
//! (the promotion's uses by its recipients after their message).

use askama::Template;
use axum::extract::State;
use axum::response::{Html, IntoResponse, Response};
use chrono::DateTime;
use shared::ids::MerchantId;

use crate::db::CampaignReport;
use crate::state::AppState;
use crate::web::error::PageError;
use crate::web::extract::Path;
use crate::web::format;
use crate::web::i18n;
use crate::web::layout::HqHeader;
use crate::web::session::HqSession;

/// A campaign's row.
struct Row {
    report: CampaignReport,
    started: String,
}

#[derive(Template)]
#[template(path = "hq/campaigns.html")]
struct CampaignsPage {
    header: HqHeader,
    merchant_name: String,
    rows: Vec<Row>,
}

/// `GET /hq/merchants/{id}/campaigns`.
#[tracing::instrument(skip_all, fields(merchant_id = %merchant))]
pub async fn campaigns(
    State(state): State<AppState>,
    session: HqSession,
    Path(merchant): Path<MerchantId>,
) -> Result<Response, PageError> {
    let m = state.services.catalog.merchant(merchant).await?;
    let zone = format::display_zone(&state.services.catalog.stores(merchant).await?);
    let rows = state
        .messaging
        .reports(merchant)
        .await?
        .into_iter()
        .map(|report| Row {
            started: DateTime::from_timestamp(report.starts_at, 0)
                .map(|at| format::instant(at, zone))
                .unwrap_or_default(),
            report,
        })
        .collect();
    let page = CampaignsPage {
        header: HqHeader::for_merchant(&session, &m),
        merchant_name: m.name,
        rows,
    };
    Ok(Html(page.render()?).into_response())
}
