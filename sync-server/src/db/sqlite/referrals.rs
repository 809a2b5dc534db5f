//! [`ReferralsTx`] on SQLite. One writer: marking a referral rewarded and
//! crediting it commit together.

use chrono::{DateTime, Utc};
use rusqlite::{OptionalExtension as _, Row, params};
use shared::ids::{CustomerId, MerchantId};

use super::SqliteTx;
use super::columns::{int, opt_time, sql_int, time, time_text};
use crate::db::{DbError, NewReferral, ReferralRow, ReferralsTx, RewardCandidate};

/// The id of the first stored sale of the friend of referral `f`.
const FIRST_SALE: &str =
    "(SELECT MIN(r.id) FROM records r WHERE r.customer_id = f.referred_id AND r.kind = 'sale')";

fn referral_row(row: &Row<'_>) -> rusqlite::Result<ReferralRow> {
    Ok(ReferralRow {
        id: row.get(0)?,
        referrer_id: int(row, 1)?,
        referrer_name: row.get(2)?,
        referred_id: int(row, 3)?,
        referred_name: row.get(4)?,
        offer: row.get(5)?,
        created_at: time(row, 6)?,
        first_purchase_at: opt_time(row, 7)?,
        rewarded_at: opt_time(row, 8)?,
    })
}

impl ReferralsTx for SqliteTx<'_> {
    fn referral_code(&mut self, customer: CustomerId) -> Result<Option<String>, DbError> {
        Ok(self
            .tx
            .prepare_cached("SELECT code FROM referral_codes WHERE customer_id = ?1")?
            .query_row([customer.get()], |row| row.get(0))
            .optional()?)
    }

    fn insert_referral_code(
        &mut self,
        merchant: MerchantId,
        customer: CustomerId,
        code: &str,
    ) -> Result<bool, DbError> {
        let stored = self.tx.execute(
            "INSERT INTO referral_codes (customer_id, merchant_id, code) VALUES (?1, ?2, ?3)
             ON CONFLICT DO NOTHING",
            params![customer.get(), merchant.get(), code],
        )?;
        Ok(stored == 1)
    }

    fn customer_by_referral_code(
        &mut self,
        merchant: MerchantId,
        code: &str,
    ) -> Result<Option<CustomerId>, DbError> {
        Ok(self
            .tx
            .prepare_cached(
                "SELECT customer_id FROM referral_codes WHERE merchant_id = ?1 AND code = ?2",
            )?
            .query_row(params![merchant.get(), code], |row| int(row, 0))
            .optional()?)
    }

    fn phone_referred(&mut self, merchant: MerchantId, phone: &str) -> Result<bool, DbError> {
        Ok(self
            .tx
            .prepare_cached(
                "SELECT 1 FROM referrals WHERE merchant_id = ?1 AND referred_phone = ?2",
            )?
            .query_row(params![merchant.get(), phone], |_| Ok(()))
            .optional()?
            .is_some())
    }

    fn insert_referral(&mut self, new: &NewReferral) -> Result<Option<i64>, DbError> {
        Ok(self
            .tx
            .query_row(
                "INSERT INTO referrals (merchant_id, referrer_id, referred_id, referred_phone,
                     offer, created_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)
                 ON CONFLICT DO NOTHING RETURNING id",
                params![
                    new.merchant_id.get(),
                    new.referrer_id.get(),
                    new.referred_id.get(),
                    new.referred_phone,
                    new.offer,
                    time_text(new.at)
                ],
                |row| row.get(0),
            )
            .optional()?)
    }

    fn referrals(&mut self, merchant: MerchantId) -> Result<Vec<ReferralRow>, DbError> {
        let sql = format!(
            "SELECT f.id, f.referrer_id, a.name, f.referred_id, b.name, f.offer, f.created_at,
                    (SELECT wall_time FROM records WHERE id = {FIRST_SALE}), f.rewarded_at
             FROM referrals f
             JOIN customers a ON a.id = f.referrer_id
             JOIN customers b ON b.id = f.referred_id
             WHERE f.merchant_id = ?1 ORDER BY f.id DESC"
        );
        let mut stmt = self.tx.prepare(&sql)?;
        let rows = stmt.query_map([merchant.get()], referral_row)?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    fn reward_candidates(
        &mut self,
        after: i64,
        limit: usize,
    ) -> Result<Vec<RewardCandidate>, DbError> {
        let sql = format!(
            "SELECT f.id, f.merchant_id, f.referrer_id, f.referred_id, b.name, r.wall_time,
                    v.version, v.points_pending_days
             FROM referrals f
             JOIN customers b ON b.id = f.referred_id
             JOIN records r ON r.id = {FIRST_SALE}
             LEFT JOIN ruleset_releases v
                 ON v.merchant_id = r.merchant_id AND v.version = r.ruleset_version
             WHERE f.rewarded_at IS NULL AND f.id > ?1
             ORDER BY f.id LIMIT ?2"
        );
        let mut stmt = self.tx.prepare(&sql)?;
        let rows = stmt.query_map(params![after, sql_int(limit)], |row| {
            Ok(RewardCandidate {
                id: row.get(0)?,
                merchant_id: int(row, 1)?,
                referrer_id: int(row, 2)?,
                referred_id: int(row, 3)?,
                referred_name: row.get(4)?,
                first_purchase_at: time(row, 5)?,
                pending_days: match row.get::<_, Option<i64>>(6)? {
                    Some(_) => Some(row.get(7)?),
                    None => None,
                },
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    fn mark_referral_rewarded(&mut self, id: i64, at: DateTime<Utc>) -> Result<bool, DbError> {
        let marked = self.tx.execute(
            "UPDATE referrals SET rewarded_at = ?1 WHERE id = ?2 AND rewarded_at IS NULL",
            params![time_text(at), id],
        )?;
        Ok(marked == 1)
    }
}
