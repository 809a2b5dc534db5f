//! Publishing a ruleset: the change (a whole ruleset, or one promotion added
//! or replaced) is applied to the current head, validated, given the next
//! version and signed, all inside one write transaction, so versions never
//! skip or repeat. [`Publisher::publish`] is the one path the admin API and
//! the merchant pages both take.

use std::sync::Arc;

use crate::wire::admin::Published;
use chrono::{DateTime, Utc};
use shared::crypto::{SigningContext, SigningKey};
use shared::ids::{MerchantId, RulesetVersion};
use shared::money::Currency;
use shared::release::{ReleaseError, RulesetRelease, SignedRuleset};
use shared::ruleset::{InvalidRuleset, Programme, Promotion, Ruleset, SCHEMA_VERSION};

use crate::clock::Clock;
use crate::db::{Announcement, CurrentRuleset, DbError, Repository};
use crate::notify::{Notifier, ReleaseNews};

/// The oldest agent that may load releases this server publishes.
pub const MIN_AGENT_VERSION: &str = "0.1.0";

/// What a merchant asks to change.
#[derive(Debug, Clone)]
pub enum RulesetChange {
    /// Publish this ruleset as it is.
    Replace(Ruleset),
    /// Replace the promotion with the same id, or append it.
    UpsertPromotion(Promotion),
    /// Replace the programme and keep the head's promotions as they are
    /// (read inside the writer transaction, so a promotion published
    /// meanwhile is kept too); without a head, a ruleset of this
    /// programme alone in the merchant's currency.
    ReplaceProgramme(Programme),
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

/// Publishes rulesets and hands them to the registers' long-polls.
#[derive(Clone)]
pub struct Publisher {
    repo: Arc<dyn Repository>,
    key: Arc<SigningKey>,
    clock: Arc<dyn Clock>,
    notifier: Arc<Notifier>,
}

impl Publisher {
    /// The service: releases are stored in `repo`, signed with `key`, dated
    /// by `clock` and announced through `notifier`.
    pub fn new(
        repo: Arc<dyn Repository>,
        key: Arc<SigningKey>,
        clock: Arc<dyn Clock>,
        notifier: Arc<Notifier>,
    ) -> Self {
        Publisher {
            repo,
            key,
            clock,
            notifier,
        }
    }

    /// The one publish path of the admin API and the merchant pages:
    /// builds, versions and signs the release inside the write
    /// transaction, then hands it to the merchant's registers' long-polls
    /// so every till has it within seconds.
    #[tracing::instrument(skip_all, fields(merchant_id = %merchant))]
    pub async fn publish(
        &self,
        merchant: MerchantId,
        change: RulesetChange,
    ) -> Result<Published, PublishError> {
        let key = self.key.clone();
        let now = self.clock.now();
        let sealed = self
            .repo
            .write(move |tx| {
                tx.lock_merchant(merchant)?;
                let head = RulesetHead {
                    merchant_id: merchant,
                    currency: tx.merchant_currency(merchant)?,
                    current: tx.current_ruleset(merchant)?,
                };
                let sealed = match build_release(head, change, &key, now) {
                    Ok(sealed) => sealed,
                    Err(refusal) => return Ok(Err(refusal)),
                };
                tx.insert_release(&sealed.release, &sealed.signed)?;
                tx.announce(Announcement::Release {
                    merchant,
                    version: sealed.release.version,
                })?;
                Ok(Ok(sealed))
            })
            .await??;
        let published = Published {
            version: sealed.release.version,
            effective_from: sealed.release.effective_from,
        };
        // Stored and committed: announce it.
        match serde_json::to_vec(&sealed.signed) {
            Ok(json) => self.notifier.announce_release(
                merchant,
                ReleaseNews {
                    version: published.version,
                    json: json.into(),
                },
            ),
            // The long-polls end at their deadline and read storage again.
            Err(e) => tracing::error!(error = %e, "could not serialise the release for long-polls"),
        }
        tracing::info!(version = %published.version, "published a ruleset");
        Ok(published)
    }

    /// The merchant's current rules, if any were published.
    pub async fn current(&self, merchant: MerchantId) -> Result<Option<CurrentRuleset>, DbError> {
        self.repo.read(move |tx| tx.current_ruleset(merchant)).await
    }

    /// The merchant's newest signed release, if any.
    pub async fn latest_release(
        &self,
        merchant: MerchantId,
    ) -> Result<Option<SignedRuleset>, DbError> {
        let stored = self
            .repo
            .read(move |tx| tx.latest_release(merchant))
            .await?;
        Ok(stored.map(|release| self.signed_by_current_key(release)))
    }

    /// `release` as the current key signs it: a release stored before a key
    /// rotation is signed again (the same bytes), so a register enrolled
    /// after the rotation, which knows only the new key, takes it too.
    fn signed_by_current_key(&self, mut release: SignedRuleset) -> SignedRuleset {
        let Some(bytes) = shared::crypto::from_base64(&release.body) else {
            return release;
        };
        let current = self.key.public_key();
        if current
            .verify(SigningContext::Ruleset, &bytes, &release.signature)
            .is_err()
        {
            release.signature = self.key.sign(SigningContext::Ruleset, &bytes);
        }
        release
    }

    /// The merchant's newest signed release if it is newer than version
    /// `after` (a long-poll's check, which reads nothing more otherwise).
    pub async fn latest_release_after(
        &self,
        merchant: MerchantId,
        after: i64,
    ) -> Result<Option<SignedRuleset>, DbError> {
        let stored = self
            .repo
            .read(move |tx| tx.latest_release_after(merchant, after))
            .await?;
        Ok(stored.map(|release| self.signed_by_current_key(release)))
    }
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
        RulesetChange::ReplaceProgramme(programme) => match head.current {
            Some(current) => Ruleset {
                programme,
                ..current.ruleset
            },
            None => Ruleset {
                currency: head.currency,
                programme,
                promotions: Vec::new(),
            },
        },
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

    #[test]
    fn a_programme_replaces_the_programme_and_keeps_every_promotion() {
        let now = DateTime::from_timestamp(1_790_000_000, 0).unwrap();
        let first = build_release(
            head(None),
            RulesetChange::ReplaceProgramme(Programme::default()),
            &key(),
            now,
        )
        .unwrap();
        assert_eq!(first.release.version.get(), 1);
        assert_eq!(first.release.ruleset, empty_ruleset(), "a programme alone");

        let current = CurrentRuleset {
            version: first.release.version,
            ruleset: Ruleset {
                promotions: vec![promotion("milk", 1000), promotion("bread", 500)],
                ..empty_ruleset()
            },
        };
        let programme = Programme {
            welcome_bonus: Some(100),
            ..Programme::default()
        };
        let next = build_release(
            head(Some(current.clone())),
            RulesetChange::ReplaceProgramme(programme.clone()),
            &key(),
            now,
        )
        .unwrap();
        assert_eq!(next.release.version.get(), 2);
        assert_eq!(next.release.ruleset.programme, programme);
        assert_eq!(next.release.ruleset.promotions, current.ruleset.promotions);
        assert_eq!(next.release.ruleset.currency, current.ruleset.currency);
    }
}
