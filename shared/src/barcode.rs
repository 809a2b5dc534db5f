//! Product barcodes as a till's scanner reads them: EAN-8, EAN-13, UPC-A
//! and UPC-E with their check digits, and GS1 element strings (GS1
//! DataMatrix, GS1-128, GS1 QR, GS1 DataBar) with their application
//! identifiers (AIs): GTIN, batch, expiry, serial number, net weight, …
//!
//! [`ProductCode::parse`] takes the scanned text and the AIM symbology
//! identifier the scanner sent, if any (`]E0`, `]E4`, `]d2`, `]C1`, …),
//! which settles what the digits are. Without one, the shape decides: 8, 12
//! or 13 digits are EAN/UPC and must carry a valid check digit; text with a
//! GS separator, or `01` and a valid GTIN-14 at its start, is GS1 data;
//! anything else is a code the till alone knows (an internal Code 128, …).

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::identity::check_digit;

/// The GS1 field separator (ASCII GS, FNC1 in the data), which ends a
/// variable-length field.
pub const GS1_SEPARATOR: char = '\u{1d}';

/// The longest value of any GS1 application identifier.
const GS1_MAX_VALUE: usize = 90;

/// Why scanned text is not a valid product code.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BarcodeError {
    /// The digits do not end in their check digit.
    #[error("{kind} {code} has a wrong check digit")]
    CheckDigit {
        /// What the code claims to be, such as `EAN-13`.
        kind: &'static str,
        /// The scanned digits.
        code: String,
    },
    /// The scanner said EAN/UPC, but the text is not one.
    #[error("{symbology} code {code:?} is not {expected}")]
    Shape {
        /// The AIM identifier the scanner sent.
        symbology: String,
        /// The scanned text.
        code: String,
        /// What the symbology needs, such as `13 digits`.
        expected: &'static str,
    },
    /// Not a GTIN: 8, 12, 13 or 14 digits.
    #[error("GTIN {0:?} must be 8, 12, 13 or 14 digits")]
    Gtin(String),
    /// GS1 data that does not parse.
    #[error("GS1 data is malformed at position {position}: {reason}")]
    Gs1 {
        /// Byte offset of the fault in the data (after the symbology).
        position: usize,
        /// What is wrong.
        reason: String,
    },
}

/// What kind of product barcode a scan was.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum ProductFormat {
    /// EAN-8.
    Ean8,
    /// EAN-13 (including UPC-A sent as 13 digits).
    Ean13,
    /// UPC-A, 12 digits.
    UpcA,
    /// UPC-E, 8 digits (zero-suppressed UPC-A).
    UpcE,
    /// A GS1 element string: GS1 DataMatrix, GS1-128, GS1 QR, GS1 DataBar.
    Gs1,
    /// Any other code; only the till knows what it means.
    #[default]
    Other,
}

impl ProductFormat {
    /// The name a cashier knows, such as `EAN-13`.
    #[must_use]
    pub const fn label(self) -> &'static str {
        match self {
            ProductFormat::Ean8 => "EAN-8",
            ProductFormat::Ean13 => "EAN-13",
            ProductFormat::UpcA => "UPC-A",
            ProductFormat::UpcE => "UPC-E",
            ProductFormat::Gs1 => "GS1",
            ProductFormat::Other => "other barcode",
        }
    }
}

impl fmt::Display for ProductFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.label())
    }
}

/// A Global Trade Item Number as 14 digits (GTIN-8, -12 and -13 padded
/// with leading zeros) whose check digit holds.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Gtin(String);

impl Gtin {
    /// Parses 8, 12, 13 or 14 digits and checks the check digit.
    pub fn parse(digits: &str) -> Result<Self, BarcodeError> {
        if !matches!(digits.len(), 8 | 12 | 13 | 14) || !all_digits(digits) {
            return Err(BarcodeError::Gtin(digits.to_owned()));
        }
        if !check_digit_holds(digits) {
            return Err(BarcodeError::CheckDigit {
                kind: "GTIN",
                code: digits.to_owned(),
            });
        }
        Ok(Gtin(format!("{digits:0>14}")))
    }

