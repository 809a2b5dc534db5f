//! USB HID keyboard-wedge scanners on Linux, read through evdev.
//!
//! A wedge scanner types each code as keystrokes. [`HidDecoder`] is the sans-IO part: it
//! turns key events (kernel `KEY_*` codes, i.e. physical keys) back into characters
//! using the layout the scanner emulates ([`KeyboardLayout`]), whatever the desktop's
//! layout. The characters go through the shared [`Framer`], so suffix, AIM identifier,
//! burst and timeout handling are the same as for serial scanners.
//!
//! [`spawn_hid`] reads one device node (prefer `/dev/input/by-id/…-event-kbd`) on its
//! own thread. It grabs the device (`EVIOCGRAB`) so that scans never reach the desktop
//! as typing, and reopens it with backoff when it is unplugged.

use std::fs::{self, OpenOptions};
use std::io;
use std::os::fd::{AsFd, BorrowedFd};
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::{Duration, Instant};

use evdev::raw_stream::RawDevice;
use evdev::{EventType, KeyCode, SynchronizationCode};
use nix::errno::Errno;
use nix::fcntl::OFlag;
use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
use serde::{Deserialize, Serialize};
use tokio::sync::mpsc::Sender;
use tracing::{debug, error, info_span, warn};

use crate::device::{ScannerHandle, SharedStatus};
use crate::framing::{FramedText, Framer, FramingConfig};
use crate::keymap::{
    KEY_CAPSLOCK, KEY_LEFTALT, KEY_LEFTCTRL, KEY_LEFTSHIFT, KEY_RIGHTALT, KEY_RIGHTCTRL,
    KEY_RIGHTSHIFT, Key, KeyboardLayout, Sym, compose, keypad_digit,
};
use crate::reconnect::{self, Backoff, Device, Ended, Link};
use crate::scan::Scan;

/// Where udev links keyboards by stable identity.
const BY_ID: &str = "/dev/input/by-id";

/// Key event values, as in the kernel's input protocol.
const KEY_UP: i32 = 0;
const KEY_DOWN: i32 = 1;

/// Settings of one HID keyboard-wedge scanner. Framing settings are flattened into the
/// same table.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize, Serialize)]
#[serde(default)]
pub struct HidConfig {
    /// evdev node, preferably a stable `/dev/input/by-id/…-event-kbd` link.
    pub path: String,
    /// The keyboard layout the scanner is programmed to emulate.
    pub layout: KeyboardLayout,
    /// How the typed text is cut into codes (Enter types `\r`, Tab `\t`).
    #[serde(flatten)]
    pub framing: FramingConfig,
    /// Longest pause between reopen attempts, in milliseconds.
    pub reopen_backoff_max_ms: u64,
}

impl Default for HidConfig {
    fn default() -> Self {
        Self {
            path: String::new(),
            layout: KeyboardLayout::Us,
            framing: FramingConfig::default(),
            reopen_backoff_max_ms: 5000,
        }
    }
}

impl HidConfig {
    /// Check the settings without touching the device.
    ///
    /// # Errors
    ///
    /// [`HidError::InvalidSetting`] for an empty path.
    pub fn validate(&self) -> Result<(), HidError> {
        if self.path.is_empty() {
            return Err(HidError::InvalidSetting {
                setting: "path",
                value: String::new(),
            });
        }
        Ok(())
    }

    /// The source name stamped on scans from this device: `hid:<path>`.
    pub fn source_name(&self) -> String {
        format!("hid:{}", self.path)
    }
}

/// Why a HID device could not be read.
#[derive(Debug, thiserror::Error)]
pub enum HidError {
    /// A setting has a value the reader cannot take.
    #[error("invalid HID setting {setting} = {value:?}")]
    InvalidSetting {
        /// Name of the setting.
        setting: &'static str,
        /// The rejected value.
        value: String,
    },
    /// The device could not be opened, or is not an evdev device.
    #[error("cannot open {path}")]
    Open {
        /// Device path.
        path: String,
        /// What the OS said.
        source: io::Error,
    },
    /// The device could not be grabbed, typically because another program holds it.
    #[error("cannot grab {path} for exclusive use")]
    Grab {
        /// Device path.
        path: String,
        /// What the OS said.
        source: io::Error,
    },
    /// Reading failed, typically because the device was unplugged (`ENODEV`).
    #[error("read from {path} failed")]
    Read {
        /// Device path.
        path: String,
        /// What the OS said.
        source: io::Error,
    },
    /// The device reported a hang-up.
    #[error("{path} hung up")]
    HungUp {
        /// Device path.
        path: String,
    },
}

/// Modifier keys currently held.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct Held {
    left_shift: bool,
    right_shift: bool,
    left_ctrl: bool,
    right_ctrl: bool,
    left_alt: bool,
    /// Right Alt in layouts without AltGr.
    right_alt: bool,
    altgr: bool,
}

impl Held {
    fn shift(self) -> bool {
        self.left_shift || self.right_shift
    }

    fn ctrl(self) -> bool {
        self.left_ctrl || self.right_ctrl
    }

    fn alt(self) -> bool {
        self.left_alt || self.right_alt
    }
}

