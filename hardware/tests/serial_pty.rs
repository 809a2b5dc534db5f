//! End-to-end tests of `spawn_serial` over real pseudo-terminal pairs: the test writes
//! to the master side, the reader opens the slave by path.

use std::io::Write;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::thread;
use std::time::{Duration, Instant};

use hardware::{
    DeviceState, FramingConfig, Scan, ScannerHandle, SerialConfig, Suffix, spawn_serial,
    spawn_serial_with_tap,
};
use nix::sys::resource::{UsageWho, getrusage};
use serialport::{SerialPort, TTYPort};
use tokio::sync::mpsc::{self, Receiver};

/// How long any single expectation may take before the test fails.
const PATIENCE: Duration = Duration::from_secs(3);

/// Tests run one at a time so the CPU measurement sees only its own reader.
static SERIALISED: Mutex<()> = Mutex::new(());

fn serialised() -> MutexGuard<'static, ()> {
    SERIALISED.lock().unwrap_or_else(PoisonError::into_inner)
}

/// A pty pair whose slave is closed: only the reader under test opens it, by path.
struct Pty {
    master: TTYPort,
    slave_path: String,
}

impl Pty {
    fn new() -> Self {
        let (mut master, slave) = TTYPort::pair().expect("open pty pair");
        let slave_path = slave.name().expect("pty slave has a path");
        drop(slave);
        master.set_timeout(PATIENCE).expect("set master timeout");
        Self { master, slave_path }
    }

    fn write(&mut self, bytes: &[u8]) {
        self.master.write_all(bytes).expect("write to pty master");
    }
}

/// A running reader with its channel and a runtime to wait on it.
struct Reader {
    runtime: tokio::runtime::Runtime,
    rx: Receiver<Scan>,
    stop: Arc<AtomicBool>,
    handle: Option<ScannerHandle>,
}

impl Reader {
    fn start(cfg: SerialConfig) -> Self {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .expect("runtime");
        let (tx, rx) = mpsc::channel(64);
        let stop = Arc::new(AtomicBool::new(false));
        let handle = spawn_serial(cfg, tx, Arc::clone(&stop));
        Self {
            runtime,
            rx,
            stop,
            handle: Some(handle),
        }
    }

    fn handle(&self) -> &ScannerHandle {
        self.handle.as_ref().expect("reader running")
    }

    fn recv(&mut self, within: Duration) -> Option<Scan> {
        let rx = &mut self.rx;
        self.runtime
            .block_on(async { tokio::time::timeout(within, rx.recv()).await })
            .ok()
            .flatten()
    }

    /// The next `n` scans' texts, failing the test if they take too long.
    fn texts(&mut self, n: usize) -> Vec<String> {
        (0..n)
            .map(|i| match self.recv(PATIENCE) {
                Some(scan) => scan.text,
                None => panic!("scan {i} of {n} did not arrive"),
            })
            .collect()
    }

    fn assert_quiet(&mut self, for_: Duration) {
        if let Some(scan) = self.recv(for_) {
            panic!("unexpected scan {scan:?}");
        }
    }

    fn wait_for(&self, what: &str, done: impl Fn(&DeviceState) -> bool) {
        let deadline = Instant::now() + PATIENCE;
        loop {
            let state = self.handle().state();
            if done(&state) {
                return;
            }
            assert!(Instant::now() < deadline, "not {what} in time: {state:?}");
            thread::sleep(Duration::from_millis(5));
        }
    }

    fn wait_connected(&self) {
        self.wait_for("connected", |s| *s == DeviceState::Connected);
    }

    fn wait_disconnected(&self) {
        self.wait_for("disconnected", |s| {
            matches!(s, DeviceState::Disconnected { .. })
        });
    }
}

impl Drop for Reader {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(handle) = self.handle.take() {
            handle.join();
        }
    }
}

fn config(path: &str) -> SerialConfig {
    SerialConfig {
        path: path.to_owned(),
        baud: 115_200,
        // Generous so scheduler hiccups on a busy machine cannot split a code.
        framing: FramingConfig {
            inter_char_timeout_ms: 1_000,
            ..FramingConfig::default()
        },
        reopen_backoff_max_ms: 400,
        ..SerialConfig::default()
    }
}

