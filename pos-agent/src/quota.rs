//! The till's side of quota leases (issue 9, item 11).
//!
//! A promotion with a global limit (total uses, budget) is given only
//! within this till's lease of it, online or not: the engine gets what is
//! left of the lease as `PromotionUsage::leased`, and blocks the promotion
//! (`leased_uses`) or caps it (`leased_budget`) when it is spent. A
//! promotion the till holds no live lease of prices with a zero lease, so
//! it is refused until the next sync brings one. A server that does not
//! offer leases (its replies lack `x-loyalty-features: quota-leases`)
//! leaves the engine with the global limits against what the till knows,
//! as before leases existed.
//!
//! What each sale gave is stored in the sale's own transaction
//! (`store::leases`), and a commit checks inside that transaction that the
//! lease still covers the record, so two checks priced at once cannot
//! both spend the lease's last check.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use rusqlite::Connection;
use shared::ids::PromotionId;
use shared::money::Money;
use shared::pricing::LeasedQuota;
use shared::record::PurchaseRecord;
use shared::ruleset::{Promotion, Ruleset};
use shared::wire::till::LeaseStatus;

use crate::checks::CheckError;
use crate::store::StoreError;
use crate::store::leases::{self, HeldLease};

/// The till's leases, as stored.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LeaseBook {
    /// Whether the server offers leases (false until it was heard to).
    pub offered: bool,
    /// The leases held, by promotion.
    pub held: BTreeMap<PromotionId, HeldLease>,
}

/// Whether a promotion is leased: it has a global limit.
#[must_use]
pub fn is_leased(p: &Promotion) -> bool {
    p.limits.total_uses.is_some() || p.limits.budget.is_some()
}

impl LeaseBook {
    /// The book as the database holds it.
    pub fn load(conn: &Connection) -> Result<Self, StoreError> {
        Ok(LeaseBook {
            offered: leases::offered(conn)?.unwrap_or(false),
            held: leases::held(conn)?,
        })
    }

    /// Counts a record just committed, as its transaction counted it in
    /// `lease_spend` (what a sale gave of each promotion, uses above zero,
    /// see [`crate::store::outbox`]): against a lease held of the promotion
    /// when the record comes after the lease's `through_seq`. The book is
    /// then what [`LeaseBook::load`] would read, without reading it.
    pub fn count(&mut self, record: &PurchaseRecord) {
        let seq = record.seq.get();
        for d in record.usage_deltas().into_iter().flatten() {
            if d.uses <= 0 {
                continue;
            }
            if let Some(lease) = self.held.get_mut(&d.promotion)
                && seq > lease.through_seq
            {
                lease.used_uses = lease.used_uses.saturating_add(d.uses);
                lease.used_spent = lease.used_spent.saturating_add(d.spent.minor());
            }
        }
    }

    /// What is left of each lease at `now`, for `GET /v1/status`.
    #[must_use]
    pub fn status(&self, now: DateTime<Utc>) -> Vec<LeaseStatus> {
        if !self.offered {
            return Vec::new();
        }
        self.held
            .iter()
            .map(|(promotion, l)| LeaseStatus {
                promotion: promotion.clone(),
                lease_id: l.lease_id,
                uses_left: l.uses_left(now),
                budget_left: Money::from_minor(l.budget_left(now)).unwrap_or(Money::ZERO),
                expires_at: l.expires_at,
            })
            .collect()
    }

    /// What the engine gets as `leased` for `p` at `now`: nothing when
    /// leases are not offered or `p` has no global limit, else what is left
    /// of its lease (zero without a live one).
    #[must_use]
    pub fn pricing_input(&self, p: &Promotion, now: DateTime<Utc>) -> Option<LeasedQuota> {
        if !self.offered || !is_leased(p) {
            return None;
        }
        let Some(lease) = self.held.get(&p.id) else {
            return Some(LeasedQuota::default());
        };
        Some(LeasedQuota {
            uses: u64::try_from(lease.uses_left(now)).unwrap_or(0),
            // Within the money range: a budget left is at most the lease.
            budget: Money::from_minor(lease.budget_left(now)).unwrap_or(Money::ZERO),
        })
    }
}

/// The promotions of `ruleset` that are leased, for [`check_covered`].
#[must_use]
pub fn leased_promotions(ruleset: &Ruleset) -> Vec<Promotion> {
    ruleset
        .promotions
        .iter()
        .filter(|p| is_leased(p))
        .cloned()
        .collect()
}

/// Inside a sale's transaction: refuses the record when a lease no longer
/// covers what it gives of one of the `leased` promotions (another commit
/// or a renewal came between its pricing and now).
pub fn check_covered(
    conn: &Connection,
    leased: &[Promotion],
    record: &PurchaseRecord,
    now: DateTime<Utc>,
) -> Result<(), CheckError> {
    if leased.is_empty() {
        return Ok(());
    }
    let book = LeaseBook::load(conn)?;
    if !book.offered {
        return Ok(());
    }
    let deltas = record.usage_deltas()?;
    for d in deltas.iter().filter(|d| d.uses > 0) {
        let Some(p) = leased.iter().find(|p| p.id == d.promotion) else {
            continue;
        };
        let left = book.pricing_input(p, now).unwrap_or_default();
        let short_of_uses =
            p.limits.total_uses.is_some() && d.uses > i64::try_from(left.uses).unwrap_or(i64::MAX);
        let short_of_money = p.limits.budget.is_some() && d.spent.minor() > left.budget.minor();
        if short_of_uses || short_of_money {
            return Err(CheckError::LeaseChanged {
                promotion: d.promotion.clone(),
            });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeDelta;

    fn promotion(limits: serde_json::Value) -> Promotion {
        serde_json::from_value(serde_json::json!({
            "id": "milk", "name": "M", "target": {"kind": "basket"},
            "reward": {"kind": "percent_off", "percent": 1000},
            "limits": limits
        }))
        .unwrap()
    }

    #[test]
    fn the_engine_gets_what_is_left_of_a_live_lease_and_zero_without_one() {
        let now = DateTime::from_timestamp(1_800_000_000, 0).unwrap();
        let limited = promotion(serde_json::json!({"total_uses": 10, "budget": 5000}));
        let open = promotion(serde_json::json!({"per_customer": 1}));
        let mut book = LeaseBook::default();
        assert_eq!(
            book.pricing_input(&limited, now),
            None,
            "a server without leases: the global limits apply"
        );
        book.offered = true;
        assert_eq!(
            book.pricing_input(&limited, now),
            Some(LeasedQuota::default()),
            "no lease held: refused until the next sync"
        );
        assert_eq!(book.pricing_input(&open, now), None, "no global limit");
        book.held.insert(
            limited.id.clone(),
            HeldLease {
                lease_id: 1,
                through_seq: 0,
                uses: 3,
                budget: 2_000,
                expires_at: now + TimeDelta::hours(1),
                used_uses: 1,
                used_spent: 1_500,
            },
        );
        assert_eq!(
            book.pricing_input(&limited, now),
            Some(LeasedQuota {
                uses: 2,
                budget: Money::from_minor(500).unwrap(),
            })
        );
        assert_eq!(
            book.pricing_input(&limited, now + TimeDelta::hours(1)),
            Some(LeasedQuota::default()),
            "expired: nothing left"
        );
        let status = book.status(now);
        assert_eq!(
            (status[0].uses_left, status[0].budget_left.minor()),
            (2, 500)
        );
    }
}
