//! How each field of the promotion form shows a value of the ruleset model
//! and reads it back, as people write it: money in roubles with a comma or
//! a point (`49,90`, `1 500`), percents (`12,5`, `100 %`), lists of codes
//! separated by commas, semicolons or lines, hours as `17:00–19:00`, bundle
//! items as `SKU × 2`.
//!
//! Every `show_*` is read back by its `read_*` to the same value (the
//! promotion form's round-trip tests hold them to it). A `read_*` refuses
//! with the id of a message naming what is wrong; the form puts it next to
//! the field.

use chrono::{NaiveDate, NaiveTime};
use shared::ids::{BrandId, Category, Sku, StoreId};
use shared::money::{BasisPoints, Money, Quantity};
use shared::ruleset::{BundleItem, HourRange};

use crate::web::format;

/// The most units a reward may name (the ruleset's own limit).
pub const MAX_UNITS: u32 = 10_000;
/// The most points a rule may name (the ruleset's own limit).
pub const MAX_POINTS: i64 = 1_000_000;

/// A refusal: the message id, and the text it quotes (a code, an item), if
/// any, as `$value`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    /// The message id.
    pub message: &'static str,
    /// What it quotes.
    pub value: Option<String>,
}

impl Refusal {
    fn plain(message: &'static str) -> Self {
        Refusal {
            message,
            value: None,
        }
    }

    /// A refusal quoting `value`.
    pub fn quoting(message: &'static str, value: impl Into<String>) -> Self {
        Refusal {
            message,
            value: Some(value.into()),
        }
    }
}

impl From<&'static str> for Refusal {
    fn from(message: &'static str) -> Self {
        Refusal::plain(message)
    }
}

/// The pieces of a list: separated by commas, semicolons or lines; blank
/// pieces dropped.
fn pieces(text: &str) -> impl Iterator<Item = &str> {
    text.split([',', ';', '\n', '\r'])
        .map(str::trim)
        .filter(|piece| !piece.is_empty())
}

/// Codes separated by commas, semicolons, spaces or lines.
fn codes(text: &str) -> impl Iterator<Item = &str> {
    text.split(|c: char| c == ',' || c == ';' || c.is_whitespace())
        .filter(|code| !code.is_empty())
}

/// Codes shown one after another.
pub fn show_codes<'a>(codes: impl IntoIterator<Item = &'a str>) -> String {
    codes.into_iter().collect::<Vec<_>>().join(", ")
}

/// SKUs; empty text is none.
pub fn read_skus(text: &str) -> Result<Vec<Sku>, Refusal> {
    codes(text)
        .map(|code| Sku::parse(code).map_err(|_| Refusal::quoting("promo-reason-bad-sku", code)))
        .collect()
}

/// Categories; empty text is none.
pub fn read_categories(text: &str) -> Result<Vec<Category>, Refusal> {
    codes(text)
        .map(|code| {
            Category::parse(code).map_err(|_| Refusal::quoting("promo-reason-bad-category", code))
        })
        .collect()
}

/// Store numbers.
pub fn read_stores(text: &str) -> Result<Vec<StoreId>, Refusal> {
    codes(text)
        .map(|code| {
            code.trim_start_matches('№')
                .parse::<i64>()
                .ok()
                .and_then(|n| StoreId::new(n).ok())
                .ok_or_else(|| Refusal::quoting("promo-reason-bad-number", code))
        })
        .collect()
}

/// Brand numbers.
pub fn read_brands(text: &str) -> Result<Vec<BrandId>, Refusal> {
    codes(text)
        .map(|code| {
            code.trim_start_matches('№')
                .parse::<i64>()
                .ok()
                .and_then(|n| BrandId::new(n).ok())
                .ok_or_else(|| Refusal::quoting("promo-reason-bad-number", code))
        })
        .collect()
}

/// Numbers shown one after another.
pub fn show_numbers(numbers: impl IntoIterator<Item = i64>) -> String {
    numbers
        .into_iter()
        .map(|n| n.to_string())
        .collect::<Vec<_>>()
        .join(", ")
}

/// An amount as the form shows it: `5000`, `49,90` (the page's decimal
/// mark), no group separators.
pub fn show_money(amount: Money) -> String {
    let minor = amount.minor();
    let sign = if minor < 0 { "-" } else { "" };
    let (whole, kopecks) = (minor.unsigned_abs() / 100, minor.unsigned_abs() % 100);
    if kopecks == 0 {
        format!("{sign}{whole}")
    } else {
        format!("{sign}{whole}{}{kopecks:02}", format::decimal_mark())
    }
}

