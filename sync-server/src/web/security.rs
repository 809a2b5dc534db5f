//! What every page response carries, and the same-origin check of forms.
//!
//! - A strict Content-Security-Policy: scripts and styles only from this
//!   server's `/static/`, no inline script, no framing, forms post only
//!   here. Charts and QR codes are inline SVG markup, which the policy
//!   allows.
//! - `Referrer-Policy: same-origin`. A request to another site carries no
//!   `Referer` at all, so a customer's page address `/c/<secret>` (their
//!   only credential) never leaves this server: not its path, not even its
//!   origin. A request to this server carries the full address, which this
//!   server already knows (it is in the request line). The policy must not
//!   be `no-referrer`: under it Chromium posts every form with
//!   `Origin: null`, indistinguishable from an opaque (sandboxed or
//!   `data:`) origin, and [`require_same_origin`] rightly refuses that; so
//!   every form but sign-in was refused in a real browser.
//! - `Cache-Control: no-store` unless the handler chose otherwise: pages
//!   carry tokens and personal data.
//!
//! # Forms from other sites
//!
//! Forms that change something are refused when sent from another site
//! ([`require_same_origin`]); HQ forms add a per-session token on top, which
//! stays the main defence. The check trusts what browsers set themselves
//! and scripts cannot forge:
//!
//! 1. `Sec-Fetch-Site`, where the browser sends it (every current one):
//!    `same-origin` is a form of these pages; `none` is the person's own
//!    doing (an address typed or a bookmark); `cross-site` is refused, and
//!    so is anything unknown. `same-site` (a sibling host) falls through
//!    to the `Origin` check and must name this server.
//! 2. Otherwise `Origin`: absent is a client that is no browser (nothing
//!    to forge against), this server's origin (as the request's `Host` or
//!    the configured public URL) passes, and anything else, `null`
//!    included, is refused.

use axum::extract::Request;
use axum::http::header::{
    CACHE_CONTROL, CONTENT_SECURITY_POLICY, HOST, ORIGIN, REFERRER_POLICY, X_CONTENT_TYPE_OPTIONS,
    X_FRAME_OPTIONS,
};
use axum::http::{HeaderMap, HeaderName, HeaderValue};
use axum::middleware::Next;
use axum::response::Response;

use crate::config::Settings;
use crate::web::error::PageError;

/// Where a request comes from, as the browser itself says (Fetch Metadata).
const SEC_FETCH_SITE: HeaderName = HeaderName::from_static("sec-fetch-site");

const CONTENT_SECURITY: &str = "default-src 'none'; script-src 'self'; style-src 'self'; \
     img-src 'self' data:; connect-src 'self'; form-action 'self'; base-uri 'none'; \
     frame-ancestors 'none'";

