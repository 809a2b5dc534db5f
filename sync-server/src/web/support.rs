//! `/hq/merchants/{id}/customers`: the page of support staff (and the
//! owner): a customer's new personal link, by customer number. The form
//! posts to the same handler as the set-up page's.

use askama::Template;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};
use shared::ids::MerchantId;

use crate::state::AppState;
use crate::web::error::PageError;
use crate::web::extract::Path;
use crate::web::i18n;
use crate::web::layout::HqHeader;
use crate::web::session::HqSession;

#[derive(Template)]
#[template(path = "hq/customers.html")]
struct CustomersPage {
    header: HqHeader,
    merchant_id: MerchantId,
    link_customer: String,
    link_error: Option<String>,
}

/// `GET /hq/merchants/{id}/customers`.
#[tracing::instrument(skip_all, fields(merchant_id = %merchant))]
pub async fn page(
    State(state): State<AppState>,
    session: HqSession,
    Path(merchant): Path<MerchantId>,
) -> Result<Response, PageError> {
    let merchant_row = state.services.catalog.merchant(merchant).await?;
    let page = CustomersPage {
        header: HqHeader::for_merchant(&session, &merchant_row),
        merchant_id: merchant,
        link_customer: String::new(),
        link_error: None,
    };
    Ok(Html(page.render()?).into_response())
}

/// This page again with the refused link form, as `422` (for those who
/// may not see the set-up page, where the owner's form is).
pub async fn refused(
    state: &AppState,
    session: &HqSession,
    merchant: MerchantId,
    customer: String,
    error: String,
) -> Result<Response, PageError> {
    let merchant_row = state.services.catalog.merchant(merchant).await?;
    let page = CustomersPage {
        header: HqHeader::for_merchant(session, &merchant_row),
        merchant_id: merchant,
        link_customer: customer,
        link_error: Some(error),
    };
    Ok((StatusCode::UNPROCESSABLE_ENTITY, Html(page.render()?)).into_response())
}
