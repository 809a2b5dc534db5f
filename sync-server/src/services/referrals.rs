//! Referrals (issue 14): each customer's share links carry their referral
//! code (short, random, unique in the merchant; never their id or page
//! secret). A friend who signs up through one is recorded with the
//! referrer and the shared offer. The friend's first stored sale is the
//! referral's purchase; once its points clear their pending period, both
//! get the programme's [`ReferralReward`] as ledger adjustments keyed
//! `referral:<id>:referrer` and `referral:<id>:friend`, in the transaction
//! that marks the referral rewarded: credited exactly once, however often
//! (and on however many instances) the reward task runs.
//!
//! Refused: a sign-up through one's own link (the same phone or e-mail as
//! the referrer's) and a phone referred before.
//!
//! [`ReferralReward`]: shared::ruleset::ReferralReward

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};
use ring::rand::{SecureRandom as _, SystemRandom};
use shared::ids::{CustomerId, MerchantId};
use shared::ruleset::Programme;
use tokio::sync::watch;

use crate::clock::Clock;
use crate::db::{
    DbError, NewAdjustment, NewReferral, ReferralRow, Repository, RewardCandidate, Tx,
};
use crate::notify::{Notifier, Topic};
use crate::services::adjustments::{AdjustmentError, apply};
use crate::wire::admin::{AdjustmentKind, NewCustomer};

/// Characters of a code: Crockford's base32, no I, L, O or U to misread.
const ALPHABET: &[u8; 32] = b"0123456789ABCDEFGHJKMNPQRSTVWXYZ";
/// A code's length: 10 characters, 50 random bits.
const CODE_LEN: usize = 10;
/// How often the reward task looks for referrals that came due.
const REWARD_EVERY: Duration = Duration::from_secs(1);
/// Referrals looked at per round.
const REWARD_BATCH: usize = 200;
/// Who the audit trail and the history name for rewards.
pub const REWARD_ACTOR: &str = "referral";

/// Why a sign-up's referral was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ReferralRefusal {
    /// The friend is the referrer (same phone or e-mail).
    #[error("a customer cannot refer themselves")]
    SelfReferral,
    /// The phone was referred before.
    #[error("this phone was referred already")]
    PhoneReferred,
}

/// Whether `text` has the shape of a referral code.
#[must_use]
pub fn looks_like_code(text: &str) -> bool {
    text.len() == CODE_LEN && text.bytes().all(|b| ALPHABET.contains(&b))
}

fn random_code() -> Result<String, DbError> {
    let mut bytes = [0u8; CODE_LEN];
    SystemRandom::new()
        .fill(&mut bytes)
        .map_err(|_| DbError::other("the system random source failed"))?;
    // 256 is a multiple of 32: every character is equally likely.
    Ok(bytes
        .iter()
        .map(|b| char::from(ALPHABET[usize::from(b % 32)]))
        .collect())
}

/// A referral as HQ shows it, per customer and per offer.
#[derive(Debug, Clone, Default)]
pub struct ReferralReport {
    /// Every referral, newest first.
    pub referrals: Vec<ReferralRow>,
    /// By referrer: (id, name, friends, friends who bought, rewarded).
    pub by_customer: Vec<(CustomerId, String, usize, usize, usize)>,
    /// By offer (`None`: a link without one): (offer, friends, bought, rewarded).
    pub by_offer: Vec<(Option<String>, usize, usize, usize)>,
}

/// Referral codes, referrals and their rewards.
#[derive(Clone)]
pub struct Referrals {
    repo: Arc<dyn Repository>,
}

impl Referrals {
    /// The service over `repo`.
    pub fn new(repo: Arc<dyn Repository>) -> Self {
        Referrals { repo }
    }

    /// The customer's referral code, made on first use.
    pub async fn code_for(
        &self,
        merchant: MerchantId,
        customer: CustomerId,
    ) -> Result<String, DbError> {
        self.repo
            .write(move |tx| {
                if let Some(code) = tx.referral_code(customer)? {
                    return Ok(code);
                }
                loop {
                    let code = random_code()?;
                    if tx.insert_referral_code(merchant, customer, &code)? {
                        return Ok(code);
                    }
                    // Taken: by this customer on another connection, or
                    // (once in 2^50) by someone else.
                    if let Some(code) = tx.referral_code(customer)? {
                        return Ok(code);
                    }
                }
            })
            .await
    }

    /// The referrer whose code `code` is, if a sign-up of `friend` through
    /// it may be recorded; `Ok(None)` for an unknown code.
    pub async fn check(
        &self,
        merchant: MerchantId,
        code: String,
        friend: NewCustomer,
    ) -> Result<Result<Option<CustomerId>, ReferralRefusal>, DbError> {
        self.repo
            .read(move |tx| check(tx, merchant, &code, &friend))
            .await
    }

