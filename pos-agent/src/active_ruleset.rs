//! The ruleset the agent prices with, swapped in place when a newer release
//! arrives so the next check uses it without a restart.
//!
//! A release is accepted only if it opens with the pinned server key (hash,
//! signature, schema, agent version, validation), belongs to this
//! register's merchant and is in its currency. Without any accepted release
//! the agent prices with an empty ruleset, so checks still work. A release
//! is activated once its `effective_from` has passed on the drift-corrected
//! clock (see `sync::rulesets`); its promotions carry their own publication
//! windows, which the engine checks at pricing time.

use std::sync::{Arc, PoisonError, RwLock};

use chrono::{DateTime, Utc};
use rusqlite::Connection;
use shared::crypto::PublicKey;
use shared::ids::RulesetVersion;
use shared::pricing::Engine;
use shared::release::{ReleaseError, RulesetRelease, SignedRuleset};
use shared::ruleset::{InvalidRuleset, Programme, Ruleset};

use crate::AGENT_VERSION;
use crate::config::RegisterConfig;
use crate::store::{self, StoreError};

/// A ruleset ready to price with.
#[derive(Debug)]
pub struct ActiveRuleset {
    /// Its version; none for the built-in empty ruleset.
    pub version: Option<RulesetVersion>,
    /// The engine built from it.
    pub engine: Engine,
}

/// Why a release was not accepted; the last good ruleset stays in use.
#[derive(Debug, thiserror::Error)]
pub enum ReleaseRejected {
    /// It does not open with the pinned key.
    #[error(transparent)]
    Release(#[from] ReleaseError),
    /// It is another merchant's.
    #[error("ruleset {version} belongs to merchant {found}, this register to {expected}")]
    OtherMerchant {
        /// The release.
        version: RulesetVersion,
        /// Its merchant.
        found: shared::ids::MerchantId,
        /// This register's merchant.
        expected: shared::ids::MerchantId,
    },
    /// It is in another currency.
    #[error("ruleset {version} is in {found}, this register sells in {expected}")]
    OtherCurrency {
        /// The release.
        version: RulesetVersion,
        /// Its currency.
        found: shared::money::Currency,
        /// This register's currency.
        expected: shared::money::Currency,
    },
    /// It is not newer than the one in use.
    #[error("ruleset {offered} is not newer than {active} in use")]
    NotNewer {
        /// The release.
        offered: RulesetVersion,
        /// The version in use.
        active: RulesetVersion,
    },
    /// The engine refused it.
    #[error(transparent)]
    Invalid(#[from] InvalidRuleset),
}

impl ActiveRuleset {
    /// The empty ruleset used before any release arrived.
    pub fn empty(register: &RegisterConfig) -> Self {
        let ruleset = Ruleset {
            currency: register.currency,
            programme: Programme::default(),
            promotions: Vec::new(),
        };
        Self {
            version: None,
            engine: Engine::new(ruleset).expect("an empty ruleset has nothing to fault"),
        }
    }

    /// Opens a signed release for this register, signed by one of
    /// `server_keys`.
    pub fn open(
        signed: &SignedRuleset,
        server_keys: &[PublicKey],
        register: &RegisterConfig,
    ) -> Result<(Self, RulesetRelease), ReleaseRejected> {
        let release = signed.open_with(server_keys, AGENT_VERSION)?;
        let version = release.version;
        if release.merchant_id != register.merchant_id {
            return Err(ReleaseRejected::OtherMerchant {
                version,
                found: release.merchant_id,
                expected: register.merchant_id,
            });
        }
        if release.ruleset.currency != register.currency {
            return Err(ReleaseRejected::OtherCurrency {
                version,
                found: release.ruleset.currency,
                expected: register.currency,
            });
        }
        let engine = Engine::new(release.ruleset.clone())?;
        Ok((
            Self {
                version: Some(version),
                engine,
            },
            release,
        ))
    }

    /// The newest stored release that still opens and was in use before,
    /// or whose `effective_from` is not after `server_now` (newer ones wait
    /// for the ruleset sync to activate them), else the empty ruleset. A
    /// restart never steps back from the ruleset in use, whatever the
    /// clock says.
    pub fn load_effective(
        conn: &Connection,
        server_keys: &[PublicKey],
        register: &RegisterConfig,
        server_now: DateTime<Utc>,
    ) -> Result<Self, StoreError> {
        for stored in store::rulesets::newest_first(conn)? {
            let was_in_use = stored.was_in_use;
            match stored
                .signed
                .map(|signed| Self::open(&signed, server_keys, register))
            {
                Ok(Ok((_, release))) if !was_in_use && release.effective_from > server_now => {
                    tracing::info!(version = %release.version, "a stored ruleset waits for its time");
                }
                Ok(Ok((active, _))) => return Ok(active),
                Ok(Err(err)) => tracing::warn!(error = %err, "skipping a stored ruleset"),
                Err(err) => tracing::warn!(error = %err, "skipping a stored ruleset"),
            }
        }
        Ok(Self::empty(register))
    }
}

/// The ruleset in use, shared by pricing and the ruleset sync.
#[derive(Debug)]
pub struct RulesetSlot(RwLock<Arc<ActiveRuleset>>);

impl RulesetSlot {
    /// Starts with `active`.
    pub fn new(active: ActiveRuleset) -> Self {
        Self(RwLock::new(Arc::new(active)))
    }

    /// The ruleset to price the next check with.
    pub fn current(&self) -> Arc<ActiveRuleset> {
        Arc::clone(&self.0.read().unwrap_or_else(PoisonError::into_inner))
    }

    /// Puts `next` in use.
    pub fn replace(&self, next: ActiveRuleset) {
        *self.0.write().unwrap_or_else(PoisonError::into_inner) = Arc::new(next);
    }
}
