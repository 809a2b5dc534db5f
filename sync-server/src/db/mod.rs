//! The repository: transaction-scoped storage primitives, one
//! implementation per backend. SQLite ([`SqliteRepository`]) is the
//! embedded default; PostgreSQL ([`PostgresRepository`]) serves several
//! server instances over one database.
//!
//! A service runs its use case as one closure over a [`Tx`], inside one
//! transaction: `repo.write(|tx| …)` or `repo.read(|tx| …)`. The closure
//! makes every decision (what is a fork, which alert repeats, how a sale
//! counts toward spend, how points replay); the primitives only read and
//! write rows. Nothing here imports a service: `.ci/check-architecture`
//! asserts it.
//!
//! The primitives are grouped by area, one trait each ([`CatalogTx`],
//! [`RecordsTx`], [`CustomersTx`], [`RulesetsTx`], [`AlertsTx`],
//! [`WebTx`], [`RepriceTx`], [`EventsTx`], [`LeasesTx`], [`AccountsTx`], [`MessagingTx`], [`ReferralsTx`], [`SegmentsTx`], [`AccountSettingsTx`], [`DraftsTx`], [`ContentTx`], [`KeysTx`]); [`Tx`] is all of them. They are synchronous:
//! the backend runs the closure on a blocking thread that holds the
//! connection, so a transaction is never held across an `.await`.

mod account_settings;
pub mod accounts;
mod alerts;
pub mod analytics;
mod catalog;
mod content;
mod customers;
mod drafts;
pub mod events;
mod holds;
mod keys;
mod leases;
pub mod messaging;
mod postgres;
mod records;
mod referrals;
mod reprice;
mod rulesets;
mod segments;
mod sqlite;
mod web;

use std::any::Any;

use futures::future::BoxFuture;

pub use account_settings::{AccountSettings, AccountSettingsTx};
pub use accounts::{
    AccountId, AccountLinkRow, AccountRow, AccountSessionRow, AccountsTx, ApiKeyId, ApiKeyRow,
    AuditEntry, AuditFilter, AuditRow, LinkPurpose, NewAccount, NewApiKey,
};
pub use alerts::{AlertPage, AlertsTx};
pub use analytics::AnalyticsTx;
pub use catalog::{
    CatalogTx, EnrollmentTokenRow, HeartbeatRow, NewEnrollmentToken, NewRegister,
    RegisterCredentials, RegisterStatus,
};
pub use content::{ContentRow, ContentTx, MediaInfo, MediaRow, MediaVariant};
pub use customers::{ChangedCustomer, CustomerRow, CustomersTx, NewAdjustment, OverdrawnRecord};
pub use drafts::{DraftRow, DraftStatus, DraftsTx, NewDraft, StoredSale};
pub use events::{Announcement, EventsTx};
pub use holds::{HoldRow, HoldStatus, HoldsTx, NewHold};
pub use keys::{KeyRow, KeysTx};
pub use leases::{LeaseAccount, LeasePool, LeaseRow, LeasesTx, NewLease, RegisterSpend, UseSum};
pub use messaging::{
    CampaignReport, Channel, ConsentRow, MessageRow, MessageStatus, MessagingTx, NewCampaign,
    NewMessage, PendingSignupRow, RecoveryRow,
};
pub use postgres::{
    POOL_SIZE as POSTGRES_POOL_SIZE, PostgresRepository, postgres_drop_test_schema,
    postgres_test_schema_url,
};
pub use records::{
    BirthdayBonusRow, CheckKind, LedgerRow, PromotionUseRow, RecordKey, RecordRow, RecordsTx,
    SaleKey, SignedRow, UnauditedRecord,
};
pub use referrals::{NewReferral, ReferralRow, ReferralsTx, RewardCandidate};
pub use reprice::{RepriceCandidate, RepriceOutcome, RepriceResult, RepriceTx};
pub use rulesets::{CurrentRuleset, RulesetsTx};
pub use segments::{SegmentRow, SegmentsTx};
pub use sqlite::{SqliteRepository, backup_file};
pub use web::{
    AdminSession, NewAdminSession, OfferRating, OfferReview, Rating, ReviewStatus, WebTx,
};

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