/// Pure, sans-IO decoder of keyboard-wedge keystrokes: key events in, characters out.
///
/// Feed it every `EV_KEY` event of one device, in order, with [`key`](Self::key). It
/// tracks, per device:
///
/// - Left and Right Shift, Ctrl and Alt (Right Alt is AltGr in layouts that have it);
/// - CapsLock, toggled on each press, which inverts Shift for letters only, so
///   CapsLock + Shift types lower case;
/// - Alt codes: with Alt held, keypad digits accumulate a decimal number typed when the
///   last Alt is released (Alt + `0029` types GS, `\x1D`, the GS1 separator). Values up
///   to 255 type that code point of ISO 8859-1 (ASCII below 128), larger ones that
///   Unicode scalar value; others type nothing. Other keys pressed with Alt are
///   shortcuts and type nothing;
/// - Ctrl + a letter or one of `@[\]^_` types the ASCII control character (Ctrl+`]` is
///   GS), as scanners in "control + ASCII" mode send them; other Ctrl chords type
///   nothing;
/// - dead keys (`^`, `´`, `` ` ``, `¨`, `~` in German and French layouts), composed with
///   the next character, or typed alone before a space.
///
/// Enter and keypad Enter type `\r`, Tab `\t`. Keypad digits and operators type the
/// same whatever the NumLock state, since the device's LED state is the desktop's
/// business. Key repeats (value 2) are ignored: a scanner does not hold keys, so a
/// repeat is an artefact of a slow host. Key releases type nothing, and keys that type
/// no text (function keys, arrows, Escape, …) are ignored.
#[derive(Clone, Debug)]
pub struct HidDecoder {
    layout: KeyboardLayout,
    held: Held,
    caps_lock: bool,
    /// Digits typed on the keypad while Alt is held, as a number.
    alt_code: Option<u32>,
    /// A dead key waiting for the character it modifies.
    dead: Option<char>,
}

impl Default for HidDecoder {
    fn default() -> Self {
        Self::new(KeyboardLayout::default())
    }
}

impl HidDecoder {
    /// A decoder for a scanner emulating `layout`, with no key held and CapsLock off.
    pub fn new(layout: KeyboardLayout) -> Self {
        Self {
            layout,
            held: Held::default(),
            caps_lock: false,
            alt_code: None,
            dead: None,
        }
    }

    /// The layout keystrokes are decoded with.
    pub fn layout(&self) -> KeyboardLayout {
        self.layout
    }

    /// Whether CapsLock is on, as far as this device's keystrokes tell.
    pub fn caps_lock(&self) -> bool {
        self.caps_lock
    }

    /// Decode one key event: `code` is a kernel `KEY_*` code, `value` 0 for release,
    /// 1 for press, 2 for repeat. Typed characters are appended to `out`.
    pub fn key(&mut self, code: u16, value: i32, out: &mut String) {
        let pressed = match value {
            KEY_UP => false,
            KEY_DOWN => true,
            _ => return,
        };
        if self.modifier(code, pressed) {
            if !self.held.alt()
                && let Some(value) = self.alt_code.take()
            {
                self.alt_code_done(value, out);
            }
            return;
        }
        if !pressed {
            return;
        }
        if self.held.alt() {
            if let Some(digit) = keypad_digit(code) {
                let so_far = self.alt_code.unwrap_or(0);
                self.alt_code = Some(so_far.saturating_mul(10).saturating_add(digit));
            }
            return;
        }
        if let Some(digit) = keypad_digit(code) {
            if !self.held.ctrl()
                && let Some(c) = char::from_digit(digit, 10)
            {
                self.emit(c, out);
            }
            return;
        }
        let Some(key) = self.layout.key(code) else {
            return;
        };
        if self.held.ctrl() {
            if let Some(c) = control_char(key, self.held.shift()) {
                self.emit(c, out);
            }
            return;
        }
        let sym = if self.held.altgr {
            key.altgr
        } else if self.held.shift() ^ (self.caps_lock && key.is_letter()) {
            key.shift
        } else {
            key.base
        };
        match sym {
            Sym::Char(c) => self.emit(c, out),
            Sym::Dead(accent) => self.dead_key(accent, out),
            Sym::No => {}
        }
    }

    /// Decode a sequence of `(code, value)` key events into the text they type.
    pub fn decode(&mut self, events: impl IntoIterator<Item = (u16, i32)>) -> String {
        let mut out = String::new();
        for (code, value) in events {
            self.key(code, value, &mut out);
        }
        out
    }

    /// Forget everything: held keys, CapsLock, pending Alt code and dead key (e.g. when
    /// the device was unplugged).
    pub fn reset(&mut self) {
        *self = Self::new(self.layout);
    }

    /// Set held modifiers from the device's real key state (after the kernel dropped
    /// events) and drop any pending Alt code or dead key; CapsLock is kept.
    pub(crate) fn resync(&mut self, is_held: impl Fn(u16) -> bool) {
        let right_alt = is_held(KEY_RIGHTALT);
        self.held = Held {
            left_shift: is_held(KEY_LEFTSHIFT),
            right_shift: is_held(KEY_RIGHTSHIFT),
            left_ctrl: is_held(KEY_LEFTCTRL),
            right_ctrl: is_held(KEY_RIGHTCTRL),
            left_alt: is_held(KEY_LEFTALT),
            right_alt: right_alt && !self.layout.has_altgr(),
            altgr: right_alt && self.layout.has_altgr(),
        };
        self.alt_code = None;
        self.dead = None;
    }

    /// Track a modifier key; false if `code` is not one.
    fn modifier(&mut self, code: u16, pressed: bool) -> bool {
        let held = &mut self.held;
        match code {
            KEY_LEFTSHIFT => held.left_shift = pressed,
            KEY_RIGHTSHIFT => held.right_shift = pressed,
            KEY_LEFTCTRL => held.left_ctrl = pressed,
            KEY_RIGHTCTRL => held.right_ctrl = pressed,
            KEY_LEFTALT => held.left_alt = pressed,
            KEY_RIGHTALT if self.layout.has_altgr() => held.altgr = pressed,
            KEY_RIGHTALT => held.right_alt = pressed,
            KEY_CAPSLOCK => self.caps_lock ^= pressed,
            _ => return false,
        }
        true
    }

