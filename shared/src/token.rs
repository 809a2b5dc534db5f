//! The customer token a phone shows as a QR code.
//!
//! Layout (28 bytes, then a 64-byte Ed25519 signature), base32 without
//! padding behind the prefix `LT2`, so it fits QR alphanumeric mode and the
//! modules stay large on a phone screen (151 characters: still a version 6
//! code at level M, which holds 154):
//!
//! | bytes | field |
//! | --- | --- |
//! | 0 | format version (3) |
//! | 1 | key id (first byte of the signing key's SHA-256) |
//! | 2..10 | merchant id, big-endian |
//! | 10..18 | customer id, big-endian |
//! | 18..22 | issue time, Unix seconds, big-endian |
//! | 22..24 | lifetime in seconds, big-endian (at most [`MAX_LIFETIME_SECS`]) |
//! | 24..28 | nonce, so that every rotation differs |
//!
//! The merchant is signed with the rest: one server key signs every
//! merchant's tokens, so a till refuses a token of another merchant's
//! customer ([`TokenError::OtherMerchant`]) rather than crediting points to
//! an id that means someone else, or no one, in its own merchant.
//!
//! The previous format (`LT1`, format 2) named no merchant. Tokens live
//! minutes (at most [`MAX_LIFETIME_SECS`]), so it is not read any more: an
//! `LT1` text is still recognised as a token and refused as
//! [`TokenError::OldFormat`], and the phone shows a fresh one.
//!
//! The till verifies it offline with the pinned server key and checks the
//! expiry; a screenshot goes stale when the token rotates. The issue time
//! lets the till honour a revocation: a token issued before the customer's
//! `tokens_valid_after` is refused ([`CustomerToken::check_not_revoked`]).

use chrono::{DateTime, TimeDelta, Utc};
use serde::{Deserialize, Serialize};

use crate::crypto::{PublicKey, Signature, SigningContext, SigningKey};
use crate::ids::{CustomerId, MerchantId};
use crate::keys::{ChainSeq, TrustedKeys};

/// The text prefix that marks a customer token.
pub const TOKEN_PREFIX: &str = "LT2";
/// The prefix of the previous format, which named no merchant: recognised
/// as a token, refused as [`TokenError::OldFormat`].
pub const OLD_TOKEN_PREFIX: &str = "LT1";
/// The longest lifetime a token can carry, in seconds (about 18 hours).
pub const MAX_LIFETIME_SECS: u16 = u16::MAX;
const PAYLOAD_LEN: usize = 28;
const TOKEN_LEN: usize = PAYLOAD_LEN + 64;
const FORMAT: u8 = 3;

/// Why a scanned token was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    /// Not a token at all, or damaged beyond parsing.
    #[error("customer token is malformed: {0}")]
    Malformed(&'static str),
    /// Signed with a key this till does not know.
    #[error("customer token was signed with an unknown key (id {0})")]
    UnknownKey(u8),
    /// Signed with a server key revoked by a key endorsement.
    #[error("customer token was signed with a revoked server key (id {0})")]
    RevokedKey(u8),
    /// The signature does not verify: the token was tampered with.
    #[error("customer token signature does not verify")]
    BadSignature,
    /// The token is past its expiry: the phone must show a fresh one.
    #[error("customer token expired at {0}")]
    Expired(DateTime<Utc>),
    /// A token of another merchant's customer: its customer id means
    /// nothing here.
    #[error(
        "customer token belongs to another merchant's customer (merchant {token}); \
         this till is merchant {ours}'s"
    )]
    OtherMerchant {
        /// The merchant the token names.
        token: MerchantId,
        /// The till's merchant.
        ours: MerchantId,
    },
    /// A token of the previous format, which names no merchant.
    #[error("customer token is of an old format that names no merchant: show a fresh one")]
    OldFormat,
    /// The customer's tokens were revoked after this one was issued.
    #[error("customer token was revoked: tokens issued before {valid_after} are refused")]
    Revoked {
        /// Tokens issued before this instant are refused.
        valid_after: DateTime<Utc>,
    },
}

/// A verified customer token.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CustomerToken {
    /// The merchant whose customer it is.
    pub merchant_id: MerchantId,
    /// Who the customer is.
    pub customer_id: CustomerId,
    /// When the server issued it. The token carries whole seconds, so a
    /// verified token's issue time has no fraction.
    pub issued_at: DateTime<Utc>,
    /// When the token stops being accepted. The token carries the lifetime
    /// from `issued_at` in whole seconds, at most [`MAX_LIFETIME_SECS`].
    pub expires_at: DateTime<Utc>,
    /// Random per issue, so each rotation differs.
    pub nonce: u32,
}

