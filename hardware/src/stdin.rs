//! Standard input as a scanner (manual entry, scripted tests): one line per scan.

use std::io::{self, Read};
use std::time::Instant;

use tokio::sync::mpsc::Sender;
use tracing::{debug, info, info_span, warn};

use crate::device::{DeviceState, ScannerHandle, SharedStatus};
use crate::framing::{FramedText, Framer, FramingConfig, Suffix};
use crate::scan::Scan;

/// Source name of scans read from stdin.
pub const STDIN_SOURCE: &str = "stdin";

/// Read scans from stdin, one per line, on a dedicated OS thread.
///
/// `framing` applies with its suffix forced to [`Suffix::Lf`] (a CR before it is
/// dropped) and no inter-character timeout: a line ends at its newline, or at end of
/// input. The reader ends, in [`DeviceState::Stopped`], at end of input or when it
/// next finds the receiver dropped; a blocked stdin read cannot be interrupted, so
/// [`ScannerHandle::join`] waits for input or end of input.
pub fn spawn_stdin(framing: FramingConfig, tx: Sender<Scan>) -> ScannerHandle {
    spawn_reader(STDIN_SOURCE, io::stdin(), framing, tx)
}

/// Spawn a line reader over any blocking byte source.
fn spawn_reader<R>(name: &str, input: R, framing: FramingConfig, tx: Sender<Scan>) -> ScannerHandle
where
    R: Read + Send + 'static,
{
    let status = SharedStatus::new(name.to_owned());
    let reader_status = status.clone();
    let name = name.to_owned();
    ScannerHandle::spawn("scanner-stdin", status, move || {
        read_lines(&name, input, framing, &tx, &reader_status);
    })
}

fn read_lines<R: Read>(
    name: &str,
    mut input: R,
    framing: FramingConfig,
    tx: &Sender<Scan>,
    status: &SharedStatus,
) {
    let _span = info_span!("scanner", source = %name).entered();
    let mut framer = Framer::new(FramingConfig {
        suffix: Suffix::Lf,
        inter_char_timeout_ms: 0,
        ..framing
    });
    let deliver = |FramedText { symbology, text }| {
        let scan = Scan::now(name, symbology, text);
        // Counted before it is handed on, so whoever receives it sees it
        // counted.
        status.scanned(scan.at);
        tx.blocking_send(scan).is_ok()
    };
    status.set_state(DeviceState::Connected);
    let mut buf = [0u8; 4096];
    loop {
        if tx.is_closed() {
            debug!("scan receiver dropped; stopping");
            break;
        }
        match input.read(&mut buf) {
            Ok(0) => {
                info!("end of input");
                let last = framer.flush(Instant::now());
                status.set_dropped(framer.rejected());
                if let Some(code) = last {
                    deliver(code);
                }
                break;
            }
            Ok(n) => {
                let codes = framer.push(&buf[..n], Instant::now());
                status.set_dropped(framer.rejected());
                if !codes.into_iter().all(deliver) {
                    debug!("scan receiver dropped; stopping");
                    break;
                }
            }
            Err(err) if err.kind() == io::ErrorKind::Interrupted => {}
            Err(err) => {
                warn!(error = %err, "cannot read input");
                status.failed(&err);
                return;
            }
        }
    }
    status.set_state(DeviceState::Stopped);
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::thread;

    #[test]
    fn lines_become_scans_and_eof_flushes_the_last_one() {
        let input = io::Cursor::new(b"]Q1token\r\n\nabc\n\xff\ntail".to_vec());
        let (tx, mut rx) = tokio::sync::mpsc::channel(8);
        let handle = spawn_reader("test", input, FramingConfig::default(), tx);
        handle.join();
        let mut got = Vec::new();
        while let Ok(scan) = rx.try_recv() {
            assert_eq!(scan.source, "test");
            got.push((scan.symbology, scan.text));
        }
        assert_eq!(
            got,
            [
                (Some("]Q1".to_owned()), "token".to_owned()),
                (None, "abc".to_owned()),
                (None, "tail".to_owned()),
            ]
        );
    }

    #[test]
    fn reports_status_and_stops_when_receiver_is_dropped() {
        let input = io::Cursor::new(b"one\ntwo\n".to_vec());
        let (tx, rx) = tokio::sync::mpsc::channel(8);
        drop(rx);
        let handle = spawn_reader("test", input, FramingConfig::default(), tx);
        let deadline = Instant::now() + std::time::Duration::from_secs(5);
        while !handle.is_finished() && Instant::now() < deadline {
            thread::sleep(std::time::Duration::from_millis(1));
        }
        let status = handle.status();
        handle.join();
        assert_eq!(status.state, DeviceState::Stopped);
        assert_eq!(status.scans, 0);
    }
}
