//! The promotion editor of the set-up page: every kind of promotion the
//! engine prices, without JSON. `POST /hq/merchants/{id}/promotions` parses
//! the form field by field, then publishes through [`Publisher::publish`](crate::services::Publisher::publish), the admin
//! API's own path, so the new ruleset version reaches every till's
//! long-poll within seconds. Every refusal is shown next to the field it
//! concerns, naming it, with what was typed kept.
//!
//! # What it edits
//!
//! - The reward, chosen by kind (a select; `static/promotion.js` shows only
//!   the chosen kind's fields, and without it all show): percent off (per
//!   line or off the sum), amount off (per unit or once), a special price,
//!   buy X get Y (free or a percent off, optionally another SKU), every
//!   N-th item, a bundle at a price, a points multiplier, extra points.
//! - The target (SKUs, categories or the whole check) and its exclusions.
//! - Conditions: a minimum basket (amount, units, targeted units), products
//!   or categories the check must hold, stores, store brands, local dates,
//!   weekdays and hours in the store's time zone, the customer segment's
//!   tag (the «Для кого» select).
//! - Limits (per check, per customer, total uses, budget), the exclusive
//!   group, priority, a coupon code, the funding partner, whether the tier
//!   discount combines, the holdout share, the publication period.
//!
//! Each field reads and shows its value through `promotion_fields`.
//!
//! # Editing keeps what the form cannot show
//!
//! The form cannot show all of a promotion (a segment's tiers, genders and
//! ages; an instant's seconds). So a form whose code names a promotion of
//! the current rules is laid over the stored promotion, re-read on the
//! server, never rebuilt from the form alone: a field whose text is still
//! what the form showed for that promotion keeps the stored value exactly,
//! and only a field the person changed is parsed; choosing another reward
//! kind replaces the reward and keeps the rest. Opening a promotion and
//! saving it unchanged therefore yields the same promotion, and publishes
//! nothing (a property test holds it to that over generated promotions).

use std::collections::BTreeMap;

use axum::extract::State;
use axum::response::Response;
use chrono::{DateTime, NaiveDateTime, TimeZone as _, Utc, Weekday};
use chrono_tz::Tz;
use serde::Deserialize;
use shared::ids::{Category, MerchantId, PromotionId, Sku};
use shared::money::BasisPoints;
use shared::ruleset::{Apply, Conditions, Limits, Promotion, Reward, Target};

use crate::services::publish::{PublishError, PublishRefusal, RulesetChange};
use crate::state::AppState;
use crate::web::error::PageError;
use crate::web::extract::Path;
use crate::web::format;
use crate::web::i18n;
use crate::web::login::see_other;
use crate::web::promotion_fields::{self as fields, Refusal};
use crate::web::session::{CsrfProtected, ProtectedForm};
use crate::web::setup::{self, SetupForms};

/// The longest name shown on receipts and phones.
const MAX_NAME_CHARS: usize = 120;
/// The longest description.
const MAX_DESCRIPTION_CHARS: usize = 2000;
/// The longest coupon code (the ruleset's own limit).
const MAX_COUPON_CHARS: usize = 64;
/// How `datetime-local` fields send an instant.
const LOCAL_MINUTES: &str = "%Y-%m-%dT%H:%M";
/// The same with seconds, which some browsers send.
const LOCAL_SECONDS: &str = "%Y-%m-%dT%H:%M:%S";

/// The reward kinds the select offers: the form's value and the label's
/// message id, in the order shown.
pub const REWARD_KINDS: [(&str, &str); 8] = [
    ("percent_off", "promo-kind-percent-off"),
    ("amount_off", "promo-kind-amount-off"),
    ("special_price", "promo-kind-special-price"),
    ("buy_x_get_y", "promo-kind-buy-x-get-y"),
    ("nth_item", "promo-kind-nth-item"),
    ("bundle", "promo-kind-bundle"),
    ("points_multiplier", "promo-kind-points-multiplier"),
    ("extra_points", "promo-kind-extra-points"),
];

/// The weekdays' checkboxes: the field, the day and the label's message id.
const WEEKDAYS: [(&str, Weekday, &str); 7] = [
    ("wd_mon", Weekday::Mon, "promo-wd-mon"),
    ("wd_tue", Weekday::Tue, "promo-wd-tue"),
    ("wd_wed", Weekday::Wed, "promo-wd-wed"),
    ("wd_thu", Weekday::Thu, "promo-wd-thu"),
    ("wd_fri", Weekday::Fri, "promo-wd-fri"),
    ("wd_sat", Weekday::Sat, "promo-wd-sat"),
    ("wd_sun", Weekday::Sun, "promo-wd-sun"),
];

/// The form as the browser sends it; also what the page shows back.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct PromotionForm {
    csrf: String,
    /// The promotion's code; empty for a new one, which gets a generated code.
    pub id: String,
    /// Title.
    pub name: String,
    /// Text for customers.
    pub description: String,
    /// `skus`, `categories` or `basket`.
    pub target_kind: String,
    /// Codes separated by commas, spaces or lines.
    pub targets: String,
    /// SKUs of the target it never applies to.
    pub exclude_skus: String,
    /// Categories of the target it never applies to.
    pub exclude_categories: String,
    /// One of [`REWARD_KINDS`].
    pub reward_kind: String,
    /// Percent off, such as `10` or `12,5`.
    pub percent: String,
    /// `each` line or the `total` of the targeted lines.
    pub percent_apply: String,
    /// Amount off in roubles.
    pub amount: String,
    /// Off `each` unit or once off the `total`.
    pub amount_apply: String,
    /// The special unit price in roubles.
    pub unit_price: String,
    /// Buy X get Y: units to buy.
    pub buy: String,
    /// Units given.
    pub get: String,
    /// The SKU given; empty for the cheapest targeted units.
    pub free_sku: String,
    /// Off the units given, in percent (100: free).
    pub get_percent: String,
    /// Every `nth` unit…
    pub nth: String,
    /// … at this percent off.
    pub nth_percent: String,
    /// A bundle's items, `SKU × N` each.
    pub bundle_items: String,
    /// A bundle's price in roubles.
    pub bundle_price: String,
    /// A points multiplier in percent (`200`) or as a factor (`×2`).
    pub multiplier: String,
    /// Extra points per check.
    pub extra_points: String,
    /// A coupon code that unlocks it; empty for none.
    pub coupon: String,
    /// Publication start, `datetime-local` in the merchant's zone.
    pub starts_at: String,
    /// Publication end, likewise.
    pub ends_at: String,
    /// Store numbers; empty for every store.
    pub stores: String,
    /// Brand numbers the store must trade under.
    pub brands: String,
    /// The check's amount before discounts, at least, in roubles.
    pub min_basket: String,
    /// The check's units, at least.
    pub min_basket_quantity: String,
    /// The targeted units, at least.
    pub min_target_quantity: String,
    /// SKUs of which the check must hold one.
    pub requires_skus: String,
    /// Categories of which the check must hold a product.
    pub requires_categories: String,
    /// First local date, `YYYY-MM-DD`.
    pub from_date: String,
    /// Last local date.
    pub to_date: String,
    /// Local hours, `17:00–19:00, …`.
    pub hours: String,
    /// Weekday checkboxes: `on` when ticked.
    pub wd_mon: Option<String>,
    /// Tuesday.
    pub wd_tue: Option<String>,
    /// Wednesday.
    pub wd_wed: Option<String>,
    /// Thursday.
    pub wd_thu: Option<String>,
    /// Friday.
    pub wd_fri: Option<String>,
    /// Saturday.
    pub wd_sat: Option<String>,
    /// Sunday.
    pub wd_sun: Option<String>,
    /// Applications per check, at most.
    pub per_check: String,
    /// Checks per customer, at most.
    pub per_customer: String,
    /// Checks overall, at most.
    pub total_uses: String,
    /// Money given overall, at most, in roubles.
    pub budget: String,
    /// The exclusive group; empty for the default one.
    pub group: String,
    /// Priority, a whole number.
    pub priority: String,
    /// A partner who funds it, if any.
    pub funded_by: String,
    /// `on` when the tier discount applies on top.
    pub combines_with_tier: Option<String>,
    /// Who it is for: a segment's tag (`rfm:lapsed_high_spenders`,
    /// `seg:big`), or empty for anyone. Tags a promotion got through the
    /// API show separated by spaces and are kept while unchanged.
    pub segment: String,
    /// The share of customers held out, in percent (`10`, `2,5`); empty
    /// for none.
    pub holdout: String,
    /// The reward of an edited promotion in words ("3 + 1"). Never read
    /// from the browser.
    #[serde(skip)]
    pub reward_note: Option<String>,
}

impl CsrfProtected for PromotionForm {
    fn csrf_token(&self) -> &str {
        &self.csrf
    }
}

/// Refusals by form field (`name`, `targets`, …), plus those of no field.
#[derive(Debug, Clone, Default)]
pub struct FieldErrors {
    by_field: BTreeMap<&'static str, String>,
    /// Refusals that concern no single field.
    pub general: Vec<String>,
}

impl FieldErrors {
    fn add(&mut self, field: &'static str, message: impl Into<String>) {
        self.by_field.entry(field).or_insert_with(|| message.into());
    }

    /// Adds `refusal` to `field`, prefixed with the field's label.
    fn refuse(&mut self, field: &'static str, refusal: &Refusal) {
        let reason = match &refusal.value {
            Some(value) => i18n::t1(refusal.message, "value", value.as_str()),
            None => i18n::t(refusal.message),
        };
        self.add(field, format!("{}: {reason}", i18n::t(label_of(field))));
    }

