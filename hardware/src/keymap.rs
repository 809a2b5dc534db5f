//! Keyboard layouts a keyboard-wedge scanner can emulate: which character each Linux
//! key code types at each shift level.
//!
//! Pure data and lookups, no IO. Key codes are the kernel's `KEY_*` values
//! (`linux/input-event-codes.h`): physical key positions, so decoding never depends on
//! the layout the desktop happens to use. Only the keys that type text are mapped.

use serde::{Deserialize, Serialize};

/// The keyboard layout a scanner is programmed to emulate ("country code" in scanner
/// manuals). It must match the scanner's setting, not the desktop's.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum KeyboardLayout {
    /// US English (QWERTY): the factory default of nearly every scanner.
    #[default]
    Us,
    /// German (QWERTZ), with AltGr and dead keys.
    De,
    /// French (AZERTY), with AltGr and dead keys.
    Fr,
}

// Key codes, as in linux/input-event-codes.h.
pub(crate) const KEY_1: u16 = 2;
pub(crate) const KEY_0: u16 = 11;
pub(crate) const KEY_MINUS: u16 = 12;
pub(crate) const KEY_EQUAL: u16 = 13;
pub(crate) const KEY_TAB: u16 = 15;
pub(crate) const KEY_Q: u16 = 16;
pub(crate) const KEY_W: u16 = 17;
pub(crate) const KEY_E: u16 = 18;
pub(crate) const KEY_Y: u16 = 21;
pub(crate) const KEY_P: u16 = 25;
pub(crate) const KEY_LEFTBRACE: u16 = 26;
pub(crate) const KEY_RIGHTBRACE: u16 = 27;
pub(crate) const KEY_ENTER: u16 = 28;
pub(crate) const KEY_LEFTCTRL: u16 = 29;
pub(crate) const KEY_A: u16 = 30;
pub(crate) const KEY_L: u16 = 38;
pub(crate) const KEY_SEMICOLON: u16 = 39;
pub(crate) const KEY_APOSTROPHE: u16 = 40;
pub(crate) const KEY_GRAVE: u16 = 41;
pub(crate) const KEY_LEFTSHIFT: u16 = 42;
pub(crate) const KEY_BACKSLASH: u16 = 43;
pub(crate) const KEY_Z: u16 = 44;
pub(crate) const KEY_M: u16 = 50;
pub(crate) const KEY_COMMA: u16 = 51;
pub(crate) const KEY_DOT: u16 = 52;
pub(crate) const KEY_SLASH: u16 = 53;
pub(crate) const KEY_RIGHTSHIFT: u16 = 54;
pub(crate) const KEY_KPASTERISK: u16 = 55;
pub(crate) const KEY_LEFTALT: u16 = 56;
pub(crate) const KEY_SPACE: u16 = 57;
pub(crate) const KEY_CAPSLOCK: u16 = 58;
pub(crate) const KEY_KP7: u16 = 71;
pub(crate) const KEY_KP8: u16 = 72;
pub(crate) const KEY_KP9: u16 = 73;
pub(crate) const KEY_KPMINUS: u16 = 74;
pub(crate) const KEY_KP4: u16 = 75;
pub(crate) const KEY_KP5: u16 = 76;
pub(crate) const KEY_KP6: u16 = 77;
pub(crate) const KEY_KPPLUS: u16 = 78;
pub(crate) const KEY_KP1: u16 = 79;
pub(crate) const KEY_KP2: u16 = 80;
pub(crate) const KEY_KP3: u16 = 81;
pub(crate) const KEY_KP0: u16 = 82;
pub(crate) const KEY_KPDOT: u16 = 83;
pub(crate) const KEY_102ND: u16 = 86;
pub(crate) const KEY_KPENTER: u16 = 96;
pub(crate) const KEY_RIGHTCTRL: u16 = 97;
pub(crate) const KEY_KPSLASH: u16 = 98;
pub(crate) const KEY_RIGHTALT: u16 = 100;
pub(crate) const KEY_KPEQUAL: u16 = 117;
pub(crate) const KEY_KPCOMMA: u16 = 121;

