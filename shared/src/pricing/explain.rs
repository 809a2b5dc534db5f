//! The explanation of a check: which rules gave what, and which did not,
//! with a typed reason and English text.

use std::borrow::Cow;

use serde::{Deserialize, Serialize};

use crate::ids::PromotionId;
use crate::money::{Money, narrow_index};

/// A rule that gave something.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(tag = "kind", content = "id", rename_all = "snake_case")]
pub enum RuleRef {
    /// A programme tier, by name.
    Tier(String),
    /// A promotion.
    Promotion(PromotionId),
    /// Points spent as money.
    Redemption,
    /// The programme's points per amount spent.
    Earn,
    /// The welcome bonus on a first purchase.
    WelcomeBonus,
    /// The birthday bonus.
    BirthdayBonus,
}

/// A discount a rule gave on a line or on the check.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AppliedRule {
    /// The rule.
    pub rule: RuleRef,
    /// The amount it took off (zero for a promotion giving points only).
    pub discount: Money,
    /// Who funds it, for partner promotions.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub funded_by: Option<String>,
}

/// Points a rule gave on the check.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PointsAward {
    /// The rule.
    pub rule: RuleRef,
    /// Points.
    pub points: i64,
}

/// A rule that could have applied and did not, or gave less than it would
/// have.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct BlockedRule {
    /// The rule.
    pub rule: RuleRef,
    /// Why, for machines.
    pub reason: BlockReason,
    /// Why, in English.
    pub message: Cow<'static, str>,
}

/// Why a rule did not apply, or gave less.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(tag = "code", rename_all = "snake_case")]
pub enum BlockReason {
    /// A condition does not hold.
    ConditionNotMet {
        /// Which.
        condition: Condition,
    },
    /// A limit is reached (the rule gave nothing, or less).
    LimitReached {
        /// Which.
        limit: Limit,
    },
    /// Another promotion of its exclusive group took its lines.
    ExcludedByGroup {
        /// The group.
        group: String,
    },
    /// The promotions on the lines do not combine with the tier.
    NotCombinable,
    /// Price floors cut it short by `cut`.
    FloorReached {
        /// What the floors kept back.
        cut: Money,
    },
}

/// A condition of a rule.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum Condition {
    /// The publication period.
    Period,
    /// The stores it runs in.
    Store,
    /// The brands it runs under.
    Brand,
    /// The store's time zone is unknown, so local time is.
    TimeZone,
    /// The local date range.
    LocalDate,
    /// The local weekdays.
    Weekday,
    /// The local hours.
    Hours,
    /// The check's amount.
    MinBasketAmount,
    /// The check's units.
    MinBasketQuantity,
    /// The targeted units.
    MinTargetQuantity,
    /// Products the check must hold.
    RequiredItems,
    /// An identified customer.
    Customer,
    /// The customer's tier.
    Tier,
    /// The customer's gender.
    Gender,
    /// The customer's age.
    Age,
    /// The customer's birthday window.
    Birthday,
    /// A customer without purchases.
    NewCustomer,
    /// The customer's tags.
    Tags,
    /// The lines give it nothing to take off (too few units, a price
    /// already below the special price).
    NothingToDiscount,
    /// Points cannot be spent under this programme.
    Redemption,
    /// The balance is below the minimum for spending points.
    MinBalance,
    /// The customer is in the promotion's holdout: the share of customers
    /// it leaves out on purpose, to measure what it earns (see
    /// [`crate::holdout`]).
    HeldOut,
}

/// A limit of a rule.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum Limit {
    /// Checks per customer.
    PerCustomer,
    /// Applications per check.
    PerCheck,
    /// Checks overall.
    TotalUses,
    /// Money overall.
    Budget,
    /// The checks of the share of its total uses leased to this register
    /// (none leased counts as spent): renewed when the till syncs.
    LeasedUses,
    /// The money of the share of its budget leased to this register (none
    /// leased counts as spent): renewed when the till syncs.
    LeasedBudget,
    /// The share of a check payable with points, or the balance.
    RedemptionCap,
    /// Once per birthday.
    OncePerBirthday,
}

