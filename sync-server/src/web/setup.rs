//! `GET /hq/merchants/{id}/setup`: what a merchant sets up. Brands, stores
//! with a one-time register enrollment token each (shown once), the
//! loyalty programme, the promotions with their content, publication
//! period and rating, the promotion form (see `promotions`), the newest
//! reviews, and customers' personal links (shown once, with a QR code to
//! open on the phone).
//!
//! Each form posts to its own route and comes back here: on success with a
//! redirect, on a refusal with this page again, the form filled in and the
//! error next to the field.

use std::collections::HashMap;

use crate::wire::admin::{NewBrand, NewStore};
use askama::Template;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use serde::Deserialize;
use shared::ids::{BrandId, CustomerId, MerchantId, PromotionId, StoreId};
use shared::ruleset::{Promotion, Reward, Target};
use shared::timezone::TimeZone;

use crate::db::OfferRating;
use crate::services::publish::{PublishError, RulesetChange};
use crate::state::AppState;
use crate::web::error::PageError;
use crate::web::extract::{Path, Query};
use crate::web::i18n;
use crate::web::layout::HqHeader;
use crate::web::login::see_other;
use crate::web::promotions::{FieldErrors, PromotionForm};
use crate::web::samples::{self, SAMPLES, Sample};
use crate::web::session::{CsrfProtected, HqSession, ProtectedForm};
use crate::web::{format, links, qr};

/// A register enrollment token issued here lives one day, as the API's
/// default.
const ENROLLMENT_TOKEN_SECS: u64 = 24 * 3600;
/// Reviews listed, newest first.
const REVIEWS_SHOWN: usize = 20;
/// Time zones offered for a new store; any IANA zone is accepted.
const COMMON_ZONES: [&str; 11] = [
    "Europe/Kaliningrad",
    "Europe/Moscow",
    "Europe/Samara",
    "Asia/Yekaterinburg",
    "Asia/Omsk",
    "Asia/Novosibirsk",
    "Asia/Krasnoyarsk",
    "Asia/Irkutsk",
    "Asia/Yakutsk",
    "Asia/Vladivostok",
    "Asia/Kamchatka",
];

/// Forms shown filled in again with their refusals; default: all empty.
#[derive(Debug, Default)]
pub struct SetupForms {
    /// The brand form's name and refusal.
    pub brand: Option<(String, String)>,
    /// The store form and its refusal.
    pub store: Option<(StoreForm, String)>,
    /// The promotion form and its refusals.
    pub promotion: Option<(PromotionForm, FieldErrors)>,
    /// The personal-link form's customer and refusal.
    pub link: Option<(String, String)>,
}

#[derive(Debug, Clone)]
struct StoreRow {
    id: StoreId,
    name: String,
    brand: String,
    timezone: String,
}

#[derive(Debug, Clone)]
struct TierRow {
    name: String,
    threshold: String,
    discount: String,
}

#[derive(Debug, Clone)]
struct Programme {
    version: String,
    tiers: Vec<TierRow>,
    earn: String,
    /// When points become available and expire, and the offline cap.
    points_terms: String,
}

#[derive(Debug, Clone)]
struct PromotionRow {
    id: String,
    name: String,
    description: String,
    target: String,
    discount: String,
    period: String,
    status: String,
    status_class: &'static str,
    funded_by: String,
    rating: String,
}

#[derive(Debug, Clone)]
struct ReviewRow {
    promotion: String,
    stars: String,
    text: String,
    customer: String,
    at: String,
}

#[derive(Template)]
#[template(path = "hq/setup.html")]
struct SetupPage {
    header: HqHeader,
    merchant_id: MerchantId,
    merchant_name: String,
    notice: Option<String>,
    brands: Vec<(BrandId, String)>,
    brand_name: String,
    brand_error: Option<String>,
    stores: Vec<StoreRow>,
    store_form: StoreForm,
    store_error: Option<String>,
    zones: &'static [&'static str],
    programme: Option<Programme>,
    samples: &'static [Sample],
    promotions: Vec<PromotionRow>,
    promotion_form: PromotionForm,
    promotion_errors: FieldErrors,
    /// The segments a promotion may be for: tag and label.
    segment_choices: Vec<(String, String)>,
    editing: bool,
    zone_name: String,
    reviews: Vec<ReviewRow>,
    link_customer: String,
    link_error: Option<String>,
}

