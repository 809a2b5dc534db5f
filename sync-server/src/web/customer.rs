//! The customer's own page, `/c/{secret}`, opened from their personal link
//! on the phone: a greeting by name, a QR code of a fresh signed token for
//! the till (rendered on the server, so it shows without JavaScript; the
//! page's script fetches `/c/{secret}/token` to rotate it), the points
//! available, those pending until a day and those expiring on a day, the
//! tier and the way to the next one, the offers running now
//! with their ratings, a share link and a review form each, and the last
//! purchases.
//!
//! The secret in the path is the only credential: a wrong one is a plain
//! 404, and the page is never cached or sent as a referrer.

use std::collections::HashMap;

use askama::Template;
use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};
use shared::identity::Ean13;
use shared::ids::{CustomerId, MerchantId, PromotionId};
use shared::money::{Money, round_half_up};
use shared::ruleset::{Promotion, Ruleset};

use crate::customer_token;
use crate::db::{OfferRating, OfferReview, Rating};
use crate::services::customers::CustomerProfile;
use crate::state::AppState;
use crate::web::error::PageError;
use crate::web::extract::{Form, Path};
use crate::web::i18n;
use crate::web::login::see_other;
use crate::web::security::require_same_origin;
use crate::web::setup::{discount, is_running, period};
use crate::web::{format, links, qr};

/// Purchases shown, newest first.
const PURCHASES_SHOWN: usize = 10;
/// The longest review text.
const MAX_REVIEW_CHARS: usize = 1000;
/// Approved reviews shown per offer.
const REVIEWS_PER_OFFER: usize = 3;
/// How often the page fetches a fresh token, at most.
const MAX_REFRESH_SECS: u64 = 60;
/// What screen readers say for the QR code (a message id).
const QR_LABEL: &str = "customer-qr-label";

/// The way to the next tier.
#[derive(Debug, Clone)]
struct NextTier {
    name: String,
    remaining: String,
    progress_percent: i128,
}

/// An offer running now.
#[derive(Debug, Clone)]
struct Offer {
    anchor: String,
    id: String,
    name: String,
    description: String,
    discount: String,
    period: String,
    rating: Option<String>,
    share_url: String,
    my_stars: u8,
    my_text: String,
    /// The customer's own review waits for moderation.
    my_waiting: bool,
    /// Approved reviews, newest first: stars, text, the merchant's reply.
    reviews: Vec<(u8, String, Option<String>)>,
    error: Option<&'static str>,
}

impl Offer {
    /// Whether the customer gave it `stars`.
    fn rated(&self, stars: &u8) -> bool {
        self.my_stars == *stars
    }
}

#[derive(Debug, Clone)]
struct Purchase {
    at: String,
    store: String,
    is_return: bool,
    total: String,
    points: String,
}

/// A points adjustment in the customer's history.
#[derive(Debug, Clone)]
struct AdjustmentLine {
    at: String,
    reason: String,
    points: String,
}

#[derive(Template)]
#[template(path = "customer/page.html")]
struct CustomerPage {
    name: String,
    merchant_name: String,
    card_number: String,
    qr: String,
    token_expires: String,
    token_url: String,
    refresh_secs: u64,
    review_action: String,
    /// The customer's invitation link: sign-up with their referral code.
    invite_url: String,
    points: String,
    /// "N б. в ожидании до <day>", soonest first.
    pending: Vec<String>,
    /// "N б. сгорят <day>", soonest first.
    expiring: Vec<String>,
    tier: Option<String>,
    next_tier: Option<NextTier>,
    offers: Vec<Offer>,
    purchases: Vec<Purchase>,
    adjustments: Vec<AdjustmentLine>,
    star_choices: [u8; 5],
}

/// A fresh token for the page's script.
#[derive(Debug, Serialize)]
pub struct FreshToken {
    /// The token text the QR code carries.
    token: String,
    /// The QR code, an `<svg>` element.
    svg: String,
    /// When the till stops accepting it.
    expires_at: DateTime<Utc>,
    /// The same, as the page shows it.
    expires_text: String,
}

/// `GET /c/{secret}`.
#[tracing::instrument(skip_all, fields(customer_id))]
pub async fn page(
    State(state): State<AppState>,
    Path(secret): Path<String>,
    headers: HeaderMap,
) -> Result<Response, PageError> {
    let customer = links::customer_of(&state, &secret).await?;
    tracing::Span::current().record("customer_id", tracing::field::display(customer));
    let page = build(&state, &secret, customer, &headers, None).await?;
    Ok(Html(page.render()?).into_response())
}

