//! What only the browser pages keep: HQ sessions, customers' personal
//! links, and offer reviews with their moderation (a review is shown and
//! counted in ratings once the merchant approves it; saved again, it waits
//! again) and ratings. Secrets arrive already hashed.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use shared::crypto::Hash256;
use shared::ids::{CustomerId, MerchantId};

use crate::db::{
    AdminSession, DbError, NewAdminSession, OfferRating, OfferReview, Repository, ReviewStatus,
};
use shared::ids::PromotionId;

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

    /// The merchant's newest approved reviews, as customers see them.
    pub async fn approved_reviews(
        &self,
        merchant: MerchantId,
        limit: usize,
    ) -> Result<Vec<OfferReview>, DbError> {
        self.repo
            .read(move |tx| tx.approved_offer_reviews(merchant, limit))
            .await
    }

    /// Approves or hides a review, with the merchant's reply (blank: none);
    /// `NotFound` for a review that is not the merchant's.
    pub async fn moderate_review(
        &self,
        merchant: MerchantId,
        customer: CustomerId,
        promotion: PromotionId,
        status: ReviewStatus,
        reply: String,
        at: DateTime<Utc>,
    ) -> Result<(), DbError> {
        let reply = Some(reply.trim().to_owned()).filter(|r| !r.is_empty());
        let found = self
            .repo
            .write(move |tx| {
                tx.moderate_offer_review(
                    merchant,
                    customer,
                    &promotion,
                    status,
                    reply.as_deref(),
                    at,
                )
            })
            .await?;
        if found {
            Ok(())
        } else {
            Err(DbError::NotFound("review".into()))
        }
    }

    /// The ratings of the merchant's offers (approved reviews only).
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