/// `GET …/setup` parameters.
#[derive(Debug, Default, Deserialize)]
pub struct SetupQuery {
    /// The version a promotion was just published as.
    published: Option<u64>,
    /// A promotion to load into the form.
    edit: Option<String>,
    /// A promotion just saved unchanged.
    unchanged: Option<String>,
}

/// `GET /hq/merchants/{id}/setup`.
#[tracing::instrument(skip_all, fields(merchant_id = %merchant))]
pub async fn setup(
    State(state): State<AppState>,
    session: HqSession,
    Path(merchant): Path<MerchantId>,
    Query(query): Query<SetupQuery>,
) -> Result<Response, PageError> {
    let notice = match (query.published, &query.unchanged) {
        (Some(v), _) => Some(i18n::t1("setup-notice-published", "version", v)),
        (None, Some(id)) => Some(i18n::t1("setup-notice-unchanged", "id", id)),
        (None, None) => None,
    };
    let page = build(
        &state,
        &session,
        merchant,
        SetupForms::default(),
        notice,
        query.edit,
    )
    .await?;
    Ok(Html(page.render()?).into_response())
}

/// This page again with refused forms filled in, as `422`.
pub async fn refused(
    state: &AppState,
    session: &HqSession,
    merchant: MerchantId,
    forms: SetupForms,
) -> Result<Response, PageError> {
    let page = build(state, session, merchant, forms, None, None).await?;
    Ok((StatusCode::UNPROCESSABLE_ENTITY, Html(page.render()?)).into_response())
}

