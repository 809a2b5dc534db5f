//! Credentials: the admin bearer token, one-time enrollment tokens and
//! register secrets. Only hashes of issued secrets are stored, and every
//! comparison is constant-time.
//!
//! Admin routes sit behind the guard (`crate::guard`); register routes take an
//! [`AuthenticatedRegister`] (`Authorization: Bearer <register_id>.<secret>`),
//! and the upload route an [`UploadingRegister`], which also raises an
//! alert when a revoked register tries to upload.

use axum::extract::FromRequestParts;
use axum::http::HeaderMap;
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;
use ring::rand::{SecureRandom, SystemRandom};
use shared::crypto::Hash256;
use shared::ids::RegisterId;
use subtle::ConstantTimeEq as _;

use crate::alerts::NewAlert;
use crate::db::{DbError, RegisterCredentials};
use crate::error::ApiError;
use crate::state::AppState;

/// Bytes of randomness in a register secret (256 bits).
pub const REGISTER_SECRET_BYTES: usize = 32;

pub use crate::services::catalog::hash_secret;

/// Fresh random bytes as lower-case hex (the catalog's secrets, with the
/// API's error).
pub fn random_hex(bytes: usize) -> Result<String, ApiError> {
    crate::services::catalog::random_hex(bytes).map_err(|e| ApiError::internal(&e))
}

/// A fresh random `u32`, such as a token nonce.
pub fn random_u32() -> Result<u32, ApiError> {
    let mut buf = [0u8; 4];
    SystemRandom::new()
        .fill(&mut buf)
        .map_err(|_| ApiError::internal(&"the system random source failed"))?;
    Ok(u32::from_be_bytes(buf))
}

pub(crate) fn hashes_match(a: &Hash256, b: &Hash256) -> bool {
    a.0.ct_eq(&b.0).into()
}

pub(crate) fn bearer(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| token.trim())
        .filter(|t| !t.is_empty())
}

/// Why a register's credentials were refused.
#[derive(Debug)]
enum RegisterRefusal {
    /// Missing, malformed, unknown or wrong.
    BadCredentials,
    /// Right, but HQ revoked the register.
    Revoked(RegisterCredentials),
    /// Storage failed.
    Storage(DbError),
}

impl From<RegisterRefusal> for ApiError {
    fn from(refusal: RegisterRefusal) -> Self {
        match refusal {
            RegisterRefusal::BadCredentials => ApiError::unauthorized(
                "unauthorized",
                "send the register credentials as `Authorization: Bearer <register_id>.<secret>`",
            ),
            RegisterRefusal::Revoked(credentials) => ApiError::unauthorized(
                "register_revoked",
                format!(
                    "register {} was revoked; enroll it again",
                    credentials.register_id
                ),
            ),
            RegisterRefusal::Storage(e) => e.into(),
        }
    }
}

/// Checks `Authorization: Bearer <register_id>.<secret>`.
async fn authenticate(
    headers: &HeaderMap,
    state: &AppState,
) -> Result<RegisterCredentials, RegisterRefusal> {
    let token = bearer(headers).ok_or(RegisterRefusal::BadCredentials)?;
    let (id, secret) = token
        .split_once('.')
        .ok_or(RegisterRefusal::BadCredentials)?;
    let id = id
        .parse::<i64>()
        .ok()
        .and_then(|id| RegisterId::new(id).ok())
        .ok_or(RegisterRefusal::BadCredentials)?;
    let credentials = match state.services.catalog.register_credentials(id).await {
        Ok(credentials) => credentials,
        Err(DbError::NotFound(_)) => return Err(RegisterRefusal::BadCredentials),
        Err(e) => return Err(RegisterRefusal::Storage(e)),
    };
    if !hashes_match(&hash_secret(secret), &credentials.secret_hash) {
        return Err(RegisterRefusal::BadCredentials);
    }
    if credentials.revoked {
        return Err(RegisterRefusal::Revoked(credentials));
    }
    Ok(credentials)
}

/// A register that proved its secret.
#[derive(Debug, Clone)]
pub struct AuthenticatedRegister(pub RegisterCredentials);

impl FromRequestParts<AppState> for AuthenticatedRegister {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        Ok(AuthenticatedRegister(
            authenticate(&parts.headers, state).await?,
        ))
    }
}

/// A register that proved its secret, about to upload. A revoked register
/// that proves its secret is refused like anywhere else, and HQ is alerted:
/// a till HQ took out of service is still selling.
#[derive(Debug, Clone)]
pub struct UploadingRegister(pub RegisterCredentials);

impl FromRequestParts<AppState> for UploadingRegister {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        match authenticate(&parts.headers, state).await {
            Ok(credentials) => Ok(UploadingRegister(credentials)),
            Err(RegisterRefusal::Revoked(credentials)) => {
                let alert =
                    NewAlert::revoked_register_upload(credentials.register_id, state.clock.now());
                if let Err(e) = state.services.oversight.raise(alert).await {
                    tracing::error!(error = %e, register_id = %credentials.register_id,
                        "could not record the upload of a revoked register");
                }
                Err(RegisterRefusal::Revoked(credentials).into())
            }
            Err(other) => Err(other.into()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    #[test]
    fn bearer_tokens_are_read_case_insensitively() {
        let mut headers = HeaderMap::new();
        assert_eq!(bearer(&headers), None);
        headers.insert(AUTHORIZATION, HeaderValue::from_static("bearer abc"));
        assert_eq!(bearer(&headers), Some("abc"));
        headers.insert(AUTHORIZATION, HeaderValue::from_static("Basic abc"));
        assert_eq!(bearer(&headers), None);
        headers.insert(AUTHORIZATION, HeaderValue::from_static("Bearer "));
        assert_eq!(bearer(&headers), None);
    }

    #[test]
    fn random_secrets_differ_and_have_the_asked_length() {
        let a = random_hex(REGISTER_SECRET_BYTES).unwrap();
        let b = random_hex(REGISTER_SECRET_BYTES).unwrap();
        assert_eq!(a.len(), 64);
        assert_ne!(a, b);
        assert!(hashes_match(&hash_secret(&a), &hash_secret(&a)));
        assert!(!hashes_match(&hash_secret(&a), &hash_secret(&b)));
    }
}
