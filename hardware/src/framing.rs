//! Sans-IO framing: raw scanner bytes in, clean codes out.
//!
//! [`Framer`] owns no I/O and no clock: callers feed it bytes together with the
//! [`Instant`] they arrived and ask it to flush on the inter-character timeout. That
//! keeps every framing rule (suffix, prefix, AIM identifiers, control bytes, length
//! limits, debounce) testable without devices or sleeps.

use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use tracing::{debug, warn};

/// GS (group separator), the GS1 field separator: the only control byte kept.
const GS: u8 = 0x1D;

/// Length of an AIM symbology identifier: `]`, a letter, a digit.
const AIM_ID_LEN: usize = 3;

/// The terminator a scanner appends to each code.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Suffix {
    /// Carriage return (`\r`).
    Cr,
    /// Line feed (`\n`).
    Lf,
    /// Carriage return followed by line feed (`\r\n`).
    CrLf,
    /// Horizontal tab (`\t`).
    Tab,
    /// Any of CR, LF or TAB; a CRLF pair ends a single code.
    #[default]
    Any,
}

impl Suffix {
    /// Whether `byte` ends a code, given whether the previous byte was a CR.
    fn terminates(self, byte: u8, after_cr: bool) -> bool {
        match self {
            Self::Cr => byte == b'\r',
            Self::Lf => byte == b'\n',
            Self::CrLf => byte == b'\n' && after_cr,
            Self::Tab => byte == b'\t',
            Self::Any => matches!(byte, b'\r' | b'\n' | b'\t'),
        }
    }
}

/// How a byte stream is cut into codes.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize, Serialize)]
#[serde(default)]
pub struct FramingConfig {
    /// Terminator after each code.
    pub suffix: Suffix,
    /// Prefix the scanner is programmed to send before each code; stripped when present.
    /// Control characters in it are ignored, as they are in the data.
    pub prefix: Option<String>,
    /// Emit a pending code after this many milliseconds without a byte, for scanners
    /// that send no suffix. `0` disables the timeout.
    pub inter_char_timeout_ms: u64,
    /// Shortest accepted code, in bytes of cleaned text (at least 1 is always enforced).
    pub min_len: usize,
    /// Longest accepted code, in bytes of cleaned text. Longer lines are dropped with a
    /// warning; reading resumes at the next suffix.
    pub max_len: usize,
    /// Drop a code identical to the previous one seen less than this many milliseconds
    /// ago (the window slides while the code keeps repeating). `0` disables it.
    pub debounce_ms: u64,
}

impl Default for FramingConfig {
    fn default() -> Self {
        Self {
            suffix: Suffix::Any,
            prefix: None,
            inter_char_timeout_ms: 50,
            min_len: 1,
            max_len: 4096,
            debounce_ms: 0,
        }
    }
}

/// One framed code, before it is stamped with a source and time.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FramedText {
    /// The AIM symbology identifier stripped from the front, e.g. `]Q1`.
    pub symbology: Option<String>,
    /// The cleaned code.
    pub text: String,
}

/// Pure, sans-IO framer: feed bytes with the time they arrived; get complete codes out.
///
/// A line ends at its suffix, at the inter-character timeout, or at [`flush`](Self::flush).
/// Control bytes other than GS are dropped as they arrive. A finished line loses the
/// prefix, then an AIM identifier, and is dropped if it is not valid UTF-8 (never
/// lossily repaired: a mangled token must not pass for a real one), outside
/// `min_len..=max_len`, or a debounced repeat. Memory stays bounded by `max_len` however
/// long a line grows. Rejections are logged with lengths, never contents, and counted.
#[derive(Debug)]
pub struct Framer {
    cfg: FramingConfig,
    /// The configured prefix, cleaned of control bytes; `None` when empty.
    prefix: Option<Vec<u8>>,
    /// Most bytes buffered for one line: anything longer cannot pass `max_len`.
    limit: usize,
    buf: Vec<u8>,
    /// Bytes thrown away from the current line once it outgrew `limit`.
    overflowed: usize,
    /// Input of the current line was lost upstream: reject it when it ends.
    lost: bool,
    last_byte_at: Option<Instant>,
    after_cr: bool,
    last_seen: Option<(String, Instant)>,
    rejected: u64,
}

