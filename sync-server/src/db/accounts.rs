//! Primitives of people and keys: accounts of a merchant with their role
//! and stores, one-time links (invitations, password resets), the HQ
//! sessions of an account, API keys and the audit trail. Secrets arrive
//! hashed, passwords as argon2 PHC strings; times are Unix seconds.

use shared::crypto::Hash256;
use shared::ids::{MerchantId, StoreId};

use super::DbError;
use crate::access::Role;

/// A person's account id.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
pub struct AccountId(pub i64);

impl std::fmt::Display for AccountId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

/// An API key's id.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
pub struct ApiKeyId(pub i64);

impl std::fmt::Display for ApiKeyId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

/// A stored account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccountRow {
    /// Id.
    pub id: AccountId,
    /// Their merchant.
    pub merchant_id: MerchantId,
    /// Lower-cased e-mail address.
    pub email: String,
    /// Role.
    pub role: Role,
    /// The argon2 PHC string; `None` until they accept the invitation.
    pub password_hash: Option<String>,
    /// A store manager's stores, by id.
    pub stores: Vec<StoreId>,
    /// When invited.
    pub created_at_unix: i64,
    /// When an owner took their access away.
    pub disabled_at_unix: Option<i64>,
}

/// A new account (an invitation).
#[derive(Debug, Clone)]
pub struct NewAccount {
    /// Their merchant.
    pub merchant_id: MerchantId,
    /// Lower-cased e-mail address.
    pub email: String,
    /// Role.
    pub role: Role,
    /// A store manager's stores.
    pub stores: Vec<StoreId>,
    /// Now.
    pub created_at_unix: i64,
}

/// What a one-time link is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LinkPurpose {
    /// Accept an invitation: set the first password.
    Invitation,
    /// Set a new password.
    Reset,
}

impl LinkPurpose {
    /// The stored name.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            LinkPurpose::Invitation => "invitation",
            LinkPurpose::Reset => "reset",
        }
    }

    /// From the stored name.
    pub fn parse(s: &str) -> Result<Self, DbError> {
        match s {
            "invitation" => Ok(LinkPurpose::Invitation),
            "reset" => Ok(LinkPurpose::Reset),
            other => Err(DbError::other(format!("unknown link purpose {other:?}"))),
        }
    }
}

/// A stored one-time link.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccountLinkRow {
    /// Whose.
    pub account_id: AccountId,
    /// What for.
    pub purpose: LinkPurpose,
    /// Until when.
    pub expires_at_unix: i64,
    /// Whether it was used.
    pub used: bool,
}

/// One of an account's live sessions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccountSessionRow {
    /// The id shown on the account page (not the cookie).
    pub public_id: String,
    /// Opened.
    pub created_at_unix: i64,
    /// Ends.
    pub expires_at_unix: i64,
}

/// A stored API key (never its secret).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiKeyRow {
    /// Id.
    pub id: ApiKeyId,
    /// Its merchant.
    pub merchant_id: MerchantId,
    /// What it is for.
    pub name: String,
    /// Its role.
    pub role: Role,
    /// Created.
    pub created_at_unix: i64,
    /// Last accepted.
    pub last_used_at_unix: Option<i64>,
    /// Revoked.
    pub revoked_at_unix: Option<i64>,
    /// A store manager's key: its stores, in order (empty for other roles).
    pub stores: Vec<StoreId>,
}

/// A new API key.
#[derive(Debug, Clone)]
pub struct NewApiKey {
    /// Its merchant.
    pub merchant_id: MerchantId,
    /// What it is for.
    pub name: String,
    /// Its role.
    pub role: Role,
    /// A store manager's key: its stores.
    pub stores: Vec<StoreId>,
    /// SHA-256 of the secret.
    pub secret_hash: Hash256,
    /// Now.
    pub created_at_unix: i64,
}

/// An entry of the audit trail.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditEntry {
    /// Whose data (none: the server's, such as a new merchant).
    pub merchant_id: Option<MerchantId>,
    /// When.
    pub at_unix: i64,
    /// Who: `admin-token`, `person:<email>`, `key:<name>#<id>`.
    pub actor: String,
    /// What, such as `promotion.publish`.
    pub action: String,
    /// On what.
    pub subject: String,
    /// Before, where it applies.
    pub before: String,
    /// After, where it applies.
    pub after: String,
}

/// A stored audit entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditRow {
    /// Its place in the trail.
    pub id: i64,
    /// The entry.
    pub entry: AuditEntry,
}

