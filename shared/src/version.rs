//! An agent's version, in semantic versioning (`1.4.0`, `1.5.0-rc.1`),
//! parsed once where it comes in and compared by semver precedence (build
//! metadata, `+…`, does not count). HQ sets a minimum per merchant; a
//! register whose version is below it lags.

use std::cmp::Ordering;
use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// The longest version text taken.
const MAX_LEN: usize = 64;

/// A semantic version, such as `1.4.0`.
#[derive(Clone, Debug)]
pub struct AgentVersion(semver::Version);

/// Text that is not a semantic version.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error(
    "{text:?} is not a version like 1.4.0 (major.minor.patch, an optional -pre-release): {reason}"
)]
pub struct VersionError {
    /// What was given (cut to 64 characters).
    pub text: String,
    /// Why it is not one.
    pub reason: String,
}

impl AgentVersion {
    /// Parses `1.4.0`, `1.5.0-rc.1`; spaces around are ignored.
    ///
    /// # Errors
    /// [`VersionError`] for anything else, including a leading `v` or a
    /// missing patch number.
    pub fn parse(text: &str) -> Result<Self, VersionError> {
        let trimmed = text.trim();
        let err = |reason: String| VersionError {
            text: trimmed.chars().take(MAX_LEN).collect(),
            reason,
        };
        if trimmed.len() > MAX_LEN {
            return Err(err(format!("at most {MAX_LEN} characters")));
        }
        semver::Version::parse(trimmed)
            .map(AgentVersion)
            .map_err(|e| err(e.to_string()))
    }

    /// Whether this version is below `minimum`.
    #[must_use]
    pub fn is_below(&self, minimum: &AgentVersion) -> bool {
        self < minimum
    }
}

impl PartialEq for AgentVersion {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}

impl Eq for AgentVersion {}

impl PartialOrd for AgentVersion {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for AgentVersion {
    fn cmp(&self, other: &Self) -> Ordering {
        self.0.cmp_precedence(&other.0)
    }
}

impl fmt::Display for AgentVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl FromStr for AgentVersion {
    type Err = VersionError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        AgentVersion::parse(s)
    }
}

impl Serialize for AgentVersion {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for AgentVersion {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        AgentVersion::parse(&text).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn v(text: &str) -> AgentVersion {
        AgentVersion::parse(text).unwrap()
    }

    #[test]
    fn versions_compare_by_precedence() {
        assert!(v("0.9.9").is_below(&v("0.10.0")));
        assert!(v("1.0.0-rc.1").is_below(&v("1.0.0")));
        assert!(!v("1.0.0").is_below(&v("1.0.0")));
        assert!(!v("1.2.0").is_below(&v("1.1.9")));
        assert_eq!(v("1.0.0+build.5"), v("1.0.0"));
        assert_eq!(v(" 1.2.3 ").to_string(), "1.2.3");
    }

    #[test]
    fn what_is_not_a_version_is_named() {
        for bad in ["", "1", "1.2", "v1.2.3", "1.2.x", "latest", "1.2.3.4"] {
            let e = AgentVersion::parse(bad).unwrap_err();
            assert!(
                e.to_string().contains("is not a version like 1.4.0"),
                "{bad}: {e}"
            );
        }
        assert!(AgentVersion::parse(&"1".repeat(100)).is_err());
    }

    #[test]
    fn serde_is_the_text() {
        let json = serde_json::to_string(&v("1.5.0-rc.1")).unwrap();
        assert_eq!(json, "\"1.5.0-rc.1\"");
        assert_eq!(
            serde_json::from_str::<AgentVersion>(&json).unwrap(),
            v("1.5.0-rc.1")
        );
        assert!(serde_json::from_str::<AgentVersion>("\"1.x\"").is_err());
    }

    proptest! {
        #[test]
        fn parse_round_trips_and_orders_like_numbers(
            a in (0u64..1000, 0u64..1000, 0u64..1000),
            b in (0u64..1000, 0u64..1000, 0u64..1000),
        ) {
            let va = v(&format!("{}.{}.{}", a.0, a.1, a.2));
            let vb = v(&format!("{}.{}.{}", b.0, b.1, b.2));
            prop_assert_eq!(v(&va.to_string()), va.clone());
            prop_assert_eq!(va.cmp(&vb), a.cmp(&b));
        }

        #[test]
        fn any_text_parses_or_is_refused_without_panic(text in ".{0,80}") {
            let _ = AgentVersion::parse(&text);
        }
    }
}
