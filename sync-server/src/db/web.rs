//! The storage the browser pages add: HQ sessions, customers' personal
//! links, offer reviews, and the brand list. It is a supertrait of
//! [`Database`](super::Database), so every backend provides it and handlers
//! reach it through the same `Arc<dyn Database>`.
//!
//! Secrets (session ids, link secrets) arrive here already hashed; storage
//! never sees them in the clear.

use chrono::{DateTime, Utc};
use shared::crypto::Hash256;
use shared::ids::{CustomerId, MerchantId, PromotionId};
use shared::wire::admin::Brand;

use super::DbFuture;

/// A signed-in HQ browser, as stored.
#[derive(Debug, Clone)]
pub struct NewAdminSession {
    /// SHA-256 of the session id the cookie carries.
    pub id_hash: Hash256,
    /// The token every form of the session must send back.
    pub csrf_token: String,
    /// When it was opened.
    pub created_at: DateTime<Utc>,
    /// When it stops working.
    pub expires_at: DateTime<Utc>,
}

/// A live HQ session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AdminSession {
    /// The token its forms must send back.
    pub csrf_token: String,
    /// When it stops working.
    pub expires_at: DateTime<Utc>,
}

/// Stars given to an offer: 1 to 5.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Rating(u8);

impl Rating {
    /// The most stars.
    pub const MAX: u8 = 5;

    /// Stars in `1..=5`, or `None`.
    #[must_use]
    pub fn new(stars: i64) -> Option<Rating> {
        u8::try_from(stars)
            .ok()
            .filter(|s| (1..=Self::MAX).contains(s))
            .map(Rating)
    }

    /// The number of stars.
    #[must_use]
    pub const fn stars(self) -> u8 {
        self.0
    }
}

/// One customer's review of one offer; a later one replaces it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OfferReview {
    /// Who wrote it.
    pub customer_id: CustomerId,
    /// The customer's merchant, whose promotion it is.
    pub merchant_id: MerchantId,
    /// The promotion reviewed.
    pub promotion_id: PromotionId,
    /// Stars.
    pub rating: Rating,
    /// The text; may be empty.
    pub text: String,
    /// When it was last written.
    pub updated_at: DateTime<Utc>,
}

/// What the reviews of one promotion add up to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OfferRating {
    /// The promotion.
    pub promotion_id: PromotionId,
    /// Reviews written.
    pub reviews: i64,
    /// Their stars added up.
    pub stars_total: i64,
}

/// Storage for the browser pages.
pub trait WebStorage {
    /// A merchant's brands, by id.
    fn brands(&self, merchant: MerchantId) -> DbFuture<'_, Vec<Brand>>;

    /// Stores a new HQ session and forgets expired ones.
    fn create_admin_session(&self, session: NewAdminSession) -> DbFuture<'_, ()>;
    /// The session whose id hashes to `id_hash`, unless it expired by `now`.
    fn admin_session(
        &self,
        id_hash: Hash256,
        now: DateTime<Utc>,
    ) -> DbFuture<'_, Option<AdminSession>>;
    /// Ends a session (sign-out); unknown ids are ignored.
    fn end_admin_session(&self, id_hash: Hash256) -> DbFuture<'_, ()>;

    /// Gives the customer a new personal link, replacing any earlier one.
    fn set_customer_link(
        &self,
        customer: CustomerId,
        secret_hash: Hash256,
        now: DateTime<Utc>,
    ) -> DbFuture<'_, ()>;
    /// The customer whose current link secret hashes to `secret_hash`.
    fn customer_by_link(&self, secret_hash: Hash256) -> DbFuture<'_, Option<CustomerId>>;

    /// Writes a customer's review of an offer, replacing their earlier one.
    fn save_offer_review(&self, review: OfferReview) -> DbFuture<'_, ()>;
    /// The reviews of each reviewed promotion of a merchant, by promotion id.
    fn offer_ratings(&self, merchant: MerchantId) -> DbFuture<'_, Vec<OfferRating>>;
    /// A customer's own reviews.
    fn customer_reviews(&self, customer: CustomerId) -> DbFuture<'_, Vec<OfferReview>>;
    /// A merchant's newest reviews first.
    fn recent_offer_reviews(
        &self,
        merchant: MerchantId,
        limit: usize,
    ) -> DbFuture<'_, Vec<OfferReview>>;
}
