//! The browser pages, rendered on the server: plain HTML forms, inline SVG
//! charts and QR codes, one stylesheet and two small scripts. They work
//! without JavaScript; the customer page's script only rotates the QR code
//! and offers the phone's share sheet, the promotion form's only shows the
//! chosen reward kind's fields.
//!
//! | route | who | what |
//! | --- | --- | --- |
//! | `GET /hq`, `POST /hq/login`, `POST /hq/logout` | anyone; signed in | sign in with e-mail and password or the admin token; the merchants one may see |
//! | `GET/POST /hq/welcome/{secret}` | a one-time link's holder | accept an invitation or reset the password |
//! | `GET /hq/account`, `POST /hq/account/sessions/{session}/revoke` | a person | their sessions |
//! | `GET /hq/merchants/{id}/stores/{store}` | owner, the store's manager | the store: registers, tokens, figures |
//! | `GET /hq/merchants/{id}/customers?customer=N`, `POST …/customers/{customer}/adjustments` | owner, support | customers: standing and history, points adjustments with a reason, a new personal link |
//! | `GET/POST /hq/merchants/{id}/people`, `POST …/people/{account}/{role,reset}`, `POST …/api-keys`, `POST …/api-keys/{key}/revoke` | owner | people, invitations, roles, reset links, API keys |
//! | `GET /hq/merchants/{id}/audit?actor=&action=&from=&to=` | owner | the audit trail |
//! | `POST /hq/merchants` | HQ | a new merchant |
//! | `GET /hq/merchants/{id}?from=&to=` | HQ | the dashboard: sales, customers, promotions, registers, the fleet's versions, alerts |
//! | `POST /hq/merchants/{id}/fleet/minimum-version` | owner | the minimum agent version |
//! | `GET /hq/merchants/{id}/setup` | HQ | brands, stores, register tokens, promotions, reviews |
//! | `POST /hq/merchants/{id}/{brands,stores,promotions,customer-links}` | HQ | set-up forms |
//! | `POST /hq/merchants/{id}/ruleset` | HQ | the first ruleset, from a sample |
//! | `GET/POST /hq/merchants/{id}/programme` | owner, marketer | the programme in forms: tiers, paying with points, pending period and expiry, bonuses |
//! | `POST /hq/merchants/{id}/stores/{store}/enrollment-tokens` | HQ | a one-time register token, shown once |
//! | `GET/POST /hq/merchants/{id}/promotions/{promotion}/content` | owner, marketer | a promotion's picture, poster, rich description and publication period, with a preview on a phone |
//! | `GET /media/{hash}`, `GET /media/{hash}/thumbnail` | anyone | promotions' pictures, cached for a year |
//! | `GET /c/{secret}`, `GET /c/{secret}/token`, `POST /c/{secret}/reviews` | a customer | their page, a fresh QR token, a review |
//! | `GET/POST /join/{merchant}` | anyone | sign up as the merchant's customer |
//! | `GET/POST /join/{merchant}/confirm/{token}` | anyone | the sign-up's one-time code |
//! | `GET/POST /join/{merchant}/recover[/{token}]` | a customer | a lost link back by a one-time code |
//! | `GET/POST /hq/merchants/{id}/drafts`, `GET …/drafts/{draft}?days=&what_if=1`, `POST …/drafts/{draft}/{publish,delete}` | owner, marketer (publishing: the publish permission) | promotion drafts: saved from the promotion form, their what-if over stored sales, publishing now or at a local time |
//! | `GET /hq/merchants/{id}/campaigns` | HQ | campaigns: planned, sent, failed, clicked, purchases after |
//! | `GET /hq/merchants/{id}/reviews`, `POST …/reviews/moderate` | owner, marketer | the moderation queue: approve, hide, reply |
//! | `GET`/`POST /hq/merchants/{id}/segments`, `POST …/segments/refresh`, `POST …/segments/{code}/delete` | owner, marketer | customer segments: sizes, tags, saving, deleting, computing now |
//! | `GET /hq/merchants/{id}/referrals` | owner, analyst | referrals per customer and per offer, each with its first purchase and reward |
//! | `GET /m/{token}`, `POST /m/{token}/card` | a message's reader | the tracked link: the offer, the card |
//! | `GET/POST /m/{token}/unsubscribe` | a message's reader or mail client | one-click opt-out (RFC 8058) |
//! | `GET /lang/{ru,en}?back=…` | anyone | the language switch: keeps the choice in the `lang` cookie |
//! | `GET /static/…` | anyone | the stylesheet, the customer script and the promotion form's |
//!
//! # Layout
//!
//! - One module per page or resource: `login`, `dashboard`, `setup`,
//!   `promotions` (with `promotion_fields`, each field's text), `programme`, `content`
//!   (a promotion's pictures and description, and the offer card the phone
//!   page shares), `media` (the pictures served), `customer`, `join`,
//!   `messages` (a message's links),
//!   `campaigns` (HQ's campaign figures).
//! - `session`: HQ sessions (cookie, server-side store, form tokens);
//!   `security`: response headers and the same-origin check; `links`:
//!   customers' personal links and public URLs; `secrets`: randomness;
//!   `samples`: the sample rulesets a programme can start from.
//! - `charts` (plotters → SVG), `qr` (qrcode → SVG), `format` (money from
//!   kopecks, dates, labels), `layout` (the HQ header).
//! - `i18n`: the pages' languages (Russian, English): Fluent catalogues in
//!   `sync-server/locales/{ru,en}/`, the language chosen per request (the
//!   `lang` cookie, else `Accept-Language`, else Russian).
//! - `error`: [`PageError`](error::PageError), the one error type of the
//!   pages; `extract`: extractors that reject with it.
//! - Templates (askama, auto-escaped) live in `sync-server/templates/`,
//!   static files in `sync-server/static/`.

