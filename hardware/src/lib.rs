//! Scanner input for the till: serial/USB-CDC barcode scanners, USB HID keyboard-wedge
//! scanners, stdin and QR images, framed into clean [`Scan`]s.
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
//! - `reconnect.rs`: the open → read → back off → reopen loop shared by device readers.
//! - `serial.rs`: [`spawn_serial`], a reconnecting reader thread per serial device
//!   ([`spawn_serial_with_tap`] also shows the raw bytes).
//! - `keymap.rs`: [`KeyboardLayout`], what each Linux key code types per layout.
//! - `hid.rs`: [`HidDecoder`], sans-IO keystrokes to text, and [`spawn_hid`], a
//!   reconnecting evdev reader thread per keyboard-wedge scanner.
//! - `stdin.rs`: [`spawn_stdin`], one scan per line of standard input.
//! - `image_qr.rs`: [`decode_qr_image`] and [`decode_qr_file`]; `qr_rxing.rs` reads
//!   codes with rxing, `qr_grid.rs` re-reads codes rqrr located but could not decode.
//! - `bench_frames.rs`: [`qr_benchmark_set`] and [`qr_hard_set`], generated phone-screen
//!   camera frames for tests and the perf harness.
//! - `ports.rs`: [`list_serial_ports`], serial port discovery with USB identities.

mod bench_frames;
mod device;
mod framing;
mod hid;
mod image_qr;
mod keymap;
mod ports;
mod qr_grid;
mod qr_rxing;
mod reconnect;
mod scan;
mod serial;
mod stdin;

pub use bench_frames::{
    Corner, HardCondition, HardFrame, IMAGER_SIZES, PhoneFrame, QrEcc, qr_benchmark_set,
    qr_benchmark_styles, qr_hard_set, qr_hard_styles, render_phone_frame,
};
pub use device::{DeviceState, DeviceStatus, ScannerHandle};
pub use framing::{FramedText, Framer, FramingConfig, Suffix};
pub use hid::{HidConfig, HidDecoder, HidError, list_hid_keyboards, spawn_hid};
pub use image_qr::{QR_FRAME_BUDGET, QR_SYMBOLOGY, QrError, decode_qr_file, decode_qr_image};
pub use keymap::KeyboardLayout;
pub use ports::{PortInfo, list_serial_ports};
pub use scan::Scan;
pub use serial::{RawBytesTap, SerialConfig, SerialError, spawn_serial, spawn_serial_with_tap};
pub use stdin::{STDIN_SOURCE, spawn_stdin};
