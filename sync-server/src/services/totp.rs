//! A person's own settings (issue 12): the optional second factor of HQ
//! sign-in and the pages' language.
//!
//! **TOTP** (RFC 6238: SHA-1, six digits, thirty seconds, one step of skew
//! either way), by `totp-rs`. Turning it on makes a secret of 160 random
//! bits and shows it (with its `otpauth://` link and QR code); it guards
//! sign-in only once a first code from the person's app was accepted, so a
//! secret never typed into an app cannot lock anyone out. Turning it off
//! takes a current code too. A code is accepted once: the time step of
//! the last accepted code is kept, so a code seen over a shoulder cannot
//! be replayed within its thirty seconds.

use ring::rand::{SecureRandom as _, SystemRandom};
use totp_rs::{Algorithm, Secret, TOTP};

use crate::db::{AccountId, AccountSettings, DbError};
use crate::services::accounts::Accounts;

/// Who the authenticator app says the codes are for.
const ISSUER: &str = "Loyalty HQ";
/// Seconds a code lasts.
const STEP: u64 = 30;

/// Where a person's second factor stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SecondFactor {
    /// Sign-in asks for a password only.
    Off,
    /// A secret was made; its first code turns it on.
    Pending {
        /// The secret in base32, to type into an app.
        secret: String,
        /// The `otpauth://` link an app reads from the QR code.
        url: String,
    },
    /// Sign-in asks for a code as well.
    On,
}

/// Why a code was not accepted.
#[derive(Debug, thiserror::Error)]
pub enum CodeError {
    /// Wrong, stale or used before.
    #[error("the code is wrong or was used")]
    Wrong,
    /// There is nothing to confirm or turn off.
    #[error("no second factor in this state")]
    State,
    /// Storage failed.
    #[error(transparent)]
    Db(#[from] DbError),
}

fn totp(secret_b32: &str, email: &str) -> Result<TOTP, DbError> {
    let bytes = Secret::Encoded(secret_b32.to_owned())
        .to_bytes()
        .map_err(|e| DbError::Other(format!("a stored TOTP secret: {e:?}").into()))?;
    TOTP::new(
        Algorithm::SHA1,
        6,
        1,
        STEP,
        bytes,
        Some(ISSUER.to_owned()),
        email.to_owned(),
    )
    .map_err(|e| DbError::Other(format!("a TOTP secret: {e}").into()))
}

/// The time step a code `code` belongs to, if it is right at `now` (one
/// step of skew either way).
fn accepted_step(totp: &TOTP, code: &str, now: u64) -> Option<u64> {
    let code = code.trim();
    let step = now / STEP;
    [step.saturating_sub(1), step, step + 1]
        .into_iter()
        .find(|s| totp.generate(s * STEP) == code)
}

fn state(settings: &AccountSettings, email: &str) -> Result<SecondFactor, DbError> {
    Ok(match (&settings.totp_secret, settings.totp_last_step) {
        (Some(_), Some(_)) => SecondFactor::On,
        (Some(secret), None) => SecondFactor::Pending {
            secret: secret.clone(),
            url: totp(secret, email)?.get_url(),
        },
        (None, _) => SecondFactor::Off,
    })
}

impl Accounts {
    /// The person's settings.
    pub async fn settings(&self, account: AccountId) -> Result<AccountSettings, DbError> {
        self.repo()
            .read(move |tx| tx.account_settings(account))
            .await
    }

    /// Where the person's second factor stands.
    pub async fn second_factor(
        &self,
        account: AccountId,
        email: &str,
    ) -> Result<SecondFactor, DbError> {
        state(&self.settings(account).await?, email)
    }

    /// Makes a new secret waiting for its first code (replacing one that
    /// waited); refused while one is on.
    pub async fn begin_totp(
        &self,
        account: AccountId,
        email: &str,
    ) -> Result<SecondFactor, CodeError> {
        let mut bytes = [0_u8; 20];
        SystemRandom::new()
            .fill(&mut bytes)
            .map_err(|_| DbError::Other("no randomness for a TOTP secret".into()))?;
        let secret = Secret::Raw(bytes.to_vec()).to_encoded().to_string();
        let stored = secret.clone();
        let began = self
            .repo()
            .write(move |tx| {
                if tx.account_settings(account)?.totp_last_step.is_some() {
                    return Ok(false);
                }
                tx.set_totp(account, Some(&stored), None)?;
                Ok(true)
            })
            .await?;
        if !began {
            return Err(CodeError::State);
        }
        Ok(SecondFactor::Pending {
            url: totp(&secret, email)?.get_url(),
            secret,
        })
    }

