//! How the pages write numbers, money, dates and labels, in Russian
//! conventions: `1 234,56 ₽`, `02.03.2026`, `12,5 %`.
//!
//! Money is formatted from integer kopecks with integer arithmetic, never
//! through a float, so a page shows exactly what the JSON statistics say.

use crate::wire::admin::Store;
use chrono::{DateTime, NaiveDate, Utc};
use chrono_tz::Tz;
use shared::money::{BasisPoints, Currency, Money, round_half_up};

/// Groups digits by thousands; a no-break space keeps a number on one line.
const GROUP_SEPARATOR: char = '\u{a0}';

/// `1 234,56 ₽` for roubles, `1 234,56 EUR` for other currencies.
#[must_use]
pub fn money(amount: Money, currency: Currency) -> String {
    let minor = amount.minor();
    let sign = if minor < 0 { "-" } else { "" };
    let abs = minor.unsigned_abs();
    let symbol = if currency == Currency::RUB {
        "₽"
    } else {
        currency.as_str()
    };
    format!(
        "{sign}{},{:02}{GROUP_SEPARATOR}{symbol}",
        grouped(abs / 100),
        abs % 100
    )
}

/// A count with its thousands grouped: `12 345`.
#[must_use]
pub fn count(n: i64) -> String {
    let sign = if n < 0 { "-" } else { "" };
    format!("{sign}{}", grouped(n.unsigned_abs()))
}

fn grouped(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, digit) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(GROUP_SEPARATOR);
        }
        out.push(digit);
    }
    out
}

/// A percentage in basis points: `10 %`, `12,5 %`.
#[must_use]
pub fn percent(bp: BasisPoints) -> String {
    let text = bp.to_string();
    let number = text.trim_end_matches('%').replace('.', ",");
    format!("{number}{GROUP_SEPARATOR}%")
}

/// A calendar day: `02.03.2026`.
#[must_use]
pub fn day(day: NaiveDate) -> String {
    day.format("%d.%m.%Y").to_string()
}

/// A short day for chart axes: `02.03`.
#[must_use]
pub fn short_day(day: NaiveDate) -> String {
    day.format("%d.%m").to_string()
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

/// An instant in a time zone: `02.03.2026 13:00`.
#[must_use]
pub fn instant(at: DateTime<Utc>, tz: Tz) -> String {
    at.with_timezone(&tz).format("%d.%m.%Y %H:%M").to_string()
}

/// A register's clock drift, its two largest units: `+5 с`,
/// `−3 мин 20 с`, `−266 дн 3 ч`.
#[must_use]
pub fn drift(secs: i64) -> String {
    let sign = if secs < 0 { "−" } else { "+" };
    let total = secs.unsigned_abs();
    let parts = [
        (total / 86_400, "дн"),
        (total % 86_400 / 3600, "ч"),
        (total % 3600 / 60, "мин"),
        (total % 60, "с"),
    ];
    let shown: Vec<String> = parts
        .iter()
        .skip_while(|(n, _)| *n == 0)
        .take(2)
        .filter(|(n, _)| *n > 0)
        .map(|(n, unit)| format!("{n}{GROUP_SEPARATOR}{unit}"))
        .collect();
    if shown.is_empty() {
        format!("0{GROUP_SEPARATOR}с")
    } else {
        format!("{sign}{}", shown.join(" "))
    }
}

/// The average of `stars_total` over `reviews`, to one decimal, rounded
/// half up: `4,3`. `None` without reviews.
#[must_use]
pub fn average_rating(stars_total: i64, reviews: i64) -> Option<String> {
    if reviews <= 0 {
        return None;
    }
    let tenths = round_half_up(i128::from(stars_total) * 10, i128::from(reviews));
    Some(format!("{},{}", tenths / 10, tenths % 10))
}

/// A gender code as the pages show it.
#[must_use]
pub fn gender(code: &str) -> &'static str {
    match code {
        "female" => "Женщины",
        "male" => "Мужчины",
        _ => "Не указан",
    }
}

/// An age band label of the statistics as the pages show it.
#[must_use]
pub fn age_band(label: &str) -> String {
    match label {
        "under 25" => "до 25".to_owned(),
        "unknown" => "возраст не указан".to_owned(),
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
}
