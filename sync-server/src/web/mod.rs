//! The browser pages, rendered on the server: plain HTML forms, inline SVG
//! charts and QR codes, one stylesheet and one small script. They work
//! without JavaScript; the customer page's script only rotates the QR code
//! and offers the phone's share sheet.
//!
//! | route | who | what |
//! | --- | --- | --- |
//! | `GET /hq`, `POST /hq/login`, `POST /hq/logout` | HQ | sign in with the admin token; the merchants |
//! | `POST /hq/merchants` | HQ | a new merchant |
//! | `GET /hq/merchants/{id}?from=&to=` | HQ | the dashboard: sales, customers, promotions, registers, alerts |
//! | `GET /hq/merchants/{id}/setup` | HQ | brands, stores, register tokens, promotions, reviews |
//! | `POST /hq/merchants/{id}/{brands,stores,promotions,customer-links}` | HQ | set-up forms |
//! | `POST /hq/merchants/{id}/ruleset` | HQ | the first ruleset, from a sample |
//! | `POST /hq/merchants/{id}/stores/{store}/enrollment-tokens` | HQ | a one-time register token, shown once |
//! | `GET /c/{secret}`, `GET /c/{secret}/token`, `POST /c/{secret}/reviews` | a customer | their page, a fresh QR token, a review |
//! | `GET/POST /join/{merchant}` | anyone | sign up as the merchant's customer |
//! | `GET /static/…` | anyone | the stylesheet and the customer script |
//!
//! # Layout
//!
//! - One module per page or resource: `login`, `dashboard`, `setup`,
//!   `promotions`, `customer`, `join`.
//! - `session`: HQ sessions (cookie, server-side store, form tokens);
//!   `security`: response headers and the same-origin check; `links`:
//!   customers' personal links and public URLs; `secrets`: randomness;
//!   `samples`: the sample rulesets a programme can start from.
//! - `charts` (plotters → SVG), `qr` (qrcode → SVG), `format` (money from
//!   kopecks, dates, labels), `layout` (the HQ header).
//! - `error`: [`PageError`](error::PageError), the one error type of the
//!   pages; `extract`: extractors that reject with it.
//! - Templates (askama, auto-escaped) live in `sync-server/templates/`,
//!   static files in `sync-server/static/`.

pub(crate) mod analytics;
mod assets;
mod charts;
mod customer;
mod dashboard;
mod error;
pub(crate) mod export;
mod extract;
mod format;
mod join;
mod layout;
pub(crate) mod links;
mod login;
mod promotions;
mod qr;
mod samples;
mod secrets;
mod security;
mod session;
mod setup;
pub(crate) mod throttle;

use axum::Router;
use axum::middleware;
use axum::routing::{get, post};

use crate::state::AppState;

/// The pages' routes, merged into the server's router.
pub(crate) fn routes() -> Router<AppState> {
    Router::new()
        .route("/hq", get(login::home))
        .route("/hq/login", post(login::login))
        .route("/hq/logout", post(login::logout))
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
        .route("/hq/merchants/{id}/ruleset", post(setup::start_from_sample))
        .route("/hq/merchants/{id}/brands", post(setup::create_brand))
        .route("/hq/merchants/{id}/stores", post(setup::create_store))
        .route(
            "/hq/merchants/{id}/stores/{store}/enrollment-tokens",
            post(setup::create_enrollment_token),
        )
        .route(
            "/hq/merchants/{id}/promotions",
            post(promotions::publish_promotion),
        )
        .route(
            "/hq/merchants/{id}/customer-links",
            post(setup::create_customer_link),
        )
        .route("/c/{secret}", get(customer::page))
        .route("/c/{secret}/token", get(customer::token))
        .route("/c/{secret}/reviews", post(customer::review))
        .route("/join/{merchant}", get(join::form).post(join::submit))
        .route("/static/app.css", get(assets::stylesheet))
        .route("/static/customer.js", get(assets::customer_script))
        .layer(middleware::from_fn(security::headers))
}
