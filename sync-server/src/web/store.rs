//! `/hq/merchants/{id}/stores/{store}`: one store's page, for its manager
//! (and the owner): its sales figures (the same statistics as the
//! dashboard, this store's row), its registers with their revoke forms, and
//! the form for a register's one-time enrollment token.

use askama::Template;
use axum::extract::State;
use axum::response::{Html, IntoResponse, Response};
use chrono_tz::Tz;
use shared::ids::{MerchantId, StoreId};

use crate::access::{Permission, Target};
use crate::services::stats::{DayRange, StatsError};
use crate::state::AppState;
use crate::web::error::PageError;
use crate::web::extract::Path;
use crate::web::format;
use crate::web::i18n;
use crate::web::layout::HqHeader;
use crate::web::session::HqSession;

struct RegisterRow {
    id: String,
    hostname: String,
    last_seen: String,
    records: String,
    revoked: Option<String>,
}

#[derive(Template)]
#[template(path = "hq/store.html")]
struct StorePage {
    header: HqHeader,
    merchant_id: MerchantId,
    store_id: StoreId,
    store_name: String,
    checks: String,
    revenue: String,
    average_check: String,
    registers: Vec<RegisterRow>,
    can_manage: bool,
}

/// `GET /hq/merchants/{id}/stores/{store}`.
#[tracing::instrument(skip_all, fields(merchant_id = %merchant, store_id = %store))]
pub async fn page(
    State(state): State<AppState>,
    session: HqSession,
    Path((merchant, store)): Path<(MerchantId, StoreId)>,
) -> Result<Response, PageError> {
    let merchant_row = state.services.catalog.merchant(merchant).await?;
    let stores = state.services.catalog.stores(merchant).await?;
    let store_row = stores
        .iter()
        .find(|s| s.id == store)
        .ok_or(PageError::NotFound)?;
    let zone: Tz = store_row.timezone.tz();
    let stats = match state
        .services
        .stats
        .stats(merchant, DayRange::default())
        .await
    {
        Ok(stats) => stats,
        Err(StatsError::Db(e)) => return Err(e.into()),
        Err(other) => return Err(PageError::internal(&other)),
    };
    let currency = stats.currency;
    let figures = stats
        .by_store
        .iter()
        .find(|s| s.store_id == store)
        .map(|s| s.figures.clone())
        .unwrap_or_default();
    let registers = state
        .services
        .catalog
        .registers(merchant)
        .await?
        .into_iter()
        .filter(|r| r.register.store_id == store)
        .map(|r| RegisterRow {
            id: r.register.id.to_string(),
            hostname: r.register.hostname.clone(),
            last_seen: r
                .register
                .last_seen_at
                .map_or_else(|| "—".to_owned(), |t| format::instant(t, zone)),
            records: format::count(r.register.records),
            revoked: r.revoked_at.map(|t| format::instant(t, zone)),
        })
        .collect();
    let page = StorePage {
        header: HqHeader::for_merchant(&session, &merchant_row),
        merchant_id: merchant,
        store_id: store,
        store_name: store_row.name.clone(),
        checks: format::count(figures.checks),
        revenue: format::money(figures.revenue, currency),
        average_check: format::money(figures.average_check, currency),
        registers,
        can_manage: session.may(
            Permission::ManageRegisters,
            Target {
                merchant: Some(merchant),
                store: Some(store),
            },
        ),
    };
    Ok(Html(page.render()?).into_response())
}