impl BlockReason {
    /// English text for the reason.
    #[must_use]
    pub fn describe(&self) -> Cow<'static, str> {
        match self {
            BlockReason::ConditionNotMet { condition } => condition.describe().into(),
            BlockReason::LimitReached { limit } => limit.describe().into(),
            BlockReason::ExcludedByGroup { .. } => {
                "another promotion of its exclusive group took its lines".into()
            }
            BlockReason::NotCombinable => {
                "the promotions on the lines do not combine with the tier discount".into()
            }
            BlockReason::FloorReached { cut } => {
                const TEXT: &str = "price floors kept back ";
                let mut text = String::with_capacity(TEXT.len() + 21);
                text.push_str(TEXT);
                cut.push_to(&mut text);
                text.into()
            }
        }
    }
}

impl Condition {
    /// English text for an unmet condition.
    #[must_use]
    pub fn describe(self) -> &'static str {
        match self {
            Condition::Period => "not running at this time",
            Condition::Store => "not running in this store",
            Condition::Brand => "not running under this store's brand",
            Condition::TimeZone => "the store's time zone is unknown",
            Condition::LocalDate => "not running on this local date",
            Condition::Weekday => "not running on this weekday",
            Condition::Hours => "not running at this local hour",
            Condition::MinBasketAmount => "the check's amount is below the minimum",
            Condition::MinBasketQuantity => "the check holds too few units",
            Condition::MinTargetQuantity => "too few units of the promoted products",
            Condition::RequiredItems => "the check lacks a required product",
            Condition::Customer => "needs an identified customer",
            Condition::Tier => "the customer's tier is not eligible",
            Condition::Gender => "the customer's gender is not eligible",
            Condition::Age => "the customer's age is not eligible or unknown",
            Condition::Birthday => "not within the customer's birthday window",
            Condition::NewCustomer => "only for a customer's first purchase",
            Condition::Tags => "the customer lacks an eligible tag",
            Condition::NothingToDiscount => "the lines give it nothing to take off",
            Condition::Redemption => "points cannot be spent under this programme",
            Condition::MinBalance => "the points balance is below the minimum for spending",
            Condition::HeldOut => {
                "the customer is in its holdout, the control group it leaves out to measure its effect"
            }
        }
    }
}

impl Limit {
    /// English text for a reached limit.
    #[must_use]
    pub fn describe(self) -> &'static str {
        match self {
            Limit::PerCustomer => "the customer has used it as often as allowed",
            Limit::PerCheck => "applied as often as allowed on one check",
            Limit::TotalUses => "used as often as allowed overall",
            Limit::Budget => "its budget is spent",
            Limit::LeasedUses => {
                "this till's share of its total uses is spent; the till gets a new share when it syncs with the server"
            }
            Limit::LeasedBudget => {
                "this till's share of its budget is spent; the till gets a new share when it syncs with the server"
            }
            Limit::RedemptionCap => {
                "capped by the share of the check payable with points, the floors or the balance"
            }
            Limit::OncePerBirthday => "already given for this birthday",
        }
    }
}

impl RuleRef {
    /// The position of its kind in the order of rules.
    pub(crate) fn kind_rank(&self) -> u64 {
        match self {
            RuleRef::Tier(_) => 0,
            RuleRef::Promotion(_) => 1,
            RuleRef::Redemption => 2,
            RuleRef::Earn => 3,
            RuleRef::WelcomeBonus => 4,
            RuleRef::BirthdayBonus => 5,
        }
    }
}

/// A blocked rule with a cheap sort key: the rule's kind, then for a
/// promotion its rank by id, which orders notes exactly as [`RuleRef`]
/// does (a check has one tier at most).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Note {
    key: u64,
    pub(crate) blocked: BlockedRule,
}