    /// The 14 digits.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for Gtin {
    type Error = BarcodeError;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        Self::parse(&s)
    }
}

impl From<Gtin> for String {
    fn from(g: Gtin) -> String {
        g.0
    }
}

impl fmt::Display for Gtin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// One field of GS1 data: an application identifier and its value.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Gs1Element {
    /// The application identifier, 2 to 4 digits, such as `01` or `3103`.
    pub ai: String,
    /// Its value as scanned.
    pub value: String,
}

impl Gs1Element {
    /// The GS1 data title of the common AIs, such as `BATCH/LOT` for `10`.
    #[must_use]
    pub fn title(&self) -> Option<&'static str> {
        let ai = self.ai.as_str();
        Some(match ai {
            "00" => "SSCC",
            "01" => "GTIN",
            "02" => "CONTENT",
            "10" => "BATCH/LOT",
            "11" => "PROD DATE",
            "13" => "PACK DATE",
            "15" => "BEST BEFORE",
            "16" => "SELL BY",
            "17" => "USE BY OR EXPIRY",
            "20" => "VARIANT",
            "21" => "SERIAL",
            "22" => "CPV",
            "240" => "ADDITIONAL ID",
            "30" => "VAR. COUNT",
            "37" => "COUNT",
            "400" => "ORDER NUMBER",
            "422" => "ORIGIN",
            "7003" => "EXPIRY TIME",
            "8200" => "PRODUCT URL",
            _ if ai.starts_with("310") => "NET WEIGHT (kg)",
            _ if ai.starts_with("392") => "PRICE",
            _ if ai.starts_with('9') => "INTERNAL",
            _ => return None,
        })
    }
}

/// A product barcode, parsed and checked.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProductCode {
    /// What kind of barcode it was.
    pub format: ProductFormat,
    /// The product's GTIN, when the code carries one.
    pub gtin: Option<Gtin>,
    /// The GS1 fields, in scan order; empty unless `format` is GS1.
    pub elements: Vec<Gs1Element>,
}

/// What the AIM symbology identifier says about the text.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Symbology {
    /// No identifier: the shape of the text decides.
    Unknown,
    /// `]E0` or `]E4`: EAN/UPC digits.
    Retail(RetailHint),
    /// GS1 data: `]C1`, `]d2`, `]Q3`, `]e0`, `]J1`.
    Gs1,
    /// Any other symbology (Code 128, Code 39, plain QR, …).
    Other,
}

/// Which EAN/UPC codes 8, 12 or 13 digits may be.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum RetailHint {
    /// No symbology: EAN-8 before UPC-E when 8 digits are valid as both.
    Any,
    /// `]E0`: EAN-13, UPC-A or UPC-E.
    EanUpc,
    /// `]E4`: EAN-8.
    Ean8,
}

impl Symbology {
    fn of(aim: Option<&str>) -> Self {
        match aim {
            None => Symbology::Unknown,
            Some("]E0") => Symbology::Retail(RetailHint::EanUpc),
            Some("]E4") => Symbology::Retail(RetailHint::Ean8),
            Some("]C1" | "]d2" | "]Q3" | "]e0" | "]J1") => Symbology::Gs1,
            Some(_) => Symbology::Other,
        }
    }
}

