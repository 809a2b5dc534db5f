//! People and keys: invitations and password resets by one-time link,
//! passwords hashed with argon2id (PHC strings), sign-in, sessions of an
//! account, roles, API keys for automation and the audit trail.
//!
//! Link and key secrets are 256 random bits; only their SHA-256 is
//! stored. Hashing a password is slow on purpose, so it runs on a blocking
//! thread, outside any transaction.

use std::sync::Arc;

use argon2::Argon2;
use argon2::password_hash::{PasswordHash, PasswordHasher as _, PasswordVerifier as _, SaltString};
use ring::rand::{SecureRandom as _, SystemRandom};
use shared::identity::Email;
use shared::ids::{MerchantId, StoreId};

use crate::access::{Membership, Role, Scope, Target};
use crate::clock::Clock;
use crate::db::{
    AccountId, AccountLinkRow, AccountRow, AccountSessionRow, AdminSession, ApiKeyId, ApiKeyRow,
    AuditEntry, AuditFilter, AuditRow, DbError, LinkPurpose, NewAccount, NewApiKey, Repository, Tx,
};
use crate::services::catalog::{hash_secret, random_hex};

/// How long an invitation link lasts.
pub const INVITATION_SECS: i64 = 7 * 24 * 3600;
/// How long a password reset link lasts.
pub const RESET_SECS: i64 = 24 * 3600;
/// The shortest password taken.
pub const MIN_PASSWORD_CHARS: usize = 10;
/// The longest password taken.
pub const MAX_PASSWORD_CHARS: usize = 200;
/// What every API key starts with, so it is told from the admin token.
pub const API_KEY_PREFIX: &str = "lk_";

/// Why a request about people or keys was refused.
#[derive(Debug, thiserror::Error)]
pub enum AccountError {
    /// A field is wrong; the message is safe to show.
    #[error("{field}: {message}")]
    Invalid {
        /// Which field.
        field: &'static str,
        /// What is wrong: a message id of the pages' catalogues
        /// (`locales/*/people.ftl`), which the API writes in Russian.
        message: &'static str,
    },
    /// The address already has an account.
    #[error("{0}")]
    Conflict(String),
    /// No such person or key of this merchant.
    #[error("not found")]
    NotFound,
    /// The one-time link is unknown, used or expired.
    #[error("the link is unknown, used or expired")]
    LinkInvalid,
    /// Storage failed.
    #[error(transparent)]
    Db(DbError),
}

impl From<DbError> for AccountError {
    fn from(e: DbError) -> Self {
        match e {
            DbError::Conflict(message) => AccountError::Conflict(message),
            DbError::NotFound(_) => AccountError::NotFound,
            other => AccountError::Db(other),
        }
    }
}

/// A one-time link just issued: its secret, shown once.
#[derive(Debug, Clone)]
pub struct IssuedLink {
    /// Whose.
    pub account: AccountId,
    /// The secret for `/hq/welcome/<secret>`.
    pub secret: String,
    /// Until when.
    pub expires_at_unix: i64,
}

/// An API key just created: its secret, shown once.
#[derive(Debug, Clone)]
pub struct IssuedKey {
    /// The stored key.
    pub key: ApiKeyRow,
    /// The bearer token.
    pub secret: String,
}

/// A session as the guard sees it: the stored session and its person.
#[derive(Debug, Clone)]
pub struct SessionView {
    /// The stored session.
    pub session: AdminSession,
    /// The person who opened it (`None`: the admin token).
    pub account: Option<AccountRow>,
}

/// What a person or key may do, from their stored row.
#[must_use]
pub fn membership_of(account: &AccountRow) -> Membership {
    Membership {
        merchant: account.merchant_id,
        role: account.role,
        stores: account.stores.clone(),
    }
}

/// The service.
#[derive(Clone)]
pub struct Accounts {
    repo: Arc<dyn Repository>,
    clock: Arc<dyn Clock>,
}

/// A normalised e-mail address.
fn email_of(text: &str) -> Result<String, AccountError> {
    Email::parse(text.trim())
        .map(|e| e.as_str().to_lowercase())
        .map_err(|_| AccountError::Invalid {
            field: "email",
            message: "account-error-email",
        })
}

/// Hashes `password` with argon2id and a fresh salt.
fn hash_password(password: &str) -> Result<String, DbError> {
    let mut salt = [0u8; 16];
    SystemRandom::new()
        .fill(&mut salt)
        .map_err(|_| DbError::other("the system random source failed"))?;
    let salt = SaltString::encode_b64(&salt).map_err(|e| DbError::other(e.to_string()))?;
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|hash| hash.to_string())
        .map_err(|e| DbError::other(e.to_string()))
}