/// What a key types at one shift level.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Sym {
    /// Nothing at this level.
    No,
    /// A character.
    Char(char),
    /// A dead key: an accent that combines with the next character.
    Dead(char),
}

use Sym::{Char as C, Dead as D, No as X};

/// One key's symbols: plain, with Shift, with AltGr.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Key {
    pub(crate) base: Sym,
    pub(crate) shift: Sym,
    pub(crate) altgr: Sym,
}

impl Key {
    /// Whether CapsLock affects this key: it types a letter, and Shift types its capital.
    pub(crate) fn is_letter(self) -> bool {
        match (self.base, self.shift) {
            (C(lower), C(upper)) => {
                lower.is_lowercase() && lower.to_uppercase().eq(std::iter::once(upper))
            }
            _ => false,
        }
    }
}

type Row = (u16, Sym, Sym, Sym);

/// Keys whose symbols differ from a plain QWERTY letter, US layout.
const US: &[Row] = &[
    (KEY_1, C('1'), C('!'), X),
    (3, C('2'), C('@'), X),
    (4, C('3'), C('#'), X),
    (5, C('4'), C('$'), X),
    (6, C('5'), C('%'), X),
    (7, C('6'), C('^'), X),
    (8, C('7'), C('&'), X),
    (9, C('8'), C('*'), X),
    (10, C('9'), C('('), X),
    (KEY_0, C('0'), C(')'), X),
    (KEY_MINUS, C('-'), C('_'), X),
    (KEY_EQUAL, C('='), C('+'), X),
    (KEY_LEFTBRACE, C('['), C('{'), X),
    (KEY_RIGHTBRACE, C(']'), C('}'), X),
    (KEY_SEMICOLON, C(';'), C(':'), X),
    (KEY_APOSTROPHE, C('\''), C('"'), X),
    (KEY_GRAVE, C('`'), C('~'), X),
    (KEY_BACKSLASH, C('\\'), C('|'), X),
    (KEY_COMMA, C(','), C('<'), X),
    (KEY_DOT, C('.'), C('>'), X),
    (KEY_SLASH, C('/'), C('?'), X),
    (KEY_102ND, C('\\'), C('|'), X),
];

/// German QWERTZ (Linux `de`, Windows "German").
const DE: &[Row] = &[
    (KEY_1, C('1'), C('!'), X),
    (3, C('2'), C('"'), C('²')),
    (4, C('3'), C('§'), C('³')),
    (5, C('4'), C('$'), X),
    (6, C('5'), C('%'), X),
    (7, C('6'), C('&'), X),
    (8, C('7'), C('/'), C('{')),
    (9, C('8'), C('('), C('[')),
    (10, C('9'), C(')'), C(']')),
    (KEY_0, C('0'), C('='), C('}')),
    (KEY_MINUS, C('ß'), C('?'), C('\\')),
    (KEY_EQUAL, D('´'), D('`'), X),
    (KEY_Q, C('q'), C('Q'), C('@')),
    (KEY_E, C('e'), C('E'), C('€')),
    (KEY_Y, C('z'), C('Z'), X),
    (KEY_LEFTBRACE, C('ü'), C('Ü'), X),
    (KEY_RIGHTBRACE, C('+'), C('*'), C('~')),
    (KEY_SEMICOLON, C('ö'), C('Ö'), X),
    (KEY_APOSTROPHE, C('ä'), C('Ä'), X),
    (KEY_GRAVE, D('^'), C('°'), X),
    (KEY_BACKSLASH, C('#'), C('\''), X),
    (KEY_Z, C('y'), C('Y'), X),
    (KEY_M, C('m'), C('M'), C('µ')),
    (KEY_COMMA, C(','), C(';'), X),
    (KEY_DOT, C('.'), C(':'), X),
    (KEY_SLASH, C('-'), C('_'), X),
    (KEY_102ND, C('<'), C('>'), C('|')),
    (KEY_KPDOT, C(','), C(','), X),
];