    /// The refusal of `field`, if any.
    #[must_use]
    pub fn of(&self, field: &str) -> Option<&str> {
        self.by_field.get(field).map(String::as_str)
    }

    /// Whether nothing was refused.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.by_field.is_empty() && self.general.is_empty()
    }
}

/// The label's message id of a form field, which its refusals begin with.
fn label_of(field: &str) -> &'static str {
    match field {
        "reward_kind" => "promo-reward-kind",
        "percent" => "setup-discount-percent",
        "percent_apply" | "amount_apply" => "promo-apply",
        "amount" => "promo-amount",
        "unit_price" => "promo-unit-price",
        "buy" => "promo-buy",
        "get" => "promo-get",
        "free_sku" => "promo-free-sku",
        "get_percent" => "promo-get-percent",
        "nth" => "promo-nth",
        "nth_percent" => "promo-nth-percent",
        "bundle_items" => "promo-bundle-items",
        "bundle_price" => "promo-bundle-price",
        "multiplier" => "promo-multiplier",
        "extra_points" => "promo-extra-points",
        "coupon" => "promo-coupon",
        "exclude_skus" => "promo-exclude-skus",
        "exclude_categories" => "promo-exclude-categories",
        "stores" => "promo-stores",
        "brands" => "promo-brands",
        "min_basket" => "promo-min-basket",
        "min_basket_quantity" => "promo-min-basket-quantity",
        "min_target_quantity" => "promo-min-target-quantity",
        "requires_skus" => "promo-requires-skus",
        "requires_categories" => "promo-requires-categories",
        "from_date" => "promo-from-date",
        "to_date" => "promo-to-date",
        "hours" => "promo-hours",
        "per_check" => "promo-per-check",
        "per_customer" => "promo-per-customer",
        "total_uses" => "promo-total-uses",
        "budget" => "promo-budget",
        "group" => "promo-group",
        "priority" => "promo-priority",
        "holdout" => "setup-holdout",
        "funded_by" => "setup-partner",
        "name" => "setup-name",
        "description" => "setup-description",
        "starts_at" => "setup-starts",
        "ends_at" => "setup-ends",
        _ => "setup-target-codes",
    }
}

/// A form field's text.
type Text = fn(&PromotionForm) -> &str;

/// The form's value of an [`Apply`].
fn apply_text(apply: Apply) -> String {
    match apply {
        Apply::Each => "each",
        Apply::Total => "total",
    }
    .to_owned()
}

fn read_apply(text: &str) -> Result<Apply, Refusal> {
    match text.trim() {
        "" | "each" => Ok(Apply::Each),
        "total" => Ok(Apply::Total),
        _ => Err("promo-reason-apply".into()),
    }
}

/// One reward kind's choice in the select.
#[derive(Debug)]
pub struct KindChoice {
    /// The form's value.
    pub value: &'static str,
    /// Its label.
    pub label: String,
    /// Whether it is the form's kind.
    pub selected: bool,
}

/// One weekday's checkbox.
#[derive(Debug)]
pub struct WeekdayBox {
    /// The field's name.
    pub name: &'static str,
    /// Its label.
    pub label: String,
    /// Whether it is ticked.
    pub checked: bool,
}

impl PromotionForm {
    /// An empty form for a new percent-off promotion on SKUs.
    #[must_use]
    pub fn blank() -> Self {
        PromotionForm {
            target_kind: "skus".to_owned(),
            reward_kind: "percent_off".to_owned(),
            percent_apply: "each".to_owned(),
            amount_apply: "each".to_owned(),
            get: "1".to_owned(),
            get_percent: "100".to_owned(),
            ..PromotionForm::default()
        }
    }

    /// The form filled in from a published promotion, for editing.
    #[must_use]
    pub fn from_promotion(p: &Promotion, zone: Tz) -> Self {
        let (target_kind, targets) = match &p.target {
            Target::Skus { skus } => ("skus", fields::show_codes(skus.iter().map(Sku::as_str))),
            Target::Categories { categories } => (
                "categories",
                fields::show_codes(categories.iter().map(Category::as_str)),
            ),
            Target::Basket => ("basket", String::new()),
        };
        let local = |at: Option<DateTime<Utc>>| {
            at.map(|t| t.with_timezone(&zone).format(LOCAL_MINUTES).to_string())
                .unwrap_or_default()
        };
        let c = &p.conditions;
        let limit = |n: Option<u64>| n.map(|n| n.to_string()).unwrap_or_default();
        let day = |d: Option<chrono::NaiveDate>| {
            d.map(|d| d.format("%Y-%m-%d").to_string())
                .unwrap_or_default()
        };
        let ticked = |day: Weekday| c.schedule.weekdays.contains(&day).then(|| "on".to_owned());
        let mut form = PromotionForm {
            csrf: String::new(),
            id: p.id.as_str().to_owned(),
            name: p.name.clone(),
            description: p.description.clone(),
            target_kind: target_kind.to_owned(),
            targets,
            exclude_skus: fields::show_codes(p.exclude.skus.iter().map(Sku::as_str)),
            exclude_categories: fields::show_codes(
                p.exclude.categories.iter().map(Category::as_str),
            ),
            coupon: p.coupon.clone().unwrap_or_default(),
            starts_at: local(p.starts_at),
            ends_at: local(p.ends_at),
            stores: fields::show_numbers(p.stores.iter().map(|s| s.get())),
            brands: fields::show_numbers(c.brands.iter().map(|b| b.get())),
            min_basket: c
                .min_basket_amount
                .map(fields::show_money)
                .unwrap_or_default(),
            min_basket_quantity: c
                .min_basket_quantity
                .map(fields::show_quantity)
                .unwrap_or_default(),
            min_target_quantity: c
                .min_target_quantity
                .map(fields::show_quantity)
                .unwrap_or_default(),
            requires_skus: fields::show_codes(c.requires_skus.iter().map(Sku::as_str)),
            requires_categories: fields::show_codes(
                c.requires_categories.iter().map(Category::as_str),
            ),
            from_date: day(c.schedule.from_date),
            to_date: day(c.schedule.to_date),
            hours: fields::show_hours(&c.schedule.hours),
            wd_mon: ticked(Weekday::Mon),
            wd_tue: ticked(Weekday::Tue),
            wd_wed: ticked(Weekday::Wed),
            wd_thu: ticked(Weekday::Thu),
            wd_fri: ticked(Weekday::Fri),
            wd_sat: ticked(Weekday::Sat),
            wd_sun: ticked(Weekday::Sun),
            per_check: limit(p.limits.per_check.map(u64::from)),
            per_customer: limit(p.limits.per_customer.map(u64::from)),
            total_uses: limit(p.limits.total_uses),
            budget: p.limits.budget.map(fields::show_money).unwrap_or_default(),
            group: p.group.clone().unwrap_or_default(),
            priority: p.priority.to_string(),
            funded_by: p.funded_by.clone().unwrap_or_default(),
            combines_with_tier: p.combines_with_tier.then(|| "on".to_owned()),
            segment: c.segment.tags.join(" "),
            holdout: p.holdout.map(fields::show_percent).unwrap_or_default(),
            reward_note: Some(setup::discount(p)),
            ..PromotionForm::blank()
        };
        form.show_reward(&p.reward);
        form
    }

    /// Fills in the reward's kind and fields.
    fn show_reward(&mut self, reward: &Reward) {
        let kind = match reward {
            Reward::PercentOff { percent, apply } => {
                self.percent = fields::show_percent(*percent);
                self.percent_apply = apply_text(*apply);
                "percent_off"
            }
            Reward::AmountOff { amount, apply } => {
                self.amount = fields::show_money(*amount);
                self.amount_apply = apply_text(*apply);
                "amount_off"
            }
            Reward::SpecialPrice { unit_price } => {
                self.unit_price = fields::show_money(*unit_price);
                "special_price"
            }
            Reward::BuyXGetY {
                buy,
                get,
                free_sku,
                percent,
            } => {
                self.buy = buy.to_string();
                self.get = get.to_string();
                self.free_sku = free_sku
                    .as_ref()
                    .map(|s| s.as_str().to_owned())
                    .unwrap_or_default();
                self.get_percent = fields::show_percent(*percent);
                "buy_x_get_y"
            }
            Reward::NthItem { n, percent } => {
                self.nth = n.to_string();
                self.nth_percent = fields::show_percent(*percent);
                "nth_item"
            }
            Reward::Bundle { items, price } => {
                self.bundle_items = fields::show_bundle(items);
                self.bundle_price = fields::show_money(*price);
                "bundle"
            }
            Reward::PointsMultiplier { percent } => {
                self.multiplier = percent.to_string();
                "points_multiplier"
            }
            Reward::ExtraPoints { points } => {
                self.extra_points = points.to_string();
                "extra_points"
            }
        };
        kind.clone_into(&mut self.reward_kind);
    }