    fn alt_code_done(&mut self, value: u32, out: &mut String) {
        let typed = u8::try_from(value)
            .map(char::from)
            .ok()
            .or_else(|| char::from_u32(value));
        match typed {
            Some(c) => self.emit(c, out),
            None => debug!(value, "Alt code out of range; ignored"),
        }
    }

    fn emit(&mut self, c: char, out: &mut String) {
        match self.dead.take() {
            Some(accent) => match compose(accent, c) {
                Some(composed) => out.push(composed),
                None => {
                    out.push(accent);
                    out.push(c);
                }
            },
            None => out.push(c),
        }
    }

    fn dead_key(&mut self, accent: char, out: &mut String) {
        if let Some(pending) = self.dead.take() {
            out.push(pending);
            if pending == accent {
                // Pressed twice: the accent itself.
                return;
            }
        }
        self.dead = Some(accent);
    }
}

/// The ASCII control character Ctrl + `key` types, if any.
fn control_char(key: Key, shift: bool) -> Option<char> {
    let Sym::Char(c) = (if shift { key.shift } else { key.base }) else {
        return None;
    };
    let upper = u8::try_from(c.to_ascii_uppercase()).ok()?;
    (b'@'..=b'_')
        .contains(&upper)
        .then(|| char::from(upper & 0x1F))
}

/// Sans-IO glue between evdev events and scans: decoder, framer and the handling of
/// events the kernel dropped.
#[derive(Debug)]
struct KeyFramer {
    decoder: HidDecoder,
    framer: Framer,
    /// Skipping events after `SYN_DROPPED` until the next `SYN_REPORT`.
    dropping: bool,
    typed: String,
}

/// What the caller must do after an event.
#[derive(Debug, PartialEq, Eq)]
enum After {
    Nothing,
    /// Events were lost: read the device's key state and [`HidDecoder::resync`].
    Resync,
}

impl KeyFramer {
    fn new(layout: KeyboardLayout, framing: FramingConfig) -> Self {
        Self {
            decoder: HidDecoder::new(layout),
            framer: Framer::new(framing),
            dropping: false,
            typed: String::new(),
        }
    }

    /// Handle one input event received at `now`; completed codes go to `out`.
    fn event(
        &mut self,
        kind: EventType,
        code: u16,
        value: i32,
        now: Instant,
        out: &mut Vec<FramedText>,
    ) -> After {
        match kind {
            EventType::SYNCHRONIZATION if code == SynchronizationCode::SYN_DROPPED.0 => {
                // The kernel's buffer overflowed: keystrokes of the current code are
                // gone, so it must not pass for a whole one.
                warn!("input events dropped by the kernel; discarding the current code");
                self.dropping = true;
                self.framer.input_lost(now);
            }
            EventType::SYNCHRONIZATION
                if code == SynchronizationCode::SYN_REPORT.0 && self.dropping =>
            {
                self.dropping = false;
                return After::Resync;
            }
            EventType::KEY if !self.dropping => {
                self.typed.clear();
                self.decoder.key(code, value, &mut self.typed);
                if !self.typed.is_empty() {
                    out.extend(self.framer.push(self.typed.as_bytes(), now));
                } else if value == KEY_DOWN {
                    // Modifiers and Alt-code digits type nothing yet, but the code is
                    // still arriving.
                    out.extend(self.framer.touch(now));
                }
            }
            _ => {}
        }
        After::Nothing
    }

    fn reset(&mut self) {
        self.decoder.reset();
        self.framer.clear();
        self.dropping = false;
    }
}

/// Spawn a reader for a HID keyboard-wedge scanner on a dedicated OS thread.
///
/// The device at `cfg.path` is opened non-blocking and grabbed, so its keystrokes reach
/// no other program. Each code typed is sent to `tx` as a [`Scan`] named
/// [`HidConfig::source_name`]. When the device is missing, held by another program or
/// unplugged, the reader reopens it with exponential backoff (100 ms doubling up to
/// `reopen_backoff_max_ms`). It waits in `poll(2)` for input, the inter-character
/// deadline or at most a second, so it stops within about a second once `stop` is set or the
/// receiver is dropped; a full channel blocks it. An invalid configuration ends the
/// reader at once in [`DeviceState::Disconnected`](crate::DeviceState::Disconnected);
/// check it beforehand with [`HidConfig::validate`].
pub fn spawn_hid(cfg: HidConfig, tx: Sender<Scan>, stop: Arc<AtomicBool>) -> ScannerHandle {
    let status = SharedStatus::new(cfg.source_name());
    let reader_status = status.clone();
    ScannerHandle::spawn("scanner-hid", status, move || {
        run(cfg, tx, stop, reader_status);
    })
}

fn run(cfg: HidConfig, tx: Sender<Scan>, stop: Arc<AtomicBool>, status: SharedStatus) {
    let name = cfg.source_name();
    let _span = info_span!("scanner", source = %name).entered();
    if let Err(err) = cfg.validate() {
        error!(error = %err, "HID reader not started");
        status.failed(&err);
        return;
    }
    let backoff = Backoff::new(cfg.reopen_backoff_max_ms);
    let keys = KeyFramer::new(cfg.layout, cfg.framing.clone());
    let link = Link::new(name, tx, stop, status);
    reconnect::run(&mut HidDevice { cfg, keys }, &link, backoff);
}