/// French AZERTY (Linux `fr`, Windows "French").
const FR: &[Row] = &[
    (KEY_1, C('&'), C('1'), X),
    (3, C('é'), C('2'), D('~')),
    (4, C('"'), C('3'), C('#')),
    (5, C('\''), C('4'), C('{')),
    (6, C('('), C('5'), C('[')),
    (7, C('-'), C('6'), C('|')),
    (8, C('è'), C('7'), D('`')),
    (9, C('_'), C('8'), C('\\')),
    (10, C('ç'), C('9'), C('^')),
    (KEY_0, C('à'), C('0'), C('@')),
    (KEY_MINUS, C(')'), C('°'), C(']')),
    (KEY_EQUAL, C('='), C('+'), C('}')),
    (KEY_Q, C('a'), C('A'), X),
    (KEY_W, C('z'), C('Z'), X),
    (KEY_E, C('e'), C('E'), C('€')),
    (KEY_LEFTBRACE, D('^'), D('¨'), X),
    (KEY_RIGHTBRACE, C('$'), C('£'), C('¤')),
    (KEY_A, C('q'), C('Q'), X),
    (KEY_SEMICOLON, C('m'), C('M'), X),
    (KEY_APOSTROPHE, C('ù'), C('%'), X),
    (KEY_GRAVE, C('²'), X, X),
    (KEY_BACKSLASH, C('*'), C('µ'), X),
    (KEY_Z, C('w'), C('W'), X),
    (KEY_M, C(','), C('?'), X),
    (KEY_COMMA, C(';'), C('.'), X),
    (KEY_DOT, C(':'), C('/'), X),
    (KEY_SLASH, C('!'), C('§'), X),
    (KEY_102ND, C('<'), C('>'), X),
];

/// Keys that type the same in every layout (keypad digits are [`keypad_digit`]'s).
const COMMON: &[Row] = &[
    (KEY_ENTER, C('\r'), C('\r'), X),
    (KEY_KPENTER, C('\r'), C('\r'), X),
    (KEY_TAB, C('\t'), C('\t'), X),
    (KEY_SPACE, C(' '), C(' '), X),
    (KEY_KPSLASH, C('/'), C('/'), X),
    (KEY_KPASTERISK, C('*'), C('*'), X),
    (KEY_KPMINUS, C('-'), C('-'), X),
    (KEY_KPPLUS, C('+'), C('+'), X),
    (KEY_KPDOT, C('.'), C('.'), X),
    (KEY_KPEQUAL, C('='), C('='), X),
    (KEY_KPCOMMA, C(','), C(','), X),
];

/// Letter rows of a QWERTY keyboard, from `KEY_Q`, `KEY_A` and `KEY_Z`.
const QWERTY_ROWS: [(u16, &str); 3] = [
    (KEY_Q, "qwertyuiop"),
    (KEY_A, "asdfghjkl"),
    (KEY_Z, "zxcvbnm"),
];

fn find(rows: &[Row], code: u16) -> Option<Key> {
    rows.iter()
        .find(|row| row.0 == code)
        .map(|&(_, base, shift, altgr)| Key { base, shift, altgr })
}

/// The letter at `code` on a QWERTY keyboard.
fn qwerty_letter(code: u16) -> Option<Key> {
    debug_assert_eq!(KEY_P - KEY_Q + 1, 10);
    debug_assert_eq!(KEY_L - KEY_A + 1, 9);
    QWERTY_ROWS.iter().find_map(|&(first, letters)| {
        let offset = usize::from(code.checked_sub(first)?);
        let lower = letters.chars().nth(offset)?;
        Some(Key {
            base: C(lower),
            shift: C(lower.to_ascii_uppercase()),
            altgr: X,
        })
    })
}

impl KeyboardLayout {
    /// What `code` types in this layout; `None` for keys that type no text.
    pub(crate) fn key(self, code: u16) -> Option<Key> {
        let table = match self {
            Self::Us => US,
            Self::De => DE,
            Self::Fr => FR,
        };
        find(table, code)
            .or_else(|| qwerty_letter(code))
            .or_else(|| find(COMMON, code))
    }

