//! How a customer is identified at the till besides the phone token: a
//! printed loyalty card (EAN-13 with a check digit) or a phone number typed
//! in. Also the customer attributes the CRM statistics group by.

use std::fmt;

use chrono::{Datelike, NaiveDate};
use serde::{Deserialize, Serialize};

use crate::ids::CustomerId;

/// A card number or phone number that failed to parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdentityError {
    /// Not 13 digits.
    #[error("card number {0:?} must be 13 digits")]
    CardSyntax(String),
    /// Not a month and day (`MM-DD`).
    #[error("birthday {0:?} must be a month and day, MM-DD")]
    MonthDay(String),
    /// The EAN-13 check digit does not match.
    #[error("card number {0:?} has a wrong check digit")]
    CardCheckDigit(String),
    /// Not a phone number.
    #[error("phone number {0:?} must have 10 to 15 digits")]
    Phone(String),
    /// Not an e-mail address.
    #[error("e-mail {0:?} is not an address")]
    Email(String),
}

/// An EAN-13 code with a valid check digit.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Ean13(String);

impl Ean13 {
    /// The in-store prefix of loyalty cards (EAN range 20–29 is for internal use).
    const CARD_PREFIX: &'static str = "27";

    /// Parses 13 digits and checks the check digit.
    pub fn parse(s: &str) -> Result<Self, IdentityError> {
        if s.len() != 13 || !s.bytes().all(|b| b.is_ascii_digit()) {
            return Err(IdentityError::CardSyntax(s.to_owned()));
        }
        let (body, check) = s.split_at(12);
        if check_digit(body).to_string() != check {
            return Err(IdentityError::CardCheckDigit(s.to_owned()));
        }
        Ok(Ean13(s.to_owned()))
    }

    /// The printed loyalty card number of a customer: prefix `27`, the id in
    /// ten digits, then the check digit.
    #[must_use]
    pub fn card_for(customer: CustomerId) -> Ean13 {
        let body = format!(
            "{}{:010}",
            Self::CARD_PREFIX,
            customer.get() % 10_000_000_000
        );
        let check = check_digit(&body);
        Ean13(format!("{body}{check}"))
    }

    /// Whether this code is in the loyalty-card range rather than a product's.
    #[must_use]
    pub fn is_loyalty_card(&self) -> bool {
        self.0.starts_with(Self::CARD_PREFIX)
    }

    /// The digits.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// The GS1 check digit (EAN, UPC, GTIN, SSCC, GLN) of the digits before it:
/// weights 3 and 1 alternating from the right. `body` must be ASCII digits.
pub(crate) fn check_digit(body: &str) -> u32 {
    let sum: u32 = body
        .bytes()
        .rev()
        .enumerate()
        .map(|(i, b)| u32::from(b.wrapping_sub(b'0')) * if i % 2 == 0 { 3 } else { 1 })
        .sum();
    (10 - sum % 10) % 10
}

impl TryFrom<String> for Ean13 {
    type Error = IdentityError;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        Self::parse(&s)
    }
}

impl From<Ean13> for String {
    fn from(e: Ean13) -> String {
        e.0
    }
}

impl fmt::Display for Ean13 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A phone number normalised to `+` and digits. A Russian `8XXXXXXXXXX`
/// becomes `+7XXXXXXXXXX`; a bare ten-digit number gets `+7`.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct PhoneNumber(String);

impl PhoneNumber {
    /// Parses a number typed with spaces, dashes, dots or parentheses.
    pub fn parse(s: &str) -> Result<Self, IdentityError> {
        let err = || IdentityError::Phone(s.to_owned());
        let trimmed = s.trim();
        let plus = trimmed.starts_with('+');
        let mut digits = String::with_capacity(16);
        for (i, c) in trimmed.chars().enumerate() {
            match c {
                '0'..='9' => digits.push(c),
                '+' if i == 0 => {}
                ' ' | '-' | '(' | ')' | '.' => {}
                _ => return Err(err()),
            }
        }
        let normalised = match (plus, digits.len()) {
            (false, 11) if digits.starts_with('8') => format!("7{}", &digits[1..]),
            (false, 10) => format!("7{digits}"),
            (_, 10..=15) => digits,
            _ => return Err(err()),
        };
        Ok(PhoneNumber(format!("+{normalised}")))
    }

    /// The normalised number.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for PhoneNumber {
    type Error = IdentityError;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        Self::parse(&s)
    }
}

impl From<PhoneNumber> for String {
    fn from(p: PhoneNumber) -> String {
        p.0
    }
}

impl fmt::Display for PhoneNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl PhoneNumber {
    /// The number hashed with a merchant's salt: what a till keeps to find
    /// a customer by a typed phone without holding the number (SHA-256 over
    /// a domain tag, the salt and the normalised number).
    #[must_use]
    pub fn salted_hash(&self, salt: &str) -> crate::crypto::Hash256 {
        let mut bytes = Vec::with_capacity(32 + salt.len() + self.0.len());
        bytes.extend_from_slice(b"loyalty phone v1\0");
        bytes.extend_from_slice(salt.as_bytes());
        bytes.push(0);
        bytes.extend_from_slice(self.0.as_bytes());
        crate::crypto::sha256(&bytes)
    }
}

