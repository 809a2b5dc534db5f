//! A published ruleset version, signed by the server with the key every
//! register pins at enrollment. Like purchase records, the signature covers
//! the exact bytes; the agent verifies, then parses, then validates.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::crypto::{
    Hash256, PublicKey, Signature, SigningContext, SigningKey, from_base64, sha256, to_base64,
};
use crate::ids::{MerchantId, RulesetVersion};
use crate::ruleset::{InvalidRuleset, Ruleset, SCHEMA_VERSION};

/// A ruleset version with its metadata: the signed content.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RulesetRelease {
    /// Whose rules.
    pub merchant_id: MerchantId,
    /// The version, assigned by the server under a lock.
    pub version: RulesetVersion,
    /// From when registers price with it.
    pub effective_from: DateTime<Utc>,
    /// The schema of `ruleset`.
    pub schema_version: u32,
    /// The oldest agent that may load it.
    pub min_agent_version: String,
    /// The rules.
    pub ruleset: Ruleset,
}

/// A release on the wire.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SignedRuleset {
    /// The version, outside the body for routing.
    pub version: RulesetVersion,
    /// The exact signed bytes, base64.
    pub body: String,
    /// SHA-256 of the body bytes, to detect truncation before verifying.
    pub sha256: Hash256,
    /// Ed25519 signature over the body bytes.
    pub signature: Signature,
}

/// Why a release was refused; the agent keeps its last good ruleset.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReleaseError {
    /// The body is not base64 or does not match its hash (truncated).
    #[error("ruleset {0} body is truncated or corrupt")]
    Corrupt(RulesetVersion),
    /// The signature does not verify against the pinned key.
    #[error("ruleset {0} signature does not verify")]
    BadSignature(RulesetVersion),
    /// The body does not parse.
    #[error("ruleset {version} does not parse: {message}")]
    Parse {
        /// Which version.
        version: RulesetVersion,
        /// The parser's message.
        message: String,
    },
    /// A schema this build does not understand.
    #[error("ruleset {version} has schema {schema}, this agent understands {SCHEMA_VERSION}")]
    UnknownSchema {
        /// Which version.
        version: RulesetVersion,
        /// Its schema.
        schema: u32,
    },
    /// The release needs a newer agent.
    #[error("ruleset {version} needs agent {needed} or newer, this is {running}")]
    AgentTooOld {
        /// Which version.
        version: RulesetVersion,
        /// The minimum.
        needed: String,
        /// This agent.
        running: String,
    },
    /// The rules cannot be priced.
    #[error("ruleset {version}: {source}")]
    Invalid {
        /// Which version.
        version: RulesetVersion,
        /// The faults.
        source: InvalidRuleset,
    },
    /// Envelope and body disagree.
    #[error("ruleset envelope says version {envelope}, body says {body}")]
    VersionMismatch {
        /// The envelope's version.
        envelope: RulesetVersion,
        /// The body's version.
        body: RulesetVersion,
    },
    /// Serialisation failed.
    #[error("ruleset could not be serialised: {0}")]
    Serialise(String),
}

impl RulesetRelease {
    /// Serialises and signs.
    pub fn seal(&self, key: &SigningKey) -> Result<SignedRuleset, ReleaseError> {
        let bytes = serde_json::to_vec(self).map_err(|e| ReleaseError::Serialise(e.to_string()))?;
        Ok(SignedRuleset {
            version: self.version,
            sha256: sha256(&bytes),
            signature: key.sign(SigningContext::Ruleset, &bytes),
            body: to_base64(&bytes),
        })
    }
}

/// Compares dotted numeric versions (`0.10.2` > `0.9.9`); missing parts are 0.
#[must_use]
pub fn version_at_least(running: &str, needed: &str) -> bool {
    let parse = |s: &str| -> Vec<u64> { s.split('.').map(|p| p.parse().unwrap_or(0)).collect() };
    let (a, b) = (parse(running), parse(needed));
    let n = a.len().max(b.len());
    let get = |v: &Vec<u64>, i: usize| v.get(i).copied().unwrap_or(0);
    (0..n)
        .map(|i| (get(&a, i), get(&b, i)))
        .find(|(x, y)| x != y)
        .is_none_or(|(x, y)| x > y)
}