async fn build(
    state: &AppState,
    session: &HqSession,
    merchant_id: MerchantId,
    forms: SetupForms,
    notice: Option<String>,
    edit: Option<String>,
) -> Result<SetupPage, PageError> {
    let merchant = state.services.catalog.merchant(merchant_id).await?;
    let brands = state.services.catalog.brands(merchant_id).await?;
    let stores = state.services.catalog.stores(merchant_id).await?;
    let zone = format::display_zone(&stores);
    let current = state.services.publisher.current(merchant_id).await?;
    let ratings: HashMap<PromotionId, OfferRating> = state
        .services
        .pages
        .ratings(merchant_id)
        .await?
        .into_iter()
        .map(|r| (r.promotion_id.clone(), r))
        .collect();
    let reviews = state
        .services
        .pages
        .recent_reviews(merchant_id, REVIEWS_SHOWN)
        .await?;
    let now = state.clock.now();
    let currency = merchant.currency;
    let brand_names: HashMap<BrandId, String> =
        brands.iter().map(|b| (b.id, b.name.clone())).collect();
    let promotions: Vec<Promotion> = current
        .as_ref()
        .map(|c| c.ruleset.promotions.clone())
        .unwrap_or_default();
    let promotion_names: HashMap<&PromotionId, &str> = promotions
        .iter()
        .map(|p| (&p.id, p.name.as_str()))
        .collect();

    let edited = edit
        .as_deref()
        .and_then(|id| promotions.iter().find(|p| p.id.as_str() == id));
    let (promotion_form, promotion_errors, editing) = match forms.promotion {
        Some((form, errors)) => (form, errors, false),
        None => match edited {
            Some(p) => (
                PromotionForm::from_promotion(p, zone),
                FieldErrors::default(),
                true,
            ),
            None => (PromotionForm::blank(), FieldErrors::default(), false),
        },
    };
    // Every segment's tag, and the form's own value when it is none of
    // them (tags a promotion got through the API), so the select shows it.
    let mut segment_choices: Vec<(String, String)> = state
        .services
        .segments
        .list(merchant_id)
        .await?
        .tags()
        .into_iter()
        .map(|(tag, name)| {
            let label = if tag.starts_with(crate::services::segments::RFM_PREFIX) {
                crate::web::export::group_label(&name)
            } else {
                name
            };
            (tag, label)
        })
        .collect();
    if !promotion_form.segment.is_empty()
        && !segment_choices
            .iter()
            .any(|(tag, _)| *tag == promotion_form.segment)
    {
        segment_choices.push((
            promotion_form.segment.clone(),
            i18n::t("setup-segment-tags"),
        ));
    }
    let (brand_name, brand_error) = split(forms.brand);
    let (store_form, store_error) = match forms.store {
        Some((form, error)) => (form, Some(error)),
        None => (
            StoreForm {
                timezone: zone.name().to_owned(),
                ..StoreForm::default()
            },
            None,
        ),
    };
    let (link_customer, link_error) = split(forms.link);

    Ok(SetupPage {
        header: HqHeader::for_merchant(session, &merchant),
        merchant_id,
        merchant_name: merchant.name,
        notice,
        brands: brands.into_iter().map(|b| (b.id, b.name)).collect(),
        brand_name,
        brand_error,
        stores: stores
            .into_iter()
            .map(|s| StoreRow {
                id: s.id,
                brand: s
                    .brand_id
                    .and_then(|b| brand_names.get(&b).cloned())
                    .unwrap_or_default(),
                name: s.name,
                timezone: s.timezone.to_string(),
            })
            .collect(),
        store_form,
        store_error,
        zones: &COMMON_ZONES,
        samples: &SAMPLES,
        programme: current.as_ref().map(|c| Programme {
            version: c.version.to_string(),
            tiers: c
                .ruleset
                .programme
                .tiers
                .iter()
                .map(|t| TierRow {
                    name: t.name.clone(),
                    threshold: format::money(t.min_lifetime_spend, currency),
                    discount: format::percent(t.discount),
                })
                .collect(),
            earn: c.ruleset.programme.earn.as_ref().map_or_else(
                || i18n::t("setup-earn-none"),
                |e| {
                    i18n::t2(
                        "setup-earn",
                        "points",
                        format::count(e.points),
                        "per",
                        format::money(e.per, currency),
                    )
                },
            ),
            points_terms: points_terms(&c.ruleset.programme),
        }),
        promotions: promotions
            .iter()
            .map(|p| promotion_row(p, zone, now, ratings.get(&p.id)))
            .collect(),
        segment_choices,
        promotion_form,
        promotion_errors,
        editing,
        zone_name: zone.name().to_owned(),
        reviews: reviews
            .into_iter()
            .map(|r| ReviewRow {
                promotion: promotion_names
                    .get(&r.promotion_id)
                    .map_or_else(|| r.promotion_id.to_string(), |n| (*n).to_owned()),
                stars: stars(r.rating.stars()),
                text: r.text,
                customer: r.customer_id.to_string(),
                at: format::instant(r.updated_at, zone),
            })
            .collect(),
        link_customer,
        link_error,
    })
}

fn split(form: Option<(String, String)>) -> (String, Option<String>) {
    match form {
        Some((value, error)) => (value, Some(error)),
        None => (String::new(), None),
    }
}

/// `★★★★☆` for 4 of 5.
pub fn stars(count: u8) -> String {
    let full = usize::from(count.min(5));
    format!("{}{}", "★".repeat(full), "☆".repeat(5 - full))
}

/// Whether `now` is inside the promotion's publication period.
#[must_use]
pub fn is_running(p: &Promotion, now: DateTime<Utc>) -> bool {
    p.starts_at.is_none_or(|s| now >= s) && p.ends_at.is_none_or(|e| now < e)
}