impl ProductCode {
    /// Parses scanned text, with the AIM symbology identifier the scanner
    /// sent (or, if `symbology` is `None`, one left at the start of the
    /// text, such as `]d2…`).
    pub fn parse(text: &str, symbology: Option<&str>) -> Result<Self, BarcodeError> {
        let (aim, text) = match symbology {
            Some(aim) => (Some(aim), text),
            None => split_aim(text),
        };
        match Symbology::of(aim) {
            Symbology::Gs1 => Self::gs1(text),
            Symbology::Retail(hint) => {
                let code = text.trim();
                Self::retail(code, hint)?.ok_or_else(|| BarcodeError::Shape {
                    symbology: aim.unwrap_or_default().to_owned(),
                    code: code.to_owned(),
                    expected: match hint {
                        RetailHint::Ean8 => "8 digits",
                        RetailHint::Any | RetailHint::EanUpc => "8, 12 or 13 digits",
                    },
                })
            }
            Symbology::Other => Ok(Self::other()),
            Symbology::Unknown => {
                if text.contains(GS1_SEPARATOR) {
                    return Self::gs1(text);
                }
                let code = text.trim();
                if looks_like_gs1(code)
                    && let Ok(gs1) = Self::gs1(code)
                {
                    return Ok(gs1);
                }
                Ok(Self::retail(code, RetailHint::Any)?.unwrap_or_else(Self::other))
            }
        }
    }

    /// The value of the first GS1 field with application identifier `ai`.
    #[must_use]
    pub fn element(&self, ai: &str) -> Option<&str> {
        self.elements
            .iter()
            .find(|e| e.ai == ai)
            .map(|e| e.value.as_str())
    }

    fn other() -> Self {
        ProductCode {
            format: ProductFormat::Other,
            gtin: None,
            elements: Vec::new(),
        }
    }

    fn gs1(data: &str) -> Result<Self, BarcodeError> {
        let elements = parse_gs1(data)?;
        let gtin = elements
            .iter()
            .find(|e| e.ai == "01")
            .and_then(|e| Gtin::parse(&e.value).ok());
        Ok(ProductCode {
            format: ProductFormat::Gs1,
            gtin,
            elements,
        })
    }

    /// EAN-8, UPC-E, UPC-A or EAN-13 by length, as `hint` allows; `None`
    /// if `code` has none of their shapes.
    fn retail(code: &str, hint: RetailHint) -> Result<Option<Self>, BarcodeError> {
        if !all_digits(code) {
            return Ok(None);
        }
        let ean8 = || check_digit_holds(code).then(|| (ProductFormat::Ean8, code.to_owned()));
        let upc_e = || {
            upc_e_to_upc_a(code)
                .filter(|upc_a| check_digit_holds(upc_a))
                .map(|upc_a| (ProductFormat::UpcE, upc_a))
        };
        let (format, gtin_digits) = match (code.len(), hint) {
            (8, RetailHint::Any) => ean8()
                .or_else(upc_e)
                .ok_or_else(|| wrong_check_digit("EAN-8 or UPC-E", code))?,
            (8, RetailHint::Ean8) => ean8().ok_or_else(|| wrong_check_digit("EAN-8", code))?,
            (8, RetailHint::EanUpc) => upc_e().ok_or_else(|| wrong_check_digit("UPC-E", code))?,
            (12, RetailHint::Any | RetailHint::EanUpc) => (ProductFormat::UpcA, code.to_owned()),
            (13, RetailHint::Any | RetailHint::EanUpc) => (ProductFormat::Ean13, code.to_owned()),
            _ => return Ok(None),
        };
        let gtin =
            Gtin::parse(&gtin_digits).map_err(|_| wrong_check_digit(format.label(), code))?;
        Ok(Some(ProductCode {
            format,
            gtin: Some(gtin),
            elements: Vec::new(),
        }))
    }
}

fn wrong_check_digit(kind: &'static str, code: &str) -> BarcodeError {
    BarcodeError::CheckDigit {
        kind,
        code: code.to_owned(),
    }
}

/// An AIM symbology identifier (`]`, a letter, a character) at the start of
/// `text`, split off.
fn split_aim(text: &str) -> (Option<&str>, &str) {
    match text.as_bytes() {
        [b']', letter, modifier, ..]
            if letter.is_ascii_alphabetic() && modifier.is_ascii_alphanumeric() =>
        {
            (text.get(..3), text.get(3..).unwrap_or_default())
        }
        _ => (None, text),
    }
}

/// GS1 data sent without a symbology identifier or separator: `01`, a valid
/// GTIN-14, then more fields.
fn looks_like_gs1(code: &str) -> bool {
    code.len() > 16
        && code.starts_with("01")
        && code
            .get(2..16)
            .is_some_and(|gtin| all_digits(gtin) && check_digit_holds(gtin))
}