/// Whether `password` matches the PHC string `stored`.
fn password_matches(password: &str, stored: &str) -> bool {
    PasswordHash::new(stored).is_ok_and(|hash| {
        Argon2::default()
            .verify_password(password.as_bytes(), &hash)
            .is_ok()
    })
}

/// A PHC string no password matches, verified when the address is
/// unknown so that an unknown address takes as long as a wrong password.
const DECOY_HASH: &str = "$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHRzb21lc2FsdA$0P+7C0q7vGC9V5w9m5qwq1lS8lq0OZp6m7n3V9s2c2Q";

async fn blocking<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> Result<T, DbError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| DbError::other(e.to_string()))
}

impl Accounts {
    /// The repository, for the settings in [`super::totp`].
    pub(super) fn repo(&self) -> &Arc<dyn Repository> {
        &self.repo
    }

    /// The service over `repo`.
    pub fn new(repo: Arc<dyn Repository>, clock: Arc<dyn Clock>) -> Self {
        Accounts { repo, clock }
    }

    fn now(&self) -> i64 {
        self.clock.now().timestamp()
    }

    /// Invites `email` to `merchant` as `role` (a store manager of
    /// `stores`, which must be the merchant's): stores the account without
    /// a password and issues its invitation link.
    pub async fn invite(
        &self,
        merchant: MerchantId,
        email: &str,
        role: Role,
        stores: Vec<StoreId>,
    ) -> Result<IssuedLink, AccountError> {
        let email = email_of(email)?;
        let stores = stores_for(role, stores)?;
        let secret = random_hex(32)?;
        let now = self.now();
        let expires_at_unix = now + INVITATION_SECS;
        let secret_hash = hash_secret(&secret);
        let account = self
            .repo
            .write(move |tx| {
                tx.merchant(merchant)?
                    .ok_or_else(|| DbError::NotFound(format!("merchant {merchant}")))?;
                if let Err(e) = stores_of_merchant(tx, merchant, &stores)? {
                    return Ok(Err(e));
                }
                let id = tx.insert_account(&NewAccount {
                    merchant_id: merchant,
                    email,
                    role,
                    stores,
                    created_at_unix: now,
                })?;
                tx.insert_account_link(
                    &secret_hash,
                    &AccountLinkRow {
                        account_id: id,
                        purpose: LinkPurpose::Invitation,
                        expires_at_unix,
                        used: false,
                    },
                )?;
                Ok(Ok(id))
            })
            .await??;
        Ok(IssuedLink {
            account,
            secret,
            expires_at_unix,
        })
    }

    /// A password reset link for the merchant's `account`.
    pub async fn reset_link(
        &self,
        merchant: MerchantId,
        account: AccountId,
    ) -> Result<IssuedLink, AccountError> {
        let secret = random_hex(32)?;
        let secret_hash = hash_secret(&secret);
        let expires_at_unix = self.now() + RESET_SECS;
        let found = self
            .repo
            .write(move |tx| {
                match tx.account(account)? {
                    Some(a) if a.merchant_id == merchant => {}
                    _ => return Ok(false),
                }
                tx.insert_account_link(
                    &secret_hash,
                    &AccountLinkRow {
                        account_id: account,
                        purpose: LinkPurpose::Reset,
                        expires_at_unix,
                        used: false,
                    },
                )?;
                Ok(true)
            })
            .await?;
        if !found {
            return Err(AccountError::NotFound);
        }
        Ok(IssuedLink {
            account,
            secret,
            expires_at_unix,
        })
    }

    /// A password reset link for the merchant's person at `email`.
    pub async fn reset_link_by_email(
        &self,
        merchant: MerchantId,
        email: &str,
    ) -> Result<IssuedLink, AccountError> {
        let email = email_of(email)?;
        let account = self
            .repo
            .read(move |tx| tx.account_by_email(&email))
            .await?
            .filter(|a| a.merchant_id == merchant)
            .ok_or(AccountError::NotFound)?;
        self.reset_link(merchant, account.id).await
    }

    /// The person and purpose of a live one-time link.
    pub async fn link(&self, secret: &str) -> Result<Option<(AccountRow, LinkPurpose)>, DbError> {
        let hash = hash_secret(secret);
        let now = self.now();
        self.repo
            .read(move |tx| {
                let Some(link) = tx.account_link(&hash)? else {
                    return Ok(None);
                };
                if link.used || link.expires_at_unix <= now {
                    return Ok(None);
                }
                Ok(tx
                    .account(link.account_id)?
                    .filter(|a| a.disabled_at_unix.is_none())
                    .map(|a| (a, link.purpose)))
            })
            .await
    }

