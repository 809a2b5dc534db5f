//! Sync protocol negotiation between registers and the server.
//!
//! An agent names the version it speaks in the `x-loyalty-protocol` header.
//! A request without it is taken as version 1, which is what agents sent
//! before the header existed. A version this server does not speak is
//! refused with 426 `protocol_unsupported`, naming the versions it does.
//! Every reply on a register route carries `x-loyalty-protocol` with the
//! version the server answered in, refusals included, and
//! `GET /api/v1/protocol` lists the supported versions for an agent that
//! wants to ask first. Every such reply also lists, in
//! `x-loyalty-features`, the optional parts of the protocol this server
//! offers ([`FEATURES`]): an agent learns them from its first exchange,
//! and an older agent, which ignores the header, goes on as before.

use axum::extract::Request;
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse as _, Response};
use shared::wire::{FEATURE_QUOTA_LEASES, FEATURES_HEADER, PROTOCOL_HEADER, PROTOCOL_VERSION};

use crate::error::ApiError;

/// The sync protocol versions this server speaks, ascending.
pub const SUPPORTED_VERSIONS: &[u32] = &[PROTOCOL_VERSION];

/// The optional parts of the protocol this server offers.
pub const FEATURES: &[&str] = &[FEATURE_QUOTA_LEASES];

/// The version assumed when a request does not name one.
pub const IMPLIED_VERSION: u32 = 1;

/// Why a request's protocol version was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProtocolRefusal {
    /// The header is not a version number.
    #[error("the {PROTOCOL_HEADER} header must be a version number, got {0:?}")]
    Unreadable(String),
    /// A version this server does not speak.
    #[error(
        "this server speaks sync protocol version(s) {supported}, the agent sent {0}; upgrade the agent or the server",
        supported = supported_list()
    )]
    Unsupported(u32),
}

fn supported_list() -> String {
    SUPPORTED_VERSIONS
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

/// The version a request speaks, from its headers.
pub fn negotiate(headers: &HeaderMap) -> Result<u32, ProtocolRefusal> {
    let Some(value) = headers.get(PROTOCOL_HEADER) else {
        return Ok(IMPLIED_VERSION);
    };
    let version = value
        .to_str()
        .ok()
        .and_then(|v| v.trim().parse::<u32>().ok())
        .ok_or_else(|| {
            ProtocolRefusal::Unreadable(String::from_utf8_lossy(value.as_bytes()).into_owned())
        })?;
    if SUPPORTED_VERSIONS.contains(&version) {
        Ok(version)
    } else {
        Err(ProtocolRefusal::Unsupported(version))
    }
}

impl From<ProtocolRefusal> for ApiError {
    fn from(refusal: ProtocolRefusal) -> Self {
        let message = refusal.to_string();
        match refusal {
            ProtocolRefusal::Unreadable(_) => ApiError::bad_request("bad_protocol_header", message),
            ProtocolRefusal::Unsupported(_) => ApiError::new(
                StatusCode::UPGRADE_REQUIRED,
                "protocol_unsupported",
                message,
            ),
        }
    }
}

/// Refuses requests in a version this server does not speak, and marks
/// every reply with the version it is in.
pub async fn negotiate_protocol(request: Request, next: Next) -> Response {
    let (mut response, answered_in) = match negotiate(request.headers()) {
        Ok(version) => (next.run(request).await, version),
        Err(refusal) => (ApiError::from(refusal).into_response(), PROTOCOL_VERSION),
    };
    response
        .headers_mut()
        .insert(PROTOCOL_HEADER, HeaderValue::from(answered_in));
    response.headers_mut().insert(
        FEATURES_HEADER,
        HeaderValue::from_static(FEATURE_QUOTA_LEASES),
    );
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with(value: &'static str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(PROTOCOL_HEADER, HeaderValue::from_static(value));
        headers
    }

    #[test]
    fn a_missing_header_is_version_one_and_others_must_be_spoken() {
        assert_eq!(negotiate(&HeaderMap::new()), Ok(1));
        assert_eq!(negotiate(&with(" 1 ")), Ok(1));
        assert_eq!(negotiate(&with("2")), Err(ProtocolRefusal::Unsupported(2)));
        assert_eq!(negotiate(&with("0")), Err(ProtocolRefusal::Unsupported(0)));
        assert!(matches!(
            negotiate(&with("v1")),
            Err(ProtocolRefusal::Unreadable(_))
        ));
        assert!(
            ProtocolRefusal::Unsupported(2)
                .to_string()
                .contains("version(s) 1,"),
        );
    }
}
