//! Publishing a ruleset: the change (a whole ruleset, or one promotion added
//! or replaced) is applied to the current head, validated, given the next
//! version and signed. [`release_builder`] packages that as the closure the
//! storage runs inside its writer transaction, so versions never skip or
//! repeat. [`publish`] is the one path the admin API and the merchant pages
//! both take.

use std::sync::{Arc, Mutex, PoisonError};

use chrono::{DateTime, Utc};
use shared::crypto::SigningKey;
use shared::ids::{MerchantId, RulesetVersion};
use shared::money::Currency;
use shared::release::{ReleaseError, RulesetRelease, SignedRuleset};
use shared::ruleset::{InvalidRuleset, Promotion, Ruleset, SCHEMA_VERSION};
use shared::wire::admin::Published;

use crate::db::{CurrentRuleset, DbError, ReleaseBuilder};
use crate::notify::ReleaseNews;
use crate::state::AppState;

/// The oldest agent that may load releases this server publishes.
pub const MIN_AGENT_VERSION: &str = "0.1.0";

/// What a merchant asks to change.
#[derive(Debug, Clone)]
pub enum RulesetChange {
    /// Publish this ruleset as it is.
    Replace(Ruleset),
    /// Replace the promotion with the same id, or append it.
    UpsertPromotion(Promotion),
}

/// A merchant's ruleset head, read inside the writer transaction.
#[derive(Debug, Clone)]
pub struct RulesetHead {
    /// The merchant.
    pub merchant_id: MerchantId,
    /// The merchant's currency.
    pub currency: Currency,
    /// The current version, if any was published.
    pub current: Option<CurrentRuleset>,
}

/// A release with its signed form, ready to store.
#[derive(Debug, Clone)]
pub struct SealedRelease {
    /// The content.
    pub release: RulesetRelease,
    /// What registers receive.
    pub signed: SignedRuleset,
}

/// Why a publish was refused.
#[derive(Debug, thiserror::Error)]
pub enum PublishRefusal {
    /// A promotion needs a ruleset to join.
    #[error("merchant {0} has no ruleset yet; publish a whole ruleset first")]
    NoRuleset(MerchantId),
    /// The rules cannot be priced.
    #[error(transparent)]
    Invalid(InvalidRuleset),
    /// The ruleset is in another currency than the merchant's.
    #[error("the ruleset is in {ruleset}, but the merchant trades in {merchant}")]
    Currency {
        /// The ruleset's currency.
        ruleset: Currency,
        /// The merchant's.
        merchant: Currency,
    },
    /// The version counter cannot go higher.
    #[error("the ruleset version counter is exhausted")]
    VersionsExhausted,
    /// Signing failed.
    #[error("the release could not be sealed: {0}")]
    Seal(ReleaseError),
}

