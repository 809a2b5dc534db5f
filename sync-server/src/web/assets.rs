//! The pages' only static files, built into the binary: one stylesheet,
//! the customer page's small script (token rotation, sharing) and the
//! promotion form's (showing the chosen reward kind's fields).

use axum::http::HeaderValue;
use axum::http::header::{CACHE_CONTROL, CONTENT_TYPE};
use axum::response::{IntoResponse, Response};

const STYLESHEET: &str = include_str!("../../static/app.css");
const CUSTOMER_SCRIPT: &str = include_str!("../../static/customer.js");
const PROMOTION_SCRIPT: &str = include_str!("../../static/promotion.js");
/// Browsers may keep them an hour; a new release changes them.
const CACHE_FOR_AN_HOUR: &str = "public, max-age=3600";

pub async fn stylesheet() -> Response {
    asset(STYLESHEET, "text/css; charset=utf-8")
}

pub async fn customer_script() -> Response {
    asset(CUSTOMER_SCRIPT, "text/javascript; charset=utf-8")
}

pub async fn promotion_script() -> Response {
    asset(PROMOTION_SCRIPT, "text/javascript; charset=utf-8")
}

fn asset(body: &'static str, content_type: &'static str) -> Response {
    (
        [
            (CONTENT_TYPE, HeaderValue::from_static(content_type)),
            (CACHE_CONTROL, HeaderValue::from_static(CACHE_FOR_AN_HOUR)),
        ],
        body,
    )
        .into_response()
}