    /// Whether the right Alt key is AltGr (a third shift level) rather than Alt.
    pub(crate) fn has_altgr(self) -> bool {
        !matches!(self, Self::Us)
    }
}

/// The digit a keypad key types, for numbers and Alt codes.
pub(crate) fn keypad_digit(code: u16) -> Option<u32> {
    Some(match code {
        KEY_KP0 => 0,
        KEY_KP1 => 1,
        KEY_KP2 => 2,
        KEY_KP3 => 3,
        KEY_KP4 => 4,
        KEY_KP5 => 5,
        KEY_KP6 => 6,
        KEY_KP7 => 7,
        KEY_KP8 => 8,
        KEY_KP9 => 9,
        _ => return None,
    })
}

/// The character typed by dead key `accent` followed by `base`, if they combine.
pub(crate) fn compose(accent: char, base: char) -> Option<char> {
    if base == ' ' {
        return Some(accent);
    }
    let pairs = match accent {
        '^' => "aâeêiîoôuûAÂEÊIÎOÔUÛ",
        '´' => "aáeéiíoóuúyýAÁEÉIÍOÓUÚYÝ",
        '`' => "aàeèiìoòuùAÀEÈIÌOÒUÙ",
        '¨' => "aäeëiïoöuüyÿAÄEËIÏOÖUÜ",
        '~' => "aãnñoõAÃNÑOÕ",
        _ => return None,
    };
    let chars: Vec<char> = pairs.chars().collect();
    chars
        .chunks_exact(2)
        .find(|pair| pair[0] == base)
        .map(|pair| pair[1])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn base(layout: KeyboardLayout, code: u16) -> Option<char> {
        match layout.key(code)?.base {
            C(c) => Some(c),
            _ => None,
        }
    }

    #[test]
    fn letters_follow_the_physical_layout() {
        use KeyboardLayout::{De, Fr, Us};
        let typed = |layout, codes: &[u16]| -> String {
            codes.iter().filter_map(|&c| base(layout, c)).collect()
        };
        let keys = [KEY_Q, KEY_W, KEY_Y, KEY_A, KEY_Z, KEY_SEMICOLON, KEY_M];
        assert_eq!(typed(Us, &keys), "qwyaz;m");
        assert_eq!(typed(De, &keys), "qwzayöm");
        assert_eq!(typed(Fr, &keys), "azyqwm,");
    }

    #[test]
    fn caps_lock_applies_to_letters_only() {
        let letter = |layout: KeyboardLayout, code| layout.key(code).is_some_and(Key::is_letter);
        assert!(letter(KeyboardLayout::Us, KEY_A));
        assert!(letter(KeyboardLayout::De, KEY_SEMICOLON)); // ö
        assert!(!letter(KeyboardLayout::De, KEY_MINUS)); // ß / ?
        assert!(!letter(KeyboardLayout::Fr, 3)); // é / 2
        assert!(!letter(KeyboardLayout::Us, KEY_1));
        assert!(!letter(KeyboardLayout::Us, KEY_SPACE));
    }

    #[test]
    fn unknown_keys_type_nothing() {
        for code in [
            0,
            1,
            14,
            KEY_LEFTSHIFT,
            KEY_CAPSLOCK,
            59,
            103,
            255,
            u16::MAX,
        ] {
            assert_eq!(KeyboardLayout::Us.key(code), None, "code {code}");
        }
    }

    #[test]
    fn dead_keys_compose_vowels_and_stand_alone_before_space() {
        assert_eq!(compose('^', 'e'), Some('ê'));
        assert_eq!(compose('´', 'E'), Some('É'));
        assert_eq!(compose('~', 'n'), Some('ñ'));
        assert_eq!(compose('^', ' '), Some('^'));
        assert_eq!(compose('^', 'x'), None);
        assert_eq!(compose('x', 'a'), None);
    }
}
