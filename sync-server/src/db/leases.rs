//! Primitives of quota leases: each register's current share of a
//! promotion's global limits, and the sums the decisions rest on (what the
//! merchant's stored records gave of a promotion, and what each lease's
//! register gave under it). Every decision is `services::leases`'s.

use chrono::{DateTime, Utc};
use shared::ids::{MerchantId, PromotionId, RegisterId};

use super::DbError;

/// A lease as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeaseRow {
    /// Its id (a renewal gets a new one).
    pub id: i64,
    /// The register holding it.
    pub register_id: RegisterId,
    /// The promotion.
    pub promotion_id: PromotionId,
    /// The register's stored head when granted (0 before any record); the
    /// lease covers the records after it.
    pub through_seq: i64,
    /// Checks leased.
    pub uses: i64,
    /// Kopecks leased.
    pub budget: i64,
    /// When it was granted.
    pub issued_at: DateTime<Utc>,
    /// When the server takes its unspent part back.
    pub expires_at: DateTime<Utc>,
}

/// A lease to store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewLease {
    /// The register.
    pub register_id: RegisterId,
    /// The promotion.
    pub promotion_id: PromotionId,
    /// The register's stored head now (0 before any record).
    pub through_seq: i64,
    /// Checks leased.
    pub uses: i64,
    /// Kopecks leased.
    pub budget: i64,
    /// Now.
    pub issued_at: DateTime<Utc>,
    /// When it ends.
    pub expires_at: DateTime<Utc>,
}

/// Checks and money, summed over stored records (net of returns).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct UseSum {
    /// Checks.
    pub uses: i64,
    /// Kopecks given.
    pub spent: i64,
}

/// A lease with what its register's stored records after its
/// `through_seq` gave of its promotion.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeaseAccount {
    /// The lease.
    pub lease: LeaseRow,
    /// What the register's stored records gave under it.
    pub consumed: UseSum,
}

/// A promotion's pool as stored: what the merchant's records gave of it,
/// and every lease of it with its consumption, read at once.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LeasePool {
    /// What every stored record of the merchant gave of the promotion.
    pub counted: UseSum,
    /// The leases of the promotion, expired ones included.
    pub leases: Vec<LeaseAccount>,
}

/// What one register's stored records gave of one promotion.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegisterSpend {
    /// The register.
    pub register_id: RegisterId,
    /// The promotion.
    pub promotion_id: PromotionId,
    /// The sums.
    pub spent: UseSum,
}

/// Reads and writes of quota leases.
pub trait LeasesTx {
    /// Holds the register's row until the transaction ends, so a grant and
    /// the register's own uploads (which update that row first) take
    /// turns. Taken before the merchant's row, in the order ingest takes
    /// them. A backend with a single writer has nothing more to do.
    fn lock_register(&mut self, register: RegisterId) -> Result<(), DbError>;
    /// The promotion's pool at one instant: the sums over the merchant's
    /// stored records and every lease with its consumption, in one
    /// statement so that a record stored meanwhile is counted in both or
    /// in neither.
    fn lease_pool(
        &mut self,
        merchant: MerchantId,
        promotion: &PromotionId,
    ) -> Result<LeasePool, DbError>;
    /// Stores `lease` in place of the register's lease of its promotion.
    fn replace_lease(
        &mut self,
        merchant: MerchantId,
        lease: &NewLease,
    ) -> Result<LeaseRow, DbError>;
    /// Every lease of the merchant with its consumption, by promotion and
    /// register.
    fn merchant_leases(&mut self, merchant: MerchantId) -> Result<Vec<LeaseAccount>, DbError>;
    /// What each register's stored records gave of each promotion of the
    /// merchant, by promotion and register.
    fn spend_by_register(&mut self, merchant: MerchantId) -> Result<Vec<RegisterSpend>, DbError>;
}
