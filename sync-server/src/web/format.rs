//! How the pages write numbers, money, dates and labels, in the request's
//! language ([`i18n::current`]): Russian `1 234,56 ₽`, `02.03.2026`,
//! `12,5 %`; English `₽1,234.56`, `2 Mar 2026`, `12.5%`. Money is roubles
//! and kopecks in both.
//!
//! Money is formatted from integer kopecks with integer arithmetic, never
//! through a float, so a page shows exactly what the JSON statistics say.

use crate::wire::admin::Store;
use chrono::{DateTime, NaiveDate, Utc};
use chrono_tz::Tz;
use shared::money::{BasisPoints, Currency, Money, round_half_up};

use crate::web::i18n::{self, Lang};

/// Groups digits by thousands in Russian; a no-break space keeps a number
/// on one line.
const GROUP_SEPARATOR: char = '\u{a0}';

/// The thousands separator and the decimal mark of the current language.
fn marks() -> (char, char) {
    match i18n::current() {
        Lang::Ru => (GROUP_SEPARATOR, ','),
        Lang::En => (',', '.'),
    }
}

/// The decimal mark of the page's language: `,` in Russian, `.` in
/// English.
#[must_use]
pub fn decimal_mark() -> char {
    marks().1
}

/// Roubles: `1 234,56 ₽` in Russian, `₽1,234.56` in English; other
/// currencies by their code: `1 234,56 EUR`, `EUR 1,234.56`.
#[must_use]
pub fn money(amount: Money, currency: Currency) -> String {
    let minor = amount.minor();
    let sign = if minor < 0 { "-" } else { "" };
    let abs = minor.unsigned_abs();
    let (_, decimal) = marks();
    let number = format!("{}{decimal}{:02}", grouped(abs / 100), abs % 100);
    match (i18n::current(), currency == Currency::RUB) {
        (Lang::Ru, true) => format!("{sign}{number}{GROUP_SEPARATOR}₽"),
        (Lang::Ru, false) => format!("{sign}{number}{GROUP_SEPARATOR}{}", currency.as_str()),
        (Lang::En, true) => format!("{sign}₽{number}"),
        (Lang::En, false) => format!("{sign}{}{GROUP_SEPARATOR}{number}", currency.as_str()),
    }
}

/// A count with its thousands grouped: `12 345`, `12,345`.
#[must_use]
pub fn count(n: i64) -> String {
    let sign = if n < 0 { "-" } else { "" };
    format!("{sign}{}", grouped(n.unsigned_abs()))
}

fn grouped(n: u64) -> String {
    let (separator, _) = marks();
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, digit) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(separator);
        }
        out.push(digit);
    }
    out
}

/// A percentage in basis points: `10 %`, `12,5 %`; `10%`, `12.5%`.
#[must_use]
pub fn percent(bp: BasisPoints) -> String {
    let text = bp.to_string();
    let number = text.trim_end_matches('%');
    match i18n::current() {
        Lang::Ru => format!("{}{GROUP_SEPARATOR}%", number.replace('.', ",")),
        Lang::En => format!("{number}%"),
    }
}

/// A calendar day: `02.03.2026`, `2 Mar 2026`.
#[must_use]
pub fn day(day: NaiveDate) -> String {
    match i18n::current() {
        Lang::Ru => day.format("%d.%m.%Y").to_string(),
        Lang::En => day.format("%-d %b %Y").to_string(),
    }
}

/// A short day for chart axes: `02.03`, `2 Mar`.
#[must_use]
pub fn short_day(day: NaiveDate) -> String {
    match i18n::current() {
        Lang::Ru => day.format("%d.%m").to_string(),
        Lang::En => day.format("%-d %b").to_string(),
    }
}

/// The zone a merchant's pages show times in: its first store's, else UTC.
#[must_use]
pub fn display_zone(stores: &[Store]) -> Tz {
    stores
        .iter()
        .map(|s| s.timezone.tz())
        .next()
        .unwrap_or(Tz::UTC)
}

/// An instant in a time zone: `02.03.2026 13:00`, `2 Mar 2026 13:00`.
#[must_use]
pub fn instant(at: DateTime<Utc>, tz: Tz) -> String {
    let local = at.with_timezone(&tz);
    match i18n::current() {
        Lang::Ru => local.format("%d.%m.%Y %H:%M").to_string(),
        Lang::En => local.format("%-d %b %Y %H:%M").to_string(),
    }
}

/// A register's clock drift, its two largest units: `+5 с`,
/// `−3 мин 20 с`, `−266 дн 3 ч` (`−266 d 3 h` in English).
#[must_use]
pub fn drift(secs: i64) -> String {
    let sign = if secs < 0 { "−" } else { "+" };
    let total = secs.unsigned_abs();
    let (d, h, min, s) = match i18n::current() {
        Lang::Ru => ("дн", "ч", "мин", "с"),
        Lang::En => ("d", "h", "min", "s"),
    };
    let parts = [
        (total / 86_400, d),
        (total % 86_400 / 3600, h),
        (total % 3600 / 60, min),
        (total % 60, s),
    ];
    let shown: Vec<String> = parts
        .iter()
        .skip_while(|(n, _)| *n == 0)
        .take(2)
        .filter(|(n, _)| *n > 0)
        .map(|(n, unit)| format!("{n}{GROUP_SEPARATOR}{unit}"))
        .collect();
    if shown.is_empty() {
        format!("0{GROUP_SEPARATOR}{s}")
    } else {
        format!("{sign}{}", shown.join(" "))
    }
}