/// One configured evdev node, opened and read by [`reconnect::run`].
struct HidDevice {
    cfg: HidConfig,
    keys: KeyFramer,
}

impl Device for HidDevice {
    type Port = RawDevice;
    type Error = HidError;

    fn open(&mut self) -> Result<RawDevice, HidError> {
        let open_error = |source| HidError::Open {
            path: self.cfg.path.clone(),
            source,
        };
        let file = OpenOptions::new()
            .read(true)
            .custom_flags(OFlag::O_NONBLOCK.bits())
            .open(&self.cfg.path)
            .map_err(open_error)?;
        let mut device = RawDevice::try_from(file).map_err(open_error)?;
        if !device
            .supported_keys()
            .is_some_and(|keys| keys.contains(KeyCode::KEY_ENTER))
        {
            warn!(
                name = device.name().unwrap_or_default(),
                "device has no Enter key: is this the scanner's keyboard interface?"
            );
        }
        device.grab().map_err(|source| HidError::Grab {
            path: self.cfg.path.clone(),
            source,
        })?;
        if let Ok(held) = device.get_key_state() {
            self.keys
                .decoder
                .resync(|code| held.contains(KeyCode(code)));
        }
        Ok(device)
    }

    /// Decode and frame until the device fails or the reader should stop.
    fn pump(&mut self, mut device: RawDevice, link: &Link) -> Ended<HidError> {
        let mut framed = Vec::new();
        loop {
            if link.should_stop() {
                return Ended::Finished;
            }
            let now = Instant::now();
            let timed_out = self.keys.framer.poll_timeout(now);
            if !link.deliver_all(&self.keys.framer, timed_out) {
                return Ended::Finished;
            }
            let wait = Link::wait_time(&self.keys.framer, now);
            let revents = match wait_readable(device.as_fd(), wait) {
                Ok(Some(revents)) => revents,
                Ok(None) => continue,
                Err(source) => return Ended::Failed(self.read_error(source)),
            };
            let mut resync = false;
            match device.fetch_events() {
                Ok(events) => {
                    let now = Instant::now();
                    for event in events {
                        let after = self.keys.event(
                            event.event_type(),
                            event.code(),
                            event.value(),
                            now,
                            &mut framed,
                        );
                        resync |= after == After::Resync;
                    }
                }
                Err(err) if err.kind() == io::ErrorKind::Interrupted => {}
                Err(err) if err.kind() == io::ErrorKind::WouldBlock => {
                    let gone = PollFlags::POLLERR | PollFlags::POLLHUP | PollFlags::POLLNVAL;
                    if revents.intersects(gone) {
                        return Ended::Failed(HidError::HungUp {
                            path: self.cfg.path.clone(),
                        });
                    }
                }
                Err(source) => return Ended::Failed(self.read_error(source)),
            }
            if resync {
                match device.get_key_state() {
                    Ok(held) => self
                        .keys
                        .decoder
                        .resync(|code| held.contains(KeyCode(code))),
                    Err(source) => return Ended::Failed(self.read_error(source)),
                }
            }
            if !link.deliver_all(&self.keys.framer, framed.drain(..)) {
                return Ended::Finished;
            }
        }
    }

    fn reset(&mut self) {
        self.keys.reset();
    }
}

impl HidDevice {
    fn read_error(&self, source: impl Into<io::Error>) -> HidError {
        HidError::Read {
            path: self.cfg.path.clone(),
            source: source.into(),
        }
    }
}

/// Wait up to `wait` for `fd` to be readable; `None` on timeout or signal, else the
/// returned events (which include `POLLERR`/`POLLHUP` once the device is gone).
fn wait_readable(fd: BorrowedFd<'_>, wait: Duration) -> Result<Option<PollFlags>, Errno> {
    let mut fds = [PollFd::new(fd, PollFlags::POLLIN)];
    let timeout = PollTimeout::try_from(wait).unwrap_or(PollTimeout::MAX);
    match poll(&mut fds, timeout) {
        Ok(0) | Err(Errno::EINTR) => Ok(None),
        Ok(_) => Ok(Some(fds[0].revents().unwrap_or_else(PollFlags::empty))),
        Err(errno) => Err(errno),
    }
}

/// Stable paths of the keyboard event nodes udev links under `/dev/input/by-id`
/// (`…-event-kbd`), sorted: candidates for [`HidConfig::path`] on a setup screen.
/// Never fails: an unreadable directory yields nothing.
pub fn list_hid_keyboards() -> Vec<String> {
    keyboards_in(Path::new(BY_ID))
}

