//! `/hq/merchants/{id}/audit?actor=&action=&from=&to=`: the owner's view of
//! the audit trail: who did what and when, with before and after, newest
//! first, filtered by actor, action (a prefix such as `promotion`) and
//! days (UTC).

use askama::Template;
use axum::extract::State;
use axum::response::{Html, IntoResponse, Response};
use chrono::NaiveDate;
use serde::Deserialize;
use shared::ids::MerchantId;

use crate::db::AuditFilter;
use crate::state::AppState;
use crate::web::account::utc;
use crate::web::error::PageError;
use crate::web::extract::{Path, Query};
use crate::web::i18n;
use crate::web::layout::HqHeader;
use crate::web::session::HqSession;

/// The most entries shown.
const SHOWN: usize = 200;

/// The filter form, as the browser sends it.
#[derive(Debug, Default, Deserialize)]
pub struct AuditQuery {
    #[serde(default)]
    actor: String,
    #[serde(default)]
    action: String,
    #[serde(default)]
    from: String,
    #[serde(default)]
    to: String,
}

struct Row {
    at: String,
    actor: String,
    action: String,
    subject: String,
    before: String,
    after: String,
}

#[derive(Template)]
#[template(path = "hq/audit.html")]
struct AuditPage {
    header: HqHeader,
    query: AuditQuery,
    rows: Vec<Row>,
    error: Option<&'static str>,
}

fn day(text: &str) -> Result<Option<i64>, ()> {
    if text.trim().is_empty() {
        return Ok(None);
    }
    NaiveDate::parse_from_str(text.trim(), "%Y-%m-%d")
        .ok()
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .map(|t| Some(t.and_utc().timestamp()))
        .ok_or(())
}

/// `GET /hq/merchants/{id}/audit`.
#[tracing::instrument(skip_all, fields(merchant_id = %merchant))]
pub async fn page(
    State(state): State<AppState>,
    session: HqSession,
    Path(merchant): Path<MerchantId>,
    Query(query): Query<AuditQuery>,
) -> Result<Response, PageError> {
    let merchant_row = state.services.catalog.merchant(merchant).await?;
    let (from, to) = (day(&query.from), day(&query.to));
    let (rows, error) = match (from, to) {
        (Ok(from_unix), Ok(to_unix)) => {
            let filter = AuditFilter {
                merchant_id: Some(merchant),
                actor: Some(query.actor.trim().to_owned()).filter(|a| !a.is_empty()),
                action: Some(query.action.trim().to_owned()).filter(|a| !a.is_empty()),
                from_unix,
                until_unix: to_unix.map(|t| t + 24 * 3600),
                limit: SHOWN,
            };
            let rows = state
                .services
                .accounts
                .audit(filter)
                .await?
                .into_iter()
                .map(|r| Row {
                    at: utc(r.entry.at_unix),
                    actor: r.entry.actor,
                    action: r.entry.action,
                    subject: r.entry.subject,
                    before: r.entry.before,
                    after: r.entry.after,
                })
                .collect();
            (rows, None)
        }
        _ => (Vec::new(), Some("audit-error-dates")),
    };
    let page = AuditPage {
        header: HqHeader::for_merchant(&session, &merchant_row),
        query,
        rows,
        error,
    };
    Ok(Html(page.render()?).into_response())
}
