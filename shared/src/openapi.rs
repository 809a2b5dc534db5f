//! OpenAPI schemas (feature `openapi`) of the types whose serde form is
//! written by hand or converted (`try_from`/`into`): the derives cannot see
//! that a `Money` is an integer of kopecks or a `Hash256` 64 hex digits, so
//! each says so here. Every other wire type derives `utoipa::ToSchema`.

use utoipa::openapi::schema::{ObjectBuilder, OneOfBuilder, Schema, SchemaFormat, Type};
use utoipa::openapi::{KnownFormat, RefOr};
use utoipa::{PartialSchema, ToSchema};

use crate::barcode::Gtin;
use crate::coupon::CouponCode;
use crate::crypto::{Hash256, PublicKey, Signature};
use crate::identity::{Ean13, Email, MonthDay, PhoneNumber};
use crate::ids::{
    BrandId, Category, CustomerId, MerchantId, PromotionId, RegisterId, RulesetVersion, SaleId,
    Seq, Sku, StoreId,
};
use crate::money::{BasisPoints, Currency, Money, Quantity};
use crate::timezone::TimeZone;
use crate::version::AgentVersion;

fn string(description: &str) -> ObjectBuilder {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .description(Some(description))
}

fn integer(description: &str, min: i64, max: i64) -> ObjectBuilder {
    ObjectBuilder::new()
        .schema_type(Type::Integer)
        .format(Some(SchemaFormat::KnownFormat(KnownFormat::Int64)))
        .minimum(Some(min))
        .maximum(Some(max))
        .description(Some(description))
}

macro_rules! schema {
    ($ty:ty, $schema:expr) => {
        impl PartialSchema for $ty {
            fn schema() -> RefOr<Schema> {
                RefOr::T(Schema::from($schema))
            }
        }
        impl ToSchema for $ty {}
    };
}

macro_rules! positive_id {
    ($($ty:ty),*) => {$(
        schema!($ty, integer(concat!("A positive ", stringify!($ty), "."), 1, i64::MAX).build());
    )*};
}
positive_id!(
    MerchantId,
    BrandId,
    StoreId,
    RegisterId,
    CustomerId,
    Seq,
    RulesetVersion
);

macro_rules! text_code {
    ($($ty:ty),*) => {$(
        schema!($ty, string(concat!(
            "A ", stringify!($ty),
            ": 1 to 64 printable characters, no spaces at the ends."
        ))
        .min_length(Some(1))
        .max_length(Some(64))
        .pattern(Some(r"^\S(.*\S)?$"))
        .build());
    )*};
}
text_code!(Sku, Category, PromotionId, SaleId);

schema!(
    Money,
    integer(
        "An amount in kopecks (minor units), within ±10 billion roubles.",
        -Money::MAX_MINOR,
        Money::MAX_MINOR
    )
    .build()
);
schema!(
    BasisPoints,
    integer("Hundredths of a percent, 0..=10000 (100 %).", 0, 10_000).build()
);
schema!(
    Currency,
    string("An ISO 4217 currency code, such as `RUB`.")
        .pattern(Some("^[A-Z]{3}$"))
        .build()
);
schema!(
    Quantity,
    OneOfBuilder::new()
        .description(Some(
            "A positive quantity: whole units as an integer, or a decimal string \
             with at most three decimals (`\"1.5\"`); JSON floats are refused."
        ))
        .item(integer("Whole units.", 1, 100_000).build())
        .item(
            string("Units with up to three decimals.")
                .pattern(Some(r"^[0-9]+(\.[0-9]{1,3})?$"))
                .build()
        )
        .build()
);
schema!(
    AgentVersion,
    string("A semantic version: major.minor.patch with an optional pre-release, such as `1.4.0`.")
        .max_length(Some(64))
        .build()
);
schema!(
    Hash256,
    string("A SHA-256 hash as 64 lower-case hex digits.")
        .pattern(Some("^[0-9a-f]{64}$"))
        .build()
);
schema!(
    PublicKey,
    string("An Ed25519 public key: 32 bytes in base64.").build()
);
schema!(
    Signature,
    string("An Ed25519 signature: 64 bytes in base64.").build()
);
schema!(
    TimeZone,
    string("An IANA time zone name, such as `Europe/Moscow`.").build()
);
schema!(
    Ean13,
    string("A printed card number: 13 digits (EAN-13 with its check digit).")
        .pattern(Some("^[0-9]{13}$"))
        .build()
);
schema!(
    PhoneNumber,
    string("A phone number, normalised to E.164 (`+79161234567`).").build()
);
schema!(
    Email,
    string("An e-mail address.")
        .format(Some(SchemaFormat::KnownFormat(KnownFormat::Email)))
        .build()
);
schema!(
    MonthDay,
    string("A birthday's month and day as `MM-DD`.")
        .pattern(Some("^[0-9]{2}-[0-9]{2}$"))
        .build()
);
schema!(
    Gtin,
    string("A GTIN as 14 digits with a valid check digit.")
        .pattern(Some("^[0-9]{14}$"))
        .build()
);
schema!(
    CouponCode,
    string("A coupon code, normalised to upper case.").build()
);

/// A weekday as chrono writes it (`Mon` … `Sun`); the full English name
/// is read too.
pub(crate) struct WeekdayName;
schema!(
    WeekdayName,
    string("A weekday: `Mon`, `Tue`, `Wed`, `Thu`, `Fri`, `Sat` or `Sun`.")
        .enum_values(Some(["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"]))
        .build()
);
