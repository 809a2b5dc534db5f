//! [`WebTx`] on PostgreSQL: HQ sessions, personal links and offer reviews.

use chrono::{DateTime, Utc};
use postgres::Row;
use shared::crypto::Hash256;
use shared::ids::{CustomerId, MerchantId};

use super::PgTx;
use super::columns::{all, int, sql_int, text};
use crate::db::{
    AdminSession, DbError, NewAdminSession, OfferRating, OfferReview, Rating, ReviewStatus, WebTx,
};
use shared::ids::PromotionId;

/// The columns [`review_row`] reads.
macro_rules! review_columns {
    () => {
        "SELECT customer_id, merchant_id, promotion_id, rating, body, updated_at, status, reply
         FROM offer_reviews "
    };
}

impl WebTx for PgTx<'_, '_> {
    fn insert_admin_session(&mut self, session: &NewAdminSession) -> Result<(), DbError> {
        self.execute(
            "DELETE FROM admin_sessions WHERE expires_at_unix <= $1",
            &[&session.created_at.timestamp()],
        )?;
        self.execute(
            "INSERT INTO admin_sessions (id_hash, csrf_token, created_at, expires_at_unix,
                 account_id, public_id, created_at_unix)
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
            &[
                &&session.id_hash.0[..],
                &session.csrf_token,
                &session.created_at,
                &session.expires_at.timestamp(),
                &session.account_id.map(|a| a.0),
                &session.public_id,
                &session.created_at.timestamp(),
            ],
        )?;
        Ok(())
    }

    fn admin_session(
        &mut self,
        id_hash: &Hash256,
        now: DateTime<Utc>,
    ) -> Result<Option<AdminSession>, DbError> {
        let found = self.query_opt(
            "SELECT csrf_token, expires_at_unix, account_id FROM admin_sessions
             WHERE id_hash = $1 AND expires_at_unix > $2",
            &[&&id_hash.0[..], &now.timestamp()],
        )?;
        found
            .map(|row| {
                let csrf_token: String = row.try_get(0)?;
                let expires: i64 = row.try_get(1)?;
                let account: Option<i64> = row.try_get(2)?;
                let expires_at = DateTime::from_timestamp(expires, 0).ok_or_else(|| {
                    DbError::other(format!("session expiry {expires} is out of range"))
                })?;
                Ok(AdminSession {
                    csrf_token,
                    expires_at,
                    account_id: account.map(crate::db::AccountId),
                })
            })
            .transpose()
    }

    fn delete_admin_session(&mut self, id_hash: &Hash256) -> Result<(), DbError> {
        self.execute(
            "DELETE FROM admin_sessions WHERE id_hash = $1",
            &[&&id_hash.0[..]],
        )?;
        Ok(())
    }

    fn set_customer_link(
        &mut self,
        customer: CustomerId,
        secret_hash: &Hash256,
        now: DateTime<Utc>,
    ) -> Result<(), DbError> {
        let known = self.query_opt("SELECT 1 FROM customers WHERE id = $1", &[&customer.get()])?;
        if known.is_none() {
            return Err(DbError::NotFound(format!("customer {customer}")));
        }
        self.execute(
            "INSERT INTO customer_links (customer_id, secret_hash, created_at) VALUES ($1, $2, $3)
             ON CONFLICT (customer_id) DO UPDATE
                 SET secret_hash = excluded.secret_hash, created_at = excluded.created_at",
            &[&customer.get(), &&secret_hash.0[..], &now],
        )?;
        Ok(())
    }

    fn customer_by_link(&mut self, secret_hash: &Hash256) -> Result<Option<CustomerId>, DbError> {
        self.query_opt(
            "SELECT customer_id FROM customer_links WHERE secret_hash = $1",
            &[&&secret_hash.0[..]],
        )?
        .map(|row| int(&row, 0))
        .transpose()
    }

    fn save_offer_review(&mut self, review: &OfferReview) -> Result<(), DbError> {
        self.execute(
            "INSERT INTO offer_reviews
                 (customer_id, merchant_id, promotion_id, rating, body, created_at, updated_at)
             VALUES ($1, $2, $3, $4, $5, $6, $6)
             ON CONFLICT (customer_id, promotion_id) DO UPDATE
                 SET rating = excluded.rating, body = excluded.body,
                     updated_at = excluded.updated_at, status = 'pending'",
            &[
                &review.customer_id.get(),
                &review.merchant_id.get(),
                &review.promotion_id.as_str(),
                &i64::from(review.rating.stars()),
                &review.text,
                &review.updated_at,
            ],
        )?;
        Ok(())
    }

    fn offer_ratings(&mut self, merchant: MerchantId) -> Result<Vec<OfferRating>, DbError> {
        let rows = self.query(
            "SELECT promotion_id, COUNT(*), SUM(rating)::BIGINT FROM offer_reviews
             WHERE merchant_id = $1 AND status = 'approved'
             GROUP BY promotion_id ORDER BY promotion_id",
            &[&merchant.get()],
        )?;
        all(&rows, |row| {
            Ok(OfferRating {
                promotion_id: text(row, 0)?,
                reviews: row.try_get(1)?,
                stars_total: row.try_get(2)?,
            })
        })
    }

    fn customer_reviews(&mut self, customer: CustomerId) -> Result<Vec<OfferReview>, DbError> {
        let rows = self.query(
            concat!(
                review_columns!(),
                "WHERE customer_id = $1 ORDER BY promotion_id"
            ),
            &[&customer.get()],
        )?;
        all(&rows, review_row)
    }

    fn recent_offer_reviews(
        &mut self,
        merchant: MerchantId,
        limit: usize,
    ) -> Result<Vec<OfferReview>, DbError> {
        let rows = self.query(
            concat!(
                review_columns!(),
                "WHERE merchant_id = $1 ORDER BY updated_at DESC, customer_id LIMIT $2"
            ),
            &[&merchant.get(), &sql_int(limit)],
        )?;
        all(&rows, review_row)
    }

    fn approved_offer_reviews(
        &mut self,
        merchant: MerchantId,
        limit: usize,
    ) -> Result<Vec<OfferReview>, DbError> {
        let rows = self.query(
            concat!(
                review_columns!(),
                "WHERE merchant_id = $1 AND status = 'approved'
                 ORDER BY updated_at DESC, customer_id LIMIT $2"
            ),
            &[&merchant.get(), &sql_int(limit)],
        )?;
        all(&rows, review_row)
    }

    fn moderate_offer_review(
        &mut self,
        merchant: MerchantId,
        customer: CustomerId,
        promotion: &PromotionId,
        status: ReviewStatus,
        reply: Option<&str>,
        at: DateTime<Utc>,
    ) -> Result<bool, DbError> {
        let changed = self.execute(
            "UPDATE offer_reviews SET status = $1, reply = $2, moderated_at = $3
             WHERE merchant_id = $4 AND customer_id = $5 AND promotion_id = $6",
            &[
                &status.as_str(),
                &reply,
                &at,
                &merchant.get(),
                &customer.get(),
                &promotion.as_str(),
            ],
        )?;
        Ok(changed == 1)
    }
}

fn review_row(row: &Row) -> Result<OfferReview, DbError> {
    let stars: i64 = row.try_get(3)?;
    Ok(OfferReview {
        customer_id: int(row, 0)?,
        merchant_id: int(row, 1)?,
        promotion_id: text(row, 2)?,
        rating: Rating::new(stars)
            .ok_or_else(|| DbError::other(format!("a rating must be 1..=5, not {stars}")))?,
        text: row.try_get(4)?,
        updated_at: row.try_get(5)?,
        status: {
            let status: String = row.try_get(6)?;
            ReviewStatus::parse(&status)
                .ok_or_else(|| DbError::other(format!("unknown review status {status:?}")))?
        },
        reply: row.try_get(7)?,
    })
}