    /// Sets the password of the link's person and uses up their links; a
    /// reset also ends every session they had.
    pub async fn set_password(
        &self,
        secret: &str,
        password: &str,
    ) -> Result<AccountRow, AccountError> {
        let chars = password.chars().count();
        if chars < MIN_PASSWORD_CHARS {
            return Err(AccountError::Invalid {
                field: "password",
                message: "account-error-password-short",
            });
        }
        if chars > MAX_PASSWORD_CHARS {
            return Err(AccountError::Invalid {
                field: "password",
                message: "account-error-password-long",
            });
        }
        let password = password.to_owned();
        let hash = blocking(move || hash_password(&password)).await??;
        let secret_hash = hash_secret(secret);
        let now = self.now();
        self.repo
            .write(move |tx| {
                let link = tx
                    .account_link(&secret_hash)?
                    .filter(|l| !l.used && l.expires_at_unix > now);
                let disabled = match &link {
                    Some(l) => tx
                        .account(l.account_id)?
                        .is_none_or(|a| a.disabled_at_unix.is_some()),
                    None => true,
                };
                let link = link.filter(|_| !disabled);
                let Some(link) = link else {
                    return Ok(Err(AccountError::LinkInvalid));
                };
                tx.set_password_hash(link.account_id, &hash)?;
                tx.use_account_links(link.account_id)?;
                tx.delete_account_sessions(link.account_id)?;
                tx.account(link.account_id)?
                    .map(Ok)
                    .ok_or_else(|| DbError::NotFound(format!("account {}", link.account_id)))
            })
            .await?
    }

    /// The person with this address and password, if they match.
    pub async fn verify(&self, email: &str, password: &str) -> Result<Option<AccountRow>, DbError> {
        let Ok(email) = email_of(email) else {
            return Ok(None);
        };
        let account = self
            .repo
            .read(move |tx| tx.account_by_email(&email))
            .await?;
        let stored = account
            .as_ref()
            .and_then(|a| a.password_hash.clone())
            .unwrap_or_else(|| DECOY_HASH.to_owned());
        let password = password.to_owned();
        let matches = blocking(move || password_matches(&password, &stored)).await?;
        Ok(
            account
                .filter(|a| matches && a.password_hash.is_some() && a.disabled_at_unix.is_none()),
        )
    }

    /// A person by id.
    pub async fn account(&self, id: AccountId) -> Result<Option<AccountRow>, DbError> {
        self.repo.read(move |tx| tx.account(id)).await
    }

    /// The merchant's people.
    pub async fn members(&self, merchant: MerchantId) -> Result<Vec<AccountRow>, DbError> {
        self.repo.read(move |tx| tx.accounts(merchant)).await
    }

    /// Gives the merchant's `account` a new role (a store manager of
    /// `stores`); returns the person as they were.
    pub async fn change_role(
        &self,
        merchant: MerchantId,
        account: AccountId,
        role: Role,
        stores: Vec<StoreId>,
    ) -> Result<AccountRow, AccountError> {
        let stores = stores_for(role, stores)?;
        self.repo
            .write(move |tx| {
                let before = match tx.account(account)? {
                    Some(a) if a.merchant_id == merchant => a,
                    _ => return Ok(Err(AccountError::NotFound)),
                };
                if let Err(e) = stores_of_merchant(tx, merchant, &stores)? {
                    return Ok(Err(e));
                }
                tx.set_role(account, role, &stores)?;
                Ok(Ok(before))
            })
            .await?
    }

    /// Takes the merchant's `account`'s access away and ends their
    /// sessions; returns the person.
    pub async fn disable(
        &self,
        merchant: MerchantId,
        account: AccountId,
    ) -> Result<AccountRow, AccountError> {
        let now = self.now();
        self.repo
            .write(move |tx| match tx.account(account)? {
                Some(a) if a.merchant_id == merchant => {
                    tx.disable_account(account, now)?;
                    tx.use_account_links(account)?;
                    tx.delete_account_sessions(account)?;
                    Ok(Ok(a))
                }
                _ => Ok(Err(AccountError::NotFound)),
            })
            .await?
    }

    /// A session with its person, if it is live.
    pub async fn session(
        &self,
        id_hash: shared::crypto::Hash256,
    ) -> Result<Option<SessionView>, DbError> {
        let now = self.clock.now();
        self.repo
            .read(move |tx| {
                let Some(session) = tx.admin_session(&id_hash, now)? else {
                    return Ok(None);
                };
                let account = match session.account_id {
                    Some(id) => match tx.account(id)? {
                        Some(a) if a.disabled_at_unix.is_none() => Some(a),
                        _ => return Ok(None),
                    },
                    None => None,
                };
                Ok(Some(SessionView { session, account }))
            })
            .await
    }

