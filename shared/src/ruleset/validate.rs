//! [`Ruleset::validate`]: everything the engine relies on, each fault named
//! by its rule (`tier[1] "Gold"`, `promotion "milk-10"`, `programme.earn`)
//! and its field (`reward.buy`, `conditions.schedule.to_date`).

use std::collections::BTreeSet;

use super::{
    DEFAULT_GROUP, EarnRate, InvalidRuleset, Promotion, Reward, Ruleset, RulesetFault, Target,
    TierBasis, normalize_coupon,
};
use crate::holdout::{MAX_SHARE_BP, MIN_SHARE_BP};
use crate::money::Money;

/// The largest points figure a rule may name.
const MAX_RULE_POINTS: i64 = 1_000_000;
/// The most units a quantity in a reward may name.
const MAX_RULE_UNITS: u32 = 10_000;
/// The longest day window around a birthday, each side.
const MAX_WINDOW_DAYS: u32 = 183;
/// The longest rolling window for tiers: ten years.
const MAX_TIER_WINDOW_DAYS: u32 = 3_660;
/// The longest pending period or lifetime of points: ten years.
const MAX_POINTS_DAYS: u32 = 3_660;
/// The longest coupon code.
const MAX_COUPON_CHARS: usize = 64;

struct Faults(Vec<RulesetFault>);

impl Faults {
    fn add(&mut self, rule: &str, field: &str, message: impl Into<String>) {
        self.0.push(RulesetFault {
            rule: rule.to_owned(),
            field: field.to_owned(),
            message: message.into(),
        });
    }

    fn rate(&mut self, rule: &str, field: &str, rate: EarnRate) {
        if rate.per <= Money::ZERO {
            self.add(rule, &format!("{field}per"), "must be above zero");
        }
        if !(0..=MAX_RULE_POINTS).contains(&rate.points) {
            self.add(
                rule,
                &format!("{field}points"),
                format!("must be in 0..={MAX_RULE_POINTS}"),
            );
        }
    }

    fn points(&mut self, rule: &str, field: &str, points: i64) {
        if !(1..=MAX_RULE_POINTS).contains(&points) {
            self.add(rule, field, format!("must be in 1..={MAX_RULE_POINTS}"));
        }
    }
}

impl Ruleset {
    /// Checks everything the engine relies on and reports every fault.
    pub fn validate(&self) -> Result<(), InvalidRuleset> {
        let mut f = Faults(Vec::new());
        self.validate_programme(&mut f);
        let tier_names: BTreeSet<&str> = self
            .programme
            .tiers
            .iter()
            .map(|t| t.name.as_str())
            .collect();
        let groups: BTreeSet<&str> = self
            .programme
            .stacking
            .groups
            .iter()
            .map(|g| g.name.as_str())
            .collect();
        let mut seen = BTreeSet::new();
        for p in &self.promotions {
            let rule = format!("promotion {:?}", p.id.as_str());
            if !seen.insert(&p.id) {
                f.add(&rule, "id", "is used by another promotion");
            }
            validate_promotion(&mut f, &rule, p, &tier_names, &groups);
        }
        if f.0.is_empty() {
            Ok(())
        } else {
            Err(InvalidRuleset(f.0))
        }
    }