    /// The texts of a reward kind's fields.
    fn reward_texts(&self, kind: &str) -> Vec<&str> {
        match kind {
            "percent_off" => vec![self.percent.as_str(), self.percent_apply.as_str()],
            "amount_off" => vec![self.amount.as_str(), self.amount_apply.as_str()],
            "special_price" => vec![self.unit_price.as_str()],
            "buy_x_get_y" => vec![
                self.buy.as_str(),
                self.get.as_str(),
                self.free_sku.as_str(),
                self.get_percent.as_str(),
            ],
            "nth_item" => vec![self.nth.as_str(), self.nth_percent.as_str()],
            "bundle" => vec![self.bundle_items.as_str(), self.bundle_price.as_str()],
            "points_multiplier" => vec![self.multiplier.as_str()],
            "extra_points" => vec![self.extra_points.as_str()],
            _ => vec![],
        }
    }

    /// Whether the target is the whole check.
    #[must_use]
    pub fn targets_basket(&self) -> bool {
        self.target_kind == "basket"
    }

    /// Whether the target is categories.
    #[must_use]
    pub fn targets_categories(&self) -> bool {
        self.target_kind == "categories"
    }

    /// The reward kinds for the select, the form's own selected.
    #[must_use]
    pub fn kind_choices(&self) -> Vec<KindChoice> {
        REWARD_KINDS
            .iter()
            .map(|(value, label)| KindChoice {
                value,
                label: i18n::t(label),
                selected: self.reward_kind == *value,
            })
            .collect()
    }

    /// Whether `apply` is the percent's application.
    #[must_use]
    pub fn percent_applies(&self, apply: &str) -> bool {
        self.percent_apply.trim() == apply || (apply == "each" && self.percent_apply.is_empty())
    }

    /// Whether `apply` is the amount's application.
    #[must_use]
    pub fn amount_applies(&self, apply: &str) -> bool {
        self.amount_apply.trim() == apply || (apply == "each" && self.amount_apply.is_empty())
    }

    /// The weekdays' checkboxes.
    #[must_use]
    pub fn weekday_boxes(&self) -> Vec<WeekdayBox> {
        let ticked = self.weekdays_ticked();
        WEEKDAYS
            .iter()
            .zip(ticked)
            .map(|((name, _, label), checked)| WeekdayBox {
                name,
                label: i18n::t(label),
                checked,
            })
            .collect()
    }

    fn weekdays_ticked(&self) -> [bool; 7] {
        [
            &self.wd_mon,
            &self.wd_tue,
            &self.wd_wed,
            &self.wd_thu,
            &self.wd_fri,
            &self.wd_sat,
            &self.wd_sun,
        ]
        .map(Option::is_some)
    }

    /// Parses every field into a new promotion; `now` names it if the code
    /// is empty.
    #[cfg(test)]
    pub fn parse(&self, zone: Tz, now: DateTime<Utc>) -> Result<Promotion, FieldErrors> {
        self.parse_over(None, zone, now)
    }

    /// Parses the form laid over `stored`, the promotion of the current
    /// rules with the form's code, if any: a field still as the form showed
    /// `stored` keeps its stored value, and what the form does not show is
    /// kept (see the module doc).
    pub fn parse_over(
        &self,
        stored: Option<&Promotion>,
        zone: Tz,
        now: DateTime<Utc>,
    ) -> Result<Promotion, FieldErrors> {
        let mut r = Reader {
            sent: self,
            shown: stored.map(|p| (p, PromotionForm::from_promotion(p, zone))),
            errors: FieldErrors::default(),
        };
        // A field kept as it was shown, or read from what was sent.
        macro_rules! field {
            ($name:ident, |$p:ident| $stored:expr, $read:expr) => {
                match r.kept(|f| &f.$name) {
                    Some($p) => $stored,
                    None => r.read(stringify!($name), &self.$name, $read),
                }
            };
        }
        let id = if self.id.trim().is_empty() {
            PromotionId::parse(format!("promo-{}", now.format("%Y%m%d-%H%M%S")))
        } else {
            PromotionId::parse(self.id.trim())
        };
        let id = id
            .map_err(|_| r.errors.add("id", i18n::t("promo-error-id")))
            .ok();
        let name = field!(name, |p| p.name.clone(), |text: &str| {
            let name = text.trim();
            if name.is_empty() {
                Err(Refusal::from("promo-reason-required"))
            } else if name.chars().count() > MAX_NAME_CHARS {
                Err("promo-reason-name-long".into())
            } else {
                Ok(name.to_owned())
            }
        });
        let description = field!(description, |p| p.description.clone(), |text: &str| {
            let text = text.replace("\r\n", "\n");
            let text = text.trim();
            if text.chars().count() > MAX_DESCRIPTION_CHARS {
                Err(Refusal::from("promo-reason-description-long"))
            } else {
                Ok(text.to_owned())
            }
        });
        let target = match stored {
            Some(p) if r.kept(|f| &f.target_kind).is_some() && r.kept(|f| &f.targets).is_some() => {
                Some(p.target.clone())
            }
            _ => self.parse_target(&mut r.errors),
        };
        let reward = r.reward(target.as_ref());
        let exclude_skus = field!(exclude_skus, |p| p.exclude.skus.clone(), fields::read_skus);
        let exclude_categories = field!(
            exclude_categories,
            |p| p.exclude.categories.clone(),
            fields::read_categories
        );
        let starts_at = field!(starts_at, |p| p.starts_at, |text: &str| parse_local(
            text, zone
        ));
        let ends_at = field!(ends_at, |p| p.ends_at, |text: &str| parse_local(text, zone));
        if let (Some(s), Some(e)) = (starts_at, ends_at)
            && e <= s
        {
            r.errors
                .refuse("ends_at", &Refusal::from("promo-reason-ends-before-start"));
        }
        let stores = field!(stores, |p| p.stores.clone(), fields::read_stores);
        let coupon = field!(coupon, |p| p.coupon.clone(), read_coupon);
        let group = field!(group, |p| p.group.clone(), |text: &str| Ok(Some(
            text.trim().to_owned()
        )
        .filter(|g| !g.is_empty())));
        let priority = field!(priority, |p| p.priority, |text: &str| {
            if text.trim().is_empty() {
                Ok(0)
            } else {
                fields::read_whole(text, i64::from(i32::MIN), i64::from(i32::MAX))
                    .map_err(|_| Refusal::from("promo-reason-priority"))
            }
        });
        let funded_by = field!(funded_by, |p| p.funded_by.clone(), |text: &str| Ok(Some(
            text.trim().to_owned()
        )
        .filter(|f| !f.is_empty())));
        let holdout = field!(holdout, |p| p.holdout, read_holdout);
        let combines_with_tier = match &r.shown {
            Some((p, shown))
                if shown.combines_with_tier.is_some() == self.combines_with_tier.is_some() =>
            {
                p.combines_with_tier
            }
            _ => self.combines_with_tier.is_some(),
        };
        let conditions = r.conditions();
        let limits = Limits {
            per_check: field!(per_check, |p| p.limits.per_check, fields::read_limit),
            per_customer: field!(per_customer, |p| p.limits.per_customer, fields::read_limit),
            total_uses: field!(total_uses, |p| p.limits.total_uses, fields::read_limit),
            budget: field!(budget, |p| p.limits.budget, |text: &str| {
                if text.trim().is_empty() {
                    Ok(None)
                } else {
                    fields::read_positive_money(text).map(Some)
                }
            }),
        };
        match (id, target, reward) {
            (Some(id), Some(target), Some(reward)) if r.errors.is_empty() => {
                // What the form does not show comes from the stored one.
                let mut exclude = stored.map(|p| p.exclude.clone()).unwrap_or_default();
                exclude.skus = exclude_skus;
                exclude.categories = exclude_categories;
                Ok(Promotion {
                    id,
                    name,
                    description,
                    target,
                    reward,
                    starts_at,
                    ends_at,
                    stores,
                    priority,
                    combines_with_tier,
                    funded_by,
                    exclude,
                    conditions: Box::new(conditions),
                    limits,
                    group,
                    coupon,
                    holdout,
                })
            }
            _ => Err(r.errors),
        }
    }

    /// The code the form names, trimmed: the promotion it edits, if the
    /// current rules hold one with it.
    #[must_use]
    pub fn code(&self) -> &str {
        self.id.trim()
    }

    fn parse_target(&self, errors: &mut FieldErrors) -> Option<Target> {
        if self.targets_basket() {
            return Some(Target::Basket);
        }
        let read = match self.target_kind.as_str() {
            "skus" => fields::read_skus(&self.targets).map(|skus| Target::Skus { skus }),
            "categories" => fields::read_categories(&self.targets)
                .map(|categories| Target::Categories { categories }),
            _ => {
                errors.add("target_kind", i18n::t("promo-error-target-kind"));
                return None;
            }
        };
        match read {
            Ok(Target::Skus { skus }) if skus.is_empty() => {
                errors.add("targets", i18n::t("promo-error-no-targets"));
                None
            }
            Ok(Target::Categories { categories }) if categories.is_empty() => {
                errors.add("targets", i18n::t("promo-error-no-targets"));
                None
            }
            Ok(target) => Some(target),
            Err(refusal) => {
                errors.refuse("targets", &refusal);
                None
            }
        }
    }
}

/// Reads a form laid over a stored promotion, collecting refusals.
struct Reader<'a> {
    sent: &'a PromotionForm,
    /// The stored promotion and the form as it showed it.
    shown: Option<(&'a Promotion, PromotionForm)>,
    errors: FieldErrors,
}

