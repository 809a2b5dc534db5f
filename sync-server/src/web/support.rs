//! `/hq/merchants/{id}/customers`: the page of support staff (and the
//! owner): a customer's new personal link, by customer number. The form
//! posts to the same handler as the set-up page's.

use askama::Template;
use axum::extract::State;
use axum::response::{Html, IntoResponse, Response};
use shared::ids::MerchantId;

use crate::state::AppState;
use crate::web::error::PageError;
use crate::web::extract::Path;
use crate::web::layout::HqHeader;
use crate::web::session::HqSession;

#[derive(Template)]
#[template(path = "hq/customers.html")]
struct CustomersPage {
    header: HqHeader,
    merchant_id: MerchantId,
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
    };
    Ok(Html(page.render()?).into_response())
}