mod account;
pub(crate) mod analytics;
mod assets;
mod audit;
mod campaigns;
mod charts;
pub(crate) mod content;
mod customer;
mod dashboard;
mod drafts;
pub(crate) mod error;
pub(crate) mod export;
mod extract;
mod format;
pub(crate) mod i18n;
mod join;
mod layout;
pub(crate) mod links;
mod login;
pub(crate) mod media;
mod messages;
mod people;
mod programme;
mod promotion_fields;
mod promotions;
mod qr;
mod recover;
mod referrals;
mod reviews;
mod samples;
mod secrets;
mod security;
mod segments;
pub(crate) mod session;
mod setup;
mod store;
mod support;
pub(crate) mod throttle;

use axum::Router;
use axum::middleware;
use axum::routing::{get, post};

use crate::state::AppState;

/// The pages' routes, merged into the server's router. Every `/hq` route
/// is behind the guard (`crate::guard`, with the table in `crate::access`).
pub(crate) fn routes(state: &AppState) -> Router<AppState> {
    let hq = Router::new()
        .route("/hq", get(login::home))
        .route("/hq/login", post(login::login))
        .route("/hq/logout", post(login::logout))
        .route(
            "/hq/welcome/{secret}",
            get(account::welcome).post(account::set_password),
        )
        .route("/hq/account", get(account::page))
        .route("/hq/account/totp", post(account::begin_totp))
        .route("/hq/account/totp/confirm", post(account::confirm_totp))
        .route("/hq/account/totp/disable", post(account::disable_totp))
        .route("/hq/account/language", post(account::set_language))
        .route(
            "/hq/account/sessions/{session}/revoke",
            post(account::revoke_session),
        )
        .route("/hq/merchants", post(login::create_merchant))
        .route("/hq/merchants/{id}", get(dashboard::dashboard))
        .route("/hq/merchants/{id}/setup", get(setup::setup))
        .route("/hq/merchants/{id}/analytics", get(analytics::sales_page))
        .route("/hq/merchants/{id}/analytics/{view}", get(analytics::page))
        .route(
            "/hq/merchants/{id}/analytics/export/{table}",
            get(analytics::export_csv),
        )
        .route(
            "/hq/merchants/{id}/registers/{register}/revoke",
            post(dashboard::revoke_register),
        )
        .route(
            "/hq/merchants/{id}/fleet/minimum-version",
            post(dashboard::set_minimum_version),
        )
        .route("/hq/merchants/{id}/ruleset", post(setup::start_from_sample))
        .route(
            "/hq/merchants/{id}/programme",
            get(programme::page).post(programme::save),
        )
        .route("/hq/merchants/{id}/brands", post(setup::create_brand))
        .route("/hq/merchants/{id}/stores", post(setup::create_store))
        .route("/hq/merchants/{id}/stores/{store}", get(store::page))
        .route(
            "/hq/merchants/{id}/stores/{store}/enrollment-tokens",
            post(setup::create_enrollment_token),
        )
        .route(
            "/hq/merchants/{id}/promotions",
            post(promotions::publish_promotion),
        )
        .route(
            "/hq/merchants/{id}/drafts",
            get(drafts::list).post(drafts::save),
        )
        .route("/hq/merchants/{id}/drafts/{draft}", get(drafts::page))
        .route(
            "/hq/merchants/{id}/drafts/{draft}/publish",
            post(drafts::publish),
        )
        .route(
            "/hq/merchants/{id}/drafts/{draft}/delete",
            post(drafts::delete),
        )
        .route(
            "/hq/merchants/{id}/promotions/{promotion}/content",
            get(content::page)
                .post(content::save)
                .layer(axum::extract::DefaultBodyLimit::max(
                    content::MAX_FORM_BYTES,
                )),
        )
        .route("/hq/merchants/{id}/customers", get(support::page))
        .route(
            "/hq/merchants/{id}/customers/{customer}/adjustments",
            post(support::adjust),
        )
        .route(
            "/hq/merchants/{id}/holds/{register}/{seq}",
            post(support::resolve_hold),
        )
        .route(
            "/hq/merchants/{id}/customer-links",
            post(setup::create_customer_link),
        )
        .route(
            "/hq/merchants/{id}/people",
            get(people::page).post(people::invite),
        )
        .route(
            "/hq/merchants/{id}/people/{account}/role",
            post(people::change_role),
        )
        .route(
            "/hq/merchants/{id}/people/{account}/reset",
            post(people::reset_link),
        )
        .route(
            "/hq/merchants/{id}/people/{account}/disable",
            post(people::disable),
        )
        .route("/hq/merchants/{id}/api-keys", post(people::create_api_key))
        .route(
            "/hq/merchants/{id}/api-keys/{key}/revoke",
            post(people::revoke_api_key),
        )
        .route("/hq/merchants/{id}/audit", get(audit::page))
        .route("/hq/merchants/{id}/campaigns", get(campaigns::campaigns))
        .route("/hq/merchants/{id}/referrals", get(referrals::page))
        .route("/hq/merchants/{id}/reviews", get(reviews::page))
        .route(
            "/hq/merchants/{id}/segments",
            get(segments::page).post(segments::save),
        )
        .route(
            "/hq/merchants/{id}/segments/refresh",
            post(segments::refresh),
        )
        .route(
            "/hq/merchants/{id}/segments/{code}/delete",
            post(segments::delete),
        )
        .route(
            "/hq/merchants/{id}/reviews/moderate",
            post(reviews::moderate),
        )
        .route_layer(middleware::from_fn_with_state(
            state.clone(),
            crate::guard::guard,
        ));
    Router::new()
        .merge(hq)
        .route("/c/{secret}", get(customer::page))
        .route("/c/{secret}/token", get(customer::token))
        .route("/c/{secret}/reviews", post(customer::review))
        .route("/join/{merchant}", get(join::form).post(join::submit))
        .route(
            "/join/{merchant}/confirm/{token}",
            get(join::confirm_form).post(join::confirm),
        )
        .route(
            "/join/{merchant}/recover",
            get(recover::form).post(recover::submit),
        )
        .route(
            "/join/{merchant}/recover/{token}",
            get(recover::code_form).post(recover::confirm),
        )
        .route("/m/{token}", get(messages::open))
        .route("/m/{token}/card", post(messages::card))
        .route(
            "/m/{token}/unsubscribe",
            get(messages::unsubscribe_form).post(messages::unsubscribe),
        )
        .route("/media/{hash}", get(media::picture))
        .route("/media/{hash}/thumbnail", get(media::thumbnail))
        .route("/lang/{code}", get(i18n::switch))
        .route("/static/app.css", get(assets::stylesheet))
        .route("/static/customer.js", get(assets::customer_script))
        .route("/static/promotion.js", get(assets::promotion_script))
        .layer(middleware::from_fn(i18n::negotiate))
        .layer(middleware::from_fn(security::headers))
}