impl<'a> Reader<'a> {
    /// The stored promotion, when the field's text is still what the form
    /// showed for it.
    fn kept(&self, text: Text) -> Option<&'a Promotion> {
        self.shown
            .as_ref()
            .filter(|(_, shown)| same_text(text(shown), text(self.sent)))
            .map(|(p, _)| *p)
    }

    /// `read` of the field's text; a refusal is noted and the default
    /// stands in (the form is refused anyway).
    fn read<T: Default>(
        &mut self,
        field: &'static str,
        text: &str,
        read: impl FnOnce(&str) -> Result<T, Refusal>,
    ) -> T {
        read(text).unwrap_or_else(|refusal| {
            self.errors.refuse(field, &refusal);
            T::default()
        })
    }

    /// The reward: kept while its kind and that kind's fields are as
    /// shown, else read from the chosen kind's fields.
    fn reward(&mut self, target: Option<&Target>) -> Option<Reward> {
        // A form sent without a kind (a page from before there was a
        // choice) keeps the stored kind, else offers percent off.
        let kind = match self.sent.reward_kind.trim() {
            "" => self
                .shown
                .as_ref()
                .map_or("percent_off", |(_, shown)| shown.reward_kind.as_str()),
            kind => kind,
        }
        .to_owned();
        if let Some((p, shown)) = &self.shown
            && shown.reward_kind == kind
            && shown
                .reward_texts(&kind)
                .into_iter()
                .zip(self.sent.reward_texts(&kind))
                .all(|(shown, sent)| same_text(shown, sent))
        {
            return Some(p.reward.clone());
        }
        let f = self.sent;
        let reward = match kind.as_str() {
            "percent_off" => Reward::PercentOff {
                percent: self.read("percent", &f.percent, |t| fields::read_percent(t).map(Some))?,
                apply: self.read("percent_apply", &f.percent_apply, read_apply),
            },
            "amount_off" => Reward::AmountOff {
                amount: self.read("amount", &f.amount, |t| {
                    fields::read_positive_money(t).map(Some)
                })?,
                apply: self.read("amount_apply", &f.amount_apply, read_apply),
            },
            "special_price" => Reward::SpecialPrice {
                unit_price: self.read("unit_price", &f.unit_price, |t| {
                    fields::read_money(t).map(Some)
                })?,
            },
            "buy_x_get_y" => {
                let units = |t: &str| {
                    fields::read_whole(t, 1, i64::from(fields::MAX_UNITS))
                        .map(Some)
                        .map_err(|_| Refusal::from("promo-reason-units"))
                };
                let buy = self.read("buy", &f.buy, units);
                let get = self.read("get", &f.get, units);
                let free_sku = self.read("free_sku", &f.free_sku, |t| {
                    let t = t.trim();
                    if t.is_empty() {
                        return Ok(None);
                    }
                    Sku::parse(t)
                        .map(Some)
                        .map_err(|_| Refusal::quoting("promo-reason-bad-sku", t))
                });
                let percent = self.read("get_percent", &f.get_percent, |t| {
                    fields::read_percent(t).map(Some)
                });
                Reward::BuyXGetY {
                    buy: buy?,
                    get: get?,
                    free_sku,
                    percent: percent?,
                }
            }
            "nth_item" => {
                let n = self.read("nth", &f.nth, |t| {
                    fields::read_whole(t, 2, i64::from(fields::MAX_UNITS))
                        .map(Some)
                        .map_err(|_| Refusal::from("promo-reason-nth"))
                });
                let percent = self.read("nth_percent", &f.nth_percent, |t| {
                    fields::read_percent(t).map(Some)
                });
                Reward::NthItem {
                    n: n?,
                    percent: percent?,
                }
            }
            "bundle" => {
                let items = self.read("bundle_items", &f.bundle_items, |t| {
                    let items = fields::read_bundle(t)?;
                    match target {
                        Some(Target::Skus { skus }) => {
                            if let Some(item) = items.iter().find(|i| !skus.contains(&i.sku)) {
                                return Err(Refusal::quoting(
                                    "promo-reason-bundle-not-target",
                                    item.sku.as_str(),
                                ));
                            }
                        }
                        Some(_) => return Err("promo-reason-bundle-target".into()),
                        None => {}
                    }
                    Ok(Some(items))
                });
                let price = self.read("bundle_price", &f.bundle_price, |t| {
                    fields::read_money(t).map(Some)
                });
                Reward::Bundle {
                    items: items?,
                    price: price?,
                }
            }
            "points_multiplier" => Reward::PointsMultiplier {
                percent: self.read("multiplier", &f.multiplier, |t| {
                    fields::read_multiplier(t).map(Some)
                })?,
            },
            "extra_points" => Reward::ExtraPoints {
                points: self.read("extra_points", &f.extra_points, |t| {
                    fields::read_whole(t, 1, fields::MAX_POINTS)
                        .map(Some)
                        .map_err(|_| Refusal::from("promo-reason-points"))
                })?,
            },
            _ => {
                self.errors
                    .refuse("reward_kind", &Refusal::from("promo-reason-kind"));
                return None;
            }
        };
        Some(reward)
    }

    /// The conditions: each shown field kept while unchanged, the rest
    /// (a segment's tiers, ages, …) always kept.
    fn conditions(&mut self) -> Conditions {
        let f = self.sent;
        let mut c = self
            .shown
            .as_ref()
            .map(|(p, _)| (*p.conditions).clone())
            .unwrap_or_default();
        macro_rules! field {
            ($name:ident, $target:expr, $read:expr) => {
                if self.kept(|f| &f.$name).is_none() {
                    $target = self.read(stringify!($name), &f.$name, $read);
                }
            };
        }
        field!(min_basket, c.min_basket_amount, fields::read_optional_money);
        field!(
            min_basket_quantity,
            c.min_basket_quantity,
            fields::read_quantity
        );
        field!(
            min_target_quantity,
            c.min_target_quantity,
            fields::read_quantity
        );
        field!(requires_skus, c.requires_skus, fields::read_skus);
        field!(
            requires_categories,
            c.requires_categories,
            fields::read_categories
        );
        field!(brands, c.brands, fields::read_brands);
        field!(from_date, c.schedule.from_date, fields::read_date);
        field!(to_date, c.schedule.to_date, fields::read_date);
        field!(hours, c.schedule.hours, fields::read_hours);
        if let (Some(from), Some(to)) = (c.schedule.from_date, c.schedule.to_date)
            && to < from
        {
            self.errors
                .refuse("to_date", &Refusal::from("promo-reason-dates-order"));
        }
        let ticked = f.weekdays_ticked();
        let weekdays_kept = self
            .shown
            .as_ref()
            .is_some_and(|(_, shown)| shown.weekdays_ticked() == ticked);
        if !weekdays_kept {
            c.schedule.weekdays = WEEKDAYS
                .iter()
                .zip(ticked)
                .filter(|(_, on)| *on)
                .map(|((_, day, _), _)| *day)
                .collect();
        }
        if self.kept(|f| &f.segment).is_none() {
            c.segment.tags = f.segment.split_whitespace().map(str::to_owned).collect();
        }
        c
    }
}

/// A coupon code: up to 64 characters without spaces; empty for none.
fn read_coupon(text: &str) -> Result<Option<String>, Refusal> {
    let code = text.trim();
    if code.is_empty() {
        return Ok(None);
    }
    if code.chars().count() > MAX_COUPON_CHARS
        || code.chars().any(|c| c.is_control() || c.is_whitespace())
    {
        return Err("promo-reason-coupon".into());
    }
    Ok(Some(code.to_owned()))
}

/// Whether a field's text is what the form showed: a browser sends a
/// textarea's lines with CRLF, and the form trims what it reads.
fn same_text(shown: &str, sent: &str) -> bool {
    shown.replace("\r\n", "\n").trim() == sent.replace("\r\n", "\n").trim()
}

/// A holdout share in percent, `0,01`..=`50`; empty is none.
fn read_holdout(text: &str) -> Result<Option<BasisPoints>, Refusal> {
    const MESSAGE: &str = "promo-reason-holdout";
    if text.trim().is_empty() {
        return Ok(None);
    }
    let bp = fields::read_percent(text).map_err(|_| MESSAGE)?;
    if bp.get() > shared::holdout::MAX_SHARE_BP {
        return Err(MESSAGE.into());
    }
    Ok(Some(bp))
}

/// A `datetime-local` value in `zone`; empty is none.
fn parse_local(text: &str, zone: Tz) -> Result<Option<DateTime<Utc>>, Refusal> {
    let text = text.trim();
    if text.is_empty() {
        return Ok(None);
    }
    let local = NaiveDateTime::parse_from_str(text, LOCAL_MINUTES)
        .or_else(|_| NaiveDateTime::parse_from_str(text, LOCAL_SECONDS))
        .map_err(|_| "promo-reason-datetime-format")?;
    zone.from_local_datetime(&local)
        .earliest()
        .map(|t| Some(t.with_timezone(&Utc)))
        .ok_or("promo-reason-datetime-gap".into())
}

