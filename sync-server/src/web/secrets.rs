//! Random secrets of the pages: HQ session ids, form tokens and customers'
//! link secrets. Each is 256 bits of the system's randomness, written in
//! URL-safe base64 (43 characters) so it fits a cookie and a path segment.

use data_encoding::BASE64URL_NOPAD;
use ring::rand::{SecureRandom as _, SystemRandom};

use crate::web::error::PageError;

/// The system random source failed.
#[derive(Debug, Clone, Copy, thiserror::Error)]
#[error("the system random source failed")]
pub struct RandomSourceFailed;

impl From<RandomSourceFailed> for PageError {
    fn from(e: RandomSourceFailed) -> Self {
        PageError::internal(&e)
    }
}

/// Bytes of randomness in a secret.
const SECRET_BYTES: usize = 32;
/// Characters of a secret as written.
pub const SECRET_LEN: usize = 43;

/// A fresh secret.
pub fn random_secret() -> Result<String, RandomSourceFailed> {
    let mut bytes = [0u8; SECRET_BYTES];
    SystemRandom::new()
        .fill(&mut bytes)
        .map_err(|_| RandomSourceFailed)?;
    Ok(BASE64URL_NOPAD.encode(&bytes))
}

/// Whether `text` has the shape of a secret this module makes; anything
/// else is refused before it reaches storage.
#[must_use]
pub fn looks_like_secret(text: &str) -> bool {
    text.len() == SECRET_LEN
        && text
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_fresh_and_recognised() {
        let a = random_secret().unwrap();
        let b = random_secret().unwrap();
        assert_ne!(a, b);
        assert!(looks_like_secret(&a));
        assert!(!looks_like_secret(&a[1..]));
        assert!(!looks_like_secret(&format!("{}/", &a[1..])));
    }
}
