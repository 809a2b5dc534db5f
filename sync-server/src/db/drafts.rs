//! Primitives of promotion drafts and of the what-if's reading of stored
//! sales. A draft's promotion is stored as the JSON the drafts service
//! wrote; what is due, who claims it and what a what-if counts are the
//! services' decisions (`services::drafts`, `services::whatif`).

use chrono::{DateTime, Utc};
use shared::ids::{BrandId, MerchantId, StoreId};
use shared::timezone::TimeZone;

use super::DbError;

/// Where a draft stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DraftStatus {
    /// Saved, not published.
    Draft,
    /// To be published at its `publish_at`.
    Scheduled,
    /// Claimed by the publishing task, which has not noted the outcome.
    Publishing,
    /// Published as `published_version`.
    Published,
    /// The publish was refused for `failure`.
    Failed,
}

impl DraftStatus {
    /// The stored code.
    #[must_use]
    pub const fn code(self) -> &'static str {
        match self {
            DraftStatus::Draft => "draft",
            DraftStatus::Scheduled => "scheduled",
            DraftStatus::Publishing => "publishing",
            DraftStatus::Published => "published",
            DraftStatus::Failed => "failed",
        }
    }

    /// Parses [`code`](Self::code).
    pub fn from_code(code: &str) -> Result<Self, String> {
        Ok(match code {
            "draft" => DraftStatus::Draft,
            "scheduled" => DraftStatus::Scheduled,
            "publishing" => DraftStatus::Publishing,
            "published" => DraftStatus::Published,
            "failed" => DraftStatus::Failed,
            other => return Err(format!("unknown draft status {other:?}")),
        })
    }
}

/// A stored draft.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DraftRow {
    /// Its id, unique over all merchants.
    pub id: i64,
    /// Whose.
    pub merchant_id: MerchantId,
    /// The code of its promotion.
    pub promotion_id: String,
    /// The promotion, as JSON.
    pub promotion: String,
    /// Who saved it (the audit trail's actor).
    pub created_by: String,
    /// When.
    pub created_at: DateTime<Utc>,
    /// Where it stands.
    pub status: DraftStatus,
    /// When it is to be published, if scheduled.
    pub publish_at: Option<DateTime<Utc>>,
    /// When the publishing task claimed it.
    pub claimed_at: Option<DateTime<Utc>>,
    /// The ruleset version it was published as.
    pub published_version: Option<i64>,
    /// When it was published.
    pub published_at: Option<DateTime<Utc>>,
    /// Why its publish was refused.
    pub failure: Option<String>,
}

/// A draft to store.
#[derive(Debug, Clone)]
pub struct NewDraft {
    /// The code of its promotion.
    pub promotion_id: String,
    /// The promotion, as JSON.
    pub promotion: String,
    /// Who saves it.
    pub created_by: String,
    /// When.
    pub created_at: DateTime<Utc>,
}

/// A stored sale as the what-if reads it.
#[derive(Debug, Clone)]
pub struct StoredSale {
    /// The server's order of the record; the cursor.
    pub row: i64,
    /// The store.
    pub store_id: StoreId,
    /// The exact signed bytes.
    pub body: Vec<u8>,
    /// The store's time zone.
    pub store_timezone: TimeZone,
    /// The store's brand.
    pub store_brand: Option<BrandId>,
}

/// Reads and writes of drafts, and the what-if's reading of sales.
pub trait DraftsTx {
    /// Stores a draft; its id.
    fn insert_draft(&mut self, merchant: MerchantId, draft: &NewDraft) -> Result<i64, DbError>;
    /// The merchant's drafts, newest first.
    fn drafts(&mut self, merchant: MerchantId) -> Result<Vec<DraftRow>, DbError>;
    /// One draft of the merchant (none for another merchant's).
    fn draft(&mut self, merchant: MerchantId, id: i64) -> Result<Option<DraftRow>, DbError>;
    /// Deletes a draft of the merchant; `false` when there was none.
    fn delete_draft(&mut self, merchant: MerchantId, id: i64) -> Result<bool, DbError>;
    /// Sets a draft's status and the fields that go with it (locks its row
    /// on PostgreSQL until the transaction ends).
    fn set_draft_status(&mut self, id: i64, row: &DraftRow) -> Result<(), DbError>;
    /// Drafts in `status` whose `publish_at` (`claimed_at` for
    /// `Publishing`) is at or before `before`, oldest first, at most
    /// `limit`; on PostgreSQL locked and skipped by other instances.
    fn drafts_due(
        &mut self,
        status: DraftStatus,
        before: DateTime<Utc>,
        limit: usize,
    ) -> Result<Vec<DraftRow>, DbError>;
    /// Up to `limit` of the merchant's stored sales after `after_row` (the
    /// server's order) whose wall time is at or after `since`.
    fn sales_since(
        &mut self,
        merchant: MerchantId,
        since: DateTime<Utc>,
        after_row: i64,
        limit: usize,
    ) -> Result<Vec<StoredSale>, DbError>;
}