/// Why [`publish`] did not publish.
#[derive(Debug, thiserror::Error)]
pub enum PublishError {
    /// The change was refused; nothing was published.
    #[error(transparent)]
    Refused(#[from] PublishRefusal),
    /// Storage failed.
    #[error(transparent)]
    Storage(#[from] DbError),
}

/// The one publish path of the admin API and the merchant pages: builds,
/// versions and signs the release inside the writer transaction, then hands
/// it to the merchant's registers' long-polls so every till has it within
/// seconds.
#[tracing::instrument(skip_all, fields(merchant_id = %merchant))]
pub(crate) async fn publish(
    state: &AppState,
    merchant: MerchantId,
    change: RulesetChange,
) -> Result<Published, PublishError> {
    let built = Arc::new(Mutex::new(None));
    let build: ReleaseBuilder = {
        let built = built.clone();
        let build = release_builder(change, state.signing_key.clone(), state.clock.now());
        Box::new(move |head: RulesetHead| {
            let sealed = build(head)?;
            *built.lock().unwrap_or_else(PoisonError::into_inner) = Some(sealed.signed.clone());
            Ok(sealed)
        })
    };
    let published = state.db.publish_ruleset(merchant, build).await??;
    // Stored and committed: the release the builder made is the one stored.
    let signed = built.lock().unwrap_or_else(PoisonError::into_inner).take();
    match signed.map(|s| serde_json::to_vec(&s)) {
        Some(Ok(json)) => state.notifier.announce_release(
            merchant,
            ReleaseNews {
                version: published.version,
                json: json.into(),
            },
        ),
        // The long-polls end at their deadline and read storage again.
        Some(Err(e)) => {
            tracing::error!(error = %e, "could not serialise the release for long-polls")
        }
        None => tracing::error!("the published release was not handed back by storage"),
    }
    tracing::info!(version = %published.version, "published a ruleset");
    Ok(published)
}

/// Packages `change` as the closure storage runs with the current head.
pub fn release_builder(
    change: RulesetChange,
    key: Arc<SigningKey>,
    now: DateTime<Utc>,
) -> ReleaseBuilder {
    Box::new(move |head| build_release(head, change, &key, now))
}

fn build_release(
    head: RulesetHead,
    change: RulesetChange,
    key: &SigningKey,
    now: DateTime<Utc>,
) -> Result<SealedRelease, PublishRefusal> {
    let previous = head.current.as_ref().map_or(0, |c| c.version.get());
    let ruleset = match change {
        RulesetChange::Replace(ruleset) => ruleset,
        RulesetChange::UpsertPromotion(promotion) => {
            let mut ruleset = head
                .current
                .map(|c| c.ruleset)
                .ok_or(PublishRefusal::NoRuleset(head.merchant_id))?;
            match ruleset.promotions.iter_mut().find(|p| p.id == promotion.id) {
                Some(existing) => *existing = promotion,
                None => ruleset.promotions.push(promotion),
            }
            ruleset
        }
    };
    ruleset.validate().map_err(PublishRefusal::Invalid)?;
    if ruleset.currency != head.currency {
        return Err(PublishRefusal::Currency {
            ruleset: ruleset.currency,
            merchant: head.currency,
        });
    }
    let version = previous
        .checked_add(1)
        .and_then(|v| RulesetVersion::new(v).ok())
        .ok_or(PublishRefusal::VersionsExhausted)?;
    let release = RulesetRelease {
        merchant_id: head.merchant_id,
        version,
        effective_from: now,
        schema_version: SCHEMA_VERSION,
        min_agent_version: MIN_AGENT_VERSION.to_owned(),
        ruleset,
    };
    let signed = release.seal(key).map_err(PublishRefusal::Seal)?;
    Ok(SealedRelease { release, signed })
}

#[cfg(test)]
mod tests {
    use super::*;
    use shared::ruleset::Programme;

    fn key() -> SigningKey {
        SigningKey::from_seed(&[1; 32]).unwrap()
    }

    fn head(current: Option<CurrentRuleset>) -> RulesetHead {
        RulesetHead {
            merchant_id: MerchantId::new(1).unwrap(),
            currency: Currency::RUB,
            current,
        }
    }

    fn empty_ruleset() -> Ruleset {
        Ruleset {
            currency: Currency::RUB,
            programme: Programme::default(),
            promotions: vec![],
        }
    }

    fn promotion(id: &str, percent: u32) -> Promotion {
        serde_json::from_value(serde_json::json!({
            "id": id, "name": "Milk", "target": {"kind": "skus", "skus": ["4601"]},
            "reward": {"kind": "percent_off", "percent": percent}
        }))
        .unwrap()
    }

    #[test]
    fn versions_follow_the_head_and_releases_verify() {
        let now = DateTime::from_timestamp(1_790_000_000, 0).unwrap();
        let sealed = build_release(
            head(None),
            RulesetChange::Replace(empty_ruleset()),
            &key(),
            now,
        )
        .unwrap();
        assert_eq!(sealed.release.version.get(), 1);
        let opened = sealed.signed.open(&key().public_key(), "0.1.0").unwrap();
        assert_eq!(opened, sealed.release);

        let current = CurrentRuleset {
            version: sealed.release.version,
            ruleset: empty_ruleset(),
        };
        let added = build_release(
            head(Some(current)),
            RulesetChange::UpsertPromotion(promotion("milk", 1000)),
            &key(),
            now,
        )
        .unwrap();
        assert_eq!(added.release.version.get(), 2);
        assert_eq!(added.release.ruleset.promotions.len(), 1);

        let current = CurrentRuleset {
            version: added.release.version,
            ruleset: added.release.ruleset,
        };
        let replaced = build_release(
            head(Some(current)),
            RulesetChange::UpsertPromotion(promotion("milk", 2000)),
            &key(),
            now,
        )
        .unwrap();
        assert_eq!(replaced.release.ruleset.promotions.len(), 1);
        assert_eq!(
            replaced.release.ruleset.promotions[0],
            promotion("milk", 2000)
        );
    }

    #[test]
    fn a_promotion_needs_a_ruleset_and_currencies_must_match() {
        let now = DateTime::from_timestamp(1_790_000_000, 0).unwrap();
        assert!(matches!(
            build_release(
                head(None),
                RulesetChange::UpsertPromotion(promotion("milk", 1000)),
                &key(),
                now
            ),
            Err(PublishRefusal::NoRuleset(_))
        ));
        let euros = Ruleset {
            currency: "EUR".parse().unwrap(),
            ..empty_ruleset()
        };
        assert!(matches!(
            build_release(head(None), RulesetChange::Replace(euros), &key(), now),
            Err(PublishRefusal::Currency { .. })
        ));
    }
}