/// Where the faults the ruleset validation names land on the form, given
/// the promotion's reward (`reward.percent` is a field of several kinds).
fn field_of_fault(field: &str, reward: &Reward) -> Option<&'static str> {
    let base = field.split('[').next().unwrap_or(field);
    Some(match base {
        "id" => "id",
        "name" => "name",
        "target.skus" | "target.categories" => "targets",
        "starts_at" => "starts_at",
        "ends_at" => "ends_at",
        "holdout" => "holdout",
        "coupon" => "coupon",
        "group" => "group",
        "reward.percent" => match reward {
            Reward::BuyXGetY { .. } => "get_percent",
            Reward::NthItem { .. } => "nth_percent",
            Reward::PointsMultiplier { .. } => "multiplier",
            _ => "percent",
        },
        "reward.amount" => "amount",
        "reward.unit_price" => "unit_price",
        "reward.buy" => "buy",
        "reward.get" => "get",
        "reward.n" => "nth",
        "reward.items" => "bundle_items",
        "reward.price" => "bundle_price",
        "reward.points" => "extra_points",
        "conditions.min_basket_amount" => "min_basket",
        "conditions.schedule.to_date" => "to_date",
        "conditions.schedule.hours" => "hours",
        "limits.per_customer" => "per_customer",
        "limits.per_check" => "per_check",
        "limits.total_uses" => "total_uses",
        "limits.budget" => "budget",
        _ => return None,
    })
}

/// The refusals of a publish, by field.
fn refusal_errors(refusal: &PublishRefusal, promotion: &Promotion) -> FieldErrors {
    let mut errors = FieldErrors::default();
    match refusal {
        PublishRefusal::NoRuleset(_) => errors.general.push(i18n::t("promo-error-no-ruleset")),
        PublishRefusal::Invalid(invalid) => {
            let own_rule = format!("promotion {:?}", promotion.id.as_str());
            for fault in &invalid.0 {
                match field_of_fault(&fault.field, &promotion.reward)
                    .filter(|_| fault.rule == own_rule)
                {
                    Some(field) => errors.add(field, format!("{}: {}", fault.field, fault.message)),
                    None => errors.general.push(fault.to_string()),
                }
            }
        }
        other => errors.general.push(other.to_string()),
    }
    errors
}

/// `POST /hq/merchants/{id}/promotions`: publishes the promotion (a new
/// one, or a replacement of the one with the same code) as the next
/// ruleset version; a refusal shows the form again with its errors.
#[tracing::instrument(skip_all, fields(merchant_id = %merchant))]
pub async fn publish_promotion(
    State(state): State<AppState>,
    Path(merchant): Path<MerchantId>,
    ProtectedForm { session, form }: ProtectedForm<PromotionForm>,
) -> Result<Response, PageError> {
    let stores = state.services.catalog.stores(merchant).await?;
    let zone = format::display_zone(&stores);
    let stored = state
        .services
        .publisher
        .current(merchant)
        .await?
        .and_then(|current| {
            current
                .ruleset
                .promotions
                .into_iter()
                .find(|p| p.id.as_str() == form.code())
        });
    let mut form = form;
    form.reward_note = stored.as_ref().map(setup::discount);
    let refused = |errors: FieldErrors| SetupForms {
        promotion: Some((form.clone(), errors)),
        ..SetupForms::default()
    };
    let promotion = match form.parse_over(stored.as_ref(), zone, state.clock.now()) {
        Ok(promotion) => promotion,
        Err(errors) => {
            return setup::refused(&state, &session, merchant, refused(errors)).await;
        }
    };
    if stored.as_ref() == Some(&promotion) {
        tracing::info!(promotion_id = %promotion.id, "a promotion saved unchanged: nothing to publish");
        return Ok(see_other(&format!(
            "/hq/merchants/{merchant}/setup?unchanged={}#promotions",
            percent_encoding::utf8_percent_encode(
                promotion.id.as_str(),
                percent_encoding::NON_ALPHANUMERIC
            )
        )));
    }
    let change = RulesetChange::UpsertPromotion(promotion.clone());
    match state.services.publisher.publish(merchant, change).await {
        Ok(published) => {
            tracing::info!(promotion_id = %promotion.id, version = %published.version,
                "published a promotion from the set-up page");
            Ok(see_other(&format!(
                "/hq/merchants/{merchant}/setup?published={}#promotions",
                published.version
            )))
        }
        Err(PublishError::Refused(
            refusal @ (PublishRefusal::NoRuleset(_)
            | PublishRefusal::Invalid(_)
            | PublishRefusal::Currency { .. }),
        )) => {
            let errors = refusal_errors(&refusal, &promotion);
            setup::refused(&state, &session, merchant, refused(errors)).await
        }
        Err(PublishError::Refused(other)) => Err(PageError::internal(&other)),
        Err(PublishError::Storage(e)) => Err(e.into()),
    }
}

#[cfg(test)]
mod tests {
    use chrono::{NaiveDate, NaiveTime};
    use proptest::prelude::*;
    use shared::ids::{BrandId, StoreId};
    use shared::money::{Money, Quantity};
    use shared::ruleset::{BundleItem, Exclusions, HourRange, Schedule, Segment};

    use super::*;

    fn form() -> PromotionForm {
        PromotionForm {
            id: "milk-10".into(),
            name: "Молоко −10 %".into(),
            description: "Скидка на молоко".into(),
            target_kind: "skus".into(),
            targets: "4601234567893, 4601234567894\n4601234567895".into(),
            percent: "12,5".into(),
            starts_at: "2026-03-01T09:00".into(),
            ends_at: "2026-03-31T21:00".into(),
            ..PromotionForm::blank()
        }
    }

    fn now() -> DateTime<Utc> {
        "2026-02-01T00:00:00Z".parse().unwrap()
    }

    fn bp(n: u32) -> BasisPoints {
        BasisPoints::new(n).unwrap()
    }

    fn rub(minor: i64) -> Money {
        Money::from_minor(minor).unwrap()
    }

    fn sku(code: &str) -> Sku {
        Sku::parse(code).unwrap()
    }

    #[test]
    fn a_filled_form_becomes_a_promotion_in_the_merchants_zone() {
        let zone = chrono_tz::Europe::Moscow;
        let p = form().parse(zone, now()).unwrap();
        assert_eq!(p.id.as_str(), "milk-10");
        assert_eq!(
            p.reward,
            Reward::PercentOff {
                percent: bp(1250),
                apply: Apply::Each,
            }
        );
        assert!(matches!(&p.target, Target::Skus { skus } if skus.len() == 3));
        assert_eq!(p.starts_at, Some("2026-03-01T06:00:00Z".parse().unwrap()));
        let round_trip = PromotionForm::from_promotion(&p, zone);
        assert_eq!(round_trip.percent, "12,5");
        assert_eq!(round_trip.starts_at, "2026-03-01T09:00");
        assert_eq!(round_trip.parse(zone, now()).unwrap(), p);
    }

    #[test]
    fn each_bad_field_is_named() {
        let bad = PromotionForm {
            name: " ".into(),
            targets: String::new(),
            percent: "abc".into(),
            ends_at: "2026-02-01T09:00".into(),
            ..form()
        };
        let errors = bad.parse(chrono_tz::UTC, now()).unwrap_err();
        assert!(errors.of("name").unwrap().starts_with("Название"));
        assert!(errors.of("targets").unwrap().starts_with("Товары"));
        assert!(errors.of("percent").unwrap().starts_with("Скидка"));
        assert!(errors.of("ends_at").unwrap().starts_with("Окончание"));
        assert!(errors.of("id").is_none());
    }

    #[test]
    fn a_holdout_share_is_read_in_percent_and_refused_past_half() {
        let zone = chrono_tz::UTC;
        let with = |holdout: &str| PromotionForm {
            holdout: holdout.into(),
            ..form()
        };
        let p = with("12,5").parse(zone, now()).unwrap();
        assert_eq!(p.holdout, Some(bp(1250)));
        let shown = PromotionForm::from_promotion(&p, zone);
        assert_eq!(shown.holdout, "12,5");
        assert_eq!(shown.parse(zone, now()).unwrap(), p);
        assert_eq!(with(" ").parse(zone, now()).unwrap().holdout, None);
        for bad in ["50,01", "0", "abc", "-1"] {
            let errors = with(bad).parse(zone, now()).unwrap_err();
            assert!(
                errors
                    .of("holdout")
                    .unwrap()
                    .starts_with("Контрольная группа"),
                "{bad}"
            );
        }
        assert_eq!(
            with("50").parse(zone, now()).unwrap().holdout,
            Some(bp(5000))
        );
    }

    /// The form of `kind` with its fields as typed.
    fn kind_form(kind: &str, typed: &[(&str, &str)]) -> PromotionForm {
        let mut f = PromotionForm {
            reward_kind: kind.into(),
            ..form()
        };
        for (field, text) in typed {
            let slot = match *field {
                "percent" => &mut f.percent,
                "percent_apply" => &mut f.percent_apply,
                "amount" => &mut f.amount,
                "amount_apply" => &mut f.amount_apply,
                "unit_price" => &mut f.unit_price,
                "buy" => &mut f.buy,
                "get" => &mut f.get,
                "free_sku" => &mut f.free_sku,
                "get_percent" => &mut f.get_percent,
                "nth" => &mut f.nth,
                "nth_percent" => &mut f.nth_percent,
                "bundle_items" => &mut f.bundle_items,
                "bundle_price" => &mut f.bundle_price,
                "multiplier" => &mut f.multiplier,
                "extra_points" => &mut f.extra_points,
                other => panic!("no reward field {other}"),
            };
            *slot = (*text).to_owned();
        }
        f
    }