/// Where a promotion stands at `now`: label and style.
pub fn promotion_status(p: &Promotion, now: DateTime<Utc>) -> (String, &'static str) {
    let (id, style) = if p.starts_at.is_some_and(|s| now < s) {
        ("promotion-status-planned", "warn")
    } else if p.ends_at.is_some_and(|e| now >= e) {
        ("promotion-status-over", "muted")
    } else {
        ("promotion-status-running", "ok")
    };
    (i18n::t(id), style)
}

/// The publication period in words: `с 01.03.2026 09:00 по 31.03.2026 21:00`.
pub fn period(p: &Promotion, zone: Tz) -> String {
    match (p.starts_at, p.ends_at) {
        (None, None) => i18n::t("period-open"),
        (Some(s), None) => i18n::t1("period-from", "from", format::instant(s, zone)),
        (None, Some(e)) => i18n::t1("period-until", "until", format::instant(e, zone)),
        (Some(s), Some(e)) => i18n::t2(
            "period-between",
            "from",
            format::instant(s, zone),
            "until",
            format::instant(e, zone),
        ),
    }
}

/// The discount in words: `−10 %`.
pub fn discount(p: &Promotion) -> String {
    match &p.reward {
        Reward::PercentOff { percent, .. } => format!("−{}", format::percent(*percent)),
        Reward::AmountOff { amount, .. } => format!("−{amount}"),
        Reward::SpecialPrice { unit_price } => {
            i18n::t1("discount-special-price", "price", unit_price.to_string())
        }
        Reward::BuyXGetY { buy, get, .. } => format!("{buy} + {get}"),
        Reward::NthItem { n, percent } => i18n::t2(
            "discount-nth-item",
            "n",
            u64::from(*n),
            "percent",
            format::percent(*percent),
        ),
        Reward::Bundle { price, .. } => i18n::t1("discount-bundle", "price", price.to_string()),
        Reward::PointsMultiplier { .. } => i18n::t("discount-more-points"),
        Reward::ExtraPoints { points } => i18n::t1("discount-extra-points", "points", *points),
    }
}

fn promotion_row(
    p: &Promotion,
    zone: Tz,
    now: DateTime<Utc>,
    rating: Option<&OfferRating>,
) -> PromotionRow {
    let (status, status_class) = promotion_status(p, now);
    PromotionRow {
        id: p.id.to_string(),
        name: p.name.clone(),
        description: p.description.clone(),
        target: match &p.target {
            Target::Skus { skus } => i18n::t1(
                "setup-target-skus-list",
                "codes",
                skus.iter()
                    .map(|s| s.as_str())
                    .collect::<Vec<_>>()
                    .join(", "),
            ),
            Target::Categories { categories } => i18n::t1(
                "setup-target-categories-list",
                "codes",
                categories
                    .iter()
                    .map(|c| c.as_str())
                    .collect::<Vec<_>>()
                    .join(", "),
            ),
            Target::Basket => i18n::t("setup-target-basket-row"),
        },
        discount: discount(p),
        period: period(p, zone),
        status,
        status_class,
        funded_by: p.funded_by.clone().unwrap_or_default(),
        rating: rating
            .and_then(|r| {
                format::average_rating(r.stars_total, r.reviews)
                    .map(|avg| format!("★ {avg} ({})", format::count(r.reviews)))
            })
            .unwrap_or_else(|| "—".to_owned()),
    }
}

/// The form that starts the programme from a sample ruleset.
#[derive(Debug, Deserialize)]
pub struct SampleForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    sample: String,
    /// `programme`: back to the programme page rather than set-up.
    #[serde(default)]
    then: String,
}

impl CsrfProtected for SampleForm {
    fn csrf_token(&self) -> &str {
        &self.csrf
    }
}

