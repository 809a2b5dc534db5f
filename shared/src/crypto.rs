//! Ed25519 keys and signatures (ring) with domain separation, and SHA-256
//! hashes. Randomness is supplied by the caller, so this module does no IO.

use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use ring::signature::{ED25519, Ed25519KeyPair, KeyPair, UnparsedPublicKey};
use serde::{Deserialize, Serialize};

/// What a signature covers. The context is prefixed to the message, so a
/// signature over one kind of object can never verify as another kind.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SigningContext {
    /// A purchase record's exact bytes, signed by a register.
    PurchaseRecord,
    /// A ruleset release's exact bytes, signed by the server.
    Ruleset,
    /// A customer token's payload, signed by the server.
    CustomerToken,
    /// A customer delta page, signed by the server.
    CustomerDelta,
    /// The hash of the last record of an upload batch, signed by the
    /// register: with the hash chain it binds every record of the batch.
    ChainHead,
    /// A key endorsement: a new server signing key (or the recovery key)
    /// vouched for by a key the registers already trust.
    KeyEndorsement,
}

impl SigningContext {
    const fn tag(self) -> &'static [u8] {
        match self {
            SigningContext::PurchaseRecord => b"loyalty/purchase-record/v1\0",
            SigningContext::Ruleset => b"loyalty/ruleset/v1\0",
            SigningContext::CustomerToken => b"loyalty/customer-token/v1\0",
            SigningContext::CustomerDelta => b"loyalty/customer-delta/v1\0",
            SigningContext::ChainHead => b"loyalty/chain-head/v1\0",
            SigningContext::KeyEndorsement => b"loyalty/key-endorsement/v1\0",
        }
    }
}

fn framed(ctx: SigningContext, msg: &[u8]) -> Vec<u8> {
    let mut v = Vec::with_capacity(ctx.tag().len() + msg.len());
    v.extend_from_slice(ctx.tag());
    v.extend_from_slice(msg);
    v
}

/// Key and signature errors.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CryptoError {
    /// The key material is not a valid Ed25519 PKCS#8 document.
    #[error("the private key is not a valid Ed25519 PKCS#8 document")]
    BadPrivateKey,
    /// Key generation failed (the random source failed).
    #[error("could not generate a key: the random source failed")]
    Rng,
    /// A public key that is not 32 bytes of base64.
    #[error("public key must be 32 bytes in base64")]
    BadPublicKey,
    /// A signature that is not 64 bytes of base64.
    #[error("signature must be 64 bytes in base64")]
    BadSignatureEncoding,
    /// The signature does not verify.
    #[error("signature does not verify")]
    BadSignature,
}

/// Generates a new Ed25519 key as a PKCS#8 document, with the caller's
/// random source (`ring::rand::SystemRandom` in binaries).
pub fn generate_pkcs8(rng: &dyn ring::rand::SecureRandom) -> Result<Vec<u8>, CryptoError> {
    Ed25519KeyPair::generate_pkcs8(rng)
        .map(|doc| doc.as_ref().to_vec())
        .map_err(|_| CryptoError::Rng)
}

/// A private signing key. Its `Debug` shows only the public half.
pub struct SigningKey(Ed25519KeyPair);

impl SigningKey {
    /// Loads a PKCS#8 document.
    pub fn from_pkcs8(doc: &[u8]) -> Result<Self, CryptoError> {
        Ed25519KeyPair::from_pkcs8(doc)
            .map(SigningKey)
            .map_err(|_| CryptoError::BadPrivateKey)
    }

    /// Builds a key from a 32-byte seed. For deterministic tests and golden
    /// files; real keys come from [`generate_pkcs8`].
    pub fn from_seed(seed: &[u8; 32]) -> Result<Self, CryptoError> {
        Ed25519KeyPair::from_seed_unchecked(seed)
            .map(SigningKey)
            .map_err(|_| CryptoError::BadPrivateKey)
    }

    /// The public key.
    #[must_use]
    pub fn public_key(&self) -> PublicKey {
        let mut k = [0u8; 32];
        k.copy_from_slice(self.0.public_key().as_ref());
        PublicKey(k)
    }

    /// Signs `msg` under `ctx`.
    #[must_use]
    pub fn sign(&self, ctx: SigningContext, msg: &[u8]) -> Signature {
        let sig = self.0.sign(&framed(ctx, msg));
        let mut s = [0u8; 64];
        s.copy_from_slice(sig.as_ref());
        Signature(s)
    }
}

impl fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SigningKey")
            .field("public", &self.public_key())
            .finish_non_exhaustive()
    }
}

/// An Ed25519 public key; base64 on the wire.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct PublicKey([u8; 32]);

impl PublicKey {
    /// Parses base64.
    pub fn from_base64(s: &str) -> Result<Self, CryptoError> {
        let bytes = B64
            .decode(s.trim())
            .map_err(|_| CryptoError::BadPublicKey)?;
        let arr: [u8; 32] = bytes.try_into().map_err(|_| CryptoError::BadPublicKey)?;
        Ok(PublicKey(arr))
    }

