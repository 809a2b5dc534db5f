//! Register clock drift: a crude estimate, flagged and never trusted.
//!
//! On each batch that stores new records the server compares the newest new
//! record's wall time with its own clock: `drift = wall_time − server now`,
//! so a positive drift is a clock running ahead. The estimate cannot tell a
//! slow clock from a record that waited in the outbox while the register
//! was offline, or from a slow upload; both look like a clock behind. So a
//! large drift raises a `clock_drift` alert for a person to judge, and
//! nothing else: records are ordered by seq and statistics use the wall
//! time the register signed, whatever the drift.

use chrono::{DateTime, TimeDelta, Utc};

/// How far a register's clock is from the server's, in whole seconds;
/// positive when the register is ahead.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct ClockDrift(i64);

impl ClockDrift {
    /// The drift a record made at `wall_time` shows when it reaches the
    /// server at `server_now`.
    #[must_use]
    pub fn estimate(wall_time: DateTime<Utc>, server_now: DateTime<Utc>) -> Self {
        ClockDrift(wall_time.signed_duration_since(server_now).num_seconds())
    }

    /// A drift of `secs` seconds.
    #[must_use]
    pub const fn from_secs(secs: i64) -> Self {
        ClockDrift(secs)
    }

    /// Seconds; positive when the register is ahead.
    #[must_use]
    pub const fn secs(self) -> i64 {
        self.0
    }

    /// Whether the drift is beyond `max_secs` either way.
    #[must_use]
    pub fn exceeds(self, max_secs: u64) -> bool {
        self.0.unsigned_abs() > max_secs
    }

    /// The drift for a person: how far and which way, and what else a
    /// clock behind may mean.
    #[must_use]
    pub fn describe(self) -> String {
        let magnitude = human_duration(TimeDelta::seconds(self.0).abs());
        if self.0 >= 0 {
            format!("the register's clock is {magnitude} ahead of the server's")
        } else {
            format!(
                "the register's clock is {magnitude} behind the server's, or the record waited that long to be uploaded"
            )
        }
    }
}

/// `1d 2h 3m 4s`, leaving out leading zero units.
fn human_duration(d: TimeDelta) -> String {
    let total = d.num_seconds();
    let (days, hours, minutes, seconds) = (
        total / 86_400,
        total % 86_400 / 3600,
        total % 3600 / 60,
        total % 60,
    );
    let parts = [(days, "d"), (hours, "h"), (minutes, "m"), (seconds, "s")];
    let shown: Vec<String> = parts
        .iter()
        .skip_while(|(n, _)| *n == 0)
        .map(|(n, unit)| format!("{n}{unit}"))
        .collect();
    if shown.is_empty() {
        "0s".to_owned()
    } else {
        shown.join(" ")
    }
}

/// A register's last drift estimate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClockReading {
    /// The estimate.
    pub drift: ClockDrift,
    /// When the server made it.
    pub measured_at: DateTime<Utc>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> DateTime<Utc> {
        s.parse().unwrap()
    }

    #[test]
    fn drift_is_wall_time_minus_server_time() {
        let now = at("2026-03-02T10:00:00Z");
        let behind = ClockDrift::estimate(at("2026-03-01T10:00:00Z"), now);
        assert_eq!(behind.secs(), -86_400);
        assert!(behind.exceeds(300));
        assert!(
            behind.describe().contains("1d 0h 0m 0s behind"),
            "{}",
            behind.describe()
        );

        let ahead = ClockDrift::estimate(at("2026-03-02T10:04:59.900Z"), now);
        assert_eq!(ahead.secs(), 299);
        assert!(!ahead.exceeds(300));
        assert!(ClockDrift::from_secs(301).exceeds(300));
        assert!(ClockDrift::from_secs(-301).exceeds(300));
        assert!(!ClockDrift::from_secs(-300).exceeds(300));
        assert_eq!(
            ClockDrift::from_secs(61).describe(),
            "the register's clock is 1m 1s ahead of the server's"
        );
        assert_eq!(
            ClockDrift::from_secs(0).describe(),
            "the register's clock is 0s ahead of the server's"
        );
    }
}