    fn validate_programme(&self, f: &mut Faults) {
        let programme = &self.programme;
        let mut last: Option<Money> = None;
        let mut names = BTreeSet::new();
        for (i, t) in programme.tiers.iter().enumerate() {
            let rule = format!("tier[{i}] {:?}", t.name);
            if t.name.trim().is_empty() {
                f.add(&rule, "name", "must not be empty");
            } else if !names.insert(t.name.as_str()) {
                f.add(&rule, "name", "is used by another tier");
            }
            if t.min_lifetime_spend < Money::ZERO {
                f.add(&rule, "min_lifetime_spend", "must not be negative");
            }
            if let Some(prev) = last
                && t.min_lifetime_spend <= prev
            {
                f.add(
                    &rule,
                    "min_lifetime_spend",
                    format!("must be above the previous tier's {prev}"),
                );
            }
            last = Some(t.min_lifetime_spend);
            if let Some(rate) = t.earn {
                f.rate(&rule, "earn.", rate);
            }
        }
        if let TierBasis::RollingWindow { days } = programme.tier_basis
            && !(1..=MAX_TIER_WINDOW_DAYS).contains(&days)
        {
            f.add(
                "programme",
                "tier_basis.days",
                format!("must be in 1..={MAX_TIER_WINDOW_DAYS}"),
            );
        }
        if let Some(earn) = &programme.earn {
            let rule = "programme.earn";
            f.rate(rule, "", earn.rate());
            let mut cats = BTreeSet::new();
            for (i, c) in earn.category_rates.iter().enumerate() {
                let field = format!("category_rates[{i}].");
                if !cats.insert(&c.category) {
                    f.add(
                        rule,
                        &format!("{field}category"),
                        format!("{} has another rate already", c.category),
                    );
                }
                f.rate(
                    rule,
                    &field,
                    EarnRate {
                        per: c.per,
                        points: c.points,
                    },
                );
            }
        }
        if programme.points_pending_days > MAX_POINTS_DAYS {
            f.add(
                "programme",
                "points_pending_days",
                format!("must be at most {MAX_POINTS_DAYS}"),
            );
        }
        if let Some(days) = programme.points_expire_days {
            if !(1..=MAX_POINTS_DAYS).contains(&days) {
                f.add(
                    "programme",
                    "points_expire_days",
                    format!("must be in 1..={MAX_POINTS_DAYS}"),
                );
            } else if days <= programme.points_pending_days {
                f.add(
                    "programme",
                    "points_expire_days",
                    format!(
                        "must be above points_pending_days ({}): points would expire before \
                         they could be spent",
                        programme.points_pending_days
                    ),
                );
            }
        }
        if let Some(points) = programme.welcome_bonus {
            f.points("programme", "welcome_bonus", points);
        }
        if let Some(b) = &programme.birthday_bonus {
            f.points("programme.birthday_bonus", "points", b.points);
            for (field, days) in [("days_before", b.days_before), ("days_after", b.days_after)] {
                if days > MAX_WINDOW_DAYS {
                    f.add(
                        "programme.birthday_bonus",
                        field,
                        format!("must be at most {MAX_WINDOW_DAYS}"),
                    );
                }
            }
        }
        if let Some(r) = &programme.referral_reward {
            let rule = "programme.referral_reward";
            for (field, points) in [
                ("referrer_points", r.referrer_points),
                ("friend_points", r.friend_points),
            ] {
                if !(0..=MAX_RULE_POINTS).contains(&points) {
                    f.add(rule, field, format!("must be in 0..={MAX_RULE_POINTS}"));
                }
            }
            if r.referrer_points == 0 && r.friend_points == 0 {
                f.add(rule, "referrer_points", "a reward gives someone points");
            }
        }
        if let Some(r) = &programme.redemption {
            let rule = "programme.redemption";
            f.points(rule, "points", r.points);
            if r.value <= Money::ZERO {
                f.add(rule, "value", "must be above zero");
            }
            if r.max_share.get() == 0 {
                f.add(rule, "max_share", "must be above 0");
            }
            if r.min_balance < 0 {
                f.add(rule, "min_balance", "must not be negative");
            }
            if let Some(cap) = r.offline_cap_points
                && !(0..=MAX_RULE_POINTS).contains(&cap)
            {
                f.add(
                    rule,
                    "offline_cap_points",
                    format!("must be in 0..={MAX_RULE_POINTS}"),
                );
            }
        }
        let stacking = &programme.stacking;
        let mut groups = BTreeSet::new();
        for (i, g) in stacking.groups.iter().enumerate() {
            let field = format!("groups[{i}].name");
            if g.name.trim().is_empty() {
                f.add("programme.stacking", &field, "must not be empty");
            } else if !groups.insert(g.name.as_str()) {
                f.add(
                    "programme.stacking",
                    &field,
                    format!("{:?} is listed twice", g.name),
                );
            }
        }
        let mut skus = BTreeSet::new();
        for (i, m) in stacking.min_prices.iter().enumerate() {
            if !skus.insert(&m.sku) {
                f.add(
                    "programme.stacking",
                    &format!("min_prices[{i}].sku"),
                    format!("{} has a minimum price already", m.sku),
                );
            }
            if m.unit_price < Money::ZERO {
                f.add(
                    "programme.stacking",
                    &format!("min_prices[{i}].unit_price"),
                    "must not be negative",
                );
            }
        }
    }
}

