//! `/hq/merchants/{id}/customers`: the page of support staff (and the
//! owner). A customer found by number shows their standing and history
//! (purchases and points adjustments) with the adjustment form: a credit
//! or a debit with a required reason, made once however often the form is
//! sent (it carries an idempotency key drawn when the page was drawn). A
//! debit below zero is refused with the balance. The personal-link form
//! posts to the same handler as the set-up page's. Points held while HQ
//! checks a sale the server priced differently (`services::holds`) are
//! listed with what differs, each with a release and a void button.

use std::collections::HashMap;

use askama::Template;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};
use serde::Deserialize;
use shared::ids::{CustomerId, MerchantId, RegisterId, Seq};

use crate::api::audit_note_of_adjustment;
use crate::db::{DbError, HoldStatus, RecordKey};
use crate::guard::Principal;
use crate::notify::Topic;
use crate::services::adjustments::{AdjustmentError, AdjustmentRequest};
use crate::services::customers::CustomerProfile;
use crate::services::holds::HoldError;
use crate::state::AppState;
use crate::web::error::PageError;
use crate::web::extract::{Path, Query};
use crate::web::format;
use crate::web::i18n::{self, ToArg as _};
use crate::web::layout::HqHeader;
use crate::web::login::see_other;
use crate::web::secrets::random_secret;
use crate::web::session::{CsrfProtected, HqSession, ProtectedForm};
use crate::wire::HoldResolution;

/// One line of a customer's history.
#[derive(Debug, Clone)]
struct HistoryLine {
    at: String,
    what: String,
    points: String,
    who: String,
}

/// A customer found, as the page shows them.
#[derive(Debug, Clone)]
struct Found {
    id: CustomerId,
    name: String,
    card: String,
    balance: i64,
    balance_text: String,
    pending: String,
    held: String,
    adjustments: Vec<HistoryLine>,
    purchases: Vec<HistoryLine>,
}

/// Why the adjustment form was refused: a message id, with the figures of
/// a debit below zero; put in words when the page is drawn.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Refusal {
    /// A message without arguments.
    Message(&'static str),
    /// The debit would take the balance below zero.
    Insufficient { available: i64, debit: i64 },
}

impl Refusal {
    /// The refusal in the request's language.
    fn text(&self) -> String {
        match *self {
            Refusal::Message(id) => i18n::t(id),
            Refusal::Insufficient { available, debit } => i18n::t2(
                "support-error-insufficient",
                "available",
                format::count(available),
                "debit",
                format::count(debit),
            ),
        }
    }
}

/// The adjustment form as sent, with its refusals by field.
#[derive(Debug, Clone, Default)]
struct AdjustState {
    direction: String,
    points: String,
    reason: String,
    key: String,
    points_error: Option<Refusal>,
    reason_error: Option<Refusal>,
}

#[derive(Template)]
#[template(path = "hq/customers.html")]
struct CustomersPage {
    header: HqHeader,
    merchant_id: MerchantId,
    query: String,
    find_error: Option<&'static str>,
    found: Option<Found>,
    adjust: AdjustState,
    link_customer: String,
    link_error: Option<String>,
    holds: Vec<HeldLine>,
}

/// Points held for a flagged sale, as the page lists them.
#[derive(Debug, Clone)]
struct HeldLine {
    register: String,
    seq: String,
    customer: String,
    points: String,
    at: String,
    differs: String,
}

impl CustomersPage {
    fn debit_chosen(&self) -> bool {
        self.adjust.direction == "debit"
    }
}

/// `GET /hq/merchants/{id}/customers` parameters.
#[derive(Debug, Default, Deserialize)]
pub struct FindQuery {
    #[serde(default)]
    customer: String,
}

/// The customer `text` names, if it is one of `merchant`'s.
async fn find(
    state: &AppState,
    merchant: MerchantId,
    text: &str,
) -> Result<Option<CustomerProfile>, PageError> {
    let Some(id) = text
        .trim()
        .parse::<i64>()
        .ok()
        .and_then(|id| CustomerId::new(id).ok())
    else {
        return Ok(None);
    };
    match state
        .services
        .customers
        .profile(id, state.clock.now())
        .await
    {
        Ok(profile) if profile.merchant_id == merchant => Ok(Some(profile)),
        Ok(_) | Err(DbError::NotFound(_)) => Ok(None),
        Err(e) => Err(e.into()),
    }
}

