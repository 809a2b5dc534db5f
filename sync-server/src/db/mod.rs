//! Storage behind one narrow trait, because a second backend (PostgreSQL)
//! is planned: [`Database`]. SQLite ([`SqliteDatabase`]) is the embedded
//! default. Each backend owns its migrations and runs them at start-up.
//!
//! Methods return boxed futures so the trait stays object-safe
//! (`Arc<dyn Database>`). Outcomes a caller must tell apart (a used
//! enrollment token, a fork in an upload) are values; [`DbError`] is for
//! what went wrong with storage itself.

pub mod reprice;
mod sqlite;
mod web;

use chrono::{DateTime, NaiveDate, Utc};
use futures::future::BoxFuture;
use shared::crypto::{Hash256, PublicKey};
use shared::identity::{Email, Gender, PhoneNumber};
use shared::ids::{CustomerId, MerchantId, PromotionId, RegisterId, RulesetVersion, Seq, StoreId};
use shared::money::{Currency, Money};
use shared::points::PointsStanding;
use shared::release::SignedRuleset;
use shared::ruleset::Ruleset;
use shared::wire::admin::{
    Brand, Merchant, NewBrand, NewCustomer, NewMerchant, NewStore, OverdraftReport, Published,
    PurchaseSummary, Register, Store,
};
use shared::wire::sync::{CustomerDeltaPage, SaleWithReturns};

use crate::alerts::NewAlert;
use crate::drift::ClockReading;
use crate::ingest::{CheckedRecord, IngestContext, IngestOutcome};
use crate::publish::{PublishRefusal, RulesetHead, SealedRelease};
use crate::wire::{Alert, QuarantinedRecord};

pub use sqlite::SqliteDatabase;
pub use web::{AdminSession, NewAdminSession, OfferRating, OfferReview, Rating, WebStorage};

/// A storage failure.
#[derive(Debug, thiserror::Error)]
pub enum DbError {
    /// The named thing does not exist.
    #[error("{0} not found")]
    NotFound(String),
    /// The write conflicts with stored data, such as a taken phone number.
    #[error("{0}")]
    Conflict(String),
    /// Anything else; never shown to clients.
    #[error("storage failure: {0}")]
    Other(Box<dyn std::error::Error + Send + Sync>),
}

/// What a storage call returns.
pub type DbFuture<'a, T> = BoxFuture<'a, Result<T, DbError>>;

/// Builds the next release from the current head. Runs inside the writer
/// transaction, so versions are assigned under the lock.
pub type ReleaseBuilder =
    Box<dyn FnOnce(RulesetHead) -> Result<SealedRelease, PublishRefusal> + Send>;

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

/// The result of an enrollment attempt.
#[derive(Debug, Clone)]
pub enum EnrollOutcome {
    /// The register exists now and the token is spent.
    Enrolled(EnrolledRegister),
    /// No such token.
    TokenUnknown,
    /// The token enrolled another register already.
    TokenUsed,
    /// The token expired at this time.
    TokenExpired(DateTime<Utc>),
}

/// A newly enrolled register and where it belongs.
#[derive(Debug, Clone)]
pub struct EnrolledRegister {
    /// Its id.
    pub register_id: RegisterId,
    /// Its merchant.
    pub merchant_id: MerchantId,
    /// Its store.
    pub store_id: StoreId,
    /// The store's name.
    pub store_name: String,
    /// The store's time zone.
    pub store_timezone: String,
    /// The brand the store trades under.
    pub store_brand: Option<shared::ids::BrandId>,
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
}

/// Which alerts to list: newest first, older than `before` when given.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AlertPage {
    /// Only alerts with a smaller id.
    pub before: Option<i64>,
    /// The most alerts.
    pub limit: usize,
}

/// The current ruleset of a merchant.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct CurrentRuleset {
    /// Its version.
    pub version: RulesetVersion,
    /// The rules.
    pub ruleset: Ruleset,
}

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

/// Whether a stored record is a sale or a return.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CheckKind {
    /// A sale.
    Sale,
    /// A return.
    Return,
}

