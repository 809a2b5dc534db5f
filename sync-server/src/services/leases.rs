//! Quota leases (issue 9, item 11): a promotion's global limits (total
//! uses, budget) handed out to registers in shares, so tills that are
//! offline together cannot give them several times over.
//!
//! A lease covers the register's records after `through_seq`, its head as
//! stored when granted; the till takes what those records give off the
//! lease, and so does the server, so a record counts either in the pool
//! (stored before the lease) or against the lease, never both.
//!
//! **Invariant.** When a lease is granted, the merchant's counted spend
//! plus every other live lease's outstanding part plus the new lease is
//! at most the limit. Counted spend only grows by records that were
//! outstanding under a lease (or made without one by an older agent), so
//! as long as each till stays within its lease the total spend never
//! passes the limit. A lease that expires goes back to the pool; only the
//! sales a till made under it before it expired and has not uploaded yet
//! can then pass the limit, so the overspend is bounded by the leases
//! outstanding when they expired.
//!
//! **Policy** (`[leases]`): a share is what remains of the limit (limit −
//! counted) over the merchant's registers in service, rounded up, at least
//! `min_share_*`, at most `max_share_percent` of the limit, and never more
//! than the free pool (what remains less the others' outstanding leases).
//! A register renews at every sync: its old lease is replaced, so what it
//! did not use goes back to the pool and a till that spent its share gets
//! a new share of what remains.

use std::collections::BTreeMap;
use std::sync::Arc;

use chrono::{DateTime, TimeDelta, Utc};
use shared::ids::{MerchantId, RegisterId, Seq};
use shared::money::Money;
use shared::ruleset::Promotion;
use shared::wire::sync::{LeaseGrant, QuotaLease};

use crate::clock::Clock;
use crate::config::LeaseSettings;
use crate::db::{DbError, LeaseAccount, NewLease, RegisterCredentials, Repository, Tx, UseSum};
use crate::wire::admin::{LeaseReport, LeaseView, PromotionLeases, RegisterLease, UsesAndMoney};

/// Granting leases and HQ's report of them.
#[derive(Clone)]
pub struct Leases {
    repo: Arc<dyn Repository>,
    clock: Arc<dyn Clock>,
    settings: LeaseSettings,
}

/// Whether a promotion has a global limit, so it is leased.
#[must_use]
pub fn is_leased(p: &Promotion) -> bool {
    p.limits.total_uses.is_some() || p.limits.budget.is_some()
}

/// What a live lease may still give beyond the stored records: the lease
/// less what its register's stored records gave under it, never below
/// zero nor above the lease (returns of earlier sales give nothing more);
/// nothing once expired.
#[must_use]
pub fn outstanding(account: &LeaseAccount, now: DateTime<Utc>) -> UseSum {
    if account.lease.expires_at <= now {
        return UseSum::default();
    }
    let part = |granted: i64, used: i64| granted.saturating_sub(used).clamp(0, granted.max(0));
    UseSum {
        uses: part(account.lease.uses, account.consumed.uses),
        spent: part(account.lease.budget, account.consumed.spent),
    }
}

/// One dimension of a share (checks, or kopecks).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ShareInputs {
    /// The limit.
    pub limit: i64,
    /// What the stored records gave.
    pub counted: i64,
    /// What the other registers' live leases may still give.
    pub others_outstanding: i64,
    /// The merchant's registers in service (at least 1).
    pub registers: u64,
    /// The least share, while the pool has it.
    pub floor: i64,
    /// The most one lease may hold, in percent of the limit.
    pub max_share_percent: u8,
}

