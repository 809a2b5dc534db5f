//! Money in integer minor units (kopecks), percentages in basis points and
//! quantities in thousandths. No floats anywhere.
//!
//! # Rounding, declared once
//!
//! Every rounding in the crate goes through [`round_half_up`] or
//! [`round_down`], and which one applies where is declared here:
//!
//! | what | rule |
//! | --- | --- |
//! | a line amount, `unit_price × quantity` | half up ([`Quantity::extend`]) |
//! | a special price times a quantity | half up |
//! | a percentage of money taken off (promotions, tier, N-th item, the redemption cap) | **down**: never more than the exact percentage, so a check split in two never gains a kopeck over the whole |
//! | a fixed amount off per unit of a weighed line | down |
//! | the value of part of a line's units (buy X get Y, bundles, per-check unit caps) | down |
//! | points earned (`points` per full `per`) and multiplied points | down |
//! | points → money at redemption | down, whole points only |
//! | a partial return: refund of a line's amount and total | half up of the *cumulative* share returned, so the returns of a line always add up to exactly its original figures |
//! | a partial return: points clawed back and points restored | down of the cumulative share, likewise exact on a full return |
//! | spreading one amount over lines (check discounts, points, refunds by rule) | largest remainder, [`crate::pricing::allocate`] |
//!
//! Points are plain `i64` counts; computations on them are done in `i128`
//! and clamped to [`MAX_POINTS`].

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// Errors raised when parsing amounts, percentages and quantities.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AmountError {
    /// The amount is outside ±[`Money::MAX_MINOR`].
    #[error("amount {0} is outside the money range ±{max}", max = Money::MAX_MINOR)]
    MoneyOutOfRange(i128),
    /// The amount must not be negative here.
    #[error("amount {0} must not be negative")]
    Negative(i64),
    /// A percentage above 100 %.
    #[error("percentage {0} bp is above 10000 bp (100 %)")]
    PercentOutOfRange(u32),
    /// A quantity that is zero, negative or too large.
    #[error("quantity must be above 0 and at most {max} units, got {0}", max = Quantity::MAX_MILLI / 1000)]
    QuantityOutOfRange(String),
    /// A quantity that is not a number with at most three decimals.
    #[error("quantity {0:?} is not a number with at most 3 decimals")]
    QuantitySyntax(String),
    /// A currency code that is not three upper-case letters.
    #[error("currency {0:?} is not a three-letter ISO code")]
    Currency(String),
}

/// Rounds `numerator / denominator` half away from zero. `denominator > 0`.
#[must_use]
pub fn round_half_up(numerator: i128, denominator: i128) -> i128 {
    debug_assert!(denominator > 0);
    // Most figures fit in 64 bits, whose division is far cheaper.
    if let (Ok(n), Ok(d)) = (i64::try_from(numerator), i64::try_from(denominator)) {
        let (q, r) = (i128::from(n / d), i128::from(n % d));
        return if 2 * r.abs() >= denominator {
            q + numerator.signum()
        } else {
            q
        };
    }
    let q = numerator / denominator;
    let r = numerator % denominator;
    if 2 * r.abs() >= denominator {
        q + numerator.signum()
    } else {
        q
    }
}

/// Rounds `numerator / denominator` down (towards negative infinity).
/// `denominator > 0`.
#[must_use]
pub fn round_down(numerator: i128, denominator: i128) -> i128 {
    debug_assert!(denominator > 0);
    // Most figures fit in 64 bits, whose division is far cheaper.
    match (i64::try_from(numerator), i64::try_from(denominator)) {
        (Ok(n), Ok(d)) => i128::from(n.div_euclid(d)),
        _ => numerator.div_euclid(denominator),
    }
}

/// Narrows a wide result that the caller's bounds keep within `i64` (a
/// part of a validated amount, a share of one, a count of lines).
///
/// Fallback: should a defect break those bounds, the result saturates at
/// `i64::MIN`/`i64::MAX` instead of wrapping, far outside
/// ±[`Money::MAX_MINOR`], so the figure it reaches fails
/// [`Money::from_minor`] and the check is refused with a typed error
/// rather than priced with a wrapped or zero amount.
#[must_use]
pub(crate) fn narrow_bounded(wide: i128) -> i64 {
    i64::try_from(wide).unwrap_or(if wide < 0 { i64::MIN } else { i64::MAX })
}

