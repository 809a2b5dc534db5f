//! What every page response carries, and the same-origin check of forms.
//!
//! - A strict Content-Security-Policy: scripts and styles only from this
//!   server's `/static/`, no inline script, no framing, forms post only
//!   here. Charts and QR codes are inline SVG markup, which the policy
//!   allows.
//! - `Referrer-Policy: no-referrer`, because a customer's page address is
//!   their secret.
//! - `Cache-Control: no-store` unless the handler chose otherwise: pages
//!   carry tokens and personal data.
//!
//! Forms that change something also refuse an `Origin` other than this
//! server ([`require_same_origin`]); HQ forms add a per-session token.

use axum::extract::Request;
use axum::http::header::{
    CACHE_CONTROL, CONTENT_SECURITY_POLICY, HOST, ORIGIN, REFERRER_POLICY, X_CONTENT_TYPE_OPTIONS,
    X_FRAME_OPTIONS,
};
use axum::http::{HeaderMap, HeaderValue};
use axum::middleware::Next;
use axum::response::Response;

use crate::config::Settings;
use crate::web::error::PageError;

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
    headers.insert(REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    if !headers.contains_key(CACHE_CONTROL) {
        headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    response
}

/// Refuses a form sent from another site: an `Origin` header, when the
/// browser sends one, must name this server as the request's `Host` or the
/// configured public URL does.
pub fn require_same_origin(headers: &HeaderMap, settings: &Settings) -> Result<(), PageError> {
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

    fn request(origin: Option<&'static str>) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(HOST, HeaderValue::from_static("127.0.0.1:8640"));
        if let Some(origin) = origin {
            headers.insert(ORIGIN, HeaderValue::from_static(origin));
        }
        headers
    }

    #[test]
    fn only_this_server_may_post_forms() {
        let plain = settings(None);
        assert!(require_same_origin(&request(None), &plain).is_ok());
        assert!(require_same_origin(&request(Some("http://127.0.0.1:8640")), &plain).is_ok());
        assert!(require_same_origin(&request(Some("http://127.0.0.1:9999")), &plain).is_err());
        assert!(require_same_origin(&request(Some("null")), &plain).is_err());
        assert!(require_same_origin(&request(Some("https://evil.example")), &plain).is_err());
        let proxied = settings(Some("https://loyalty.example/"));
        assert!(require_same_origin(&request(Some("https://loyalty.example")), &proxied).is_ok());
    }
}
