//! Serial and USB-CDC scanners: one blocking reader thread per device, reconnecting
//! with exponential backoff.

use std::io::{self, Read};
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::Instant;

use serde::{Deserialize, Serialize};
use serialport::{DataBits, FlowControl, Parity, SerialPort, StopBits, TTYPort};
use tokio::sync::mpsc::Sender;
use tracing::{debug, error, info_span};

use crate::device::{ScannerHandle, SharedStatus};
use crate::framing::{Framer, FramingConfig};
use crate::reconnect::{self, Backoff, Device, Ended, IDLE_WAIT, Link};
use crate::scan::Scan;

/// Settings of one serial scanner. Framing settings are flattened into the same table.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize, Serialize)]
#[serde(default)]
pub struct SerialConfig {
    /// Device path, e.g. `/dev/ttyACM0` or a stable `/dev/serial/by-id/…` link.
    pub path: String,
    /// Baud rate (ignored by USB-CDC devices).
    pub baud: u32,
    /// Data bits: 5 to 8.
    pub data_bits: u8,
    /// `none`, `odd` or `even`.
    pub parity: String,
    /// Stop bits: 1 or 2.
    pub stop_bits: u8,
    /// `none`, `software` (XON/XOFF) or `hardware` (RTS/CTS).
    pub flow_control: String,
    /// How the byte stream is cut into codes.
    #[serde(flatten)]
    pub framing: FramingConfig,
    /// Longest pause between reopen attempts, in milliseconds.
    pub reopen_backoff_max_ms: u64,
}

impl Default for SerialConfig {
    fn default() -> Self {
        Self {
            path: String::new(),
            baud: 9600,
            data_bits: 8,
            parity: "none".into(),
            stop_bits: 1,
            flow_control: "none".into(),
            framing: FramingConfig::default(),
            reopen_backoff_max_ms: 5000,
        }
    }
}

impl SerialConfig {
    /// Check the settings without touching the device.
    ///
    /// # Errors
    ///
    /// [`SerialError::InvalidSetting`] for an empty path, a zero baud rate or an
    /// unknown data bits, parity, stop bits or flow control value.
    pub fn validate(&self) -> Result<(), SerialError> {
        LineSettings::parse(self).map(drop)
    }

    /// The source name stamped on scans from this device: `serial:<path>`.
    pub fn source_name(&self) -> String {
        format!("serial:{}", self.path)
    }
}

/// Why a serial device could not be read.
#[derive(Debug, thiserror::Error)]
pub enum SerialError {
    /// A setting has a value the port cannot take.
    #[error("invalid serial setting {setting} = {value:?}")]
    InvalidSetting {
        /// Name of the setting.
        setting: &'static str,
        /// The rejected value.
        value: String,
    },
    /// The device could not be opened or configured.
    #[error("cannot open {path}")]
    Open {
        /// Device path.
        path: String,
        /// What the OS said.
        source: serialport::Error,
    },
    /// Reading failed, typically because the device was unplugged.
    #[error("read from {path} failed")]
    Read {
        /// Device path.
        path: String,
        /// What the OS said.
        source: io::Error,
    },
    /// The device reported end of file (hang-up).
    #[error("{path} hung up")]
    HungUp {
        /// Device path.
        path: String,
    },
}

/// Parsed line settings.
#[derive(Clone, Copy, Debug)]
struct LineSettings {
    data_bits: DataBits,
    parity: Parity,
    stop_bits: StopBits,
    flow_control: FlowControl,
}

impl LineSettings {
    fn parse(cfg: &SerialConfig) -> Result<Self, SerialError> {
        fn invalid(setting: &'static str, value: impl ToString) -> SerialError {
            SerialError::InvalidSetting {
                setting,
                value: value.to_string(),
            }
        }
        if cfg.path.is_empty() {
            return Err(invalid("path", ""));
        }
        if cfg.baud == 0 {
            return Err(invalid("baud", cfg.baud));
        }
        let data_bits = match cfg.data_bits {
            5 => DataBits::Five,
            6 => DataBits::Six,
            7 => DataBits::Seven,
            8 => DataBits::Eight,
            other => return Err(invalid("data_bits", other)),
        };
        let parity = match cfg.parity.to_ascii_lowercase().as_str() {
            "none" => Parity::None,
            "odd" => Parity::Odd,
            "even" => Parity::Even,
            _ => return Err(invalid("parity", &cfg.parity)),
        };
        let stop_bits = match cfg.stop_bits {
            1 => StopBits::One,
            2 => StopBits::Two,
            other => return Err(invalid("stop_bits", other)),
        };
        let flow_control = match cfg.flow_control.to_ascii_lowercase().as_str() {
            "none" => FlowControl::None,
            "software" => FlowControl::Software,
            "hardware" => FlowControl::Hardware,
            _ => return Err(invalid("flow_control", &cfg.flow_control)),
        };
        Ok(Self {
            data_bits,
            parity,
            stop_bits,
            flow_control,
        })
    }
}

