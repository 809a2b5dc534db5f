//! [`RulesetsTx`] on SQLite: one row per (merchant, version).

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use rusqlite::{OptionalExtension as _, params};
use shared::ids::{MerchantId, RulesetVersion};
use shared::release::{RulesetRelease, SignedRuleset};
use shared::ruleset::Ruleset;

use super::SqliteTx;
use super::columns::{int, parsed, time, time_text};
use crate::db::{CurrentRuleset, DbError, RulesetsTx};

impl RulesetsTx for SqliteTx<'_> {
    fn current_ruleset(&mut self, merchant: MerchantId) -> Result<Option<CurrentRuleset>, DbError> {
        Ok(self
            .tx
            .prepare_cached(
                "SELECT version, ruleset FROM ruleset_releases
                 WHERE merchant_id = ?1 ORDER BY version DESC LIMIT 1",
            )?
            .query_row([merchant.get()], |row| {
                Ok(CurrentRuleset {
                    version: int(row, 0)?,
                    ruleset: parsed(row, 1, |s| serde_json::from_str(s))?,
                })
            })
            .optional()?)
    }

    fn latest_release(&mut self, merchant: MerchantId) -> Result<Option<SignedRuleset>, DbError> {
        Ok(self
            .tx
            .prepare_cached(
                "SELECT signed FROM ruleset_releases
                 WHERE merchant_id = ?1 ORDER BY version DESC LIMIT 1",
            )?
            .query_row([merchant.get()], |row| {
                parsed(row, 0, |s| serde_json::from_str(s))
            })
            .optional()?)
    }

    fn latest_release_after(
        &mut self,
        merchant: MerchantId,
        after: i64,
    ) -> Result<Option<SignedRuleset>, DbError> {
        Ok(self
            .tx
            .prepare_cached(
                "SELECT signed FROM ruleset_releases
                 WHERE merchant_id = ?1 AND version > ?2 ORDER BY version DESC LIMIT 1",
            )?
            .query_row(params![merchant.get(), after], |row| {
                parsed(row, 0, |s| serde_json::from_str(s))
            })
            .optional()?)
    }

    fn ruleset_at(
        &mut self,
        merchant: MerchantId,
        version: RulesetVersion,
    ) -> Result<Option<Ruleset>, DbError> {
        Ok(self
            .tx
            .prepare_cached(
                "SELECT ruleset FROM ruleset_releases WHERE merchant_id = ?1 AND version = ?2",
            )?
            .query_row(params![merchant.get(), version.get()], |row| {
                parsed(row, 0, |s| serde_json::from_str(s))
            })
            .optional()?)
    }

    fn insert_release(
        &mut self,
        release: &RulesetRelease,
        signed: &SignedRuleset,
    ) -> Result<(), DbError> {
        let ruleset = serde_json::to_string(&release.ruleset).map_err(DbError::other)?;
        let signed = serde_json::to_string(signed).map_err(DbError::other)?;
        self.tx.execute(
            "INSERT INTO ruleset_releases (merchant_id, version, effective_from, ruleset, signed,
                 points_pending_days, points_expire_days)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            params![
                release.merchant_id.get(),
                release.version.get(),
                time_text(release.effective_from),
                ruleset,
                signed,
                release.ruleset.programme.points_pending_days,
                release.ruleset.programme.points_expire_days,
            ],
        )?;
        let mut first = self.tx.prepare_cached(
            "INSERT INTO promotion_first_published (merchant_id, promotion_id, version, published_at)
             VALUES (?1, ?2, ?3, ?4) ON CONFLICT DO NOTHING",
        )?;
        for p in &release.ruleset.promotions {
            first.execute(params![
                release.merchant_id.get(),
                p.id.as_str(),
                release.version.get(),
                time_text(release.effective_from),
            ])?;
        }
        Ok(())
    }

    fn promotions_first_published(
        &mut self,
        merchant: MerchantId,
    ) -> Result<HashMap<String, DateTime<Utc>>, DbError> {
        Ok(self
            .tx
            .prepare_cached(
                "SELECT promotion_id, published_at FROM promotion_first_published
                 WHERE merchant_id = ?1",
            )?
            .query_map([merchant.get()], |r| Ok((r.get(0)?, time(r, 1)?)))?
            .collect::<Result<_, _>>()?)
    }
}