fn validate_promotion(
    f: &mut Faults,
    rule: &str,
    p: &Promotion,
    tier_names: &BTreeSet<&str>,
    groups: &BTreeSet<&str>,
) {
    if p.name.trim().is_empty() {
        f.add(rule, "name", "must not be empty");
    }
    match &p.target {
        Target::Skus { skus } if skus.is_empty() => {
            f.add(rule, "target.skus", "must list at least one SKU");
        }
        Target::Categories { categories } if categories.is_empty() => {
            f.add(rule, "target.categories", "must list at least one category");
        }
        _ => {}
    }
    if let (Some(s), Some(e)) = (p.starts_at, p.ends_at)
        && e <= s
    {
        f.add(rule, "ends_at", "must be after starts_at");
    }
    if p.funded_by.as_deref().is_some_and(|s| s.trim().is_empty()) {
        f.add(rule, "funded_by", "must not be empty when given");
    }
    validate_reward(f, rule, p);
    if let Some(group) = &p.group {
        if p.reward.is_points() {
            f.add(
                rule,
                "group",
                "points rewards take no part in exclusive groups",
            );
        } else if group != DEFAULT_GROUP && !groups.contains(group.as_str()) {
            f.add(
                rule,
                "group",
                format!("{group:?} is not listed in programme.stacking.groups"),
            );
        }
    }
    if let Some(code) = &p.coupon {
        let code = normalize_coupon(code);
        if code.is_empty()
            || code.chars().count() > MAX_COUPON_CHARS
            || code.chars().any(|c| c.is_control() || c.is_whitespace())
        {
            f.add(
                rule,
                "coupon",
                format!("must be 1..={MAX_COUPON_CHARS} characters without spaces"),
            );
        }
    }
    if let Some(share) = p.holdout
        && !(MIN_SHARE_BP..=MAX_SHARE_BP).contains(&share.get())
    {
        f.add(
            rule,
            "holdout",
            format!("must be in {MIN_SHARE_BP}..={MAX_SHARE_BP} basis points (0.01 %..=50 %)"),
        );
    }
    let c = &p.conditions;
    if c.min_basket_amount.is_some_and(|m| m < Money::ZERO) {
        f.add(rule, "conditions.min_basket_amount", "must not be negative");
    }
    if let (Some(a), Some(b)) = (c.schedule.from_date, c.schedule.to_date)
        && b < a
    {
        f.add(
            rule,
            "conditions.schedule.to_date",
            "must not be before from_date",
        );
    }
    for (i, h) in c.schedule.hours.iter().enumerate() {
        if h.from == h.to {
            f.add(
                rule,
                &format!("conditions.schedule.hours[{i}]"),
                "from and to must differ (leave hours empty for all day)",
            );
        }
    }
    let s = &c.segment;
    if let (Some(a), Some(b)) = (s.min_age, s.max_age)
        && b < a
    {
        f.add(
            rule,
            "conditions.segment.max_age",
            "must not be below min_age",
        );
    }
    for (i, t) in s.tiers.iter().enumerate() {
        if !tier_names.contains(t.as_str()) {
            f.add(
                rule,
                &format!("conditions.segment.tiers[{i}]"),
                format!("{t:?} is not a tier of the programme"),
            );
        }
    }
    if let Some(w) = s.birthday
        && (w.days_before > MAX_WINDOW_DAYS || w.days_after > MAX_WINDOW_DAYS)
    {
        f.add(
            rule,
            "conditions.segment.birthday",
            format!("days_before and days_after must be at most {MAX_WINDOW_DAYS}"),
        );
    }
    if s.tags.iter().any(|t| t.trim().is_empty()) {
        f.add(rule, "conditions.segment.tags", "must not hold empty tags");
    }
    let l = &p.limits;
    for (field, value) in [
        ("limits.per_customer", l.per_customer.map(u64::from)),
        ("limits.per_check", l.per_check.map(u64::from)),
        ("limits.total_uses", l.total_uses),
    ] {
        if value == Some(0) {
            f.add(rule, field, "must be at least 1 when given");
        }
    }
    if l.budget.is_some_and(|b| b <= Money::ZERO) {
        f.add(rule, "limits.budget", "must be above zero when given");
    }
}