impl Framer {
    /// A framer with no pending data.
    pub fn new(cfg: FramingConfig) -> Self {
        let prefix = cfg
            .prefix
            .as_deref()
            .map(|p| p.bytes().filter(|&b| is_data(b)).collect::<Vec<_>>())
            .filter(|p| !p.is_empty());
        let limit = cfg
            .max_len
            .saturating_add(prefix.as_ref().map_or(0, Vec::len))
            .saturating_add(AIM_ID_LEN);
        Self {
            cfg,
            prefix,
            limit,
            buf: Vec::new(),
            overflowed: 0,
            lost: false,
            last_byte_at: None,
            after_cr: false,
            last_seen: None,
            rejected: 0,
        }
    }

    /// The configuration this framer applies.
    pub fn config(&self) -> &FramingConfig {
        &self.cfg
    }

    /// Feed `bytes` received at `now`; returns every code they complete, in order.
    ///
    /// Pending data whose inter-character timeout expired before `now` is flushed first,
    /// so it is never glued to the new bytes.
    #[must_use = "framed codes are lost if ignored"]
    pub fn push(&mut self, bytes: &[u8], now: Instant) -> Vec<FramedText> {
        let mut out: Vec<FramedText> = self.poll_timeout(now).into_iter().collect();
        if bytes.is_empty() {
            return out;
        }
        for &byte in bytes {
            if self.cfg.suffix.terminates(byte, self.after_cr) {
                out.extend(self.finish_line(now));
            } else if is_data(byte) {
                self.accept(byte);
            }
            self.after_cr = byte == b'\r';
        }
        self.last_byte_at = self.has_pending().then_some(now);
        out
    }

    /// Flush pending data if the inter-character timeout has elapsed at `now`.
    #[must_use = "a flushed code is lost if ignored"]
    pub fn poll_timeout(&mut self, now: Instant) -> Option<FramedText> {
        match self.next_deadline() {
            Some(deadline) if now >= deadline => self.finish_line(now),
            _ => None,
        }
    }

    /// Note input that carried no bytes yet (e.g. the keystrokes of an Alt code on a
    /// keyboard wedge): a pending code's inter-character timeout restarts at `now`.
    ///
    /// Pending data whose timeout expired before `now` is flushed first and returned.
    #[must_use = "a flushed code is lost if ignored"]
    pub fn touch(&mut self, now: Instant) -> Option<FramedText> {
        let flushed = self.poll_timeout(now);
        if self.has_pending() {
            self.last_byte_at = Some(now);
        }
        flushed
    }

    /// Note that input was lost upstream (e.g. the kernel dropped keyboard events): the
    /// code being received is incomplete, so it is dropped, and counted, when its suffix
    /// or inter-character timeout arrives, instead of passing its tail off as a code.
    pub fn input_lost(&mut self, now: Instant) {
        self.lost = true;
        self.last_byte_at = Some(now);
    }

    /// When [`poll_timeout`](Self::poll_timeout) will next have something to flush.
    pub fn next_deadline(&self) -> Option<Instant> {
        if self.cfg.inter_char_timeout_ms == 0 {
            return None;
        }
        self.last_byte_at?
            .checked_add(Duration::from_millis(self.cfg.inter_char_timeout_ms))
    }

    /// Emit pending data now, as if its suffix had arrived (e.g. at end of input).
    #[must_use = "a flushed code is lost if ignored"]
    pub fn flush(&mut self, now: Instant) -> Option<FramedText> {
        if self.has_pending() {
            self.finish_line(now)
        } else {
            None
        }
    }

    /// Discard pending data (e.g. after the device went away mid-code).
    pub fn clear(&mut self) {
        if self.has_pending() {
            debug!(
                bytes = self.buf.len() + self.overflowed,
                "discarding partial code"
            );
        }
        self.reset_line();
    }

    /// How many lines were rejected so far (too short, too long, not UTF-8 or with input
    /// lost).
    pub fn rejected(&self) -> u64 {
        self.rejected
    }

    fn has_pending(&self) -> bool {
        !self.buf.is_empty() || self.overflowed > 0 || self.lost
    }

