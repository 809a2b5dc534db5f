//! Exponential backoff with full jitter: the n-th consecutive failure waits
//! a random time in `[0, min(max, initial × 2ⁿ)]`, so registers that lost
//! the server together do not come back in step.

use std::time::Duration;

use ring::rand::{SecureRandom, SystemRandom};

/// Retry delays for one sync loop.
#[derive(Debug)]
pub struct Backoff {
    initial: Duration,
    max: Duration,
    failures: u32,
}

impl Backoff {
    /// Starts with no failures.
    #[must_use]
    pub fn new(initial: Duration, max: Duration) -> Self {
        Self {
            initial,
            max: max.max(initial),
            failures: 0,
        }
    }

    /// Forgets the failures after a success.
    pub fn reset(&mut self) {
        self.failures = 0;
    }

    /// The longest delay, for failures a retry will not fix soon.
    #[must_use]
    pub fn max(&self) -> Duration {
        self.max
    }

    /// Counts a failure and returns the ceiling of its delay.
    pub fn next_ceiling(&mut self) -> Duration {
        let factor = 2u32.saturating_pow(self.failures);
        self.failures = self.failures.saturating_add(1);
        self.initial.saturating_mul(factor).min(self.max)
    }

    /// Counts a failure and returns a delay drawn from `[0, ceiling]`.
    pub fn next_delay(&mut self) -> Duration {
        full_jitter(self.next_ceiling())
    }
}

/// A uniformly random duration in `[0, ceiling]`.
fn full_jitter(ceiling: Duration) -> Duration {
    let mut bytes = [0u8; 8];
    // Without randomness, waiting the full ceiling is still correct.
    if SystemRandom::new().fill(&mut bytes).is_err() {
        return ceiling;
    }
    let nanos = u64::try_from(ceiling.as_nanos()).unwrap_or(u64::MAX);
    Duration::from_nanos(u64::from_le_bytes(bytes) % nanos.saturating_add(1))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn ceilings_double_up_to_the_max_and_reset() {
        let mut b = Backoff::new(ms(200), ms(1000));
        let ceilings: Vec<_> = (0..5).map(|_| b.next_ceiling()).collect();
        assert_eq!(ceilings, [ms(200), ms(400), ms(800), ms(1000), ms(1000)]);
        b.reset();
        assert_eq!(b.next_ceiling(), ms(200));
        assert_eq!(b.max(), ms(1000));
    }

    #[test]
    fn many_failures_never_overflow() {
        let mut b = Backoff::new(ms(200), ms(30_000));
        for _ in 0..200 {
            assert!(b.next_delay() <= ms(30_000));
        }
    }

    #[test]
    fn jitter_stays_within_the_ceiling() {
        for _ in 0..100 {
            assert!(full_jitter(ms(50)) <= ms(50));
        }
        assert_eq!(full_jitter(Duration::ZERO), Duration::ZERO);
    }
}