/// Adds the security headers to every page response.
pub async fn headers(request: Request, next: Next) -> Response {
    let mut response = next.run(request).await;
    let headers = response.headers_mut();
    headers.insert(
        CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CONTENT_SECURITY),
    );
    headers.insert(X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    headers.insert(X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(REFERRER_POLICY, HeaderValue::from_static("same-origin"));
    if !headers.contains_key(CACHE_CONTROL) {
        headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    response
}

/// What `Sec-Fetch-Site` says about where a request comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum FetchSite {
    /// A page of this server's origin.
    SameOrigin,
    /// Another origin of the same site (a sibling host or port).
    SameSite,
    /// The person's own doing: an address typed, a bookmark.
    UserInitiated,
    /// Another site.
    CrossSite,
}

impl FetchSite {
    /// The header's value, if the browser sent one; an unreadable or
    /// unknown value counts as another site.
    fn of(headers: &HeaderMap) -> Option<Self> {
        let value = headers.get(SEC_FETCH_SITE)?;
        Some(match value.to_str().map(str::trim) {
            Ok(v) if v.eq_ignore_ascii_case("same-origin") => FetchSite::SameOrigin,
            Ok(v) if v.eq_ignore_ascii_case("same-site") => FetchSite::SameSite,
            Ok(v) if v.eq_ignore_ascii_case("none") => FetchSite::UserInitiated,
            _ => FetchSite::CrossSite,
        })
    }
}

/// Refuses a form sent from another site (see the module doc): by
/// `Sec-Fetch-Site` where the browser sends it, else by `Origin`.
pub fn require_same_origin(headers: &HeaderMap, settings: &Settings) -> Result<(), PageError> {
    match FetchSite::of(headers) {
        Some(FetchSite::SameOrigin | FetchSite::UserInitiated) => Ok(()),
        Some(FetchSite::CrossSite) => {
            tracing::warn!("refused a form from another site");
            Err(PageError::Forbidden("cross-site form"))
        }
        Some(FetchSite::SameSite) if !headers.contains_key(ORIGIN) => {
            tracing::warn!("refused a form from a sibling site without an Origin");
            Err(PageError::Forbidden("same-site form without Origin"))
        }
        Some(FetchSite::SameSite) | None => require_own_origin(headers, settings),
    }
}

/// Refuses an `Origin` other than this server: it must name the request's
/// `Host` or the configured public URL. No `Origin` at all passes.
fn require_own_origin(headers: &HeaderMap, settings: &Settings) -> Result<(), PageError> {
    let Some(origin) = headers.get(ORIGIN) else {
        return Ok(());
    };
    let origin = origin
        .to_str()
        .map_err(|_| PageError::Forbidden("unreadable Origin"))?;
    let host = headers.get(HOST).and_then(|h| h.to_str().ok());
    let from_host = authority(origin).is_some_and(|a| Some(a) == host);
    let from_public_url = settings
        .public_url
        .as_deref()
        .is_some_and(|url| url.trim_end_matches('/').eq_ignore_ascii_case(origin));
    if from_host || from_public_url {
        Ok(())
    } else {
        tracing::warn!(origin, "refused a form from another origin");
        Err(PageError::Forbidden("cross-origin form"))
    }
}

/// `host[:port]` of an `http` or `https` origin.
fn authority(origin: &str) -> Option<&str> {
    origin
        .strip_prefix("http://")
        .or_else(|| origin.strip_prefix("https://"))
        .filter(|rest| !rest.is_empty() && !rest.contains('/'))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(public_url: Option<&str>) -> Settings {
        let mut settings: Settings =
            serde_json::from_value(serde_json::json!({"admin_token": "t"})).unwrap();
        settings.public_url = public_url.map(str::to_owned);
        settings
    }

    fn request(origin: Option<&'static str>, fetch_site: Option<&'static str>) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(HOST, HeaderValue::from_static("127.0.0.1:8640"));
        if let Some(origin) = origin {
            headers.insert(ORIGIN, HeaderValue::from_static(origin));
        }
        if let Some(site) = fetch_site {
            headers.insert(SEC_FETCH_SITE, HeaderValue::from_static(site));
        }
        headers
    }

    fn allowed(origin: Option<&'static str>, site: Option<&'static str>, s: &Settings) -> bool {
        require_same_origin(&request(origin, site), s).is_ok()
    }

    #[test]
    fn without_fetch_metadata_only_this_servers_origin_may_post_forms() {
        let plain = settings(None);
        assert!(allowed(None, None, &plain), "no browser");
        assert!(allowed(Some("http://127.0.0.1:8640"), None, &plain));
        assert!(!allowed(Some("http://127.0.0.1:9999"), None, &plain));
        assert!(!allowed(Some("null"), None, &plain));
        assert!(!allowed(Some("https://evil.example"), None, &plain));
        let proxied = settings(Some("https://loyalty.example/"));
        assert!(allowed(Some("https://loyalty.example"), None, &proxied));
    }

    #[test]
    fn fetch_metadata_decides_where_the_browser_sends_it() {
        let plain = settings(None);
        // A form of these pages, whatever `Origin` a referrer policy left.
        assert!(allowed(
            Some("http://127.0.0.1:8640"),
            Some("same-origin"),
            &plain
        ));
        assert!(allowed(Some("null"), Some("same-origin"), &plain));
        assert!(allowed(None, Some("same-origin"), &plain));
        // Behind a proxy the `Host` differs, the browser's verdict does not.
        assert!(allowed(
            Some("https://loyalty.example"),
            Some("same-origin"),
            &plain
        ));
        // The person's own doing.
        assert!(allowed(None, Some("none"), &plain));
        // Another site, with whatever `Origin`: `null` above all.
        assert!(!allowed(Some("null"), Some("cross-site"), &plain));
        assert!(!allowed(
            Some("https://evil.example"),
            Some("cross-site"),
            &plain
        ));
        assert!(!allowed(
            Some("http://127.0.0.1:8640"),
            Some("cross-site"),
            &plain
        ));
        assert!(!allowed(None, Some("cross-site"), &plain));
        // A sibling host must still name this server.
        assert!(!allowed(
            Some("http://127.0.0.1:9999"),
            Some("same-site"),
            &plain
        ));
        assert!(!allowed(None, Some("same-site"), &plain));
        assert!(!allowed(Some("null"), Some("same-site"), &plain));
        assert!(allowed(
            Some("http://127.0.0.1:8640"),
            Some("same-site"),
            &plain
        ));
        // Nothing else is understood.
        assert!(!allowed(
            Some("http://127.0.0.1:8640"),
            Some("cross-origin"),
            &plain
        ));
    }

    #[tokio::test]
    async fn pages_keep_their_origin_in_forms_but_send_nothing_to_other_sites() {
        use axum::body::Body;
        use tower::ServiceExt as _;

        let app = axum::Router::new()
            .route("/c/{secret}", axum::routing::get(|| async { "page" }))
            .layer(axum::middleware::from_fn(headers));
        let response = app
            .oneshot(Request::get("/c/secret").body(Body::empty()).unwrap())
            .await
            .unwrap();
        assert_eq!(response.headers()[REFERRER_POLICY], "same-origin");
        assert_eq!(response.headers()[CACHE_CONTROL], "no-store");
    }
}
