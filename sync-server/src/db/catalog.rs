//! Primitives of the catalog: merchants, brands, stores, enrollment tokens
//! and registers.

use chrono::{DateTime, Utc};
use shared::crypto::{Hash256, PublicKey};
use shared::ids::{BrandId, MerchantId, RegisterId, StoreId};
use shared::money::Currency;
use shared::timezone::TimeZone;

use super::DbError;
use crate::drift::ClockReading;
use crate::wire::admin::{Brand, Merchant, NewBrand, NewMerchant, NewStore, Register, Store};

/// A one-time enrollment token, by its hash.
#[derive(Debug, Clone)]
pub struct NewEnrollmentToken {
    /// The store the register will belong to.
    pub store_id: StoreId,
    /// SHA-256 of the token text.
    pub token_hash: Hash256,
    /// When it stops working.
    pub expires_at: DateTime<Utc>,
}

/// A register asking to enroll.
#[derive(Debug, Clone)]
pub struct NewRegister {
    /// SHA-256 of the presented enrollment token.
    pub token_hash: Hash256,
    /// The register's record-signing key.
    pub public_key: PublicKey,
    /// SHA-256 of the secret issued to it.
    pub secret_hash: Hash256,
    /// Host name, for HQ.
    pub hostname: String,
    /// Agent version.
    pub agent_version: String,
    /// The time of enrollment.
    pub now: DateTime<Utc>,
}

/// A stored enrollment token with the store it enrolls into.
#[derive(Debug, Clone)]
pub struct EnrollmentTokenRow {
    /// When it stops working.
    pub expires_at: DateTime<Utc>,
    /// Whether a register was enrolled with it.
    pub used: bool,
    /// The store.
    pub store_id: StoreId,
    /// The store's name.
    pub store_name: String,
    /// The store's time zone.
    pub store_timezone: TimeZone,
    /// The brand the store trades under.
    pub store_brand: Option<BrandId>,
    /// The store's merchant.
    pub merchant_id: MerchantId,
    /// The merchant's currency.
    pub currency: Currency,
}

/// What authenticating a register needs.
#[derive(Debug, Clone)]
pub struct RegisterCredentials {
    /// Its id.
    pub register_id: RegisterId,
    /// Its merchant.
    pub merchant_id: MerchantId,
    /// Its store.
    pub store_id: StoreId,
    /// The merchant's currency.
    pub currency: Currency,
    /// The key its records are signed with.
    pub public_key: PublicKey,
    /// SHA-256 of its secret.
    pub secret_hash: Hash256,
    /// Whether HQ revoked it.
    pub revoked: bool,
}

/// A register as HQ lists it: the shared fields and its standing.
#[derive(Debug, Clone)]
pub struct RegisterStatus {
    /// The shared fields.
    pub register: Register,
    /// When HQ revoked it, if it did.
    pub revoked_at: Option<DateTime<Utc>>,
    /// The last clock drift estimate.
    pub clock: Option<ClockReading>,
    /// What its last heartbeat said, if it sent one.
    pub heartbeat: Option<HeartbeatRow>,
}

/// A register's last heartbeat, as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeartbeatRow {
    /// When the server received it.
    pub at: DateTime<Utc>,
    /// Records not yet acknowledged.
    pub backlog: i64,
    /// Records refused for good.
    pub dead_letters: i64,
    /// The ruleset version in use.
    pub ruleset_version: Option<i64>,
    /// Its alarms.
    pub alarms: Vec<String>,
}

/// Reads and writes of the catalog.
pub trait CatalogTx {
    /// Holds the merchant's row until the transaction ends, so writes that
    /// decide on the merchant's head (the next ruleset version) take turns
    /// across connections and server instances; `NotFound` for an unknown
    /// merchant. A backend with a single writer has nothing more to do.
    fn lock_merchant(&mut self, merchant: MerchantId) -> Result<(), DbError>;
    /// The merchant's currency, or `NotFound`.
    fn merchant_currency(&mut self, merchant: MerchantId) -> Result<Currency, DbError>;
    /// Inserts a merchant.
    fn insert_merchant(&mut self, new: &NewMerchant) -> Result<Merchant, DbError>;
    /// All merchants, by id.
    fn merchants(&mut self) -> Result<Vec<Merchant>, DbError>;
    /// One merchant, if it exists.
    fn merchant(&mut self, id: MerchantId) -> Result<Option<Merchant>, DbError>;
    /// Inserts a brand of a merchant.
    fn insert_brand(&mut self, merchant: MerchantId, new: &NewBrand) -> Result<Brand, DbError>;
    /// A merchant's brands, by id.
    fn brands(&mut self, merchant: MerchantId) -> Result<Vec<Brand>, DbError>;
    /// Inserts a store.
    fn insert_store(&mut self, merchant: MerchantId, new: &NewStore) -> Result<Store, DbError>;
    /// A merchant's stores, by id.
    fn stores(&mut self, merchant: MerchantId) -> Result<Vec<Store>, DbError>;
    /// One store, if it exists.
    fn store(&mut self, id: StoreId) -> Result<Option<Store>, DbError>;
    /// Inserts an enrollment token's hash.
    fn insert_enrollment_token(&mut self, token: &NewEnrollmentToken) -> Result<(), DbError>;
    /// An enrollment token by its hash.
    fn enrollment_token(&mut self, hash: &Hash256) -> Result<Option<EnrollmentTokenRow>, DbError>;
    /// Inserts a register of a store and marks the token it used as spent.
    fn insert_register(
        &mut self,
        store: StoreId,
        register: &NewRegister,
    ) -> Result<RegisterId, DbError>;
    /// A register's credentials, if it exists.
    fn register_credentials(
        &mut self,
        id: RegisterId,
    ) -> Result<Option<RegisterCredentials>, DbError>;
    /// A merchant's registers with their standing, by id.
    fn registers(&mut self, merchant: MerchantId) -> Result<Vec<RegisterStatus>, DbError>;
    /// Marks a register revoked at `now`, unless it already was.
    fn revoke_register(&mut self, id: RegisterId, now: DateTime<Utc>) -> Result<(), DbError>;
    /// The lowest agent version HQ requires of the merchant's registers,
    /// as stored; `NotFound` for an unknown merchant.
    fn minimum_agent_version(&mut self, merchant: MerchantId) -> Result<Option<String>, DbError>;
    /// Stores the lowest agent version required (none: no minimum);
    /// `NotFound` for an unknown merchant.
    fn set_minimum_agent_version(
        &mut self,
        merchant: MerchantId,
        version: Option<&str>,
    ) -> Result<(), DbError>;
    /// Stores the register's heartbeat and the agent version it reports.
    fn record_heartbeat(
        &mut self,
        id: RegisterId,
        agent_version: &str,
        heartbeat: &HeartbeatRow,
    ) -> Result<(), DbError>;
    /// Notes that the register was heard from at `now`.
    fn touch_register(&mut self, id: RegisterId, now: DateTime<Utc>) -> Result<(), DbError>;
    /// Stores the register's clock drift estimate.
    fn set_clock_drift(
        &mut self,
        id: RegisterId,
        drift_secs: i64,
        measured_at: DateTime<Utc>,
    ) -> Result<(), DbError>;
}
