//! Points adjustments: a credit or debit of a customer's points not tied
//! to a purchase, made by support (or the owner) with a reason, or by the
//! server as a referral reward. Each is a ledger entry of its own, never an
//! edit of a balance: the replay counts it with the records, so every
//! standing the server computes (the admin view, the phone page, the
//! registers' change feed, the overdraft report) includes it. The customer
//! is marked changed in the same transaction, so tills get the new
//! standing with their next sync.
//!
//! Exactly once: an adjustment carries an idempotency key unique in its
//! merchant; the same key again answers the first adjustment. A debit
//! that would take the available balance below zero is refused.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use shared::ids::{CustomerId, MerchantId};
use shared::points::{PointsPolicy, replay};

use crate::db::{AccountId, Announcement, DbError, NewAdjustment, Repository, Tx};
use crate::wire::admin::{AdjustmentKind, PointsAdjustment};

/// The longest reason accepted.
pub const MAX_REASON_CHARS: usize = 500;
/// The longest idempotency key accepted.
pub const MAX_KEY_CHARS: usize = 100;
/// The most points one adjustment moves either way.
pub const MAX_POINTS: i64 = 1_000_000;

/// An adjustment asked for.
#[derive(Debug, Clone)]
pub struct AdjustmentRequest {
    /// Whose points.
    pub customer: CustomerId,
    /// Positive credits, negative debits.
    pub points: i64,
    /// Why.
    pub reason: String,
    /// The caller's key.
    pub idempotency_key: String,
    /// Who, as the audit trail names them.
    pub actor: String,
    /// Their account, when a person asks.
    pub account: Option<AccountId>,
}

/// Why an adjustment was refused.
#[derive(Debug, thiserror::Error)]
pub enum AdjustmentError {
    /// Storage failed, or the customer does not exist (`NotFound`).
    #[error(transparent)]
    Storage(#[from] DbError),
    /// A field is wrong.
    #[error("{field}: {message}")]
    Invalid {
        /// Which field.
        field: &'static str,
        /// What is wrong.
        message: &'static str,
    },
    /// The debit would take the balance below zero.
    #[error("a debit of {debit} points would take the balance below zero: {available} available")]
    Insufficient {
        /// Available now.
        available: i64,
        /// The debit asked for.
        debit: i64,
    },
    /// The key was used for another adjustment.
    #[error("the idempotency key was used for another adjustment")]
    KeyReused,
}

/// An adjustment made (or found under its key), with the balance around it.
#[derive(Debug, Clone)]
pub struct Adjusted {
    /// The adjustment.
    pub adjustment: PointsAdjustment,
    /// The customer's merchant.
    pub merchant: MerchantId,
    /// Available points before it (now, for one found under its key).
    pub balance_before: i64,
    /// Available points after it.
    pub balance_after: i64,
    /// `false`: the key had been used, nothing new was made.
    pub created: bool,
}

/// Adjustments of customers' points.
#[derive(Clone)]
pub struct Adjustments {
    repo: Arc<dyn Repository>,
}

impl Adjustments {
    /// The service over `repo`.
    pub fn new(repo: Arc<dyn Repository>) -> Self {
        Adjustments { repo }
    }