/// Spawn a reader for a serial device on a dedicated OS thread.
///
/// Each code read is sent to `tx` as a [`Scan`] named [`SerialConfig::source_name`]. When
/// the device is missing, unplugged or fails, the reader closes it and reopens it with
/// exponential backoff (100 ms doubling up to `reopen_backoff_max_ms`). It stops, within
/// about a second, once `stop` is set or the receiver is dropped; a full channel blocks it.
/// Invalid settings end the reader at once in
/// [`DeviceState::Disconnected`](crate::DeviceState::Disconnected); check them
/// beforehand with [`SerialConfig::validate`].
pub fn spawn_serial(cfg: SerialConfig, tx: Sender<Scan>, stop: Arc<AtomicBool>) -> ScannerHandle {
    spawn_reader(cfg, tx, stop, None)
}

/// Sees every chunk of bytes a serial reader receives, before framing.
pub type RawBytesTap = Box<dyn FnMut(&[u8]) + Send>;

/// [`spawn_serial`], also handing every chunk of bytes read to `tap` before it is
/// framed, on the reader thread: for diagnostics such as `pos-agent scan-test`.
pub fn spawn_serial_with_tap(
    cfg: SerialConfig,
    tx: Sender<Scan>,
    stop: Arc<AtomicBool>,
    tap: RawBytesTap,
) -> ScannerHandle {
    spawn_reader(cfg, tx, stop, Some(tap))
}

fn spawn_reader(
    cfg: SerialConfig,
    tx: Sender<Scan>,
    stop: Arc<AtomicBool>,
    tap: Option<RawBytesTap>,
) -> ScannerHandle {
    let status = SharedStatus::new(cfg.source_name());
    let reader_status = status.clone();
    ScannerHandle::spawn("scanner-serial", status, move || {
        run(cfg, tx, stop, reader_status, tap);
    })
}

fn run(
    cfg: SerialConfig,
    tx: Sender<Scan>,
    stop: Arc<AtomicBool>,
    status: SharedStatus,
    tap: Option<RawBytesTap>,
) {
    let name = cfg.source_name();
    let _span = info_span!("scanner", source = %name).entered();
    match LineSettings::parse(&cfg) {
        Ok(settings) => {
            let backoff = Backoff::new(cfg.reopen_backoff_max_ms);
            let framer = Framer::new(cfg.framing.clone());
            let link = Link::new(name, tx, stop, status);
            let mut port = SerialDevice {
                cfg,
                settings,
                framer,
                tap,
            };
            reconnect::run(&mut port, &link, backoff);
        }
        Err(err) => {
            error!(error = %err, "serial reader not started");
            status.failed(&err);
        }
    }
}

/// One configured serial port, opened and read by [`reconnect::run`].
struct SerialDevice {
    cfg: SerialConfig,
    settings: LineSettings,
    framer: Framer,
    tap: Option<RawBytesTap>,
}

impl Device for SerialDevice {
    type Port = TTYPort;
    type Error = SerialError;

    fn open(&mut self) -> Result<TTYPort, SerialError> {
        let builder = serialport::new(&self.cfg.path, self.cfg.baud)
            .data_bits(self.settings.data_bits)
            .parity(self.settings.parity)
            .stop_bits(self.settings.stop_bits)
            .flow_control(self.settings.flow_control)
            .timeout(IDLE_WAIT);
        let opened = match builder.clone().exclusive(true).open_native() {
            // A driver that rejects TIOCEXCL or flock fails with `Unknown`: read it shared.
            // A port held exclusively by someone else fails with `NoDevice` instead, and
            // is not opened behind its owner's back.
            Err(err) if err.kind() == serialport::ErrorKind::Unknown => {
                debug!(error = %err, "exclusive open failed; opening shared");
                builder.exclusive(false).open_native()
            }
            other => other,
        };
        opened.map_err(|source| self.open_error(source))
    }