/// Narrows an index or count bounded by the basket's or ruleset's limits
/// ([`crate::basket::MAX_LINES`], the promotions of a ruleset) to `u32`.
/// Fallback: `u32::MAX`, which no index reaches, so a lookup with it fails
/// loudly rather than aliasing another line.
#[must_use]
pub(crate) fn narrow_index(i: usize) -> u32 {
    u32::try_from(i).unwrap_or(u32::MAX)
}

/// The largest number of points any computation yields; wider results are
/// clamped to it (no real programme comes near it).
pub const MAX_POINTS: i64 = 1_000_000_000_000_000;

/// Clamps a wide points figure into `±MAX_POINTS`.
#[must_use]
pub fn clamp_points(points: i128) -> i64 {
    let clamped = points.clamp(-i128::from(MAX_POINTS), i128::from(MAX_POINTS));
    // Clamped to ±MAX_POINTS, so it fits; the fallback is the same bound.
    i64::try_from(clamped).unwrap_or(if points < 0 { -MAX_POINTS } else { MAX_POINTS })
}

/// An amount of money in minor units (kopecks), within ±[`Money::MAX_MINOR`].
///
/// Prices include VAT, as on Russian receipts.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
#[serde(try_from = "i64", into = "i64")]
pub struct Money(i64);

impl Money {
    /// The largest magnitude accepted: 10 billion roubles in kopecks.
    pub const MAX_MINOR: i64 = 1_000_000_000_000;
    /// Zero.
    pub const ZERO: Money = Money(0);

    /// Parses minor units, rejecting values outside the range.
    pub fn from_minor(minor: i64) -> Result<Self, AmountError> {
        Self::from_wide(i128::from(minor))
    }

    /// Parses a wide intermediate result, rejecting values outside the range.
    pub fn from_wide(minor: i128) -> Result<Self, AmountError> {
        if minor.abs() > i128::from(Self::MAX_MINOR) {
            return Err(AmountError::MoneyOutOfRange(minor));
        }
        // In range, so it fits in i64.
        let narrow = i64::try_from(minor).map_err(|_| AmountError::MoneyOutOfRange(minor))?;
        Ok(Money(narrow))
    }

    /// Parses a non-negative amount such as a unit price.
    pub fn non_negative(minor: i64) -> Result<Self, AmountError> {
        let m = Self::from_minor(minor)?;
        if minor < 0 {
            return Err(AmountError::Negative(minor));
        }
        Ok(m)
    }

    /// The amount in minor units.
    #[must_use]
    pub const fn minor(self) -> i64 {
        self.0
    }

    /// Adds, failing when the sum leaves the range.
    pub fn checked_add(self, other: Money) -> Result<Money, AmountError> {
        Self::from_wide(i128::from(self.0) + i128::from(other.0))
    }

    /// Subtracts, failing when the difference leaves the range.
    pub fn checked_sub(self, other: Money) -> Result<Money, AmountError> {
        Self::from_wide(i128::from(self.0) - i128::from(other.0))
    }

    /// `self × bp / 10000`, rounded half up.
    #[must_use]
    pub fn percent(self, bp: BasisPoints) -> Money {
        // |self| ≤ MAX and bp ≤ 10000, so the result stays in range.
        Money(narrow_bounded(round_half_up(
            i128::from(self.0) * i128::from(bp.0),
            10_000,
        )))
    }

    /// `self × bp / 10000`, rounded down: a discount never exceeds the exact
    /// percentage.
    #[must_use]
    pub fn percent_down(self, bp: BasisPoints) -> Money {
        // |self| ≤ MAX and bp ≤ 10000, so the result stays in range.
        Money(narrow_bounded(round_down(
            i128::from(self.0) * i128::from(bp.0),
            10_000,
        )))
    }

    /// Negates the amount (always in range).
    #[must_use]
    pub const fn negate(self) -> Money {
        Money(-self.0)
    }
}

impl TryFrom<i64> for Money {
    type Error = AmountError;
    fn try_from(v: i64) -> Result<Self, Self::Error> {
        Self::from_minor(v)
    }
}

impl From<Money> for i64 {
    fn from(m: Money) -> i64 {
        m.0
    }
}

