//! [`AccountSettingsTx`] on SQLite.

use rusqlite::{OptionalExtension as _, params};

use super::SqliteTx;
use crate::db::{AccountId, AccountSettings, AccountSettingsTx, DbError};

impl AccountSettingsTx for SqliteTx<'_> {
    fn account_settings(&mut self, account: AccountId) -> Result<AccountSettings, DbError> {
        Ok(self
            .tx
            .prepare_cached(
                "SELECT totp_secret, totp_last_step, language FROM account_settings
                 WHERE account_id = ?1",
            )?
            .query_row([account.0], |row| {
                Ok(AccountSettings {
                    totp_secret: row.get(0)?,
                    totp_last_step: row.get(1)?,
                    language: row.get(2)?,
                })
            })
            .optional()?
            .unwrap_or_default())
    }

    fn set_totp(
        &mut self,
        account: AccountId,
        secret: Option<&str>,
        last_step: Option<i64>,
    ) -> Result<(), DbError> {
        self.tx.execute(
            "INSERT INTO account_settings (account_id, totp_secret, totp_last_step)
             VALUES (?1, ?2, ?3)
             ON CONFLICT (account_id) DO UPDATE
             SET totp_secret = excluded.totp_secret, totp_last_step = excluded.totp_last_step",
            params![account.0, secret, last_step],
        )?;
        Ok(())
    }

    fn set_account_language(
        &mut self,
        account: AccountId,
        language: Option<&str>,
    ) -> Result<(), DbError> {
        self.tx.execute(
            "INSERT INTO account_settings (account_id, language) VALUES (?1, ?2)
             ON CONFLICT (account_id) DO UPDATE SET language = excluded.language",
            params![account.0, language],
        )?;
        Ok(())
    }
}
