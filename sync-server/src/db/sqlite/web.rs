//! [`WebStorage`] on SQLite: HQ sessions, personal links, offer reviews and
//! the brand list.

use chrono::{DateTime, Utc};
use rusqlite::{OptionalExtension as _, Row, Transaction, params};
use shared::crypto::Hash256;
use shared::ids::{CustomerId, MerchantId};
use shared::wire::admin::Brand;

use super::SqliteDatabase;
use super::catalog::merchant_currency;
use super::columns::{int, sql_int, text, time, time_text};
use crate::db::{
    AdminSession, DbError, DbFuture, NewAdminSession, OfferRating, OfferReview, Rating, WebStorage,
};

impl WebStorage for SqliteDatabase {
    fn brands(&self, merchant: MerchantId) -> DbFuture<'_, Vec<Brand>> {
        Box::pin(self.read(move |tx| brands(tx, merchant)))
    }

    fn create_admin_session(&self, session: NewAdminSession) -> DbFuture<'_, ()> {
        Box::pin(self.write(move |tx| create_admin_session(tx, &session)))
    }

    fn admin_session(
        &self,
        id_hash: Hash256,
        now: DateTime<Utc>,
    ) -> DbFuture<'_, Option<AdminSession>> {
        Box::pin(self.read(move |tx| admin_session(tx, &id_hash, now)))
    }

    fn end_admin_session(&self, id_hash: Hash256) -> DbFuture<'_, ()> {
        Box::pin(self.write(move |tx| {
            tx.execute(
                "DELETE FROM admin_sessions WHERE id_hash = ?1",
                [&id_hash.0[..]],
            )?;
            Ok(())
        }))
    }

    fn set_customer_link(
        &self,
        customer: CustomerId,
        secret_hash: Hash256,
        now: DateTime<Utc>,
    ) -> DbFuture<'_, ()> {
        Box::pin(self.write(move |tx| set_customer_link(tx, customer, &secret_hash, now)))
    }

    fn customer_by_link(&self, secret_hash: Hash256) -> DbFuture<'_, Option<CustomerId>> {
        Box::pin(self.read(move |tx| {
            Ok(tx
                .query_row(
                    "SELECT customer_id FROM customer_links WHERE secret_hash = ?1",
                    [&secret_hash.0[..]],
                    |row| int(row, 0),
                )
                .optional()?)
        }))
    }

    fn save_offer_review(&self, review: OfferReview) -> DbFuture<'_, ()> {
        Box::pin(self.write(move |tx| save_offer_review(tx, &review)))
    }

    fn offer_ratings(&self, merchant: MerchantId) -> DbFuture<'_, Vec<OfferRating>> {
        Box::pin(self.read(move |tx| offer_ratings(tx, merchant)))
    }

    fn customer_reviews(&self, customer: CustomerId) -> DbFuture<'_, Vec<OfferReview>> {
        Box::pin(self.read(move |tx| {
            reviews(
                tx,
                "WHERE customer_id = ?1 ORDER BY promotion_id",
                params![customer.get()],
            )
        }))
    }

    fn recent_offer_reviews(
        &self,
        merchant: MerchantId,
        limit: usize,
    ) -> DbFuture<'_, Vec<OfferReview>> {
        Box::pin(self.read(move |tx| {
            reviews(
                tx,
                "WHERE merchant_id = ?1 ORDER BY updated_at DESC, customer_id LIMIT ?2",
                params![merchant.get(), sql_int(limit)],
            )
        }))
    }
}

