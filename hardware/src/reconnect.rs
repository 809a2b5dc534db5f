//! The reconnecting reader loop shared by device readers (serial, HID): open the
//! device, pump it until it fails, back off exponentially, reopen, until told to stop.
//!
//! A device reader implements [`Device`] (how to open and how to read one connection);
//! [`run`] owns the loop, the [`Backoff`] policy, status updates and logging, and
//! [`Link`] carries what every connection needs: the channel, the stop flag, the status.

use std::error::Error;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use tokio::sync::mpsc::Sender;
use tracing::{debug, info, warn};

use crate::device::{DeviceState, SharedStatus, error_chain};
use crate::framing::{FramedText, Framer};
use crate::scan::Scan;

/// First pause before reopening a device that failed.
pub(crate) const INITIAL_BACKOFF: Duration = Duration::from_millis(100);
/// Longest a pause between reopen attempts sleeps before rechecking the
/// stop flag.
pub(crate) const STOP_POLL: Duration = Duration::from_millis(100);
/// Longest a reader blocks waiting for input before rechecking its stop
/// flag: an idle till's scanner threads wake once a second (each wake-up
/// is most of an idle agent's CPU), and stop within a second.
pub(crate) const IDLE_WAIT: Duration = Duration::from_secs(1);
/// A connection that lasted this long resets the backoff.
const STABLE_AFTER: Duration = Duration::from_secs(1);

/// Exponential backoff between reopen attempts: 100 ms doubling up to a maximum
/// (never below 100 ms).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Backoff {
    current: Duration,
    max: Duration,
}

impl Backoff {
    /// A policy doubling from [`INITIAL_BACKOFF`] up to `max_ms` milliseconds.
    pub(crate) fn new(max_ms: u64) -> Self {
        Self {
            current: INITIAL_BACKOFF,
            max: Duration::from_millis(max_ms).max(INITIAL_BACKOFF),
        }
    }

    /// The pause to take now; the next one is twice as long, up to the maximum.
    pub(crate) fn next_pause(&mut self) -> Duration {
        let pause = self.current;
        self.current = (self.current * 2).min(self.max);
        pause
    }

    /// Start over from [`INITIAL_BACKOFF`], after a connection that was stable.
    pub(crate) fn reset(&mut self) {
        self.current = INITIAL_BACKOFF;
    }
}

/// Why a connection ended.
pub(crate) enum Ended<E> {
    /// Stop requested or receiver dropped: the reader is done.
    Finished,
    /// The device failed: reopen later.
    Failed(E),
}

/// One kind of device, as seen by [`run`].
pub(crate) trait Device {
    /// An open connection.
    type Port;
    /// Why opening or reading failed.
    type Error: Error + 'static;

    /// Open (and configure) the device.
    fn open(&mut self) -> Result<Self::Port, Self::Error>;

    /// Read from an open connection until it fails or `link` says stop.
    fn pump(&mut self, port: Self::Port, link: &Link) -> Ended<Self::Error>;

    /// Forget per-connection state (partial codes, held keys) after a connection ended.
    fn reset(&mut self);
}

/// What a reader thread shares with its owner: where scans go, when to stop, status.
pub(crate) struct Link {
    name: String,
    tx: Sender<Scan>,
    stop: Arc<AtomicBool>,
    status: SharedStatus,
}

impl Link {
    pub(crate) fn new(
        name: String,
        tx: Sender<Scan>,
        stop: Arc<AtomicBool>,
        status: SharedStatus,
    ) -> Self {
        Self {
            name,
            tx,
            stop,
            status,
        }
    }

    /// Whether a stop was requested or the receiver is gone.
    pub(crate) fn should_stop(&self) -> bool {
        self.stop.load(Ordering::Relaxed) || self.tx.is_closed()
    }