impl Money {
    /// The amount's text as [`Display`](fmt::Display) prints it, in parts: the
    /// sign, the roubles (written into `roubles`) and the kopecks' two digits.
    fn parts(self, roubles: &mut itoa::Buffer) -> (&'static str, &str, &'static str) {
        const PAIRS: &str = "00010203040506070809101112131415161718192021222324252627282930313233343536373839404142434445464748495051525354555657585960616263646566676869707172737475767778798081828384858687888990919293949596979899";
        let abs = self.0.unsigned_abs();
        let at = usize::try_from(abs % 100).unwrap_or(0) * 2;
        let sign = if self.0 < 0 { "-" } else { "" };
        (sign, roubles.format(abs / 100), &PAIRS[at..at + 2])
    }

    /// Appends the amount as [`Display`](fmt::Display) prints it, without
    /// the formatting machinery: a receipt and an explanation print
    /// hundreds of amounts.
    pub(crate) fn push_to(self, out: &mut String) {
        let mut buffer = itoa::Buffer::new();
        let (sign, roubles, kopecks) = self.parts(&mut buffer);
        // At most a sign, 17 digits, a point and 2 digits.
        out.reserve(21);
        out.push_str(sign);
        out.push_str(roubles);
        out.push('.');
        out.push_str(kopecks);
    }
}

impl fmt::Display for Money {
    /// Formats as `1234.56`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut buffer = itoa::Buffer::new();
        let (sign, roubles, kopecks) = self.parts(&mut buffer);
        f.write_str(sign)?;
        f.write_str(roubles)?;
        f.write_str(".")?;
        f.write_str(kopecks)
    }
}

/// A three-letter ISO 4217 currency code, such as `RUB`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Currency([u8; 3]);

impl Currency {
    /// Russian rouble.
    pub const RUB: Currency = Currency(*b"RUB");

    /// The code as text.
    #[must_use]
    pub fn as_str(&self) -> &str {
        // Only ASCII upper-case letters are ever stored.
        std::str::from_utf8(&self.0).unwrap_or("???")
    }
}

impl FromStr for Currency {
    type Err = AmountError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let b = s.as_bytes();
        if b.len() == 3 && b.iter().all(u8::is_ascii_uppercase) {
            Ok(Currency([b[0], b[1], b[2]]))
        } else {
            Err(AmountError::Currency(s.to_owned()))
        }
    }
}

impl TryFrom<String> for Currency {
    type Error = AmountError;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        s.parse()
    }
}

impl From<Currency> for String {
    fn from(c: Currency) -> String {
        c.as_str().to_owned()
    }
}

impl fmt::Display for Currency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A percentage in basis points: 10000 bp = 100 %.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
#[serde(try_from = "u32", into = "u32")]
pub struct BasisPoints(u32);

impl BasisPoints {
    /// 100 %.
    pub const FULL: BasisPoints = BasisPoints(10_000);

    /// Parses a value in 0..=10000.
    pub fn new(bp: u32) -> Result<Self, AmountError> {
        if bp > 10_000 {
            Err(AmountError::PercentOutOfRange(bp))
        } else {
            Ok(BasisPoints(bp))
        }
    }

    /// The value in basis points.
    #[must_use]
    pub const fn get(self) -> u32 {
        self.0
    }
}

impl TryFrom<u32> for BasisPoints {
    type Error = AmountError;
    fn try_from(v: u32) -> Result<Self, Self::Error> {
        Self::new(v)
    }
}

impl From<BasisPoints> for u32 {
    fn from(b: BasisPoints) -> u32 {
        b.0
    }
}

impl fmt::Display for BasisPoints {
    /// Formats as `12.5%`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let whole = self.0 / 100;
        let frac = self.0 % 100;
        if frac == 0 {
            write!(f, "{whole}%")
        } else if frac.is_multiple_of(10) {
            write!(f, "{whole}.{}%", frac / 10)
        } else {
            write!(f, "{whole}.{frac:02}%")
        }
    }
}

/// A positive quantity in thousandths of a unit (pieces or kilograms).
///
/// On the wire it is a JSON integer (whole units) or a decimal string with
/// at most three decimals (`"1.5"`); JSON floats are refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Quantity(u64);

