//! [`ReferralsTx`] on PostgreSQL. Several instances may reward at once:
//! marking a referral rewarded updates its row only while it is not, so
//! the second instance waits for the first to commit and then marks (and
//! credits) nothing.

use chrono::{DateTime, Utc};
use postgres::Row;
use shared::ids::{CustomerId, MerchantId};

use super::PgTx;
use super::columns::{all, int, opt_days, sql_int};
use crate::db::{DbError, NewReferral, ReferralRow, ReferralsTx, RewardCandidate};

/// The id of the first stored sale of the friend of referral `f`.
macro_rules! first_sale {
    () => {
        "(SELECT MIN(r.id) FROM records r WHERE r.customer_id = f.referred_id AND r.kind = 'sale')"
    };
}

fn referral_row(row: &Row) -> Result<ReferralRow, DbError> {
    Ok(ReferralRow {
        id: row.try_get(0)?,
        referrer_id: int(row, 1)?,
        referrer_name: row.try_get(2)?,
        referred_id: int(row, 3)?,
        referred_name: row.try_get(4)?,
        offer: row.try_get(5)?,
        created_at: row.try_get(6)?,
        first_purchase_at: row.try_get(7)?,
        rewarded_at: row.try_get(8)?,
    })
}

impl ReferralsTx for PgTx<'_, '_> {
    fn referral_code(&mut self, customer: CustomerId) -> Result<Option<String>, DbError> {
        self.query_opt(
            "SELECT code FROM referral_codes WHERE customer_id = $1",
            &[&customer.get()],
        )?
        .map(|row| row.try_get(0).map_err(DbError::from))
        .transpose()
    }

    fn insert_referral_code(
        &mut self,
        merchant: MerchantId,
        customer: CustomerId,
        code: &str,
    ) -> Result<bool, DbError> {
        let stored = self.execute(
            "INSERT INTO referral_codes (customer_id, merchant_id, code) VALUES ($1, $2, $3)
             ON CONFLICT DO NOTHING",
            &[&customer.get(), &merchant.get(), &code],
        )?;
        Ok(stored == 1)
    }

    fn customer_by_referral_code(
        &mut self,
        merchant: MerchantId,
        code: &str,
    ) -> Result<Option<CustomerId>, DbError> {
        self.query_opt(
            "SELECT customer_id FROM referral_codes WHERE merchant_id = $1 AND code = $2",
            &[&merchant.get(), &code],
        )?
        .map(|row| int(&row, 0))
        .transpose()
    }

    fn phone_referred(&mut self, merchant: MerchantId, phone: &str) -> Result<bool, DbError> {
        Ok(self
            .query_opt(
                "SELECT 1 FROM referrals WHERE merchant_id = $1 AND referred_phone = $2",
                &[&merchant.get(), &phone],
            )?
            .is_some())
    }

    fn insert_referral(&mut self, new: &NewReferral) -> Result<Option<i64>, DbError> {
        self.query_opt(
            "INSERT INTO referrals (merchant_id, referrer_id, referred_id, referred_phone,
                 offer, created_at)
             VALUES ($1, $2, $3, $4, $5, $6)
             ON CONFLICT DO NOTHING RETURNING id",
            &[
                &new.merchant_id.get(),
                &new.referrer_id.get(),
                &new.referred_id.get(),
                &new.referred_phone,
                &new.offer,
                &new.at,
            ],
        )?
        .map(|row| row.try_get(0).map_err(DbError::from))
        .transpose()
    }

    fn referrals(&mut self, merchant: MerchantId) -> Result<Vec<ReferralRow>, DbError> {
        let rows = self.query(
            concat!(
                "SELECT f.id, f.referrer_id, a.name, f.referred_id, b.name, f.offer, f.created_at,
                        (SELECT wall_time FROM records WHERE id = ",
                first_sale!(),
                "), f.rewarded_at
                 FROM referrals f
                 JOIN customers a ON a.id = f.referrer_id
                 JOIN customers b ON b.id = f.referred_id
                 WHERE f.merchant_id = $1 ORDER BY f.id DESC"
            ),
            &[&merchant.get()],
        )?;
        all(&rows, referral_row)
    }

    fn reward_candidates(
        &mut self,
        after: i64,
        limit: usize,
    ) -> Result<Vec<RewardCandidate>, DbError> {
        let rows = self.query(
            concat!(
                "SELECT f.id, f.merchant_id, f.referrer_id, f.referred_id, b.name, r.wall_time,
                        v.version, v.points_pending_days
                 FROM referrals f
                 JOIN customers b ON b.id = f.referred_id
                 JOIN records r ON r.id = ",
                first_sale!(),
                "
                 LEFT JOIN ruleset_releases v
                     ON v.merchant_id = r.merchant_id AND v.version = r.ruleset_version
                 WHERE f.rewarded_at IS NULL AND f.id > $1
                 ORDER BY f.id LIMIT $2"
            ),
            &[&after, &sql_int(limit)],
        )?;
        all(&rows, |row| {
            Ok(RewardCandidate {
                id: row.try_get(0)?,
                merchant_id: int(row, 1)?,
                referrer_id: int(row, 2)?,
                referred_id: int(row, 3)?,
                referred_name: row.try_get(4)?,
                first_purchase_at: row.try_get(5)?,
                pending_days: match row.try_get::<_, Option<i64>>(6)? {
                    Some(_) => opt_days(row, 7)?,
                    None => None,
                },
            })
        })
    }

    fn mark_referral_rewarded(&mut self, id: i64, at: DateTime<Utc>) -> Result<bool, DbError> {
        let marked = self.execute(
            "UPDATE referrals SET rewarded_at = $1 WHERE id = $2 AND rewarded_at IS NULL",
            &[&at, &id],
        )?;
        Ok(marked == 1)
    }
}
