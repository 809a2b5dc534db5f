//! The running agent's shared state: configuration, keys, the database,
//! the ruleset in use, open checks, the event channel and sync health.
//! The local API, the scan handler and the sync tasks all hold one
//! `Arc<Agent>`.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, OnceLock, PoisonError, RwLock};

use shared::crypto::SigningKey;
use shared::ids::PromotionId;
use shared::keys::TrustedKeys;
use shared::wire::till::{AgentStatus, TillEvent};
use tokio::sync::{Notify, broadcast, watch};

use crate::active_ruleset::RulesetSlot;
use crate::checks::OpenChecks;
use crate::clock::Clock;
use crate::config::AgentConfig;
use crate::quota::LeaseBook;
use crate::store::{self, Db, StoreError};
use crate::sync::monitor::SyncMonitor;

/// How many events a slow subscriber may fall behind before it skips.
const EVENT_BUFFER: usize = 256;

/// The shared state of a running agent.
pub struct Agent {
    /// The configuration it runs with.
    pub config: AgentConfig,
    /// The register's signing key.
    pub key: Arc<SigningKey>,
    /// The server keys it trusts: pinned at enrollment, learnt since from
    /// verified endorsements (see [`crate::sync::keys`]).
    pub server_keys: RwLock<TrustedKeys>,
    /// The sync client, once the sync tasks started: a scan that meets an
    /// unknown key fetches the key chain with it.
    pub sync_client: OnceLock<Arc<crate::sync::SyncClient>>,
    /// The database.
    pub db: Db,
    /// The ruleset in use.
    pub rulesets: RulesetSlot,
    /// Open checks.
    pub checks: Mutex<OpenChecks>,
    /// Events for the till.
    pub events: broadcast::Sender<TillEvent>,
    /// The time.
    pub clock: Arc<dyn Clock>,
    /// Wakes the uploader after a commit.
    pub upload_wake: Notify,
    /// What the sync tasks know of the server now.
    pub sync_health: Arc<SyncMonitor>,
    /// The till's own use of promotions, `(checks, money given)` each, as
    /// committed in its outbox; updated after every commit.
    pub till_usage: Mutex<BTreeMap<PromotionId, (i64, i64)>>,
    /// The till's quota leases as stored. Changed only on the database
    /// thread, in the query that changes what it mirrors: a commit counts
    /// its record in it ([`LeaseBook::count`]), a renewal reads it again
    /// ([`Agent::update_leases`]); so it is always what the database
    /// holds, in the database's order.
    pub leases: Arc<Mutex<LeaseBook>>,
    /// Wakes the lease renewal (after an upload stored records).
    pub lease_wake: Notify,
}

impl Agent {
    /// Assembles the state; `till_usage` is what the outbox holds.
    pub fn new(
        config: AgentConfig,
        key: SigningKey,
        db: Db,
        rulesets: RulesetSlot,
        clock: Arc<dyn Clock>,
        till_usage: BTreeMap<PromotionId, (i64, i64)>,
    ) -> Self {
        Self {
            server_keys: RwLock::new(TrustedKeys::pinned(
                config.sync.server_public_key,
                config.sync.server_recovery_key,
                config.sync.server_key_seq,
            )),
            sync_client: OnceLock::new(),
            config,
            key: Arc::new(key),
            db,
            rulesets,
            checks: Mutex::default(),
            events: broadcast::channel(EVENT_BUFFER).0,
            clock,
            upload_wake: Notify::new(),
            sync_health: Arc::default(),
            till_usage: Mutex::new(till_usage),
            leases: Arc::default(),
            lease_wake: Notify::new(),
        }
    }

