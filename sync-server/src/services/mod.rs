//! The use cases, one service each, between the handlers (the JSON API and
//! the pages, which parse, authorise and render) and the repository
//! ([`crate::db`], which reads and writes rows). Every decision about
//! loyalty data is made here or in `shared`, never in SQL; the API and
//! the pages call the same service for the same thing.
//!
//! Each service holds only what it needs (the repository, the clock, the
//! signing key, the notifier), never the whole `AppState`.

pub mod accounts;
pub mod adjustments;
pub mod analytics;
pub mod audit;
pub mod catalog;
pub mod content;
pub mod customers;
pub mod drafts;
pub mod holds;
pub mod ingest;
pub mod leases;
pub mod messaging;
pub mod oversight;
pub mod pages;
pub mod publish;
pub mod referrals;
pub mod reprice;
pub mod sales;
pub mod segments;
pub mod stats;
pub mod totp;
pub mod whatif;

use std::sync::Arc;

use shared::crypto::SigningKey;

use crate::clock::Clock;
use crate::db::Repository;
use crate::notify::Notifier;

pub use accounts::Accounts;
pub use adjustments::Adjustments;
pub use analytics::Analytics;
pub use catalog::Catalog;
pub use content::Content;
pub use customers::Customers;
pub use drafts::Drafts;
pub use holds::Holds;
pub use ingest::Ingest;
pub use leases::Leases;
pub use oversight::Oversight;
pub use pages::Pages;
pub use publish::Publisher;
pub use referrals::Referrals;
pub use sales::Sales;
pub use segments::Segments;
pub use stats::Statistics;

/// Every service over one repository.
#[derive(Clone)]
pub struct Services {
    /// Merchants, stores, enrollment and registers.
    pub catalog: Catalog,
    /// Analytics views over the rollups.
    pub analytics: Analytics,
    /// Storing uploads.
    pub ingest: Ingest,
    /// Customers and their standing.
    pub customers: Customers,
    /// Publishing rulesets.
    pub publisher: Publisher,
    /// Statistics.
    pub stats: Statistics,
    /// Alerts, quarantine and mismatches.
    pub oversight: Oversight,
    /// Sales with their returns.
    pub sales: Sales,
    /// HQ sessions, personal links and reviews.
    pub pages: Pages,
    /// Quota leases of promotions' global limits.
    pub leases: Leases,
    /// People, API keys and the audit trail.
    pub accounts: Accounts,
    /// Points credited or debited outside a purchase.
    pub adjustments: Adjustments,
    /// Referral codes, referrals and their rewards.
    pub referrals: Referrals,
    /// Customer segments and their tags.
    pub segments: Segments,
    /// Promotions' pictures, descriptions and publication periods.
    pub content: Content,
    /// Points held while HQ checks a flagged sale.
    pub holds: Holds,
    /// Promotion drafts, their what-if and their publishing.
    pub drafts: Drafts,
    /// Sales whose basket rows are still to add (a task of `serve` adds them).
    pub basket_queue: analytics::basket_queue::BasketQueue,
}

impl Services {
    /// The same services, with ingest keeping the analytics rollups or
    /// not (see [`crate::config::IngestSettings::rollups`]).
    #[must_use]
    pub fn with_rollups(mut self, rollups: bool) -> Self {
        self.ingest = self.ingest.with_rollups(rollups);
        self
    }

    /// The services over `repo`.
    pub fn new(
        repo: &Arc<dyn Repository>,
        clock: &Arc<dyn Clock>,
        key: &Arc<SigningKey>,
        notifier: &Arc<Notifier>,
    ) -> Self {
        let publisher = Publisher::new(repo.clone(), key.clone(), clock.clone(), notifier.clone());
        let baskets = analytics::basket_queue::BasketQueue::new(repo.clone());
        Services {
            drafts: Drafts::new(repo.clone(), clock.clone(), publisher.clone()),
            catalog: Catalog::new(repo.clone(), clock.clone()),
            analytics: Analytics::new(repo.clone(), baskets.clone()),
            ingest: Ingest::new(repo.clone(), baskets.clone()),
            basket_queue: baskets,
            customers: Customers::new(repo.clone()),
            publisher,
            stats: Statistics::new(repo.clone()),
            oversight: Oversight::new(repo.clone()),
            sales: Sales::new(repo.clone(), clock.clone()),
            pages: Pages::new(repo.clone()),
            leases: Leases::new(
                repo.clone(),
                clock.clone(),
                crate::config::LeaseSettings::default(),
            ),
            accounts: Accounts::new(repo.clone(), clock.clone()),
            adjustments: Adjustments::new(repo.clone()),
            referrals: Referrals::new(repo.clone()),
            segments: Segments::new(repo.clone(), clock.clone(), notifier.clone()),
            content: Content::new(repo.clone(), clock.clone()),
            holds: Holds::new(repo.clone(), notifier.clone()),
        }
    }

    /// The same services with `leases` (its settings from the config).
    #[must_use]
    pub fn with_leases(self, leases: Leases) -> Self {
        Services { leases, ..self }
    }
}
