//! `GET /hq/merchants/{id}/referrals`: the merchant's referrals per
//! customer (friends brought, who bought, rewarded) and per shared offer,
//! and every referral with its dates.

use askama::Template;
use axum::extract::State;
use axum::response::{Html, IntoResponse, Response};
use shared::ids::MerchantId;

use crate::state::AppState;
use crate::web::error::PageError;
use crate::web::extract::Path;
use crate::web::format;
use crate::web::i18n;
use crate::web::layout::HqHeader;
use crate::web::session::HqSession;

struct ByCustomer {
    id: String,
    name: String,
    friends: usize,
    bought: usize,
    rewarded: usize,
}

struct ByOffer {
    offer: String,
    friends: usize,
    bought: usize,
    rewarded: usize,
}

struct Line {
    referrer: String,
    friend: String,
    offer: String,
    joined: String,
    bought: String,
    rewarded: String,
}

#[derive(Template)]
#[template(path = "hq/referrals.html")]
struct ReferralsPage {
    header: HqHeader,
    merchant_name: String,
    reward: Option<(i64, i64)>,
    by_customer: Vec<ByCustomer>,
    by_offer: Vec<ByOffer>,
    lines: Vec<Line>,
}

/// `GET /hq/merchants/{id}/referrals`.
#[tracing::instrument(skip_all, fields(merchant_id = %merchant))]
pub async fn page(
    State(state): State<AppState>,
    session: HqSession,
    Path(merchant): Path<MerchantId>,
) -> Result<Response, PageError> {
    let m = state.services.catalog.merchant(merchant).await?;
    let zone = format::display_zone(&state.services.catalog.stores(merchant).await?);
    let reward = state
        .services
        .publisher
        .current(merchant)
        .await?
        .and_then(|c| c.ruleset.programme.referral_reward)
        .map(|r| (r.referrer_points, r.friend_points));
    let report = state.services.referrals.report(merchant).await?;
    let offer_name =
        |o: &Option<String>| o.clone().unwrap_or_else(|| i18n::t("referrals-no-offer"));
    let page = ReferralsPage {
        header: HqHeader::for_merchant(&session, &m),
        merchant_name: m.name,
        reward,
        by_customer: report
            .by_customer
            .iter()
            .map(|(id, name, friends, bought, rewarded)| ByCustomer {
                id: id.to_string(),
                name: name.clone(),
                friends: *friends,
                bought: *bought,
                rewarded: *rewarded,
            })
            .collect(),
        by_offer: report
            .by_offer
            .iter()
            .map(|(offer, friends, bought, rewarded)| ByOffer {
                offer: offer_name(offer),
                friends: *friends,
                bought: *bought,
                rewarded: *rewarded,
            })
            .collect(),
        lines: report
            .referrals
            .iter()
            .map(|r| Line {
                referrer: format!("{} (№ {})", r.referrer_name, r.referrer_id),
                friend: format!("{} (№ {})", r.referred_name, r.referred_id),
                offer: offer_name(&r.offer),
                joined: format::instant(r.created_at, zone),
                bought: r
                    .first_purchase_at
                    .map(|t| format::instant(t, zone))
                    .unwrap_or_else(|| "—".into()),
                rewarded: r
                    .rewarded_at
                    .map(|t| format::instant(t, zone))
                    .unwrap_or_else(|| "—".into()),
            })
            .collect(),
    };
    Ok(Html(page.render()?).into_response())
}