    fn accept(&mut self, byte: u8) {
        if self.overflowed > 0 {
            self.overflowed += 1;
        } else if self.buf.len() >= self.limit {
            self.overflowed = self.buf.len() + 1;
            self.buf.clear();
        } else {
            self.buf.push(byte);
        }
    }

    fn reset_line(&mut self) {
        self.buf.clear();
        self.overflowed = 0;
        self.lost = false;
        self.last_byte_at = None;
        self.after_cr = false;
    }

    /// End the current line and turn it into a code, if it is one.
    fn finish_line(&mut self, now: Instant) -> Option<FramedText> {
        let framed = self.frame_line(now);
        self.reset_line();
        framed
    }

    fn frame_line(&mut self, now: Instant) -> Option<FramedText> {
        if self.overflowed > 0 {
            return self.reject("longer than max_len", self.overflowed);
        }
        if self.lost {
            return self.reject("input lost", self.buf.len());
        }
        if self.buf.is_empty() {
            // A bare terminator, e.g. the LF of a CRLF pair with `Suffix::Any`.
            return None;
        }
        let mut line = self.buf.as_slice();
        if let Some(rest) = self.prefix.as_deref().and_then(|p| line.strip_prefix(p)) {
            line = rest;
        }
        let (symbology, data) = split_aim_id(line);
        let Ok(data) = std::str::from_utf8(data) else {
            return self.reject("not valid UTF-8", self.buf.len());
        };
        let text = clean(data);
        if text.len() < self.cfg.min_len.max(1) {
            return self.reject("shorter than min_len", text.len());
        }
        if text.len() > self.cfg.max_len {
            return self.reject("longer than max_len", text.len());
        }
        if self.is_bounce(&text, now) {
            debug!(
                len = text.len(),
                "dropping repeated code within debounce window"
            );
            return None;
        }
        Some(FramedText { symbology, text })
    }

    /// Log and count a rejected line. Its content is never logged: it may be a token.
    fn reject(&mut self, reason: &'static str, len: usize) -> Option<FramedText> {
        self.rejected += 1;
        warn!(
            reason,
            len,
            min_len = self.cfg.min_len,
            max_len = self.cfg.max_len,
            "dropping scanned line"
        );
        None
    }

    /// Whether `text` repeats the last code within the debounce window; records it.
    fn is_bounce(&mut self, text: &str, now: Instant) -> bool {
        if self.cfg.debounce_ms == 0 {
            return false;
        }
        let window = Duration::from_millis(self.cfg.debounce_ms);
        if let Some((last, at)) = &mut self.last_seen
            && last == text
        {
            let bounced = now.saturating_duration_since(*at) < window;
            *at = now;
            return bounced;
        }
        self.last_seen = Some((text.to_owned(), now));
        false
    }
}

/// Whether a non-terminator byte is kept as data: printable, non-ASCII, or GS.
fn is_data(byte: u8) -> bool {
    byte == GS || !byte.is_ascii_control()
}

/// Split a leading AIM symbology identifier (`]` + letter + digit) off `line`.
fn split_aim_id(line: &[u8]) -> (Option<String>, &[u8]) {
    match line {
        [b']', letter, digit, rest @ ..]
            if letter.is_ascii_alphabetic() && digit.is_ascii_digit() =>
        {
            let id = format!("]{}{}", char::from(*letter), char::from(*digit));
            (Some(id), rest)
        }
        _ => (None, line),
    }
}