/// `POST /hq/merchants/{id}/ruleset`: publishes a sample ruleset as the
/// merchant's first, in the merchant's currency. A merchant who already has
/// rules is sent back to them unchanged: the samples only start a
/// programme, they never overwrite one.
#[tracing::instrument(skip_all, fields(merchant_id = %merchant))]
pub async fn start_from_sample(
    State(state): State<AppState>,
    Path(merchant): Path<MerchantId>,
    ProtectedForm { form, .. }: ProtectedForm<SampleForm>,
) -> Result<Response, PageError> {
    let merchant_row = state.services.catalog.merchant(merchant).await?;
    let back = if form.then == "programme" {
        format!("/hq/merchants/{merchant}/programme")
    } else {
        format!("/hq/merchants/{merchant}/setup")
    };
    if state.services.publisher.current(merchant).await?.is_some() {
        return Ok(see_other(&format!("{back}#programme")));
    }
    let sample = samples::find(&form.sample).ok_or(PageError::BadRequest("unknown sample"))?;
    let ruleset = sample
        .ruleset(merchant_row.currency)
        .map_err(|e| PageError::internal(&e))?;
    let published = state
        .services
        .publisher
        .publish(merchant, RulesetChange::Replace(ruleset))
        .await
        .map_err(|e| match e {
            PublishError::Storage(e) => e.into(),
            PublishError::Refused(refusal) => PageError::internal(&refusal),
        })?;
    tracing::info!(sample = sample.key, version = %published.version,
        "started the programme from a sample ruleset");
    Ok(see_other(&format!(
        "{back}?published={}#programme",
        published.version
    )))
}

/// The brand form.
#[derive(Debug, Deserialize)]
pub struct BrandForm {
    #[serde(default)]
    csrf: String,
    name: String,
}

impl CsrfProtected for BrandForm {
    fn csrf_token(&self) -> &str {
        &self.csrf
    }
}

/// `POST /hq/merchants/{id}/brands`.
#[tracing::instrument(skip_all, fields(merchant_id = %merchant))]
pub async fn create_brand(
    State(state): State<AppState>,
    Path(merchant): Path<MerchantId>,
    ProtectedForm { session, form }: ProtectedForm<BrandForm>,
) -> Result<Response, PageError> {
    let name = form.name.trim();
    if name.is_empty() {
        let forms = SetupForms {
            brand: Some((form.name.clone(), i18n::t("setup-error-brand-name"))),
            ..SetupForms::default()
        };
        return refused(&state, &session, merchant, forms).await;
    }
    let brand = state
        .services
        .catalog
        .create_brand(
            merchant,
            NewBrand {
                name: name.to_owned(),
            },
        )
        .await?;
    tracing::info!(brand_id = %brand.id, "created a brand");
    Ok(see_other(&format!("/hq/merchants/{merchant}/setup#brands")))
}

/// The store form; also what the page shows back.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct StoreForm {
    csrf: String,
    /// Name.
    pub name: String,
    /// A brand id, or empty.
    pub brand_id: String,
    /// IANA time zone.
    pub timezone: String,
}

impl CsrfProtected for StoreForm {
    fn csrf_token(&self) -> &str {
        &self.csrf
    }
}

impl StoreForm {
    /// Whether `brand` is the one chosen.
    #[must_use]
    pub fn has_brand(&self, brand: &BrandId) -> bool {
        self.brand_id == brand.to_string()
    }
}

/// `POST /hq/merchants/{id}/stores`.
#[tracing::instrument(skip_all, fields(merchant_id = %merchant))]
pub async fn create_store(
    State(state): State<AppState>,
    Path(merchant): Path<MerchantId>,
    ProtectedForm { session, form }: ProtectedForm<StoreForm>,
) -> Result<Response, PageError> {
    let name = form.name.trim();
    let timezone = form.timezone.trim();
    let brand_id = match form.brand_id.trim() {
        "" => Ok(None),
        id => id
            .parse::<i64>()
            .ok()
            .and_then(|id| BrandId::new(id).ok())
            .map(Some)
            .ok_or("setup-error-brand"),
    };
    let zone = timezone.parse::<TimeZone>();
    let refusal = if name.is_empty() {
        Some("setup-error-store-name")
    } else if zone.is_err() {
        Some("setup-error-time-zone")
    } else {
        brand_id.err()
    };
    match (refusal, zone, brand_id) {
        (None, Ok(zone), Ok(brand_id)) => {
            state
                .services
                .catalog
                .create_store(
                    merchant,
                    NewStore {
                        brand_id,
                        name: name.to_owned(),
                        timezone: zone,
                    },
                )
                .await?;
            Ok(see_other(&format!("/hq/merchants/{merchant}/setup#stores")))
        }
        (refusal, ..) => {
            let message = refusal.unwrap_or("setup-error-incomplete");
            let forms = SetupForms {
                store: Some((form.clone(), i18n::t(message))),
                ..SetupForms::default()
            };
            refused(&state, &session, merchant, forms).await
        }
    }
}