impl CustomerToken {
    /// A token issued at `issued_at` (truncated to whole seconds, as the
    /// token carries it) that lives `lifetime_secs` seconds.
    #[must_use]
    pub fn new(
        merchant_id: MerchantId,
        customer_id: CustomerId,
        issued_at: DateTime<Utc>,
        lifetime_secs: u16,
        nonce: u32,
    ) -> Self {
        let issued_at = DateTime::from_timestamp(issued_at.timestamp(), 0).unwrap_or(issued_at);
        Self {
            merchant_id,
            customer_id,
            issued_at,
            expires_at: issued_at + TimeDelta::seconds(i64::from(lifetime_secs)),
            nonce,
        }
    }

    fn payload(&self, key_id: u8) -> [u8; PAYLOAD_LEN] {
        let issued = self.issued_at.timestamp();
        let lifetime = self.expires_at.timestamp().saturating_sub(issued);
        let mut p = [0u8; PAYLOAD_LEN];
        p[0] = FORMAT;
        p[1] = key_id;
        p[2..10].copy_from_slice(&self.merchant_id.get().to_be_bytes());
        p[10..18].copy_from_slice(&self.customer_id.get().to_be_bytes());
        let issued = u32::try_from(issued.max(0)).unwrap_or(u32::MAX);
        p[18..22].copy_from_slice(&issued.to_be_bytes());
        let lifetime = u16::try_from(lifetime.max(0)).unwrap_or(MAX_LIFETIME_SECS);
        p[22..24].copy_from_slice(&lifetime.to_be_bytes());
        p[24..28].copy_from_slice(&self.nonce.to_be_bytes());
        p
    }

    /// Signs the token and returns the text the phone shows.
    ///
    /// The token carries whole seconds: the issue time is truncated, and a
    /// lifetime over [`MAX_LIFETIME_SECS`] is shortened to it (build tokens
    /// with [`CustomerToken::new`] to keep `expires_at` exact).
    #[must_use]
    pub fn issue(&self, key: &SigningKey) -> String {
        let payload = self.payload(key.public_key().key_id());
        let sig = key.sign(SigningContext::CustomerToken, &payload);
        let mut all = Vec::with_capacity(TOKEN_LEN);
        all.extend_from_slice(&payload);
        all.extend_from_slice(sig.as_bytes());
        format!("{TOKEN_PREFIX}{}", data_encoding::BASE32_NOPAD.encode(&all))
    }

    /// Parses and verifies a scanned token with the pinned key at `now`, at
    /// a till of `merchant`: a token of another merchant's customer is
    /// refused. Revocation needs the customer's cached state: see
    /// [`CustomerToken::check_not_revoked`].
    pub fn verify(
        text: &str,
        key: &PublicKey,
        merchant: MerchantId,
        now: DateTime<Utc>,
    ) -> Result<Self, TokenError> {
        Self::verify_with(
            text,
            &TrustedKeys::pinned(*key, None, ChainSeq(0)),
            merchant,
            now,
        )
    }

    /// [`CustomerToken::verify`] with every server key the till trusts:
    /// the token's key id picks the key; a key revoked by an endorsement
    /// verifies nothing ([`TokenError::RevokedKey`]).
    pub fn verify_with(
        text: &str,
        keys: &TrustedKeys,
        merchant: MerchantId,
        now: DateTime<Utc>,
    ) -> Result<Self, TokenError> {
        let text = text.trim();
        if text.starts_with(OLD_TOKEN_PREFIX) {
            return Err(TokenError::OldFormat);
        }
        let body = text
            .strip_prefix(TOKEN_PREFIX)
            .ok_or(TokenError::Malformed("missing LT2 prefix"))?;
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
        let key_id = payload[1];
        let candidates: Vec<PublicKey> = keys
            .valid()
            .into_iter()
            .filter(|k| k.key_id() == key_id)
            .collect();
        if candidates.is_empty() {
            return Err(if keys.knows_id(key_id) {
                TokenError::RevokedKey(key_id)
            } else {
                TokenError::UnknownKey(key_id)
            });
        }
        let sig =
            Signature::from_slice(sig).map_err(|_| TokenError::Malformed("signature length"))?;
        let signed_by = |k: &PublicKey| {
            k.verify(SigningContext::CustomerToken, payload, &sig)
                .is_ok()
        };
        if !candidates.iter().any(signed_by) {
            // Key ids are one byte: a revoked key may share its id with a
            // valid one, and its tokens are still named for what they are.
            let revoked = keys
                .all()
                .into_iter()
                .filter(|k| k.key_id() == key_id && !candidates.contains(k))
                .any(|k| signed_by(&k));
            return Err(if revoked {
                TokenError::RevokedKey(key_id)
            } else {
                TokenError::BadSignature
            });
        }
        let merchant_id = MerchantId::new(i64::from_be_bytes(field(payload, 2)?))
            .map_err(|_| TokenError::Malformed("merchant id"))?;
        if merchant_id != merchant {
            return Err(TokenError::OtherMerchant {
                token: merchant_id,
                ours: merchant,
            });
        }
        let customer_id = CustomerId::new(i64::from_be_bytes(field(payload, 10)?))
            .map_err(|_| TokenError::Malformed("customer id"))?;
        let issued = u32::from_be_bytes(field(payload, 18)?);
        let issued_at = DateTime::from_timestamp(i64::from(issued), 0)
            .ok_or(TokenError::Malformed("issue time"))?;
        let lifetime = u16::from_be_bytes(field(payload, 22)?);
        let nonce = u32::from_be_bytes(field(payload, 24)?);
        let token = CustomerToken::new(merchant_id, customer_id, issued_at, lifetime, nonce);
        if now >= token.expires_at {
            return Err(TokenError::Expired(token.expires_at));
        }
        Ok(token)
    }

