//! The customers use cases: sign-up, a customer's standing and history,
//! revoking their tokens, the change feed that fills the registers' caches,
//! and the overdraft report.
//!
//! Standing is computed, never kept as a running total: lifetime spend is
//! the sum of what ingest stored per record; points are the ledger replayed
//! by [`shared::points::replay`] in the server's order under the
//! programme of the merchant's current ruleset, at the instant the caller
//! passes.

use std::sync::Arc;

use chrono::{DateTime, Datelike, NaiveDate, TimeDelta, Utc};
use shared::identity::{Ean13, Email, Gender, PhoneNumber, first_name};
use shared::ids::{CustomerId, MerchantId, RegisterId};
use shared::money::Money;
use shared::points::{PointsPolicy, PointsStanding, replay};
use shared::pricing::CustomerStanding;
use shared::ruleset::TierBasis;
use shared::wire::sync::{CustomerDeltaPage, CustomerSnapshot, LeavingSpend};

use crate::db::{Announcement, ChangedCustomer, DbError, Repository, Tx};
use crate::wire::admin::{
    CustomerOverdraft, NewCustomer, OverdraftRecord, OverdraftReport, PurchaseSummary,
};

/// The most purchases a customer view lists.
const PURCHASES_SHOWN: usize = 100;

/// A customer with the standing the server computes.
#[derive(Debug, Clone)]
pub struct CustomerProfile {
    /// Id.
    pub id: CustomerId,
    /// Merchant.
    pub merchant_id: MerchantId,
    /// Name.
    pub name: String,
    /// Phone.
    pub phone: Option<PhoneNumber>,
    /// E-mail.
    pub email: Option<Email>,
    /// Gender.
    pub gender: Gender,
    /// Birth date.
    pub birth_date: Option<NaiveDate>,
    /// Sales minus refunds.
    pub lifetime_spend: Money,
    /// Points replayed from the ledger under the current ruleset's
    /// programme, at the instant asked for.
    pub points: PointsStanding,
    /// The newest purchases first.
    pub purchases: Vec<PurchaseSummary>,
}

/// Customers and their standing.
#[derive(Clone)]
pub struct Customers {
    repo: Arc<dyn Repository>,
}

/// The points policy of the merchant's current ruleset (none published:
/// points are available at once and never expire).
fn policy(tx: &mut dyn Tx, merchant: MerchantId) -> Result<PointsPolicy, DbError> {
    Ok(tx
        .current_ruleset(merchant)?
        .map(|c| PointsPolicy::of(&c.ruleset.programme))
        .unwrap_or_default())
}

/// The customer's points at `now`.
fn points(
    tx: &mut dyn Tx,
    policy: PointsPolicy,
    customer: CustomerId,
    now: DateTime<Utc>,
) -> Result<PointsStanding, DbError> {
    Ok(replay(policy, &tx.ledger(customer)?, now))
}

impl Customers {
    /// The service over `repo`.
    pub fn new(repo: Arc<dyn Repository>) -> Self {
        Customers { repo }
    }

    /// Signs a customer up; a phone taken in the merchant is a conflict.
    pub async fn create(
        &self,
        merchant: MerchantId,
        new: NewCustomer,
    ) -> Result<CustomerId, DbError> {
        self.repo
            .write(move |tx| {
                let id = tx.insert_customer(merchant, &new)?;
                tx.announce(Announcement::Customers { merchant })?;
                Ok(id)
            })
            .await
    }

    /// A customer with standing (points taken at `now`) and history.
    pub async fn profile(
        &self,
        id: CustomerId,
        now: DateTime<Utc>,
    ) -> Result<CustomerProfile, DbError> {
        self.repo
            .read(move |tx| {
                let row = tx
                    .customer(id)?
                    .ok_or_else(|| DbError::NotFound(format!("customer {id}")))?;
                let policy = policy(tx, row.merchant_id)?;
                Ok(CustomerProfile {
                    points: points(tx, policy, id, now)?,
                    purchases: tx.purchases(id, PURCHASES_SHOWN)?,
                    id: row.id,
                    merchant_id: row.merchant_id,
                    name: row.name,
                    phone: row.phone,
                    email: row.email,
                    gender: row.gender,
                    birth_date: row.birth_date,
                    lifetime_spend: row.lifetime_spend,
                })
            })
            .await
    }

    /// Refuses the customer's tokens issued before `now`; returns the
    /// merchant, whose registers then fetch the customer again.
    pub async fn revoke_tokens(
        &self,
        id: CustomerId,
        now: DateTime<Utc>,
    ) -> Result<MerchantId, DbError> {
        self.repo
            .write(move |tx| {
                let merchant = tx
                    .set_tokens_valid_after(id, now)?
                    .ok_or_else(|| DbError::NotFound(format!("customer {id}")))?;
                tx.mark_customer_changed(merchant, id)?;
                tx.announce(Announcement::Customers { merchant })?;
                Ok(merchant)
            })
            .await
    }