/// The first word of a name: all a till keeps of it, to greet the
/// customer.
#[must_use]
pub fn first_name(name: &str) -> String {
    name.split_whitespace()
        .next()
        .unwrap_or_default()
        .to_owned()
}

/// A birthday without its year (`MM-DD` on the wire): what a till keeps
/// of a birth date for birthday windows. 29 February falls on 28 February
/// in other years.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct MonthDay {
    month: u32,
    day: u32,
}

impl MonthDay {
    /// The month and day of a date.
    #[must_use]
    pub fn of(date: NaiveDate) -> Self {
        MonthDay {
            month: date.month(),
            day: date.day(),
        }
    }

    /// A month and day that exist in a leap year.
    #[must_use]
    pub fn new(month: u32, day: u32) -> Option<Self> {
        NaiveDate::from_ymd_opt(2000, month, day).map(Self::of)
    }

    /// The month, 1 to 12.
    #[must_use]
    pub fn month(self) -> u32 {
        self.month
    }

    /// The day of the month.
    #[must_use]
    pub fn day(self) -> u32 {
        self.day
    }

    /// The day in `year` (28 February for 29 February outside leap years).
    #[must_use]
    pub fn in_year(self, year: i32) -> Option<NaiveDate> {
        NaiveDate::from_ymd_opt(year, self.month, self.day)
            .or_else(|| NaiveDate::from_ymd_opt(year, 2, 28).filter(|_| self.month == 2))
    }
}

impl TryFrom<String> for MonthDay {
    type Error = IdentityError;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        let err = || IdentityError::MonthDay(s.clone());
        let (m, d) = s.split_once('-').ok_or_else(err)?;
        let (m, d) = (m.parse().map_err(|_| err())?, d.parse().map_err(|_| err())?);
        MonthDay::new(m, d).ok_or_else(err)
    }
}

impl From<MonthDay> for String {
    fn from(m: MonthDay) -> String {
        format!("{:02}-{:02}", m.month, m.day)
    }
}

/// What a till keeps to know a customer's age: the full years they turn
/// on their birthday in one year, so the age on any day follows with the
/// [`MonthDay`], without the birth date.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AgeAnchor {
    /// The year.
    pub year: i32,
    /// The age they turn on their birthday in `year`.
    pub turns: u32,
}

impl AgeAnchor {
    /// The anchor of a birth date in `year`.
    #[must_use]
    pub fn of(birth: NaiveDate, year: i32) -> Option<Self> {
        let turns = u32::try_from(year - birth.year()).ok()?;
        Some(AgeAnchor { year, turns })
    }

    /// Full years of age on `day` of someone with this birthday; `None`
    /// before they were born.
    #[must_use]
    pub fn age_on(self, birthday: MonthDay, day: NaiveDate) -> Option<u32> {
        let mut years = i64::from(self.turns) + i64::from(day.year()) - i64::from(self.year);
        if (day.month(), day.day()) < (birthday.month, birthday.day) {
            years -= 1;
        }
        u32::try_from(years).ok()
    }
}

/// An e-mail address, lower-cased. Checked only for shape: one `@`, a dot in
/// the domain, no spaces.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Email(String);

impl Email {
    /// Parses an address.
    pub fn parse(s: &str) -> Result<Self, IdentityError> {
        let s = s.trim().to_lowercase();
        let ok = match s.split_once('@') {
            Some((local, domain)) => {
                !local.is_empty()
                    && domain.contains('.')
                    && !domain.starts_with('.')
                    && !domain.ends_with('.')
                    && !domain.contains('@')
                    && !s.contains(char::is_whitespace)
                    && s.len() <= 254
            }
            None => false,
        };
        if ok {
            Ok(Email(s))
        } else {
            Err(IdentityError::Email(s))
        }
    }

    /// The address.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for Email {
    type Error = IdentityError;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        Self::parse(&s)
    }
}

impl From<Email> for String {
    fn from(e: Email) -> String {
        e.0
    }
}

/// A customer's gender as they gave it.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize,
)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum Gender {
    /// Female.
    Female,
    /// Male.
    Male,
    /// Not given.
    #[default]
    Unspecified,
}

impl Gender {
    /// The stable code used in storage and statistics.
    #[must_use]
    pub const fn code(self) -> &'static str {
        match self {
            Gender::Female => "female",
            Gender::Male => "male",
            Gender::Unspecified => "unspecified",
        }
    }

    /// Parses the code.
    #[must_use]
    pub fn from_code(code: &str) -> Gender {
        match code {
            "female" => Gender::Female,
            "male" => Gender::Male,
            _ => Gender::Unspecified,
        }
    }
}

