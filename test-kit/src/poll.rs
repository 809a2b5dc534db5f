//! Waiting on another task or process: a condition polled until it holds
//! or a deadline passes, never a bare sleep. A test says what it waits for
//! and for how long at most; the kit decides how often to look.
//!
//! Two forms: [`until`] polls a closure; [`Deadline`] serves a loop that
//! reads something, returns when it is right, and otherwise calls
//! [`Deadline::tick`] with what it saw (the error when time is up).
//! Both run on tokio's clock, so a test on paused time polls on paused
//! time too.

use std::future::Future;
use std::time::Duration;

use tokio::time::Instant;

/// How often a condition is polled unless a caller says otherwise.
pub const INTERVAL: Duration = Duration::from_millis(50);

/// A point in time a wait must not pass.
#[derive(Clone, Copy, Debug)]
pub struct Deadline {
    at: Instant,
    within: Duration,
    every: Duration,
}

impl Deadline {
    /// `within` from now, polled every [`INTERVAL`].
    #[must_use]
    pub fn after(within: Duration) -> Self {
        Deadline {
            at: Instant::now() + within,
            within,
            every: INTERVAL,
        }
    }

    /// Polled every `every` instead (for reads that cost the system under
    /// test something).
    #[must_use]
    pub fn every(self, every: Duration) -> Self {
        Deadline { every, ..self }
    }

    /// Whether the deadline has passed.
    #[must_use]
    pub fn passed(&self) -> bool {
        Instant::now() >= self.at
    }

    /// Fails with `why()` once the deadline has passed; otherwise waits
    /// one interval before the next look.
    pub async fn tick(&self, why: impl FnOnce() -> String) -> anyhow::Result<()> {
        if self.passed() {
            anyhow::bail!("{} (waited {:?})", why(), self.within);
        }
        tokio::time::sleep(self.every).await;
        Ok(())
    }

    /// [`Self::tick`] off the runtime (a synchronous test, a thread of
    /// its own): blocks the thread between looks.
    pub fn tick_blocking(&self, why: impl FnOnce() -> String) -> anyhow::Result<()> {
        if self.passed() {
            anyhow::bail!("{} (waited {:?})", why(), self.within);
        }
        std::thread::sleep(self.every);
        Ok(())
    }
}

/// Polls `probe` until it yields `Some`, or fails naming `what` once
/// `within` has passed. An error from `probe` ends the wait at once.
pub async fn until<T, F, Fut>(what: &str, within: Duration, mut probe: F) -> anyhow::Result<T>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = anyhow::Result<Option<T>>>,
{
    let deadline = Deadline::after(within);
    loop {
        if let Some(found) = probe().await? {
            return Ok(found);
        }
        deadline
            .tick(|| format!("timed out waiting for {what}"))
            .await?;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn polls_until_the_probe_answers_and_fails_past_the_deadline() {
        let mut n = 0;
        let found = until("the third look", Duration::from_secs(1), || {
            n += 1;
            let now = n;
            async move { Ok((now == 3).then_some(now)) }
        })
        .await
        .unwrap();
        assert_eq!(found, 3);

        let started = Instant::now();
        let err = until("nothing", Duration::from_secs(1), || async {
            Ok(None::<()>)
        })
        .await
        .unwrap_err();
        assert!(
            err.to_string().contains("timed out waiting for nothing"),
            "{err}"
        );
        assert!(started.elapsed() >= Duration::from_secs(1));

        let err = until("a failing probe", Duration::from_secs(1), || async {
            anyhow::bail!("broken");
            #[allow(unreachable_code)]
            Ok(None::<()>)
        })
        .await
        .unwrap_err();
        assert_eq!(err.to_string(), "broken");
    }

    #[tokio::test(start_paused = true)]
    async fn a_deadline_names_what_was_last_seen() {
        let deadline = Deadline::after(Duration::from_millis(120)).every(Duration::from_millis(50));
        let mut looks = 0;
        let err = loop {
            looks += 1;
            if let Err(e) = deadline.tick(|| format!("still {looks}")).await {
                break e;
            }
        };
        assert_eq!(looks, 4, "at 0, 50, 100 and 150 ms");
        assert!(err.to_string().starts_with("still 4"), "{err}");
    }
}
