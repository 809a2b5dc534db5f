//! `/hq/merchants/{id}/drafts`: promotion drafts (issue 11). The promotion
//! form's «Сохранить черновик» button posts the same fields here
//! (`formaction`), parsed as the form parses them, and saves a draft
//! instead of publishing. A draft's page runs its what-if over the last N
//! days of stored sales (`services::whatif`) and publishes it in one
//! click, now or at a local time in the merchant's zone.

use askama::Template;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};
use chrono::{NaiveDateTime, TimeZone as _};
use chrono_tz::Tz;
use serde::Deserialize;
use shared::ids::MerchantId;
use shared::money::{Currency, Money};
use shared::ruleset::{Promotion, Reward, Target};

use crate::guard::AuditNote;
use crate::services::drafts::{DraftError, refusal_text};
use crate::services::whatif::{Days, WhatIfError};
use crate::state::AppState;
use crate::web::error::PageError;
use crate::web::extract::{Path, Query};
use crate::web::format;
use crate::web::i18n;
use crate::web::layout::HqHeader;
use crate::web::login::see_other;
use crate::web::promotions::PromotionForm;
use crate::web::session::{CsrfProtected, HqSession, ProtectedForm};
use crate::web::setup::{self, SetupForms};
use crate::wire::drafts::{DraftView, WhatIfFigures, WhatIfReport};

/// Kopecks as roubles, in the page's language.
fn rub(kopecks: i64) -> String {
    Money::from_minor(kopecks)
        .map_or_else(|_| kopecks.to_string(), |m| format::money(m, Currency::RUB))
}

fn status_label(status: &str) -> String {
    i18n::t(match status {
        "scheduled" => "draft-status-scheduled",
        "publishing" => "draft-status-publishing",
        "published" => "draft-status-published",
        "failed" => "draft-status-failed",
        _ => "draft-status-draft",
    })
}

/// What the promotion gives and to what, in a few words.
fn summary(p: &Promotion) -> String {
    let target = match &p.target {
        Target::Skus { skus } => skus
            .iter()
            .map(|s| s.as_str())
            .collect::<Vec<_>>()
            .join(", "),
        Target::Categories { categories } => categories
            .iter()
            .map(|c| c.as_str())
            .collect::<Vec<_>>()
            .join(", "),
        Target::Basket => i18n::t("draft-whole-check"),
    };
    let reward = match &p.reward {
        Reward::PercentOff { percent, .. } => format!("−{}", format::percent(*percent)),
        other => serde_json::to_value(other)
            .ok()
            .and_then(|v| v.get("kind").and_then(|k| k.as_str()).map(str::to_owned))
            .unwrap_or_default(),
    };
    format!("{reward} · {target}")
}

struct DraftLine {
    id: i64,
    code: String,
    name: String,
    summary: String,
    status: String,
    created: String,
}

#[derive(Template)]
#[template(path = "hq/drafts.html")]
struct DraftsPage {
    header: HqHeader,
    merchant_id: MerchantId,
    merchant_name: String,
    drafts: Vec<DraftLine>,
}

/// The figures of a what-if row, formatted.
struct FiguresRow {
    label: String,
    checks: String,
    discount: String,
    points: String,
    discount_change: String,
    points_change: String,
}

fn figures_row(label: String, f: &WhatIfFigures) -> FiguresRow {
    FiguresRow {
        label,
        checks: format::count(i64::try_from(f.checks_touched).unwrap_or(i64::MAX)),
        discount: rub(f.discount),
        points: format::count(f.points),
        discount_change: rub(f.discount_change),
        points_change: format::count(f.points_change),
    }
}

struct DisplacedRow {
    code: String,
    group: String,
    checks: String,
    discount: String,
    points: String,
}

/// A what-if as the page shows it.
struct WhatIfView {
    period: String,
    sales_read: String,
    sales_priced: String,
    skipped: Vec<(String, String)>,
    checks_touched: String,
    customers_touched: String,
    cost: String,
    points: String,
    discount_before: String,
    discount_after: String,
    discount_change: String,
    points_change: String,
    by_store: Vec<FiguresRow>,
    by_day: Vec<FiguresRow>,
    displaced: Vec<DisplacedRow>,
}

#[derive(Template)]
#[template(path = "hq/draft.html")]
struct DraftPage {
    header: HqHeader,
    merchant_id: MerchantId,
    merchant_name: String,
    draft: DraftLine,
    publishable: bool,
    may_publish: bool,
    publish_at: String,
    published_version: Option<i64>,
    scheduled_for: Option<String>,
    failure: Option<String>,
    days: String,
    days_error: Option<String>,
    at_error: Option<String>,
    what_if: Option<WhatIfView>,
    what_if_error: Option<String>,
}