fn keyboards_in(dir: &Path) -> Vec<String> {
    let Ok(entries) = fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut found: Vec<String> = entries
        .flatten()
        .map(|entry| entry.path())
        .filter(|path| {
            path.file_name()
                .is_some_and(|name| name.to_string_lossy().ends_with("-event-kbd"))
        })
        .map(|path| path.to_string_lossy().into_owned())
        .collect();
    found.sort();
    found
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keymap::*;

    const KEY_2: u16 = 3;
    const KEY_7: u16 = 8;
    const KEY_8: u16 = 9;
    const KEY_T: u16 = 20;
    const KEY_D: u16 = 32;
    const KEY_F: u16 = 33;
    const KEY_X: u16 = 45;
    const KEY_C: u16 = 46;
    const KEY_B: u16 = 48;
    const DOWN: i32 = 1;
    const UP: i32 = 0;
    const REPEAT: i32 = 2;
    const GS: char = '\u{1d}';

    /// Press and release each key.
    fn taps(codes: &[u16]) -> Vec<(u16, i32)> {
        codes.iter().flat_map(|&c| [(c, DOWN), (c, UP)]).collect()
    }

    /// Taps of `codes` with `modifier` held.
    fn with(modifier: u16, codes: &[u16]) -> Vec<(u16, i32)> {
        let mut events = vec![(modifier, DOWN)];
        events.extend(taps(codes));
        events.push((modifier, UP));
        events
    }

    /// Key events a US-layout scanner sends to type `text` (ASCII printable, `\r`,
    /// `\t`; GS as Alt + keypad 0029).
    fn us_typing(text: &str) -> Vec<(u16, i32)> {
        let mut events = Vec::new();
        for c in text.chars() {
            if c == GS {
                events.extend(with(KEY_LEFTALT, &[KEY_KP0, KEY_KP0, KEY_KP2, KEY_KP9]));
                continue;
            }
            let (code, shift) = us_key(c).unwrap_or_else(|| panic!("no US key types {c:?}"));
            if shift {
                events.extend(with(KEY_LEFTSHIFT, &[code]));
            } else {
                events.extend(taps(&[code]));
            }
        }
        events
    }

    fn us_key(c: char) -> Option<(u16, bool)> {
        (0..=255u16).find_map(|code| {
            let key = KeyboardLayout::Us.key(code)?;
            if key.base == Sym::Char(c) {
                Some((code, false))
            } else if key.shift == Sym::Char(c) {
                Some((code, true))
            } else {
                None
            }
        })
    }

    fn decode(layout: KeyboardLayout, events: &[(u16, i32)]) -> String {
        HidDecoder::new(layout).decode(events.iter().copied())
    }

    fn us(events: &[(u16, i32)]) -> String {
        decode(KeyboardLayout::Us, events)
    }

    #[test]
    fn plain_digits_from_the_top_row_and_the_keypad() {
        let top: Vec<u16> = (KEY_1..=KEY_0).collect();
        assert_eq!(us(&taps(&top)), "1234567890");
        let keypad = [KEY_KP4, KEY_KP0, KEY_KP1, KEY_KP2, KEY_KPDOT, KEY_KPMINUS];
        assert_eq!(us(&taps(&keypad)), "4012.-");
    }

    #[test]
    fn letters_with_left_and_right_shift() {
        let mut events = with(KEY_LEFTSHIFT, &[KEY_A]);
        events.extend(taps(&[KEY_B]));
        events.extend(with(KEY_RIGHTSHIFT, &[KEY_C, KEY_1]));
        assert_eq!(us(&events), "AbC!");
    }

    #[test]
    fn one_shift_released_while_the_other_is_held_keeps_shift() {
        let events = [
            (KEY_LEFTSHIFT, DOWN),
            (KEY_RIGHTSHIFT, DOWN),
            (KEY_LEFTSHIFT, UP),
            (KEY_A, DOWN),
            (KEY_A, UP),
            (KEY_RIGHTSHIFT, UP),
            (KEY_A, DOWN),
        ];
        assert_eq!(us(&events), "Aa");
    }

    #[test]
    fn caps_lock_toggles_letters_only_and_shift_inverts_it() {
        let mut events = taps(&[KEY_CAPSLOCK, KEY_A, KEY_1, KEY_SLASH]);
        events.extend(with(KEY_LEFTSHIFT, &[KEY_B, KEY_2]));
        events.extend(taps(&[KEY_CAPSLOCK, KEY_C]));
        assert_eq!(us(&events), "A1/b@c");
    }

    #[test]
    fn caps_lock_toggles_on_press_not_on_repeat_or_release() {
        let events = [
            (KEY_CAPSLOCK, DOWN),
            (KEY_CAPSLOCK, REPEAT),
            (KEY_CAPSLOCK, REPEAT),
            (KEY_CAPSLOCK, UP),
            (KEY_Q, DOWN),
        ];
        let mut decoder = HidDecoder::default();
        assert_eq!(decoder.decode(events), "Q");
        assert!(decoder.caps_lock());
    }

    #[test]
    fn alt_keypad_codes_type_that_character() {
        let gs = with(KEY_LEFTALT, &[KEY_KP0, KEY_KP0, KEY_KP2, KEY_KP9]);
        assert_eq!(us(&gs), GS.to_string());
        // Without the leading zeros, with Right Alt (no AltGr in the US layout).
        let a = with(KEY_RIGHTALT, &[KEY_KP6, KEY_KP5]);
        assert_eq!(us(&a), "A");
        // ISO 8859-1 above 127, Unicode above 255.
        let e_acute = with(KEY_LEFTALT, &[KEY_KP2, KEY_KP3, KEY_KP3]);
        let euro = with(KEY_LEFTALT, &[KEY_KP8, KEY_KP3, KEY_KP6, KEY_KP4]);
        assert_eq!(us(&[e_acute, euro].concat()), "é€");
        // Out of range, or Alt alone: nothing.
        let huge = with(KEY_LEFTALT, &[KEY_KP9; 12]);
        assert_eq!(us(&huge), "");
        assert_eq!(us(&with(KEY_LEFTALT, &[])), "");
        // Other keys with Alt are shortcuts.
        assert_eq!(us(&with(KEY_LEFTALT, &[KEY_F, KEY_1])), "");
    }

    #[test]
    fn alt_code_ends_when_the_last_alt_is_released() {
        let events = [
            (KEY_LEFTALT, DOWN),
            (KEY_KP2, DOWN),
            (KEY_RIGHTALT, DOWN),
            (KEY_LEFTALT, UP),
            (KEY_KP9, DOWN),
            (KEY_RIGHTALT, UP),
            (KEY_A, DOWN),
        ];
        assert_eq!(us(&events), format!("{GS}a"));
    }

    #[test]
    fn control_chords_type_ascii_controls() {
        let gs = with(KEY_LEFTCTRL, &[KEY_RIGHTBRACE]);
        let cr = with(KEY_RIGHTCTRL, &[KEY_M]);
        let ignored = with(KEY_LEFTCTRL, &[KEY_1, KEY_KP1, KEY_SLASH]);
        assert_eq!(us(&[gs, cr, ignored].concat()), "\u{1d}\r");
    }

    #[test]
    fn gs1_data_matrix_with_alt_gs_separator() {
        let text = format!("]d20104601234567893{GS}21ABC\r");
        assert_eq!(us(&us_typing(&text)), text);
    }

    #[test]
    fn repeats_and_unknown_keys_type_nothing() {
        let events = [
            (KEY_A, DOWN),
            (KEY_A, REPEAT),
            (KEY_A, REPEAT),
            (KEY_A, UP),
            (1, DOWN),   // Escape
            (14, DOWN),  // Backspace
            (59, DOWN),  // F1
            (103, DOWN), // Up arrow
            (125, DOWN), // Left Meta
            (0x2ff, DOWN),
            (u16::MAX, DOWN),
            (KEY_B, -1),
            (KEY_B, 7),
            (KEY_B, DOWN),
        ];
        assert_eq!(us(&events), "ab");
    }

    #[test]
    fn enter_and_tab() {
        assert_eq!(
            us(&taps(&[KEY_X, KEY_TAB, KEY_Y, KEY_ENTER, KEY_KPENTER])),
            "x\ty\r\r"
        );
    }

    #[test]
    fn german_layout_with_altgr_and_dead_keys() {
        let de = |events: &[(u16, i32)]| decode(KeyboardLayout::De, events);
        assert_eq!(de(&taps(&[KEY_Z, KEY_Y, KEY_SLASH, KEY_SEMICOLON])), "yz-ö");
        assert_eq!(
            de(&with(KEY_LEFTSHIFT, &[KEY_Y, KEY_7, KEY_SEMICOLON])),
            "Z/Ö"
        );
        assert_eq!(de(&with(KEY_RIGHTALT, &[KEY_Q, KEY_8, KEY_E])), "@[€");
        // Dead circumflex: alone before a space, composed with a vowel, twice for itself.
        assert_eq!(de(&taps(&[KEY_GRAVE, KEY_SPACE])), "^");
        assert_eq!(de(&taps(&[KEY_GRAVE, KEY_E])), "ê");
        assert_eq!(de(&taps(&[KEY_GRAVE, KEY_GRAVE])), "^");
        assert_eq!(de(&taps(&[KEY_GRAVE, KEY_1])), "^1");
        // CapsLock makes umlauts capital too; Right Alt is AltGr, not Alt.
        assert_eq!(de(&taps(&[KEY_CAPSLOCK, KEY_APOSTROPHE, KEY_MINUS])), "Äß");
        assert_eq!(de(&with(KEY_RIGHTALT, &[KEY_KP6, KEY_KP5])), "65");
        // Alt codes are layout independent.
        assert_eq!(de(&with(KEY_LEFTALT, &[KEY_KP2, KEY_KP9])), GS.to_string());
    }

    #[test]
    fn french_layout_digits_need_shift() {
        let fr = |events: &[(u16, i32)]| decode(KeyboardLayout::Fr, events);
        assert_eq!(fr(&taps(&[KEY_1, 3, KEY_0])), "&éà");
        assert_eq!(fr(&with(KEY_LEFTSHIFT, &[KEY_1, 3, KEY_0])), "120");
        assert_eq!(
            fr(&taps(&[KEY_Q, KEY_W, KEY_A, KEY_Z, KEY_SEMICOLON])),
            "azqwm"
        );
        assert_eq!(fr(&taps(&[KEY_CAPSLOCK, KEY_Q, 3])), "Aé");
        assert_eq!(fr(&with(KEY_RIGHTALT, &[KEY_0])), "@");
        assert_eq!(
            fr(&[taps(&[KEY_LEFTBRACE]), with(KEY_LEFTSHIFT, &[KEY_E])].concat()),
            "Ê"
        );
    }

    #[test]
    fn reset_forgets_held_keys_and_caps_lock() {
        let mut decoder = HidDecoder::new(KeyboardLayout::De);
        let _ = decoder.decode([
            (KEY_LEFTSHIFT, DOWN),
            (KEY_CAPSLOCK, DOWN),
            (KEY_GRAVE, DOWN),
        ]);
        decoder.reset();
        assert_eq!(decoder.layout(), KeyboardLayout::De);
        assert!(!decoder.caps_lock());
        assert_eq!(decoder.decode(taps(&[KEY_A])), "a");
    }

    fn key_events(keys: &mut KeyFramer, events: &[(u16, i32)], now: Instant) -> Vec<FramedText> {
        let mut out = Vec::new();
        for &(code, value) in events {
            assert_eq!(
                keys.event(EventType::KEY, code, value, now, &mut out),
                After::Nothing
            );
        }
        out
    }

    #[test]
    fn enter_ends_a_scan_through_the_framer() {
        let mut keys = KeyFramer::new(KeyboardLayout::Us, FramingConfig::default());
        let now = Instant::now();
        let text = format!("]d20104601234567893{GS}21ABC");
        assert!(key_events(&mut keys, &us_typing(&text), now).is_empty());
        let out = key_events(&mut keys, &taps(&[KEY_ENTER]), now);
        assert_eq!(
            out,
            [FramedText {
                symbology: Some("]d2".into()),
                text: format!("0104601234567893{GS}21ABC"),
            }]
        );
        // A burst: two codes and their Enters in one batch of events.
        let out = key_events(&mut keys, &us_typing("LT1AB\rLT1CD\r"), now);
        let texts: Vec<_> = out.into_iter().map(|f| f.text).collect();
        assert_eq!(texts, ["LT1AB", "LT1CD"]);
    }

    #[test]
    fn alt_code_keystrokes_keep_a_code_from_timing_out() {
        let mut keys = KeyFramer::new(KeyboardLayout::Us, FramingConfig::default());
        let t0 = Instant::now();
        let ms = Duration::from_millis;
        assert!(key_events(&mut keys, &us_typing("01"), t0).is_empty());
        // A slow Alt code: 40 ms per keystroke, longer than the 50 ms timeout in total.
        let mut at = t0;
        for event in with(KEY_LEFTALT, &[KEY_KP0, KEY_KP0, KEY_KP2, KEY_KP9]) {
            at += ms(20);
            assert_eq!(
                keys.framer.poll_timeout(at),
                None,
                "timed out at {:?}",
                at - t0
            );
            assert!(key_events(&mut keys, &[event], at).is_empty());
        }
        let out = key_events(&mut keys, &us_typing("21\r"), at + ms(20));
        assert_eq!(out[0].text, format!("01{GS}21"));
    }

    #[test]
    fn dropped_events_discard_the_current_code_and_resync_modifiers() {
        let mut keys = KeyFramer::new(KeyboardLayout::Us, FramingConfig::default());
        let now = Instant::now();
        let mut out = Vec::new();
        assert!(key_events(&mut keys, &us_typing("LT1AB"), now).is_empty());
        let syn = EventType::SYNCHRONIZATION;
        let dropped = SynchronizationCode::SYN_DROPPED.0;
        let report = SynchronizationCode::SYN_REPORT.0;
        assert_eq!(keys.event(syn, dropped, 0, now, &mut out), After::Nothing);
        // Events up to the next report are incomplete and skipped.
        assert_eq!(
            keys.event(EventType::KEY, KEY_C, DOWN, now, &mut out),
            After::Nothing
        );
        assert_eq!(keys.event(syn, report, 0, now, &mut out), After::Resync);
        keys.decoder.resync(|code| code == KEY_RIGHTSHIFT);
        // The rest of the damaged code is dropped at its Enter; the next one is whole.
        let mut rest = taps(&[KEY_D]);
        rest.push((KEY_RIGHTSHIFT, UP));
        rest.extend(us_typing("E\rLT1OK\r"));
        out.extend(key_events(&mut keys, &rest, now));
        let texts: Vec<_> = out.into_iter().map(|f| f.text).collect();
        assert_eq!(texts, ["LT1OK"]);
        assert_eq!(keys.framer.rejected(), 1);
    }

    #[test]
    fn config_defaults_and_flattened_framing_deserialize() {
        let cfg: HidConfig = serde_json::from_str(
            r#"{"path": "/dev/input/by-id/usb-Scanner-event-kbd", "layout": "de", "suffix": "cr"}"#,
        )
        .expect("valid config");
        assert_eq!(cfg.layout, KeyboardLayout::De);
        assert_eq!(cfg.framing.suffix, crate::Suffix::Cr);
        assert_eq!(cfg.framing.inter_char_timeout_ms, 50);
        assert_eq!(cfg.reopen_backoff_max_ms, 5000);
        assert_eq!(
            cfg.source_name(),
            "hid:/dev/input/by-id/usb-Scanner-event-kbd"
        );
        cfg.validate().expect("valid settings");
        let default: HidConfig = serde_json::from_str("{}").expect("all defaulted");
        assert_eq!(default.layout, KeyboardLayout::Us);
        assert!(matches!(
            default.validate(),
            Err(HidError::InvalidSetting {
                setting: "path",
                ..
            })
        ));
        assert!(serde_json::from_str::<HidConfig>(r#"{"layout": "uk"}"#).is_err());
    }

    #[test]
    fn invalid_config_stops_the_reader_disconnected() {
        let (tx, _rx) = tokio::sync::mpsc::channel(1);
        let handle = spawn_hid(HidConfig::default(), tx, Arc::default());
        let deadline = Instant::now() + Duration::from_secs(5);
        while !handle.is_finished() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(5));
        }
        let status = handle.status();
        assert_eq!(status.name, "hid:");
        assert!(
            matches!(&status.state, crate::DeviceState::Disconnected { error } if error.contains("path")),
            "{status:?}"
        );
        handle.join();
    }

    #[test]
    fn missing_device_is_retried_with_backoff_and_stops_on_flag() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("event-kbd");
        let (tx, _rx) = tokio::sync::mpsc::channel(1);
        let stop = Arc::new(AtomicBool::new(false));
        let cfg = HidConfig {
            path: path.to_string_lossy().into_owned(),
            ..HidConfig::default()
        };
        let handle = spawn_hid(cfg, tx, Arc::clone(&stop));
        std::thread::sleep(Duration::from_millis(350));
        let status = handle.status();
        assert!(
            matches!(&status.state, crate::DeviceState::Disconnected { error } if error.contains("cannot open")),
            "{status:?}"
        );
        // Attempts at about 0, 100 and 300 ms.
        assert!((2..=4).contains(&status.errors), "{status:?}");
        // A file that is not an input device fails to open the same way.
        fs::write(&path, b"not evdev").expect("write");
        let deadline = Instant::now() + Duration::from_secs(3);
        while handle.status().errors == status.errors {
            assert!(Instant::now() < deadline, "no reopen attempt");
            std::thread::sleep(Duration::from_millis(10));
        }
        assert!(
            matches!(&handle.state(), crate::DeviceState::Disconnected { error } if error.contains("cannot open")),
            "{:?}",
            handle.status()
        );
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
        let started = Instant::now();
        handle.join();
        assert!(started.elapsed() < Duration::from_secs(1));
    }

    #[test]
    fn keyboards_are_listed_from_by_id_links() {
        let dir = tempfile::tempdir().expect("tempdir");
        for name in [
            "usb-Honeywell_Scanner-event-kbd",
            "usb-Honeywell_Scanner-if01-event-mouse",
            "usb-Acme_Keyboard-event-kbd",
        ] {
            fs::write(dir.path().join(name), b"").expect("write");
        }
        let found = keyboards_in(dir.path());
        let names: Vec<_> = found
            .iter()
            .map(|p| {
                Path::new(p)
                    .file_name()
                    .map(|n| n.to_string_lossy().into_owned())
            })
            .collect();
        assert_eq!(
            names,
            [
                Some("usb-Acme_Keyboard-event-kbd".to_owned()),
                Some("usb-Honeywell_Scanner-event-kbd".to_owned()),
            ]
        );
        assert!(keyboards_in(Path::new("/nonexistent/by-id")).is_empty());
        let _ = list_hid_keyboards();
    }

    /// End to end through the kernel: a uinput virtual keyboard types a code into
    /// `spawn_hid`. Skipped (with a note) where `/dev/uinput` is missing or not writable.
    #[test]
    fn virtual_keyboard_types_a_code_into_the_reader() {
        use evdev::uinput::VirtualDevice;
        use evdev::{AttributeSet, InputEvent};

        if let Err(err) = OpenOptions::new()
            .read(true)
            .write(true)
            .open("/dev/uinput")
        {
            eprintln!("skipping the uinput test: cannot open /dev/uinput for writing: {err}");
            return;
        }
        let mut keys = AttributeSet::<KeyCode>::new();
        for code in [
            KEY_LEFTSHIFT,
            KEY_LEFTALT,
            KEY_ENTER,
            KEY_L,
            KEY_T,
            KEY_1,
            KEY_KP2,
            KEY_KP9,
            KEY_KP0,
            KEY_A,
        ] {
            keys.insert(KeyCode(code));
        }
        let mut keyboard = VirtualDevice::builder()
            .and_then(|b| b.name("hardware test scanner").with_keys(&keys))
            .and_then(|b| b.build())
            .expect("create uinput keyboard");
        // The node appears once the kernel (devtmpfs) or udev has created it.
        let deadline = Instant::now() + Duration::from_secs(3);
        let node = loop {
            let node = keyboard
                .enumerate_dev_nodes_blocking()
                .ok()
                .and_then(|mut nodes| nodes.find_map(Result::ok))
                .filter(|node| node.exists());
            if let Some(node) = node {
                break node;
            }
            if Instant::now() > deadline {
                eprintln!("skipping the uinput test: no /dev/input/event node appeared");
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        };

        let (tx, mut rx) = tokio::sync::mpsc::channel(8);
        let stop = Arc::new(AtomicBool::new(false));
        let cfg = HidConfig {
            path: node.to_string_lossy().into_owned(),
            reopen_backoff_max_ms: 200,
            ..HidConfig::default()
        };
        let handle = spawn_hid(cfg, tx, Arc::clone(&stop));
        let wait_for = |what: &str, done: &dyn Fn(&crate::DeviceState) -> bool| {
            let deadline = Instant::now() + Duration::from_secs(3);
            while !done(&handle.state()) {
                assert!(
                    Instant::now() < deadline,
                    "not {what}: {:?}",
                    handle.status()
                );
                std::thread::sleep(Duration::from_millis(5));
            }
        };
        wait_for("connected", &|s| *s == crate::DeviceState::Connected);

        let mut events = with(KEY_LEFTSHIFT, &[KEY_L, KEY_T]);
        events.extend(taps(&[KEY_1]));
        events.extend(with(KEY_LEFTALT, &[KEY_KP0, KEY_KP2, KEY_KP9]));
        events.extend(taps(&[KEY_A, KEY_ENTER]));
        for (code, value) in events {
            keyboard
                .emit(&[InputEvent::new(EventType::KEY.0, code, value)])
                .expect("emit key event");
        }
        let deadline = Instant::now() + Duration::from_secs(3);
        let scan = loop {
            match rx.try_recv() {
                Ok(scan) => break scan,
                Err(_) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(5)),
                Err(err) => panic!("no scan from the virtual keyboard: {err}"),
            }
        };
        assert_eq!(scan.text, format!("LT1{GS}a"));
        assert_eq!(scan.source, format!("hid:{}", node.display()));

        // Unplug: the reader reports it and keeps retrying until stopped.
        drop(keyboard);
        wait_for("disconnected", &|s| {
            matches!(s, crate::DeviceState::Disconnected { .. })
        });
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
        wait_for("stopped", &|s| *s == crate::DeviceState::Stopped);
        handle.join();
    }
}