/// `GET /c/{secret}/token`: a fresh QR code for the page's script.
#[tracing::instrument(skip_all, fields(customer_id))]
pub async fn token(
    State(state): State<AppState>,
    Path(secret): Path<String>,
) -> Result<Json<FreshToken>, PageError> {
    let customer = links::customer_of(&state, &secret).await?;
    tracing::Span::current().record("customer_id", tracing::field::display(customer));
    let profile = state
        .services
        .customers
        .profile(customer, state.clock.now())
        .await?;
    let zone = format::display_zone(&state.services.catalog.stores(profile.merchant_id).await?);
    let drawn = fresh_qr(&state, profile.merchant_id, customer)?;
    Ok(Json(FreshToken {
        expires_text: expiry_text(drawn.expires_at, zone),
        token: drawn.token,
        svg: drawn.svg,
        expires_at: drawn.expires_at,
    }))
}

/// A review from the page.
#[derive(Debug, Deserialize)]
pub struct ReviewForm {
    promotion_id: String,
    #[serde(default)]
    rating: String,
    #[serde(default)]
    text: String,
}

/// `POST /c/{secret}/reviews`: stores or replaces the customer's review
/// of an offer in the current rules; a refusal shows the page again with
/// the error at that offer's form.
#[tracing::instrument(skip_all, fields(customer_id))]
pub async fn review(
    State(state): State<AppState>,
    Path(secret): Path<String>,
    headers: HeaderMap,
    Form(form): Form<ReviewForm>,
) -> Result<Response, PageError> {
    require_same_origin(&headers, &state.settings)?;
    let customer = links::customer_of(&state, &secret).await?;
    tracing::Span::current().record("customer_id", tracing::field::display(customer));
    let profile = state
        .services
        .customers
        .profile(customer, state.clock.now())
        .await?;
    let offered = state
        .services
        .publisher
        .current(profile.merchant_id)
        .await?
        .and_then(|current| {
            current
                .ruleset
                .promotions
                .into_iter()
                .find(|p| p.id.as_str() == form.promotion_id)
        })
        .ok_or(PageError::NotFound)?;
    let (rating, text) = match parse_review(&form) {
        Ok(review) => review,
        Err(error) => {
            let feedback = ReviewFeedback {
                promotion_id: offered.id,
                text: form.text.trim().to_owned(),
                error,
            };
            let page = build(&state, &secret, customer, &headers, Some(feedback)).await?;
            return Ok((StatusCode::UNPROCESSABLE_ENTITY, Html(page.render()?)).into_response());
        }
    };
    state
        .services
        .pages
        .save_review(OfferReview {
            customer_id: customer,
            merchant_id: profile.merchant_id,
            promotion_id: offered.id.clone(),
            rating,
            text,
            updated_at: state.clock.now(),
            status: crate::db::ReviewStatus::Pending,
            reply: None,
        })
        .await?;
    tracing::info!(promotion_id = %offered.id, stars = rating.stars(), "saved an offer review");
    Ok(see_other(&format!("/c/{secret}#offers")))
}

/// The stars and the text of a review, or why they were refused.
fn parse_review(form: &ReviewForm) -> Result<(Rating, String), &'static str> {
    let rating = form
        .rating
        .trim()
        .parse::<i64>()
        .ok()
        .and_then(Rating::new)
        .ok_or("review-error-rating")?;
    let text = form.text.trim();
    if text.chars().count() > MAX_REVIEW_CHARS {
        return Err("review-error-too-long");
    }
    Ok((rating, text.to_owned()))
}

/// A refused review, shown again at its offer.
struct ReviewFeedback {
    promotion_id: PromotionId,
    text: String,
    error: &'static str,
}

