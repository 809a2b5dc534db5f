//! Primitives of ruleset releases: immutable, one row per (merchant,
//! version).

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use shared::ids::{MerchantId, RulesetVersion};
use shared::release::{RulesetRelease, SignedRuleset};
use shared::ruleset::Ruleset;

use super::DbError;

/// The current ruleset of a merchant.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct CurrentRuleset {
    /// Its version.
    pub version: RulesetVersion,
    /// The rules.
    pub ruleset: Ruleset,
}

/// Reads and writes of ruleset releases.
pub trait RulesetsTx {
    /// The merchant's current rules, if any were published.
    fn current_ruleset(&mut self, merchant: MerchantId) -> Result<Option<CurrentRuleset>, DbError>;
    /// The merchant's newest signed release, if any.
    fn latest_release(&mut self, merchant: MerchantId) -> Result<Option<SignedRuleset>, DbError>;
    /// The merchant's newest signed release if its version is above
    /// `after`; nothing is read or parsed otherwise (a long-poll's check).
    fn latest_release_after(
        &mut self,
        merchant: MerchantId,
        after: i64,
    ) -> Result<Option<SignedRuleset>, DbError>;
    /// The rules of one version, if stored.
    fn ruleset_at(
        &mut self,
        merchant: MerchantId,
        version: RulesetVersion,
    ) -> Result<Option<Ruleset>, DbError>;
    /// Stores a release; its version must be new. Its promotions not
    /// published before are noted as first published with it.
    fn insert_release(
        &mut self,
        release: &RulesetRelease,
        signed: &SignedRuleset,
    ) -> Result<(), DbError>;
    /// When each of the merchant's promotion ids was first published (its
    /// first release's `effective_from`), by id.
    fn promotions_first_published(
        &mut self,
        merchant: MerchantId,
    ) -> Result<HashMap<String, DateTime<Utc>>, DbError>;
}