    /// The person's live sessions.
    pub async fn sessions(&self, account: AccountId) -> Result<Vec<AccountSessionRow>, DbError> {
        let now = self.now();
        self.repo
            .read(move |tx| tx.account_sessions(account, now))
            .await
    }

    /// Ends one of the person's sessions; whether there was one.
    pub async fn end_session(
        &self,
        account: AccountId,
        public_id: String,
    ) -> Result<bool, DbError> {
        self.repo
            .write(move |tx| tx.delete_account_session(account, &public_id))
            .await
    }

    /// A new API key of the merchant with `role` (a store manager's key
    /// acts on `stores`, which must be the merchant's); its secret is shown
    /// once.
    pub async fn create_api_key(
        &self,
        merchant: MerchantId,
        name: &str,
        role: Role,
        stores: Vec<StoreId>,
    ) -> Result<IssuedKey, AccountError> {
        let name = name.trim().to_owned();
        if name.is_empty() || name.chars().count() > 100 {
            return Err(AccountError::Invalid {
                field: "name",
                message: "account-error-key-name",
            });
        }
        let stores = stores_for(role, stores)?;
        let secret = format!("{API_KEY_PREFIX}{}", random_hex(32)?);
        let secret_hash = hash_secret(&secret);
        let now = self.now();
        let key = self
            .repo
            .write(move |tx| {
                tx.merchant(merchant)?
                    .ok_or_else(|| DbError::NotFound(format!("merchant {merchant}")))?;
                if let Err(e) = stores_of_merchant(tx, merchant, &stores)? {
                    return Ok(Err(e));
                }
                let id = tx.insert_api_key(&NewApiKey {
                    merchant_id: merchant,
                    name,
                    role,
                    stores,
                    secret_hash,
                    created_at_unix: now,
                })?;
                tx.api_key(id)?
                    .ok_or_else(|| DbError::NotFound(format!("API key {id}")))
                    .map(Ok)
            })
            .await??;
        Ok(IssuedKey { key, secret })
    }

    /// The merchant's API keys.
    pub async fn api_keys(&self, merchant: MerchantId) -> Result<Vec<ApiKeyRow>, DbError> {
        self.repo.read(move |tx| tx.api_keys(merchant)).await
    }

    /// Revokes the merchant's key.
    pub async fn revoke_api_key(
        &self,
        merchant: MerchantId,
        key: ApiKeyId,
    ) -> Result<ApiKeyRow, AccountError> {
        let now = self.now();
        self.repo
            .write(move |tx| match tx.api_key(key)? {
                Some(k) if k.merchant_id == merchant => {
                    tx.revoke_api_key(key, now)?;
                    Ok(Ok(k))
                }
                _ => Ok(Err(AccountError::NotFound)),
            })
            .await?
    }

    /// The live key with this secret, stamped as used now.
    pub async fn authenticate_key(&self, secret: &str) -> Result<Option<ApiKeyRow>, DbError> {
        if !secret.starts_with(API_KEY_PREFIX) {
            return Ok(None);
        }
        let hash = hash_secret(secret);
        let now = self.now();
        self.repo
            .write(move |tx| {
                let Some(key) = tx.api_key_by_hash(&hash)? else {
                    return Ok(None);
                };
                if key.revoked_at_unix.is_some() {
                    return Ok(None);
                }
                tx.touch_api_key(key.id, now)?;
                Ok(Some(key))
            })
            .await
    }

