//! Identifiers parsed at the boundary: numeric ids assigned by the server,
//! text codes chosen by merchants (SKUs, categories, promotion ids) and the
//! per-register sequence number.

use std::fmt;

use serde::{Deserialize, Serialize};

/// An identifier or code that failed to parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdError {
    /// A numeric id must be positive.
    #[error("{kind} must be a positive integer, got {value}")]
    NotPositive {
        /// Which id.
        kind: &'static str,
        /// The value given.
        value: i64,
    },
    /// A code is empty, too long or holds characters outside the allowed set.
    #[error("{kind} {value:?} must be 1..={max} printable characters without spaces at the ends")]
    BadCode {
        /// Which code.
        kind: &'static str,
        /// The value given.
        value: String,
        /// The longest accepted.
        max: usize,
    },
}

macro_rules! numeric_id {
    ($(#[$doc:meta])* $name:ident, $kind:literal) => {
        $(#[$doc])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
        #[serde(try_from = "i64", into = "i64")]
        pub struct $name(i64);

        impl $name {
            /// Parses a positive id.
            pub fn new(value: i64) -> Result<Self, IdError> {
                if value > 0 {
                    Ok(Self(value))
                } else {
                    Err(IdError::NotPositive { kind: $kind, value })
                }
            }

            /// The raw value.
            #[must_use]
            pub const fn get(self) -> i64 {
                self.0
            }
        }

        impl TryFrom<i64> for $name {
            type Error = IdError;
            fn try_from(v: i64) -> Result<Self, Self::Error> {
                Self::new(v)
            }
        }

        impl From<$name> for i64 {
            fn from(v: $name) -> i64 {
                v.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.fmt(f)
            }
        }
    };
}

numeric_id!(
    /// A merchant (a producer or a retailer with its own programme).
    MerchantId,
    "merchant id"
);
numeric_id!(
    /// A brand of a merchant.
    BrandId,
    "brand id"
);
numeric_id!(
    /// A store (point of sale).
    StoreId,
    "store id"
);
numeric_id!(
    /// An enrolled register (till).
    RegisterId,
    "register id"
);
numeric_id!(
    /// A customer of a merchant.
    CustomerId,
    "customer id"
);
numeric_id!(
    /// A dense per-register sequence number: 1, 2, 3, …
    Seq,
    "seq"
);
numeric_id!(
    /// A published ruleset version: 1, 2, 3, … per merchant.
    RulesetVersion,
    "ruleset version"
);

impl Seq {
    /// The first sequence number of a register.
    pub const FIRST: Seq = Seq(1);

    /// The next sequence number.
    #[must_use]
    pub const fn next(self) -> Seq {
        Seq(self.0 + 1)
    }
}

macro_rules! text_code {
    ($(#[$doc:meta])* $name:ident, $kind:literal, $max:literal) => {
        $(#[$doc])*
        #[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
        #[serde(try_from = "String", into = "String")]
        pub struct $name(String);

        impl $name {
            /// Parses a code: 1..=max characters, no control characters, no
            /// surrounding whitespace.
            pub fn parse(value: impl Into<String>) -> Result<Self, IdError> {
                let value = value.into();
                let ok = !value.is_empty()
                    && value.chars().count() <= $max
                    && value.trim() == value
                    && !value.chars().any(char::is_control);
                if ok {
                    Ok(Self(value))
                } else {
                    Err(IdError::BadCode { kind: $kind, value, max: $max })
                }
            }

            /// The code as text.
            #[must_use]
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl TryFrom<String> for $name {
            type Error = IdError;
            fn try_from(v: String) -> Result<Self, Self::Error> {
                Self::parse(v)
            }
        }

        impl From<$name> for String {
            fn from(v: $name) -> String {
                v.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
    };
}

text_code!(
    /// A stock-keeping unit code, usually the product barcode or article.
    Sku,
    "sku",
    64
);
text_code!(
    /// A product category code, such as `dairy`.
    Category,
    "category",
    64
);
text_code!(
    /// A promotion id, unique within a merchant's ruleset (`milk-10`).
    PromotionId,
    "promotion id",
    64
);
text_code!(
    /// The till's own id of a sale, its idempotency key at the agent: a
    /// commit repeated with the same id answers the record already
    /// committed instead of writing a second one.
    SaleId,
    "sale id",
    64
);

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn ids_must_be_positive() {
        assert!(StoreId::new(0).is_err());
        assert!(serde_json::from_str::<Seq>("-3").is_err());
        assert_eq!(Seq::FIRST.next().get(), 2);
    }

    #[test]
    fn codes_refuse_blank_and_control_characters() {
        assert!(Sku::parse("").is_err());
        assert!(Sku::parse(" 46").is_err());
        assert!(Sku::parse("a\nb").is_err());
        assert!(Sku::parse("x".repeat(65)).is_err());
        assert!(Sku::parse("4601234567893").is_ok());
    }

    proptest! {
        #[test]
        fn sku_parse_never_panics_and_round_trips(s in any::<String>()) {
            if let Ok(sku) = Sku::parse(s.clone()) {
                prop_assert_eq!(sku.as_str(), s.as_str());
            }
        }

        #[test]
        fn sale_id_parse_never_panics_and_round_trips(s in any::<String>()) {
            if let Ok(id) = SaleId::parse(s.clone()) {
                prop_assert_eq!(id.as_str(), s.as_str());
                let json = serde_json::to_string(&id).unwrap();
                prop_assert_eq!(serde_json::from_str::<SaleId>(&json).unwrap(), id);
            }
        }
    }
}
