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

/// The text of a code: inline when it is at most [`INLINE`] bytes, as
/// almost every SKU, category and promotion id is, so a clone copies 24
/// bytes instead of allocating (the pricing engine clones promotion ids
/// into every explanation line). Longer codes live on the heap.
#[derive(Clone)]
enum Text {
    Inline { len: u8, bytes: [u8; INLINE] },
    Heap(Box<str>),
}

/// The longest code held inline.
const INLINE: usize = 22;

impl Text {
    fn new(value: String) -> Text {
        match u8::try_from(value.len()) {
            Ok(len) if value.len() <= INLINE => {
                let mut bytes = [0u8; INLINE];
                bytes[..value.len()].copy_from_slice(value.as_bytes());
                Text::Inline { len, bytes }
            }
            _ => Text::Heap(value.into_boxed_str()),
        }
    }

    fn as_bytes(&self) -> &[u8] {
        match self {
            Text::Inline { len, bytes } => &bytes[..usize::from(*len)],
            Text::Heap(s) => s.as_bytes(),
        }
    }

    fn as_str(&self) -> &str {
        match self {
            // Copied from a `String` whole: always UTF-8.
            Text::Inline { .. } => std::str::from_utf8(self.as_bytes()).unwrap_or_default(),
            Text::Heap(s) => s,
        }
    }

    fn into_string(self) -> String {
        match self {
            Text::Heap(s) => s.into_string(),
            inline => inline.as_str().to_owned(),
        }
    }
}

// Compared, ordered and hashed as the `str` they hold (byte-wise).
impl PartialEq for Text {
    fn eq(&self, other: &Self) -> bool {
        self.as_bytes() == other.as_bytes()
    }
}

impl Eq for Text {}

impl PartialOrd for Text {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Text {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.as_bytes().cmp(other.as_bytes())
    }
}

impl std::hash::Hash for Text {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        // As `str` hashes itself.
        state.write(self.as_bytes());
        state.write_u8(0xff);
    }
}

impl fmt::Debug for Text {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.as_str(), f)
    }
}

macro_rules! text_code {
    ($(#[$doc:meta])* $name:ident, $kind:literal, $max:literal) => {
        $(#[$doc])*
        #[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
        #[serde(try_from = "String", into = "String")]
        pub struct $name(Text);

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
                    Ok(Self(Text::new(value)))
                } else {
                    Err(IdError::BadCode { kind: $kind, value, max: $max })
                }
            }

            /// The code as text.
            #[must_use]
            pub fn as_str(&self) -> &str {
                self.0.as_str()
            }

            /// The code's bytes, without checking them again as UTF-8.
            #[must_use]
            #[allow(dead_code)] // not every kind of code is read as bytes
            pub(crate) fn as_bytes(&self) -> &[u8] {
                self.0.as_bytes()
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
                v.0.into_string()
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
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

    #[test]
    fn short_and_long_codes_compare_hash_and_print_as_their_text() {
        use std::collections::hash_map::DefaultHasher;
        use std::hash::{Hash, Hasher};
        let hash = |v: &dyn Fn(&mut DefaultHasher)| {
            let mut h = DefaultHasher::new();
            v(&mut h);
            h.finish()
        };
        let short = "p".repeat(INLINE);
        let long = "p".repeat(INLINE + 1);
        for text in [short.as_str(), long.as_str(), "milk-10"] {
            let id = PromotionId::parse(text).unwrap();
            assert_eq!(id.as_str(), text);
            assert_eq!(format!("{id:?}"), format!("PromotionId({text:?})"));
            assert_eq!(String::from(id.clone()), text);
            assert_eq!(hash(&|h| id.hash(h)), hash(&|h| text.hash(h)));
        }
        let (a, b) = (
            PromotionId::parse(short.clone()).unwrap(),
            PromotionId::parse(long.clone()).unwrap(),
        );
        assert_eq!(a.cmp(&b), short.cmp(&long));
        assert_eq!(b.cmp(&a), long.cmp(&short));
        assert_ne!(a, b);
        assert_eq!(
            std::mem::size_of::<PromotionId>(),
            std::mem::size_of::<String>()
        );
    }

    proptest! {
        #[test]
        fn codes_order_as_their_text(a in "[a-zé]{0,30}", b in "[a-zé]{0,30}") {
            if let (Ok(x), Ok(y)) = (Sku::parse(a.clone()), Sku::parse(b.clone())) {
                prop_assert_eq!(x.cmp(&y), a.cmp(&b));
                prop_assert_eq!(x == y, a == b);
            }
        }

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
