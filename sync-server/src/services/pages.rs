//! What only the browser pages keep: HQ sessions, customers' personal
//! links, and offer reviews with their ratings. Secrets arrive already
//! hashed.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use shared::crypto::Hash256;
use shared::ids::{CustomerId, MerchantId};

use crate::db::{AdminSession, DbError, NewAdminSession, OfferRating, OfferReview, Repository};

/// HQ sessions, personal links and reviews.
#[derive(Clone)]
pub struct Pages {
    repo: Arc<dyn Repository>,
}

impl Pages {
    /// The service over `repo`.
    pub fn new(repo: Arc<dyn Repository>) -> Self {
        Pages { repo }
    }

    /// Opens an HQ session (and drops the expired ones).
    pub async fn open_session(&self, session: NewAdminSession) -> Result<(), DbError> {
        self.repo
            .write(move |tx| tx.insert_admin_session(&session))
            .await
    }

    /// The session with this id hash, if it is live at `now`.
    pub async fn session(
        &self,
        id_hash: Hash256,
        now: DateTime<Utc>,
    ) -> Result<Option<AdminSession>, DbError> {
        self.repo
            .read(move |tx| tx.admin_session(&id_hash, now))
            .await
    }

    /// Ends a session everywhere.
    pub async fn end_session(&self, id_hash: Hash256) -> Result<(), DbError> {
        self.repo
            .write(move |tx| tx.delete_admin_session(&id_hash))
            .await
    }

    /// Gives the customer a new page link; the old one stops working.
    pub async fn set_customer_link(
        &self,
        customer: CustomerId,
        secret_hash: Hash256,
        now: DateTime<Utc>,
    ) -> Result<(), DbError> {
        self.repo
            .write(move |tx| tx.set_customer_link(customer, &secret_hash, now))
            .await
    }

    /// Whose link this is.
    pub async fn customer_by_link(
        &self,
        secret_hash: Hash256,
    ) -> Result<Option<CustomerId>, DbError> {
        self.repo
            .read(move |tx| tx.customer_by_link(&secret_hash))
            .await
    }

    /// Stores or replaces a customer's review of an offer.
    pub async fn save_review(&self, review: OfferReview) -> Result<(), DbError> {
        self.repo
            .write(move |tx| tx.save_offer_review(&review))
            .await
    }

    /// The ratings of the merchant's offers.
    pub async fn ratings(&self, merchant: MerchantId) -> Result<Vec<OfferRating>, DbError> {
        self.repo.read(move |tx| tx.offer_ratings(merchant)).await
    }

    /// A customer's reviews, by offer.
    pub async fn customer_reviews(
        &self,
        customer: CustomerId,
    ) -> Result<Vec<OfferReview>, DbError> {
        self.repo
            .read(move |tx| tx.customer_reviews(customer))
            .await
    }

    /// The merchant's newest reviews.
    pub async fn recent_reviews(
        &self,
        merchant: MerchantId,
        limit: usize,
    ) -> Result<Vec<OfferReview>, DbError> {
        self.repo
            .read(move |tx| tx.recent_offer_reviews(merchant, limit))
            .await
    }
}
