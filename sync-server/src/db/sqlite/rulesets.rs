//! Ruleset releases: immutable, one row per (merchant, version).

use rusqlite::{OptionalExtension as _, Transaction, params};
use shared::ids::MerchantId;
use shared::release::SignedRuleset;
use shared::wire::admin::Published;

use super::catalog::merchant_currency;
use super::columns::{int, parsed, time_text};
use crate::db::{CurrentRuleset, DbError, ReleaseBuilder};
use crate::publish::{PublishRefusal, RulesetHead};

/// Builds the next release from the head read in this transaction, then
/// stores it; the writer lock makes the version `previous + 1` exactly.
#[tracing::instrument(skip_all, fields(merchant_id = %merchant))]
pub(super) fn publish(
    tx: &Transaction<'_>,
    merchant: MerchantId,
    build: ReleaseBuilder,
) -> Result<Result<Published, PublishRefusal>, DbError> {
    let head = RulesetHead {
        merchant_id: merchant,
        currency: merchant_currency(tx, merchant)?,
        current: current(tx, merchant)?,
    };
    let sealed = match build(head) {
        Ok(sealed) => sealed,
        Err(refusal) => return Ok(Err(refusal)),
    };
    let release = &sealed.release;
    let ruleset = serde_json::to_string(&release.ruleset).map_err(|e| DbError::Other(e.into()))?;
    let signed = serde_json::to_string(&sealed.signed).map_err(|e| DbError::Other(e.into()))?;
    tx.execute(
        "INSERT INTO ruleset_releases (merchant_id, version, effective_from, ruleset, signed,
             points_pending_days, points_expire_days)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        params![
            merchant.get(),
            release.version.get(),
            time_text(release.effective_from),
            ruleset,
            signed,
            release.ruleset.programme.points_pending_days,
            release.ruleset.programme.points_expire_days,
        ],
    )?;
    tracing::info!(version = %release.version, "published a ruleset");
    Ok(Ok(Published {
        version: release.version,
        effective_from: release.effective_from,
    }))
}

pub(super) fn current(
    tx: &Transaction<'_>,
    merchant: MerchantId,
) -> Result<Option<CurrentRuleset>, DbError> {
    Ok(tx
        .query_row(
            "SELECT version, ruleset FROM ruleset_releases
             WHERE merchant_id = ?1 ORDER BY version DESC LIMIT 1",
            [merchant.get()],
            |row| {
                Ok(CurrentRuleset {
                    version: int(row, 0)?,
                    ruleset: parsed(row, 1, |s| serde_json::from_str(s))?,
                })
            },
        )
        .optional()?)
}

pub(super) fn latest_release(
    tx: &Transaction<'_>,
    merchant: MerchantId,
) -> Result<Option<SignedRuleset>, DbError> {
    Ok(tx
        .query_row(
            "SELECT signed FROM ruleset_releases
             WHERE merchant_id = ?1 ORDER BY version DESC LIMIT 1",
            [merchant.get()],
            |row| parsed(row, 0, |s| serde_json::from_str(s)),
        )
        .optional()?)
}
