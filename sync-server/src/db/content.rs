//! Primitives of promotions' content, which only the server keeps (tills
//! price without it): pictures and posters stored once by the SHA-256 of
//! their bytes, and per promotion its picture, poster, rich description
//! and publication period. What may be stored (checked, re-encoded
//! pictures; a period that ends after it starts) is decided before.

use chrono::{DateTime, Utc};
use shared::crypto::Hash256;
use shared::ids::{MerchantId, PromotionId};

use super::DbError;

/// A stored picture and its thumbnail.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MediaRow {
    /// SHA-256 of `bytes`.
    pub hash: Hash256,
    /// `image/jpeg` or `image/png`, of both.
    pub content_type: String,
    /// The picture.
    pub bytes: Vec<u8>,
    /// Its width.
    pub width: u32,
    /// Its height.
    pub height: u32,
    /// The thumbnail.
    pub thumbnail: Vec<u8>,
    /// The thumbnail's width.
    pub thumbnail_width: u32,
    /// The thumbnail's height.
    pub thumbnail_height: u32,
    /// When it was first stored.
    pub created_at: DateTime<Utc>,
}

/// What a stored picture is, without its bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MediaInfo {
    /// SHA-256 of its bytes.
    pub hash: Hash256,
    /// Its type.
    pub content_type: String,
    /// Its width.
    pub width: u32,
    /// Its height.
    pub height: u32,
    /// The thumbnail's width.
    pub thumbnail_width: u32,
    /// The thumbnail's height.
    pub thumbnail_height: u32,
}

/// Which bytes of a stored picture.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MediaVariant {
    /// The picture itself.
    Full,
    /// Its thumbnail.
    Thumbnail,
}

/// A promotion's content.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContentRow {
    /// Whose.
    pub merchant_id: MerchantId,
    /// Which promotion.
    pub promotion_id: PromotionId,
    /// Its picture (a stored media hash).
    pub picture: Option<Hash256>,
    /// Its poster.
    pub poster: Option<Hash256>,
    /// The description as typed (Markdown).
    pub description: String,
    /// Shown on phones from.
    pub shown_from: Option<DateTime<Utc>>,
    /// Shown on phones until (exclusive).
    pub shown_until: Option<DateTime<Utc>>,
    /// Last saved.
    pub updated_at: DateTime<Utc>,
}

/// Reads and writes of pictures and promotions' content.
pub trait ContentTx {
    /// Stores a picture unless one with its hash is stored; whether it was
    /// new.
    fn insert_media(&mut self, media: &MediaRow) -> Result<bool, DbError>;
    /// What the picture `hash` is, if stored.
    fn media_info(&mut self, hash: &Hash256) -> Result<Option<MediaInfo>, DbError>;
    /// The bytes of the picture `hash` (or its thumbnail) and their type.
    fn media_bytes(
        &mut self,
        hash: &Hash256,
        variant: MediaVariant,
    ) -> Result<Option<(String, Vec<u8>)>, DbError>;
    /// A promotion's content, if any was saved.
    fn promotion_content(
        &mut self,
        merchant: MerchantId,
        promotion: &PromotionId,
    ) -> Result<Option<ContentRow>, DbError>;
    /// Every promotion's content of a merchant.
    fn promotion_contents(&mut self, merchant: MerchantId) -> Result<Vec<ContentRow>, DbError>;
    /// Stores a promotion's content, replacing what was.
    fn put_promotion_content(&mut self, content: &ContentRow) -> Result<(), DbError>;
}
