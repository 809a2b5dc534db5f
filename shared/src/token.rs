//! The customer token a phone shows as a QR code.
//!
//! Layout (18 bytes, then a 64-byte Ed25519 signature), base32 without
//! padding behind the prefix `LT1`, so it fits QR alphanumeric mode and the
//! modules stay large on a phone screen:
//!
//! | bytes | field |
//! | --- | --- |
//! | 0 | format version (1) |
//! | 1 | key id (first byte of the signing key's SHA-256) |
//! | 2..10 | customer id, big-endian |
//! | 10..14 | expiry, Unix seconds, big-endian |
//! | 14..18 | nonce, so that every rotation differs |
//!
//! The till verifies it offline with the pinned server key and checks the
//! expiry; a screenshot goes stale when the token rotates.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::crypto::{PublicKey, Signature, SigningContext, SigningKey};
use crate::ids::CustomerId;

/// The text prefix that marks a customer token.
pub const TOKEN_PREFIX: &str = "LT1";
const PAYLOAD_LEN: usize = 18;
const TOKEN_LEN: usize = PAYLOAD_LEN + 64;
const FORMAT: u8 = 1;

/// Why a scanned token was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    /// Not a token at all, or damaged beyond parsing.
    #[error("customer token is malformed: {0}")]
    Malformed(&'static str),
    /// Signed with a key this till does not know.
    #[error("customer token was signed with an unknown key (id {0})")]
    UnknownKey(u8),
    /// The signature does not verify: the token was tampered with.
    #[error("customer token signature does not verify")]
    BadSignature,
    /// The token is past its expiry: the phone must show a fresh one.
    #[error("customer token expired at {0}")]
    Expired(DateTime<Utc>),
    /// The token was revoked.
    #[error("customer token was revoked")]
    Revoked,
}

/// A verified customer token.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CustomerToken {
    /// Who the customer is.
    pub customer_id: CustomerId,
    /// When the token stops being accepted.
    pub expires_at: DateTime<Utc>,
    /// Random per issue, so each rotation differs.
    pub nonce: u32,
}

impl CustomerToken {
    fn payload(&self, key_id: u8) -> [u8; PAYLOAD_LEN] {
        let mut p = [0u8; PAYLOAD_LEN];
        p[0] = FORMAT;
        p[1] = key_id;
        p[2..10].copy_from_slice(&self.customer_id.get().to_be_bytes());
        let exp = u32::try_from(self.expires_at.timestamp().max(0)).unwrap_or(u32::MAX);
        p[10..14].copy_from_slice(&exp.to_be_bytes());
        p[14..18].copy_from_slice(&self.nonce.to_be_bytes());
        p
    }

    /// Signs the token and returns the text the phone shows.
    #[must_use]
    pub fn issue(&self, key: &SigningKey) -> String {
        let payload = self.payload(key.public_key().key_id());
        let sig = key.sign(SigningContext::CustomerToken, &payload);
        let mut all = Vec::with_capacity(TOKEN_LEN);
        all.extend_from_slice(&payload);
        all.extend_from_slice(sig.as_bytes());
        format!("{TOKEN_PREFIX}{}", data_encoding::BASE32_NOPAD.encode(&all))
    }

