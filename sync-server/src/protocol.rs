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
//! offers ([`features`]): an agent learns them from its first exchange,
//! and an older agent, which ignores the header, goes on as before.
//!
//! Chain-verified ingest ([`FEATURE_CHAIN_INGEST`]) needs no new version:
//! its one addition to the upload, `chain_signature`, is optional, every
//! record still carries its own signature, and a server that does not
//! offer the feature (or predates it) ignores the field and verifies each
//! record. So old agents and old servers work with new ones either way.

use axum::http::{HeaderMap, HeaderValue, StatusCode};
pub use shared::wire::{
    FEATURE_CHAIN_INGEST, FEATURE_KEY_ROTATION, FEATURE_QUOTA_LEASES, FEATURES_HEADER,
    PROTOCOL_HEADER, PROTOCOL_VERSION,
};

use crate::config::IngestSettings;
use crate::error::ApiError;

/// The sync protocol versions this server speaks, ascending.
pub const SUPPORTED_VERSIONS: &[u32] = &[PROTOCOL_VERSION];

/// Every optional part of the protocol this server may offer.
pub const FEATURES: &[&str] = &[
    FEATURE_QUOTA_LEASES,
    FEATURE_CHAIN_INGEST,
    FEATURE_KEY_ROTATION,
];

/// The optional parts of the protocol this server offers under `ingest`.
#[must_use]
pub fn features(ingest: &IngestSettings) -> Vec<&'static str> {
    FEATURES
        .iter()
        .copied()
        .filter(|f| *f != FEATURE_CHAIN_INGEST || ingest.chain_verified)
        .collect()
}

/// [`features`] as the header lists them.
pub(crate) fn features_header(ingest: &IngestSettings) -> HeaderValue {
    // Both lists are known now; the header is built once for each.
    static WITH: std::sync::OnceLock<HeaderValue> = std::sync::OnceLock::new();
    static WITHOUT: std::sync::OnceLock<HeaderValue> = std::sync::OnceLock::new();
    let cell = if ingest.chain_verified {
        &WITH
    } else {
        &WITHOUT
    };
    cell.get_or_init(|| {
        HeaderValue::from_str(&features(ingest).join(","))
            .unwrap_or_else(|_| HeaderValue::from_static(""))
    })
    .clone()
}

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

// Register routes refuse requests in a version this server does not
// speak and mark every reply with the version it is in: see
// `layers::NegotiateProtocolLayer`.

#[cfg(test)]
mod tests {
    use super::*;

    fn with(value: &'static str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(PROTOCOL_HEADER, HeaderValue::from_static(value));
        headers
    }

    #[test]
    fn chain_ingest_is_offered_unless_turned_off() {
        let mut ingest = IngestSettings::default();
        assert_eq!(
            features_header(&ingest).to_str().unwrap(),
            "quota-leases,chain-ingest,key-rotation"
        );
        ingest.chain_verified = false;
        assert_eq!(
            features(&ingest),
            [FEATURE_QUOTA_LEASES, FEATURE_KEY_ROTATION]
        );
        assert_eq!(
            features_header(&ingest).to_str().unwrap(),
            "quota-leases,key-rotation"
        );
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