async fn build(
    state: &AppState,
    secret: &str,
    customer: CustomerId,
    headers: &HeaderMap,
    feedback: Option<ReviewFeedback>,
) -> Result<CustomerPage, PageError> {
    let profile = state
        .services
        .customers
        .profile(customer, state.clock.now())
        .await?;
    let merchant = state.services.catalog.merchant(profile.merchant_id).await?;
    let stores = state.services.catalog.stores(profile.merchant_id).await?;
    let zone = format::display_zone(&stores);
    let store_names: HashMap<_, _> = stores.into_iter().map(|s| (s.id, s.name)).collect();
    let ruleset = state
        .services
        .publisher
        .current(profile.merchant_id)
        .await?
        .map(|c| c.ruleset);
    let ratings: HashMap<PromotionId, OfferRating> = state
        .services
        .pages
        .ratings(profile.merchant_id)
        .await?
        .into_iter()
        .map(|r| (r.promotion_id.clone(), r))
        .collect();
    let mine: HashMap<PromotionId, OfferReview> = state
        .services
        .pages
        .customer_reviews(customer)
        .await?
        .into_iter()
        .map(|r| (r.promotion_id.clone(), r))
        .collect();
    let mut approved: HashMap<PromotionId, Vec<(u8, String, Option<String>)>> = HashMap::new();
    for r in state
        .services
        .pages
        .approved_reviews(profile.merchant_id, 500)
        .await?
    {
        let shown = approved.entry(r.promotion_id).or_default();
        if shown.len() < REVIEWS_PER_OFFER && !r.text.is_empty() {
            shown.push((r.rating.stars(), r.text, r.reply));
        }
    }
    let now = state.clock.now();
    let currency = merchant.currency;
    let drawn = fresh_qr(state, merchant.id, customer)?;
    let referral_code = state
        .services
        .referrals
        .code_for(merchant.id, customer)
        .await?;
    let ttl = state.settings.tokens.customer_token_ttl_secs;

    let offers = ruleset
        .as_ref()
        .map(|r| running_now(r, now))
        .unwrap_or_default()
        .into_iter()
        .enumerate()
        .map(|(i, p)| {
            let own = mine.get(&p.id);
            let refused = feedback.as_ref().filter(|f| f.promotion_id == p.id);
            Offer {
                anchor: format!("offer-{}", i + 1),
                id: p.id.to_string(),
                name: p.name.clone(),
                description: p.description.clone(),
                discount: discount(p),
                period: period(p, zone),
                rating: ratings.get(&p.id).and_then(|r| {
                    format::average_rating(r.stars_total, r.reviews).map(|avg| {
                        i18n::t2(
                            "customer-rating-summary",
                            "average",
                            avg,
                            "reviews",
                            r.reviews,
                        )
                    })
                }),
                share_url: links::share_url(
                    &state.settings,
                    headers,
                    merchant.id,
                    Some(&p.id),
                    &referral_code,
                ),
                my_stars: own.map_or(0, |r| r.rating.stars()),
                my_waiting: own.is_some_and(|r| r.status == crate::db::ReviewStatus::Pending),
                reviews: approved.get(&p.id).cloned().unwrap_or_default(),
                my_text: refused
                    .map(|f| f.text.clone())
                    .or_else(|| own.map(|r| r.text.clone()))
                    .unwrap_or_default(),
                error: refused.map(|f| f.error),
            }
        })
        .collect();

    Ok(CustomerPage {
        name: profile.name.clone(),
        merchant_name: merchant.name,
        card_number: Ean13::card_for(customer).to_string(),
        qr: drawn.svg,
        token_expires: expiry_text(drawn.expires_at, zone),
        token_url: format!("/c/{secret}/token"),
        refresh_secs: (ttl / 2).clamp(5, MAX_REFRESH_SECS),
        review_action: format!("/c/{secret}/reviews"),
        invite_url: links::share_url(&state.settings, headers, merchant.id, None, &referral_code),
        points: format::count(profile.points.available),
        pending: profile
            .points
            .pending
            .iter()
            .map(|p| {
                if p.held {
                    // Held while HQ checks the sale: no date to promise.
                    i18n::t1("customer-points-held", "points", format::count(p.points))
                } else {
                    i18n::t2(
                        "customer-points-pending",
                        "points",
                        format::count(p.points),
                        "day",
                        local_day(p.until, zone),
                    )
                }
            })
            .collect(),
        expiring: profile
            .points
            .expiring
            .iter()
            .map(|e| {
                i18n::t2(
                    "customer-points-expiring",
                    "points",
                    format::count(e.points),
                    "day",
                    local_day(e.on, zone),
                )
            })
            .collect(),
        tier: ruleset
            .as_ref()
            .and_then(|r| r.tier_for(profile.lifetime_spend))
            .map(|t| t.name.clone()),
        next_tier: ruleset
            .as_ref()
            .and_then(|r| next_tier(r, profile.lifetime_spend, currency)),
        offers,
        purchases: purchases(&profile, &store_names, zone, currency),
        adjustments: profile
            .adjustments
            .iter()
            .take(PURCHASES_SHOWN)
            .map(|a| AdjustmentLine {
                at: format::instant(a.created_at, zone),
                reason: a.reason.clone(),
                points: if a.points > 0 {
                    format!("+{}", format::count(a.points))
                } else {
                    format::count(a.points)
                },
            })
            .collect(),
        star_choices: [1, 2, 3, 4, 5],
    })
}

/// The local day of an instant: `15.03.2026`.
fn local_day(at: DateTime<Utc>, zone: Tz) -> String {
    format::day(at.with_timezone(&zone).date_naive())
}

/// A token just issued, drawn as a QR code.
struct DrawnToken {
    token: String,
    svg: String,
    expires_at: DateTime<Utc>,
}