/// Open a pty and a reader on it, waiting until the reader is connected.
fn connected(cfg: impl FnOnce(SerialConfig) -> SerialConfig) -> (Pty, Reader) {
    let pty = Pty::new();
    let reader = Reader::start(cfg(config(&pty.slave_path)));
    reader.wait_connected();
    (pty, reader)
}

fn cpu_time() -> Duration {
    let usage = getrusage(UsageWho::RUSAGE_SELF).expect("getrusage");
    [usage.user_time(), usage.system_time()]
        .iter()
        .map(|t| {
            Duration::from_micros(u64::try_from(t.tv_sec() * 1_000_000 + t.tv_usec()).unwrap_or(0))
        })
        .sum()
}

#[test]
fn slow_typing_byte_by_byte() {
    let _serial = serialised();
    let (mut pty, mut reader) = connected(|c| c);
    for byte in b"]Q1LOYALTY-123\r" {
        pty.write(&[*byte]);
        thread::sleep(Duration::from_millis(5));
    }
    let scan = reader.recv(PATIENCE).expect("scan");
    assert_eq!(scan.source, format!("serial:{}", pty.slave_path));
    assert_eq!(scan.symbology.as_deref(), Some("]Q1"));
    assert_eq!(scan.text, "LOYALTY-123");
    let status = reader.handle().status();
    assert_eq!((status.scans, status.errors), (1, 0));
    assert!(status.last_scan_at.is_some());
}

#[test]
fn code_split_across_writes() {
    let _serial = serialised();
    let (mut pty, mut reader) = connected(|c| c);
    pty.write(b"40012");
    thread::sleep(Duration::from_millis(30));
    pty.write(b"34567\r\n");
    assert_eq!(reader.texts(1), ["4001234567"]);
    reader.assert_quiet(Duration::from_millis(100));
}

#[test]
fn burst_of_codes_in_one_write() {
    let _serial = serialised();
    let (mut pty, mut reader) = connected(|c| c);
    pty.write(b"A1\rB2\r\nC3\tD4\r");
    assert_eq!(reader.texts(4), ["A1", "B2", "C3", "D4"]);
    reader.assert_quiet(Duration::from_millis(100));
}

#[test]
fn garbage_is_dropped_and_reading_continues() {
    let _serial = serialised();
    let (mut pty, mut reader) = connected(|c| c);
    pty.write(b"\x00\xff\xfe\x1b[2J\x07\x80\r");
    pty.write(b"GOOD\r");
    assert_eq!(reader.texts(1), ["GOOD"]);
    reader.assert_quiet(Duration::from_millis(100));
    assert_eq!(reader.handle().status().dropped, 1);
}

#[test]
fn very_long_line_is_dropped_then_next_code_read() {
    let _serial = serialised();
    let (mut pty, mut reader) = connected(|c| c);
    pty.write(&vec![b'X'; 20_000]);
    pty.write(b"\rNEXT\r");
    assert_eq!(reader.texts(1), ["NEXT"]);
    reader.assert_quiet(Duration::from_millis(100));
}

#[test]
fn missing_suffix_is_flushed_after_inter_char_timeout() {
    let _serial = serialised();
    let (mut pty, mut reader) = connected(|mut c| {
        c.framing = FramingConfig {
            suffix: Suffix::Cr,
            inter_char_timeout_ms: 50,
            ..FramingConfig::default()
        };
        c
    });
    let sent = Instant::now();
    pty.write(b"NOSUFFIX");
    assert_eq!(reader.texts(1), ["NOSUFFIX"]);
    assert!(sent.elapsed() >= Duration::from_millis(50));
}

#[test]
fn stops_on_flag_and_on_dropped_receiver() {
    let _serial = serialised();
    let (_pty, reader) = connected(|c| c);
    reader.stop.store(true, Ordering::Relaxed);
    reader.wait_for("stopped", |s| *s == DeviceState::Stopped);

    let (_pty, mut reader) = connected(|c| c);
    let (_, closed) = mpsc::channel(1);
    reader.rx = closed; // drops the receiver the reader sends to
    reader.wait_for("stopped", |s| *s == DeviceState::Stopped);
}