fn line(d: &DraftView, zone: Tz) -> DraftLine {
    DraftLine {
        id: d.id,
        code: d.promotion.id.as_str().to_owned(),
        name: d.promotion.name.clone(),
        summary: summary(&d.promotion),
        status: status_label(&d.status),
        created: format::instant(d.created_at, zone),
    }
}

async fn zone_of(state: &AppState, merchant: MerchantId) -> Result<Tz, PageError> {
    let stores = state.services.catalog.stores(merchant).await?;
    Ok(format::display_zone(&stores))
}

fn page_error(e: DraftError) -> PageError {
    match e {
        DraftError::NotFound => PageError::NotFound,
        DraftError::Db(e) | DraftError::WhatIf(WhatIfError::Db(e)) => e.into(),
        other => PageError::internal(&other),
    }
}

/// `GET /hq/merchants/{id}/drafts`.
#[tracing::instrument(skip_all, fields(merchant_id = %merchant))]
pub async fn list(
    State(state): State<AppState>,
    session: HqSession,
    Path(merchant): Path<MerchantId>,
) -> Result<Response, PageError> {
    let m = state.services.catalog.merchant(merchant).await?;
    let zone = zone_of(&state, merchant).await?;
    let drafts = state
        .services
        .drafts
        .list(merchant)
        .await
        .map_err(page_error)?;
    let page = DraftsPage {
        header: HqHeader::for_merchant(&session, &m),
        merchant_id: merchant,
        merchant_name: m.name,
        drafts: drafts.iter().map(|d| line(d, zone)).collect(),
    };
    Ok(Html(page.render()?).into_response())
}

/// `POST /hq/merchants/{id}/drafts`: the promotion form's «save as draft»;
/// to the draft's page, or the set-up page again with the refusals.
#[tracing::instrument(skip_all, fields(merchant_id = %merchant))]
pub async fn save(
    State(state): State<AppState>,
    Path(merchant): Path<MerchantId>,
    ProtectedForm { session, form }: ProtectedForm<PromotionForm>,
) -> Result<Response, PageError> {
    let zone = zone_of(&state, merchant).await?;
    let stored = state
        .services
        .publisher
        .current(merchant)
        .await?
        .and_then(|current| {
            current
                .ruleset
                .promotions
                .into_iter()
                .find(|p| p.id.as_str() == form.code())
        });
    let mut form = form;
    form.reward_note = stored
        .as_ref()
        .and_then(|p| PromotionForm::from_promotion(p, zone).reward_note);
    let promotion = match form.parse_over(stored.as_ref(), zone, state.clock.now()) {
        Ok(promotion) => promotion,
        Err(errors) => {
            let forms = SetupForms {
                promotion: Some((form, errors)),
                ..SetupForms::default()
            };
            return setup::refused(&state, &session, merchant, forms).await;
        }
    };
    let actor = session
        .email
        .clone()
        .unwrap_or_else(|| "admin-token".to_owned());
    let draft = state
        .services
        .drafts
        .save(merchant, promotion, actor)
        .await
        .map_err(page_error)?;
    let note = AuditNote {
        merchant: Some(merchant),
        subject: Some(format!(
            "draft {} ({})",
            draft.id,
            draft.promotion.id.as_str()
        )),
        after: "saved as a draft".to_owned(),
        ..AuditNote::default()
    };
    Ok(note.attach(see_other(&format!(
        "/hq/merchants/{merchant}/drafts/{}",
        draft.id
    ))))
}

/// The draft page's query: a what-if of `days` when `what_if` is set.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct DraftQuery {
    days: Option<String>,
    what_if: Option<String>,
}

fn what_if_view(
    r: &WhatIfReport,
    zone: Tz,
    stores: &[(shared::ids::StoreId, String)],
) -> WhatIfView {
    let count = |n: u64| format::count(i64::try_from(n).unwrap_or(i64::MAX));
    let store_name = |id: shared::ids::StoreId| {
        stores
            .iter()
            .find(|(s, _)| *s == id)
            .map_or_else(|| id.to_string(), |(_, name)| name.clone())
    };
    WhatIfView {
        period: format!(
            "{} — {}",
            format::instant(r.from, zone),
            format::instant(r.to, zone)
        ),
        sales_read: count(r.sales_read),
        sales_priced: count(r.sales_priced),
        skipped: r
            .skipped
            .iter()
            .map(|s| (s.reason.clone(), count(s.sales)))
            .collect(),
        checks_touched: count(r.total.checks_touched),
        customers_touched: count(r.customers_touched),
        cost: rub(r.total.discount),
        points: format::count(r.total.points),
        discount_before: rub(r.discount_before),
        discount_after: rub(r.discount_after),
        discount_change: rub(r.total.discount_change),
        points_change: format::count(r.total.points_change),
        by_store: r
            .by_store
            .iter()
            .map(|s| figures_row(store_name(s.store_id), &s.figures))
            .collect(),
        by_day: r
            .by_day
            .iter()
            .map(|d| figures_row(format::day(d.day), &d.figures))
            .collect(),
        displaced: r
            .displaced
            .iter()
            .map(|d| DisplacedRow {
                code: d.promotion_id.clone(),
                group: d.group.clone(),
                checks: count(d.checks),
                discount: rub(d.discount),
                points: format::count(d.points),
            })
            .collect(),
    }
}

