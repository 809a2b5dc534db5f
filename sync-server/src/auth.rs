//! Credentials: the admin bearer token, one-time enrollment tokens and
//! register secrets. Only hashes of issued secrets are stored, and every
//! comparison is constant-time.
//!
//! Admin routes sit behind [`require_admin`]; register routes behind
//! [`check_protocol`] and take an [`AuthenticatedRegister`]
//! (`Authorization: Bearer <register_id>.<secret>`).

use axum::extract::{FromRequestParts, Request, State};
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode};
use axum::middleware::Next;
use axum::response::Response;
use ring::rand::{SecureRandom, SystemRandom};
use secrecy::ExposeSecret as _;
use shared::crypto::{Hash256, sha256};
use shared::ids::RegisterId;
use shared::wire::{PROTOCOL_HEADER, PROTOCOL_VERSION};
use subtle::ConstantTimeEq as _;

use crate::db::{DbError, RegisterCredentials};
use crate::error::ApiError;
use crate::state::AppState;

/// Bytes of randomness in an enrollment token (128 bits).
pub const ENROLLMENT_TOKEN_BYTES: usize = 16;
/// Bytes of randomness in a register secret (256 bits).
pub const REGISTER_SECRET_BYTES: usize = 32;

/// Fresh random bytes as lower-case hex.
pub fn random_hex(bytes: usize) -> Result<String, ApiError> {
    let mut buf = vec![0u8; bytes];
    SystemRandom::new()
        .fill(&mut buf)
        .map_err(|_| ApiError::internal(&"the system random source failed"))?;
    Ok(data_encoding::HEXLOWER.encode(&buf))
}

/// A fresh random `u32`, such as a token nonce.
pub fn random_u32() -> Result<u32, ApiError> {
    let mut buf = [0u8; 4];
    SystemRandom::new()
        .fill(&mut buf)
        .map_err(|_| ApiError::internal(&"the system random source failed"))?;
    Ok(u32::from_be_bytes(buf))
}

/// The stored form of a secret.
#[must_use]
pub fn hash_secret(secret: &str) -> Hash256 {
    sha256(secret.as_bytes())
}

fn hashes_match(a: &Hash256, b: &Hash256) -> bool {
    a.0.ct_eq(&b.0).into()
}

fn bearer(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| token.trim())
        .filter(|t| !t.is_empty())
}

/// Lets a request through only with the admin bearer token.
pub async fn require_admin(
    State(state): State<AppState>,
    request: Request,
    next: Next,
) -> Result<Response, ApiError> {
    let expected = hash_secret(state.settings.admin_token.expose_secret());
    match bearer(request.headers()) {
        Some(token) if hashes_match(&hash_secret(token), &expected) => Ok(next.run(request).await),
        Some(_) => Err(ApiError::unauthorized(
            "unauthorized",
            "the admin token is wrong",
        )),
        None => Err(ApiError::unauthorized(
            "unauthorized",
            "send the admin token as `Authorization: Bearer <token>`",
        )),
    }
}

/// Refuses agents that speak another sync protocol version.
pub async fn check_protocol(request: Request, next: Next) -> Result<Response, ApiError> {
    if let Some(value) = request.headers().get(PROTOCOL_HEADER) {
        let spoken = value
            .to_str()
            .ok()
            .and_then(|v| v.trim().parse::<u32>().ok());
        if spoken != Some(PROTOCOL_VERSION) {
            return Err(ApiError::new(
                StatusCode::UPGRADE_REQUIRED,
                "protocol_unsupported",
                format!(
                    "this server speaks sync protocol {PROTOCOL_VERSION}, the agent sent {:?}; upgrade the agent or the server",
                    String::from_utf8_lossy(value.as_bytes())
                ),
            ));
        }
    }
    Ok(next.run(request).await)
}

/// A register that proved its secret.
#[derive(Debug, Clone)]
pub struct AuthenticatedRegister(pub RegisterCredentials);

impl FromRequestParts<AppState> for AuthenticatedRegister {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let refused = || {
            ApiError::unauthorized(
                "unauthorized",
                "send the register credentials as `Authorization: Bearer <register_id>.<secret>`",
            )
        };
        let token = bearer(&parts.headers).ok_or_else(refused)?;
        let (id, secret) = token.split_once('.').ok_or_else(refused)?;
        let id = id
            .parse::<i64>()
            .ok()
            .and_then(|id| RegisterId::new(id).ok())
            .ok_or_else(refused)?;
        let credentials = match state.db.register_credentials(id).await {
            Ok(credentials) => credentials,
            Err(DbError::NotFound(_)) => return Err(refused()),
            Err(e) => return Err(e.into()),
        };
        if !hashes_match(&hash_secret(secret), &credentials.secret_hash) {
            return Err(refused());
        }
        if credentials.revoked {
            return Err(ApiError::unauthorized(
                "register_revoked",
                format!("register {id} was revoked; enroll it again"),
            ));
        }
        Ok(AuthenticatedRegister(credentials))
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