    /// Records that `friend` signed up through `code` (see [`record`]).
    pub async fn record(
        &self,
        merchant: MerchantId,
        friend: CustomerId,
        new: NewCustomer,
        code: String,
        offer: Option<String>,
        now: DateTime<Utc>,
    ) -> Result<Option<i64>, DbError> {
        self.repo
            .write(move |tx| record(tx, merchant, friend, &new, &code, offer, now))
            .await
    }

    /// The merchant's referrals, with the tables per customer and offer.
    pub async fn report(&self, merchant: MerchantId) -> Result<ReferralReport, DbError> {
        let referrals = self.repo.read(move |tx| tx.referrals(merchant)).await?;
        Ok(report(referrals))
    }

    /// Rewards every referral that came due by `now`; the merchants whose
    /// customers got points.
    pub async fn reward_due(&self, now: DateTime<Utc>) -> Result<Vec<MerchantId>, DbError> {
        // Each merchant's programme, read once a round: most candidates
        // are still pending, and those are passed over without a write.
        let mut programmes: HashMap<MerchantId, Option<Programme>> = HashMap::new();
        let mut rewarded = Vec::new();
        let mut after = 0;
        loop {
            let candidates = self
                .repo
                .read(move |tx| tx.reward_candidates(after, REWARD_BATCH))
                .await?;
            let Some(last) = candidates.last() else {
                break;
            };
            after = last.id;
            let full = candidates.len() == REWARD_BATCH;
            for c in candidates {
                let merchant = c.merchant_id;
                let programme = match programmes.get(&merchant) {
                    Some(p) => p.clone(),
                    None => {
                        let p = self
                            .repo
                            .read(move |tx| {
                                Ok(tx.current_ruleset(merchant)?.map(|c| c.ruleset.programme))
                            })
                            .await?;
                        programmes.insert(merchant, p.clone());
                        p
                    }
                };
                let Some(programme) = programme else {
                    continue;
                };
                if programme.referral_reward.is_none()
                    || !is_due(&c, programme.points_pending_days, now)
                {
                    continue;
                }
                let id = c.id;
                if self.repo.write(move |tx| reward(tx, &c, now)).await? {
                    tracing::info!(referral = id, "rewarded a referral");
                    rewarded.push(merchant);
                }
            }
            if !full {
                break;
            }
        }
        Ok(rewarded)
    }
}

/// Rewards referral `c` in `tx` under the current programme, if it is
/// due and not rewarded yet (by another instance meanwhile); whether it
/// was.
fn reward(tx: &mut dyn Tx, c: &RewardCandidate, now: DateTime<Utc>) -> Result<bool, DbError> {
    let merchant = c.merchant_id;
    let Some(current) = tx.current_ruleset(merchant)? else {
        return Ok(false);
    };
    let programme = current.ruleset.programme;
    let Some(reward) = programme.referral_reward else {
        return Ok(false);
    };
    if !is_due(c, programme.points_pending_days, now) {
        return Ok(false);
    }
    if !tx.mark_referral_rewarded(c.id, now)? {
        return Ok(false);
    }
    let referrer_name = tx
        .customer(c.referrer_id)?
        .map(|r| shared::identity::first_name(&r.name))
        .unwrap_or_default();
    for (customer, role, points, reason) in [
        (
            c.referrer_id,
            "referrer",
            reward.referrer_points,
            format!(
                "Бонус за приглашённого друга: {}",
                shared::identity::first_name(&c.referred_name)
            ),
        ),
        (
            c.referred_id,
            "friend",
            reward.friend_points,
            format!("Бонус за первую покупку по приглашению: {referrer_name}"),
        ),
    ] {
        if points == 0 {
            continue;
        }
        let new = NewAdjustment {
            merchant_id: merchant,
            customer_id: customer,
            points,
            reason,
            kind: AdjustmentKind::Referral,
            actor: REWARD_ACTOR.to_owned(),
            account_id: None,
            idempotency_key: format!("referral:{}:{role}", c.id),
            at: now,
            expire_days: None,
        };
        match apply(tx, new, now)? {
            // Credited before: exactly once.
            Ok(_) | Err(AdjustmentError::KeyReused) => {}
            Err(e) => return Err(DbError::other(e.to_string())),
        }
    }
    Ok(true)
}

/// Whether the points of the friend's first purchase cleared their
/// pending period by `now`: the days of the ruleset it was priced with,
/// else `current_pending_days`.
fn is_due(c: &RewardCandidate, current_pending_days: u32, now: DateTime<Utc>) -> bool {
    let pending = c.pending_days.unwrap_or(current_pending_days);
    c.first_purchase_at + TimeDelta::days(i64::from(pending)) <= now
}

