//! [`RulesetsTx`] on PostgreSQL: one row per (merchant, version).

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use shared::ids::{MerchantId, RulesetVersion};
use shared::release::{RulesetRelease, SignedRuleset};
use shared::ruleset::Ruleset;

use super::PgTx;
use super::columns::{int, parsed};
use crate::db::{CurrentRuleset, DbError, RulesetsTx};

impl RulesetsTx for PgTx<'_, '_> {
    fn current_ruleset(&mut self, merchant: MerchantId) -> Result<Option<CurrentRuleset>, DbError> {
        self.query_opt(
            "SELECT version, ruleset FROM ruleset_releases
             WHERE merchant_id = $1 ORDER BY version DESC LIMIT 1",
            &[&merchant.get()],
        )?
        .map(|row| {
            Ok(CurrentRuleset {
                version: int(&row, 0)?,
                ruleset: parsed(&row, 1, |s| serde_json::from_str(s))?,
            })
        })
        .transpose()
    }

    fn latest_release(&mut self, merchant: MerchantId) -> Result<Option<SignedRuleset>, DbError> {
        self.query_opt(
            "SELECT signed FROM ruleset_releases
             WHERE merchant_id = $1 ORDER BY version DESC LIMIT 1",
            &[&merchant.get()],
        )?
        .map(|row| parsed(&row, 0, |s| serde_json::from_str(s)))
        .transpose()
    }

    fn latest_release_after(
        &mut self,
        merchant: MerchantId,
        after: i64,
    ) -> Result<Option<SignedRuleset>, DbError> {
        self.query_opt(
            "SELECT signed FROM ruleset_releases
             WHERE merchant_id = $1 AND version > $2 ORDER BY version DESC LIMIT 1",
            &[&merchant.get(), &after],
        )?
        .map(|row| parsed(&row, 0, |s| serde_json::from_str(s)))
        .transpose()
    }

    fn ruleset_at(
        &mut self,
        merchant: MerchantId,
        version: RulesetVersion,
    ) -> Result<Option<Ruleset>, DbError> {
        self.query_opt(
            "SELECT ruleset FROM ruleset_releases WHERE merchant_id = $1 AND version = $2",
            &[&merchant.get(), &version.get()],
        )?
        .map(|row| parsed(&row, 0, |s| serde_json::from_str(s)))
        .transpose()
    }

    fn insert_release(
        &mut self,
        release: &RulesetRelease,
        signed: &SignedRuleset,
    ) -> Result<(), DbError> {
        let ruleset = serde_json::to_string(&release.ruleset).map_err(DbError::other)?;
        let signed = serde_json::to_string(signed).map_err(DbError::other)?;
        let programme = &release.ruleset.programme;
        self.execute(
            "INSERT INTO ruleset_releases (merchant_id, version, effective_from, ruleset, signed,
                 points_pending_days, points_expire_days)
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
            &[
                &release.merchant_id.get(),
                &release.version.get(),
                &release.effective_from,
                &ruleset,
                &signed,
                &i64::from(programme.points_pending_days),
                &programme.points_expire_days.map(i64::from),
            ],
        )?;
        let ids: Vec<&str> = release
            .ruleset
            .promotions
            .iter()
            .map(|p| p.id.as_str())
            .collect();
        self.execute(
            "INSERT INTO promotion_first_published (merchant_id, promotion_id, version, published_at)
             SELECT $1, id, $2, $3 FROM UNNEST($4::text[]) AS id
             ON CONFLICT DO NOTHING",
            &[
                &release.merchant_id.get(),
                &release.version.get(),
                &release.effective_from,
                &ids,
            ],
        )?;
        Ok(())
    }

    fn promotions_first_published(
        &mut self,
        merchant: MerchantId,
    ) -> Result<HashMap<String, DateTime<Utc>>, DbError> {
        self.query(
            "SELECT promotion_id, published_at FROM promotion_first_published
             WHERE merchant_id = $1",
            &[&merchant.get()],
        )?
        .into_iter()
        .map(|row| -> Result<(String, DateTime<Utc>), DbError> {
            Ok((row.try_get(0)?, row.try_get(1)?))
        })
        .collect()
    }
}
