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