/// A form that carries only its token.
#[derive(Debug, Deserialize)]
pub struct TokenOnlyForm {
    #[serde(default)]
    csrf: String,
}

impl CsrfProtected for TokenOnlyForm {
    fn csrf_token(&self) -> &str {
        &self.csrf
    }
}

/// A secret shown once: an enrollment token or a personal link.
#[derive(Template)]
#[template(path = "hq/secret_once.html")]
struct SecretOncePage {
    header: HqHeader,
    title: &'static str,
    explanation: String,
    secret: String,
    expires: Option<String>,
    qr: Option<String>,
    back: String,
    back_label: &'static str,
}

/// `POST /hq/merchants/{id}/stores/{store}/enrollment-tokens`: a one-time
/// token for a register of the store, shown once; only its hash is kept.
#[tracing::instrument(skip_all, fields(merchant_id = %merchant, store_id = %store))]
pub async fn create_enrollment_token(
    State(state): State<AppState>,
    Path((merchant, store)): Path<(MerchantId, StoreId)>,
    ProtectedForm { session, .. }: ProtectedForm<TokenOnlyForm>,
) -> Result<Response, PageError> {
    let merchant_row = state.services.catalog.merchant(merchant).await?;
    let stores = state.services.catalog.stores(merchant).await?;
    let store_row = stores
        .iter()
        .find(|s| s.id == store)
        .ok_or(PageError::NotFound)?;
    let issued = state
        .services
        .catalog
        .issue_enrollment_token(store, Some(ENROLLMENT_TOKEN_SECS))
        .await?;
    let (token, expires_at) = (issued.token, issued.expires_at);
    let zone = format::display_zone(&stores);
    let page = SecretOncePage {
        header: HqHeader::for_merchant(&session, &merchant_row),
        title: "secret-enrollment-title",
        explanation: i18n::t1("secret-enrollment-text", "store", &store_row.name),
        secret: token,
        expires: Some(format::instant(expires_at, zone)),
        qr: None,
        back: if session.may_in(crate::access::Permission::Setup, merchant) {
            format!("/hq/merchants/{merchant}/setup#stores")
        } else {
            format!("/hq/merchants/{merchant}/stores/{store}")
        },
        back_label: if session.may_in(crate::access::Permission::Setup, merchant) {
            "back-to-setup"
        } else {
            "back-to-store"
        },
    };
    Ok(Html(page.render()?).into_response())
}

/// The personal-link form.
#[derive(Debug, Deserialize)]
pub struct LinkForm {
    #[serde(default)]
    csrf: String,
    customer_id: String,
}

impl CsrfProtected for LinkForm {
    fn csrf_token(&self) -> &str {
        &self.csrf
    }
}