/// A new token for `customer`, drawn.
fn fresh_qr(
    state: &AppState,
    merchant: MerchantId,
    customer: CustomerId,
) -> Result<DrawnToken, PageError> {
    let issued =
        customer_token::issue(state, merchant, customer).map_err(|e| PageError::internal(&e))?;
    let svg = qr::qr_svg(&issued.token, &i18n::t(QR_LABEL)).map_err(|e| PageError::internal(&e))?;
    Ok(DrawnToken {
        token: issued.token,
        svg,
        expires_at: issued.expires_at,
    })
}

fn expiry_text(at: DateTime<Utc>, zone: Tz) -> String {
    at.with_timezone(&zone).format("%H:%M").to_string()
}

/// The promotions whose publication period includes `now`.
fn running_now(ruleset: &Ruleset, now: DateTime<Utc>) -> Vec<&Promotion> {
    ruleset
        .promotions
        .iter()
        .filter(|p| is_running(p, now))
        .collect()
}

/// The lowest tier above `spend`, with how far the customer has come from
/// the tier they are in.
fn next_tier(
    ruleset: &Ruleset,
    spend: Money,
    currency: shared::money::Currency,
) -> Option<NextTier> {
    let tiers = &ruleset.programme.tiers;
    let next = tiers.iter().find(|t| t.min_lifetime_spend > spend)?;
    let floor = ruleset
        .tier_for(spend)
        .map_or(0, |t| t.min_lifetime_spend.minor());
    let span = i128::from(next.min_lifetime_spend.minor()) - i128::from(floor);
    let done = i128::from(spend.minor()) - i128::from(floor);
    let progress_percent = if span > 0 {
        round_half_up(done.clamp(0, span) * 100, span)
    } else {
        0
    };
    let remaining =
        Money::from_wide(i128::from(next.min_lifetime_spend.minor()) - i128::from(spend.minor()))
            .ok()?;
    Some(NextTier {
        name: next.name.clone(),
        remaining: format::money(remaining, currency),
        progress_percent,
    })
}

fn purchases(
    profile: &CustomerProfile,
    store_names: &HashMap<shared::ids::StoreId, String>,
    zone: Tz,
    currency: shared::money::Currency,
) -> Vec<Purchase> {
    profile
        .purchases
        .iter()
        .take(PURCHASES_SHOWN)
        .map(|p| {
            let net_points = p.points_earned.saturating_sub(p.points_redeemed);
            Purchase {
                at: format::instant(p.wall_time, zone),
                store: store_names.get(&p.store_id).cloned().unwrap_or_default(),
                is_return: p.kind == "return",
                total: format::money(p.total, currency),
                points: if net_points > 0 {
                    format!("+{}", format::count(net_points))
                } else {
                    format::count(net_points)
                },
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ruleset() -> Ruleset {
        serde_json::from_value(serde_json::json!({
            "currency": "RUB",
            "programme": {"tiers": [
                {"name": "Silver", "min_lifetime_spend": 0, "discount": 300},
                {"name": "Gold", "min_lifetime_spend": 100000, "discount": 500}
            ]},
            "promotions": [
                {"id": "now", "name": "Now", "target": {"kind": "skus", "skus": ["1"]},
                 "reward": {"kind": "percent_off", "percent": 1000}},
                {"id": "later", "name": "Later", "target": {"kind": "skus", "skus": ["1"]},
                 "reward": {"kind": "percent_off", "percent": 1000},
                 "starts_at": "2026-04-01T00:00:00Z"},
                {"id": "over", "name": "Over", "target": {"kind": "skus", "skus": ["1"]},
                 "reward": {"kind": "percent_off", "percent": 1000},
                 "ends_at": "2026-03-01T00:00:00Z"}
            ]
        }))
        .unwrap()
    }

    #[test]
    fn only_offers_in_their_publication_period_are_shown() {
        let now = "2026-03-10T00:00:00Z".parse().unwrap();
        let rules = ruleset();
        let ids: Vec<&str> = running_now(&rules, now)
            .iter()
            .map(|p| p.id.as_str())
            .collect();
        assert_eq!(ids, vec!["now"]);
    }

    #[test]
    fn progress_runs_from_the_current_tier_to_the_next() {
        let rub = shared::money::Currency::RUB;
        let spend = Money::from_minor(25_000).unwrap();
        let next = next_tier(&ruleset(), spend, rub).unwrap();
        assert_eq!(next.name, "Gold");
        assert_eq!(next.progress_percent, 25);
        assert_eq!(next.remaining, "750,00\u{a0}₽");
        assert!(next_tier(&ruleset(), Money::from_minor(100_000).unwrap(), rub).is_none());
    }
}