    /// A page of the merchant's customers changed after `after`, in cursor
    /// order, with the highest seq of `register` stored when the page was
    /// read (the same snapshot); `now` places the rolling tier window and
    /// dates their points.
    pub async fn changes(
        &self,
        merchant: MerchantId,
        register: RegisterId,
        after: i64,
        limit: usize,
        now: DateTime<Utc>,
    ) -> Result<CustomerDeltaPage, DbError> {
        self.repo
            .read(move |tx| {
                let mut page = change_page(tx, merchant, after, limit, now)?;
                page.stored_through = tx.head(register)?.map(|head| head.seq);
                Ok(page)
            })
            .await
    }

    /// The merchant's customers whose points records overdrew, replayed in
    /// the server's order, with their balances at `now`.
    pub async fn overdrafts(
        &self,
        merchant: MerchantId,
        now: DateTime<Utc>,
    ) -> Result<OverdraftReport, DbError> {
        self.repo
            .read(move |tx| overdrafts(tx, merchant, now))
            .await
    }
}

fn change_page(
    tx: &mut dyn Tx,
    merchant: MerchantId,
    after: i64,
    limit: usize,
    now: DateTime<Utc>,
) -> Result<CustomerDeltaPage, DbError> {
    // The current programme, read once: its rolling tier window, if it has
    // one, and its points policy.
    let programme = tx.current_ruleset(merchant)?.map(|c| c.ruleset.programme);
    let window = match programme.as_ref().map(|p| p.tier_basis) {
        Some(TierBasis::RollingWindow { days }) => Some(TimeDelta::days(i64::from(days))),
        _ => None,
    };
    let policy = programme.as_ref().map(PointsPolicy::of).unwrap_or_default();
    let window_start = window.map(|w| now - w);
    // One row more than asked tells whether another page is ready.
    let mut rows = tx.changed_customers(merchant, after, limit.saturating_add(1), window_start)?;
    let more = rows.len() > limit;
    rows.truncate(limit);
    let next_cursor = rows.last().map_or(after, |c| c.cursor);
    let salt = tx.phone_salt(merchant)?;
    let mut customers = Vec::with_capacity(rows.len());
    for changed in rows {
        let standing = points(tx, policy, changed.row.id, now)?;
        let leaving = match (window, window_start) {
            (Some(window), Some(start)) => tx
                .spend_by_day(changed.row.id, start)?
                .into_iter()
                .map(|(latest, spend)| LeavingSpend {
                    until: latest + window,
                    spend,
                })
                .collect(),
            _ => Vec::new(),
        };
        customers.push(snapshot(changed, standing, leaving, &salt, now));
    }
    Ok(CustomerDeltaPage {
        next_cursor,
        customers,
        more,
        stored_through: None,
        phone_salt: Some(salt),
    })
}

/// What a register caches of a customer: what pricing needs and a first
/// name to greet, never a full name, phone, e-mail or birth date. The
/// phone is hashed with the merchant's `salt`; the birth date becomes the
/// birthday's month and day and the age turned on it in `now`'s year,
/// which give every birthday window and age the date would.
fn snapshot(
    changed: ChangedCustomer,
    standing: PointsStanding,
    window_spend_leaving: Vec<LeavingSpend>,
    salt: &str,
    now: DateTime<Utc>,
) -> CustomerSnapshot {
    let row = changed.row;
    let mut priced = CustomerStanding::default();
    priced.set_birth_date(row.birth_date, now.year());
    CustomerSnapshot {
        id: row.id,
        name: first_name(&row.name),
        card_number: Ean13::card_for(row.id),
        phone_hash: row.phone.map(|p| p.salted_hash(salt)),
        lifetime_spend: row.lifetime_spend,
        points_balance: standing.available,
        tokens_valid_after: changed.tokens_valid_after,
        gender: row.gender,
        birthday: priced.birthday,
        age: priced.age,
        purchases: u64::try_from(changed.sales).ok(),
        tags: Vec::new(),
        promotion_uses: changed.promotion_uses,
        last_birthday_bonus: changed.last_birthday_bonus,
        window_spend: changed.window_spend,
        window_spend_leaving,
        points_pending: standing.pending,
        points_expiring: standing.expiring,
    }
}

fn overdrafts(
    tx: &mut dyn Tx,
    merchant: MerchantId,
    now: DateTime<Utc>,
) -> Result<OverdraftReport, DbError> {
    let policy = policy(tx, merchant)?;
    let mut customers = Vec::new();
    for (customer_id, name) in tx.spending_customers(merchant)? {
        let standing = points(tx, policy, customer_id, now)?;
        if standing.overdrafts.is_empty() {
            continue;
        }
        let mut records = Vec::with_capacity(standing.overdrafts.len());
        for o in &standing.overdrafts {
            let stored = tx.overdrawn_record(crate::db::RecordKey {
                register_id: o.key.register_id,
                seq: o.key.seq,
            })?;
            records.push(OverdraftRecord {
                record_id: stored.record_id,
                register_id: o.key.register_id,
                seq: o.key.seq,
                store_id: stored.store_id,
                wall_time: o.at,
                cause: o.cause,
                points_redeemed: stored.points_redeemed,
                overdrawn: o.points,
                balance_after: o.balance_after,
            });
        }
        customers.push(CustomerOverdraft {
            customer_id,
            name,
            points_balance: standing.available,
            overdrawn: standing.overdrafts.iter().map(|o| o.points).sum(),
            records,
        });
    }
    Ok(OverdraftReport {
        merchant_id: merchant,
        customers,
    })
}