    /// Parses and verifies a scanned token with the pinned key at `now`.
    pub fn verify(text: &str, key: &PublicKey, now: DateTime<Utc>) -> Result<Self, TokenError> {
        let body = text
            .trim()
            .strip_prefix(TOKEN_PREFIX)
            .ok_or(TokenError::Malformed("missing LT1 prefix"))?;
        let bytes = data_encoding::BASE32_NOPAD
            .decode(body.as_bytes())
            .map_err(|_| TokenError::Malformed("not base32"))?;
        if bytes.len() != TOKEN_LEN {
            return Err(TokenError::Malformed("wrong length"));
        }
        let (payload, sig) = bytes.split_at(PAYLOAD_LEN);
        if payload[0] != FORMAT {
            return Err(TokenError::Malformed("unknown format version"));
        }
        if payload[1] != key.key_id() {
            return Err(TokenError::UnknownKey(payload[1]));
        }
        let sig =
            Signature::from_slice(sig).map_err(|_| TokenError::Malformed("signature length"))?;
        key.verify(SigningContext::CustomerToken, payload, &sig)
            .map_err(|_| TokenError::BadSignature)?;
        let id = i64::from_be_bytes(
            payload[2..10]
                .try_into()
                .map_err(|_| TokenError::Malformed("id"))?,
        );
        let customer_id = CustomerId::new(id).map_err(|_| TokenError::Malformed("customer id"))?;
        let exp = u32::from_be_bytes(
            payload[10..14]
                .try_into()
                .map_err(|_| TokenError::Malformed("expiry"))?,
        );
        let expires_at =
            DateTime::from_timestamp(i64::from(exp), 0).ok_or(TokenError::Malformed("expiry"))?;
        let nonce = u32::from_be_bytes(
            payload[14..18]
                .try_into()
                .map_err(|_| TokenError::Malformed("nonce"))?,
        );
        if now >= expires_at {
            return Err(TokenError::Expired(expires_at));
        }
        Ok(CustomerToken {
            customer_id,
            expires_at,
            nonce,
        })
    }
}

/// Whether scanned text claims to be a customer token (before verifying).
#[must_use]
pub fn looks_like_token(text: &str) -> bool {
    text.trim().starts_with(TOKEN_PREFIX)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crypto::tests::test_key;
    use proptest::prelude::*;

    fn at(secs: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(secs, 0).unwrap()
    }

    fn sample() -> CustomerToken {
        CustomerToken {
            customer_id: CustomerId::new(42).unwrap(),
            expires_at: at(1_800_000_000),
            nonce: 7,
        }
    }

    #[test]
    fn issued_token_verifies_and_is_short() {
        let key = test_key(9);
        let text = sample().issue(&key);
        assert_eq!(text.len(), 3 + 132);
        assert!(
            text.bytes()
                .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit())
        );
        assert_eq!(
            CustomerToken::verify(&text, &key.public_key(), at(1_700_000_000)),
            Ok(sample())
        );
    }

    #[test]
    fn token_wire_format_is_stable() {
        expect_test::expect!["LT1AHNQAAAAAAAAAABKNNE5EAAAAAAAOJYDPQXKVFLBWBWOZE3PTCGRZZDAFR7SAYMA6ILNXQWXPILDLEKH5TQEKFBLZBXDXJGQCY6PTVYKBKHZAHDLBQ5CC7AABRNGAE75HADQ"]
            .assert_eq(&sample().issue(&test_key(9)));
    }

    #[test]
    fn expired_tampered_and_foreign_tokens_are_refused() {
        let key = test_key(9);
        let text = sample().issue(&key);
        assert_eq!(
            CustomerToken::verify(&text, &key.public_key(), at(1_800_000_000)),
            Err(TokenError::Expired(at(1_800_000_000)))
        );
        let other = test_key(10).public_key();
        assert!(matches!(
            CustomerToken::verify(&text, &other, at(0)),
            Err(TokenError::UnknownKey(_) | TokenError::BadSignature)
        ));
        // Flip one character inside the customer id.
        let mut chars: Vec<char> = text.chars().collect();
        chars[12] = if chars[12] == 'A' { 'B' } else { 'A' };
        let tampered: String = chars.into_iter().collect();
        assert!(CustomerToken::verify(&tampered, &key.public_key(), at(0)).is_err());
        assert_eq!(
            CustomerToken::verify("LT1!!", &key.public_key(), at(0)),
            Err(TokenError::Malformed("not base32"))
        );
    }

    proptest! {
        #[test]
        fn verify_never_panics_on_garbage(s in "LT1[A-Z2-7]{0,200}") {
            let key = test_key(9).public_key();
            prop_assert!(CustomerToken::verify(&s, &key, at(0)).is_err());
        }
    }
}
