//! Primitives of the re-pricer: stored records after its cursor, originals
//! and earlier returns, and where it keeps its outcomes.

use chrono::{DateTime, Utc};
use shared::ids::{BrandId, MerchantId};
use shared::timezone::TimeZone;

use super::{DbError, RecordKey};
use crate::wire::{MismatchedField, RepriceReport};

/// A stored record the re-pricer has not looked at.
#[derive(Debug, Clone)]
pub struct RepriceCandidate {
    /// The server's order of the record; the cursor.
    pub row: i64,
    /// Whose record.
    pub merchant_id: MerchantId,
    /// Which record.
    pub key: RecordKey,
    /// The exact signed bytes.
    pub body: Vec<u8>,
    /// The store's time zone.
    pub store_timezone: TimeZone,
    /// The store's brand.
    pub store_brand: Option<BrandId>,
}

/// What re-pricing one record found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RepriceOutcome {
    /// The same to the kopeck and the point.
    Matched,
    /// These fields differ.
    Mismatched(Vec<MismatchedField>),
    /// It could not be re-priced, for this reason.
    Skipped(String),
}

/// The outcome of one record.
#[derive(Debug, Clone)]
pub struct RepriceResult {
    /// Which record.
    pub key: RecordKey,
    /// Whose record.
    pub merchant_id: MerchantId,
    /// What was found.
    pub outcome: RepriceOutcome,
    /// For a return: the sale it returns, so later returns of it are
    /// recomputed with this one counted.
    pub return_of: Option<RecordKey>,
}

/// Reads and writes of the re-pricer.
pub trait RepriceTx {
    /// Up to `limit` stored records after the cursor, in the server's order.
    fn reprice_candidates(&mut self, limit: usize) -> Result<Vec<RepriceCandidate>, DbError>;
    /// A stored record's signed bytes.
    fn record_body(&mut self, key: RecordKey) -> Result<Option<Vec<u8>>, DbError>;
    /// The signed bytes of the returns of `original` re-priced so far, in
    /// the server's order.
    fn seen_returns(&mut self, original: RecordKey) -> Result<Vec<Vec<u8>>, DbError>;
    /// Stores one outcome, replacing an earlier one of the record.
    fn save_reprice_result(
        &mut self,
        result: &RepriceResult,
        now: DateTime<Utc>,
    ) -> Result<(), DbError>;
    /// Moves the cursor forward to `cursor` (never back).
    fn advance_reprice_cursor(&mut self, cursor: i64) -> Result<(), DbError>;
    /// The merchant's counts, skip reasons and newest `limit` mismatches
    /// (their fields in no particular order).
    fn reprice_report(
        &mut self,
        merchant: MerchantId,
        limit: usize,
    ) -> Result<RepriceReport, DbError>;
}