    /// Checks a code against the person's secret at `now` (Unix seconds),
    /// once per time step; `confirm` turns a waiting secret on, `off`
    /// takes a confirmed one away, neither only checks a confirmed one.
    async fn use_code(
        &self,
        account: AccountId,
        email: &str,
        code: &str,
        now: u64,
        change: CodeUse,
    ) -> Result<(), CodeError> {
        let settings = self.settings(account).await?;
        let Some(secret) = settings.totp_secret.as_deref() else {
            return Err(CodeError::State);
        };
        let confirmed = settings.totp_last_step;
        match (change, confirmed) {
            (CodeUse::Confirm, Some(_)) | (CodeUse::Check | CodeUse::Off, None) => {
                return Err(CodeError::State);
            }
            _ => {}
        }
        let step = accepted_step(&totp(secret, email)?, code, now).ok_or(CodeError::Wrong)?;
        let step = i64::try_from(step).unwrap_or(i64::MAX);
        // The step of the last accepted code is kept, so a code is
        // accepted once.
        let secret = secret.to_owned();
        let accepted = self
            .repo()
            .write(move |tx| {
                let now = tx.account_settings(account)?;
                if now.totp_secret.as_deref() != Some(secret.as_str())
                    || now.totp_last_step.is_some_and(|last| step <= last)
                {
                    return Ok(false);
                }
                match change {
                    CodeUse::Off => tx.set_totp(account, None, None)?,
                    CodeUse::Confirm | CodeUse::Check => {
                        tx.set_totp(account, Some(&secret), Some(step))?;
                    }
                }
                Ok(true)
            })
            .await?;
        if accepted {
            Ok(())
        } else {
            Err(CodeError::Wrong)
        }
    }

    /// Turns a waiting secret on with its first code.
    pub async fn confirm_totp(
        &self,
        account: AccountId,
        email: &str,
        code: &str,
        now: u64,
    ) -> Result<(), CodeError> {
        self.use_code(account, email, code, now, CodeUse::Confirm)
            .await
    }

    /// Turns the second factor off with a current code.
    pub async fn disable_totp(
        &self,
        account: AccountId,
        email: &str,
        code: &str,
        now: u64,
    ) -> Result<(), CodeError> {
        self.use_code(account, email, code, now, CodeUse::Off).await
    }

    /// Whether sign-in may go on: no second factor, or `code` is current
    /// and unused.
    pub async fn second_factor_passes(
        &self,
        account: AccountId,
        email: &str,
        code: &str,
        now: u64,
    ) -> Result<bool, DbError> {
        if self.settings(account).await?.totp_last_step.is_none() {
            return Ok(true);
        }
        match self
            .use_code(account, email, code, now, CodeUse::Check)
            .await
        {
            Ok(()) => Ok(true),
            Err(CodeError::Wrong | CodeError::State) => Ok(false),
            Err(CodeError::Db(e)) => Err(e),
        }
    }

    /// Keeps the pages' language the person chose (`None`: the browser's).
    pub async fn set_language(
        &self,
        account: AccountId,
        language: Option<&'static str>,
    ) -> Result<(), DbError> {
        self.repo()
            .write(move |tx| tx.set_account_language(account, language))
            .await
    }
}

#[derive(Debug, Clone, Copy)]
enum CodeUse {
    Confirm,
    Check,
    Off,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_of_the_step_and_its_neighbours_pass_and_no_other() {
        let secret = Secret::Raw(b"12345678901234567890".to_vec())
            .to_encoded()
            .to_string();
        let t = totp(&secret, "a@example.com").unwrap();
        // RFC 6238's SHA-1 test vector at T = 59 s is 94287082 (8 digits);
        // six digits are its last six.
        assert_eq!(t.generate(59), "287082");
        assert_eq!(accepted_step(&t, "287082", 59), Some(1));
        assert_eq!(accepted_step(&t, " 287082 ", 75), Some(1), "skew");
        assert_eq!(accepted_step(&t, "287082", 59 + 3 * STEP), None, "stale");
        assert_eq!(accepted_step(&t, "000000", 59), None);
        assert!(t.get_url().starts_with("otpauth://totp/"));
    }
}