/// An amount typed in roubles, zero or more.
pub fn read_money(text: &str) -> Result<Money, Refusal> {
    format::parse_roubles(text)
        .and_then(|kopecks| Money::from_minor(kopecks).ok())
        .ok_or(Refusal::plain("promo-reason-money"))
}

/// An amount above zero.
pub fn read_positive_money(text: &str) -> Result<Money, Refusal> {
    let amount = read_money(text).map_err(|_| Refusal::plain("promo-reason-positive-money"))?;
    if amount <= Money::ZERO {
        return Err(Refusal::plain("promo-reason-positive-money"));
    }
    Ok(amount)
}

/// An optional amount; empty is none.
pub fn read_optional_money(text: &str) -> Result<Option<Money>, Refusal> {
    if text.trim().is_empty() {
        return Ok(None);
    }
    read_money(text).map(Some)
}

/// `10`, `12,5` or `12.5` percent as basis points in `1..=10000`.
pub fn read_percent(text: &str) -> Result<BasisPoints, Refusal> {
    const MESSAGE: &str = "promo-reason-percent";
    let text = text.trim().trim_end_matches('%').trim();
    let (whole, fraction) = text.split_once([',', '.']).unwrap_or((text, ""));
    let digits = |s: &str| !s.is_empty() && s.len() <= 3 && s.bytes().all(|b| b.is_ascii_digit());
    if !digits(whole) || !(fraction.is_empty() || (fraction.len() <= 2 && digits(fraction))) {
        return Err(MESSAGE.into());
    }
    let whole: u32 = whole.parse().map_err(|_| MESSAGE)?;
    let hundredths: u32 = match fraction.len() {
        0 => 0,
        1 => fraction.parse::<u32>().map_err(|_| MESSAGE)? * 10,
        _ => fraction.parse().map_err(|_| MESSAGE)?,
    };
    let bp = whole * 100 + hundredths;
    if bp == 0 {
        return Err(MESSAGE.into());
    }
    BasisPoints::new(bp).map_err(|_| MESSAGE.into())
}

/// A percentage as the form shows it: `12,5` (without the sign).
pub fn show_percent(bp: BasisPoints) -> String {
    format::percent(bp)
        .trim_end_matches('%')
        .trim_end_matches('\u{a0}')
        .to_owned()
}

/// A whole number in `min..=max`, spaces allowed (`10 000`).
pub fn read_whole<T: TryFrom<i64>>(text: &str, min: i64, max: i64) -> Result<T, Refusal> {
    let digits: String = text
        .chars()
        .filter(|c| !c.is_whitespace() && *c != '\u{a0}')
        .collect();
    let digits = digits.replace('−', "-");
    let n: i64 = digits.parse().map_err(|_| "promo-reason-whole")?;
    if !(min..=max).contains(&n) {
        return Err("promo-reason-whole".into());
    }
    T::try_from(n).map_err(|_| "promo-reason-whole".into())
}

/// A count of at least one, or empty for none (a limit).
pub fn read_limit<T: TryFrom<i64>>(text: &str) -> Result<Option<T>, Refusal> {
    if text.trim().is_empty() {
        return Ok(None);
    }
    read_whole(text, 1, i64::from(u32::MAX))
        .map(Some)
        .map_err(|_| "promo-reason-limit".into())
}

/// A points multiplier in percent, `101..=10000`: `200`, `200 %`, or as a
/// factor, `×2`, `x1,5`.
pub fn read_multiplier(text: &str) -> Result<u32, Refusal> {
    const MESSAGE: &str = "promo-reason-multiplier";
    let text = text.trim();
    let percent = match text.strip_prefix(['×', 'x', 'X', 'х', 'Х']) {
        // A factor read as a percentage: ×2 is 2 % = 200 basis points, the
        // multiplier's 200 %.
        Some(factor) => read_percent(factor.trim()).map_err(|_| MESSAGE)?.get(),
        None => read_whole::<u32>(text.trim_end_matches('%'), 101, 10_000).map_err(|_| MESSAGE)?,
    };
    if !(101..=10_000).contains(&percent) {
        return Err(MESSAGE.into());
    }
    Ok(percent)
}

/// A quantity of units, above zero: `3`, `1,5`.
pub fn read_quantity(text: &str) -> Result<Option<Quantity>, Refusal> {
    let text = text.trim();
    if text.is_empty() {
        return Ok(None);
    }
    text.replace(',', ".")
        .parse::<Quantity>()
        .map(Some)
        .map_err(|_| "promo-reason-quantity".into())
}

