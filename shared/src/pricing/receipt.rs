//! Receipt text for the applied rules, in Russian and English.

use serde::{Deserialize, Serialize};

use super::{AppliedRule, PointsAward, RuleRef};
use crate::money::Money;
use crate::ruleset::{Ruleset, Tier};

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
        ruleset: &Ruleset,
        applied: &[AppliedRule],
        tier: Option<&Tier>,
        awards: &[PointsAward],
        (redeemed, redeemed_money): (i64, Money),
        discount: Money,
        points: i64,
    ) -> Receipt {
        let mut r = Receipt::default();
        let promotion =
            |id: &crate::ids::PromotionId| ruleset.promotions.iter().find(|p| &p.id == id);
        for a in applied.iter().filter(|a| a.discount > Money::ZERO) {
            match &a.rule {
                RuleRef::Tier(name) => {
                    let pct = tier.map(|t| t.discount.to_string()).unwrap_or_default();
                    r.ru.push(format!("Скидка по карте «{name}» {pct}: −{}", a.discount));
                    r.en.push(format!("Loyalty tier \"{name}\" {pct}: -{}", a.discount));
                }
                RuleRef::Promotion(id) => {
                    let name = promotion(id).map_or(id.as_str(), |p| p.name.as_str());
                    let (ru_by, en_by) = a.funded_by.as_deref().map_or_else(
                        || (String::new(), String::new()),
                        |f| (format!(" (при поддержке {f})"), format!(" (funded by {f})")),
                    );
                    r.ru.push(format!("Акция «{name}»: −{}{ru_by}", a.discount));
                    r.en.push(format!("Promotion \"{name}\": -{}{en_by}", a.discount));
                }
                RuleRef::Redemption => {
                    r.ru.push(format!("Оплачено баллами: {redeemed} (−{redeemed_money})"));
                    r.en.push(format!("Paid with points: {redeemed} (-{redeemed_money})"));
                }
                RuleRef::Earn | RuleRef::WelcomeBonus | RuleRef::BirthdayBonus => {}
            }
        }
        if discount > Money::ZERO {
            r.ru.push(format!("Ваша скидка: {discount}"));
            r.en.push(format!("You saved: {discount}"));
        }
        for a in awards {
            match &a.rule {
                RuleRef::Promotion(id) => {
                    let name = promotion(id).map_or(id.as_str(), |p| p.name.as_str());
                    r.ru.push(format!("Бонусные баллы «{name}»: +{}", a.points));
                    r.en.push(format!("Bonus points \"{name}\": +{}", a.points));
                }
                RuleRef::WelcomeBonus => {
                    r.ru.push(format!("Приветственные баллы: +{}", a.points));
                    r.en.push(format!("Welcome bonus: +{} points", a.points));
                }
                RuleRef::BirthdayBonus => {
                    r.ru.push(format!("Баллы ко дню рождения: +{}", a.points));
                    r.en.push(format!("Birthday bonus: +{} points", a.points));
                }
                RuleRef::Earn | RuleRef::Tier(_) | RuleRef::Redemption => {}
            }
        }
        if points > 0 {
            r.ru.push(format!("Начислено баллов: {points}"));
            r.en.push(format!("Points earned: {points}"));
        }
        r
    }
}
