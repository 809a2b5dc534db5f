//! Wall-clock time, injected so tests can control it.
//!
//! The agent reads the time for token expiry, promotion windows and the
//! informative `wall_time` of records; records are ordered by seq, never by
//! this clock.

use chrono::{DateTime, Utc};

/// A source of the current time.
pub trait Clock: Send + Sync + 'static {
    /// The current time.
    fn now(&self) -> DateTime<Utc>;
}

/// The system clock.
#[derive(Clone, Copy, Debug, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }
}
