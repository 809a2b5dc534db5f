//! The catalog use cases: merchants, brands, stores, enrollment tokens,
//! enrolling a register, HQ's view and revocation of registers, and the
//! fleet's versions (the minimum agent version HQ requires, who lags). The
//! admin API and the set-up pages both come here, so a store or a token is
//! made one way.
//!
//! **Credentials read once a while.** Every request of a register proves
//! its secret against its stored credentials; a chain's tills long-poll,
//! upload and beat all day, so the credentials of registers in service
//! are kept in memory for [`CREDENTIALS_FRESH_FOR`] (they change only when
//! HQ revokes the register). A revocation forgets them at once on the
//! instance that made it, and on the others when its announcement arrives
//! ([`Catalog::forget_credentials`]); a read begun before a forgetting is
//! not kept, and revoked or unknown registers are never kept.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use chrono::{DateTime, TimeDelta, Utc};
use ring::rand::{SecureRandom as _, SystemRandom};
use shared::crypto::{Hash256, sha256};
use shared::ids::{MerchantId, RegisterId, StoreId};
use shared::timezone::TimeZone;
use shared::version::AgentVersion;
use shared::wire::sync::HeartbeatReply;

use crate::clock::Clock;
use crate::db::{
    Announcement, DbError, NewEnrollmentToken, NewRegister, RegisterCredentials, RegisterStatus,
    Repository,
};
use crate::wire::admin::{
    Brand, EnrollmentToken, Merchant, NewBrand, NewMerchant, NewStore, Store,
};

/// Bytes of randomness in an enrollment token (128 bits).
pub const ENROLLMENT_TOKEN_BYTES: usize = 16;
/// An enrollment token's lifetime when none is asked for: one day.
pub const DEFAULT_ENROLLMENT_TTL_SECS: u64 = 86_400;
/// The longest enrollment token lifetime: thirty days.
pub const MAX_ENROLLMENT_TTL_SECS: u64 = 30 * 86_400;

/// Why a catalog change was refused.
#[derive(Debug, thiserror::Error)]
pub enum CatalogError {
    /// A field is missing or out of range; the message names it.
    #[error("{0}")]
    Invalid(String),
    /// Storage failed, or the named thing does not exist.
    #[error(transparent)]
    Db(#[from] DbError),
}

/// How an enrollment attempt ended.
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
    pub store_timezone: TimeZone,
    /// The brand the store trades under.
    pub store_brand: Option<shared::ids::BrandId>,
    /// The merchant's currency.
    pub currency: shared::money::Currency,
}

/// A merchant's fleet by version: the minimum HQ requires and the
/// registers in service below it.
#[derive(Debug, Clone)]
pub struct FleetReport {
    /// The minimum, if HQ set one.
    pub minimum: Option<AgentVersion>,
    /// Registers not revoked.
    pub in_service: usize,
    /// Registers not revoked whose last reported version is below the
    /// minimum (or is not a semantic version), by id.
    pub lagging: Vec<RegisterStatus>,
}

/// Whether a register reporting `version` lags behind `minimum`: a version
/// that does not parse cannot be shown to be new enough, so it lags.
#[must_use]
pub fn lags(version: &str, minimum: Option<&AgentVersion>) -> bool {
    minimum.is_some_and(|minimum| {
        AgentVersion::parse(version).map_or(true, |version| version.is_below(minimum))
    })
}

/// The stored minimum, parsed; text that no longer parses is corrupt.
fn stored_minimum(text: Option<String>) -> Result<Option<AgentVersion>, DbError> {
    text.map(|t| AgentVersion::parse(&t).map_err(DbError::other))
        .transpose()
}

/// Merchants, stores and registers.
#[derive(Clone)]
pub struct Catalog {
    repo: Arc<dyn Repository>,
    clock: Arc<dyn Clock>,
    credentials: Arc<Mutex<KeptCredentials>>,
}

/// How long a register's credentials are used without reading them again
/// (the bound on a revocation whose announcement another instance missed).
pub const CREDENTIALS_FRESH_FOR: std::time::Duration = std::time::Duration::from_secs(30);

