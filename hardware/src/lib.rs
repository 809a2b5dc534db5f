//! Scanner input for the till: serial/USB-CDC barcode scanners, stdin and QR images,
//! framed into clean [`Scan`]s.
//!
//! This crate knows nothing of loyalty: it yields `Scan { source, symbology, text, at }`
//! and nothing more. Reader threads hand scans to async code through a
//! `tokio::sync::mpsc` channel.
//!
//! # Layout
//!
//! - `scan.rs`: [`Scan`], the single output type.
//! - `framing.rs`: [`Framer`], the sans-IO byte-stream framer ([`FramingConfig`], [`Suffix`]).
//! - `device.rs`: [`ScannerHandle`], [`DeviceState`] and [`DeviceStatus`] shared by readers.
//! - `serial.rs`: [`spawn_serial`], a reconnecting reader thread per serial device.
//! - `stdin.rs`: [`spawn_stdin`], one scan per line of standard input.
//! - `image_qr.rs`: [`decode_qr_image`] and [`decode_qr_file`].
//! - `ports.rs`: [`list_serial_ports`], serial port discovery with USB identities.

mod device;
mod framing;
mod image_qr;
mod ports;
mod scan;
mod serial;
mod stdin;

pub use device::{DeviceState, DeviceStatus, ScannerHandle};
pub use framing::{FramedText, Framer, FramingConfig, Suffix};
pub use image_qr::{QR_SYMBOLOGY, QrError, decode_qr_file, decode_qr_image};
pub use ports::{PortInfo, list_serial_ports};
pub use scan::Scan;
pub use serial::{SerialConfig, SerialError, spawn_serial};
pub use stdin::{STDIN_SOURCE, spawn_stdin};