    /// Makes `request` at `now`, if the customer is `merchant`'s (when
    /// given: a page of that merchant asks); an unknown customer, or
    /// another merchant's, is `NotFound`.
    #[tracing::instrument(skip_all, fields(customer_id = %request.customer, points = request.points))]
    pub async fn adjust(
        &self,
        merchant: Option<MerchantId>,
        request: AdjustmentRequest,
        now: DateTime<Utc>,
    ) -> Result<Adjusted, AdjustmentError> {
        let request = checked(request)?;
        let adjusted = self
            .repo
            .write(move |tx| {
                let row = tx
                    .customer(request.customer)?
                    .filter(|row| merchant.is_none_or(|m| m == row.merchant_id))
                    .ok_or_else(|| DbError::NotFound(format!("customer {}", request.customer)))?;
                let new = NewAdjustment {
                    merchant_id: row.merchant_id,
                    customer_id: request.customer,
                    points: request.points,
                    reason: request.reason,
                    kind: AdjustmentKind::Manual,
                    actor: request.actor,
                    account_id: request.account,
                    idempotency_key: request.idempotency_key,
                    at: now,
                    expire_days: None,
                };
                apply(tx, new, now)
            })
            .await??;
        tracing::info!(
            created = adjusted.created,
            balance = adjusted.balance_after,
            "adjusted a customer's points"
        );
        Ok(adjusted)
    }
}

/// The request with its fields checked and trimmed.
fn checked(mut request: AdjustmentRequest) -> Result<AdjustmentRequest, AdjustmentError> {
    let invalid = |field, message| Err(AdjustmentError::Invalid { field, message });
    if request.points == 0 {
        return invalid(
            "points",
            "must not be zero: a credit is positive, a debit negative",
        );
    }
    if request.points.unsigned_abs() > MAX_POINTS.unsigned_abs() {
        return invalid("points", "at most 1 000 000 either way");
    }
    request.reason = request.reason.trim().to_owned();
    if request.reason.is_empty() {
        return invalid("reason", "is required");
    }
    if request.reason.chars().count() > MAX_REASON_CHARS {
        return invalid("reason", "at most 500 characters");
    }
    request.idempotency_key = request.idempotency_key.trim().to_owned();
    if request.idempotency_key.is_empty() || request.idempotency_key.chars().count() > MAX_KEY_CHARS
    {
        return invalid("idempotency_key", "1 to 100 characters");
    }
    Ok(request)
}

/// The points policy of the merchant's current ruleset.
fn policy(tx: &mut dyn Tx, merchant: MerchantId) -> Result<PointsPolicy, DbError> {
    Ok(tx
        .current_ruleset(merchant)?
        .map(|c| PointsPolicy::of(&c.ruleset.programme))
        .unwrap_or_default())
}

/// Stores `new` in `tx` unless its key was used (then the first one is
/// answered), refusing a debit below zero; marks the customer changed so
/// the registers fetch their standing again. The credit keeps the
/// programme's expiry of now.
pub(crate) fn apply(
    tx: &mut dyn Tx,
    mut new: NewAdjustment,
    now: DateTime<Utc>,
) -> Result<Result<Adjusted, AdjustmentError>, DbError> {
    let merchant = new.merchant_id;
    tx.lock_customer(new.customer_id)?;
    let policy = policy(tx, merchant)?;
    let balance = |tx: &mut dyn Tx| -> Result<i64, DbError> {
        Ok(replay(policy, &tx.ledger(new.customer_id)?, now).available)
    };
    let before = balance(tx)?;
    if let Some(found) = tx.adjustment_by_key(merchant, &new.idempotency_key)? {
        if found.customer_id != new.customer_id || found.points != new.points {
            return Ok(Err(AdjustmentError::KeyReused));
        }
        return Ok(Ok(Adjusted {
            adjustment: found,
            merchant,
            balance_before: before,
            balance_after: before,
            created: false,
        }));
    }
    if new.points < 0 && before + new.points < 0 {
        return Ok(Err(AdjustmentError::Insufficient {
            available: before,
            debit: -new.points,
        }));
    }
    new.expire_days = policy.expire_days;
    let adjustment = tx.insert_adjustment(&new)?;
    tx.mark_customer_changed(merchant, new.customer_id)?;
    tx.announce(Announcement::Customers { merchant })?;
    let after = balance(tx)?;
    Ok(Ok(Adjusted {
        adjustment,
        merchant,
        balance_before: before,
        balance_after: after,
        created: true,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(points: i64, reason: &str, key: &str) -> AdjustmentRequest {
        AdjustmentRequest {
            customer: CustomerId::new(1).unwrap(),
            points,
            reason: reason.into(),
            idempotency_key: key.into(),
            actor: "support@example".into(),
            account: None,
        }
    }

    #[test]
    fn requests_need_points_a_reason_and_a_key() {
        assert!(checked(request(10, " goodwill ", "k")).is_ok());
        for (bad, field) in [
            (request(0, "r", "k"), "points"),
            (request(MAX_POINTS + 1, "r", "k"), "points"),
            (request(i64::MIN, "r", "k"), "points"),
            (request(5, "  ", "k"), "reason"),
            (request(5, &"x".repeat(501), "k"), "reason"),
            (request(5, "r", ""), "idempotency_key"),
        ] {
            match checked(bad) {
                Err(AdjustmentError::Invalid { field: f, .. }) => assert_eq!(f, field),
                other => panic!("{field}: {other:?}"),
            }
        }
        assert_eq!(checked(request(-3, " r ", " k ")).unwrap().reason, "r");
    }
}