/// A register's share under the policy (see the module's docs).
#[must_use]
pub fn share(i: ShareInputs) -> i64 {
    let remaining = i.limit.saturating_sub(i.counted).max(0);
    let free = remaining.saturating_sub(i.others_outstanding).max(0);
    let registers = i64::try_from(i.registers.max(1)).unwrap_or(i64::MAX);
    // Rounded up (both are positive).
    let fair = (remaining / registers + i64::from(remaining % registers != 0)).max(i.floor);
    let cap = i128::from(i.limit.max(0)) * i128::from(i.max_share_percent) / 100;
    let cap = i64::try_from(cap).unwrap_or(i64::MAX).max(1);
    fair.min(cap).min(free)
}

fn money(kopecks: i64) -> Result<Money, DbError> {
    Money::from_minor(kopecks).map_err(DbError::other)
}

fn both(sum: UseSum) -> Result<UsesAndMoney, DbError> {
    Ok(UsesAndMoney {
        uses: sum.uses,
        money: money(sum.spent)?,
    })
}

fn seq_of(through: i64) -> Option<Seq> {
    Seq::try_from(through).ok()
}

impl Leases {
    /// The service over `repo`.
    pub fn new(repo: Arc<dyn Repository>, clock: Arc<dyn Clock>, settings: LeaseSettings) -> Self {
        Leases {
            repo,
            clock,
            settings,
        }
    }

    /// New leases for `register`, one per promotion of its merchant's
    /// current ruleset with a global limit, replacing its old ones.
    pub async fn grant(&self, register: &RegisterCredentials) -> Result<LeaseGrant, DbError> {
        let now = self.clock.now();
        let settings = self.settings;
        let merchant = register.merchant_id;
        let register_id = register.register_id;
        let ttl = TimeDelta::seconds(i64::try_from(settings.lease_secs).unwrap_or(i64::MAX));
        let expires_at = now
            .checked_add_signed(ttl)
            .unwrap_or(DateTime::<Utc>::MAX_UTC);
        let leases = self
            .repo
            .write(move |tx| {
                let Some(current) = tx.current_ruleset(merchant)? else {
                    return Ok(Vec::new());
                };
                let leased: Vec<&Promotion> = current
                    .ruleset
                    .promotions
                    .iter()
                    .filter(|p| is_leased(p) && p.ends_at.is_none_or(|end| end > now))
                    .collect();
                if leased.is_empty() {
                    // Nothing to lease: no locks, no sums.
                    return Ok(Vec::new());
                }
                // The register's row lock orders this grant with its own
                // uploads, so its head and the records counted agree; then
                // grants of one merchant take turns. Ingest takes the same
                // rows in the same order (register, then merchant).
                tx.lock_register(register_id)?;
                tx.lock_merchant(merchant)?;
                let through = tx.head(register_id)?.map_or(0, |h| h.seq.get());
                let in_service = tx
                    .registers(merchant)?
                    .iter()
                    .filter(|r| r.revoked_at.is_none())
                    .count();
                let in_service = u64::try_from(in_service).unwrap_or(u64::MAX).max(1);
                let mut granted = Vec::new();
                for p in leased {
                    granted.push(grant_one(
                        tx,
                        merchant,
                        register_id,
                        p,
                        through,
                        in_service,
                        &settings,
                        now,
                        expires_at,
                    )?);
                }
                Ok(granted)
            })
            .await?;
        tracing::debug!(register_id = %register_id, leases = leases.len(), "quota leases granted");
        Ok(LeaseGrant {
            leases,
            server_time: now,
        })
    }

    /// HQ's report: every promotion with a global limit in the current
    /// ruleset, its spend, its leases outstanding, and each register's
    /// spend and lease.
    pub async fn report(&self, merchant: MerchantId) -> Result<LeaseReport, DbError> {
        let now = self.clock.now();
        self.repo
            .read(move |tx| {
                tx.merchant(merchant)?
                    .ok_or_else(|| DbError::NotFound(format!("merchant {merchant}")))?;
                let Some(current) = tx.current_ruleset(merchant)? else {
                    return Ok(LeaseReport {
                        merchant_id: merchant,
                        at: now,
                        promotions: Vec::new(),
                    });
                };
                let leases = tx.merchant_leases(merchant)?;
                let spend = tx.spend_by_register(merchant)?;
                let mut promotions = Vec::new();
                for p in current.ruleset.promotions.iter().filter(|p| is_leased(p)) {
                    promotions.push(promotion_report(p, &leases, &spend, now)?);
                }
                promotions.sort_by(|a, b| a.promotion_id.cmp(&b.promotion_id));
                Ok(LeaseReport {
                    merchant_id: merchant,
                    at: now,
                    promotions,
                })
            })
            .await
    }
}

