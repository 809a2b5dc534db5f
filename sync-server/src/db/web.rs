//! Primitives the browser pages add: HQ sessions, customers' personal
//! links and offer reviews. Secrets (session ids, link secrets) arrive
//! here already hashed; storage never sees them in the clear.

use chrono::{DateTime, Utc};
use shared::crypto::Hash256;
use shared::ids::{CustomerId, MerchantId, PromotionId};

use super::DbError;

/// A new HQ browser session.
#[derive(Debug, Clone)]
pub struct NewAdminSession {
    /// SHA-256 of the cookie's session id.
    pub id_hash: Hash256,
    /// The token its forms carry.
    pub csrf_token: String,
    /// When it was opened.
    pub created_at: DateTime<Utc>,
    /// When it ends.
    pub expires_at: DateTime<Utc>,
    /// The person who opened it (`None`: the admin token).
    pub account_id: Option<super::AccountId>,
    /// Its name on the account page.
    pub public_id: String,
}

/// A live HQ session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AdminSession {
    /// The token its forms carry.
    pub csrf_token: String,
    /// When it ends.
    pub expires_at: DateTime<Utc>,
    /// The person who opened it (`None`: the admin token).
    pub account_id: Option<super::AccountId>,
}

/// Stars from 1 to [`Rating::MAX`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Rating(u8);

impl Rating {
    /// The most stars.
    pub const MAX: u8 = 5;

    /// A rating, if `stars` is in range.
    #[must_use]
    pub fn new(stars: i64) -> Option<Rating> {
        u8::try_from(stars)
            .ok()
            .filter(|s| (1..=Self::MAX).contains(s))
            .map(Rating)
    }

    /// The stars.
    #[must_use]
    pub const fn stars(self) -> u8 {
        self.0
    }
}

/// A customer's review of an offer; one per customer and offer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OfferReview {
    /// Who.
    pub customer_id: CustomerId,
    /// Whose offer.
    pub merchant_id: MerchantId,
    /// Which offer.
    pub promotion_id: PromotionId,
    /// Stars.
    pub rating: Rating,
    /// Text, possibly empty.
    pub text: String,
    /// Last changed.
    pub updated_at: DateTime<Utc>,
    /// Where moderation left it; a review saved again waits anew.
    pub status: ReviewStatus,
    /// The merchant's reply, shown under it once approved.
    pub reply: Option<String>,
}

/// A review's moderation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReviewStatus {
    /// Waiting for the merchant.
    Pending,
    /// Shown on the customers' pages and counted in ratings.
    Approved,
    /// Not shown.
    Hidden,
}

impl ReviewStatus {
    /// The stored name.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            ReviewStatus::Pending => "pending",
            ReviewStatus::Approved => "approved",
            ReviewStatus::Hidden => "hidden",
        }
    }

    /// The status stored as `s`.
    #[must_use]
    pub fn parse(s: &str) -> Option<Self> {
        [
            ReviewStatus::Pending,
            ReviewStatus::Approved,
            ReviewStatus::Hidden,
        ]
        .into_iter()
        .find(|r| r.as_str() == s)
    }
}

/// The reviews of one offer, summed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OfferRating {
    /// Which offer.
    pub promotion_id: PromotionId,
    /// How many approved reviews.
    pub reviews: i64,
    /// Their stars added up.
    pub stars_total: i64,
}

/// Reads and writes of the pages' own data.
pub trait WebTx {
    /// Stores a session.
    fn insert_admin_session(&mut self, session: &NewAdminSession) -> Result<(), DbError>;
    /// A session live at `now`.
    fn admin_session(
        &mut self,
        id_hash: &Hash256,
        now: DateTime<Utc>,
    ) -> Result<Option<AdminSession>, DbError>;
    /// Ends a session.
    fn delete_admin_session(&mut self, id_hash: &Hash256) -> Result<(), DbError>;
    /// Gives the customer a new link; the old one stops working.
    fn set_customer_link(
        &mut self,
        customer: CustomerId,
        secret_hash: &Hash256,
        now: DateTime<Utc>,
    ) -> Result<(), DbError>;
    /// Whose link this is.
    fn customer_by_link(&mut self, secret_hash: &Hash256) -> Result<Option<CustomerId>, DbError>;
    /// Stores or replaces a review.
    fn save_offer_review(&mut self, review: &OfferReview) -> Result<(), DbError>;
    /// The merchant's offers' ratings.
    fn offer_ratings(&mut self, merchant: MerchantId) -> Result<Vec<OfferRating>, DbError>;
    /// A customer's reviews, by offer.
    fn customer_reviews(&mut self, customer: CustomerId) -> Result<Vec<OfferReview>, DbError>;
    /// The merchant's newest reviews.
    fn recent_offer_reviews(
        &mut self,
        merchant: MerchantId,
        limit: usize,
    ) -> Result<Vec<OfferReview>, DbError>;
    /// The merchant's newest approved reviews.
    fn approved_offer_reviews(
        &mut self,
        merchant: MerchantId,
        limit: usize,
    ) -> Result<Vec<OfferReview>, DbError>;
    /// Sets the moderation of the customer's review of the offer, and the
    /// merchant's reply (`None`: none); `false` when there is no such
    /// review of the merchant's.
    fn moderate_offer_review(
        &mut self,
        merchant: MerchantId,
        customer: CustomerId,
        promotion: &PromotionId,
        status: ReviewStatus,
        reply: Option<&str>,
        at: DateTime<Utc>,
    ) -> Result<bool, DbError>;
}
