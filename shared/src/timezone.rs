//! A store's time zone: an IANA name (`Europe/Moscow`), parsed once where
//! it enters (a form, the admin API, a stored row, the enrollment reply)
//! and carried as [`TimeZone`] from there on. It serialises as its name,
//! so the wire and the database keep plain strings.
//!
//! The pricing context keeps the zone as the string the till priced with
//! ([`crate::pricing::PricingContext::timezone`]): it is part of signed
//! records, and the engine must price an unknown zone the same way on the
//! till and on the server.

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, NaiveDate, NaiveDateTime, Utc};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// An IANA time zone known to the tz database this build carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct TimeZone(chrono_tz::Tz);

/// A name that is not an IANA time zone.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown time zone {0:?}: use an IANA name such as Europe/Moscow")]
pub struct UnknownTimeZone(pub String);

impl TimeZone {
    /// Coordinated Universal Time.
    pub const UTC: TimeZone = TimeZone(chrono_tz::UTC);

    /// The IANA name.
    #[must_use]
    pub fn name(self) -> &'static str {
        self.0.name()
    }

    /// The zone for chrono's conversions.
    #[must_use]
    pub const fn tz(self) -> chrono_tz::Tz {
        self.0
    }

    /// The local date and time of an instant here.
    #[must_use]
    pub fn local(self, at: DateTime<Utc>) -> NaiveDateTime {
        at.with_timezone(&self.0).naive_local()
    }

    /// The local date of an instant here.
    #[must_use]
    pub fn local_date(self, at: DateTime<Utc>) -> NaiveDate {
        at.with_timezone(&self.0).date_naive()
    }
}

impl FromStr for TimeZone {
    type Err = UnknownTimeZone;

    fn from_str(name: &str) -> Result<Self, Self::Err> {
        name.trim()
            .parse::<chrono_tz::Tz>()
            .map(TimeZone)
            .map_err(|_| UnknownTimeZone(name.to_owned()))
    }
}

impl fmt::Display for TimeZone {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl Serialize for TimeZone {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.name())
    }
}

impl<'de> Deserialize<'de> for TimeZone {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let name = String::deserialize(deserializer)?;
        name.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_unknown_ones_are_refused_by_name() {
        let moscow: TimeZone = "Europe/Moscow".parse().unwrap();
        assert_eq!(moscow.to_string(), "Europe/Moscow");
        let json = serde_json::to_string(&moscow).unwrap();
        assert_eq!(json, "\"Europe/Moscow\"");
        assert_eq!(serde_json::from_str::<TimeZone>(&json).unwrap(), moscow);
        let err = serde_json::from_str::<TimeZone>("\"Mars/Olympus\"").unwrap_err();
        assert!(err.to_string().contains("Mars/Olympus"), "{err}");
        assert_eq!(
            "Mars/Olympus".parse::<TimeZone>(),
            Err(UnknownTimeZone("Mars/Olympus".into()))
        );
    }

    #[test]
    fn local_dates_follow_the_zone() {
        let at = DateTime::parse_from_rfc3339("2026-03-01T22:30:00Z")
            .unwrap()
            .with_timezone(&Utc);
        let moscow: TimeZone = "Europe/Moscow".parse().unwrap();
        assert_eq!(moscow.local_date(at).to_string(), "2026-03-02");
        assert_eq!(TimeZone::UTC.local_date(at).to_string(), "2026-03-01");
    }
}