fn all_digits(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit())
}

/// Whether the last of `digits` (all ASCII digits, at least two) is the
/// GS1 check digit of the others.
fn check_digit_holds(digits: &str) -> bool {
    match digits.split_at_checked(digits.len().saturating_sub(1)) {
        Some((body, check)) if !body.is_empty() && all_digits(digits) => {
            check_digit(body).to_string() == check
        }
        _ => false,
    }
}

/// The UPC-A digits a UPC-E code stands for (number system 0 or 1).
fn upc_e_to_upc_a(upc_e: &str) -> Option<String> {
    let d: Vec<char> = upc_e.chars().collect();
    let [ns @ ('0' | '1'), d1, d2, d3, d4, d5, d6, check] = d[..] else {
        return None;
    };
    let middle: String = match d6 {
        '0'..='2' => [d1, d2, d6, '0', '0', '0', '0', d3, d4, d5]
            .iter()
            .collect(),
        '3' => [d1, d2, d3, '0', '0', '0', '0', '0', d4, d5]
            .iter()
            .collect(),
        '4' => [d1, d2, d3, d4, '0', '0', '0', '0', '0', d5]
            .iter()
            .collect(),
        _ => [d1, d2, d3, d4, d5, '0', '0', '0', '0', d6]
            .iter()
            .collect(),
    };
    Some(format!("{ns}{middle}{check}"))
}

/// Parses a GS1 element string: application identifiers and their values,
/// variable-length values ended by GS ([`GS1_SEPARATOR`]) or the end. A
/// leading GS (FNC1) and a GS after a fixed-length value are tolerated.
///
/// Checks each value's length and character set, the check digit of GTINs,
/// SSCCs and GLNs, and that dates are `YYMMDD`.
pub fn parse_gs1(data: &str) -> Result<Vec<Gs1Element>, BarcodeError> {
    if !data.is_ascii() {
        return Err(gs1_fault(0, "the data is not ASCII"));
    }
    let data_len = data.len();
    let mut at = data.len() - data.trim_start_matches(GS1_SEPARATOR).len();
    let mut elements = Vec::new();
    while at < data_len {
        let start = at;
        let ai_len = data
            .get(at..at + 2)
            .filter(|p| all_digits(p))
            .and_then(|p| ai_length(p.as_bytes()))
            .ok_or_else(|| gs1_fault(at, "expected a known application identifier"))?;
        let ai = data
            .get(at..at + ai_len)
            .filter(|ai| all_digits(ai))
            .ok_or_else(|| gs1_fault(at, "truncated application identifier"))?;
        at += ai_len;
        let value = match fixed_value_length(ai) {
            Some(n) => data
                .get(at..at + n)
                .filter(|v| !v.contains(GS1_SEPARATOR))
                .ok_or_else(|| gs1_fault(at, format!("AI {ai} needs {n} characters")))?,
            None => {
                let end = data[at..]
                    .find(GS1_SEPARATOR)
                    .map_or(data_len, |offset| at + offset);
                &data[at..end]
            }
        };
        at += value.len();
        if data[at..].starts_with(GS1_SEPARATOR) {
            at += 1;
        }
        check_gs1_value(ai, value).map_err(|reason| gs1_fault(start, reason))?;
        elements.push(Gs1Element {
            ai: ai.to_owned(),
            value: value.to_owned(),
        });
    }
    if elements.is_empty() {
        return Err(gs1_fault(0, "no fields"));
    }
    Ok(elements)
}

fn gs1_fault(position: usize, reason: impl Into<String>) -> BarcodeError {
    BarcodeError::Gs1 {
        position,
        reason: reason.into(),
    }
}

/// The two leading digits of an AI, as a number.
fn ai_prefix(ai: &[u8]) -> Option<u8> {
    match ai {
        [tens @ b'0'..=b'9', units @ b'0'..=b'9', ..] => Some((tens - b'0') * 10 + (units - b'0')),
        _ => None,
    }
}

