//! [`WebTx`] on SQLite: HQ sessions, personal links and offer reviews.

use chrono::{DateTime, Utc};
use rusqlite::{OptionalExtension as _, Row, Transaction, params};
use shared::crypto::Hash256;
use shared::ids::{CustomerId, MerchantId};

use super::SqliteTx;
use super::columns::{int, sql_int, text, time, time_text};
use crate::db::{
    AdminSession, DbError, NewAdminSession, OfferRating, OfferReview, Rating, ReviewStatus, WebTx,
};
use shared::ids::PromotionId;

impl WebTx for SqliteTx<'_> {
    fn insert_admin_session(&mut self, session: &NewAdminSession) -> Result<(), DbError> {
        self.tx.execute(
            "DELETE FROM admin_sessions WHERE expires_at_unix <= ?1",
            [session.created_at.timestamp()],
        )?;
        self.tx.execute(
            "INSERT INTO admin_sessions (id_hash, csrf_token, created_at, expires_at_unix,
                 account_id, public_id, created_at_unix)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            params![
                &session.id_hash.0[..],
                session.csrf_token,
                time_text(session.created_at),
                session.expires_at.timestamp(),
                session.account_id.map(|a| a.0),
                session.public_id,
                session.created_at.timestamp()
            ],
        )?;
        Ok(())
    }

    fn admin_session(
        &mut self,
        id_hash: &Hash256,
        now: DateTime<Utc>,
    ) -> Result<Option<AdminSession>, DbError> {
        let found = self
            .tx
            .query_row(
                "SELECT csrf_token, expires_at_unix, account_id FROM admin_sessions
                 WHERE id_hash = ?1 AND expires_at_unix > ?2",
                params![&id_hash.0[..], now.timestamp()],
                |row| {
                    Ok((
                        row.get::<_, String>(0)?,
                        row.get::<_, i64>(1)?,
                        row.get::<_, Option<i64>>(2)?,
                    ))
                },
            )
            .optional()?;
        found
            .map(|(csrf_token, expires, account)| {
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
        self.tx.execute(
            "DELETE FROM admin_sessions WHERE id_hash = ?1",
            [&id_hash.0[..]],
        )?;
        Ok(())
    }

    fn set_customer_link(
        &mut self,
        customer: CustomerId,
        secret_hash: &Hash256,
        now: DateTime<Utc>,
    ) -> Result<(), DbError> {
        let known: Option<i64> = self
            .tx
            .query_row(
                "SELECT 1 FROM customers WHERE id = ?1",
                [customer.get()],
                |row| row.get(0),
            )
            .optional()?;
        if known.is_none() {
            return Err(DbError::NotFound(format!("customer {customer}")));
        }
        self.tx.execute(
            "INSERT INTO customer_links (customer_id, secret_hash, created_at) VALUES (?1, ?2, ?3)
             ON CONFLICT (customer_id) DO UPDATE
                 SET secret_hash = excluded.secret_hash, created_at = excluded.created_at",
            params![customer.get(), &secret_hash.0[..], time_text(now)],
        )?;
        Ok(())
    }

    fn customer_by_link(&mut self, secret_hash: &Hash256) -> Result<Option<CustomerId>, DbError> {
        Ok(self
            .tx
            .query_row(
                "SELECT customer_id FROM customer_links WHERE secret_hash = ?1",
                [&secret_hash.0[..]],
                |row| int(row, 0),
            )
            .optional()?)
    }

    fn save_offer_review(&mut self, review: &OfferReview) -> Result<(), DbError> {
        let now = time_text(review.updated_at);
        self.tx.execute(
            "INSERT INTO offer_reviews
                 (customer_id, merchant_id, promotion_id, rating, body, created_at, updated_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?6)
             ON CONFLICT (customer_id, promotion_id) DO UPDATE
                 SET rating = excluded.rating, body = excluded.body,
                     updated_at = excluded.updated_at, status = 'pending'",
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

    fn offer_ratings(&mut self, merchant: MerchantId) -> Result<Vec<OfferRating>, DbError> {
        let mut stmt = self.tx.prepare(
            "SELECT promotion_id, COUNT(*), SUM(rating) FROM offer_reviews
             WHERE merchant_id = ?1 AND status = 'approved'
             GROUP BY promotion_id ORDER BY promotion_id",
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

    fn customer_reviews(&mut self, customer: CustomerId) -> Result<Vec<OfferReview>, DbError> {
        reviews(
            self.tx,
            "WHERE customer_id = ?1 ORDER BY promotion_id",
            params![customer.get()],
        )
    }

    fn recent_offer_reviews(
        &mut self,
        merchant: MerchantId,
        limit: usize,
    ) -> Result<Vec<OfferReview>, DbError> {
        reviews(
            self.tx,
            "WHERE merchant_id = ?1 ORDER BY updated_at DESC, customer_id LIMIT ?2",
            params![merchant.get(), sql_int(limit)],
        )
    }

    fn approved_offer_reviews(
        &mut self,
        merchant: MerchantId,
        limit: usize,
    ) -> Result<Vec<OfferReview>, DbError> {
        reviews(
            self.tx,
            "WHERE merchant_id = ?1 AND status = 'approved'
             ORDER BY updated_at DESC, customer_id LIMIT ?2",
            params![merchant.get(), sql_int(limit)],
        )
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
        let changed = self.tx.execute(
            "UPDATE offer_reviews SET status = ?1, reply = ?2, moderated_at = ?3
             WHERE merchant_id = ?4 AND customer_id = ?5 AND promotion_id = ?6",
            params![
                status.as_str(),
                reply,
                time_text(at),
                merchant.get(),
                customer.get(),
                promotion.as_str()
            ],
        )?;
        Ok(changed == 1)
    }
}

fn reviews(
    tx: &Transaction<'_>,
    filter: &str,
    params: &[&dyn rusqlite::ToSql],
) -> Result<Vec<OfferReview>, DbError> {
    let sql = format!(
        "SELECT customer_id, merchant_id, promotion_id, rating, body, updated_at, status, reply
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
        status: super::columns::parsed(row, 6, |s| {
            ReviewStatus::parse(s).ok_or_else(|| format!("unknown review status {s:?}"))
        })?,
        reply: row.get(7)?,
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
    use std::sync::Arc;

    use super::*;
    use crate::db::{Repository, SqliteRepository};
    use crate::wire::admin::{NewCustomer, NewMerchant};
    use shared::crypto::sha256;
    use shared::ids::PromotionId;
    use shared::money::Currency;

    fn at(rfc3339: &str) -> DateTime<Utc> {
        rfc3339.parse().unwrap()
    }

    async fn repository() -> (tempfile::TempDir, Arc<dyn Repository>) {
        let dir = tempfile::tempdir().unwrap();
        let repo = SqliteRepository::open(&dir.path().join("test.db"))
            .await
            .unwrap();
        (dir, Arc::new(repo))
    }

    #[tokio::test]
    async fn sessions_live_until_they_expire_or_end() {
        let (_dir, repo) = repository().await;
        let id_hash = sha256(b"session id");
        let session = NewAdminSession {
            id_hash,
            csrf_token: "form token".into(),
            created_at: at("2026-03-01T08:00:00Z"),
            expires_at: at("2026-03-01T20:00:00Z"),
            account_id: None,
            public_id: "s1".into(),
        };
        repo.write(move |tx| tx.insert_admin_session(&session))
            .await
            .unwrap();
        let session_at = |hash: Hash256, when: &str| {
            let when = at(when);
            let repo = repo.clone();
            async move {
                repo.read(move |tx| tx.admin_session(&hash, when))
                    .await
                    .unwrap()
            }
        };
        let live = session_at(id_hash, "2026-03-01T19:59:59Z").await.unwrap();
        assert_eq!(live.csrf_token, "form token");
        assert!(session_at(id_hash, "2026-03-01T20:00:00Z").await.is_none());
        assert!(
            session_at(sha256(b"another"), "2026-03-01T09:00:00Z")
                .await
                .is_none()
        );
        repo.write(move |tx| tx.delete_admin_session(&id_hash))
            .await
            .unwrap();
        assert!(session_at(id_hash, "2026-03-01T09:00:00Z").await.is_none());
    }

    #[tokio::test]
    async fn a_new_link_replaces_the_old_and_reviews_are_one_per_offer() {
        let (_dir, repo) = repository().await;
        let (merchant, customer) = repo
            .write(|tx| {
                let merchant = tx.insert_merchant(&NewMerchant {
                    name: "M".into(),
                    currency: Currency::RUB,
                })?;
                let customer = tx.insert_customer(
                    merchant.id,
                    &NewCustomer {
                        name: "Анна".into(),
                        phone: None,
                        email: None,
                        gender: Default::default(),
                        birth_date: None,
                    },
                )?;
                Ok((merchant.id, customer))
            })
            .await
            .unwrap();
        let now = at("2026-03-01T08:00:00Z");
        for secret in [&b"first"[..], b"second"] {
            let hash = sha256(secret);
            repo.write(move |tx| tx.set_customer_link(customer, &hash, now))
                .await
                .unwrap();
        }
        let by_link = |secret: &'static [u8]| {
            let repo = repo.clone();
            async move {
                repo.read(move |tx| tx.customer_by_link(&sha256(secret)))
                    .await
                    .unwrap()
            }
        };
        assert_eq!(by_link(b"first").await, None);
        assert_eq!(by_link(b"second").await, Some(customer));
        let unknown = CustomerId::new(999).unwrap();
        assert!(matches!(
            repo.write(move |tx| tx.set_customer_link(unknown, &sha256(b"x"), now))
                .await,
            Err(DbError::NotFound(_))
        ));

        let milk = PromotionId::parse("milk").unwrap();
        for (stars, text) in [(2, "так себе"), (5, "передумала: отлично")] {
            let review = OfferReview {
                customer_id: customer,
                merchant_id: merchant,
                promotion_id: milk.clone(),
                rating: Rating::new(stars).unwrap(),
                text: text.into(),
                updated_at: now,
                status: ReviewStatus::Pending,
                reply: None,
            };
            repo.write(move |tx| tx.save_offer_review(&review))
                .await
                .unwrap();
        }
        let waiting = repo
            .read(move |tx| tx.offer_ratings(merchant))
            .await
            .unwrap();
        assert!(waiting.is_empty(), "a review counts once approved");
        let approved = milk.clone();
        assert!(
            repo.write(move |tx| {
                tx.moderate_offer_review(
                    merchant,
                    customer,
                    &approved,
                    crate::db::ReviewStatus::Approved,
                    Some("Спасибо!"),
                    now,
                )
            })
            .await
            .unwrap()
        );
        let (ratings, mine, recent) = repo
            .read(move |tx| {
                Ok((
                    tx.offer_ratings(merchant)?,
                    tx.customer_reviews(customer)?,
                    tx.recent_offer_reviews(merchant, 10)?,
                ))
            })
            .await
            .unwrap();
        assert_eq!(
            ratings,
            vec![OfferRating {
                promotion_id: milk.clone(),
                reviews: 1,
                stars_total: 5
            }]
        );
        assert_eq!(mine.len(), 1);
        assert_eq!(mine[0].text, "передумала: отлично");
        assert_eq!(recent, mine);
        assert_eq!(Rating::new(0), None);
        assert_eq!(Rating::new(6), None);
    }
}
