//! What a committed transaction tells the other server instances: a new
//! release of a merchant, a change to a merchant's customers, or a
//! register revoked. The
//! service announces it inside the transaction; a backend shared by several
//! instances delivers it to all of them once the transaction commits
//! (PostgreSQL: `NOTIFY`), and never if it rolls back. An embedded backend
//! serves one process, whose own notifier already wakes its long-polls, so
//! it has nothing to deliver.

use std::fmt;
use std::str::FromStr;

use shared::ids::{MerchantId, RegisterId, RulesetVersion};

use super::DbError;

/// The channel the announcements travel on.
pub const CHANNEL: &str = "loyalty_events";

/// A change other instances' long-polls wait for, or must not miss.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Announcement {
    /// The merchant published this version.
    Release {
        /// Whose rules.
        merchant: MerchantId,
        /// The new version.
        version: RulesetVersion,
    },
    /// Customers of the merchant changed.
    Customers {
        /// Whose customers.
        merchant: MerchantId,
    },
    /// HQ revoked the register: its kept credentials are stale.
    Revoked {
        /// The register.
        register: RegisterId,
    },
}

/// An announcement that does not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("not an announcement: {0:?}")]
pub struct UnknownAnnouncement(pub String);

impl fmt::Display for Announcement {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Announcement::Release { merchant, version } => {
                write!(f, "release {merchant} {version}")
            }
            Announcement::Customers { merchant } => write!(f, "customers {merchant}"),
            Announcement::Revoked { register } => write!(f, "revoked {register}"),
        }
    }
}

impl FromStr for Announcement {
    type Err = UnknownAnnouncement;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let unknown = || UnknownAnnouncement(text.to_owned());
        let words: Vec<&str> = text.split(' ').collect();
        let merchant = |word: &str| {
            word.parse::<i64>()
                .ok()
                .and_then(|id| MerchantId::new(id).ok())
                .ok_or_else(unknown)
        };
        match words.as_slice() {
            ["release", m, v] => Ok(Announcement::Release {
                merchant: merchant(m)?,
                version: v
                    .parse::<i64>()
                    .ok()
                    .and_then(|v| RulesetVersion::new(v).ok())
                    .ok_or_else(unknown)?,
            }),
            ["customers", m] => Ok(Announcement::Customers {
                merchant: merchant(m)?,
            }),
            ["revoked", r] => Ok(Announcement::Revoked {
                register: r
                    .parse::<i64>()
                    .ok()
                    .and_then(|id| RegisterId::new(id).ok())
                    .ok_or_else(unknown)?,
            }),
            _ => Err(unknown()),
        }
    }
}

/// Announcing to the other instances.
pub trait EventsTx {
    /// Delivers `event` to every instance when the transaction commits.
    fn announce(&mut self, event: Announcement) -> Result<(), DbError>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn announcements_round_trip_and_strangers_are_refused() {
        let m = MerchantId::new(7).unwrap();
        for a in [
            Announcement::Release {
                merchant: m,
                version: RulesetVersion::new(12).unwrap(),
            },
            Announcement::Customers { merchant: m },
            Announcement::Revoked {
                register: RegisterId::new(3).unwrap(),
            },
        ] {
            assert_eq!(a.to_string().parse::<Announcement>(), Ok(a));
        }
        assert!("release 7".parse::<Announcement>().is_err());
        assert!("customers x".parse::<Announcement>().is_err());
        assert!("revoked 0".parse::<Announcement>().is_err());
        assert!("".parse::<Announcement>().is_err());
    }
}