/// The age bands the statistics group customers by.
pub const AGE_BANDS: [(&str, u32, u32); 6] = [
    ("under 25", 0, 24),
    ("25-34", 25, 34),
    ("35-44", 35, 44),
    ("45-54", 45, 54),
    ("55-64", 55, 64),
    ("65+", 65, u32::MAX),
];

/// Full years between a birth date and a day.
#[must_use]
pub fn age_on(birth: NaiveDate, day: NaiveDate) -> u32 {
    let mut years = day.year() - birth.year();
    if (day.month(), day.day()) < (birth.month(), birth.day()) {
        years -= 1;
    }
    u32::try_from(years).unwrap_or(0)
}

/// The age band label for a birth date on a day, or `"unknown"`.
#[must_use]
pub fn age_band(birth: Option<NaiveDate>, day: NaiveDate) -> &'static str {
    let Some(birth) = birth else { return "unknown" };
    let age = age_on(birth, day);
    AGE_BANDS
        .iter()
        .find(|(_, lo, hi)| (*lo..=*hi).contains(&age))
        .map_or("unknown", |(label, _, _)| label)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn ean13_check_digit() {
        assert!(Ean13::parse("5901234123457").is_ok());
        assert_eq!(
            Ean13::parse("5901234123458"),
            Err(IdentityError::CardCheckDigit("5901234123458".into()))
        );
        assert!(Ean13::parse("59012341234").is_err());
    }

    #[test]
    fn phone_numbers_normalise() {
        assert_eq!(
            PhoneNumber::parse("8 (916) 123-45-67").unwrap().as_str(),
            "+79161234567"
        );
        assert_eq!(
            PhoneNumber::parse("+7 916 123 45 67").unwrap().as_str(),
            "+79161234567"
        );
        assert_eq!(
            PhoneNumber::parse("9161234567").unwrap().as_str(),
            "+79161234567"
        );
        assert!(PhoneNumber::parse("12345").is_err());
        assert!(PhoneNumber::parse("+7 916 abc").is_err());
    }

    #[test]
    fn age_bands() {
        let d = |y, m, dd| NaiveDate::from_ymd_opt(y, m, dd).unwrap();
        assert_eq!(age_on(d(2000, 6, 15), d(2026, 6, 14)), 25);
        assert_eq!(age_on(d(2000, 6, 15), d(2026, 6, 15)), 26);
        assert_eq!(age_band(Some(d(2003, 1, 1)), d(2026, 11, 23)), "under 25");
        assert_eq!(age_band(None, d(2026, 11, 23)), "unknown");
    }

    #[test]
    fn a_birthday_and_an_anchor_give_the_age_of_the_birth_date() {
        let d = |y, m, dd| NaiveDate::from_ymd_opt(y, m, dd).unwrap();
        for birth in [
            d(2000, 6, 15),
            d(1996, 2, 29),
            d(1990, 1, 1),
            d(1985, 12, 31),
        ] {
            let birthday = MonthDay::of(birth);
            let text = String::from(birthday);
            assert_eq!(MonthDay::try_from(text).unwrap(), birthday);
            for year in [2024, 2026] {
                let anchor = AgeAnchor::of(birth, year).unwrap();
                for day in [
                    d(2025, 2, 28),
                    d(2025, 3, 1),
                    d(2026, 6, 14),
                    d(2026, 6, 15),
                    d(2028, 2, 29),
                    d(2026, 12, 31),
                    d(2027, 1, 1),
                ] {
                    assert_eq!(
                        anchor.age_on(birthday, day),
                        Some(age_on(birth, day)),
                        "{birth} {year} {day}"
                    );
                }
            }
        }
        assert_eq!(
            AgeAnchor::of(d(2020, 6, 1), 2026)
                .unwrap()
                .age_on(MonthDay::of(d(2020, 6, 1)), d(2020, 5, 1)),
            None
        );
        assert!(MonthDay::try_from("02-30".to_owned()).is_err());
        assert!(MonthDay::try_from("1990-09-23".to_owned()).is_err());
        assert_eq!(
            MonthDay::new(2, 29).unwrap().in_year(2025),
            Some(d(2025, 2, 28))
        );
    }

    #[test]
    fn a_phone_hash_depends_on_the_salt_and_the_number_only() {
        let typed = PhoneNumber::parse("8 (916) 123-45-67").unwrap();
        let stored = PhoneNumber::parse("+79161234567").unwrap();
        assert_eq!(typed.salted_hash("a"), stored.salted_hash("a"));
        assert_ne!(stored.salted_hash("a"), stored.salted_hash("b"));
        assert_eq!(first_name("  Anna Petrova "), "Anna");
        assert_eq!(first_name(""), "");
    }

    proptest! {
        #[test]
        fn every_issued_card_number_parses_as_a_loyalty_card(id in 1i64..10_000_000_000) {
            let card = Ean13::card_for(CustomerId::new(id).unwrap());
            let parsed = Ean13::parse(card.as_str()).unwrap();
            prop_assert!(parsed.is_loyalty_card());
        }

        #[test]
        fn phone_parse_never_panics(s in any::<String>()) {
            let _ = PhoneNumber::parse(&s);
        }
    }
}
