//! Promotions' content, kept on the server only (tills price without it):
//! pictures and posters uploaded with a promotion, its rich description
//! and its publication period on the customers' phones, which is apart
//! from the pricing period the ruleset holds.
//!
//! An upload is checked and re-encoded by [`crate::media`] on a blocking
//! thread (decoding is CPU work), then stored once by its hash. Content
//! belongs to a promotion of the merchant's current rules: another
//! merchant's promotion, or one that is not in the rules, is not found.
//! The description is kept as typed (Markdown) and rendered safe by
//! [`crate::rich_text`] when shown.

use std::collections::HashMap;
use std::sync::Arc;

use chrono::{DateTime, SubsecRound as _, Utc};
use shared::crypto::Hash256;
use shared::ids::{MerchantId, PromotionId};
use shared::ruleset::Promotion;

use crate::clock::Clock;
use crate::db::{ContentRow, DbError, MediaInfo, MediaRow, MediaVariant, Repository};
use crate::media::{self, MediaError};
use crate::rich_text;

/// Why content was not saved or a picture not taken.
#[derive(Debug, thiserror::Error)]
pub enum ContentError {
    /// The picture was refused.
    #[error(transparent)]
    Media(#[from] MediaError),
    /// No such promotion in the merchant's current rules.
    #[error("no such promotion in the current rules")]
    UnknownPromotion,
    /// A field was refused; `message_id` names the problem for the pages.
    #[error("{field}: {message_id}")]
    Invalid {
        /// The field (`picture`, `poster`, `description`, `shown_until`).
        field: &'static str,
        /// The pages' message id.
        message_id: &'static str,
    },
    /// Storage failed.
    #[error(transparent)]
    Db(#[from] DbError),
}

/// A promotion's content as it is to be saved.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ContentUpdate {
    /// The picture, a stored media hash.
    pub picture: Option<Hash256>,
    /// The poster.
    pub poster: Option<Hash256>,
    /// The description (Markdown).
    pub description: String,
    /// Shown on phones from.
    pub shown_from: Option<DateTime<Utc>>,
    /// Shown on phones until (exclusive).
    pub shown_until: Option<DateTime<Utc>>,
}

/// Whether a promotion is shown on the phones at `now`: within its
/// publication period when its content sets one (either end), else within
/// its pricing period, as before content existed.
#[must_use]
pub fn is_published(p: &Promotion, content: Option<&ContentRow>, now: DateTime<Utc>) -> bool {
    match content {
        Some(c) if c.shown_from.is_some() || c.shown_until.is_some() => {
            c.shown_from.is_none_or(|s| now >= s) && c.shown_until.is_none_or(|e| now < e)
        }
        _ => p.starts_at.is_none_or(|s| now >= s) && p.ends_at.is_none_or(|e| now < e),
    }
}

/// Promotions' content and its pictures.
#[derive(Clone)]
pub struct Content {
    repo: Arc<dyn Repository>,
    clock: Arc<dyn Clock>,
}

impl Content {
    /// The service over `repo`.
    pub fn new(repo: Arc<dyn Repository>, clock: Arc<dyn Clock>) -> Self {
        Content { repo, clock }
    }

    /// Checks, re-encodes and stores an uploaded picture (once per hash);
    /// what is stored, and whether it was new.
    #[tracing::instrument(skip_all, fields(bytes = upload.len()))]
    pub async fn upload(&self, upload: Vec<u8>) -> Result<(MediaInfo, bool), ContentError> {
        let processed = tokio::task::spawn_blocking(move || media::process(&upload))
            .await
            .map_err(|e| DbError::other(format!("the picture task failed: {e}")))??;
        let row = MediaRow {
            hash: processed.hash,
            content_type: processed.kind.content_type().to_owned(),
            bytes: processed.bytes,
            width: processed.width,
            height: processed.height,
            thumbnail: processed.thumbnail,
            thumbnail_width: processed.thumbnail_width,
            thumbnail_height: processed.thumbnail_height,
            created_at: self.clock.now(),
        };
        let info = MediaInfo {
            hash: row.hash,
            content_type: row.content_type.clone(),
            width: row.width,
            height: row.height,
            thumbnail_width: row.thumbnail_width,
            thumbnail_height: row.thumbnail_height,
        };
        let new = self.repo.write(move |tx| tx.insert_media(&row)).await?;
        tracing::info!(hash = %info.hash, new, "stored a picture");
        Ok((info, new))
    }