async fn found(
    state: &AppState,
    merchant: MerchantId,
    profile: CustomerProfile,
) -> Result<Found, PageError> {
    let merchant_row = state.services.catalog.merchant(merchant).await?;
    let stores = state.services.catalog.stores(merchant).await?;
    let zone = format::display_zone(&stores);
    let store_names: HashMap<_, _> = stores.into_iter().map(|s| (s.id, s.name)).collect();
    let signed = |n: i64| {
        if n > 0 {
            format!("+{}", format::count(n))
        } else {
            format::count(n)
        }
    };
    Ok(Found {
        id: profile.id,
        name: profile.name.clone(),
        card: shared::identity::Ean13::card_for(profile.id).to_string(),
        balance: profile.points.available,
        balance_text: format::count(profile.points.available),
        pending: format::count(profile.points.pending_total()),
        held: format::count(profile.points.held_total()),
        adjustments: profile
            .adjustments
            .iter()
            .map(|a| HistoryLine {
                at: format::instant(a.created_at, zone),
                what: a.reason.clone(),
                points: signed(a.points),
                who: a.actor.clone(),
            })
            .collect(),
        purchases: profile
            .purchases
            .iter()
            .map(|p| HistoryLine {
                at: format::instant(p.wall_time, zone),
                what: format!(
                    "{} {} · {}",
                    i18n::t(if p.kind == "return" {
                        "support-return"
                    } else {
                        "support-purchase"
                    }),
                    format::money(p.total, merchant_row.currency),
                    store_names.get(&p.store_id).cloned().unwrap_or_default()
                ),
                points: signed(p.points_earned.saturating_sub(p.points_redeemed)),
                who: i18n::t1("support-register", "register", p.register_id.to_string()),
            })
            .collect(),
    })
}

/// Held sales listed at most.
const HOLDS_SHOWN: usize = 50;

/// A fresh idempotency key for the adjustment form.
fn fresh_key() -> Result<String, PageError> {
    Ok(random_secret()?)
}

async fn render(
    state: &AppState,
    session: &HqSession,
    merchant: MerchantId,
    query: String,
    adjust: AdjustState,
    link: (String, Option<String>),
    status: StatusCode,
) -> Result<Response, PageError> {
    let merchant_row = state.services.catalog.merchant(merchant).await?;
    let profile = if query.trim().is_empty() {
        None
    } else {
        find(state, merchant, &query).await?
    };
    let find_error =
        (!query.trim().is_empty() && profile.is_none()).then_some("support-error-not-found");
    let found = match profile {
        Some(p) => Some(found(state, merchant, p).await?),
        None => None,
    };
    let zone = format::display_zone(&state.services.catalog.stores(merchant).await?);
    let holds = state
        .services
        .holds
        .list(merchant, Some(HoldStatus::Held), HOLDS_SHOWN)
        .await?
        .into_iter()
        .map(|h| HeldLine {
            register: h.register_id.to_string(),
            seq: h.seq.to_string(),
            customer: h.customer_id.to_string(),
            points: format::count(h.points),
            at: format::instant(h.held_at, zone),
            differs: h
                .fields
                .iter()
                .map(|f| {
                    i18n::t_args(
                        "holds-field",
                        [
                            ("field", f.field.to_arg()),
                            ("till", f.till.to_arg()),
                            ("server", f.server.to_arg()),
                        ],
                    )
                })
                .collect::<Vec<_>>()
                .join("; "),
        })
        .collect();
    let page = CustomersPage {
        header: HqHeader::for_merchant(session, &merchant_row),
        merchant_id: merchant,
        query,
        find_error,
        found,
        adjust,
        link_customer: link.0,
        link_error: link.1,
        holds,
    };
    Ok((status, Html(page.render()?)).into_response())
}

/// `GET /hq/merchants/{id}/customers[?customer=N]`.
#[tracing::instrument(skip_all, fields(merchant_id = %merchant))]
pub async fn page(
    State(state): State<AppState>,
    session: HqSession,
    Path(merchant): Path<MerchantId>,
    Query(query): Query<FindQuery>,
) -> Result<Response, PageError> {
    let adjust = AdjustState {
        direction: "credit".into(),
        key: fresh_key()?,
        ..AdjustState::default()
    };
    render(
        &state,
        &session,
        merchant,
        query.customer,
        adjust,
        (String::new(), None),
        StatusCode::OK,
    )
    .await
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
    let adjust = AdjustState {
        direction: "credit".into(),
        key: fresh_key()?,
        ..AdjustState::default()
    };
    render(
        state,
        session,
        merchant,
        String::new(),
        adjust,
        (customer, Some(error)),
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await
}

/// The adjustment form.
#[derive(Debug, Deserialize)]
pub struct AdjustForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    direction: String,
    #[serde(default)]
    points: String,
    #[serde(default)]
    reason: String,
    #[serde(default)]
    key: String,
}

impl CsrfProtected for AdjustForm {
    fn csrf_token(&self) -> &str {
        &self.csrf
    }
}

