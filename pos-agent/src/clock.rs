//! Wall-clock time, injected so tests can control it.
//!
//! The agent reads the time for token expiry, promotion windows and the
//! informative `wall_time` of records; records are ordered by seq, never by
//! this clock. How long something sat idle (an open check) is measured on
//! [`Clock::monotonic`], which a wall clock stepping a year does not move.

use std::sync::OnceLock;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};

/// A source of the current time.
pub trait Clock: Send + Sync + 'static {
    /// The current time.
    fn now(&self) -> DateTime<Utc>;

    /// Monotonic time since an arbitrary start: it never steps with the
    /// wall clock. By default the process's monotonic clock.
    fn monotonic(&self) -> Duration {
        static START: OnceLock<Instant> = OnceLock::new();
        START.get_or_init(Instant::now).elapsed()
    }
}

/// The system clock.
#[derive(Clone, Copy, Debug, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }
}