/// Which entries of a merchant's trail to read, newest first.
#[derive(Debug, Clone, Default)]
pub struct AuditFilter {
    /// The merchant.
    pub merchant_id: Option<MerchantId>,
    /// Only this actor.
    pub actor: Option<String>,
    /// Only actions starting with this.
    pub action: Option<String>,
    /// At or after.
    pub from_unix: Option<i64>,
    /// Before.
    pub until_unix: Option<i64>,
    /// At most.
    pub limit: usize,
}

/// Reads and writes of people, keys and the audit trail.
pub trait AccountsTx {
    /// Stores an account; an address taken is a `Conflict`.
    fn insert_account(&mut self, account: &NewAccount) -> Result<AccountId, DbError>;
    /// An account by id.
    fn account(&mut self, id: AccountId) -> Result<Option<AccountRow>, DbError>;
    /// An account by its lower-cased address.
    fn account_by_email(&mut self, email: &str) -> Result<Option<AccountRow>, DbError>;
    /// A merchant's accounts, by id.
    fn accounts(&mut self, merchant: MerchantId) -> Result<Vec<AccountRow>, DbError>;
    /// Sets the password.
    fn set_password_hash(&mut self, id: AccountId, hash: &str) -> Result<(), DbError>;
    /// Takes the person's access away (their sessions end separately).
    fn disable_account(&mut self, id: AccountId, now_unix: i64) -> Result<(), DbError>;
    /// Sets the role and stores.
    fn set_role(&mut self, id: AccountId, role: Role, stores: &[StoreId]) -> Result<(), DbError>;
    /// Stores a one-time link.
    fn insert_account_link(
        &mut self,
        secret_hash: &Hash256,
        link: &AccountLinkRow,
    ) -> Result<(), DbError>;
    /// A one-time link by its hash.
    fn account_link(&mut self, secret_hash: &Hash256) -> Result<Option<AccountLinkRow>, DbError>;
    /// Marks every unused link of the account used.
    fn use_account_links(&mut self, account: AccountId) -> Result<(), DbError>;
    /// The account's sessions live at `now`.
    fn account_sessions(
        &mut self,
        account: AccountId,
        now_unix: i64,
    ) -> Result<Vec<AccountSessionRow>, DbError>;
    /// Ends one of the account's sessions; whether there was one.
    fn delete_account_session(
        &mut self,
        account: AccountId,
        public_id: &str,
    ) -> Result<bool, DbError>;
    /// Ends every session of the account.
    fn delete_account_sessions(&mut self, account: AccountId) -> Result<(), DbError>;
    /// Stores an API key.
    fn insert_api_key(&mut self, key: &NewApiKey) -> Result<ApiKeyId, DbError>;
    /// A key by its secret's hash.
    fn api_key_by_hash(&mut self, secret_hash: &Hash256) -> Result<Option<ApiKeyRow>, DbError>;
    /// A key by id.
    fn api_key(&mut self, id: ApiKeyId) -> Result<Option<ApiKeyRow>, DbError>;
    /// A merchant's keys, by id.
    fn api_keys(&mut self, merchant: MerchantId) -> Result<Vec<ApiKeyRow>, DbError>;
    /// Stamps the key's last use.
    fn touch_api_key(&mut self, id: ApiKeyId, now_unix: i64) -> Result<(), DbError>;
    /// Revokes the key.
    fn revoke_api_key(&mut self, id: ApiKeyId, now_unix: i64) -> Result<(), DbError>;
    /// Appends to the audit trail.
    fn insert_audit(&mut self, entry: &AuditEntry) -> Result<(), DbError>;
    /// Reads the audit trail, newest first.
    fn audit(&mut self, filter: &AuditFilter) -> Result<Vec<AuditRow>, DbError>;
}

/// The stores of a comma-separated list as the backends aggregate it
/// (`None`: no store), in order.
pub(crate) fn store_list(list: Option<&str>) -> Result<Vec<StoreId>, DbError> {
    let mut stores = list
        .unwrap_or_default()
        .split(',')
        .filter(|s| !s.is_empty())
        .map(|s| {
            let id: i64 = s
                .trim()
                .parse()
                .map_err(|_| DbError::other(format!("store id {s:?} in a key's stores")))?;
            StoreId::new(id).map_err(DbError::other)
        })
        .collect::<Result<Vec<_>, DbError>>()?;
    stores.sort_unstable();
    Ok(stores)
}
