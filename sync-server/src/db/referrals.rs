//! Primitives of referrals: customers' referral codes, the friends who
//! signed up through them, and what the reward needs to know of a friend's
//! first purchase. Whether a referral is due is decided by the referrals
//! service; these only read and write rows.

use chrono::{DateTime, Utc};
use shared::ids::{CustomerId, MerchantId};

use super::DbError;

/// A referral to store.
#[derive(Debug, Clone)]
pub struct NewReferral {
    /// The merchant.
    pub merchant_id: MerchantId,
    /// Whose link the friend came through.
    pub referrer_id: CustomerId,
    /// The friend.
    pub referred_id: CustomerId,
    /// The friend's phone, referred once per merchant.
    pub referred_phone: Option<String>,
    /// The shared offer's promotion id, when the link named one.
    pub offer: Option<String>,
    /// When.
    pub at: DateTime<Utc>,
}

/// A referral as HQ lists it.
#[derive(Debug, Clone)]
pub struct ReferralRow {
    /// Id.
    pub id: i64,
    /// The referrer and their name.
    pub referrer_id: CustomerId,
    /// The referrer's name.
    pub referrer_name: String,
    /// The friend.
    pub referred_id: CustomerId,
    /// The friend's name.
    pub referred_name: String,
    /// The shared offer, if any.
    pub offer: Option<String>,
    /// When the friend signed up.
    pub created_at: DateTime<Utc>,
    /// The friend's first stored sale's wall time, if any.
    pub first_purchase_at: Option<DateTime<Utc>>,
    /// When both were rewarded.
    pub rewarded_at: Option<DateTime<Utc>>,
}

/// A referral not rewarded yet whose friend has bought.
#[derive(Debug, Clone)]
pub struct RewardCandidate {
    /// Id.
    pub id: i64,
    /// The merchant.
    pub merchant_id: MerchantId,
    /// The referrer.
    pub referrer_id: CustomerId,
    /// The friend.
    pub referred_id: CustomerId,
    /// The friend's name.
    pub referred_name: String,
    /// The wall time of the friend's first stored sale.
    pub first_purchase_at: DateTime<Utc>,
    /// The pending days of the ruleset that sale was priced with; `None`:
    /// a release the server does not know, the current programme's apply.
    pub pending_days: Option<u32>,
}

/// Reads and writes of referrals.
pub trait ReferralsTx {
    /// The customer's referral code, if they have one.
    fn referral_code(&mut self, customer: CustomerId) -> Result<Option<String>, DbError>;
    /// Gives the customer `code`; `false` (nothing stored) when the code is
    /// another customer's of the merchant.
    fn insert_referral_code(
        &mut self,
        merchant: MerchantId,
        customer: CustomerId,
        code: &str,
    ) -> Result<bool, DbError>;
    /// The merchant's customer whose code is `code`.
    fn customer_by_referral_code(
        &mut self,
        merchant: MerchantId,
        code: &str,
    ) -> Result<Option<CustomerId>, DbError>;
    /// Whether the phone was referred in the merchant already.
    fn phone_referred(&mut self, merchant: MerchantId, phone: &str) -> Result<bool, DbError>;
    /// Stores a referral; `None` (nothing stored) when the friend or their
    /// phone was referred already.
    fn insert_referral(&mut self, new: &NewReferral) -> Result<Option<i64>, DbError>;
    /// The merchant's referrals, newest first.
    fn referrals(&mut self, merchant: MerchantId) -> Result<Vec<ReferralRow>, DbError>;
    /// Up to `limit` referrals of any merchant with an id above `after`,
    /// not rewarded yet, whose friend has a stored sale, by id.
    fn reward_candidates(
        &mut self,
        after: i64,
        limit: usize,
    ) -> Result<Vec<RewardCandidate>, DbError>;
    /// Marks a referral rewarded at `at`; `false` when it was already (by
    /// another instance), which then rewards nothing.
    fn mark_referral_rewarded(&mut self, id: i64, at: DateTime<Utc>) -> Result<bool, DbError>;
}