    /// Sleep for `duration`, waking every [`STOP_POLL`] to honour a stop; false if stopped.
    pub(crate) fn pause(&self, duration: Duration) -> bool {
        let until = Instant::now() + duration;
        loop {
            if self.should_stop() {
                return false;
            }
            let left = until.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return true;
            }
            thread::sleep(left.min(STOP_POLL));
        }
    }

    /// How long to block waiting for input at `now`: until `framer`'s inter-character
    /// deadline, at most [`IDLE_WAIT`], at least 1 ms (never a busy loop).
    pub(crate) fn wait_time(framer: &Framer, now: Instant) -> Duration {
        framer
            .next_deadline()
            .map_or(IDLE_WAIT, |deadline| {
                deadline.saturating_duration_since(now)
            })
            .clamp(Duration::from_millis(1), IDLE_WAIT)
    }

    /// Send framed codes as scans and publish `framer`'s drop count; false if the
    /// receiver is gone. A full channel blocks.
    pub(crate) fn deliver_all(
        &self,
        framer: &Framer,
        framed: impl IntoIterator<Item = FramedText>,
    ) -> bool {
        self.status.set_dropped(framer.rejected());
        for FramedText { symbology, text } in framed {
            let scan = Scan::now(self.name.clone(), symbology, text);
            // Counted before it is handed on, so whoever receives it sees
            // it counted.
            self.status.scanned(scan.at);
            if self.tx.blocking_send(scan).is_err() {
                debug!("scan receiver dropped; stopping");
                return false;
            }
        }
        true
    }
}

/// Open, pump and reopen `device` with `backoff` until `link` says stop; ends in
/// [`DeviceState::Stopped`].
///
/// The first failure of an outage is logged as a warning, later attempts at debug level.
/// A connection that lasted [`STABLE_AFTER`] resets the backoff.
pub(crate) fn run<D: Device>(device: &mut D, link: &Link, mut backoff: Backoff) {
    let mut warned = false;
    while !link.should_stop() {
        link.status.set_state(DeviceState::Connecting);
        match device.open() {
            Ok(port) => {
                info!("scanner connected");
                link.status.set_state(DeviceState::Connected);
                let connected_at = Instant::now();
                let ended = device.pump(port, link);
                device.reset();
                let Ended::Failed(err) = ended else {
                    break;
                };
                warn!(error = %error_chain(&err), "scanner disconnected; reopening with backoff");
                warned = true;
                link.status.failed(&err);
                if connected_at.elapsed() >= STABLE_AFTER {
                    backoff.reset();
                }
            }
            Err(err) => {
                let error = error_chain(&err);
                if warned {
                    debug!(%error, "scanner still unavailable");
                } else {
                    warn!(%error, "scanner unavailable; retrying with backoff");
                    warned = true;
                }
                link.status.failed(&err);
            }
        }
        let pause = backoff.next_pause();
        debug!(retry_in = ?pause, "reopening later");
        if !link.pause(pause) {
            break;
        }
    }
    link.status.set_state(DeviceState::Stopped);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn backoff_doubles_up_to_the_maximum_and_resets() {
        let mut backoff = Backoff::new(1_000);
        let pauses: Vec<_> = (0..6).map(|_| backoff.next_pause()).collect();
        assert_eq!(
            pauses,
            [ms(100), ms(200), ms(400), ms(800), ms(1_000), ms(1_000)]
        );
        backoff.reset();
        assert_eq!(backoff.next_pause(), ms(100));
    }

    #[test]
    fn backoff_never_goes_below_the_initial_pause() {
        let mut backoff = Backoff::new(0);
        assert_eq!(backoff.next_pause(), ms(100));
        assert_eq!(backoff.next_pause(), ms(100));
    }

    /// A device that fails to open `failures` times, then connects and ends at once.
    struct Flaky {
        failures: u32,
        opened: u32,
    }

    impl Device for Flaky {
        type Port = ();
        type Error = std::io::Error;

        fn open(&mut self) -> Result<(), std::io::Error> {
            if self.failures > 0 {
                self.failures -= 1;
                return Err(std::io::Error::other("not there"));
            }
            self.opened += 1;
            Ok(())
        }

        fn pump(&mut self, (): (), _link: &Link) -> Ended<std::io::Error> {
            Ended::Finished
        }

        fn reset(&mut self) {}
    }

    #[test]
    fn run_retries_until_open_and_ends_stopped() {
        let (tx, _rx) = tokio::sync::mpsc::channel(1);
        let status = SharedStatus::new("test".into());
        let link = Link::new("test".into(), tx, Arc::default(), status.clone());
        let mut device = Flaky {
            failures: 2,
            opened: 0,
        };
        let started = Instant::now();
        run(&mut device, &link, Backoff::new(100));
        assert_eq!(device.opened, 1);
        let snapshot = status.snapshot();
        assert_eq!(snapshot.state, DeviceState::Stopped);
        assert_eq!(snapshot.errors, 2);
        assert!(started.elapsed() >= ms(200), "backed off between attempts");
    }
}
