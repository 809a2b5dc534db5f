//! Receipt text for the applied rules, in Russian and English.

use serde::{Deserialize, Serialize};

use super::{AppliedRule, RuleRef};
use crate::money::Money;
use crate::ruleset::{Promotion, Tier};

/// Lines to print on the receipt, in two languages.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Receipt {
    /// Russian.
    pub ru: Vec<String>,
    /// English.
    pub en: Vec<String>,
}

impl Receipt {
    pub(super) fn build(
        applied: &[AppliedRule],
        promotions: &[&Promotion],
        tier: Option<&Tier>,
        discount: Money,
        points: i64,
    ) -> Receipt {
        let mut r = Receipt::default();
        for a in applied {
            match &a.rule {
                RuleRef::Tier(name) => {
                    let pct = tier.map(|t| t.discount.to_string()).unwrap_or_default();
                    r.ru.push(format!("Скидка по карте «{name}» {pct}: −{}", a.discount));
                    r.en.push(format!("Loyalty tier \"{name}\" {pct}: -{}", a.discount));
                }
                RuleRef::Promotion(id) => {
                    let name = promotions
                        .iter()
                        .find(|p| &p.id == id)
                        .map_or(id.as_str(), |p| p.name.as_str());
                    r.ru.push(format!("Акция «{name}»: −{}", a.discount));
                    r.en.push(format!("Promotion \"{name}\": -{}", a.discount));
                }
            }
        }
        if discount > Money::ZERO {
            r.ru.push(format!("Ваша скидка: {discount}"));
            r.en.push(format!("You saved: {discount}"));
        }
        if points > 0 {
            r.ru.push(format!("Начислено баллов: {points}"));
            r.en.push(format!("Points earned: {points}"));
        }
        r
    }
}
