//! Customers' personal links, `/c/<secret>`: the secret is the customer's
//! key to their page, so it is 256 random bits, shown once, and stored only
//! as its SHA-256. Issuing a new link retires the old one.
//!
//! Also the absolute URLs the pages hand out (personal links, offer share
//! links): on the configured `public_url`, else on the `Host` the request
//! came to.

use axum::http::HeaderMap;
use axum::http::header::HOST;
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use shared::ids::{CustomerId, MerchantId, PromotionId};

use crate::auth::hash_secret;
use crate::config::Settings;
use crate::db::DbError;
use crate::state::AppState;
use crate::web::error::PageError;
use crate::web::secrets::{RandomSourceFailed, looks_like_secret, random_secret};

/// What a query value escapes: all but letters, digits and `-._~`, the
/// characters URLs never need to escape.
const QUERY_VALUE: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// A freshly issued personal link.
#[derive(Debug, Clone)]
pub struct PersonalLink {
    /// `/c/<secret>`.
    pub path: String,
    /// The path on the server's public address.
    pub url: String,
}

/// Why a link could not be issued.
#[derive(Debug, thiserror::Error)]
pub enum LinkError {
    /// Storage failed, or the customer does not exist (`NotFound`).
    #[error(transparent)]
    Storage(#[from] DbError),
    /// No randomness for the secret.
    #[error(transparent)]
    Random(#[from] RandomSourceFailed),
}

impl From<LinkError> for PageError {
    fn from(e: LinkError) -> Self {
        match e {
            LinkError::Storage(e) => e.into(),
            LinkError::Random(e) => e.into(),
        }
    }
}

/// Gives `customer` a new personal link, retiring any earlier one.
#[tracing::instrument(skip_all, fields(customer_id = %customer))]
pub async fn issue(
    state: &AppState,
    customer: CustomerId,
    headers: &HeaderMap,
) -> Result<PersonalLink, LinkError> {
    let secret = random_secret()?;
    state
        .services
        .pages
        .set_customer_link(customer, hash_secret(&secret), state.clock.now())
        .await?;
    tracing::info!("issued a personal link");
    let path = format!("/c/{secret}");
    Ok(PersonalLink {
        url: format!("{}{path}", public_base(&state.settings, headers)),
        path,
    })
}

/// The customer whose link secret is `secret`; `NotFound` for anything else.
pub async fn customer_of(state: &AppState, secret: &str) -> Result<CustomerId, PageError> {
    if !looks_like_secret(secret) {
        return Err(PageError::NotFound);
    }
    state
        .services
        .pages
        .customer_by_link(hash_secret(secret))
        .await?
        .ok_or(PageError::NotFound)
}

/// Where a friend is sent to join (and see the shared offer, if one is
/// named), with the sharer's referral code, never their id or page secret.
#[must_use]
pub fn share_url(
    settings: &Settings,
    headers: &HeaderMap,
    merchant: MerchantId,
    offer: Option<&PromotionId>,
    referral_code: &str,
) -> String {
    let offer = offer
        .map(|o| format!("offer={}&", query_value(o.as_str())))
        .unwrap_or_default();
    format!(
        "{}/join/{merchant}?{offer}ref={}",
        public_base(settings, headers),
        query_value(referral_code)
    )
}

/// `text` percent-encoded for a query string value.
#[must_use]
pub fn query_value(text: &str) -> String {
    utf8_percent_encode(text, QUERY_VALUE).to_string()
}

/// `scheme://host[:port]` of the server as browsers reach it: the
/// configured public URL, else the request's `Host` (when it is a plain
/// host name or address), else empty, which leaves URLs relative.
#[must_use]
pub fn public_base(settings: &Settings, headers: &HeaderMap) -> String {
    if let Some(url) = &settings.public_url {
        return url.trim_end_matches('/').to_owned();
    }
    headers
        .get(HOST)
        .and_then(|h| h.to_str().ok())
        .filter(|host| is_plain_host(host))
        .map(|host| format!("http://{host}"))
        .unwrap_or_default()
}

/// A host name, IPv4 or bracketed IPv6 address, with an optional port.
fn is_plain_host(host: &str) -> bool {
    !host.is_empty()
        && host.len() <= 255
        && host
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b':' | b'[' | b']'))
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    #[test]
    fn hosts_with_odd_characters_leave_urls_relative() {
        assert!(is_plain_host("127.0.0.1:8640"));
        assert!(is_plain_host("[::1]:8640"));
        assert!(is_plain_host("shop.example"));
        assert!(!is_plain_host("evil.example/\"><script>"));
        assert!(!is_plain_host(""));
    }

    #[test]
    fn query_values_are_percent_encoded() {
        assert_eq!(
            query_value("/hq/merchants/1?from=2026-03-01"),
            "%2Fhq%2Fmerchants%2F1%3Ffrom%3D2026-03-01"
        );
        let mut headers = HeaderMap::new();
        headers.insert(HOST, HeaderValue::from_static("127.0.0.1:9"));
        let mut settings: Settings =
            serde_json::from_value(serde_json::json!({"admin_token": "t"})).unwrap();
        assert_eq!(public_base(&settings, &headers), "http://127.0.0.1:9");
        settings.public_url = Some("https://loyalty.example/".into());
        assert_eq!(public_base(&settings, &headers), "https://loyalty.example");
    }
}