impl CheckKind {
    /// The stable code used in storage and on the wire.
    #[must_use]
    pub const fn code(self) -> &'static str {
        match self {
            CheckKind::Sale => "sale",
            CheckKind::Return => "return",
        }
    }
}

/// The stored records of a merchant, as statistics need them.
#[derive(Debug, Clone)]
pub struct StatsFacts {
    /// The merchant's currency.
    pub currency: Currency,
    /// The merchant's stores.
    pub stores: Vec<StoreFact>,
    /// Every stored record.
    pub checks: Vec<CheckFact>,
    /// Every promotion's part of every record.
    pub promotion_uses: Vec<PromotionUseFact>,
}

/// A store as statistics need it.
#[derive(Debug, Clone)]
pub struct StoreFact {
    /// Id.
    pub id: StoreId,
    /// Name.
    pub name: String,
    /// IANA time zone.
    pub timezone: String,
}

/// A stored record's identity: the register and its seq there.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RecordKey {
    /// The register.
    pub register_id: RegisterId,
    /// The seq.
    pub seq: Seq,
}

/// An identified customer as statistics group them.
#[derive(Debug, Clone, Copy)]
pub struct CustomerFact {
    /// Id.
    pub id: CustomerId,
    /// Gender.
    pub gender: Gender,
    /// Birth date.
    pub birth_date: Option<NaiveDate>,
}

/// A stored record as statistics need it.
#[derive(Debug, Clone)]
pub struct CheckFact {
    /// Which record.
    pub key: RecordKey,
    /// Where.
    pub store_id: StoreId,
    /// Sale or return.
    pub kind: CheckKind,
    /// The identified customer, if known to the merchant.
    pub customer: Option<CustomerFact>,
    /// The register's clock.
    pub wall_time: DateTime<Utc>,
    /// Discount given.
    pub discount: Money,
    /// Paid, or refunded for a return.
    pub total: Money,
    /// Points earned (negative on returns).
    pub points_earned: i64,
}

/// One promotion's discount on one record.
#[derive(Debug, Clone)]
pub struct PromotionUseFact {
    /// Which record.
    pub record: RecordKey,
    /// Which promotion.
    pub promotion_id: PromotionId,
    /// The discount it gave on the record.
    pub discount: Money,
    /// Who funds it.
    pub funded_by: Option<String>,
}