/// Decides and stores `register`'s lease of `p`.
#[allow(clippy::too_many_arguments)]
fn grant_one(
    tx: &mut dyn Tx,
    merchant: MerchantId,
    register: RegisterId,
    p: &Promotion,
    through: i64,
    in_service: u64,
    settings: &LeaseSettings,
    now: DateTime<Utc>,
    expires_at: DateTime<Utc>,
) -> Result<QuotaLease, DbError> {
    let pool = tx.lease_pool(merchant, &p.id)?;
    let others = pool
        .leases
        .iter()
        .filter(|a| a.lease.register_id != register)
        .fold(UseSum::default(), |sum, a| {
            let o = outstanding(a, now);
            UseSum {
                uses: sum.uses.saturating_add(o.uses),
                spent: sum.spent.saturating_add(o.spent),
            }
        });
    let inputs = |limit, counted, others_outstanding, floor| ShareInputs {
        limit,
        counted,
        others_outstanding,
        registers: in_service,
        floor,
        max_share_percent: settings.max_share_percent,
    };
    let uses = p.limits.total_uses.map_or(0, |max| {
        share(inputs(
            i64::try_from(max).unwrap_or(i64::MAX),
            pool.counted.uses,
            others.uses,
            i64::try_from(settings.min_share_uses).unwrap_or(i64::MAX),
        ))
    });
    let budget = p.limits.budget.map_or(0, |max| {
        share(inputs(
            max.minor(),
            pool.counted.spent,
            others.spent,
            settings.min_share_kopecks,
        ))
    });
    let row = tx.replace_lease(
        merchant,
        &NewLease {
            register_id: register,
            promotion_id: p.id.clone(),
            through_seq: through,
            uses,
            budget,
            issued_at: now,
            expires_at,
        },
    )?;
    Ok(QuotaLease {
        promotion: p.id.clone(),
        lease_id: row.id,
        through_seq: seq_of(through),
        uses: u64::try_from(uses).unwrap_or(0),
        budget: money(budget)?,
        expires_at,
    })
}