fn brands(tx: &Transaction<'_>, merchant: MerchantId) -> Result<Vec<Brand>, DbError> {
    merchant_currency(tx, merchant)?;
    let mut stmt =
        tx.prepare("SELECT id, merchant_id, name FROM brands WHERE merchant_id = ?1 ORDER BY id")?;
    let rows = stmt.query_map([merchant.get()], |row| {
        Ok(Brand {
            id: int(row, 0)?,
            merchant_id: int(row, 1)?,
            name: row.get(2)?,
        })
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}

fn create_admin_session(tx: &Transaction<'_>, session: &NewAdminSession) -> Result<(), DbError> {
    tx.execute(
        "DELETE FROM admin_sessions WHERE expires_at_unix <= ?1",
        [session.created_at.timestamp()],
    )?;
    tx.execute(
        "INSERT INTO admin_sessions (id_hash, csrf_token, created_at, expires_at_unix)
         VALUES (?1, ?2, ?3, ?4)",
        params![
            &session.id_hash.0[..],
            session.csrf_token,
            time_text(session.created_at),
            session.expires_at.timestamp()
        ],
    )?;
    Ok(())
}

fn admin_session(
    tx: &Transaction<'_>,
    id_hash: &Hash256,
    now: DateTime<Utc>,
) -> Result<Option<AdminSession>, DbError> {
    let found = tx
        .query_row(
            "SELECT csrf_token, expires_at_unix FROM admin_sessions
             WHERE id_hash = ?1 AND expires_at_unix > ?2",
            params![&id_hash.0[..], now.timestamp()],
            |row| Ok((row.get::<_, String>(0)?, row.get::<_, i64>(1)?)),
        )
        .optional()?;
    found
        .map(|(csrf_token, expires)| {
            let expires_at = DateTime::from_timestamp(expires, 0).ok_or_else(|| {
                DbError::Other(format!("session expiry {expires} is out of range").into())
            })?;
            Ok(AdminSession {
                csrf_token,
                expires_at,
            })
        })
        .transpose()
}

fn set_customer_link(
    tx: &Transaction<'_>,
    customer: CustomerId,
    secret_hash: &Hash256,
    now: DateTime<Utc>,
) -> Result<(), DbError> {
    let known: Option<i64> = tx
        .query_row(
            "SELECT 1 FROM customers WHERE id = ?1",
            [customer.get()],
            |row| row.get(0),
        )
        .optional()?;
    if known.is_none() {
        return Err(DbError::NotFound(format!("customer {customer}")));
    }
    tx.execute(
        "INSERT INTO customer_links (customer_id, secret_hash, created_at) VALUES (?1, ?2, ?3)
         ON CONFLICT (customer_id) DO UPDATE
             SET secret_hash = excluded.secret_hash, created_at = excluded.created_at",
        params![customer.get(), &secret_hash.0[..], time_text(now)],
    )?;
    Ok(())
}

fn save_offer_review(tx: &Transaction<'_>, review: &OfferReview) -> Result<(), DbError> {
    let now = time_text(review.updated_at);
    tx.execute(
        "INSERT INTO offer_reviews
             (customer_id, merchant_id, promotion_id, rating, body, created_at, updated_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?6)
         ON CONFLICT (customer_id, promotion_id) DO UPDATE
             SET rating = excluded.rating, body = excluded.body,
                 updated_at = excluded.updated_at",
        params![
            review.customer_id.get(),
            review.merchant_id.get(),
            review.promotion_id.as_str(),
            review.rating.stars(),
            review.text,
            now
        ],
    )?;
    Ok(())
}

fn offer_ratings(tx: &Transaction<'_>, merchant: MerchantId) -> Result<Vec<OfferRating>, DbError> {
    let mut stmt = tx.prepare(
        "SELECT promotion_id, COUNT(*), SUM(rating) FROM offer_reviews
         WHERE merchant_id = ?1 GROUP BY promotion_id ORDER BY promotion_id",
    )?;
    let rows = stmt.query_map([merchant.get()], |row| {
        Ok(OfferRating {
            promotion_id: text(row, 0)?,
            reviews: row.get(1)?,
            stars_total: row.get(2)?,
        })
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}

fn reviews(
    tx: &Transaction<'_>,
    filter: &str,
    params: &[&dyn rusqlite::ToSql],
) -> Result<Vec<OfferReview>, DbError> {
    let sql = format!(
        "SELECT customer_id, merchant_id, promotion_id, rating, body, updated_at
         FROM offer_reviews {filter}"
    );
    let mut stmt = tx.prepare(&sql)?;
    let rows = stmt.query_map(params, review_row)?;
    Ok(rows.collect::<Result<_, _>>()?)
}

fn review_row(row: &Row<'_>) -> rusqlite::Result<OfferReview> {
    Ok(OfferReview {
        customer_id: int(row, 0)?,
        merchant_id: int(row, 1)?,
        promotion_id: text(row, 2)?,
        rating: parsed_rating(row, 3)?,
        text: row.get(4)?,
        updated_at: time(row, 5)?,
    })
}

fn parsed_rating(row: &Row<'_>, idx: usize) -> rusqlite::Result<Rating> {
    let stars: i64 = row.get(idx)?;
    Rating::new(stars).ok_or_else(|| {
        rusqlite::Error::FromSqlConversionFailure(
            idx,
            rusqlite::types::Type::Integer,
            format!("a rating must be 1..=5, not {stars}").into(),
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::db::Database as _;
    use shared::crypto::sha256;
    use shared::ids::PromotionId;
    use shared::money::Currency;
    use shared::wire::admin::{NewCustomer, NewMerchant};

    fn at(rfc3339: &str) -> DateTime<Utc> {
        rfc3339.parse().unwrap()
    }

    async fn database() -> (tempfile::TempDir, SqliteDatabase) {
        let dir = tempfile::tempdir().unwrap();
        let db = SqliteDatabase::open(&dir.path().join("test.db"))
            .await
            .unwrap();
        (dir, db)
    }

    #[tokio::test]
    async fn sessions_live_until_they_expire_or_end() {
        let (_dir, db) = database().await;
        let id_hash = sha256(b"session id");
        db.create_admin_session(NewAdminSession {
            id_hash,
            csrf_token: "form token".into(),
            created_at: at("2026-03-01T08:00:00Z"),
            expires_at: at("2026-03-01T20:00:00Z"),
        })
        .await
        .unwrap();
        let live = db
            .admin_session(id_hash, at("2026-03-01T19:59:59Z"))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(live.csrf_token, "form token");
        assert!(
            db.admin_session(id_hash, at("2026-03-01T20:00:00Z"))
                .await
                .unwrap()
                .is_none()
        );
        assert!(
            db.admin_session(sha256(b"another"), at("2026-03-01T09:00:00Z"))
                .await
                .unwrap()
                .is_none()
        );
        db.end_admin_session(id_hash).await.unwrap();
        assert!(
            db.admin_session(id_hash, at("2026-03-01T09:00:00Z"))
                .await
                .unwrap()
                .is_none()
        );
    }

    #[tokio::test]
    async fn a_new_link_replaces_the_old_and_reviews_are_one_per_offer() {
        let (_dir, db) = database().await;
        let merchant = db
            .create_merchant(NewMerchant {
                name: "M".into(),
                currency: Currency::RUB,
            })
            .await
            .unwrap();
        let customer = db
            .create_customer(
                merchant.id,
                NewCustomer {
                    name: "Анна".into(),
                    phone: None,
                    email: None,
                    gender: Default::default(),
                    birth_date: None,
                },
            )
            .await
            .unwrap();
        let now = at("2026-03-01T08:00:00Z");
        db.set_customer_link(customer, sha256(b"first"), now)
            .await
            .unwrap();
        db.set_customer_link(customer, sha256(b"second"), now)
            .await
            .unwrap();
        assert_eq!(db.customer_by_link(sha256(b"first")).await.unwrap(), None);
        assert_eq!(
            db.customer_by_link(sha256(b"second")).await.unwrap(),
            Some(customer)
        );
        let unknown = CustomerId::new(999).unwrap();
        assert!(matches!(
            db.set_customer_link(unknown, sha256(b"x"), now).await,
            Err(DbError::NotFound(_))
        ));

        let milk = PromotionId::parse("milk").unwrap();
        for (stars, text) in [(2, "так себе"), (5, "передумала: отлично")] {
            db.save_offer_review(OfferReview {
                customer_id: customer,
                merchant_id: merchant.id,
                promotion_id: milk.clone(),
                rating: Rating::new(stars).unwrap(),
                text: text.into(),
                updated_at: now,
            })
            .await
            .unwrap();
        }
        let ratings = db.offer_ratings(merchant.id).await.unwrap();
        assert_eq!(
            ratings,
            vec![OfferRating {
                promotion_id: milk.clone(),
                reviews: 1,
                stars_total: 5
            }]
        );
        let mine = db.customer_reviews(customer).await.unwrap();
        assert_eq!(mine.len(), 1);
        assert_eq!(mine[0].text, "передумала: отлично");
        assert_eq!(
            db.recent_offer_reviews(merchant.id, 10).await.unwrap(),
            mine
        );
        assert_eq!(Rating::new(0), None);
        assert_eq!(Rating::new(6), None);
    }
}