/// What the draft page shows besides the draft.
#[derive(Default)]
struct Extra {
    days: Option<String>,
    days_error: Option<String>,
    at: String,
    at_error: Option<String>,
    what_if: Option<WhatIfView>,
    what_if_error: Option<String>,
    status: StatusCode,
}

async fn render(
    state: &AppState,
    session: &HqSession,
    merchant: MerchantId,
    draft_id: i64,
    extra: Extra,
) -> Result<Response, PageError> {
    let m = state.services.catalog.merchant(merchant).await?;
    let zone = zone_of(state, merchant).await?;
    let draft = state
        .services
        .drafts
        .get(merchant, draft_id)
        .await
        .map_err(page_error)?;
    let publishable = !matches!(draft.status.as_str(), "published" | "publishing");
    let page = DraftPage {
        header: HqHeader::for_merchant(session, &m),
        merchant_id: merchant,
        merchant_name: m.name,
        draft: line(&draft, zone),
        publishable,
        may_publish: session.may_in(crate::access::Permission::Publish, merchant),
        publish_at: extra.at,
        published_version: draft.published_version,
        scheduled_for: (draft.status == "scheduled")
            .then_some(draft.publish_at)
            .flatten()
            .map(|at| format::instant(at, zone)),
        failure: draft.failure.clone(),
        days: extra
            .days
            .unwrap_or_else(|| crate::services::whatif::DEFAULT_DAYS.to_string()),
        days_error: extra.days_error,
        at_error: extra.at_error,
        what_if: extra.what_if,
        what_if_error: extra.what_if_error,
    };
    let status = if extra.status == StatusCode::default() {
        StatusCode::OK
    } else {
        extra.status
    };
    Ok((status, Html(page.render()?)).into_response())
}

/// `GET /hq/merchants/{id}/drafts/{draft}`: the draft; with `what_if`,
/// its what-if over `days`.
#[tracing::instrument(skip_all, fields(merchant_id = %merchant, draft_id = draft))]
pub async fn page(
    State(state): State<AppState>,
    session: HqSession,
    Path((merchant, draft)): Path<(MerchantId, i64)>,
    Query(query): Query<DraftQuery>,
) -> Result<Response, PageError> {
    let mut extra = Extra {
        days: query.days.clone(),
        ..Extra::default()
    };
    if query.what_if.is_some() {
        let days = query
            .days
            .as_deref()
            .map(str::trim)
            .filter(|d| !d.is_empty())
            .map(|d| d.parse::<i64>().unwrap_or(-1));
        match Days::parse(days) {
            Err(_) => {
                extra.days_error = Some(i18n::t1(
                    "draft-error-days",
                    "max",
                    crate::services::whatif::MAX_DAYS,
                ));
                extra.status = StatusCode::BAD_REQUEST;
            }
            Ok(days) => match state.services.drafts.what_if(merchant, draft, days).await {
                Ok(report) => {
                    let zone = zone_of(&state, merchant).await?;
                    let stores: Vec<_> = state
                        .services
                        .catalog
                        .stores(merchant)
                        .await?
                        .into_iter()
                        .map(|s| (s.id, s.name))
                        .collect();
                    extra.what_if = Some(what_if_view(&report, zone, &stores));
                }
                Err(DraftError::WhatIf(WhatIfError::NoRuleset)) => {
                    extra.what_if_error = Some(i18n::t("draft-error-no-ruleset"));
                }
                Err(DraftError::WhatIf(WhatIfError::Rules(invalid))) => {
                    extra.what_if_error = Some(
                        invalid
                            .0
                            .iter()
                            .map(ToString::to_string)
                            .collect::<Vec<_>>()
                            .join("; "),
                    );
                    extra.status = StatusCode::UNPROCESSABLE_ENTITY;
                }
                Err(e) => return Err(page_error(e)),
            },
        }
    }
    render(&state, &session, merchant, draft, extra).await
}