impl Quantity {
    /// 100 000 units.
    pub const MAX_MILLI: u64 = 100_000_000;
    /// One unit.
    pub const ONE: Quantity = Quantity(1000);

    /// Parses thousandths of a unit.
    pub fn from_milli(milli: u64) -> Result<Self, AmountError> {
        if milli == 0 || milli > Self::MAX_MILLI {
            Err(AmountError::QuantityOutOfRange(format!("{milli}/1000")))
        } else {
            Ok(Quantity(milli))
        }
    }

    /// Parses whole units.
    pub fn from_units(units: i64) -> Result<Self, AmountError> {
        let milli = u64::try_from(units)
            .ok()
            .and_then(|u| u.checked_mul(1000))
            .ok_or_else(|| AmountError::QuantityOutOfRange(units.to_string()))?;
        Self::from_milli(milli).map_err(|_| AmountError::QuantityOutOfRange(units.to_string()))
    }

    /// The quantity in thousandths.
    #[must_use]
    pub const fn milli(self) -> u64 {
        self.0
    }

    /// `unit_price × quantity`, rounded half up to minor units.
    pub fn extend(self, unit_price: Money) -> Result<Money, AmountError> {
        Money::from_wide(round_half_up(
            i128::from(unit_price.minor()) * i128::from(self.0),
            1000,
        ))
    }
}

impl FromStr for Quantity {
    type Err = AmountError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let syntax = || AmountError::QuantitySyntax(s.to_owned());
        let (whole, frac) = s.split_once('.').unwrap_or((s, ""));
        if whole.is_empty()
            || frac.len() > 3
            || !whole.bytes().all(|b| b.is_ascii_digit())
            || !frac.bytes().all(|b| b.is_ascii_digit())
            || whole.len() > 9
        {
            return Err(if s.starts_with('-') {
                AmountError::QuantityOutOfRange(s.to_owned())
            } else {
                syntax()
            });
        }
        let whole: u64 = whole.parse().map_err(|_| syntax())?;
        let frac_milli: u64 = if frac.is_empty() {
            0
        } else {
            format!("{frac:0<3}").parse().map_err(|_| syntax())?
        };
        Quantity::from_milli(whole * 1000 + frac_milli)
            .map_err(|_| AmountError::QuantityOutOfRange(s.to_owned()))
    }
}

impl fmt::Display for Quantity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let whole = self.0 / 1000;
        let frac = self.0 % 1000;
        if frac == 0 {
            write!(f, "{whole}")
        } else {
            let s = format!("{frac:03}");
            write!(f, "{whole}.{}", s.trim_end_matches('0'))
        }
    }
}

impl Serialize for Quantity {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        if self.0.is_multiple_of(1000) {
            s.serialize_u64(self.0 / 1000)
        } else {
            s.serialize_str(&self.to_string())
        }
    }
}