    /// The bytes of a stored picture or its thumbnail, with their type.
    pub async fn media(
        &self,
        hash: Hash256,
        variant: MediaVariant,
    ) -> Result<Option<(String, Vec<u8>)>, DbError> {
        self.repo
            .read(move |tx| tx.media_bytes(&hash, variant))
            .await
    }

    /// What the stored pictures `hashes` are, by hash.
    pub async fn media_infos(
        &self,
        hashes: Vec<Hash256>,
    ) -> Result<HashMap<Hash256, MediaInfo>, DbError> {
        self.repo
            .read(move |tx| {
                let mut found = HashMap::new();
                for hash in hashes {
                    if let Some(info) = tx.media_info(&hash)? {
                        found.insert(hash, info);
                    }
                }
                Ok(found)
            })
            .await
    }

    /// The promotion `promotion` of the merchant's current rules and its
    /// content (none saved yet: `None`).
    pub async fn content(
        &self,
        merchant: MerchantId,
        promotion: PromotionId,
    ) -> Result<(Promotion, Option<ContentRow>), ContentError> {
        self.repo
            .read(move |tx| {
                let Some(found) = current_promotion(tx, merchant, &promotion)? else {
                    return Ok(Err(ContentError::UnknownPromotion));
                };
                Ok(Ok((found, tx.promotion_content(merchant, &promotion)?)))
            })
            .await?
    }

    /// Every content of a merchant's promotions, by promotion.
    pub async fn contents(
        &self,
        merchant: MerchantId,
    ) -> Result<HashMap<PromotionId, ContentRow>, DbError> {
        let rows = self
            .repo
            .read(move |tx| tx.promotion_contents(merchant))
            .await?;
        Ok(rows
            .into_iter()
            .map(|c| (c.promotion_id.clone(), c))
            .collect())
    }