/// Credentials of registers in service, read lately.
#[derive(Debug, Default)]
struct KeptCredentials {
    by_register: HashMap<RegisterId, (RegisterCredentials, tokio::time::Instant)>,
    /// Forgettings so far: a read begun before the last one is not kept.
    forgettings: u64,
}

/// Refuses a blank name, naming what it is of.
fn require_name(what: &str, name: &str) -> Result<(), CatalogError> {
    if name.trim().is_empty() {
        return Err(CatalogError::Invalid(format!(
            "{what} name must not be empty"
        )));
    }
    Ok(())
}

/// The stored form of a secret.
#[must_use]
pub fn hash_secret(secret: &str) -> Hash256 {
    sha256(secret.as_bytes())
}

/// Fresh random bytes as lower-case hex.
pub fn random_hex(bytes: usize) -> Result<String, DbError> {
    let mut buf = vec![0u8; bytes];
    SystemRandom::new()
        .fill(&mut buf)
        .map_err(|_| DbError::other("the system random source failed"))?;
    Ok(data_encoding::HEXLOWER.encode(&buf))
}

impl Catalog {
    /// The service over `repo`, telling time by `clock`.
    pub fn new(repo: Arc<dyn Repository>, clock: Arc<dyn Clock>) -> Self {
        Catalog {
            repo,
            clock,
            credentials: Arc::default(),
        }
    }

    fn kept_credentials(&self) -> std::sync::MutexGuard<'_, KeptCredentials> {
        self.credentials
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Forgets the kept credentials of `register`, or of every register:
    /// a revocation here or on another instance, or announcements that may
    /// have been missed.
    pub fn forget_credentials(&self, register: Option<RegisterId>) {
        let mut kept = self.kept_credentials();
        match register {
            Some(register) => {
                kept.by_register.remove(&register);
            }
            None => kept.by_register.clear(),
        }
        kept.forgettings += 1;
    }

    /// Creates a merchant.
    pub async fn create_merchant(&self, new: NewMerchant) -> Result<Merchant, CatalogError> {
        require_name("merchant", &new.name)?;
        let merchant = self.repo.write(move |tx| tx.insert_merchant(&new)).await?;
        tracing::info!(merchant_id = %merchant.id, "created a merchant");
        Ok(merchant)
    }

    /// All merchants, by id.
    pub async fn merchants(&self) -> Result<Vec<Merchant>, DbError> {
        self.repo.read(|tx| tx.merchants()).await
    }

    /// One merchant, or `NotFound`.
    pub async fn merchant(&self, id: MerchantId) -> Result<Merchant, DbError> {
        self.repo
            .read(move |tx| tx.merchant(id))
            .await?
            .ok_or_else(|| DbError::NotFound(format!("merchant {id}")))
    }

    /// Creates a brand of a merchant.
    pub async fn create_brand(
        &self,
        merchant: MerchantId,
        new: NewBrand,
    ) -> Result<Brand, CatalogError> {
        require_name("brand", &new.name)?;
        Ok(self
            .repo
            .write(move |tx| {
                tx.merchant_currency(merchant)?;
                tx.insert_brand(merchant, &new)
            })
            .await?)
    }

    /// A merchant's brands, by id.
    pub async fn brands(&self, merchant: MerchantId) -> Result<Vec<Brand>, DbError> {
        self.repo
            .read(move |tx| {
                tx.merchant_currency(merchant)?;
                tx.brands(merchant)
            })
            .await
    }

    /// Creates a store; its brand, if it names one, must be the merchant's.
    pub async fn create_store(
        &self,
        merchant: MerchantId,
        new: NewStore,
    ) -> Result<Store, CatalogError> {
        require_name("store", &new.name)?;
        let store = self
            .repo
            .write(move |tx| {
                tx.merchant_currency(merchant)?;
                if let Some(brand) = new.brand_id
                    && !tx.brands(merchant)?.iter().any(|b| b.id == brand)
                {
                    return Err(DbError::NotFound(format!(
                        "brand {brand} of merchant {merchant}"
                    )));
                }
                tx.insert_store(merchant, &new)
            })
            .await?;
        tracing::info!(store_id = %store.id, merchant_id = %merchant, "created a store");
        Ok(store)
    }