fn promotion_report(
    p: &Promotion,
    leases: &[LeaseAccount],
    spend: &[crate::db::RegisterSpend],
    now: DateTime<Utc>,
) -> Result<PromotionLeases, DbError> {
    let mut registers: BTreeMap<RegisterId, RegisterLease> = BTreeMap::new();
    let mut counted = UseSum::default();
    for s in spend.iter().filter(|s| s.promotion_id == p.id) {
        counted.uses = counted.uses.saturating_add(s.spent.uses);
        counted.spent = counted.spent.saturating_add(s.spent.spent);
        registers.insert(
            s.register_id,
            RegisterLease {
                register_id: s.register_id,
                spent: both(s.spent)?,
                lease: None,
            },
        );
    }
    let mut total_outstanding = UseSum::default();
    for a in leases.iter().filter(|a| a.lease.promotion_id == p.id) {
        let o = outstanding(a, now);
        total_outstanding.uses = total_outstanding.uses.saturating_add(o.uses);
        total_outstanding.spent = total_outstanding.spent.saturating_add(o.spent);
        let view = LeaseView {
            lease_id: a.lease.id,
            through_seq: seq_of(a.lease.through_seq),
            granted: both(UseSum {
                uses: a.lease.uses,
                spent: a.lease.budget,
            })?,
            used: both(a.consumed)?,
            outstanding: both(o)?,
            issued_at: a.lease.issued_at,
            expires_at: a.lease.expires_at,
            expired: a.lease.expires_at <= now,
        };
        registers
            .entry(a.lease.register_id)
            .or_insert(RegisterLease {
                register_id: a.lease.register_id,
                spent: UsesAndMoney::default(),
                lease: None,
            })
            .lease = Some(view);
    }
    Ok(PromotionLeases {
        promotion_id: p.id.clone(),
        name: p.name.clone(),
        total_uses: p.limits.total_uses,
        budget: p.limits.budget,
        counted: both(counted)?,
        outstanding: both(total_outstanding)?,
        registers: registers.into_values().collect(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use shared::ids::PromotionId;

    fn inputs(limit: i64, counted: i64, others: i64) -> ShareInputs {
        ShareInputs {
            limit,
            counted,
            others_outstanding: others,
            registers: 3,
            floor: 1,
            max_share_percent: 100,
        }
    }

    #[test]
    fn a_share_is_what_remains_over_the_registers_within_the_free_pool() {
        // 30 over three registers, one after the other: 10 each, all of it.
        assert_eq!(share(inputs(30, 0, 0)), 10);
        assert_eq!(share(inputs(30, 0, 10)), 10);
        assert_eq!(share(inputs(30, 0, 20)), 10);
        // Everything leased to others: nothing, however fair a share is.
        assert_eq!(share(inputs(30, 0, 30)), 0);
        // Rounded up, but never past the free pool.
        assert_eq!(share(inputs(10, 0, 8)), 2);
        assert_eq!(share(inputs(10, 0, 0)), 4);
        // Spent past the limit (older agents offline): nothing.
        assert_eq!(share(inputs(10, 12, 0)), 0);
    }

    #[test]
    fn the_floor_and_the_cap_bound_a_share() {
        let few = ShareInputs {
            registers: 100,
            floor: 5,
            ..inputs(30, 0, 0)
        };
        assert_eq!(share(few), 5, "the floor, while the pool has it");
        assert_eq!(
            share(ShareInputs {
                others_outstanding: 28,
                ..few
            }),
            2
        );
        let capped = ShareInputs {
            registers: 1,
            max_share_percent: 25,
            ..inputs(1000, 0, 0)
        };
        assert_eq!(share(capped), 250, "a quarter of the limit at most");
        let tiny = ShareInputs {
            registers: 1,
            max_share_percent: 1,
            ..inputs(3, 0, 0)
        };
        assert_eq!(share(tiny), 1, "a cap below one check still leases one");
    }

    #[test]
    fn an_expired_lease_or_one_used_up_holds_nothing_back() {
        let now = DateTime::from_timestamp(1_800_000_000, 0).unwrap();
        let account = |uses, budget, used_uses, used_spent, expires_at| LeaseAccount {
            lease: crate::db::LeaseRow {
                id: 1,
                register_id: RegisterId::new(1).unwrap(),
                promotion_id: PromotionId::parse("p").unwrap(),
                through_seq: 0,
                uses,
                budget,
                issued_at: now,
                expires_at,
            },
            consumed: UseSum {
                uses: used_uses,
                spent: used_spent,
            },
        };
        let later = now + TimeDelta::hours(1);
        assert_eq!(
            outstanding(&account(10, 500, 3, 200, later), now),
            UseSum {
                uses: 7,
                spent: 300
            }
        );
        assert_eq!(
            outstanding(&account(10, 500, 12, 900, later), now),
            UseSum::default(),
            "a till past its lease holds nothing more back"
        );
        assert_eq!(
            outstanding(&account(10, 500, -2, -100, later), now),
            UseSum {
                uses: 10,
                spent: 500
            },
            "returns of earlier sales never hold back more than the lease"
        );
        assert_eq!(
            outstanding(&account(10, 500, 0, 0, now), now),
            UseSum::default(),
            "expired: back in the pool"
        );
    }
}
