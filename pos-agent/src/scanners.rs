//! The register's barcode scanners: a reader per source (serial or USB-CDC,
//! USB HID keyboard wedge, standard input, or a channel from the embedding
//! program), all feeding the scan handler; and their states for
//! `GET /v1/scanners`.
//!
//! Serial and HID readers run on their own threads (see `hardware`), reopen
//! an unplugged device with backoff under its configured (stable) path, and
//! stop within about a second of [`Scanners::stop`].

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use hardware::{
    DeviceState, DeviceStatus, FramingConfig, HidConfig, Scan, ScannerHandle, SerialConfig,
};
use shared::wire::till::{ScannerState, ScannerView};
use tokio::sync::mpsc;
use tokio::task::JoinSet;

use crate::agent::{Agent, Stop};
use crate::config::AgentConfig;
use crate::scan;

/// Scans buffered between the reader threads and the scan handler.
const SCAN_BUFFER: usize = 64;

/// Where scans come from.
#[derive(Debug)]
pub enum ScannerSource {
    /// A serial or USB-CDC scanner.
    Serial(SerialConfig),
    /// A USB HID keyboard-wedge scanner, read through evdev and grabbed.
    Hid(HidConfig),
    /// Standard input, one code per line (manual entry, scripted tests).
    Stdin,
    /// Scans sent by the embedding program (tests, demos).
    Channel(mpsc::Receiver<Scan>),
}

impl ScannerSource {
    /// The serial and HID scanners configured in `config`.
    #[must_use]
    pub fn configured(config: &AgentConfig) -> Vec<ScannerSource> {
        let serial = config.scanners.iter().cloned().map(ScannerSource::Serial);
        let hid = config.hid_scanners.iter().cloned().map(ScannerSource::Hid);
        serial.chain(hid).collect()
    }
}

/// The running readers.
pub(crate) struct Scanners {
    readers: Mutex<Vec<ScannerHandle>>,
    stop_flag: Arc<AtomicBool>,
}

impl Scanners {
    /// Starts a reader per source, and (if there is any source) the task
    /// that handles their scans until `stop`.
    pub(crate) fn start(
        sources: Vec<ScannerSource>,
        agent: &Arc<Agent>,
        stop: &Stop,
        tasks: &mut JoinSet<()>,
    ) -> Self {
        let stop_flag = Arc::new(AtomicBool::new(false));
        let mut readers = Vec::new();
        if !sources.is_empty() {
            let (tx, rx) = mpsc::channel(SCAN_BUFFER);
            for source in sources {
                let flag = Arc::clone(&stop_flag);
                match source {
                    ScannerSource::Serial(cfg) => {
                        readers.push(hardware::spawn_serial(cfg, tx.clone(), flag));
                    }
                    ScannerSource::Hid(cfg) => {
                        readers.push(hardware::spawn_hid(cfg, tx.clone(), flag));
                    }
                    ScannerSource::Stdin => {
                        readers.push(hardware::spawn_stdin(FramingConfig::default(), tx.clone()));
                    }
                    ScannerSource::Channel(scans) => {
                        tasks.spawn(forward(scans, tx.clone(), stop.clone()));
                    }
                }
            }
            tasks.spawn(scan::consume(Arc::clone(agent), rx, stop.clone()));
        }
        Self {
            readers: Mutex::new(readers),
            stop_flag,
        }
    }

    /// Each reader's state, in configuration order.
    pub(crate) fn views(&self) -> Vec<ScannerView> {
        self.lock()
            .iter()
            .map(|reader| view(reader.status()))
            .collect()
    }

    /// Asks the serial and HID readers to stop.
    pub(crate) fn stop(&self) {
        self.stop_flag.store(true, Ordering::Relaxed);
    }

    /// Waits for the serial and HID readers to notice [`Self::stop`]. A
    /// stdin reader blocked in a read cannot be interrupted; it is left to
    /// end with the process.
    pub(crate) async fn join(&self) {
        let joinable: Vec<ScannerHandle> = std::mem::take(&mut *self.lock())
            .into_iter()
            .filter(|reader| reader.name() != hardware::STDIN_SOURCE)
            .collect();
        let joined = tokio::task::spawn_blocking(move || {
            joinable.into_iter().for_each(ScannerHandle::join);
        });
        if let Err(err) = joined.await {
            tracing::warn!(error = %err, "a scanner reader did not stop cleanly");
        }
    }

    fn lock(&self) -> MutexGuard<'_, Vec<ScannerHandle>> {
        // Plain handles: usable even if a holder panicked.
        self.readers.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Passes scans from the embedding program to the handler until `stop`.
async fn forward(mut scans: mpsc::Receiver<Scan>, tx: mpsc::Sender<Scan>, stop: Stop) {
    let relay = async {
        while let Some(scan) = scans.recv().await {
            if tx.send(scan).await.is_err() {
                return;
            }
        }
    };
    tokio::select! {
        () = relay => {}
        () = stop.requested() => {}
    }
}

/// A reader's status as the till API shows it.
fn view(status: DeviceStatus) -> ScannerView {
    let (state, error) = match status.state {
        DeviceState::Connecting => (ScannerState::Connecting, None),
        DeviceState::Connected => (ScannerState::Connected, None),
        DeviceState::Disconnected { error } => (ScannerState::Disconnected, Some(error)),
        DeviceState::Stopped => (ScannerState::Stopped, None),
    };
    ScannerView {
        name: status.name,
        state,
        error,
        scans: status.scans,
        errors: status.errors,
        dropped: status.dropped,
        last_scan_at: status.last_scan_at,
    }
}
