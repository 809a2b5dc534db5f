//! Primitives of a person's own settings: the second factor (a TOTP
//! secret, confirmed or waiting for its first code) and the language of
//! the pages. Whether a code is right is the accounts service's to say.

use super::{AccountId, DbError};

/// A person's settings as stored; all empty by default.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AccountSettings {
    /// The TOTP secret in base32, if one was made.
    pub totp_secret: Option<String>,
    /// The time step (Unix seconds / 30) of the last code accepted; set
    /// once the first code was, and from then on sign-in asks for one.
    pub totp_last_step: Option<i64>,
    /// The pages' language they chose (`ru`, `en`); none: the browser's.
    pub language: Option<String>,
}

/// Reads and writes of people's settings.
pub trait AccountSettingsTx {
    /// The person's settings (the defaults when none were stored).
    fn account_settings(&mut self, account: AccountId) -> Result<AccountSettings, DbError>;
    /// Stores the second factor: a secret and the step of its last code
    /// accepted (none while it waits for its first), or none of it.
    fn set_totp(
        &mut self,
        account: AccountId,
        secret: Option<&str>,
        last_step: Option<i64>,
    ) -> Result<(), DbError>;
    /// Stores the language, or none for the browser's.
    fn set_account_language(
        &mut self,
        account: AccountId,
        language: Option<&str>,
    ) -> Result<(), DbError>;
}