/// The publish form: `when` is `now` or `at`, `at` a local time.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct PublishForm {
    csrf: String,
    when: String,
    at: String,
}

impl CsrfProtected for PublishForm {
    fn csrf_token(&self) -> &str {
        &self.csrf
    }
}

/// A form with only its token, for the delete button.
#[derive(Debug, Default, Deserialize)]
pub struct ButtonForm {
    #[serde(default)]
    csrf: String,
}

impl CsrfProtected for ButtonForm {
    fn csrf_token(&self) -> &str {
        &self.csrf
    }
}

/// A `datetime-local` value in `zone`.
fn parse_local(text: &str, zone: Tz) -> Option<chrono::DateTime<chrono::Utc>> {
    let text = text.trim();
    let local = NaiveDateTime::parse_from_str(text, "%Y-%m-%dT%H:%M")
        .or_else(|_| NaiveDateTime::parse_from_str(text, "%Y-%m-%dT%H:%M:%S"))
        .ok()?;
    zone.from_local_datetime(&local)
        .earliest()
        .map(|t| t.with_timezone(&chrono::Utc))
}

/// `POST /hq/merchants/{id}/drafts/{draft}/publish`: publishes now, or
/// schedules for a local time; back to the draft's page with the outcome
/// (a refusal names the field).
#[tracing::instrument(skip_all, fields(merchant_id = %merchant, draft_id = draft))]
pub async fn publish(
    State(state): State<AppState>,
    Path((merchant, draft)): Path<(MerchantId, i64)>,
    ProtectedForm { session, form }: ProtectedForm<PublishForm>,
) -> Result<Response, PageError> {
    let drafts = &state.services.drafts;
    let outcome = if form.when == "at" {
        let zone = zone_of(&state, merchant).await?;
        let Some(at) = parse_local(&form.at, zone) else {
            let extra = Extra {
                at: form.at.clone(),
                at_error: Some(i18n::t("draft-error-at")),
                status: StatusCode::UNPROCESSABLE_ENTITY,
                ..Extra::default()
            };
            return render(&state, &session, merchant, draft, extra).await;
        };
        drafts
            .schedule(merchant, draft, at)
            .await
            .map(|v| (v, format!("scheduled for {at}")))
    } else {
        drafts.publish_now(merchant, draft).await.map(|v| {
            let after = format!(
                "published as version {}",
                v.published_version.unwrap_or_default()
            );
            (v, after)
        })
    };
    match outcome {
        Ok((view, after)) => {
            let note = AuditNote {
                merchant: Some(merchant),
                subject: Some(format!(
                    "draft {} ({})",
                    view.id,
                    view.promotion.id.as_str()
                )),
                after,
                ..AuditNote::default()
            };
            Ok(note.attach(see_other(&format!(
                "/hq/merchants/{merchant}/drafts/{draft}"
            ))))
        }
        Err(DraftError::Invalid { .. }) => {
            let extra = Extra {
                at: form.at.clone(),
                at_error: Some(i18n::t("draft-error-at-past")),
                status: StatusCode::UNPROCESSABLE_ENTITY,
                ..Extra::default()
            };
            render(&state, &session, merchant, draft, extra).await
        }
        Err(DraftError::Refused(refusal)) => {
            // Noted on the draft, which the page shows.
            tracing::info!(reason = %refusal_text(&refusal), "a draft's publish was refused");
            let extra = Extra {
                status: StatusCode::UNPROCESSABLE_ENTITY,
                ..Extra::default()
            };
            render(&state, &session, merchant, draft, extra).await
        }
        Err(DraftError::Done(_)) => Ok(see_other(&format!(
            "/hq/merchants/{merchant}/drafts/{draft}"
        ))),
        Err(e) => Err(page_error(e)),
    }
}

/// `POST /hq/merchants/{id}/drafts/{draft}/delete`.
#[tracing::instrument(skip_all, fields(merchant_id = %merchant, draft_id = draft))]
pub async fn delete(
    State(state): State<AppState>,
    Path((merchant, draft)): Path<(MerchantId, i64)>,
    ProtectedForm { .. }: ProtectedForm<ButtonForm>,
) -> Result<Response, PageError> {
    state
        .services
        .drafts
        .delete(merchant, draft)
        .await
        .map_err(page_error)?;
    let note = AuditNote {
        merchant: Some(merchant),
        subject: Some(format!("draft {draft}")),
        after: "deleted".to_owned(),
        ..AuditNote::default()
    };
    Ok(note.attach(see_other(&format!("/hq/merchants/{merchant}/drafts"))))
}