    /// Refuses the token if it was issued before `tokens_valid_after`, the
    /// instant the server last revoked the customer's tokens (`None`: never
    /// revoked, or the customer is not cached yet).
    ///
    /// A token carries whole seconds, so the two are compared in whole
    /// seconds: a token issued in the second of the revocation is accepted
    /// (it may be the one issued right after it), one of any earlier second
    /// is refused.
    pub fn check_not_revoked(
        &self,
        tokens_valid_after: Option<DateTime<Utc>>,
    ) -> Result<(), TokenError> {
        match tokens_valid_after {
            Some(valid_after) if self.issued_at.timestamp() < valid_after.timestamp() => {
                Err(TokenError::Revoked { valid_after })
            }
            _ => Ok(()),
        }
    }
}

/// The `N` payload bytes at `offset`.
fn field<const N: usize>(payload: &[u8], offset: usize) -> Result<[u8; N], TokenError> {
    payload
        .get(offset..offset + N)
        .and_then(|bytes| bytes.try_into().ok())
        .ok_or(TokenError::Malformed("truncated payload"))
}

/// The key id a token text claims (before verifying), if it parses that
/// far: a till that does not know it may fetch the server's key chain.
#[must_use]
pub fn claimed_key_id(text: &str) -> Option<u8> {
    let body = text.trim().strip_prefix(TOKEN_PREFIX)?;
    let bytes = data_encoding::BASE32_NOPAD.decode(body.as_bytes()).ok()?;
    (bytes.len() == TOKEN_LEN && bytes[0] == FORMAT).then(|| bytes[1])
}