/// `POST /hq/merchants/{id}/customer-links`: a new personal link for one
/// of the merchant's customers, shown once with a QR code for the phone's
/// camera; the previous link stops working.
#[tracing::instrument(skip_all, fields(merchant_id = %merchant))]
pub async fn create_customer_link(
    State(state): State<AppState>,
    Path(merchant): Path<MerchantId>,
    headers: HeaderMap,
    ProtectedForm { session, form }: ProtectedForm<LinkForm>,
) -> Result<Response, PageError> {
    let merchant_row = state.services.catalog.merchant(merchant).await?;
    let customer = form
        .customer_id
        .trim()
        .parse::<i64>()
        .ok()
        .and_then(|id| CustomerId::new(id).ok());
    let owned = match customer {
        Some(id) => match state
            .services
            .customers
            .profile(id, state.clock.now())
            .await
        {
            Ok(profile) if profile.merchant_id == merchant => Some(profile),
            Ok(_) | Err(crate::db::DbError::NotFound(_)) => None,
            Err(e) => return Err(e.into()),
        },
        None => None,
    };
    let Some(profile) = owned else {
        let error = i18n::t("setup-error-no-customer");
        if !session.may_in(crate::access::Permission::Setup, merchant) {
            return crate::web::support::refused(
                &state,
                &session,
                merchant,
                form.customer_id.clone(),
                error.clone(),
            )
            .await;
        }
        let forms = SetupForms {
            link: Some((form.customer_id.clone(), error.clone())),
            ..SetupForms::default()
        };
        return refused(&state, &session, merchant, forms).await;
    };
    let link = links::issue(&state, profile.id, &headers).await?;
    let qr =
        qr::qr_svg(&link.url, &i18n::t("secret-link-qr")).map_err(|e| PageError::internal(&e))?;
    let page = SecretOncePage {
        header: HqHeader::for_merchant(&session, &merchant_row),
        title: "secret-link-title",
        explanation: i18n::t2(
            "secret-link-text",
            "name",
            &profile.name,
            "id",
            profile.id.to_string(),
        ),
        secret: link.url,
        expires: None,
        qr: Some(qr),
        back: if session.may_in(crate::access::Permission::Setup, merchant) {
            format!("/hq/merchants/{merchant}/setup#links")
        } else {
            format!("/hq/merchants/{merchant}/customers")
        },
        back_label: if session.may_in(crate::access::Permission::Setup, merchant) {
            "back-to-setup"
        } else {
            "back-to-customers"
        },
    };
    Ok(Html(page.render()?).into_response())
}

/// When points become available and expire, and what a till without the
/// server lets a customer spend.
fn points_terms(programme: &shared::ruleset::Programme) -> String {
    let pending = match programme.points_pending_days {
        0 => i18n::t("setup-points-at-once"),
        days => i18n::t1("setup-points-after", "days", days),
    };
    let expiry = programme.points_expire_days.map_or_else(
        || i18n::t("setup-points-never-expire"),
        |days| i18n::t1("setup-points-expire", "days", days),
    );
    let cap = match programme
        .redemption
        .as_ref()
        .and_then(|r| r.offline_cap_points)
    {
        Some(cap) => i18n::t1("setup-offline-cap", "points", format::count(cap)),
        None => i18n::t("setup-offline-no-cap"),
    };
    format!("{pending}, {expiry}; {cap}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stars_and_statuses() {
        assert_eq!(stars(4), "★★★★☆");
        assert_eq!(stars(9), "★★★★★");
        let p: Promotion = serde_json::from_value(serde_json::json!({
            "id": "p", "name": "P", "target": {"kind": "skus", "skus": ["1"]},
            "reward": {"kind": "percent_off", "percent": 1000},
            "starts_at": "2026-03-01T00:00:00Z", "ends_at": "2026-04-01T00:00:00Z"
        }))
        .unwrap();
        let at = |s: &str| s.parse::<DateTime<Utc>>().unwrap();
        assert_eq!(
            promotion_status(&p, at("2026-02-01T00:00:00Z")).0,
            "запланирована"
        );
        assert_eq!(promotion_status(&p, at("2026-03-05T00:00:00Z")).0, "идёт");
        assert_eq!(
            promotion_status(&p, at("2026-04-01T00:00:00Z")).0,
            "завершена"
        );
        assert_eq!(
            period(&p, chrono_tz::Europe::Moscow),
            "с 01.03.2026 03:00 по 01.04.2026 03:00"
        );
        assert_eq!(discount(&p), "−10\u{a0}%");
    }
}