/// The average of `stars_total` over `reviews`, to one decimal, rounded
/// half up: `4,3`, `4.3`. `None` without reviews.
#[must_use]
pub fn average_rating(stars_total: i64, reviews: i64) -> Option<String> {
    if reviews <= 0 {
        return None;
    }
    let tenths = round_half_up(i128::from(stars_total) * 10, i128::from(reviews));
    let (_, decimal) = marks();
    Some(format!("{}{decimal}{}", tenths / 10, tenths % 10))
}

/// An amount typed in roubles (`1500`, `1 500,50`, `1500.5`), in kopecks;
/// none when it is not one.
#[must_use]
pub fn parse_roubles(text: &str) -> Option<i64> {
    let digits: String = text
        .chars()
        .filter(|c| !c.is_whitespace() && *c != '\u{a0}' && *c != '₽')
        .collect();
    let (whole, fraction) = match digits.split_once([',', '.']) {
        Some((w, f)) => (w, f),
        None => (digits.as_str(), ""),
    };
    if whole.is_empty()
        || !whole.bytes().all(|b| b.is_ascii_digit())
        || fraction.len() > 2
        || !fraction.bytes().all(|b| b.is_ascii_digit())
    {
        return None;
    }
    let kopecks: i64 = format!("{fraction:0<2}").parse().ok()?;
    whole
        .parse::<i64>()
        .ok()?
        .checked_mul(100)?
        .checked_add(kopecks)
}

/// A gender code as the pages show it.
#[must_use]
pub fn gender(code: &str) -> String {
    i18n::t(match code {
        "female" => "gender-female",
        "male" => "gender-male",
        _ => "gender-unknown",
    })
}

/// An age band label of the statistics as the pages show it.
#[must_use]
pub fn age_band(label: &str) -> String {
    match label {
        "under 25" => i18n::t("age-under-25"),
        "unknown" => i18n::t("age-unknown"),
        band => band.replace('-', "–"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rub(minor: i64) -> String {
        money(Money::from_minor(minor).unwrap(), Currency::RUB)
    }

    #[test]
    fn money_is_grouped_with_comma_kopecks() {
        assert_eq!(rub(0), "0,00\u{a0}₽");
        assert_eq!(rub(5), "0,05\u{a0}₽");
        assert_eq!(rub(123_456), "1\u{a0}234,56\u{a0}₽");
        assert_eq!(rub(-100_000_000), "-1\u{a0}000\u{a0}000,00\u{a0}₽");
        let eur = money(Money::from_minor(1999).unwrap(), "EUR".parse().unwrap());
        assert_eq!(eur, "19,99\u{a0}EUR");
    }

    #[test]
    fn roubles_are_read_with_either_decimal_mark_and_spaces() {
        assert_eq!(parse_roubles("1500"), Some(150_000));
        assert_eq!(parse_roubles("1 500,5"), Some(150_050));
        assert_eq!(parse_roubles("1\u{a0}500.05 ₽"), Some(150_005));
        for bad in ["", "-5", "1,005", "abc", "1,2,3", ",50"] {
            assert_eq!(parse_roubles(bad), None, "{bad}");
        }
    }

    #[test]
    fn counts_percents_and_ratings() {
        assert_eq!(count(999), "999");
        assert_eq!(count(1000), "1\u{a0}000");
        assert_eq!(count(-1_234_567), "-1\u{a0}234\u{a0}567");
        assert_eq!(percent(BasisPoints::new(1000).unwrap()), "10\u{a0}%");
        assert_eq!(percent(BasisPoints::new(1250).unwrap()), "12,5\u{a0}%");
        assert_eq!(average_rating(13, 3).as_deref(), Some("4,3"));
        assert_eq!(average_rating(9, 2).as_deref(), Some("4,5"));
        assert_eq!(average_rating(5, 1).as_deref(), Some("5,0"));
        assert_eq!(average_rating(0, 0), None);
    }

    #[test]
    fn days_and_instants_follow_the_time_zone() {
        let at: DateTime<Utc> = "2026-03-01T22:30:00Z".parse().unwrap();
        assert_eq!(instant(at, chrono_tz::Europe::Moscow), "02.03.2026 01:30");
        assert_eq!(day(at.date_naive()), "01.03.2026");
        assert_eq!(age_band("25-34"), "25–34");
        assert_eq!(drift(0), "0\u{a0}с");
        assert_eq!(drift(5), "+5\u{a0}с");
        assert_eq!(drift(-200), "−3\u{a0}мин 20\u{a0}с");
        assert_eq!(
            drift(-(266 * 86_400 + 3 * 3600 + 59)),
            "−266\u{a0}дн 3\u{a0}ч"
        );
        assert_eq!(drift(86_400 + 7), "+1\u{a0}дн");
    }

    #[test]
    fn english_pages_write_roubles_numbers_and_days_in_english() {
        i18n::with_lang(Lang::En, || {
            assert_eq!(rub(123_456), "₽1,234.56");
            assert_eq!(rub(-5), "-₽0.05");
            let eur = money(Money::from_minor(199_999).unwrap(), "EUR".parse().unwrap());
            assert_eq!(eur, "EUR\u{a0}1,999.99");
            assert_eq!(count(-1_234_567), "-1,234,567");
            assert_eq!(percent(BasisPoints::new(1250).unwrap()), "12.5%");
            assert_eq!(average_rating(13, 3).as_deref(), Some("4.3"));
            let at: DateTime<Utc> = "2026-03-01T22:30:00Z".parse().unwrap();
            assert_eq!(instant(at, chrono_tz::Europe::Moscow), "2 Mar 2026 01:30");
            assert_eq!(day(at.date_naive()), "1 Mar 2026");
            assert_eq!(short_day(at.date_naive()), "1 Mar");
            assert_eq!(drift(-200), "−3\u{a0}min 20\u{a0}s");
            assert_eq!(gender("female"), "Women");
            assert_eq!(age_band("unknown"), "age not given");
        });
    }
}