/// How many digits an AI starting with these two has (GS1 General
/// Specifications, the AI table by first two digits).
fn ai_length(prefix: &[u8]) -> Option<usize> {
    match ai_prefix(prefix)? {
        0..=4 | 10..=22 | 30 | 37 | 90..=99 => Some(2),
        23..=25 | 40..=42 | 71 => Some(3),
        31..=36 | 39 | 43 | 70 | 72 | 80..=82 => Some(4),
        _ => None,
    }
}

/// The predefined value length of AIs that never need a separator.
fn fixed_value_length(ai: &str) -> Option<usize> {
    match ai_prefix(ai.as_bytes())? {
        0 => Some(18),
        1..=3 => Some(14),
        4 => Some(16),
        11..=19 | 31..=36 => Some(6),
        20 => Some(2),
        41 => Some(13),
        _ => None,
    }
}

/// The longest value of a variable-length AI.
fn max_value_length(ai: &str) -> usize {
    match ai {
        "10" | "21" | "22" => 20,
        "30" | "37" => 8,
        "7003" => 10,
        "8200" => 70,
        _ if ai.starts_with("390") || ai.starts_with("392") => 15,
        _ if ai.starts_with("391") || ai.starts_with("393") => 18,
        _ if ai.len() == 3 && ai.starts_with('2') => 30,
        _ if ai.starts_with("40") => 30,
        "90" => 30,
        _ => GS1_MAX_VALUE,
    }
}

fn check_gs1_value(ai: &str, value: &str) -> Result<(), String> {
    let prefix = ai_prefix(ai.as_bytes()).unwrap_or(u8::MAX);
    if value.is_empty() {
        return Err(format!("AI {ai} is empty"));
    }
    if fixed_value_length(ai).is_none() && value.len() > max_value_length(ai) {
        return Err(format!(
            "AI {ai} is longer than {} characters",
            max_value_length(ai)
        ));
    }
    if !value.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(format!("AI {ai} holds a character GS1 does not allow"));
    }
    let numeric = matches!(prefix, 0..=4 | 11..=20 | 30..=37 | 39 | 41) || ai == "7003";
    if numeric && !all_digits(value) {
        return Err(format!("AI {ai} must be digits"));
    }
    let has_check_digit = matches!(prefix, 0..=3 | 41);
    if has_check_digit && !check_digit_holds(value) {
        return Err(format!("AI {ai} has a wrong check digit"));
    }
    if matches!(prefix, 11..=17) && !is_yymmdd(value) {
        return Err(format!("AI {ai} is not a date YYMMDD"));
    }
    Ok(())
}