impl<'de> Deserialize<'de> for Quantity {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
        #[serde(untagged)]
        enum Raw {
            Int(i64),
            Text(String),
            Float(f64),
        }
        match Raw::deserialize(d)? {
            Raw::Int(units) => Quantity::from_units(units).map_err(serde::de::Error::custom),
            Raw::Text(t) => t.parse().map_err(serde::de::Error::custom),
            Raw::Float(f) => Err(serde::de::Error::custom(format!(
                "quantity {f} must be an integer or a decimal string such as \"1.5\""
            ))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn wide_results_narrow_without_wrapping() {
        assert_eq!(narrow_bounded(-5), -5);
        assert_eq!(narrow_bounded(i128::from(i64::MAX) + 1), i64::MAX);
        assert_eq!(narrow_bounded(i128::from(i64::MIN) - 1), i64::MIN);
        assert!(Money::from_minor(narrow_bounded(i128::MAX)).is_err());
        assert_eq!(narrow_index(7), 7);
        assert_eq!(clamp_points(i128::MAX), MAX_POINTS);
        assert_eq!(clamp_points(i128::MIN), -MAX_POINTS);
        assert_eq!(
            Money::from_wide(i128::from(i64::MAX) * 2),
            Err(AmountError::MoneyOutOfRange(i128::from(i64::MAX) * 2))
        );
    }

    #[test]
    fn rounding_is_half_away_from_zero() {
        assert_eq!(round_half_up(5, 10), 1);
        assert_eq!(round_half_up(4, 10), 0);
        assert_eq!(round_half_up(-5, 10), -1);
        assert_eq!(round_half_up(15, 10), 2);
        assert_eq!(round_down(19, 10), 1);
        assert_eq!(round_down(-1, 10), -1);
    }

    #[test]
    fn money_range_is_enforced() {
        assert!(Money::from_minor(Money::MAX_MINOR).is_ok());
        assert!(Money::from_minor(Money::MAX_MINOR + 1).is_err());
        assert!(Money::non_negative(-1).is_err());
        assert_eq!(
            Money::from_minor(-12_345).map(|m| m.to_string()),
            Ok("-123.45".into())
        );
    }

    #[test]
    fn small_and_extreme_amounts_push_as_they_print() {
        let edges = [
            i64::MIN,
            i64::MIN + 1,
            i64::MAX,
            Money::MAX_MINOR,
            -Money::MAX_MINOR,
        ];
        for minor in (-20_000..20_000)
            .chain((0..19).map(|e| 10i64.pow(e)))
            .chain((1..19).map(|e| 10i64.pow(e) - 1))
            .chain(edges)
        {
            let mut pushed = String::new();
            Money(minor).push_to(&mut pushed);
            assert_eq!(pushed, Money(minor).to_string());
        }
    }

    #[test]
    fn quantity_parses_decimal_strings_and_refuses_floats() {
        let q: Quantity = serde_json::from_str("\"1.5\"").unwrap();
        assert_eq!(q.milli(), 1500);
        let q: Quantity = serde_json::from_str("3").unwrap();
        assert_eq!(q.milli(), 3000);
        assert!(serde_json::from_str::<Quantity>("1.5").is_err());
        assert!(serde_json::from_str::<Quantity>("0").is_err());
        assert!(serde_json::from_str::<Quantity>("-2").is_err());
        assert!(serde_json::from_str::<Quantity>("\"1.2345\"").is_err());
        assert_eq!(serde_json::to_string(&q).unwrap(), "3");
        assert_eq!(Quantity::from_milli(1250).unwrap().to_string(), "1.25");
    }

    #[test]
    fn percent_display() {
        assert_eq!(BasisPoints::new(1250).unwrap().to_string(), "12.5%");
        assert_eq!(BasisPoints::new(500).unwrap().to_string(), "5%");
        assert!(BasisPoints::new(10_001).is_err());
    }

    proptest! {
    #[test]
    fn money_prints_as_the_plain_format_does(minor in any::<i64>(), num in any::<i64>(), den in 1i64..) {
        let m = Money(minor);
        let sign = if minor < 0 { "-" } else { "" };
        let abs = minor.unsigned_abs();
        prop_assert_eq!(m.to_string(), format!("{sign}{}.{:02}", abs / 100, abs % 100));
        let mut pushed = String::from("x");
        m.push_to(&mut pushed);
        prop_assert_eq!(pushed, format!("x{m}"));
        // The 64-bit paths round as the 128-bit ones.
        let (n, d) = (i128::from(num), i128::from(den));
        prop_assert_eq!(round_down(n, d), n.div_euclid(d));
        let half_up = if 2 * (n % d).abs() >= d { n / d + n.signum() } else { n / d };
        prop_assert_eq!(round_half_up(n, d), half_up);
    }

        #[test]
        fn money_parse_accepts_exactly_the_range(v in any::<i64>()) {
            prop_assert_eq!(Money::from_minor(v).is_ok(), v.unsigned_abs() <= Money::MAX_MINOR as u64);
        }

        #[test]
        fn quantity_text_round_trips(milli in 1u64..=Quantity::MAX_MILLI) {
            let q = Quantity::from_milli(milli).unwrap();
            prop_assert_eq!(q.to_string().parse::<Quantity>().unwrap(), q);
        }

        #[test]
        fn percent_never_exceeds_the_amount(v in 0i64..=Money::MAX_MINOR, bp in 0u32..=10_000) {
            let m = Money::from_minor(v).unwrap();
            let p = m.percent(BasisPoints::new(bp).unwrap());
            prop_assert!(p <= m && p >= Money::ZERO);
        }
    }
}