/// A quantity as the form shows it: `3`, `1,5`.
pub fn show_quantity(q: Quantity) -> String {
    q.to_string()
        .replace('.', &format::decimal_mark().to_string())
}

/// A local date `YYYY-MM-DD` (a date field's value); empty is none.
pub fn read_date(text: &str) -> Result<Option<NaiveDate>, Refusal> {
    let text = text.trim();
    if text.is_empty() {
        return Ok(None);
    }
    NaiveDate::parse_from_str(text, "%Y-%m-%d")
        .map(Some)
        .map_err(|_| "promo-reason-date".into())
}

fn show_time(t: NaiveTime) -> String {
    if t.format("%S").to_string() == "00" {
        t.format("%H:%M").to_string()
    } else {
        t.format("%H:%M:%S").to_string()
    }
}

fn read_time(text: &str) -> Option<NaiveTime> {
    let text = text.trim();
    NaiveTime::parse_from_str(text, "%H:%M")
        .or_else(|_| NaiveTime::parse_from_str(text, "%H:%M:%S"))
        .ok()
}

/// Hour ranges as the form shows them: `17:00–19:00, 22:00–02:00`.
pub fn show_hours(hours: &[HourRange]) -> String {
    hours
        .iter()
        .map(|h| format!("{}–{}", show_time(h.from), show_time(h.to)))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Hour ranges `from–to` (a hyphen or a dash), separated by commas,
/// semicolons or lines; empty is all day.
pub fn read_hours(text: &str) -> Result<Vec<HourRange>, Refusal> {
    pieces(text)
        .map(|range| {
            let bad = || Refusal::quoting("promo-reason-hours", range);
            let (from, to) = range.split_once(['-', '–', '—']).ok_or_else(bad)?;
            let (from, to) = (
                read_time(from).ok_or_else(bad)?,
                read_time(to).ok_or_else(bad)?,
            );
            if from == to {
                return Err(bad());
            }
            Ok(HourRange { from, to })
        })
        .collect()
}

/// Bundle items as the form shows them: `4601234567893 × 2, 4601234567894 × 1`.
pub fn show_bundle(items: &[BundleItem]) -> String {
    items
        .iter()
        .map(|item| format!("{} × {}", item.sku, item.quantity))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Bundle items: `SKU × N` (or `x`, `*`, `:`; a bare SKU is one unit),
/// separated by commas, semicolons or lines. Each SKU at most once.
pub fn read_bundle(text: &str) -> Result<Vec<BundleItem>, Refusal> {
    let mut items: Vec<BundleItem> = Vec::new();
    for piece in pieces(text) {
        let bad = || Refusal::quoting("promo-reason-bundle-item", piece);
        let (sku, quantity) = match piece.rsplit_once(['×', '*', ':']) {
            Some((sku, quantity)) => (sku.trim(), quantity.trim()),
            None => match piece
                .rsplit_once(" x ")
                .or_else(|| piece.rsplit_once(" х "))
            {
                Some((sku, quantity)) => (sku.trim(), quantity.trim()),
                None => (piece, "1"),
            },
        };
        let sku = Sku::parse(sku).map_err(|_| bad())?;
        let quantity = read_whole(quantity, 1, i64::from(MAX_UNITS)).map_err(|_| bad())?;
        if items.iter().any(|item| item.sku == sku) {
            return Err(Refusal::quoting("promo-reason-bundle-twice", sku.as_str()));
        }
        items.push(BundleItem { sku, quantity });
    }
    if items.is_empty() {
        return Err("promo-reason-bundle-empty".into());
    }
    Ok(items)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn money_is_read_in_roubles_with_either_mark() {
        let k = |s| read_money(s).map(Money::minor);
        assert_eq!(k("49,90"), Ok(4990));
        assert_eq!(k("49.9"), Ok(4990));
        assert_eq!(k("1 500"), Ok(150_000));
        assert_eq!(k("0"), Ok(0));
        assert!(k("-1").is_err());
        assert!(k("1,234").is_err());
        assert!(k("abc").is_err());
        assert!(read_positive_money("0").is_err());
        assert_eq!(read_optional_money(" "), Ok(None));
        for minor in [0, 1, 99, 100, 4990, 123_456_789] {
            let m = Money::from_minor(minor).unwrap();
            assert_eq!(read_money(&show_money(m)), Ok(m), "{minor}");
        }
    }

    #[test]
    fn percents_are_read_as_people_write_them() {
        let bp = |s| read_percent(s).map(BasisPoints::get);
        assert_eq!(bp("10"), Ok(1000));
        assert_eq!(bp("12.5"), Ok(1250));
        assert_eq!(bp("0,01"), Ok(1));
        assert_eq!(bp("100 %"), Ok(10_000));
        assert!(bp("0").is_err());
        assert!(bp("100,01").is_err());
        assert!(bp("-5").is_err());
        assert!(bp("1,234").is_err());
        assert!(bp("").is_err());
    }

    #[test]
    fn a_multiplier_is_a_percent_or_a_factor() {
        assert_eq!(read_multiplier("200"), Ok(200));
        assert_eq!(read_multiplier("150 %"), Ok(150));
        assert_eq!(read_multiplier("×2"), Ok(200));
        assert_eq!(read_multiplier("x1,5"), Ok(150));
        for bad in ["100", "1", "x1", "10001", "два", ""] {
            assert_eq!(
                read_multiplier(bad).unwrap_err().message,
                "promo-reason-multiplier",
                "{bad}"
            );
        }
    }

    #[test]
    fn hours_are_ranges_with_a_hyphen_or_a_dash() {
        let hours = read_hours("17:00-19:00; 22:00 — 02:00\n08:15:30–09:00").unwrap();
        assert_eq!(hours.len(), 3);
        assert!(hours[1].contains(NaiveTime::from_hms_opt(1, 0, 0).unwrap()));
        assert_eq!(read_hours(&show_hours(&hours)), Ok(hours));
        assert_eq!(read_hours(" "), Ok(vec![]));
        let bad = read_hours("17:00, 18:00-19:00").unwrap_err();
        assert_eq!(bad, Refusal::quoting("promo-reason-hours", "17:00"));
        assert!(read_hours("17:00-17:00").is_err());
        assert!(read_hours("25:00-26:00").is_err());
    }

    #[test]
    fn bundle_items_are_sku_times_quantity() {
        let items = read_bundle("111 × 2\n222 x 1, 333*3; 444:1; 555").unwrap();
        let shown: Vec<(&str, u32)> = items.iter().map(|i| (i.sku.as_str(), i.quantity)).collect();
        assert_eq!(
            shown,
            [("111", 2), ("222", 1), ("333", 3), ("444", 1), ("555", 1)]
        );
        assert_eq!(read_bundle(&show_bundle(&items)), Ok(items));
        assert_eq!(
            read_bundle("111 × 0").unwrap_err(),
            Refusal::quoting("promo-reason-bundle-item", "111 × 0")
        );
        assert_eq!(
            read_bundle("111, 111 × 2").unwrap_err(),
            Refusal::quoting("promo-reason-bundle-twice", "111")
        );
        assert_eq!(
            read_bundle(" ").unwrap_err().message,
            "promo-reason-bundle-empty"
        );
    }

    #[test]
    fn lists_of_codes_and_numbers() {
        let skus = read_skus("1, 2;3\n4  5").unwrap();
        assert_eq!(skus.len(), 5);
        assert_eq!(
            read_stores("№2, 3"),
            Ok(vec![StoreId::new(2).unwrap(), StoreId::new(3).unwrap()])
        );
        assert_eq!(
            read_stores("2, Тверская").unwrap_err(),
            Refusal::quoting("promo-reason-bad-number", "Тверская")
        );
        assert_eq!(
            read_brands("0").unwrap_err().message,
            "promo-reason-bad-number"
        );
        assert_eq!(read_categories(""), Ok(vec![]));
    }

    #[test]
    fn whole_numbers_limits_and_quantities() {
        assert_eq!(read_whole::<i32>("-5", -100, 100), Ok(-5));
        assert_eq!(read_whole::<u32>("10 000", 1, 10_000), Ok(10_000));
        assert!(read_whole::<u32>("1,5", 1, 10).is_err());
        assert_eq!(read_limit::<u32>(""), Ok(None));
        assert_eq!(read_limit::<u64>("3"), Ok(Some(3)));
        assert!(read_limit::<u32>("0").is_err());
        let q = read_quantity("1,5").unwrap().unwrap();
        assert_eq!(read_quantity(&show_quantity(q)), Ok(Some(q)));
        assert!(read_quantity("0").is_err());
        assert_eq!(
            read_date("2026-03-01"),
            Ok(NaiveDate::from_ymd_opt(2026, 3, 1))
        );
        assert!(read_date("01.03.2026").is_err());
    }
}
