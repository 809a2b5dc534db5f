//! The register's estimate of the server's clock: `offset = server −
//! register`, from the `server_time` of upload acknowledgements (precise to
//! half the round trip) and the `Date` header of any reply (to the second).
//!
//! The offset is **never used for ordering**: records carry the register's
//! own wall time and are ordered by seq. It serves two things: activating a
//! ruleset at its `effective_from` on the server's time scale, and showing
//! store IT how far off the register's clock is.
//!
//! A new measurement replaces the current estimate when it is at least as
//! precise, when the current one is old, or when the two disagree by more
//! than their uncertainties allow (the register clock was stepped).

use chrono::{DateTime, TimeDelta, Utc};

use crate::store::sync_state::StoredClockOffset;

/// How long an estimate is kept against a less precise measurement.
const MAX_AGE: TimeDelta = TimeDelta::minutes(10);
/// The resolution of an HTTP `Date` header.
const DATE_HEADER_RESOLUTION_MS: i64 = 1000;

/// `server clock − register clock`, with its uncertainty.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ClockOffset {
    /// Milliseconds to add to the register clock to get the server's.
    pub offset_ms: i64,
    /// Plus or minus this many milliseconds.
    pub uncertainty_ms: i64,
    /// The register time of the measurement.
    pub measured_at: DateTime<Utc>,
}

impl ClockOffset {
    /// The offset shown by one exchange: the request left at `sent`, the
    /// reply arrived at `received` (register clock), and the server stamped
    /// it `server_time`, which it knows to `resolution_ms`.
    #[must_use]
    pub fn from_exchange(
        sent: DateTime<Utc>,
        received: DateTime<Utc>,
        server_time: DateTime<Utc>,
        resolution_ms: i64,
    ) -> Self {
        // A clock stepped mid-exchange can make the round trip negative.
        let round_trip = (received - sent).max(TimeDelta::zero());
        let midpoint = sent + round_trip / 2;
        ClockOffset {
            offset_ms: (server_time - midpoint).num_milliseconds(),
            uncertainty_ms: round_trip.num_milliseconds() / 2 + resolution_ms,
            measured_at: received,
        }
    }

    /// The offset from a reply's `Date` header, received at `received`.
    ///
    /// The server stamps the header as it answers, which for a long-poll is
    /// at the end of the hold, so the reply's arrival (not the request's
    /// departure) is the reference. The header truncates to the second, so
    /// the estimate is taken from the middle of that second and is good to
    /// about a second.
    #[must_use]
    pub fn from_date_header(received: DateTime<Utc>, header: &str) -> Option<Self> {
        let date = DateTime::parse_from_rfc2822(header.trim()).ok()?;
        let server_time = date.with_timezone(&Utc) + TimeDelta::milliseconds(500);
        Some(ClockOffset {
            offset_ms: (server_time - received).num_milliseconds(),
            uncertainty_ms: DATE_HEADER_RESOLUTION_MS,
            measured_at: received,
        })
    }

    /// Whether `newer` should replace this estimate.
    #[must_use]
    pub fn superseded_by(&self, newer: &ClockOffset) -> bool {
        let disagreement = (newer.offset_ms - self.offset_ms).abs();
        newer.uncertainty_ms <= self.uncertainty_ms
            || (newer.measured_at - self.measured_at).abs() > MAX_AGE
            || disagreement > newer.uncertainty_ms + self.uncertainty_ms
    }

    /// The server's time when the register clock reads `register_now`.
    #[must_use]
    pub fn server_time(&self, register_now: DateTime<Utc>) -> DateTime<Utc> {
        register_now + TimeDelta::milliseconds(self.offset_ms)
    }

    /// How far the register clock is ahead of the server's (negative:
    /// behind), in milliseconds.
    #[must_use]
    pub fn register_drift_ms(&self) -> i64 {
        -self.offset_ms
    }
}

impl From<ClockOffset> for StoredClockOffset {
    fn from(c: ClockOffset) -> Self {
        StoredClockOffset {
            offset_ms: c.offset_ms,
            uncertainty_ms: c.uncertainty_ms,
            measured_at: c.measured_at,
        }
    }
}

impl From<StoredClockOffset> for ClockOffset {
    fn from(c: StoredClockOffset) -> Self {
        ClockOffset {
            offset_ms: c.offset_ms,
            uncertainty_ms: c.uncertainty_ms,
            measured_at: c.measured_at,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> DateTime<Utc> {
        s.parse().unwrap()
    }

    #[test]
    fn an_exchange_measures_from_the_midpoint_of_the_round_trip() {
        // The register is a day behind; the round trip takes 40 ms.
        let sent = at("2026-03-01T10:00:00.000Z");
        let received = at("2026-03-01T10:00:00.040Z");
        let server = at("2026-03-02T10:00:00.020Z");
        let c = ClockOffset::from_exchange(sent, received, server, 1);
        assert_eq!(c.offset_ms, 86_400_000);
        assert_eq!(c.uncertainty_ms, 21);
        assert_eq!(c.register_drift_ms(), -86_400_000);
        assert_eq!(
            c.server_time(at("2026-03-01T12:00:00Z")),
            at("2026-03-02T12:00:00Z")
        );
    }

    #[test]
    fn a_date_header_is_good_to_about_a_second() {
        let received = at("2026-03-01T10:00:00.010Z");
        let c = ClockOffset::from_date_header(received, "Sun, 01 Mar 2026 10:05:00 GMT").unwrap();
        assert_eq!(c.offset_ms, 300_490);
        assert_eq!(c.uncertainty_ms, 1000);
        assert!(ClockOffset::from_date_header(received, "yesterday").is_none());
    }

    #[test]
    fn precise_new_or_contradicting_measurements_replace_the_estimate() {
        let t = at("2026-03-01T10:00:00Z");
        let precise = ClockOffset {
            offset_ms: 1000,
            uncertainty_ms: 5,
            measured_at: t,
        };
        let coarse = ClockOffset {
            offset_ms: 1400,
            uncertainty_ms: 500,
            measured_at: t + TimeDelta::seconds(1),
        };
        assert!(!precise.superseded_by(&coarse), "coarse and consistent");
        assert!(coarse.superseded_by(&precise));
        let stepped = ClockOffset {
            offset_ms: 1000 + 86_400_000,
            ..coarse
        };
        assert!(precise.superseded_by(&stepped), "the register clock moved");
        let later = ClockOffset {
            measured_at: t + TimeDelta::minutes(11),
            ..coarse
        };
        assert!(precise.superseded_by(&later), "the old estimate expired");
    }
}