#[test]
fn device_missing_at_startup_is_picked_up_when_it_appears() {
    let _serial = serialised();
    let dir = tempfile::tempdir().expect("tempdir");
    let link = dir.path().join("scanner");
    let mut reader = Reader::start(config(&link.to_string_lossy()));
    reader.wait_disconnected();

    let mut pty = Pty::new();
    point(&link, &pty.slave_path);
    reader.wait_connected();
    pty.write(b"HELLO\r");
    assert_eq!(reader.texts(1), ["HELLO"]);
}

#[test]
fn unplug_backs_off_without_spinning_and_reconnects_under_the_same_name() {
    let _serial = serialised();
    let dir = tempfile::tempdir().expect("tempdir");
    let link = dir.path().join("scanner");
    let mut pty = Pty::new();
    point(&link, &pty.slave_path);
    let mut reader = Reader::start(config(&link.to_string_lossy()));
    reader.wait_connected();
    pty.write(b"BEFORE\r");
    let before = reader.recv(PATIENCE).expect("scan before unplug");
    assert_eq!(before.text, "BEFORE");

    // Unplug: closing the master hangs up the slave and removes its node.
    let (wall, cpu) = (Instant::now(), cpu_time());
    drop(pty);
    reader.wait_disconnected();
    thread::sleep(Duration::from_millis(1_200).saturating_sub(wall.elapsed()));
    let (wall, cpu) = (wall.elapsed(), cpu_time().saturating_sub(cpu));
    assert!(
        cpu.as_secs_f64() < 0.3 * wall.as_secs_f64(),
        "reader used {cpu:?} of CPU in {wall:?} of outage"
    );
    // One read error, then reopen attempts ~100, 300, 700 and 1100 ms in: a loop
    // without backoff would have failed dozens of times.
    let errors = reader.handle().status().errors;
    assert!((2..=8).contains(&errors), "{errors} failures in {wall:?}");

    // Replug as a new device behind the same configured path.
    let mut pty = Pty::new();
    point(&link, &pty.slave_path);
    reader.wait_connected();
    pty.write(b"AFTER\r");
    let after = reader.recv(PATIENCE).expect("scan after replug");
    assert_eq!(after.text, "AFTER");
    assert_eq!(after.source, before.source);
    assert_eq!(after.source, format!("serial:{}", link.display()));
    assert_eq!(reader.handle().status().scans, 2);
}

#[test]
fn the_tap_sees_raw_bytes_before_framing() {
    let _serial = serialised();
    let mut pty = Pty::new();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let tap = {
        let seen = Arc::clone(&seen);
        Box::new(move |bytes: &[u8]| seen.lock().expect("tap lock").extend_from_slice(bytes))
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .expect("runtime");
    let (tx, mut rx) = mpsc::channel(8);
    let stop = Arc::new(AtomicBool::new(false));
    let handle = spawn_serial_with_tap(config(&pty.slave_path), tx, Arc::clone(&stop), tap);
    let deadline = Instant::now() + PATIENCE;
    while handle.state() != DeviceState::Connected && Instant::now() < deadline {
        thread::sleep(Duration::from_millis(5));
    }
    pty.write(b"]E0\x07AB\r");
    let scan = runtime
        .block_on(async { tokio::time::timeout(PATIENCE, rx.recv()).await })
        .expect("a scan in time")
        .expect("a scan");
    assert_eq!(
        (scan.symbology.as_deref(), scan.text.as_str()),
        (Some("]E0"), "AB")
    );
    assert_eq!(*seen.lock().expect("tap lock"), b"]E0\x07AB\r");
    stop.store(true, Ordering::Relaxed);
    handle.join();
}

/// Atomically (re)point the symlink `link` at `target`.
fn point(link: &Path, target: &str) {
    let tmp = link.with_extension("new");
    std::os::unix::fs::symlink(target, &tmp).expect("symlink");
    std::fs::rename(&tmp, link).expect("rename symlink");
}