    /// A merchant's stores, by id.
    pub async fn stores(&self, merchant: MerchantId) -> Result<Vec<Store>, DbError> {
        self.repo
            .read(move |tx| {
                tx.merchant_currency(merchant)?;
                tx.stores(merchant)
            })
            .await
    }

    /// A one-time token that enrolls one register into `store`, valid for
    /// `ttl_secs` (a day when not given). The token is returned once; only
    /// its hash is kept.
    pub async fn issue_enrollment_token(
        &self,
        store: StoreId,
        ttl_secs: Option<u64>,
    ) -> Result<EnrollmentToken, CatalogError> {
        let ttl_secs = ttl_secs.unwrap_or(DEFAULT_ENROLLMENT_TTL_SECS);
        if !(1..=MAX_ENROLLMENT_TTL_SECS).contains(&ttl_secs) {
            return Err(CatalogError::Invalid(format!(
                "ttl_secs must be 1..={MAX_ENROLLMENT_TTL_SECS}, got {ttl_secs}"
            )));
        }
        let ttl = TimeDelta::seconds(i64::try_from(ttl_secs).unwrap_or(i64::MAX));
        let token = random_hex(ENROLLMENT_TOKEN_BYTES)?;
        let expires_at = self.clock.now() + ttl;
        let stored = NewEnrollmentToken {
            store_id: store,
            token_hash: hash_secret(&token),
            expires_at,
        };
        self.repo
            .write(move |tx| {
                if tx.store(store)?.is_none() {
                    return Err(DbError::NotFound(format!("store {store}")));
                }
                tx.insert_enrollment_token(&stored)
            })
            .await?;
        tracing::info!(store_id = %store, %expires_at, "issued an enrollment token");
        Ok(EnrollmentToken {
            token,
            store_id: store,
            expires_at,
        })
    }

    /// Spends an enrollment token and creates the register, in one
    /// transaction, so of two enrollments with one token exactly one wins.
    pub async fn enroll(&self, register: NewRegister) -> Result<EnrollOutcome, DbError> {
        self.repo
            .write(move |tx| {
                let Some(token) = tx.enrollment_token(&register.token_hash)? else {
                    return Ok(EnrollOutcome::TokenUnknown);
                };
                if token.used {
                    return Ok(EnrollOutcome::TokenUsed);
                }
                if register.now >= token.expires_at {
                    return Ok(EnrollOutcome::TokenExpired(token.expires_at));
                }
                let register_id = tx.insert_register(token.store_id, &register)?;
                Ok(EnrollOutcome::Enrolled(EnrolledRegister {
                    register_id,
                    merchant_id: token.merchant_id,
                    store_id: token.store_id,
                    store_name: token.store_name,
                    store_timezone: token.store_timezone,
                    store_brand: token.store_brand,
                    currency: token.currency,
                }))
            })
            .await
    }

    /// A register's credentials, or `NotFound`: kept ones while fresh
    /// (see the module's docs).
    pub async fn register_credentials(
        &self,
        id: RegisterId,
    ) -> Result<RegisterCredentials, DbError> {
        let forgettings = {
            let kept = self.kept_credentials();
            if let Some((credentials, read_at)) = kept.by_register.get(&id)
                && read_at.elapsed() < CREDENTIALS_FRESH_FOR
            {
                return Ok(credentials.clone());
            }
            kept.forgettings
        };
        let read_at = tokio::time::Instant::now();
        let credentials = self
            .repo
            .read(move |tx| tx.register_credentials(id))
            .await?
            .ok_or_else(|| DbError::NotFound(format!("register {id}")))?;
        if !credentials.revoked {
            let mut kept = self.kept_credentials();
            if kept.forgettings == forgettings {
                kept.by_register.insert(id, (credentials.clone(), read_at));
            }
        }
        Ok(credentials)
    }

    /// A merchant's registers with their standing, by id.
    pub async fn registers(&self, merchant: MerchantId) -> Result<Vec<RegisterStatus>, DbError> {
        self.repo
            .read(move |tx| {
                tx.merchant_currency(merchant)?;
                tx.registers(merchant)
            })
            .await
    }

