//! Receipt text for the applied rules, in Russian and English.

use serde::{Deserialize, Serialize};

use super::{AppliedRule, PointsAward, RuleRef};
use crate::money::Money;
use crate::ruleset::Tier;

/// Lines to print on the receipt, in two languages.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Receipt {
    /// Russian.
    pub ru: Vec<String>,
    /// English.
    pub en: Vec<String>,
}

impl Receipt {
    /// The receipt for the applied rules and points awards, each with its
    /// promotion's name (empty for other rules).
    pub(super) fn build(
        (applied, applied_names): (&[AppliedRule], &[&str]),
        (awards, award_names): (&[PointsAward], &[&str]),
        tier: Option<&Tier>,
        (redeemed, redeemed_money): (i64, Money),
        discount: Money,
        points: i64,
    ) -> Receipt {
        // A line per rule and award, and the totals.
        let rows = applied.len() + awards.len() + 2;
        let mut r = Receipt {
            ru: Vec::with_capacity(rows),
            en: Vec::with_capacity(rows),
        };
        let mut both = |ru: String, en: String| {
            r.ru.push(ru);
            r.en.push(en);
        };
        for (a, name) in applied.iter().zip(applied_names) {
            if a.discount <= Money::ZERO {
                continue;
            }
            let off = a.discount;
            match &a.rule {
                RuleRef::Tier(tier_name) => {
                    let pct = tier.map(|t| t.discount.to_string()).unwrap_or_default();
                    both(
                        format!("Скидка по карте «{tier_name}» {pct}: −{off}"),
                        format!("Loyalty tier \"{tier_name}\" {pct}: -{off}"),
                    );
                }
                RuleRef::Promotion(_) => {
                    // The fixed text (20 bytes in Russian, 29 more around
                    // the partner's name) and the amount (at most 21).
                    let funded = a.funded_by.as_ref().map_or(0, |f| f.len() + 29);
                    let room = name.len() + funded + 41;
                    let mut ru = String::with_capacity(room);
                    let mut en = String::with_capacity(room);
                    ru.push_str("Акция «");
                    ru.push_str(name);
                    ru.push_str("»: −");
                    off.push_to(&mut ru);
                    en.push_str("Promotion \"");
                    en.push_str(name);
                    en.push_str("\": -");
                    off.push_to(&mut en);
                    if let Some(f) = &a.funded_by {
                        ru.push_str(" (при поддержке ");
                        ru.push_str(f);
                        ru.push(')');
                        en.push_str(" (funded by ");
                        en.push_str(f);
                        en.push(')');
                    }
                    both(ru, en);
                }
                RuleRef::Redemption => both(
                    format!("Оплачено баллами: {redeemed} (−{redeemed_money})"),
                    format!("Paid with points: {redeemed} (-{redeemed_money})"),
                ),
                RuleRef::Earn | RuleRef::WelcomeBonus | RuleRef::BirthdayBonus => {}
            }
        }
        if discount > Money::ZERO {
            both(
                format!("Ваша скидка: {discount}"),
                format!("You saved: {discount}"),
            );
        }
        for (a, name) in awards.iter().zip(award_names) {
            let n = a.points;
            match &a.rule {
                RuleRef::Promotion(_) => {
                    // As `format!` writes them, without its machinery: a
                    // check may hold many points promotions.
                    let mut ru = String::with_capacity(name.len() + 56);
                    let mut en = String::with_capacity(name.len() + 40);
                    ru.push_str("Бонусные баллы «");
                    ru.push_str(name);
                    ru.push_str("»: +");
                    push_int(&mut ru, n);
                    en.push_str("Bonus points \"");
                    en.push_str(name);
                    en.push_str("\": +");
                    push_int(&mut en, n);
                    both(ru, en);
                }
                RuleRef::WelcomeBonus => both(
                    format!("Приветственные баллы: +{n}"),
                    format!("Welcome bonus: +{n} points"),
                ),
                RuleRef::BirthdayBonus => both(
                    format!("Баллы ко дню рождения: +{n}"),
                    format!("Birthday bonus: +{n} points"),
                ),
                RuleRef::Earn | RuleRef::Tier(_) | RuleRef::Redemption => {}
            }
        }
        if points > 0 {
            both(
                format!("Начислено баллов: {points}"),
                format!("Points earned: {points}"),
            );
        }
        r
    }
}

/// Appends `n` as `Display` prints it.
fn push_int(out: &mut String, n: i64) {
    out.push_str(itoa::Buffer::new().format(n));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn integers_push_as_they_print() {
        let edges = [i64::MIN, i64::MIN + 1, i64::MAX, -1, 0, 1];
        let powers = (0..19).flat_map(|e| [10i64.pow(e), 10i64.pow(e) - 1, -(10i64.pow(e))]);
        for n in (-1000..1000).chain(powers).chain(edges) {
            let mut pushed = String::from("x");
            push_int(&mut pushed, n);
            assert_eq!(pushed, format!("x{n}"));
        }
    }
}