fn validate_reward(f: &mut Faults, rule: &str, p: &Promotion) {
    let units = |f: &mut Faults, field: &str, v: u32| {
        if !(1..=MAX_RULE_UNITS).contains(&v) {
            f.add(rule, field, format!("must be in 1..={MAX_RULE_UNITS}"));
        }
    };
    match &p.reward {
        Reward::PercentOff { percent, .. } => {
            if percent.get() == 0 {
                f.add(rule, "reward.percent", "must be above 0");
            }
        }
        Reward::AmountOff { amount, .. } => {
            if *amount <= Money::ZERO {
                f.add(rule, "reward.amount", "must be above zero");
            }
        }
        Reward::SpecialPrice { unit_price } => {
            if *unit_price < Money::ZERO {
                f.add(rule, "reward.unit_price", "must not be negative");
            }
        }
        Reward::BuyXGetY {
            buy, get, percent, ..
        } => {
            units(f, "reward.buy", *buy);
            units(f, "reward.get", *get);
            if percent.get() == 0 {
                f.add(rule, "reward.percent", "must be above 0");
            }
        }
        Reward::NthItem { n, percent } => {
            if !(2..=MAX_RULE_UNITS).contains(n) {
                f.add(rule, "reward.n", format!("must be in 2..={MAX_RULE_UNITS}"));
            }
            if percent.get() == 0 {
                f.add(rule, "reward.percent", "must be above 0");
            }
        }
        Reward::Bundle { items, price } => {
            if items.is_empty() {
                f.add(rule, "reward.items", "must list at least one item");
            }
            if *price < Money::ZERO {
                f.add(rule, "reward.price", "must not be negative");
            }
            let mut skus = BTreeSet::new();
            for (i, item) in items.iter().enumerate() {
                units(f, &format!("reward.items[{i}].quantity"), item.quantity);
                if !skus.insert(&item.sku) {
                    f.add(
                        rule,
                        &format!("reward.items[{i}].sku"),
                        format!("{} is listed twice", item.sku),
                    );
                }
                let targeted =
                    matches!(&p.target, Target::Skus { skus } if skus.contains(&item.sku));
                if !targeted {
                    f.add(
                        rule,
                        &format!("reward.items[{i}].sku"),
                        format!("{} must be listed in target.skus", item.sku),
                    );
                }
            }
        }
        Reward::PointsMultiplier { percent } => {
            if !(101..=10_000).contains(percent) {
                f.add(
                    rule,
                    "reward.percent",
                    "must be in 101..=10000 (200 doubles)",
                );
            }
        }
        Reward::ExtraPoints { points } => f.points(rule, "reward.points", *points),
    }
}