/// `YYMMDD` with a month 01–12 and a day 00–31 (00: the end of the month).
fn is_yymmdd(value: &str) -> bool {
    let number =
        |range: std::ops::Range<usize>| value.get(range).and_then(|s| s.parse::<u8>().ok());
    value.len() == 6 && matches!(number(2..4), Some(1..=12)) && matches!(number(4..6), Some(0..=31))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const GS: &str = "\u{1d}";

    fn parse(text: &str) -> Result<ProductCode, BarcodeError> {
        ProductCode::parse(text, None)
    }

    fn gtin(code: &ProductCode) -> Option<&str> {
        code.gtin.as_ref().map(Gtin::as_str)
    }

    #[test]
    fn ean_and_upc_codes_are_told_apart_by_length_and_check_digit() {
        let cases = [
            ("4601234567893", ProductFormat::Ean13, "04601234567893"),
            ("96385074", ProductFormat::Ean8, "00000096385074"),
            ("036000291452", ProductFormat::UpcA, "00036000291452"),
            ("01234505", ProductFormat::UpcE, "00012000003455"),
            // Valid as both EAN-8 and UPC-E: without a symbology, EAN-8.
            ("01234565", ProductFormat::Ean8, "00000001234565"),
        ];
        for (text, format, digits) in cases {
            let code = parse(text).unwrap();
            assert_eq!((code.format, gtin(&code)), (format, Some(digits)), "{text}");
        }
    }

    #[test]
    fn upc_e_expands_by_its_last_digit() {
        for (upc_e, upc_a) in [
            ("01234505", "012000003455"),
            ("01234531", "012300000451"),
            ("01234543", "012340000053"),
            ("01234565", "012345000065"),
            ("11234566", "112345000066"),
        ] {
            assert_eq!(upc_e_to_upc_a(upc_e).as_deref(), Some(upc_a), "{upc_e}");
        }
        assert_eq!(upc_e_to_upc_a("21234565"), None, "number system 2");
    }

    #[test]
    fn a_wrong_check_digit_is_an_error_not_a_product() {
        assert_eq!(
            parse("4601234567890"),
            Err(BarcodeError::CheckDigit {
                kind: "EAN-13",
                code: "4601234567890".into()
            })
        );
        assert!(matches!(
            parse("96385075"),
            Err(BarcodeError::CheckDigit { .. })
        ));
        assert!(matches!(
            parse("036000291453"),
            Err(BarcodeError::CheckDigit { .. })
        ));
        let message = parse("4601234567890").unwrap_err().to_string();
        assert_eq!(message, "EAN-13 4601234567890 has a wrong check digit");
    }

    #[test]
    fn the_symbology_settles_what_the_digits_are() {
        let upc_e = ProductCode::parse("01234565", Some("]E0")).unwrap();
        assert_eq!(upc_e.format, ProductFormat::UpcE);
        assert_eq!(gtin(&upc_e), Some("00012345000065"));
        // A UPC-E whose digits are no EAN-8.
        assert!(matches!(
            ProductCode::parse("01234505", Some("]E4")),
            Err(BarcodeError::CheckDigit { kind: "EAN-8", .. })
        ));
        assert!(matches!(
            ProductCode::parse("ABC", Some("]E0")),
            Err(BarcodeError::Shape { .. })
        ));
        // An internal Code 128 of 13 digits is no EAN.
        let internal = ProductCode::parse("4601234567890", Some("]C0")).unwrap();
        assert_eq!(
            (internal.format, internal.gtin),
            (ProductFormat::Other, None)
        );
        // An identifier left in the text counts too.
        let ean8 = parse("]E496385074").unwrap();
        assert_eq!(ean8.format, ProductFormat::Ean8);
    }

    #[test]
    fn other_codes_pass_without_a_gtin() {
        for text in ["ABC-123", "12345", "460123456789012345", "LOYALTY"] {
            assert_eq!(parse(text), Ok(ProductCode::other()), "{text}");
        }
    }

    #[test]
    fn gs1_datamatrix_fields_are_parsed() {
        let data = format!("0104601234567893172612311012345AB{GS}21SER-1{GS}3103001250");
        let code = ProductCode::parse(&data, Some("]d2")).unwrap();
        assert_eq!(code.format, ProductFormat::Gs1);
        assert_eq!(gtin(&code), Some("04601234567893"));
        let fields: Vec<(&str, &str)> = code
            .elements
            .iter()
            .map(|e| (e.ai.as_str(), e.value.as_str()))
            .collect();
        assert_eq!(
            fields,
            [
                ("01", "04601234567893"),
                ("17", "261231"),
                ("10", "12345AB"),
                ("21", "SER-1"),
                ("3103", "001250"),
            ]
        );
        assert_eq!(code.element("10"), Some("12345AB"));
        assert_eq!(code.elements[4].title(), Some("NET WEIGHT (kg)"));
        assert_eq!(code.elements[1].title(), Some("USE BY OR EXPIRY"));
    }

    #[test]
    fn gs1_data_is_recognised_without_a_symbology() {
        // A marking code as HID scanners type it: GS as Alt+0029, no AIM id.
        let honest_sign = format!("0104601234567893215Zb<4k{GS}91EE06{GS}92dGVzdA==");
        let code = parse(&honest_sign).unwrap();
        assert_eq!(code.format, ProductFormat::Gs1);
        assert_eq!(code.element("91"), Some("EE06"));
        assert_eq!(code.element("92"), Some("dGVzdA=="));
        // Leading FNC1, and the identifier left in the text.
        let code = parse(&format!("]C1{GS}0104601234567893")).unwrap();
        assert_eq!(gtin(&code), Some("04601234567893"));
        // `01` and a valid GTIN, with no separator at all.
        let code = parse("010460123456789310LOT7").unwrap();
        assert_eq!(code.element("10"), Some("LOT7"));
    }

    #[test]
    fn malformed_gs1_data_says_where_and_why() {
        let cases = [
            ("0104601234567890", "AI 01 has a wrong check digit"),
            ("01046012345678", "AI 01 needs 14 characters"),
            ("0104601234567893171399311", "AI 17 is not a date YYMMDD"),
            ("05123", "expected a known application identifier"),
            ("10", "AI 10 is empty"),
            (
                "10ABCDEFGHIJKLMNOPQRSTU",
                "AI 10 is longer than 20 characters",
            ),
            ("10AB CD", "AI 10 holds a character GS1 does not allow"),
            ("30ABC", "AI 30 must be digits"),
            ("", "no fields"),
        ];
        for (data, reason) in cases {
            match ProductCode::parse(data, Some("]d2")) {
                Err(BarcodeError::Gs1 { reason: got, .. }) => assert_eq!(got, reason, "{data}"),
                other => panic!("{data}: {other:?}"),
            }
        }
        let err = ProductCode::parse(&format!("0104601234567893{GS}{GS}10A"), Some("]d2"));
        assert!(
            matches!(err, Err(BarcodeError::Gs1 { position: 17, .. })),
            "{err:?}"
        );
    }

    #[test]
    fn gtins_are_padded_to_14_digits_and_checked() {
        assert_eq!(Gtin::parse("96385074").unwrap().as_str(), "00000096385074");
        assert!(matches!(
            Gtin::parse("96385075"),
            Err(BarcodeError::CheckDigit { .. })
        ));
        assert!(matches!(Gtin::parse("12345"), Err(BarcodeError::Gtin(_))));
        let json = serde_json::to_string(&Gtin::parse("4601234567893").unwrap()).unwrap();
        assert_eq!(json, "\"04601234567893\"");
        assert!(serde_json::from_str::<Gtin>("\"04601234567890\"").is_err());
    }

    proptest! {
        #[test]
        fn parse_never_panics(text in any::<String>(), aim in proptest::option::of("\\][A-Za-z][0-9A-Z]")) {
            let _ = ProductCode::parse(&text, aim.as_deref());
        }

        #[test]
        fn gs1_parse_never_panics_on_digits_and_separators(data in "[0-9\u{1d}A-Z]{0,80}") {
            let _ = parse_gs1(&data);
            let _ = ProductCode::parse(&data, None);
        }

        #[test]
        fn any_ean13_with_its_check_digit_parses(body in "[1-9][0-9]{11}") {
            let code = format!("{body}{}", check_digit(&body));
            let parsed = ProductCode::parse(&code, None).unwrap();
            prop_assert_eq!(parsed.format, ProductFormat::Ean13);
            prop_assert_eq!(parsed.gtin.map(String::from), Some(format!("0{code}")));
        }

        #[test]
        fn parsed_gs1_fields_survive_a_round_trip(
            gtin_body in "[0-9]{13}",
            batch in "[A-Z0-9]{1,20}",
            serial in "[A-Za-z0-9]{1,20}",
        ) {
            let gtin = format!("{gtin_body}{}", check_digit(&gtin_body));
            let data = format!("01{gtin}10{batch}{GS}21{serial}");
            let code = ProductCode::parse(&data, Some("]d2")).unwrap();
            prop_assert_eq!(code.element("01"), Some(gtin.as_str()));
            prop_assert_eq!(code.element("10"), Some(batch.as_str()));
            prop_assert_eq!(code.element("21"), Some(serial.as_str()));
        }
    }
}