/// `POST /hq/merchants/{id}/customers/{customer}/adjustments`: credits or
/// debits the customer's points with a reason; back to the customer on
/// success, the form again with the refusal by its field otherwise.
#[tracing::instrument(skip_all, fields(merchant_id = %merchant, customer_id = %customer))]
pub async fn adjust(
    State(state): State<AppState>,
    principal: Principal,
    Path((merchant, customer)): Path<(MerchantId, CustomerId)>,
    ProtectedForm { session, form }: ProtectedForm<AdjustForm>,
) -> Result<Response, PageError> {
    let mut sent = AdjustState {
        direction: form.direction.clone(),
        points: form.points.trim().to_owned(),
        reason: form.reason.clone(),
        key: form.key.clone(),
        ..AdjustState::default()
    };
    let amount = form
        .points
        .trim()
        .parse::<i64>()
        .ok()
        .filter(|n| (1..=crate::services::adjustments::MAX_POINTS).contains(n));
    let sign = match form.direction.as_str() {
        "credit" => Some(1),
        "debit" => Some(-1),
        _ => None,
    };
    let (Some(amount), Some(sign)) = (amount, sign) else {
        sent.points_error = Some(Refusal::Message("support-error-points"));
        return again(&state, &session, merchant, customer, sent).await;
    };
    let request = AdjustmentRequest {
        customer,
        points: sign * amount,
        reason: form.reason,
        idempotency_key: form.key,
        actor: principal.name(),
        account: principal.account().map(|a| a.id),
    };
    let adjusted = match state
        .services
        .adjustments
        .adjust(Some(merchant), request, state.clock.now())
        .await
    {
        Ok(adjusted) => adjusted,
        Err(AdjustmentError::Storage(e)) => return Err(e.into()),
        Err(AdjustmentError::Invalid {
            field: "reason", ..
        }) => {
            sent.reason_error = Some(Refusal::Message("support-error-reason"));
            return again(&state, &session, merchant, customer, sent).await;
        }
        Err(AdjustmentError::Invalid { .. } | AdjustmentError::KeyReused) => {
            // The key is the page's own: a form this old is drawn anew.
            sent.key = fresh_key()?;
            sent.points_error = Some(Refusal::Message("support-error-stale-form"));
            return again(&state, &session, merchant, customer, sent).await;
        }
        Err(AdjustmentError::Insufficient { available, debit }) => {
            sent.points_error = Some(Refusal::Insufficient { available, debit });
            return again(&state, &session, merchant, customer, sent).await;
        }
    };
    state.notifier.notify(Topic::Customers, merchant);
    let response = see_other(&format!(
        "/hq/merchants/{merchant}/customers?customer={customer}#history"
    ));
    Ok(audit_note_of_adjustment(&adjusted).attach(response))
}

async fn again(
    state: &AppState,
    session: &HqSession,
    merchant: MerchantId,
    customer: CustomerId,
    sent: AdjustState,
) -> Result<Response, PageError> {
    render(
        state,
        session,
        merchant,
        customer.to_string(),
        sent,
        (String::new(), None),
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await
}

/// The release-or-void form of a held sale.
#[derive(Debug, Deserialize)]
pub struct HoldForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    resolution: String,
}

impl CsrfProtected for HoldForm {
    fn csrf_token(&self) -> &str {
        &self.csrf
    }
}

/// `POST /hq/merchants/{id}/holds/{register}/{seq}`: releases or voids the
/// held points of a flagged sale; back to the list.
#[tracing::instrument(skip_all, fields(merchant_id = %merchant, register_id = %register, seq = %seq))]
pub async fn resolve_hold(
    State(state): State<AppState>,
    principal: Principal,
    Path((merchant, register, seq)): Path<(MerchantId, RegisterId, Seq)>,
    ProtectedForm { session: _, form }: ProtectedForm<HoldForm>,
) -> Result<Response, PageError> {
    let resolution = match form.resolution.as_str() {
        "release" => HoldResolution::Release,
        "void" => HoldResolution::Void,
        other => {
            tracing::warn!(resolution = other, "an unknown resolution of held points");
            return Err(PageError::BadRequest("unknown resolution"));
        }
    };
    let key = RecordKey {
        register_id: register,
        seq,
    };
    match state
        .services
        .holds
        .resolve(
            merchant,
            key,
            resolution,
            principal.name(),
            state.clock.now(),
        )
        .await
    {
        Ok(hold) => {
            let response = see_other(&format!("/hq/merchants/{merchant}/customers#holds"));
            Ok(crate::api::audit_note_of_hold(&hold).attach(response))
        }
        // Resolved meanwhile (another tab, another person): the list shows
        // how it stands.
        Err(HoldError::AlreadyResolved(_)) => Ok(see_other(&format!(
            "/hq/merchants/{merchant}/customers#holds"
        ))),
        Err(HoldError::NotFound) => Err(PageError::NotFound),
        Err(HoldError::Storage(e)) => Err(e.into()),
    }
}