    /// Read and frame until the device fails or the reader should stop.
    fn pump(&mut self, mut port: TTYPort, link: &Link) -> Ended<SerialError> {
        let mut buf = [0u8; 512];
        loop {
            if link.should_stop() {
                return Ended::Finished;
            }
            let now = Instant::now();
            let timed_out = self.framer.poll_timeout(now);
            if !link.deliver_all(&self.framer, timed_out) {
                return Ended::Finished;
            }
            // Wake for the inter-character deadline, or at least every IDLE_WAIT.
            if let Err(source) = port.set_timeout(Link::wait_time(&self.framer, now)) {
                return Ended::Failed(self.open_error(source));
            }
            match port.read(&mut buf) {
                Ok(0) => {
                    return Ended::Failed(SerialError::HungUp {
                        path: self.cfg.path.clone(),
                    });
                }
                Ok(n) => {
                    if let Some(tap) = self.tap.as_mut() {
                        tap(&buf[..n]);
                    }
                    let framed = self.framer.push(&buf[..n], Instant::now());
                    if !link.deliver_all(&self.framer, framed) {
                        return Ended::Finished;
                    }
                }
                Err(err)
                    if matches!(
                        err.kind(),
                        io::ErrorKind::TimedOut | io::ErrorKind::Interrupted
                    ) => {}
                Err(source) => {
                    return Ended::Failed(SerialError::Read {
                        path: self.cfg.path.clone(),
                        source,
                    });
                }
            }
        }
    }

    fn reset(&mut self) {
        self.framer.clear();
    }
}

impl SerialDevice {
    fn open_error(&self, source: serialport::Error) -> SerialError {
        SerialError::Open {
            path: self.cfg.path.clone(),
            source,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::device::DeviceState;
    use std::thread;
    use std::time::Duration;

    #[test]
    fn defaults_and_flattened_framing_deserialize() {
        let cfg: SerialConfig = serde_json::from_str(
            r#"{"path": "/dev/ttyACM0", "suffix": "crlf", "prefix": "X", "debounce_ms": 300}"#,
        )
        .expect("valid config");
        assert_eq!(cfg.path, "/dev/ttyACM0");
        assert_eq!(cfg.baud, 9600);
        assert_eq!(cfg.reopen_backoff_max_ms, 5000);
        assert_eq!(cfg.framing.suffix, crate::Suffix::CrLf);
        assert_eq!(cfg.framing.prefix.as_deref(), Some("X"));
        assert_eq!(cfg.framing.debounce_ms, 300);
        assert_eq!(cfg.framing.inter_char_timeout_ms, 50);
        assert_eq!(cfg.framing.max_len, 4096);
        cfg.validate().expect("valid settings");
    }

    #[test]
    fn invalid_settings_are_reported() {
        let base = SerialConfig {
            path: "/dev/ttyACM0".into(),
            ..SerialConfig::default()
        };
        let cases = [
            SerialConfig {
                path: String::new(),
                ..base.clone()
            },
            SerialConfig {
                baud: 0,
                ..base.clone()
            },
            SerialConfig {
                data_bits: 9,
                ..base.clone()
            },
            SerialConfig {
                parity: "mark".into(),
                ..base.clone()
            },
            SerialConfig {
                stop_bits: 3,
                ..base.clone()
            },
            SerialConfig {
                flow_control: "rts".into(),
                ..base.clone()
            },
        ];
        for cfg in cases {
            assert!(
                matches!(cfg.validate(), Err(SerialError::InvalidSetting { .. })),
                "{cfg:?}"
            );
        }
        let upper = SerialConfig {
            parity: "Even".into(),
            flow_control: "HARDWARE".into(),
            ..base
        };
        upper.validate().expect("case-insensitive names");
    }

    #[test]
    fn invalid_settings_stop_the_reader_disconnected() {
        let (tx, _rx) = tokio::sync::mpsc::channel(1);
        let handle = spawn_serial(SerialConfig::default(), tx, Arc::default());
        let deadline = Instant::now() + Duration::from_secs(5);
        while !handle.is_finished() && Instant::now() < deadline {
            thread::sleep(Duration::from_millis(5));
        }
        assert!(handle.is_finished());
        let status = handle.status();
        assert_eq!(status.name, "serial:");
        assert!(
            matches!(&status.state, DeviceState::Disconnected { error } if error.contains("path")),
            "{status:?}"
        );
        handle.join();
    }
}
