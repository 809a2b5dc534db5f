//! [`AccountSettingsTx`] on PostgreSQL.

use super::PgTx;
use crate::db::{AccountId, AccountSettings, AccountSettingsTx, DbError};

impl AccountSettingsTx for PgTx<'_, '_> {
    fn account_settings(&mut self, account: AccountId) -> Result<AccountSettings, DbError> {
        let row = self.query_opt(
            "SELECT totp_secret, totp_last_step, language FROM account_settings
             WHERE account_id = $1",
            &[&account.0],
        )?;
        row.map(|row| -> Result<AccountSettings, DbError> {
            Ok(AccountSettings {
                totp_secret: row.try_get(0)?,
                totp_last_step: row.try_get(1)?,
                language: row.try_get(2)?,
            })
        })
        .transpose()
        .map(Option::unwrap_or_default)
    }

    fn set_totp(
        &mut self,
        account: AccountId,
        secret: Option<&str>,
        last_step: Option<i64>,
    ) -> Result<(), DbError> {
        self.execute(
            "INSERT INTO account_settings (account_id, totp_secret, totp_last_step)
             VALUES ($1, $2, $3)
             ON CONFLICT (account_id) DO UPDATE
             SET totp_secret = excluded.totp_secret, totp_last_step = excluded.totp_last_step",
            &[&account.0, &secret, &last_step],
        )?;
        Ok(())
    }

    fn set_account_language(
        &mut self,
        account: AccountId,
        language: Option<&str>,
    ) -> Result<(), DbError> {
        self.execute(
            "INSERT INTO account_settings (account_id, language) VALUES ($1, $2)
             ON CONFLICT (account_id) DO UPDATE SET language = excluded.language",
            &[&account.0, &language],
        )?;
        Ok(())
    }
}