impl Note {
    /// A note on a promotion of rank `id_rank` by id.
    pub(crate) fn promotion(
        id: &crate::ids::PromotionId,
        id_rank: u32,
        reason: BlockReason,
    ) -> Self {
        Note {
            key: (1 << 32) | u64::from(id_rank),
            blocked: BlockedRule::new(RuleRef::Promotion(id.clone()), reason),
        }
    }

    /// A note on another rule.
    pub(crate) fn rule(rule: RuleRef, reason: BlockReason) -> Self {
        Note {
            key: rule.kind_rank() << 32,
            blocked: BlockedRule::new(rule, reason),
        }
    }

    /// Sorts notes as their rules and reasons sort, and drops repeats.
    pub(crate) fn sorted(mut notes: Vec<Note>) -> Vec<BlockedRule> {
        // Positions are sorted rather than the notes themselves, which are
        // large; each note then moves once, out of its place. Notes equal
        // in key and reason are the same note, so which of them is kept
        // does not matter.
        // Keys are dense (a kind, then a promotion's rank by id), so the
        // positions are counted into place by key (linear, stable), and
        // only runs of an equal key are sorted, by reason.
        let half = |key: u64| u32::try_from(key & u64::from(u32::MAX)).unwrap_or(u32::MAX) as usize;
        let ranks = notes
            .iter()
            .filter(|n| n.key >> 32 == 1)
            .map(|n| half(n.key) + 1)
            .max()
            .unwrap_or(0);
        // Other kinds before (the tier) and after the promotions.
        let bucket = |key: u64| match key >> 32 {
            0 => 0,
            1 => 1 + half(key),
            kind => ranks + half(kind),
        };
        let cmp = |a: &(u64, u32), b: &(u64, u32)| {
            a.0.cmp(&b.0).then_with(|| {
                let (a, b) = (&notes[a.1 as usize], &notes[b.1 as usize]);
                a.blocked.reason.cmp(&b.blocked.reason)
            })
        };
        let mut order: Vec<(u64, u32)>;
        if notes.len() * 16 < ranks {
            // Few notes among many promotions: sorting them costs less
            // than a count per promotion.
            order = notes
                .iter()
                .enumerate()
                .map(|(i, n)| (n.key, narrow_index(i)))
                .collect();
            order.sort_unstable_by_key(|&(key, _)| key);
        } else {
            let mut start = vec![0usize; ranks + 8];
            for n in &notes {
                start[bucket(n.key) + 1] += 1;
            }
            for b in 1..start.len() {
                start[b] += start[b - 1];
            }
            order = vec![(0, 0); notes.len()];
            for (i, n) in notes.iter().enumerate() {
                let at = &mut start[bucket(n.key)];
                order[*at] = (n.key, narrow_index(i));
                *at += 1;
            }
        }
        // Runs of an equal key, by reason.
        let mut run = 0;
        while run < order.len() {
            let key = order[run].0;
            let mut end = run + 1;
            while end < order.len() && order[end].0 == key {
                end += 1;
            }
            if end - run > 1 {
                order[run..end].sort_unstable_by(cmp);
            }
            run = end;
        }
        order.dedup_by(|a, b| cmp(a, b).is_eq());
        let mut out = Vec::with_capacity(order.len());
        for (_, i) in order {
            let taken = std::mem::replace(
                &mut notes[i as usize].blocked,
                BlockedRule {
                    rule: RuleRef::Earn,
                    reason: BlockReason::NotCombinable,
                    message: Cow::Borrowed(""),
                },
            );
            out.push(taken);
        }
        out
    }
}

impl BlockedRule {
    /// A blocked rule with the reason's own text.
    #[must_use]
    pub fn new(rule: RuleRef, reason: BlockReason) -> Self {
        let message = reason.describe();
        Self {
            rule,
            reason,
            message,
        }
    }
}