    /// Saves a promotion's content, replacing what was: the promotion must
    /// be in the current rules, its pictures stored, its description not
    /// too long, and its period end after its start. Returns what was
    /// before and what is now.
    #[tracing::instrument(skip_all, fields(%merchant, %promotion))]
    pub async fn save(
        &self,
        merchant: MerchantId,
        promotion: PromotionId,
        update: ContentUpdate,
    ) -> Result<(Option<ContentRow>, ContentRow), ContentError> {
        check(&update)?;
        // Instants as both backends keep them: to the microsecond.
        let now = self.clock.now().trunc_subsecs(6);
        let micros = |t: Option<DateTime<Utc>>| t.map(|t| t.trunc_subsecs(6));
        self.repo
            .write(move |tx| {
                if current_promotion(tx, merchant, &promotion)?.is_none() {
                    return Ok(Err(ContentError::UnknownPromotion));
                }
                for (field, hash) in [("picture", update.picture), ("poster", update.poster)] {
                    if let Some(hash) = hash
                        && tx.media_info(&hash)?.is_none()
                    {
                        return Ok(Err(ContentError::Invalid {
                            field,
                            message_id: "content-error-unknown-picture",
                        }));
                    }
                }
                let before = tx.promotion_content(merchant, &promotion)?;
                let row = ContentRow {
                    merchant_id: merchant,
                    promotion_id: promotion,
                    picture: update.picture,
                    poster: update.poster,
                    description: update.description,
                    shown_from: micros(update.shown_from),
                    shown_until: micros(update.shown_until),
                    updated_at: now,
                };
                tx.put_promotion_content(&row)?;
                Ok(Ok((before, row)))
            })
            .await?
    }
}

/// The fields' own checks, before any storage.
fn check(update: &ContentUpdate) -> Result<(), ContentError> {
    if update.description.chars().count() > rich_text::MAX_CHARS {
        return Err(ContentError::Invalid {
            field: "description",
            message_id: "content-error-description-long",
        });
    }
    if let (Some(from), Some(until)) = (update.shown_from, update.shown_until)
        && until <= from
    {
        return Err(ContentError::Invalid {
            field: "shown_until",
            message_id: "content-error-period",
        });
    }
    Ok(())
}

/// The promotion `promotion` of the merchant's current rules.
fn current_promotion(
    tx: &mut dyn crate::db::Tx,
    merchant: MerchantId,
    promotion: &PromotionId,
) -> Result<Option<Promotion>, DbError> {
    Ok(tx.current_ruleset(merchant)?.and_then(|current| {
        current
            .ruleset
            .promotions
            .into_iter()
            .find(|p| p.id == *promotion)
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn promotion(starts: Option<&str>, ends: Option<&str>) -> Promotion {
        serde_json::from_value(serde_json::json!({
            "id": "p", "name": "P", "target": {"kind": "basket"},
            "reward": {"kind": "percent_off", "percent": 1000},
            "starts_at": starts, "ends_at": ends,
        }))
        .unwrap()
    }

    fn content(from: Option<&str>, until: Option<&str>) -> ContentRow {
        ContentRow {
            merchant_id: MerchantId::new(1).unwrap(),
            promotion_id: PromotionId::parse("p").unwrap(),
            picture: None,
            poster: None,
            description: String::new(),
            shown_from: from.map(|t| t.parse().unwrap()),
            shown_until: until.map(|t| t.parse().unwrap()),
            updated_at: "2026-01-01T00:00:00Z".parse().unwrap(),
        }
    }

    #[test]
    fn the_publication_period_decides_apart_from_the_pricing_period() {
        let now: DateTime<Utc> = "2026-03-10T12:00:00Z".parse().unwrap();
        let priced_now = promotion(None, None);
        let priced_later = promotion(Some("2026-04-01T00:00:00Z"), None);
        // No content, or content without a period: the pricing period.
        assert!(is_published(&priced_now, None, now));
        assert!(!is_published(&priced_later, None, now));
        assert!(is_published(&priced_now, Some(&content(None, None)), now));
        // Announced before it prices.
        let announced = content(Some("2026-03-01T00:00:00Z"), None);
        assert!(is_published(&priced_later, Some(&announced), now));
        // Taken off the phones while it still prices; the end is exclusive.
        let over = content(None, Some("2026-03-10T12:00:00Z"));
        assert!(!is_published(&priced_now, Some(&over), now));
        let not_yet = content(Some("2026-03-10T12:00:01Z"), None);
        assert!(!is_published(&priced_now, Some(&not_yet), now));
    }

    #[test]
    fn a_period_ending_before_it_starts_and_a_long_description_are_refused() {
        let at = |t: &str| Some(t.parse().unwrap());
        let backwards = ContentUpdate {
            shown_from: at("2026-03-10T00:00:00Z"),
            shown_until: at("2026-03-09T00:00:00Z"),
            ..ContentUpdate::default()
        };
        assert!(matches!(
            check(&backwards),
            Err(ContentError::Invalid {
                field: "shown_until",
                ..
            })
        ));
        let long = ContentUpdate {
            description: "ж".repeat(rich_text::MAX_CHARS + 1),
            ..ContentUpdate::default()
        };
        assert!(matches!(
            check(&long),
            Err(ContentError::Invalid {
                field: "description",
                ..
            })
        ));
        assert!(check(&ContentUpdate::default()).is_ok());
    }
}