    /// Whose the resource named by `scope` and the path's `params` is:
    /// `Ok(None)` when it does not exist, or a nested resource (a store,
    /// register, person or key) is not the named merchant's.
    pub async fn target(
        &self,
        scope: Scope,
        params: Vec<(String, String)>,
    ) -> Result<Option<Target>, DbError> {
        let param = |name: &str| -> Option<i64> {
            params
                .iter()
                .find(|(k, _)| k == name)
                .and_then(|(_, v)| v.parse::<i64>().ok())
        };
        let id = param("id");
        let nested = match scope {
            Scope::MerchantStore => param("store"),
            Scope::MerchantRegister => param("register"),
            Scope::MerchantAccount => param("account"),
            Scope::MerchantKey => param("key"),
            _ => None,
        };
        if scope == Scope::Global {
            return Ok(Some(Target::default()));
        }
        let Some(id) = id else {
            return Ok(None);
        };
        self.repo
            .read(move |tx| {
                let merchant_param = MerchantId::new(id).ok();
                let target = match scope {
                    Scope::Global => Some(Target::default()),
                    Scope::Merchant => merchant_param.map(|m| Target {
                        merchant: Some(m),
                        store: None,
                    }),
                    Scope::Store => match StoreId::new(id).ok() {
                        Some(store) => tx.store(store)?.map(|s| Target {
                            merchant: Some(s.merchant_id),
                            store: Some(s.id),
                        }),
                        None => None,
                    },
                    Scope::MerchantStore => match nested.and_then(|n| StoreId::new(n).ok()) {
                        Some(store) => tx.store(store)?.map(|s| Target {
                            merchant: Some(s.merchant_id),
                            store: Some(s.id),
                        }),
                        None => None,
                    },
                    Scope::Register | Scope::MerchantRegister => {
                        let register = if scope == Scope::Register {
                            Some(id)
                        } else {
                            nested
                        };
                        match register.and_then(|n| shared::ids::RegisterId::new(n).ok()) {
                            Some(register) => tx.register_credentials(register)?.map(|r| Target {
                                merchant: Some(r.merchant_id),
                                store: Some(r.store_id),
                            }),
                            None => None,
                        }
                    }
                    Scope::Customer => match shared::ids::CustomerId::new(id).ok() {
                        Some(customer) => tx.customer(customer)?.map(|c| Target {
                            merchant: Some(c.merchant_id),
                            store: None,
                        }),
                        None => None,
                    },
                    Scope::MerchantAccount => match nested {
                        Some(n) => tx.account(AccountId(n))?.map(|a| Target {
                            merchant: Some(a.merchant_id),
                            store: None,
                        }),
                        None => None,
                    },
                    Scope::MerchantKey => match nested {
                        Some(n) => tx.api_key(ApiKeyId(n))?.map(|k| Target {
                            merchant: Some(k.merchant_id),
                            store: None,
                        }),
                        None => None,
                    },
                };
                // A nested resource must be the merchant's the path names.
                let nested_scope = matches!(
                    scope,
                    Scope::MerchantStore
                        | Scope::MerchantRegister
                        | Scope::MerchantAccount
                        | Scope::MerchantKey
                );
                Ok(target.filter(|t| !nested_scope || t.merchant == merchant_param))
            })
            .await
    }

    /// Appends to the audit trail (stamped now when `at_unix` is 0).
    pub async fn record(&self, mut entry: AuditEntry) -> Result<(), DbError> {
        if entry.at_unix == 0 {
            entry.at_unix = self.now();
        }
        self.repo.write(move |tx| tx.insert_audit(&entry)).await
    }

    /// The audit trail, newest first.
    pub async fn audit(&self, filter: AuditFilter) -> Result<Vec<AuditRow>, DbError> {
        self.repo.read(move |tx| tx.audit(&filter)).await
    }
}

/// The stores a person or key of `role` looks after: a store manager needs
/// at least one; every other role has none (whatever was asked).
fn stores_for(role: Role, stores: Vec<StoreId>) -> Result<Vec<StoreId>, AccountError> {
    if role != Role::StoreManager {
        return Ok(Vec::new());
    }
    if stores.is_empty() {
        return Err(AccountError::Invalid {
            field: "stores",
            message: "account-error-stores",
        });
    }
    Ok(stores)
}

/// Whether every one of `stores` is the merchant's (the inner error names
/// the field when one is not).
fn stores_of_merchant(
    tx: &mut dyn Tx,
    merchant: MerchantId,
    stores: &[StoreId],
) -> Result<Result<(), AccountError>, DbError> {
    for store in stores {
        match tx.store(*store)? {
            Some(s) if s.merchant_id == merchant => {}
            _ => {
                return Ok(Err(AccountError::Invalid {
                    field: "stores",
                    message: "account-error-no-store",
                }));
            }
        }
    }
    Ok(Ok(()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_verify_only_against_their_own_hash() {
        let hash = hash_password("correct horse battery").unwrap();
        assert!(hash.starts_with("$argon2id$"));
        assert!(password_matches("correct horse battery", &hash));
        assert!(!password_matches("correct horse batterY", &hash));
        assert!(!password_matches("correct horse battery", DECOY_HASH));
        assert!(!password_matches("", "not a phc string"));
    }

    #[test]
    fn addresses_are_compared_lower_cased() {
        assert_eq!(email_of(" Anna@Example.RU ").unwrap(), "anna@example.ru");
        assert!(email_of("not an address").is_err());
    }
}