    /// The server keys trusted now.
    pub fn trusted_keys(&self) -> TrustedKeys {
        self.server_keys
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Fetches the server's key chain when a scanned token names a key id
    /// this register does not know and the server answers; returns whether
    /// new keys were learnt (then verify again).
    pub async fn learn_key_of(&self, token_text: &str) -> bool {
        let Some(key_id) = shared::token::claimed_key_id(token_text) else {
            return false;
        };
        if self.trusted_keys().knows_id(key_id) || self.is_offline() {
            return false;
        }
        let Some(client) = self.sync_client.get() else {
            return false;
        };
        match crate::sync::keys::refresh(self, client).await {
            Ok(refreshed) => refreshed == crate::sync::keys::Refreshed::Learnt,
            Err(e) => {
                tracing::warn!(key_id, error = %e, "cannot learn the key of a scanned token");
                false
            }
        }
    }

    /// The leases as the database holds them now, into [`Self::leases`].
    pub async fn reload_leases(&self) -> Result<(), StoreError> {
        self.update_leases(|_| Ok(())).await
    }

    /// Runs `write` (which changes the stored leases) and reads the leases
    /// into [`Self::leases`] in the same query, so no commit comes between
    /// the change and the book that mirrors it.
    pub async fn update_leases(
        &self,
        write: impl FnOnce(&mut rusqlite::Connection) -> Result<(), StoreError> + Send + 'static,
    ) -> Result<(), StoreError> {
        let leases = Arc::clone(&self.leases);
        self.db
            .call(move |conn| {
                write(conn)?;
                let book = LeaseBook::load(conn)?;
                *leases.lock().unwrap_or_else(PoisonError::into_inner) = book;
                Ok(())
            })
            .await
    }

    /// Counts a committed record's promotion uses in [`Self::till_usage`].
    pub fn count_usage(&self, record: &shared::record::PurchaseRecord) {
        let mut usage = self
            .till_usage
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        // The record was appended to the outbox, which refuses one whose
        // deltas are out of range, so there is nothing to skip here.
        for d in record.usage_deltas().into_iter().flatten() {
            let e = usage.entry(d.promotion).or_default();
            e.0 = e.0.saturating_add(d.uses);
            e.1 = e.1.saturating_add(d.spent.minor());
        }
    }

    /// Whether the register counts as offline: the server has answered
    /// nothing within `sync.offline_after_secs` (the last contact stored
    /// before a restart counts), or never.
    pub fn is_offline(&self) -> bool {
        let window = chrono::TimeDelta::seconds(
            i64::try_from(self.config.sync.offline_after_secs).unwrap_or(i64::MAX),
        );
        self.sync_health
            .snapshot()
            .last_contact_at
            .is_none_or(|at| self.clock.now() - at > window)
    }

    /// When points earned by this till's pending commits count as
    /// available: after the programme's pending period, now.
    pub fn local_points(&self) -> crate::store::customers::LocalPoints {
        crate::store::customers::LocalPoints {
            pending_days: self
                .rulesets
                .current()
                .engine
                .ruleset()
                .programme
                .points_pending_days,
            now: self.clock.now(),
            timezone: self.store_timezone(),
        }
    }

    /// Sends an event to every subscriber (none is fine).
    pub fn publish(&self, event: TillEvent) {
        let _no_subscribers_is_fine = self.events.send(event);
    }

    /// The status the till and store IT see.
    pub async fn status(&self) -> Result<AgentStatus, StoreError> {
        let summary = self.db.call(|conn| store::summary(conn)).await?;
        let health = self.sync_health.snapshot();
        let mut sync = crate::sync::status::sync_status(
            &summary,
            &health,
            self.db.storage_alarm(),
            self.is_offline(),
        );
        sync.leases = self
            .leases
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .status(self.clock.now());
        Ok(AgentStatus {
            register_id: self.config.sync.register_id,
            store_id: self.config.register.store_id,
            ruleset_version: self.rulesets.current().version,
            last_seq: summary.head_seq,
            acked_seq: summary.acked_seq,
            outbox_pending: summary.pending,
            cached_customers: summary.customers,
            server_reachable: health.reachable,
            last_sync_error: health.last_error,
            sync,
        })
    }
}

/// Asks every task of the agent to stop.
#[derive(Clone, Debug)]
pub struct StopTrigger(Arc<watch::Sender<bool>>);

/// Resolves once the agent is stopping.
#[derive(Clone, Debug)]
pub struct Stop(watch::Receiver<bool>);

/// A connected trigger and signal.
pub fn stop_signal() -> (StopTrigger, Stop) {
    let (tx, rx) = watch::channel(false);
    (StopTrigger(Arc::new(tx)), Stop(rx))
}

impl StopTrigger {
    /// Signals every [`Stop`].
    pub fn stop(&self) {
        self.0.send_replace(true);
    }
}

impl Stop {
    /// Waits until stopping is requested (or the trigger is gone).
    pub async fn requested(&self) {
        let mut rx = self.0.clone();
        // An error means the trigger was dropped: stop as well.
        let _ = rx.wait_for(|stopping| *stopping).await;
    }
}
