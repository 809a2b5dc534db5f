//! A check's lines as the till sends them.

use serde::{Deserialize, Serialize};

use crate::ids::{Category, Sku};
use crate::money::{AmountError, Money, Quantity};

/// A line of a check: a product at a unit price times a quantity.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Line {
    /// The product.
    pub sku: Sku,
    /// The product's name as printed on the receipt.
    pub name: String,
    /// The product's category, used by category promotions.
    pub category: Option<Category>,
    /// How many units (or kilograms).
    pub quantity: Quantity,
    /// The price of one unit, VAT included.
    pub unit_price: Money,
}

impl Line {
    /// The line amount before discounts: `unit_price × quantity`, rounded
    /// half up to kopecks.
    pub fn amount(&self) -> Result<Money, AmountError> {
        self.quantity.extend(self.unit_price)
    }
}

/// The longest product name accepted on a line.
pub const MAX_NAME_CHARS: usize = 128;
/// The most lines a check may have.
pub const MAX_LINES: usize = 1000;

/// Why a line or basket was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BasketError {
    /// An amount is out of range.
    #[error(transparent)]
    Amount(#[from] AmountError),
    /// The unit price is negative.
    #[error("unit price must not be negative")]
    NegativePrice,
    /// The name is empty or too long.
    #[error("name must be 1..={MAX_NAME_CHARS} characters")]
    Name,
    /// Too many lines.
    #[error("a check holds at most {MAX_LINES} lines")]
    TooManyLines,
}

impl Line {
    /// Checks a line for the invariants the engine relies on.
    pub fn validate(&self) -> Result<Money, BasketError> {
        if self.unit_price < Money::ZERO {
            return Err(BasketError::NegativePrice);
        }
        let n = self.name.chars().count();
        if n == 0 || n > MAX_NAME_CHARS {
            return Err(BasketError::Name);
        }
        Ok(self.amount()?)
    }
}

/// Checks that a basket can be priced: valid lines and a subtotal in range.
pub fn validate_basket(lines: &[Line]) -> Result<Money, BasketError> {
    if lines.len() > MAX_LINES {
        return Err(BasketError::TooManyLines);
    }
    lines
        .iter()
        .try_fold(Money::ZERO, |acc, l| Ok(acc.checked_add(l.validate()?)?))
}
