//! Primitives of customers: the rows, the change cursor that feeds the
//! registers' caches, the points ledger and the purchase history. Spend
//! is summed from what ingest stored per record; points are replayed by the
//! customers service, never kept as a running total.

use std::collections::BTreeMap;

use chrono::{DateTime, NaiveDate, Utc};
use shared::identity::{Email, Gender, PhoneNumber};
use shared::ids::{CustomerId, MerchantId, PromotionId, StoreId};
use shared::money::Money;
use shared::points::LedgerEntry;

use super::{AccountId, DbError, RecordKey};
use crate::wire::admin::{AdjustmentKind, NewCustomer, PointsAdjustment, PurchaseSummary};

/// A points adjustment to store.
#[derive(Debug, Clone)]
pub struct NewAdjustment {
    /// The customer's merchant.
    pub merchant_id: MerchantId,
    /// The customer.
    pub customer_id: CustomerId,
    /// Positive credits, negative debits; never zero.
    pub points: i64,
    /// Why.
    pub reason: String,
    /// Where it comes from.
    pub kind: AdjustmentKind,
    /// Who, as the audit trail names them.
    pub actor: String,
    /// Their account, when a person made it.
    pub account_id: Option<AccountId>,
    /// Unique in the merchant.
    pub idempotency_key: String,
    /// When.
    pub at: DateTime<Utc>,
    /// The programme's expiry days now, which the credit keeps.
    pub expire_days: Option<u32>,
}

/// A customer as stored, with their lifetime spend.
#[derive(Debug, Clone)]
pub struct CustomerRow {
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
}

/// A customer changed after a cursor, with the sums their till snapshot
/// needs.
#[derive(Debug, Clone)]
pub struct ChangedCustomer {
    /// The customer.
    pub row: CustomerRow,
    /// Their change cursor.
    pub cursor: i64,
    /// Tokens issued before this instant are refused.
    pub tokens_valid_after: Option<DateTime<Utc>>,
    /// Sales stored.
    pub sales: i64,
    /// Checks per promotion, net of uses given back.
    pub promotion_uses: BTreeMap<PromotionId, u64>,
    /// The store-local date of the last birthday bonus.
    pub last_birthday_bonus: Option<NaiveDate>,
    /// Spend after the window start asked for, when one was.
    pub window_spend: Option<Money>,
    /// Their tags (segments among them), sorted.
    pub tags: Vec<String>,
}

/// A record that overdrew a customer's points, as the report shows it.
#[derive(Debug, Clone, Copy)]
pub struct OverdrawnRecord {
    /// Its id.
    pub record_id: uuid::Uuid,
    /// Where.
    pub store_id: StoreId,
    /// Points it redeemed.
    pub points_redeemed: i64,
}

/// Reads and writes of customers.
pub trait CustomersTx {
    /// Hands out the merchant's next change cursor and stamps the customer
    /// with it, so registers fetch the customer again.
    fn mark_customer_changed(
        &mut self,
        merchant: MerchantId,
        customer: CustomerId,
    ) -> Result<(), DbError>;
    /// Inserts a customer; a phone taken in the merchant is a `Conflict`.
    fn insert_customer(
        &mut self,
        merchant: MerchantId,
        new: &NewCustomer,
    ) -> Result<CustomerId, DbError>;
    /// One customer, if they exist.
    fn customer(&mut self, id: CustomerId) -> Result<Option<CustomerRow>, DbError>;
    /// The customer's points entries, in the server's order: records, each
    /// with the points terms of the ruleset it was priced with, and
    /// adjustments (credits available at once, with the expiry they were
    /// made under).
    fn ledger(&mut self, customer: CustomerId) -> Result<Vec<LedgerEntry>, DbError>;
    /// The customer's newest records first.
    fn purchases(
        &mut self,
        customer: CustomerId,
        limit: usize,
    ) -> Result<Vec<PurchaseSummary>, DbError>;
    /// Refuses the customer's tokens issued before `now`; their merchant,
    /// or `None` for an unknown customer.
    fn set_tokens_valid_after(
        &mut self,
        customer: CustomerId,
        now: DateTime<Utc>,
    ) -> Result<Option<MerchantId>, DbError>;
    /// Up to `limit` customers of the merchant changed after `after`, in
    /// cursor order, with their spend since `window_start` when given.
    fn changed_customers(
        &mut self,
        merchant: MerchantId,
        after: i64,
        limit: usize,
        window_start: Option<DateTime<Utc>>,
    ) -> Result<Vec<ChangedCustomer>, DbError>;
    /// The merchant's salt of the phone hashes its tills keep (empty for
    /// an unknown merchant).
    fn phone_salt(&mut self, merchant: MerchantId) -> Result<String, DbError>;
    /// The customer's spend since `window_start` by day (UTC): each day's
    /// latest record and its sum.
    fn spend_by_day(
        &mut self,
        customer: CustomerId,
        window_start: DateTime<Utc>,
    ) -> Result<Vec<(DateTime<Utc>, Money)>, DbError>;
    /// The merchant's customers with entries that spend or claw back
    /// points, the only ones that can overdraw.
    fn spending_customers(
        &mut self,
        merchant: MerchantId,
    ) -> Result<Vec<(CustomerId, String)>, DbError>;
    /// A stored record as the overdraft report names it.
    fn overdrawn_record(&mut self, key: RecordKey) -> Result<OverdrawnRecord, DbError>;
    /// Holds the customer's row until the transaction ends, so a decision
    /// on their balance holds until it commits (PostgreSQL; SQLite has one
    /// writer). `NotFound` for an unknown customer.
    fn lock_customer(&mut self, customer: CustomerId) -> Result<(), DbError>;
    /// Stores an adjustment, ordered after every record stored so far; a
    /// key used in the merchant is a `Conflict`.
    fn insert_adjustment(&mut self, new: &NewAdjustment) -> Result<PointsAdjustment, DbError>;
    /// The merchant's adjustment made under `key`, if any.
    fn adjustment_by_key(
        &mut self,
        merchant: MerchantId,
        key: &str,
    ) -> Result<Option<PointsAdjustment>, DbError>;
    /// The customer's newest adjustments first.
    fn adjustments(
        &mut self,
        customer: CustomerId,
        limit: usize,
    ) -> Result<Vec<PointsAdjustment>, DbError>;
}