    /// The merchant's minimum agent version and the registers below it.
    pub async fn fleet(&self, merchant: MerchantId) -> Result<FleetReport, DbError> {
        let (minimum, registers) = self
            .repo
            .read(move |tx| Ok((tx.minimum_agent_version(merchant)?, tx.registers(merchant)?)))
            .await?;
        let minimum = stored_minimum(minimum)?;
        let in_service: Vec<RegisterStatus> = registers
            .into_iter()
            .filter(|r| r.revoked_at.is_none())
            .collect();
        let count = in_service.len();
        let lagging = in_service
            .into_iter()
            .filter(|r| lags(&r.register.agent_version, minimum.as_ref()))
            .collect();
        Ok(FleetReport {
            minimum,
            in_service: count,
            lagging,
        })
    }

    /// Sets (or with `None` clears) the merchant's minimum agent version;
    /// returns the one it replaced.
    pub async fn set_minimum_agent_version(
        &self,
        merchant: MerchantId,
        minimum: Option<AgentVersion>,
    ) -> Result<Option<AgentVersion>, DbError> {
        let text = minimum.as_ref().map(ToString::to_string);
        let before = self
            .repo
            .write(move |tx| {
                let before = tx.minimum_agent_version(merchant)?;
                tx.set_minimum_agent_version(merchant, text.as_deref())?;
                Ok(before)
            })
            .await?;
        tracing::info!(
            merchant_id = %merchant,
            minimum = ?minimum.as_ref().map(ToString::to_string),
            "set the minimum agent version"
        );
        stored_minimum(before)
    }

    /// Stores a register's heartbeat, received now, and answers with the
    /// merchant's minimum agent version and whether the register is below
    /// it. Oversized fields are refused by name: a heartbeat is a few
    /// hundred bytes.
    pub async fn heartbeat(
        &self,
        register: RegisterId,
        merchant: MerchantId,
        heartbeat: shared::wire::sync::Heartbeat,
    ) -> Result<HeartbeatReply, CatalogError> {
        const MAX_ALARMS: usize = 32;
        const MAX_TEXT: usize = 256;
        if heartbeat.agent_version.chars().count() > MAX_TEXT {
            return Err(CatalogError::Invalid(format!(
                "agent_version must be at most {MAX_TEXT} characters"
            )));
        }
        if heartbeat.alarms.len() > MAX_ALARMS
            || heartbeat
                .alarms
                .iter()
                .any(|a| a.chars().count() > MAX_TEXT)
        {
            return Err(CatalogError::Invalid(format!(
                "alarms: at most {MAX_ALARMS}, each at most {MAX_TEXT} characters"
            )));
        }
        let row = crate::db::HeartbeatRow {
            at: self.clock.now(),
            backlog: heartbeat.backlog.max(0),
            dead_letters: i64::from(heartbeat.dead_letters),
            ruleset_version: heartbeat.ruleset_version.map(|v| v.get()),
            alarms: heartbeat.alarms,
        };
        let version = heartbeat.agent_version;
        let (version, minimum) = self
            .repo
            .write(move |tx| {
                tx.record_heartbeat(register, &version, &row)?;
                Ok((version, tx.minimum_agent_version(merchant)?))
            })
            .await?;
        let minimum = stored_minimum(minimum)?;
        Ok(HeartbeatReply {
            below_minimum: lags(&version, minimum.as_ref()),
            minimum_agent_version: minimum,
            // The handler names the key chain's position.
            key_seq: shared::keys::ChainSeq::default(),
        })
    }

    /// Revokes a register (again is harmless); returns its merchant.
    pub async fn revoke_register(&self, id: RegisterId) -> Result<MerchantId, DbError> {
        let now = self.clock.now();
        let merchant = self
            .repo
            .write(move |tx| {
                let register = tx
                    .register_credentials(id)?
                    .ok_or_else(|| DbError::NotFound(format!("register {id}")))?;
                tx.revoke_register(id, now)?;
                tx.announce(Announcement::Revoked { register: id })?;
                Ok(register.merchant_id)
            })
            .await?;
        self.forget_credentials(Some(id));
        tracing::info!(register_id = %id, merchant_id = %merchant, "revoked a register");
        Ok(merchant)
    }
}