/// See [`Referrals::check`].
fn check(
    tx: &mut dyn Tx,
    merchant: MerchantId,
    code: &str,
    friend: &NewCustomer,
) -> Result<Result<Option<CustomerId>, ReferralRefusal>, DbError> {
    let code = code.trim().to_ascii_uppercase();
    if !looks_like_code(&code) {
        return Ok(Ok(None));
    }
    let Some(referrer) = tx.customer_by_referral_code(merchant, &code)? else {
        return Ok(Ok(None));
    };
    let Some(row) = tx.customer(referrer)? else {
        return Ok(Ok(None));
    };
    let same_phone = friend.phone.is_some() && friend.phone == row.phone;
    let same_email = friend.email.is_some()
        && friend.email.as_ref().map(|e| e.as_str().to_lowercase())
            == row.email.as_ref().map(|e| e.as_str().to_lowercase());
    if same_phone || same_email {
        return Ok(Err(ReferralRefusal::SelfReferral));
    }
    if let Some(phone) = &friend.phone
        && tx.phone_referred(merchant, phone.as_str())?
    {
        return Ok(Err(ReferralRefusal::PhoneReferred));
    }
    Ok(Ok(Some(referrer)))
}

/// Records in `tx` that `friend` (just created from `new`) signed up
/// through `code`, if [`Referrals::check`] allows it now; the referral's
/// id, or `None` when nothing was recorded.
pub(crate) fn record(
    tx: &mut dyn Tx,
    merchant: MerchantId,
    friend: CustomerId,
    new: &NewCustomer,
    code: &str,
    offer: Option<String>,
    now: DateTime<Utc>,
) -> Result<Option<i64>, DbError> {
    let Ok(Some(referrer)) = check(tx, merchant, code, new)? else {
        return Ok(None);
    };
    if referrer == friend {
        return Ok(None);
    }
    tx.insert_referral(&NewReferral {
        merchant_id: merchant,
        referrer_id: referrer,
        referred_id: friend,
        referred_phone: new.phone.as_ref().map(|p| p.as_str().to_owned()),
        offer: offer.filter(|o| !o.is_empty()),
        at: now,
    })
}

fn report(referrals: Vec<ReferralRow>) -> ReferralReport {
    let mut by_customer: BTreeMap<CustomerId, (String, usize, usize, usize)> = BTreeMap::new();
    let mut by_offer: BTreeMap<Option<String>, (usize, usize, usize)> = BTreeMap::new();
    for r in &referrals {
        let bought = usize::from(r.first_purchase_at.is_some());
        let rewarded = usize::from(r.rewarded_at.is_some());
        let c = by_customer
            .entry(r.referrer_id)
            .or_insert_with(|| (r.referrer_name.clone(), 0, 0, 0));
        c.1 += 1;
        c.2 += bought;
        c.3 += rewarded;
        let o = by_offer.entry(r.offer.clone()).or_default();
        o.0 += 1;
        o.1 += bought;
        o.2 += rewarded;
    }
    ReferralReport {
        by_customer: by_customer
            .into_iter()
            .map(|(id, (name, n, b, r))| (id, name, n, b, r))
            .collect(),
        by_offer: by_offer
            .into_iter()
            .map(|(offer, (n, b, r))| (offer, n, b, r))
            .collect(),
        referrals,
    }
}

/// Rewards referrals as they come due until `stop` turns true, telling
/// waiting registers' feeds of the points.
pub async fn run(
    referrals: Referrals,
    clock: Arc<dyn Clock>,
    notifier: Arc<Notifier>,
    mut stop: watch::Receiver<bool>,
) {
    tracing::info!("referral rewards started");
    loop {
        if *stop.borrow() {
            break;
        }
        match referrals.reward_due(clock.now()).await {
            Ok(merchants) => {
                for merchant in merchants {
                    notifier.notify(Topic::Customers, merchant);
                }
            }
            Err(e) => tracing::error!(error = %e, "rewarding referrals failed; retrying"),
        }
        tokio::select! {
            _ = stop.changed() => {}
            () = tokio::time::sleep(REWARD_EVERY) => {}
        }
    }
    tracing::info!("referral rewards stopped");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_ten_unambiguous_characters() {
        let a = random_code().unwrap();
        assert!(looks_like_code(&a), "{a}");
        assert_ne!(a, random_code().unwrap());
        assert!(!looks_like_code("ABCDEFGHIL"), "no I or L");
        assert!(!looks_like_code("abc"));
    }

    #[test]
    fn a_referral_is_due_when_the_first_purchase_clears_its_own_pending_days() {
        let at = |s: &str| s.parse::<DateTime<Utc>>().unwrap();
        let mut c = RewardCandidate {
            id: 1,
            merchant_id: MerchantId::new(1).unwrap(),
            referrer_id: CustomerId::new(1).unwrap(),
            referred_id: CustomerId::new(2).unwrap(),
            referred_name: "Борис".into(),
            first_purchase_at: at("2026-03-01T10:00:00Z"),
            pending_days: Some(14),
        };
        assert!(!is_due(&c, 0, at("2026-03-15T09:59:59Z")));
        assert!(is_due(&c, 0, at("2026-03-15T10:00:00Z")));
        // A release the server does not know: the current programme's days.
        c.pending_days = None;
        assert!(!is_due(&c, 30, at("2026-03-15T10:00:00Z")));
        assert!(is_due(&c, 30, at("2026-03-31T10:00:00Z")));
    }
}