/// Drop control characters (including C1 controls such as U+0085) except GS.
pub(crate) fn clean(text: &str) -> String {
    text.chars()
        .filter(|&c| c == char::from(GS) || !c.is_control())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn framer(cfg: FramingConfig) -> (Framer, Instant) {
        (Framer::new(cfg), Instant::now())
    }

    fn texts(out: Vec<FramedText>) -> Vec<String> {
        out.into_iter().map(|f| f.text).collect()
    }

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn code_split_mid_way_is_joined() {
        let (mut f, t0) = framer(FramingConfig::default());
        assert!(f.push(b"40123", t0).is_empty());
        assert_eq!(texts(f.push(b"45\r", t0 + ms(5))), ["4012345"]);
        assert_eq!(f.next_deadline(), None);
    }

    #[test]
    fn burst_of_codes_in_one_write() {
        let (mut f, t0) = framer(FramingConfig::default());
        assert_eq!(texts(f.push(b"A1\rB2\rC3\r", t0)), ["A1", "B2", "C3"]);
    }

    #[test]
    fn crlf_is_one_terminator_with_any() {
        let (mut f, t0) = framer(FramingConfig::default());
        assert_eq!(texts(f.push(b"A1\r\nB2\r\n", t0)), ["A1", "B2"]);
        assert_eq!(texts(f.push(b"\r\n\n\r", t0)), Vec::<String>::new());
    }

    #[test]
    fn crlf_suffix_needs_both_bytes() {
        let cfg = FramingConfig {
            suffix: Suffix::CrLf,
            ..FramingConfig::default()
        };
        let (mut f, t0) = framer(cfg);
        assert!(f.push(b"AB\r", t0).is_empty());
        assert_eq!(texts(f.push(b"\nCD\nEF\r\n", t0)), ["AB", "CDEF"]);
    }

    #[test]
    fn tab_suffix() {
        let cfg = FramingConfig {
            suffix: Suffix::Tab,
            ..FramingConfig::default()
        };
        let (mut f, t0) = framer(cfg);
        assert_eq!(texts(f.push(b"A1\tB\r2\n\t", t0)), ["A1", "B2"]);
    }

    #[test]
    fn cr_suffix_ignores_lf() {
        let cfg = FramingConfig {
            suffix: Suffix::Cr,
            ..FramingConfig::default()
        };
        let (mut f, t0) = framer(cfg);
        assert_eq!(texts(f.push(b"A\n1\r\nB2\r", t0)), ["A1", "B2"]);
    }

    #[test]
    fn prefix_is_stripped_when_present() {
        let cfg = FramingConfig {
            prefix: Some("\u{2}SCN:".into()),
            ..FramingConfig::default()
        };
        let (mut f, t0) = framer(cfg);
        assert_eq!(
            texts(f.push(b"\x02SCN:123\rSCN:]Q1abc\rNOPREFIX\r", t0)),
            ["123", "abc", "NOPREFIX"]
        );
    }

    #[test]
    fn aim_identifiers_are_stripped_and_kept() {
        let (mut f, t0) = framer(FramingConfig::default());
        let out = f.push(b"]Q1tok\r]C1\x1d0101234\r]d2data\r]x\r]QXnope\r", t0);
        let got: Vec<_> = out
            .iter()
            .map(|f| (f.symbology.as_deref(), f.text.as_str()))
            .collect();
        assert_eq!(
            got,
            [
                (Some("]Q1"), "tok"),
                (Some("]C1"), "\u{1d}0101234"),
                (Some("]d2"), "data"),
                (None, "]x"),
                (None, "]QXnope"),
            ]
        );
    }

    #[test]
    fn aim_identifier_alone_is_too_short() {
        let (mut f, t0) = framer(FramingConfig::default());
        assert!(f.push(b"]Q1\r", t0).is_empty());
        assert_eq!(f.rejected(), 1);
    }

    #[test]
    fn missing_suffix_is_flushed_after_inter_char_timeout() {
        let (mut f, t0) = framer(FramingConfig::default());
        assert!(f.push(b"12", t0).is_empty());
        assert!(f.push(b"34", t0 + ms(30)).is_empty());
        assert_eq!(f.next_deadline(), Some(t0 + ms(80)));
        assert_eq!(f.poll_timeout(t0 + ms(79)), None);
        let flushed = f.poll_timeout(t0 + ms(80)).map(|f| f.text);
        assert_eq!(flushed.as_deref(), Some("1234"));
        assert_eq!(f.next_deadline(), None);
        assert_eq!(f.poll_timeout(t0 + ms(500)), None);
    }

    #[test]
    fn late_bytes_do_not_join_a_timed_out_code() {
        let (mut f, t0) = framer(FramingConfig::default());
        assert!(f.push(b"OLD", t0).is_empty());
        assert_eq!(texts(f.push(b"NEW\r", t0 + ms(200))), ["OLD", "NEW"]);
    }

    #[test]
    fn touch_restarts_the_timeout_of_pending_data_only() {
        let (mut f, t0) = framer(FramingConfig::default());
        assert_eq!(f.touch(t0), None);
        assert_eq!(
            f.next_deadline(),
            None,
            "nothing pending, nothing to time out"
        );
        assert!(f.push(b"12", t0).is_empty());
        assert_eq!(f.touch(t0 + ms(40)), None);
        assert_eq!(f.next_deadline(), Some(t0 + ms(90)));
        assert_eq!(texts(f.push(b"3\r", t0 + ms(80))), ["123"]);
        // An expired code is flushed, not kept alive.
        assert!(f.push(b"45", t0 + ms(100)).is_empty());
        assert_eq!(f.touch(t0 + ms(200)).map(|f| f.text).as_deref(), Some("45"));
        assert_eq!(f.next_deadline(), None);
    }

    #[test]
    fn a_line_that_lost_input_is_dropped_at_its_end() {
        let (mut f, t0) = framer(FramingConfig::default());
        assert!(f.push(b"LT1", t0).is_empty());
        f.input_lost(t0);
        assert!(f.push(b"XYZ\r", t0).is_empty());
        assert_eq!(texts(f.push(b"GOOD\r", t0)), ["GOOD"]);
        // Lost between codes, the damage ends at the timeout.
        f.input_lost(t0);
        assert_eq!(f.next_deadline(), Some(t0 + ms(50)));
        assert_eq!(f.poll_timeout(t0 + ms(50)), None);
        assert_eq!(f.rejected(), 2);
        assert_eq!(texts(f.push(b"NEXT\r", t0 + ms(60))), ["NEXT"]);
    }

    #[test]
    fn zero_timeout_never_flushes() {
        let cfg = FramingConfig {
            inter_char_timeout_ms: 0,
            ..FramingConfig::default()
        };
        let (mut f, t0) = framer(cfg);
        assert!(f.push(b"12", t0).is_empty());
        assert_eq!(f.next_deadline(), None);
        assert_eq!(texts(f.push(b"3\n", t0 + ms(10_000))), ["123"]);
    }

    #[test]
    fn flush_and_clear() {
        let (mut f, t0) = framer(FramingConfig::default());
        assert!(f.push(b"tail", t0).is_empty());
        assert_eq!(f.flush(t0).map(|f| f.text).as_deref(), Some("tail"));
        assert_eq!(f.flush(t0), None);
        assert!(f.push(b"partial", t0).is_empty());
        f.clear();
        assert_eq!(f.next_deadline(), None);
        assert_eq!(texts(f.push(b"x\r", t0)), ["x"]);
    }

    #[test]
    fn min_len_rejects_short_codes() {
        let cfg = FramingConfig {
            min_len: 4,
            ..FramingConfig::default()
        };
        let (mut f, t0) = framer(cfg);
        assert_eq!(texts(f.push(b"abc\rabcd\r", t0)), ["abcd"]);
        assert_eq!(f.rejected(), 1);
    }

    #[test]
    fn over_long_line_is_dropped_and_next_code_read() {
        let cfg = FramingConfig {
            max_len: 8,
            ..FramingConfig::default()
        };
        let (mut f, t0) = framer(cfg);
        let long = vec![b'9'; 100_000];
        assert!(f.push(&long, t0).is_empty());
        assert!(f.buf.capacity() <= 64, "buffer stays bounded");
        assert_eq!(
            texts(f.push(b"\rGOOD\r123456789\r12345678\r", t0)),
            ["GOOD", "12345678"]
        );
        assert_eq!(f.rejected(), 2);
    }

    #[test]
    fn over_long_line_without_suffix_is_dropped_on_timeout() {
        let cfg = FramingConfig {
            max_len: 4,
            ..FramingConfig::default()
        };
        let (mut f, t0) = framer(cfg);
        assert!(f.push(b"0123456789", t0).is_empty());
        assert_eq!(f.poll_timeout(t0 + ms(60)), None);
        assert_eq!(f.rejected(), 1);
        assert_eq!(f.next_deadline(), None);
    }

    #[test]
    fn control_bytes_dropped_gs_kept() {
        let (mut f, t0) = framer(FramingConfig::default());
        let out = f.push(b"\x00\x0201\x1d23\x7f\x1b4\x03\r", t0);
        assert_eq!(texts(out), ["01\u{1d}234"]);
        let out = f.push("a\u{85}b\u{9f}c\r".as_bytes(), t0);
        assert_eq!(texts(out), ["abc"]);
    }

    #[test]
    fn invalid_utf8_is_dropped_valid_utf8_kept() {
        let (mut f, t0) = framer(FramingConfig::default());
        let out = f.push(b"\xff\xfe\xc3garbage\r\xc3\xa9t\xc3\xa9\r", t0);
        assert_eq!(texts(out), ["été"]);
        assert_eq!(f.rejected(), 1);
    }

    #[test]
    fn garbage_never_panics() {
        let (mut f, t0) = framer(FramingConfig::default());
        let garbage: Vec<u8> = (0..=255u8).cycle().take(10_000).collect();
        let _ = f.push(&garbage, t0);
        let _ = f.poll_timeout(t0 + ms(1_000));
        assert_eq!(texts(f.push(b"OK\r", t0 + ms(2_000))), ["OK"]);
    }

    #[test]
    fn debounce_drops_repeats_within_window() {
        let cfg = FramingConfig {
            debounce_ms: 500,
            ..FramingConfig::default()
        };
        let (mut f, t0) = framer(cfg);
        assert_eq!(texts(f.push(b"A\rA\rB\rA\r", t0)), ["A", "B", "A"]);
        assert!(f.push(b"A\r", t0 + ms(400)).is_empty());
        // The window slides while the code keeps repeating.
        assert!(f.push(b"A\r", t0 + ms(800)).is_empty());
        assert_eq!(texts(f.push(b"A\r", t0 + ms(1_400))), ["A"]);
    }

    #[test]
    fn config_serde_uses_lowercase_suffixes_and_defaults() {
        for (name, want) in [
            ("cr", Suffix::Cr),
            ("lf", Suffix::Lf),
            ("crlf", Suffix::CrLf),
            ("tab", Suffix::Tab),
            ("any", Suffix::Any),
        ] {
            let cfg: FramingConfig =
                serde_json::from_str(&format!(r#"{{"suffix": "{name}"}}"#)).expect("valid");
            assert_eq!(
                cfg,
                FramingConfig {
                    suffix: want,
                    ..FramingConfig::default()
                }
            );
        }
        assert!(serde_json::from_str::<FramingConfig>(r#"{"suffix": "CR"}"#).is_err());
    }

    mod props {
        use super::*;
        use proptest::prelude::*;

        proptest! {
            #[test]
            fn arbitrary_bytes_never_panic(
                chunks in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..64), 0..16),
                gaps in proptest::collection::vec(0u64..120, 16),
                max_len in 0usize..32,
                suffix in prop_oneof![
                    Just(Suffix::Cr), Just(Suffix::Lf), Just(Suffix::CrLf), Just(Suffix::Tab), Just(Suffix::Any)
                ],
            ) {
                let cfg = FramingConfig { suffix, max_len, debounce_ms: 30, prefix: Some("]".into()), ..FramingConfig::default() };
                let (mut f, mut now) = framer(cfg);
                for (chunk, gap) in chunks.iter().zip(&gaps) {
                    now += ms(*gap);
                    for out in f.push(chunk, now) {
                        prop_assert!(!out.text.is_empty() && out.text.len() <= max_len);
                    }
                    let _ = f.poll_timeout(now);
                }
            }

            #[test]
            fn codes_joined_by_cr_come_back(
                codes in proptest::collection::vec("[A-Za-z0-9][ -~]{0,40}", 0..12),
                cuts in proptest::collection::vec(any::<proptest::sample::Index>(), 0..6),
            ) {
                let stream: Vec<u8> = codes.iter().flat_map(|c| c.bytes().chain([b'\r'])).collect();
                let mut cuts: Vec<usize> = cuts.iter().map(|i| i.index(stream.len() + 1)).collect();
                cuts.sort_unstable();
                let (mut f, t0) = framer(FramingConfig::default());
                let mut got = Vec::new();
                let mut start = 0;
                for cut in cuts.into_iter().chain([stream.len()]) {
                    got.extend(texts(f.push(&stream[start..cut], t0)));
                    start = cut;
                }
                prop_assert_eq!(got, codes);
            }
        }
    }
}