    /// Base64 text.
    #[must_use]
    pub fn to_base64(&self) -> String {
        B64.encode(self.0)
    }

    /// The raw bytes.
    #[must_use]
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// A one-byte key id: the first byte of the key's SHA-256. Carried in
    /// tokens so a till can tell a rotated key from a forged token.
    #[must_use]
    pub fn key_id(&self) -> u8 {
        sha256(&self.0).0[0]
    }

    /// Verifies `sig` over `msg` under `ctx`.
    pub fn verify(
        &self,
        ctx: SigningContext,
        msg: &[u8],
        sig: &Signature,
    ) -> Result<(), CryptoError> {
        UnparsedPublicKey::new(&ED25519, &self.0)
            .verify(&framed(ctx, msg), &sig.0)
            .map_err(|_| CryptoError::BadSignature)
    }
}

impl fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PublicKey({})", self.to_base64())
    }
}

impl Serialize for PublicKey {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_base64())
    }
}

impl<'de> Deserialize<'de> for PublicKey {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        PublicKey::from_base64(&s).map_err(serde::de::Error::custom)
    }
}

/// An Ed25519 signature; base64 on the wire.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Signature([u8; 64]);

impl Signature {
    /// The raw bytes.
    #[must_use]
    pub fn as_bytes(&self) -> &[u8; 64] {
        &self.0
    }

    /// From raw bytes.
    pub fn from_slice(b: &[u8]) -> Result<Self, CryptoError> {
        let arr: [u8; 64] = b
            .try_into()
            .map_err(|_| CryptoError::BadSignatureEncoding)?;
        Ok(Signature(arr))
    }
}

impl fmt::Debug for Signature {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Signature({})", B64.encode(self.0))
    }
}

impl Serialize for Signature {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&B64.encode(self.0))
    }
}

impl<'de> Deserialize<'de> for Signature {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        let bytes = B64
            .decode(s.trim())
            .map_err(|_| serde::de::Error::custom(CryptoError::BadSignatureEncoding))?;
        Signature::from_slice(&bytes).map_err(serde::de::Error::custom)
    }
}

/// A SHA-256 digest; lower-case hex on the wire.
#[derive(Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct Hash256(pub [u8; 32]);

impl Hash256 {
    /// The all-zero hash that precedes a register's first record.
    pub const GENESIS: Hash256 = Hash256([0; 32]);

    /// Lower-case hex.
    #[must_use]
    pub fn to_hex(&self) -> String {
        data_encoding::HEXLOWER.encode(&self.0)
    }

    /// Parses lower- or upper-case hex.
    pub fn from_hex(s: &str) -> Option<Self> {
        let bytes = data_encoding::HEXLOWER_PERMISSIVE
            .decode(s.as_bytes())
            .ok()?;
        bytes.try_into().ok().map(Hash256)
    }
}

/// SHA-256 of `bytes`.
#[must_use]
pub fn sha256(bytes: &[u8]) -> Hash256 {
    let d = ring::digest::digest(&ring::digest::SHA256, bytes);
    let mut h = [0u8; 32];
    h.copy_from_slice(d.as_ref());
    Hash256(h)
}

impl fmt::Debug for Hash256 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Hash256({})", self.to_hex())
    }
}

impl fmt::Display for Hash256 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

impl Serialize for Hash256 {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_hex())
    }
}

impl<'de> Deserialize<'de> for Hash256 {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Hash256::from_hex(&s).ok_or_else(|| serde::de::Error::custom("hash must be 64 hex digits"))
    }
}

/// Base64 of raw bytes, for signed bodies on the wire.
#[must_use]
pub fn to_base64(bytes: &[u8]) -> String {
    B64.encode(bytes)
}

/// Decodes base64.
pub fn from_base64(s: &str) -> Option<Vec<u8>> {
    B64.decode(s).ok()
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A deterministic key for tests and golden files.
    pub(crate) fn test_key(seed: u8) -> SigningKey {
        SigningKey::from_seed(&[seed; 32]).unwrap()
    }

    #[test]
    fn contexts_separate_signatures() {
        let k = test_key(1);
        let sig = k.sign(SigningContext::Ruleset, b"hello");
        assert!(
            k.public_key()
                .verify(SigningContext::Ruleset, b"hello", &sig)
                .is_ok()
        );
        assert!(
            k.public_key()
                .verify(SigningContext::CustomerToken, b"hello", &sig)
                .is_err()
        );
        assert!(
            k.public_key()
                .verify(SigningContext::Ruleset, b"hellO", &sig)
                .is_err()
        );
    }

    #[test]
    fn keys_and_hashes_round_trip_as_text() {
        let k = test_key(2).public_key();
        assert_eq!(PublicKey::from_base64(&k.to_base64()).unwrap(), k);
        let h = sha256(b"abc");
        assert_eq!(
            h.to_hex(),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert_eq!(Hash256::from_hex(&h.to_hex()), Some(h));
        assert!(PublicKey::from_base64("AAAA").is_err());
    }
}
