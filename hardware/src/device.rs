//! Reader threads' shared state: [`DeviceState`], [`DeviceStatus`] and [`ScannerHandle`].

use std::error::Error;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::thread::{self, JoinHandle};

use chrono::{DateTime, Utc};
use serde::Serialize;
use tracing::{error, warn};

/// Connection state of one input device.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum DeviceState {
    /// Opening the device.
    Connecting,
    /// Open and reading.
    Connected,
    /// Not readable; serial and HID readers keep retrying with backoff.
    Disconnected {
        /// Why, including the underlying causes.
        error: String,
    },
    /// The reader has finished: stop requested, receiver dropped or end of input.
    Stopped,
}

/// A snapshot of one device for status pages and health checks.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct DeviceStatus {
    /// The source name stamped on its scans, e.g. `serial:/dev/ttyACM0`.
    pub name: String,
    /// Connection state (serialised inline as `state` and, when disconnected, `error`).
    #[serde(flatten)]
    pub state: DeviceState,
    /// Scans delivered.
    pub scans: u64,
    /// Open and read failures.
    pub errors: u64,
    /// Lines dropped by framing (too short, too long, not UTF-8).
    pub dropped: u64,
    /// When the last scan was delivered.
    pub last_scan_at: Option<DateTime<Utc>>,
}

/// Status shared between a reader thread and its [`ScannerHandle`].
#[derive(Clone, Debug)]
pub(crate) struct SharedStatus(Arc<Mutex<DeviceStatus>>);

impl SharedStatus {
    pub(crate) fn new(name: String) -> Self {
        Self(Arc::new(Mutex::new(DeviceStatus {
            name,
            state: DeviceState::Connecting,
            scans: 0,
            errors: 0,
            dropped: 0,
            last_scan_at: None,
        })))
    }

    fn lock(&self) -> MutexGuard<'_, DeviceStatus> {
        // The status is plain data, valid even if a holder panicked.
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }

    pub(crate) fn snapshot(&self) -> DeviceStatus {
        self.lock().clone()
    }

    pub(crate) fn set_state(&self, state: DeviceState) {
        self.lock().state = state;
    }

    /// Record a failure: count it and move to [`DeviceState::Disconnected`].
    pub(crate) fn failed(&self, error: &(dyn Error + 'static)) {
        let mut status = self.lock();
        status.errors += 1;
        status.state = DeviceState::Disconnected {
            error: error_chain(error),
        };
    }

    pub(crate) fn scanned(&self, at: DateTime<Utc>) {
        let mut status = self.lock();
        status.scans += 1;
        status.last_scan_at = Some(at);
    }

    pub(crate) fn set_dropped(&self, dropped: u64) {
        self.lock().dropped = dropped;
    }
}

/// `error: cause: cause…`, for a one-line status.
pub(crate) fn error_chain(error: &(dyn Error + 'static)) -> String {
    let mut text = error.to_string();
    let mut cause = error.source();
    while let Some(err) = cause {
        text.push_str(": ");
        text.push_str(&err.to_string());
        cause = err.source();
    }
    text
}

/// A running reader thread. Dropping it detaches the thread; stop it with its stop flag
/// (serial, HID) or by dropping the receiver, then [`join`](Self::join).
#[derive(Debug)]
pub struct ScannerHandle {
    status: SharedStatus,
    thread: Option<JoinHandle<()>>,
}

impl ScannerHandle {
    /// Run `body` on a new OS thread named `thread_name`, reporting through `status`.
    /// If no thread can be spawned, the handle is finished and its state says why.
    pub(crate) fn spawn(
        thread_name: &str,
        status: SharedStatus,
        body: impl FnOnce() + Send + 'static,
    ) -> Self {
        match thread::Builder::new().name(thread_name.into()).spawn(body) {
            Ok(thread) => Self {
                status,
                thread: Some(thread),
            },
            Err(err) => {
                warn!(error = %err, thread_name, "cannot spawn scanner reader thread");
                status.failed(&err);
                Self {
                    status,
                    thread: None,
                }
            }
        }
    }

    /// The source name stamped on this reader's scans.
    pub fn name(&self) -> String {
        self.status.lock().name.clone()
    }

    /// Current connection state.
    pub fn state(&self) -> DeviceState {
        self.status.lock().state.clone()
    }

    /// Current state with counters.
    pub fn status(&self) -> DeviceStatus {
        self.status.snapshot()
    }

    /// Whether the reader thread has exited.
    pub fn is_finished(&self) -> bool {
        self.thread.as_ref().is_none_or(JoinHandle::is_finished)
    }

    /// Wait for the reader thread to exit.
    pub fn join(mut self) {
        if let Some(thread) = self.thread.take()
            && thread.join().is_err()
        {
            error!(source = %self.name(), "scanner reader thread panicked");
            self.status.set_state(DeviceState::Disconnected {
                error: "reader thread panicked".into(),
            });
        }
    }
}
