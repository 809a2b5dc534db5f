//! [`ContentTx`] on SQLite.

use rusqlite::{OptionalExtension as _, Row, params};
use shared::crypto::Hash256;
use shared::ids::{MerchantId, PromotionId};

use super::SqliteTx;
use super::columns::{hash, int, opt_time, parsed, time, time_text};
use crate::db::{ContentRow, ContentTx, DbError, MediaInfo, MediaRow, MediaVariant};

/// Reads a nullable hash column.
fn opt_hash(row: &Row<'_>, idx: usize) -> rusqlite::Result<Option<Hash256>> {
    match row.get_ref(idx)? {
        rusqlite::types::ValueRef::Null => Ok(None),
        _ => hash(row, idx).map(Some),
    }
}

fn content_row(row: &Row<'_>) -> rusqlite::Result<ContentRow> {
    Ok(ContentRow {
        merchant_id: int(row, 0)?,
        promotion_id: parsed(row, 1, |s: &str| PromotionId::parse(s))?,
        picture: opt_hash(row, 2)?,
        poster: opt_hash(row, 3)?,
        description: row.get(4)?,
        shown_from: opt_time(row, 5)?,
        shown_until: opt_time(row, 6)?,
        updated_at: time(row, 7)?,
    })
}

const CONTENT_COLUMNS: &str = "SELECT merchant_id, promotion_id, picture, poster, description,
     shown_from, shown_until, updated_at FROM promotion_content";

impl ContentTx for SqliteTx<'_> {
    fn insert_media(&mut self, media: &MediaRow) -> Result<bool, DbError> {
        let stored = self.tx.execute(
            "INSERT INTO media (hash, content_type, bytes, width, height, thumbnail,
                 thumbnail_width, thumbnail_height, created_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9) ON CONFLICT (hash) DO NOTHING",
            params![
                &media.hash.0[..],
                media.content_type,
                media.bytes,
                media.width,
                media.height,
                media.thumbnail,
                media.thumbnail_width,
                media.thumbnail_height,
                time_text(media.created_at)
            ],
        )?;
        Ok(stored == 1)
    }

    fn media_info(&mut self, hash: &Hash256) -> Result<Option<MediaInfo>, DbError> {
        Ok(self
            .tx
            .prepare_cached(
                "SELECT hash, content_type, width, height, thumbnail_width, thumbnail_height
                 FROM media WHERE hash = ?1",
            )?
            .query_row([&hash.0[..]], |row| {
                Ok(MediaInfo {
                    hash: super::columns::hash(row, 0)?,
                    content_type: row.get(1)?,
                    width: int(row, 2)?,
                    height: int(row, 3)?,
                    thumbnail_width: int(row, 4)?,
                    thumbnail_height: int(row, 5)?,
                })
            })
            .optional()?)
    }

    fn media_bytes(
        &mut self,
        hash: &Hash256,
        variant: MediaVariant,
    ) -> Result<Option<(String, Vec<u8>)>, DbError> {
        let sql = match variant {
            MediaVariant::Full => "SELECT content_type, bytes FROM media WHERE hash = ?1",
            MediaVariant::Thumbnail => "SELECT content_type, thumbnail FROM media WHERE hash = ?1",
        };
        Ok(self
            .tx
            .prepare_cached(sql)?
            .query_row([&hash.0[..]], |row| Ok((row.get(0)?, row.get(1)?)))
            .optional()?)
    }

    fn promotion_content(
        &mut self,
        merchant: MerchantId,
        promotion: &PromotionId,
    ) -> Result<Option<ContentRow>, DbError> {
        Ok(self
            .tx
            .prepare_cached(&format!(
                "{CONTENT_COLUMNS} WHERE merchant_id = ?1 AND promotion_id = ?2"
            ))?
            .query_row(params![merchant.get(), promotion.as_str()], content_row)
            .optional()?)
    }

    fn promotion_contents(&mut self, merchant: MerchantId) -> Result<Vec<ContentRow>, DbError> {
        let mut stmt = self.tx.prepare_cached(&format!(
            "{CONTENT_COLUMNS} WHERE merchant_id = ?1 ORDER BY promotion_id"
        ))?;
        let rows = stmt.query_map([merchant.get()], content_row)?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    fn put_promotion_content(&mut self, c: &ContentRow) -> Result<(), DbError> {
        self.tx.execute(
            "INSERT INTO promotion_content (merchant_id, promotion_id, picture, poster,
                 description, shown_from, shown_until, updated_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)
             ON CONFLICT (merchant_id, promotion_id) DO UPDATE SET
                 picture = excluded.picture, poster = excluded.poster,
                 description = excluded.description, shown_from = excluded.shown_from,
                 shown_until = excluded.shown_until, updated_at = excluded.updated_at",
            params![
                c.merchant_id.get(),
                c.promotion_id.as_str(),
                c.picture.as_ref().map(|h| h.0.to_vec()),
                c.poster.as_ref().map(|h| h.0.to_vec()),
                c.description,
                c.shown_from.map(time_text),
                c.shown_until.map(time_text),
                time_text(c.updated_at)
            ],
        )?;
        Ok(())
    }
}