/// Whether scanned text claims to be a customer token (before verifying).
#[must_use]
pub fn looks_like_token(text: &str) -> bool {
    let text = text.trim();
    text.starts_with(TOKEN_PREFIX) || text.starts_with(OLD_TOKEN_PREFIX)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crypto::tests::test_key;
    use proptest::prelude::*;

    fn at(secs: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(secs, 0).unwrap()
    }

    fn m(id: i64) -> MerchantId {
        MerchantId::new(id).unwrap()
    }

    fn sample() -> CustomerToken {
        CustomerToken::new(
            m(3),
            CustomerId::new(42).unwrap(),
            at(1_799_999_700),
            300,
            7,
        )
    }

    #[test]
    fn issued_token_verifies_and_is_short() {
        let key = test_key(9);
        let text = sample().issue(&key);
        assert_eq!(text.len(), 3 + 148);
        assert!(
            text.bytes()
                .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit())
        );
        let verified = CustomerToken::verify(&text, &key.public_key(), m(3), at(1_799_999_800));
        assert_eq!(verified, Ok(sample()));
        assert_eq!(sample().expires_at, at(1_800_000_000));
    }

    #[test]
    fn token_wire_format_is_stable() {
        expect_test::expect!["LT2APNQAAAAAAAAAAADAAAAAAAAAAACU22J2DKACLAAAAAAPWT5HO5WRL7DU7BCIC75MQECE7G2ZAD2XMQ4TYYJLYHYTHFZAMBYV54AMPJM4TME5RJAUPWKTVOJ6IY6YDECZQWDPHEDDUBCXJPPKIBA"].assert_eq(&sample().issue(&test_key(9)));
    }

    #[test]
    fn the_issue_time_is_whole_seconds_and_the_lifetime_is_capped() {
        let key = test_key(9);
        let issued = at(1_700_000_000) + TimeDelta::milliseconds(750);
        let token = CustomerToken::new(m(3), CustomerId::new(1).unwrap(), issued, 60, 1);
        assert_eq!(token.issued_at, at(1_700_000_000));
        assert_eq!(token.expires_at, at(1_700_000_060));

        let long = CustomerToken {
            expires_at: at(1_700_000_000) + TimeDelta::days(2),
            ..token
        };
        let verified = CustomerToken::verify(
            &long.issue(&key),
            &key.public_key(),
            m(3),
            at(1_700_000_000),
        )
        .unwrap();
        let capped = at(1_700_000_000) + TimeDelta::seconds(i64::from(MAX_LIFETIME_SECS));
        assert_eq!(verified.expires_at, capped);
    }

    #[test]
    fn expired_tampered_and_foreign_tokens_are_refused() {
        let key = test_key(9);
        let text = sample().issue(&key);
        assert_eq!(
            CustomerToken::verify(&text, &key.public_key(), m(3), at(1_800_000_000)),
            Err(TokenError::Expired(at(1_800_000_000)))
        );
        let other = test_key(10).public_key();
        assert!(matches!(
            CustomerToken::verify(&text, &other, m(3), at(0)),
            Err(TokenError::UnknownKey(_) | TokenError::BadSignature)
        ));
        // Flip one character inside the customer id.
        let mut chars: Vec<char> = text.chars().collect();
        chars[12] = if chars[12] == 'A' { 'B' } else { 'A' };
        let tampered: String = chars.into_iter().collect();
        assert!(CustomerToken::verify(&tampered, &key.public_key(), m(3), at(0)).is_err());
        assert_eq!(
            CustomerToken::verify("LT2!!", &key.public_key(), m(3), at(0)),
            Err(TokenError::Malformed("not base32"))
        );
        let short = format!(
            "{TOKEN_PREFIX}{}",
            data_encoding::BASE32_NOPAD.encode(&[FORMAT; TOKEN_LEN - 1])
        );
        assert_eq!(
            CustomerToken::verify(&short, &key.public_key(), m(3), at(0)),
            Err(TokenError::Malformed("wrong length"))
        );
    }

    #[test]
    fn another_merchants_token_and_the_old_format_are_refused() {
        let key = test_key(9);
        let text = sample().issue(&key);
        assert_eq!(
            CustomerToken::verify(&text, &key.public_key(), m(4), at(1_799_999_800)),
            Err(TokenError::OtherMerchant {
                token: m(3),
                ours: m(4)
            })
        );
        let old = format!("LT1{}", &text[3..]);
        assert!(looks_like_token(&old));
        assert_eq!(
            CustomerToken::verify(&old, &key.public_key(), m(3), at(1_799_999_800)),
            Err(TokenError::OldFormat)
        );
    }

    #[test]
    fn a_token_issued_before_the_revocation_is_refused() {
        let token = sample();
        assert_eq!(token.check_not_revoked(None), Ok(()));
        assert_eq!(token.check_not_revoked(Some(token.issued_at)), Ok(()));
        assert_eq!(
            token.check_not_revoked(Some(at(1_700_000_000))),
            Ok(()),
            "revoked before it was issued"
        );
        // Tokens carry whole seconds: one of the revocation's second may
        // have been issued right after it.
        let same_second = token.issued_at + TimeDelta::milliseconds(999);
        assert_eq!(token.check_not_revoked(Some(same_second)), Ok(()));
        let revoked_at = token.issued_at + TimeDelta::milliseconds(1_001);
        assert_eq!(
            token.check_not_revoked(Some(revoked_at)),
            Err(TokenError::Revoked {
                valid_after: revoked_at
            })
        );
    }

    proptest! {
        #[test]
        fn verify_never_panics_on_garbage(s in "LT[12][A-Z2-7]{0,200}") {
            let key = test_key(9).public_key();
            prop_assert!(CustomerToken::verify(&s, &key, m(3), at(0)).is_err());
        }

        #[test]
        fn verify_never_panics_on_any_text(s in any::<String>()) {
            let key = test_key(9).public_key();
            prop_assert!(CustomerToken::verify(&s, &key, m(3), at(0)).is_err());
        }

        #[test]
        fn every_issued_token_verifies_until_it_expires(
            id in 1i64..i64::MAX,
            issued in 0i64..4_000_000_000,
            lifetime in 1u16..,
            nonce in any::<u32>(),
        ) {
            let key = test_key(9);
            let token = CustomerToken::new(m(3), CustomerId::new(id).unwrap(), at(issued), lifetime, nonce);
            let text = token.issue(&key);
            prop_assert_eq!(CustomerToken::verify(&text, &key.public_key(), m(3), token.issued_at), Ok(token));
            prop_assert_eq!(
                CustomerToken::verify(&text, &key.public_key(), m(3), token.expires_at),
                Err(TokenError::Expired(token.expires_at))
            );
        }
    }
}