/// The storage the server needs. Every write is one transaction. What only
/// the browser pages need is in the [`WebStorage`] supertrait, what the
/// re-pricer needs in [`reprice::RepriceStorage`].
pub trait Database: WebStorage + reprice::RepriceStorage + Send + Sync + 'static {
    /// Checks that storage answers.
    fn ping(&self) -> DbFuture<'_, ()>;

    /// Creates a merchant.
    fn create_merchant(&self, new: NewMerchant) -> DbFuture<'_, Merchant>;
    /// All merchants, by id.
    fn merchants(&self) -> DbFuture<'_, Vec<Merchant>>;
    /// One merchant.
    fn merchant(&self, id: MerchantId) -> DbFuture<'_, Merchant>;
    /// Creates a brand of a merchant.
    fn create_brand(&self, merchant: MerchantId, new: NewBrand) -> DbFuture<'_, Brand>;
    /// Creates a store; its time zone is already checked.
    fn create_store(&self, merchant: MerchantId, new: NewStore) -> DbFuture<'_, Store>;
    /// A merchant's stores, by id.
    fn stores(&self, merchant: MerchantId) -> DbFuture<'_, Vec<Store>>;

    /// Stores an enrollment token's hash.
    fn create_enrollment_token(&self, token: NewEnrollmentToken) -> DbFuture<'_, ()>;
    /// Spends an enrollment token and creates the register, atomically.
    fn enroll(&self, register: NewRegister) -> DbFuture<'_, EnrollOutcome>;
    /// A register's credentials.
    fn register_credentials(&self, id: RegisterId) -> DbFuture<'_, RegisterCredentials>;
    /// A merchant's registers with their standing, by id.
    fn registers(&self, merchant: MerchantId) -> DbFuture<'_, Vec<RegisterStatus>>;
    /// Revokes a register; returns its merchant.
    fn revoke_register(&self, id: RegisterId, now: DateTime<Utc>) -> DbFuture<'_, MerchantId>;

    /// Publishes the next version of a merchant's ruleset, built by `build`
    /// from the current head inside the writer transaction.
    fn publish_ruleset(
        &self,
        merchant: MerchantId,
        build: ReleaseBuilder,
    ) -> DbFuture<'_, Result<Published, PublishRefusal>>;
    /// The merchant's current rules, if any were published.
    fn current_ruleset(&self, merchant: MerchantId) -> DbFuture<'_, Option<CurrentRuleset>>;
    /// The merchant's newest signed release, if any.
    fn latest_release(&self, merchant: MerchantId) -> DbFuture<'_, Option<SignedRuleset>>;

    /// Creates a customer; a phone taken in the merchant is a conflict.
    fn create_customer(&self, merchant: MerchantId, new: NewCustomer) -> DbFuture<'_, CustomerId>;
    /// A customer with standing (points taken at `now`) and history.
    fn customer(&self, id: CustomerId, now: DateTime<Utc>) -> DbFuture<'_, CustomerProfile>;
    /// Refuses the customer's tokens issued before `now`; returns the merchant.
    fn revoke_customer_tokens(
        &self,
        id: CustomerId,
        now: DateTime<Utc>,
    ) -> DbFuture<'_, MerchantId>;
    /// Customers of a merchant changed after a cursor, in cursor order, with
    /// the highest seq of `register` stored when the page was read; `now`
    /// places the rolling tier window and dates their points.
    fn customer_changes(
        &self,
        merchant: MerchantId,
        register: RegisterId,
        after: i64,
        limit: usize,
        now: DateTime<Utc>,
    ) -> DbFuture<'_, CustomerDeltaPage>;
    /// The merchant's customers whose points records overdrew, replayed in
    /// the server's order, with their balances at `now`.
    fn overdrafts(&self, merchant: MerchantId, now: DateTime<Utc>)
    -> DbFuture<'_, OverdraftReport>;

    /// Stores a verified batch of one register's records exactly once, in one
    /// transaction, with its ledger entries, the register's clock drift and
    /// the alerts the batch raises (fork, broken chain, drift).
    ///
    /// Batches of one register are decided one after another against the
    /// head the previous one left, so the same batch arriving twice at once
    /// is stored once and both get the same acknowledgement.
    fn ingest(
        &self,
        register: RegisterId,
        records: Vec<CheckedRecord>,
        context: IngestContext,
    ) -> DbFuture<'_, IngestOutcome>;

    /// Raises an alert unless its kind's [`Repetition`](crate::alerts::Repetition)
    /// keeps it quiet; true when it was raised.
    fn raise_alert(&self, alert: NewAlert) -> DbFuture<'_, bool>;
    /// A merchant's alerts, newest first.
    fn alerts(&self, merchant: MerchantId, page: AlertPage) -> DbFuture<'_, Vec<Alert>>;
    /// A merchant's quarantined records, newest first.
    fn quarantine(
        &self,
        merchant: MerchantId,
        limit: usize,
    ) -> DbFuture<'_, Vec<QuarantinedRecord>>;

    /// Everything the statistics of a merchant are computed from.
    fn stats_facts(&self, merchant: MerchantId) -> DbFuture<'_, StatsFacts>;

    /// A sale of the merchant with the returns stored of it, if stored.
    fn sale_with_returns(
        &self,
        merchant: MerchantId,
        sale: SaleKey,
    ) -> DbFuture<'_, Option<SaleWithReturns>>;
}

/// How a till names the sale it takes a return of.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SaleKey {
    /// By register and seq, as printed on the receipt.
    Seq(RegisterId, Seq),
    /// By record id.
    Record(uuid::Uuid),
}
