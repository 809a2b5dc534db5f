//! The admin API's DTOs of promotions' content (`services::content`):
//! pictures uploaded, and a promotion's picture, poster, description and
//! publication period.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use shared::crypto::Hash256;

/// A stored picture: re-encoded, named by the SHA-256 of its bytes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct MediaView {
    /// Its name: the SHA-256 of its bytes, in hex. A promotion's content
    /// names its picture and poster by it.
    pub hash: Hash256,
    /// `image/jpeg` or `image/png`: what it was kept as.
    pub content_type: String,
    /// Its width in pixels.
    pub width: u32,
    /// Its height in pixels.
    pub height: u32,
    /// Where it is served, to anyone (`/media/{hash}`).
    pub url: String,
    /// Where its thumbnail is served.
    pub thumbnail_url: String,
    /// Whether this upload stored it (false: the same picture was stored
    /// before).
    pub new: bool,
}

/// A promotion's content as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct PromotionContent {
    /// The promotion.
    pub promotion_id: String,
    /// Its picture, a stored picture's hash.
    pub picture: Option<Hash256>,
    /// Its poster.
    pub poster: Option<Hash256>,
    /// The description as typed (Markdown).
    pub description: String,
    /// The description rendered, as the phone page shows it (raw HTML
    /// escaped, only web, mail and phone links).
    pub description_html: String,
    /// Shown on the customers' phones from (none: as the pricing period,
    /// unless `shown_until` is set).
    pub shown_from: Option<DateTime<Utc>>,
    /// Shown until (exclusive).
    pub shown_until: Option<DateTime<Utc>>,
    /// Last saved; none when nothing was saved yet.
    pub updated_at: Option<DateTime<Utc>>,
}

/// A promotion's content to save: it replaces what was.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(default, deny_unknown_fields)]
pub struct PromotionContentUpdate {
    /// Its picture: the hash an upload answered.
    pub picture: Option<Hash256>,
    /// Its poster.
    pub poster: Option<Hash256>,
    /// The description (Markdown, at most 4000 characters).
    pub description: String,
    /// Shown on the phones from.
    pub shown_from: Option<DateTime<Utc>>,
    /// Shown until (exclusive); after `shown_from`.
    pub shown_until: Option<DateTime<Utc>>,
}

/// A picture's bytes as uploaded: the body of `POST …/media`.
#[derive(Debug, Clone, utoipa::ToSchema)]
#[schema(value_type = String, format = Binary)]
pub struct PictureBytes(pub Vec<u8>);
