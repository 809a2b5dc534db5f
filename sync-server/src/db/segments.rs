//! Primitives of customer segments: the merchant's saved segments (a name
//! and a filter, as JSON the segments service reads), the tags each
//! customer carries to the tills, and the day the tags were last computed.
//! Who belongs where is decided by the segments service; these only read
//! and write rows.

use chrono::{DateTime, NaiveDate, Utc};
use shared::ids::{CustomerId, MerchantId};

use super::DbError;

/// A saved segment as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SegmentRow {
    /// Its code, unique in the merchant: the tag is `seg:<code>`.
    pub code: String,
    /// The name HQ gave it.
    pub name: String,
    /// The filter, as the segments service wrote it (JSON).
    pub filter: String,
    /// When it was saved.
    pub created_at: DateTime<Utc>,
}

/// Reads and writes of segments and customer tags.
pub trait SegmentsTx {
    /// The merchant's saved segments, by code.
    fn segments(&mut self, merchant: MerchantId) -> Result<Vec<SegmentRow>, DbError>;
    /// Saves a segment; `false` (nothing stored) when the code is taken.
    fn insert_segment(&mut self, merchant: MerchantId, row: &SegmentRow) -> Result<bool, DbError>;
    /// Deletes a saved segment; `false` when there was none.
    fn delete_segment(&mut self, merchant: MerchantId, code: &str) -> Result<bool, DbError>;
    /// Every tag starting with one of `prefixes` that a customer of the
    /// merchant carries, by customer then tag.
    fn tags_with_prefixes(
        &mut self,
        merchant: MerchantId,
        prefixes: &[&str],
    ) -> Result<Vec<(CustomerId, String)>, DbError>;
    /// Gives the customer a tag (nothing when they have it).
    fn add_customer_tag(&mut self, customer: CustomerId, tag: &str) -> Result<(), DbError>;
    /// Takes a tag from the customer (nothing when they lack it).
    fn remove_customer_tag(&mut self, customer: CustomerId, tag: &str) -> Result<(), DbError>;
    /// Customers of the merchant per tag, by tag.
    fn tag_counts(&mut self, merchant: MerchantId) -> Result<Vec<(String, i64)>, DbError>;
    /// The merchant's customers carrying `tag`.
    fn customers_with_tag(
        &mut self,
        merchant: MerchantId,
        tag: &str,
    ) -> Result<Vec<CustomerId>, DbError>;
    /// The customer's tags, sorted.
    fn customer_tags(&mut self, customer: CustomerId) -> Result<Vec<String>, DbError>;
    /// The day the merchant's segment tags were last computed as of.
    fn segments_as_of(&mut self, merchant: MerchantId) -> Result<Option<NaiveDate>, DbError>;
    /// Notes that the merchant's tags were computed as of `day`, at `at`.
    fn set_segments_as_of(
        &mut self,
        merchant: MerchantId,
        day: NaiveDate,
        at: DateTime<Utc>,
    ) -> Result<(), DbError>;
}