    #[test]
    fn each_reward_kind_is_read_from_its_own_fields() {
        type Case<'a> = (&'a str, Vec<(&'a str, &'a str)>, Reward);
        let cases: Vec<Case<'_>> = vec![
            (
                "percent_off",
                vec![("percent", "15"), ("percent_apply", "total")],
                Reward::PercentOff {
                    percent: bp(1500),
                    apply: Apply::Total,
                },
            ),
            (
                "amount_off",
                vec![("amount", "49,90"), ("amount_apply", "each")],
                Reward::AmountOff {
                    amount: rub(4990),
                    apply: Apply::Each,
                },
            ),
            (
                "amount_off",
                vec![("amount", "500"), ("amount_apply", "total")],
                Reward::AmountOff {
                    amount: rub(50_000),
                    apply: Apply::Total,
                },
            ),
            (
                "special_price",
                vec![("unit_price", "99.9")],
                Reward::SpecialPrice {
                    unit_price: rub(9990),
                },
            ),
            (
                "buy_x_get_y",
                vec![("buy", "2"), ("get", "1"), ("get_percent", "100")],
                Reward::BuyXGetY {
                    buy: 2,
                    get: 1,
                    free_sku: None,
                    percent: BasisPoints::FULL,
                },
            ),
            (
                "buy_x_get_y",
                vec![
                    ("buy", "1"),
                    ("get", "1"),
                    ("free_sku", " 4601234567897 "),
                    ("get_percent", "50 %"),
                ],
                Reward::BuyXGetY {
                    buy: 1,
                    get: 1,
                    free_sku: Some(sku("4601234567897")),
                    percent: bp(5000),
                },
            ),
            (
                "nth_item",
                vec![("nth", "3"), ("nth_percent", "30")],
                Reward::NthItem {
                    n: 3,
                    percent: bp(3000),
                },
            ),
            (
                "bundle",
                vec![
                    ("bundle_items", "4601234567893 × 2\r\n4601234567894"),
                    ("bundle_price", "150"),
                ],
                Reward::Bundle {
                    items: vec![
                        BundleItem {
                            sku: sku("4601234567893"),
                            quantity: 2,
                        },
                        BundleItem {
                            sku: sku("4601234567894"),
                            quantity: 1,
                        },
                    ],
                    price: rub(15_000),
                },
            ),
            (
                "points_multiplier",
                vec![("multiplier", "×2")],
                Reward::PointsMultiplier { percent: 200 },
            ),
            (
                "extra_points",
                vec![("extra_points", "50")],
                Reward::ExtraPoints { points: 50 },
            ),
        ];
        for (kind, typed, expected) in cases {
            // Another kind's fields filled in are ignored.
            let mut f = kind_form(kind, &typed);
            if kind != "percent_off" {
                f.percent = "abc".into();
            }
            let p = f
                .parse(chrono_tz::UTC, now())
                .unwrap_or_else(|e| panic!("{kind}: {e:?}"));
            assert_eq!(p.reward, expected, "{kind}");
            let shown = PromotionForm::from_promotion(&p, chrono_tz::UTC);
            assert_eq!(shown.reward_kind, kind);
            assert_eq!(shown.parse(chrono_tz::UTC, now()).unwrap(), p, "{kind}");
        }
    }

    #[test]
    fn each_reward_kinds_wrong_field_is_named() {
        let cases: [(&str, &str, &str, &str); 14] = [
            ("percent_off", "percent", "0", "Скидка, %"),
            ("percent_off", "percent_apply", "half", "Как считать"),
            ("amount_off", "amount", "0", "Скидка, ₽"),
            ("special_price", "unit_price", "-5", "Цена за единицу"),
            ("buy_x_get_y", "buy", "два", "Купить"),
            ("buy_x_get_y", "get", "0", "Получить"),
            ("buy_x_get_y", "get_percent", "120", "Скидка на полученные"),
            ("buy_x_get_y", "free_sku", "a\u{7}b", "Товар в подарок"),
            ("nth_item", "nth", "1", "Каждый N-й"),
            ("nth_item", "nth_percent", "", "Скидка на него"),
            ("bundle", "bundle_items", "999 × 2", "Состав комплекта"),
            ("bundle", "bundle_price", "дёшево", "Цена комплекта"),
            ("points_multiplier", "multiplier", "100", "Множитель баллов"),
            ("extra_points", "extra_points", "0", "Баллы за чек"),
        ];
        for (kind, field, bad, label) in cases {
            let mut typed = vec![
                ("buy", "2"),
                ("get", "1"),
                ("nth", "2"),
                ("nth_percent", "50"),
                ("bundle_items", "4601234567893 × 2"),
                ("bundle_price", "100"),
            ];
            typed.retain(|(f, _)| *f != field);
            typed.push((field, bad));
            let errors = kind_form(kind, &typed)
                .parse(chrono_tz::UTC, now())
                .unwrap_err();
            let message = errors
                .of(field)
                .unwrap_or_else(|| panic!("{kind}.{field} {bad:?}: {errors:?}"));
            assert!(message.starts_with(label), "{kind}.{field}: {message}");
        }
        let unknown = PromotionForm {
            reward_kind: "lottery".into(),
            ..form()
        };
        let errors = unknown.parse(chrono_tz::UTC, now()).unwrap_err();
        assert!(errors.of("reward_kind").unwrap().starts_with("Выгода"));
        // A bundle's SKU must be among the promotion's own.
        let errors = kind_form("bundle", &[("bundle_items", "999"), ("bundle_price", "1")])
            .parse(chrono_tz::UTC, now())
            .unwrap_err();
        assert!(errors.of("bundle_items").unwrap().contains("999"));
    }

    #[test]
    fn conditions_limits_and_the_rest_are_read_and_named() {
        let zone = chrono_tz::Asia::Vladivostok;
        let filled = PromotionForm {
            exclude_skus: "4601234567894".into(),
            exclude_categories: "tobacco, alcohol".into(),
            coupon: " SPRING ".into(),
            stores: "2, 3".into(),
            brands: "1".into(),
            min_basket: "1 500,50".into(),
            min_basket_quantity: "3".into(),
            min_target_quantity: "1,5".into(),
            requires_skus: "4601234567895".into(),
            requires_categories: "bakery".into(),
            from_date: "2026-03-01".into(),
            to_date: "2026-03-31".into(),
            hours: "17:00–19:00\r\n22:00-02:00".into(),
            wd_mon: Some("on".into()),
            wd_fri: Some("on".into()),
            per_check: "1".into(),
            per_customer: "3".into(),
            total_uses: "1 000".into(),
            budget: "10000".into(),
            group: " dairy ".into(),
            priority: "-5".into(),
            funded_by: "Молочный завод".into(),
            segment: "seg:big".into(),
            ..form()
        };
        let p = filled.parse(zone, now()).unwrap();
        let t = |h, m| NaiveTime::from_hms_opt(h, m, 0).unwrap();
        assert_eq!(
            p.exclude,
            Exclusions {
                skus: vec![sku("4601234567894")],
                categories: vec![
                    Category::parse("tobacco").unwrap(),
                    Category::parse("alcohol").unwrap()
                ],
            }
        );
        assert_eq!(p.coupon.as_deref(), Some("SPRING"));
        assert_eq!(
            p.stores,
            [StoreId::new(2).unwrap(), StoreId::new(3).unwrap()]
        );
        assert_eq!(
            *p.conditions,
            Conditions {
                min_basket_amount: Some(rub(150_050)),
                min_basket_quantity: Some(Quantity::from_milli(3000).unwrap()),
                min_target_quantity: Some(Quantity::from_milli(1500).unwrap()),
                requires_skus: vec![sku("4601234567895")],
                requires_categories: vec![Category::parse("bakery").unwrap()],
                brands: vec![BrandId::new(1).unwrap()],
                schedule: Schedule {
                    from_date: NaiveDate::from_ymd_opt(2026, 3, 1),
                    to_date: NaiveDate::from_ymd_opt(2026, 3, 31),
                    weekdays: vec![Weekday::Mon, Weekday::Fri],
                    hours: vec![
                        HourRange {
                            from: t(17, 0),
                            to: t(19, 0)
                        },
                        HourRange {
                            from: t(22, 0),
                            to: t(2, 0)
                        },
                    ],
                },
                segment: Segment {
                    tags: vec!["seg:big".into()],
                    ..Segment::default()
                },
            }
        );
        assert_eq!(
            p.limits,
            Limits {
                per_check: Some(1),
                per_customer: Some(3),
                total_uses: Some(1000),
                budget: Some(rub(1_000_000)),
            }
        );
        assert_eq!(p.group.as_deref(), Some("dairy"));
        assert_eq!(p.priority, -5);
        assert_eq!(p.funded_by.as_deref(), Some("Молочный завод"));
        let shown = PromotionForm::from_promotion(&p, zone);
        assert_eq!(shown.hours, "17:00–19:00, 22:00–02:00");
        assert_eq!(shown.min_basket, "1500,50");
        assert_eq!(shown.parse(zone, now()).unwrap(), p);

        let bad = PromotionForm {
            coupon: "two words".into(),
            stores: "Тверская".into(),
            min_basket: "много".into(),
            min_target_quantity: "0".into(),
            from_date: "2026-03-31".into(),
            to_date: "2026-03-01".into(),
            hours: "17:00".into(),
            per_check: "0".into(),
            budget: "0".into(),
            priority: "high".into(),
            exclude_categories: "a\u{1}".into(),
            ..filled
        };
        let errors = bad.parse(zone, now()).unwrap_err();
        for (field, label) in [
            ("coupon", "Купон"),
            ("stores", "Магазины"),
            ("min_basket", "Чек от"),
            ("min_target_quantity", "Товаров акции в чеке"),
            ("to_date", "По дату"),
            ("hours", "Часы"),
            ("per_check", "Раз в чеке"),
            ("budget", "Бюджет"),
            ("priority", "Приоритет"),
            ("exclude_categories", "Кроме категорий"),
        ] {
            let message = errors
                .of(field)
                .unwrap_or_else(|| panic!("{field}: {errors:?}"));
            assert!(message.starts_with(label), "{field}: {message}");
        }
        assert!(errors.of("stores").unwrap().contains("Тверская"));
        assert!(errors.of("hours").unwrap().contains("17:00"));
    }

    /// A promotion with every field set, instants with seconds (the form
    /// shows minutes) and a segment the form cannot show.
    fn rich(target: serde_json::Value, reward: serde_json::Value) -> Promotion {
        serde_json::from_value(serde_json::json!({
            "id": "happy-3for2",
            "name": "  Счастливые часы ",
            "description": "Первая строка\nвторая строка",
            "target": target,
            "reward": reward,
            "starts_at": "2026-03-01T06:00:30Z",
            "ends_at": "2026-04-01T06:00:00Z",
            "stores": [2, 3],
            "priority": 7,
            "combines_with_tier": true,
            "funded_by": "Молочный завод",
            "exclude": {"skus": ["4601234567894"]},
            "conditions": {
                "min_basket_amount": 50000,
                "requires_skus": ["4601234567895"],
                "schedule": {"weekdays": ["fri", "mon"],
                             "hours": [{"from": "17:00:00", "to": "19:00:00"}]},
                "segment": {"tiers": ["Gold"], "new_customer": true}
            },
            "limits": {"per_customer": 3, "per_check": 1, "total_uses": 1000, "budget": 1000000},
            "group": "dairy",
            "coupon": "SPRING"
        }))
        .expect("a valid promotion")
    }

    /// Every reward kind of the ruleset model, each on every kind of target.
    fn every_promotion() -> Vec<Promotion> {
        use serde_json::json;
        let targets = [
            json!({"kind": "skus", "skus": ["4601234567893", "4601234567896"]}),
            json!({"kind": "categories", "categories": ["dairy"]}),
            json!({"kind": "basket"}),
        ];
        let rewards = [
            json!({"kind": "percent_off", "percent": 1250}),
            json!({"kind": "percent_off", "percent": 1000, "apply": "total"}),
            json!({"kind": "amount_off", "amount": 5000, "apply": "total"}),
            json!({"kind": "special_price", "unit_price": 9990}),
            json!({"kind": "buy_x_get_y", "buy": 2, "get": 1}),
            json!({"kind": "buy_x_get_y", "buy": 1, "get": 1, "free_sku": "4601234567897",
                   "percent": 5000}),
            json!({"kind": "nth_item", "n": 2, "percent": 5000}),
            json!({"kind": "bundle", "items": [{"sku": "4601234567893", "quantity": 2}],
                   "price": 15000}),
            json!({"kind": "points_multiplier", "percent": 200}),
            json!({"kind": "extra_points", "points": 50}),
        ];
        let mut all = Vec::new();
        for target in &targets {
            for reward in &rewards {
                all.push(rich(target.clone(), reward.clone()));
            }
        }
        all
    }

    /// What a browser sends back for a form it was shown: a textarea's
    /// lines with CRLF, an unchecked box not at all, no note.
    fn as_sent(form: &PromotionForm) -> PromotionForm {
        PromotionForm {
            description: form.description.replace('\n', "\r\n"),
            targets: form.targets.replace('\n', "\r\n"),
            bundle_items: form.bundle_items.replace('\n', "\r\n"),
            hours: form.hours.replace('\n', "\r\n"),
            reward_note: None,
            ..form.clone()
        }
    }

    #[test]
    fn every_promotion_opened_and_saved_unchanged_stays_the_same() {
        for zone in [chrono_tz::Europe::Moscow, chrono_tz::Asia::Vladivostok] {
            for stored in every_promotion() {
                let shown = PromotionForm::from_promotion(&stored, zone);
                let saved = as_sent(&shown)
                    .parse_over(Some(&stored), zone, now())
                    .unwrap_or_else(|e| panic!("{:?}: {e:?}", stored.reward));
                assert_eq!(saved, stored);
            }
        }
    }

    #[test]
    fn an_edit_changes_only_the_fields_changed() {
        let zone = chrono_tz::Europe::Moscow;
        for stored in every_promotion() {
            let edited = PromotionForm {
                name: "Вечерние часы".into(),
                ends_at: "2026-05-01T09:00".into(),
                per_check: "2".into(),
                wd_sat: Some("on".into()),
                ..as_sent(&PromotionForm::from_promotion(&stored, zone))
            };
            let saved = edited.parse_over(Some(&stored), zone, now()).unwrap();
            let mut expected = Promotion {
                name: "Вечерние часы".into(),
                ends_at: Some("2026-05-01T06:00:00Z".parse().unwrap()),
                ..stored.clone()
            };
            expected.limits.per_check = Some(2);
            expected.conditions.schedule.weekdays = vec![Weekday::Mon, Weekday::Fri, Weekday::Sat];
            assert_eq!(saved, expected);
        }
    }

    #[test]
    fn the_rulesets_own_refusals_land_on_the_field_they_name() {
        use shared::ruleset::{InvalidRuleset, RulesetFault};
        let p = rich(
            serde_json::json!({"kind": "basket"}),
            serde_json::json!({"kind": "points_multiplier", "percent": 200}),
        );
        let fault = |rule: &str, field: &str| RulesetFault {
            rule: rule.into(),
            field: field.into(),
            message: "wrong".into(),
        };
        let own = "promotion \"happy-3for2\"";
        let refusal = PublishRefusal::Invalid(InvalidRuleset(vec![
            fault(own, "group"),
            fault(own, "reward.percent"),
            fault(own, "conditions.schedule.hours[1]"),
            fault(own, "conditions.segment.tiers[0]"),
            fault("promotion \"other\"", "coupon"),
        ]));
        let errors = refusal_errors(&refusal, &p);
        assert_eq!(errors.of("group"), Some("group: wrong"));
        assert_eq!(errors.of("multiplier"), Some("reward.percent: wrong"));
        assert_eq!(
            errors.of("hours"),
            Some("conditions.schedule.hours[1]: wrong")
        );
        assert!(errors.of("coupon").is_none(), "another promotion's");
        assert_eq!(errors.general.len(), 2, "{:?}", errors.general);
    }

    #[test]
    fn a_blank_code_names_a_new_promotion() {
        let p = PromotionForm {
            id: String::new(),
            ..form()
        }
        .parse(chrono_tz::UTC, now())
        .unwrap();
        assert_eq!(p.id.as_str(), "promo-20260201-000000");
    }

    // Generated promotions.

    fn code() -> impl Strategy<Value = String> {
        "[0-9A-Za-z_.-]{1,12}"
    }

    fn skus(min: usize) -> impl Strategy<Value = Vec<Sku>> {
        prop::collection::vec(code().prop_map(|c| Sku::parse(c).unwrap()), min..4)
    }

    fn categories(min: usize) -> impl Strategy<Value = Vec<Category>> {
        prop::collection::vec(
            "[a-z][a-z_-]{0,8}".prop_map(|c| Category::parse(c).unwrap()),
            min..3,
        )
    }

    fn money(min: i64) -> impl Strategy<Value = Money> {
        prop_oneof![
            (min..1_000_i64),
            (min..100_000_000_i64),
            (min..1_000_000_i64).prop_map(|r| r * 100)
        ]
        .prop_map(|m| Money::from_minor(m).unwrap())
    }

    fn percent() -> impl Strategy<Value = BasisPoints> {
        prop_oneof![1..=10_000_u32, (1..=100_u32).prop_map(|p| p * 100)].prop_map(bp)
    }

    fn apply() -> impl Strategy<Value = Apply> {
        prop_oneof![Just(Apply::Each), Just(Apply::Total)]
    }

    fn target() -> impl Strategy<Value = Target> {
        prop_oneof![
            skus(1).prop_map(|skus| Target::Skus { skus }),
            categories(1).prop_map(|categories| Target::Categories { categories }),
            Just(Target::Basket),
        ]
    }

    /// A reward of any kind that fits `target` (a bundle needs its SKUs).
    fn reward(target: &Target) -> BoxedStrategy<Reward> {
        let units = 1..=fields::MAX_UNITS;
        let simple = prop_oneof![
            (percent(), apply()).prop_map(|(percent, apply)| Reward::PercentOff { percent, apply }),
            (money(1), apply()).prop_map(|(amount, apply)| Reward::AmountOff { amount, apply }),
            money(0).prop_map(|unit_price| Reward::SpecialPrice { unit_price }),
            (
                units.clone(),
                units,
                prop::option::of(code().prop_map(|c| Sku::parse(c).unwrap())),
                percent()
            )
                .prop_map(|(buy, get, free_sku, percent)| Reward::BuyXGetY {
                    buy,
                    get,
                    free_sku,
                    percent
                }),
            (2..=fields::MAX_UNITS, percent())
                .prop_map(|(n, percent)| Reward::NthItem { n, percent }),
            (101..=10_000_u32).prop_map(|percent| Reward::PointsMultiplier { percent }),
            (1..=fields::MAX_POINTS).prop_map(|points| Reward::ExtraPoints { points }),
        ];
        match target {
            Target::Skus { skus } => {
                let mut unique = skus.clone();
                unique.sort();
                unique.dedup();
                let n = unique.len();
                let bundle = (
                    prop::sample::subsequence(unique, 1..=n),
                    prop::collection::vec(1..=fields::MAX_UNITS, n),
                    money(0),
                )
                    .prop_map(|(skus, quantities, price)| Reward::Bundle {
                        items: skus
                            .into_iter()
                            .zip(quantities)
                            .map(|(sku, quantity)| BundleItem { sku, quantity })
                            .collect(),
                        price,
                    });
                prop_oneof![simple, bundle].boxed()
            }
            _ => simple.boxed(),
        }
    }

    fn instant() -> impl Strategy<Value = DateTime<Utc>> {
        // 2025..2031, to the minute.
        (29_000_000_i64..31_000_000)
            .prop_map(|minutes| DateTime::from_timestamp(minutes * 60, 0).expect("in range"))
    }

    fn date() -> impl Strategy<Value = NaiveDate> {
        (0..2_000_i64)
            .prop_map(|d| NaiveDate::from_ymd_opt(2025, 1, 1).unwrap() + chrono::Duration::days(d))
    }

    fn hour_range() -> impl Strategy<Value = HourRange> {
        let time = prop_oneof![
            (0..24_u32, 0..60_u32).prop_map(|(h, m)| NaiveTime::from_hms_opt(h, m, 0).unwrap()),
            (0..86_400_u32)
                .prop_map(|s| NaiveTime::from_num_seconds_from_midnight_opt(s, 0).unwrap()),
        ];
        (time.clone(), time)
            .prop_filter("from and to differ", |(from, to)| from != to)
            .prop_map(|(from, to)| HourRange { from, to })
    }

    fn quantity() -> impl Strategy<Value = Quantity> {
        prop_oneof![
            (1..=1000_u64).prop_map(|u| u * 1000),
            1..=Quantity::MAX_MILLI
        ]
        .prop_map(|m| Quantity::from_milli(m).unwrap())
    }

    fn conditions() -> impl Strategy<Value = Conditions> {
        let days = [
            Weekday::Mon,
            Weekday::Tue,
            Weekday::Wed,
            Weekday::Thu,
            Weekday::Fri,
            Weekday::Sat,
            Weekday::Sun,
        ];
        let schedule = (
            prop::option::of(date()),
            prop::option::of(date()),
            prop::sample::subsequence(days.to_vec(), 0..=7),
            prop::collection::vec(hour_range(), 0..3),
        )
            .prop_map(|(a, b, weekdays, hours)| {
                let (from_date, to_date) = match (a, b) {
                    (Some(a), Some(b)) => (Some(a.min(b)), Some(a.max(b))),
                    other => other,
                };
                Schedule {
                    from_date,
                    to_date,
                    weekdays,
                    hours,
                }
            });
        (
            prop::option::of(money(0)),
            prop::option::of(quantity()),
            prop::option::of(quantity()),
            skus(0),
            categories(0),
            prop::collection::vec((1..1000_i64).prop_map(|b| BrandId::new(b).unwrap()), 0..3),
            schedule,
            prop::collection::vec("[a-z][a-z0-9:_]{0,12}", 0..2),
        )
            .prop_map(
                |(
                    min_basket_amount,
                    min_basket_quantity,
                    min_target_quantity,
                    requires_skus,
                    requires_categories,
                    brands,
                    schedule,
                    tags,
                )| Conditions {
                    min_basket_amount,
                    min_basket_quantity,
                    min_target_quantity,
                    requires_skus,
                    requires_categories,
                    brands,
                    schedule,
                    segment: Segment {
                        tags,
                        ..Segment::default()
                    },
                },
            )
    }

    fn limits() -> impl Strategy<Value = Limits> {
        (
            prop::option::of(1..=u32::MAX),
            prop::option::of(1..=u32::MAX),
            prop::option::of(1..=u64::from(u32::MAX)),
            prop::option::of(money(1)),
        )
            .prop_map(|(per_check, per_customer, total_uses, budget)| Limits {
                per_customer,
                per_check,
                total_uses,
                budget,
            })
    }

    /// A promotion whose every field the form shows (its instants to the
    /// minute, its segment a tag): a fresh form read back gives it again.
    fn shown_promotion() -> impl Strategy<Value = Promotion> {
        let text = "[A-Za-zА-Яа-я0-9]([A-Za-zА-Яа-я0-9 %−]{0,20}[A-Za-zА-Яа-я0-9])?";
        let head = (
            "[a-z][a-z0-9-]{0,15}".prop_map(|id| PromotionId::parse(id).unwrap()),
            text,
            prop::collection::vec(text, 0..3).prop_map(|lines| lines.join("\n")),
            prop::option::of(instant()),
            prop::option::of(instant()),
            prop::collection::vec((1..100_i64).prop_map(|s| StoreId::new(s).unwrap()), 0..3),
            prop_oneof![Just(0), -1000..1000_i32, Just(i32::MIN), Just(i32::MAX)],
            any::<bool>(),
            prop::option::of(text),
        );
        let tail = (
            (skus(0), categories(0)).prop_map(|(skus, categories)| Exclusions { skus, categories }),
            conditions(),
            limits(),
            prop::option::of("[a-z][a-z0-9_-]{0,10}"),
            prop::option::of("[A-Z0-9]{1,12}"),
            prop::option::of((1..=5_000_u32).prop_map(bp)),
        );
        (target(), head, tail).prop_flat_map(|(target, head, tail)| {
            reward(&target).prop_map(move |reward| {
                let (id, name, description, a, b, stores, priority, combines, funded_by) =
                    head.clone();
                let (exclude, conditions, limits, group, coupon, holdout) = tail.clone();
                let (starts_at, ends_at) = match (a, b) {
                    (Some(a), Some(b)) if a == b => (Some(a), None),
                    (Some(a), Some(b)) => (Some(a.min(b)), Some(a.max(b))),
                    other => other,
                };
                Promotion {
                    id,
                    name,
                    description,
                    target: target.clone(),
                    reward,
                    starts_at,
                    ends_at,
                    stores,
                    priority,
                    combines_with_tier: combines,
                    funded_by,
                    exclude,
                    conditions: Box::new(conditions),
                    limits,
                    group,
                    coupon,
                    holdout,
                }
            })
        })
    }

    /// What the form cannot show laid onto a promotion: seconds, a
    /// segment's tiers, genders and ages, weekdays out of order, spaces
    /// around the name.
    fn with_unshown(p: Promotion) -> impl Strategy<Value = Promotion> {
        (
            0..60_i64,
            any::<bool>(),
            any::<bool>(),
            prop::option::of(0..100_u32),
            any::<bool>(),
        )
            .prop_map(move |(seconds, tiers, reverse, min_age, spaces)| {
                let mut p = p.clone();
                p.starts_at = p.starts_at.map(|s| s + chrono::Duration::seconds(seconds));
                if p.starts_at >= p.ends_at && p.ends_at.is_some() {
                    p.starts_at = None;
                }
                let segment = &mut p.conditions.segment;
                if tiers {
                    segment.tiers = vec!["Gold".into()];
                    segment.genders = vec![shared::identity::Gender::Female];
                    segment.new_customer = true;
                }
                segment.min_age = min_age;
                if reverse {
                    p.conditions.schedule.weekdays.reverse();
                }
                if spaces {
                    p.name = format!("  {} ", p.name);
                }
                p
            })
    }

    fn zone() -> impl Strategy<Value = Tz> {
        prop_oneof![
            Just(chrono_tz::UTC),
            Just(chrono_tz::Europe::Moscow),
            Just(chrono_tz::Asia::Vladivostok),
        ]
    }

    proptest! {
        /// Opening any promotion and saving it unchanged yields it again,
        /// what the form cannot show included.
        #[test]
        fn any_promotion_saved_unchanged_is_the_same(
            stored in shown_promotion().prop_flat_map(with_unshown),
            zone in zone(),
        ) {
            let sent = as_sent(&PromotionForm::from_promotion(&stored, zone));
            let saved = sent.parse_over(Some(&stored), zone, now());
            prop_assert_eq!(saved.map_err(|e| format!("{e:?}")), Ok(stored));
        }

        /// Every field the form shows reads back to its value: the same
        /// form sent as a new promotion (nothing to lay it over) gives the
        /// same promotion.
        #[test]
        fn a_shown_promotion_reads_back_from_its_form_alone(
            stored in shown_promotion(),
            zone in zone(),
        ) {
            let sent = as_sent(&PromotionForm::from_promotion(&stored, zone));
            let fresh = sent.parse_over(None, zone, now());
            prop_assert_eq!(fresh.map_err(|e| format!("{e:?}")), Ok(stored));
        }

        /// Choosing another kind (or the same kind with other values) and
        /// filling in its fields replaces the reward and keeps the rest.
        #[test]
        fn switching_the_kind_replaces_the_reward_and_keeps_the_rest(
            (stored, other) in shown_promotion()
                .prop_flat_map(with_unshown)
                .prop_flat_map(|p| {
                    let rewards = reward(&p.target);
                    (Just(p), rewards)
                }),
            zone in zone(),
        ) {
            let mut sent = as_sent(&PromotionForm::from_promotion(&stored, zone));
            sent.show_reward(&other);
            let saved = sent.parse_over(Some(&stored), zone, now());
            let expected = Promotion { reward: other, ..stored };
            prop_assert_eq!(saved.map_err(|e| format!("{e:?}")), Ok(expected));
        }
    }
}
