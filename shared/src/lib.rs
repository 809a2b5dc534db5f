//! The loyalty domain, shared by the till agent and the server: money,
//! baskets, rulesets, **the pricing engine**, customer tokens, signed
//! purchase records and the wire DTOs.
//!
//! This crate does no IO: no tokio, no files, no network, no SQLite. It is
//! deterministic, so the same input prices the same on the till and on the
//! server. Time and randomness come from the caller.
//!
//! # Layout
//!
//! - [`money`]: `Money` (kopecks), `BasisPoints`, `Quantity`, rounding.
//! - [`ids`]: numeric ids, SKU and category codes, `Seq`.
//! - [`identity`]: card numbers (EAN-13), phone numbers, gender, age bands.
//! - [`barcode`]: product barcodes (EAN-8/13, UPC-A/E) and GS1 data with AIs.
//! - [`coupon`]: coupon codes.
//! - [`holdout`]: which customers a promotion holds out, by a stable hash.
//! - [`basket`]: lines of a check.
//! - [`ruleset`]: the programme and promotions, with validation.
//! - [`pricing`]: the engine.
//! - [`points`]: the points ledger replayed: pending, available, expiring,
//!   expired, oldest spent first, overdrafts.
//! - [`crypto`]: Ed25519 keys and signatures with domain separation.
//! - [`timezone`]: a store's IANA time zone, parsed once at the edge.
//! - [`token`]: the customer token shown as a QR code.
//! - [`record`]: the signed purchase record.
//! - [`returns`]: full and partial returns of a committed sale.
//! - [`release`]: the signed ruleset release.
//! - [`wire`]: DTOs of the sync, admin and till APIs.
//! - `openapi` (feature `openapi`): the OpenAPI schemas of the types whose
//!   serde form is hand-written; the rest derive `utoipa::ToSchema`.

#![deny(clippy::cast_possible_truncation)]
#![deny(missing_docs)]

pub mod barcode;
pub mod basket;
pub mod coupon;
pub mod crypto;
pub mod holdout;
pub mod identity;
pub mod ids;
pub mod keys;
pub mod money;
#[cfg(feature = "openapi")]
pub(crate) mod openapi;
pub mod points;
pub mod pricing;
pub mod record;
pub mod release;
pub mod returns;
pub mod ruleset;
pub mod timezone;
pub mod token;
pub mod version;
pub mod wire;