impl DbError {
    /// A failure of storage itself, from any error.
    pub fn other(e: impl Into<Box<dyn std::error::Error + Send + Sync>>) -> Self {
        DbError::Other(e.into())
    }
}

/// What a storage call returns.
pub type DbFuture<'a, T> = BoxFuture<'a, Result<T, DbError>>;

/// Every primitive of every area, on one transaction.
pub trait Tx:
    AnalyticsTx
    + CatalogTx
    + RecordsTx
    + CustomersTx
    + RulesetsTx
    + AlertsTx
    + WebTx
    + RepriceTx
    + EventsTx
    + LeasesTx
    + AccountsTx
    + MessagingTx
    + ReferralsTx
    + SegmentsTx
    + AccountSettingsTx
    + ContentTx
    + HoldsTx
    + DraftsTx
    + KeysTx
{
}

impl<T> Tx for T where
    T: AnalyticsTx
        + CatalogTx
        + RecordsTx
        + CustomersTx
        + RulesetsTx
        + AlertsTx
        + WebTx
        + RepriceTx
        + EventsTx
        + LeasesTx
        + AccountsTx
        + MessagingTx
        + ReferralsTx
        + SegmentsTx
        + AccountSettingsTx
        + ContentTx
        + HoldsTx
        + DraftsTx
        + KeysTx
        + ?Sized
{
}

/// Whether a transaction may write.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// A consistent snapshot; writes fail.
    Read,
    /// A write: a decision made on what it read still holds when it
    /// commits. SQLite runs writes one at a time; PostgreSQL runs them side
    /// by side, and the primitives a decision rests on lock the rows it
    /// reads (the merchant, the enrollment token, the register).
    Write,
}

/// A type-erased transaction body; [`Repository::write`] and
/// [`Repository::read`] wrap typed closures in it.
pub type Work = Box<dyn FnOnce(&mut dyn Tx) -> Result<Box<dyn Any + Send>, DbError> + Send>;

/// A backend: it runs transaction bodies and commits those that succeed.
pub trait Repository: Send + Sync + 'static {
    /// Checks that storage answers.
    fn ping(&self) -> DbFuture<'_, ()>;
    /// Runs `work` in one transaction; commits a write when it returns `Ok`
    /// and rolls back otherwise.
    fn transact(&self, access: Access, work: Work) -> DbFuture<'_, Box<dyn Any + Send>>;
}

impl dyn Repository {
    /// Runs `work` in one write transaction.
    pub async fn write<T, F>(&self, work: F) -> Result<T, DbError>
    where
        T: Send + 'static,
        F: FnOnce(&mut dyn Tx) -> Result<T, DbError> + Send + 'static,
    {
        self.run(Access::Write, work).await
    }

    /// Runs `work` in one read transaction.
    pub async fn read<T, F>(&self, work: F) -> Result<T, DbError>
    where
        T: Send + 'static,
        F: FnOnce(&mut dyn Tx) -> Result<T, DbError> + Send + 'static,
    {
        self.run(Access::Read, work).await
    }

    async fn run<T, F>(&self, access: Access, work: F) -> Result<T, DbError>
    where
        T: Send + 'static,
        F: FnOnce(&mut dyn Tx) -> Result<T, DbError> + Send + 'static,
    {
        let erased: Work =
            Box::new(move |tx| work(tx).map(|out| Box::new(out) as Box<dyn Any + Send>));
        let out = self.transact(access, erased).await?;
        out.downcast::<T>()
            .map(|out| *out)
            .map_err(|_| DbError::other("a transaction returned another type than its body"))
    }
}
