//! [`ContentTx`] on PostgreSQL.

use postgres::Row;
use shared::crypto::Hash256;
use shared::ids::{MerchantId, PromotionId};

use super::PgTx;
use super::columns::{all, hash, int, opt_hash, parsed};
use crate::db::{ContentRow, ContentTx, DbError, MediaInfo, MediaRow, MediaVariant};

fn content_row(row: &Row) -> Result<ContentRow, DbError> {
    Ok(ContentRow {
        merchant_id: int(row, 0)?,
        promotion_id: parsed(row, 1, |s: &str| PromotionId::parse(s))?,
        picture: opt_hash(row, 2)?,
        poster: opt_hash(row, 3)?,
        description: row.try_get(4)?,
        shown_from: row.try_get(5)?,
        shown_until: row.try_get(6)?,
        updated_at: row.try_get(7)?,
    })
}

const CONTENT_COLUMNS: &str = "SELECT merchant_id, promotion_id, picture, poster, description,
     shown_from, shown_until, updated_at FROM promotion_content";

impl ContentTx for PgTx<'_, '_> {
    fn insert_media(&mut self, media: &MediaRow) -> Result<bool, DbError> {
        let stored = self.execute(
            "INSERT INTO media (hash, content_type, bytes, width, height, thumbnail,
                 thumbnail_width, thumbnail_height, created_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) ON CONFLICT (hash) DO NOTHING",
            &[
                &&media.hash.0[..],
                &media.content_type,
                &media.bytes,
                &i64::from(media.width),
                &i64::from(media.height),
                &media.thumbnail,
                &i64::from(media.thumbnail_width),
                &i64::from(media.thumbnail_height),
                &media.created_at,
            ],
        )?;
        Ok(stored == 1)
    }

    fn media_info(&mut self, hash_: &Hash256) -> Result<Option<MediaInfo>, DbError> {
        let row = self.query_opt(
            "SELECT hash, content_type, width, height, thumbnail_width, thumbnail_height
             FROM media WHERE hash = $1",
            &[&&hash_.0[..]],
        )?;
        row.map(|row| -> Result<MediaInfo, DbError> {
            Ok(MediaInfo {
                hash: hash(&row, 0)?,
                content_type: row.try_get(1)?,
                width: int(&row, 2)?,
                height: int(&row, 3)?,
                thumbnail_width: int(&row, 4)?,
                thumbnail_height: int(&row, 5)?,
            })
        })
        .transpose()
    }

    fn media_bytes(
        &mut self,
        hash_: &Hash256,
        variant: MediaVariant,
    ) -> Result<Option<(String, Vec<u8>)>, DbError> {
        let sql = match variant {
            MediaVariant::Full => "SELECT content_type, bytes FROM media WHERE hash = $1",
            MediaVariant::Thumbnail => "SELECT content_type, thumbnail FROM media WHERE hash = $1",
        };
        let row = self.query_opt(sql, &[&&hash_.0[..]])?;
        row.map(|row| -> Result<(String, Vec<u8>), DbError> {
            Ok((row.try_get(0)?, row.try_get(1)?))
        })
        .transpose()
    }

    fn promotion_content(
        &mut self,
        merchant: MerchantId,
        promotion: &PromotionId,
    ) -> Result<Option<ContentRow>, DbError> {
        let row = self.query_opt(
            &format!("{CONTENT_COLUMNS} WHERE merchant_id = $1 AND promotion_id = $2"),
            &[&merchant.get(), &promotion.as_str()],
        )?;
        row.as_ref().map(content_row).transpose()
    }

    fn promotion_contents(&mut self, merchant: MerchantId) -> Result<Vec<ContentRow>, DbError> {
        let rows = self.query(
            &format!("{CONTENT_COLUMNS} WHERE merchant_id = $1 ORDER BY promotion_id"),
            &[&merchant.get()],
        )?;
        all(&rows, content_row)
    }

    fn put_promotion_content(&mut self, c: &ContentRow) -> Result<(), DbError> {
        let picture = c.picture.as_ref().map(|h| h.0.to_vec());
        let poster = c.poster.as_ref().map(|h| h.0.to_vec());
        self.execute(
            "INSERT INTO promotion_content (merchant_id, promotion_id, picture, poster,
                 description, shown_from, shown_until, updated_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
             ON CONFLICT (merchant_id, promotion_id) DO UPDATE SET
                 picture = excluded.picture, poster = excluded.poster,
                 description = excluded.description, shown_from = excluded.shown_from,
                 shown_until = excluded.shown_until, updated_at = excluded.updated_at",
            &[
                &c.merchant_id.get(),
                &c.promotion_id.as_str(),
                &picture,
                &poster,
                &c.description,
                &c.shown_from,
                &c.shown_until,
                &c.updated_at,
            ],
        )?;
        Ok(())
    }
}