impl SignedRuleset {
    /// Verifies hash and signature, parses, checks schema and agent version,
    /// and validates the rules.
    pub fn open(
        &self,
        key: &PublicKey,
        agent_version: &str,
    ) -> Result<RulesetRelease, ReleaseError> {
        self.open_with(std::slice::from_ref(key), agent_version)
    }

    /// [`SignedRuleset::open`] with any of `keys` (the server keys the
    /// register trusts: a release names no key).
    pub fn open_with(
        &self,
        keys: &[PublicKey],
        agent_version: &str,
    ) -> Result<RulesetRelease, ReleaseError> {
        let v = self.version;
        let bytes = from_base64(&self.body).ok_or(ReleaseError::Corrupt(v))?;
        if sha256(&bytes) != self.sha256 {
            return Err(ReleaseError::Corrupt(v));
        }
        if !keys.iter().any(|key| {
            key.verify(SigningContext::Ruleset, &bytes, &self.signature)
                .is_ok()
        }) {
            return Err(ReleaseError::BadSignature(v));
        }
        #[derive(Deserialize)]
        #[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
        struct Header {
            schema_version: u32,
        }
        let header: Header = serde_json::from_slice(&bytes).map_err(|e| ReleaseError::Parse {
            version: v,
            message: e.to_string(),
        })?;
        if header.schema_version != SCHEMA_VERSION {
            return Err(ReleaseError::UnknownSchema {
                version: v,
                schema: header.schema_version,
            });
        }
        let release: RulesetRelease =
            serde_json::from_slice(&bytes).map_err(|e| ReleaseError::Parse {
                version: v,
                message: e.to_string(),
            })?;
        if release.version != v {
            return Err(ReleaseError::VersionMismatch {
                envelope: v,
                body: release.version,
            });
        }
        if !version_at_least(agent_version, &release.min_agent_version) {
            return Err(ReleaseError::AgentTooOld {
                version: v,
                needed: release.min_agent_version,
                running: agent_version.to_owned(),
            });
        }
        release
            .ruleset
            .validate()
            .map_err(|source| ReleaseError::Invalid { version: v, source })?;
        Ok(release)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crypto::tests::test_key;
    use crate::money::Currency;
    use crate::ruleset::Programme;

    fn release() -> RulesetRelease {
        RulesetRelease {
            merchant_id: MerchantId::new(1).unwrap(),
            version: RulesetVersion::new(3).unwrap(),
            effective_from: DateTime::from_timestamp(1_790_000_000, 0).unwrap(),
            schema_version: SCHEMA_VERSION,
            min_agent_version: "0.1.0".into(),
            ruleset: Ruleset {
                currency: Currency::RUB,
                programme: Programme::default(),
                promotions: vec![],
            },
        }
    }

    #[test]
    fn open_refuses_truncated_forged_and_future_rulesets() {
        let key = test_key(1);
        let signed = release().seal(&key).unwrap();
        assert_eq!(signed.open(&key.public_key(), "0.1.0").unwrap(), release());
        let v = signed.version;

        let truncated = SignedRuleset {
            body: signed.body[..signed.body.len() - 8].to_owned(),
            ..signed.clone()
        };
        assert_eq!(
            truncated.open(&key.public_key(), "0.1.0"),
            Err(ReleaseError::Corrupt(v))
        );
        assert_eq!(
            signed.open(&test_key(2).public_key(), "0.1.0"),
            Err(ReleaseError::BadSignature(v))
        );

        let future = RulesetRelease {
            schema_version: 99,
            ..release()
        }
        .seal(&key)
        .unwrap();
        assert_eq!(
            future.open(&key.public_key(), "0.1.0"),
            Err(ReleaseError::UnknownSchema {
                version: v,
                schema: 99
            })
        );

        let needs_new = RulesetRelease {
            min_agent_version: "0.2".into(),
            ..release()
        }
        .seal(&key)
        .unwrap();
        assert!(matches!(
            needs_new.open(&key.public_key(), "0.1.9"),
            Err(ReleaseError::AgentTooOld { .. })
        ));
    }

    #[test]
    fn dotted_versions_compare_numerically() {
        assert!(version_at_least("0.10.0", "0.9.9"));
        assert!(version_at_least("1.0", "1.0.0"));
        assert!(!version_at_least("0.1.0", "0.1.1"));
    }
}
