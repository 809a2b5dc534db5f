//! The storage the re-pricer needs: stored records after its cursor, the
//! ruleset at a version, originals and earlier returns, and where it keeps
//! its outcomes. A supertrait of [`Database`](super::Database), like
//! [`WebStorage`](super::WebStorage).

use chrono::{DateTime, Utc};
use shared::ids::{BrandId, MerchantId, RulesetVersion};
use shared::ruleset::Ruleset;

use super::{DbFuture, RecordKey};
use crate::wire::{MismatchedField, RepriceReport};

/// A stored record to price again, with what the server knows of its store.
#[derive(Debug, Clone)]
pub struct RepriceCandidate {
    /// Its place in the server's insert order: the cursor.
    pub row: i64,
    /// The merchant.
    pub merchant_id: MerchantId,
    /// Which record.
    pub key: RecordKey,
    /// The exact stored bytes (verified at ingest).
    pub body: Vec<u8>,
    /// The store's IANA time zone.
    pub store_timezone: String,
    /// The brand the store trades under.
    pub store_brand: Option<BrandId>,
}

/// What the re-pricer concluded about one record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RepriceOutcome {
    /// Priced again to the kopeck and point.
    Matched,
    /// Priced again with differences.
    Mismatched(Vec<MismatchedField>),
    /// Not priced again, and why.
    Skipped(String),
}

/// The outcome of one record, to store.
#[derive(Debug, Clone)]
pub struct RepriceResult {
    /// Which record.
    pub key: RecordKey,
    /// Its merchant.
    pub merchant_id: MerchantId,
    /// The outcome.
    pub outcome: RepriceOutcome,
    /// For a return computed from its original: the original.
    pub return_of: Option<RecordKey>,
}

/// Storage for the re-pricer.
pub trait RepriceStorage {
    /// Up to `limit` stored records after the cursor, in insert order.
    fn reprice_candidates(&self, limit: usize) -> DbFuture<'_, Vec<RepriceCandidate>>;
    /// The ruleset a merchant published as `version`, if any.
    fn ruleset_at(
        &self,
        merchant: MerchantId,
        version: RulesetVersion,
    ) -> DbFuture<'_, Option<Ruleset>>;
    /// A stored record's bytes.
    fn record_body(&self, key: RecordKey) -> DbFuture<'_, Option<Vec<u8>>>;
    /// The bytes of the returns of `original` the re-pricer already saw, in
    /// insert order.
    fn seen_returns(&self, original: RecordKey) -> DbFuture<'_, Vec<Vec<u8>>>;
    /// Stores the outcomes, raises an alert per mismatch and moves the
    /// cursor to `cursor`, in one transaction.
    fn save_reprice(
        &self,
        results: Vec<RepriceResult>,
        cursor: i64,
        now: DateTime<Utc>,
    ) -> DbFuture<'_, ()>;
    /// A merchant's counts, skip reasons and newest `limit` mismatches.
    fn reprice_report(&self, merchant: MerchantId, limit: usize) -> DbFuture<'_, RepriceReport>;
}
