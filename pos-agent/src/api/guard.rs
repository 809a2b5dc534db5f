//! Who may call the local API, checked before any handler runs:
//!
//! - `Host` must name the API itself: `127.0.0.1`, `localhost`, `[::1]` or
//!   the configured listen address (any port), so a web page cannot reach
//!   it by DNS rebinding (403 `host_not_allowed`).
//! - A browser's `Origin`, when sent, must be the API's own or one of
//!   `api.allowed_origins` (403 `origin_not_allowed`).
//! - With `api.require_token`, `Authorization: Bearer <token>` must carry
//!   the till's token (401 `unauthorized`); `GET /health` stays open.
//! - A `POST`, `PUT` or `PATCH` with a body, or with a `Content-Type`, must
//!   be `application/json` (415 `unsupported_media_type`), so a cross-site
//!   `text/plain` form cannot drive the till.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{HeaderMap, Method, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use secrecy::{ExposeSecret, SecretString};

use crate::error::ApiError;

/// What the guard lets through.
pub struct Guard {
    /// Host names (lowercase, IPv6 in brackets), without port.
    hosts: Vec<String>,
    /// Allowed origins, lowercase, without a trailing slash.
    origins: Vec<String>,
    /// The till's token, when it is required.
    token: Option<SecretString>,
}

impl Guard {
    /// The guard of an API listening on `bound` (configured as `listen`).
    pub fn new(
        listen: SocketAddr,
        bound: SocketAddr,
        allowed_origins: &[String],
        token: Option<SecretString>,
    ) -> Self {
        let mut hosts: Vec<String> = vec!["127.0.0.1".into(), "localhost".into(), "[::1]".into()];
        for addr in [listen, bound] {
            if !addr.ip().is_unspecified() {
                let name = match addr {
                    SocketAddr::V4(a) => a.ip().to_string(),
                    SocketAddr::V6(a) => format!("[{}]", a.ip()),
                };
                if !hosts.contains(&name) {
                    hosts.push(name);
                }
            }
        }
        let mut origins: Vec<String> = hosts
            .iter()
            .map(|h| format!("http://{h}:{}", bound.port()))
            .collect();
        origins.extend(allowed_origins.iter().map(|o| normalize_origin(o)));
        Self {
            hosts,
            origins,
            token,
        }
    }

    fn check(&self, method: &Method, path: &str, headers: &HeaderMap) -> Result<(), ApiError> {
        let host = headers
            .get(header::HOST)
            .and_then(|h| h.to_str().ok())
            .map(host_name)
            .unwrap_or_default();
        if !self.hosts.contains(&host) {
            return Err(ApiError::refused(
                axum::http::StatusCode::FORBIDDEN,
                "host_not_allowed",
                "the local API answers only requests for 127.0.0.1, localhost, [::1] \
                 or its listen address",
            ));
        }
        if let Some(origin) = headers.get(header::ORIGIN) {
            let origin = origin.to_str().map(normalize_origin).unwrap_or_default();
            if !self.origins.contains(&origin) {
                return Err(ApiError::refused(
                    axum::http::StatusCode::FORBIDDEN,
                    "origin_not_allowed",
                    "requests from this web origin are refused; list it in api.allowed_origins",
                ));
            }
        }
        if let Some(token) = &self.token
            && !(method == Method::GET && path == "/health")
            && !bearer_matches(headers, token)
        {
            return Err(ApiError::Unauthorized);
        }
        let writes = [Method::POST, Method::PUT, Method::PATCH].contains(method);
        if writes && (has_body(headers) || headers.contains_key(header::CONTENT_TYPE)) {
            let json = headers
                .get(header::CONTENT_TYPE)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.split(';').next())
                .is_some_and(|v| v.trim().eq_ignore_ascii_case("application/json"));
            if !json {
                return Err(ApiError::refused(
                    axum::http::StatusCode::UNSUPPORTED_MEDIA_TYPE,
                    "unsupported_media_type",
                    "a request body must be JSON, sent with Content-Type: application/json",
                ));
            }
        }
        Ok(())
    }
}

/// The middleware: refuses what [`Guard`] does not let through.
pub async fn guard(State(guard): State<Arc<Guard>>, request: Request, next: Next) -> Response {
    match guard.check(request.method(), request.uri().path(), request.headers()) {
        Ok(()) => next.run(request).await,
        Err(refused) => refused.into_response(),
    }
}

/// The host of a `Host` header, lowercase, without its port.
fn host_name(host: &str) -> String {
    let host = host.trim();
    let name = if host.starts_with('[') {
        host.find(']').map_or(host, |end| &host[..=end])
    } else {
        host.rsplit_once(':').map_or(host, |(name, _port)| name)
    };
    name.to_ascii_lowercase()
}

fn normalize_origin(origin: &str) -> String {
    origin.trim().trim_end_matches('/').to_ascii_lowercase()
}

fn has_body(headers: &HeaderMap) -> bool {
    headers.contains_key(header::TRANSFER_ENCODING)
        || headers
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.trim() != "0")
}

/// Whether the request carries the token, compared in constant time.
fn bearer_matches(headers: &HeaderMap, token: &SecretString) -> bool {
    let Some(sent) = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
    else {
        return false;
    };
    let (sent, expected) = (sent.trim().as_bytes(), token.expose_secret().as_bytes());
    sent.len() == expected.len()
        && sent
            .iter()
            .zip(expected)
            .fold(0u8, |acc, (a, b)| acc | (a ^ b))
            == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_names_lose_their_port() {
        assert_eq!(host_name("127.0.0.1:8641"), "127.0.0.1");
        assert_eq!(host_name("LocalHost"), "localhost");
        assert_eq!(host_name("[::1]:8641"), "[::1]");
        assert_eq!(host_name("evil.example:8641"), "evil.example");
    }
}
