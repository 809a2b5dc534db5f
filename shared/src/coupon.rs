//! Coupon codes a customer shows or hands over: a merchant-chosen prefix
//! (`CPN-` by default) and 4 to 32 letters, digits or dashes, such as
//! `CPN-SPRING25`. Letters are case-insensitive and kept upper-case, so a
//! code typed in matches the printed one.

use std::fmt;

use serde::{Deserialize, Serialize};

/// The prefix of coupon codes unless the merchant configures another.
pub const DEFAULT_COUPON_PREFIX: &str = "CPN-";
/// The fewest characters after the prefix.
const MIN_BODY: usize = 4;
/// The most characters after the prefix.
const MAX_BODY: usize = 32;

/// Why text is not a coupon code.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CouponError {
    /// The text does not start with the coupon prefix.
    #[error("not a coupon code: it must start with {prefix:?}")]
    MissingPrefix {
        /// The expected prefix.
        prefix: String,
    },
    /// The prefix is there but what follows is not a code.
    #[error("coupon code {code:?} must be {prefix:?} and 4 to 32 letters, digits or dashes")]
    Syntax {
        /// The scanned text.
        code: String,
        /// The expected prefix.
        prefix: String,
    },
}

/// A coupon code in its normal form: the prefix as configured, then the
/// body upper-cased.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct CouponCode(String);

impl CouponCode {
    /// Parses `text` as a coupon code behind `prefix` (matched ignoring
    /// ASCII case; surrounding spaces are ignored).
    pub fn parse(text: &str, prefix: &str) -> Result<Self, CouponError> {
        let text = text.trim();
        let body =
            strip_prefix_ignoring_case(text, prefix).ok_or_else(|| CouponError::MissingPrefix {
                prefix: prefix.to_owned(),
            })?;
        let valid = (MIN_BODY..=MAX_BODY).contains(&body.len())
            && body.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-');
        if !valid {
            return Err(CouponError::Syntax {
                code: text.to_owned(),
                prefix: prefix.to_owned(),
            });
        }
        Ok(CouponCode(format!("{prefix}{}", body.to_ascii_uppercase())))
    }

    /// The code.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for CouponCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Whether `text` claims to be a coupon code: it starts with `prefix`
/// (ignoring ASCII case). An empty prefix matches nothing: no coupons.
#[must_use]
pub fn looks_like_coupon(text: &str, prefix: &str) -> bool {
    strip_prefix_ignoring_case(text.trim(), prefix).is_some()
}

fn strip_prefix_ignoring_case<'a>(text: &'a str, prefix: &str) -> Option<&'a str> {
    if prefix.is_empty() {
        return None;
    }
    let head = text.get(..prefix.len())?;
    head.eq_ignore_ascii_case(prefix)
        .then(|| text.get(prefix.len()..))
        .flatten()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn coupon_codes_are_normalised_to_upper_case() {
        let code = CouponCode::parse(" cpn-spring-25 ", DEFAULT_COUPON_PREFIX).unwrap();
        assert_eq!(code.as_str(), "CPN-SPRING-25");
        assert_eq!(
            CouponCode::parse("PROMO:AB12", "PROMO:").unwrap().as_str(),
            "PROMO:AB12"
        );
    }

    #[test]
    fn bad_coupon_codes_say_why() {
        assert_eq!(
            CouponCode::parse("4601234567893", "CPN-"),
            Err(CouponError::MissingPrefix {
                prefix: "CPN-".into()
            })
        );
        for bad in [
            "CPN-",
            "CPN-ABC",
            "CPN-AB CD",
            "CPN-ÄBCD",
            &format!("CPN-{}", "A".repeat(33)),
        ] {
            assert!(
                matches!(
                    CouponCode::parse(bad, "CPN-"),
                    Err(CouponError::Syntax { .. })
                ),
                "{bad}"
            );
        }
        let message = CouponCode::parse("CPN-A", "CPN-").unwrap_err().to_string();
        assert!(message.contains("4 to 32"), "{message}");
    }

    #[test]
    fn an_empty_prefix_disables_coupons() {
        assert!(!looks_like_coupon("CPN-ABCD", ""));
        assert!(CouponCode::parse("ABCD", "").is_err());
        assert!(looks_like_coupon("cpn-x", "CPN-"));
        assert!(!looks_like_coupon("CP", "CPN-"));
    }

    proptest! {
        #[test]
        fn parse_never_panics(text in any::<String>(), prefix in any::<String>()) {
            let _ = CouponCode::parse(&text, &prefix);
            let _ = looks_like_coupon(&text, &prefix);
        }

        #[test]
        fn every_well_formed_code_parses(body in "[A-Za-z0-9-]{4,32}") {
            let code = CouponCode::parse(&format!("CPN-{body}"), "CPN-").unwrap();
            prop_assert_eq!(code.as_str(), format!("CPN-{}", body.to_ascii_uppercase()));
        }
    }
}
