//! `GET/POST /hq/merchants/{id}/programme`: the loyalty programme set up in
//! forms, without JSON: the tiers (added, edited, removed; picked by
//! lifetime spend or by spend over a rolling window), earning (the base
//! rate, excluded categories and SKUs, categories' own rates), paying with
//! points, when points become available and expire, and the welcome and
//! birthday bonuses.
//!
//! Money is typed in roubles with a comma or a point and spaces
//! (`1 500,50`) and kept in kopecks; percents as people write them (`5`,
//! `12,5 %`). A refused form comes back as this page with what was typed
//! and the refusal beside its field: syntax is checked here, the rules
//! across fields (thresholds ascending, expiry after the pending period,
//! ranges) by [`Ruleset::validate`], whose faults name rule and field and
//! are mapped back to the form's fields.
//!
//! Saving publishes the next ruleset version through the one publish path
//! ([`RulesetChange::ReplaceProgramme`]): the promotions and every field of
//! the programme this form does not show (stacking, the referral reward) stay exactly as they were. A save that changes nothing
//! publishes nothing and says so. A merchant without rules starts from an
//! empty programme or from a sample.

use std::collections::BTreeMap;

use askama::Template;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};
use serde::Deserialize;
use shared::ids::MerchantId;
use shared::money::{BasisPoints, Money};
use shared::ruleset::{
    BirthdayBonus, CategoryRate, EarnRate, EarnRule, InvalidRuleset, Programme, Redemption,
    Ruleset, Tier, TierBasis,
};

use crate::guard::AuditNote;
use crate::services::publish::{PublishError, PublishRefusal, RulesetChange};
use crate::state::AppState;
use crate::web::error::PageError;
use crate::web::extract::{Path, Query};
use crate::web::i18n::{self, Lang};
use crate::web::layout::HqHeader;
use crate::web::login::see_other;
use crate::web::promotion_fields::{self as list, Refusal};
use crate::web::samples::{SAMPLES, Sample};
use crate::web::session::{CsrfProtected, HqSession, ProtectedForm};

/// The most tier rows one form may send.
const MAX_TIER_ROWS: usize = 50;

/// One tier's row of the form, as typed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TierForm {
    /// The tier's name.
    pub name: String,
    /// The spend from which it applies, in roubles.
    pub threshold: String,
    /// Its discount in percent.
    pub discount: String,
    /// Its own earn rate: points …
    pub earn_points: String,
    /// … per this many roubles; both empty: the programme's base rate.
    pub earn_per: String,
    /// Ticked: the tier is removed.
    pub remove: bool,
}

impl TierForm {
    fn is_blank(&self) -> bool {
        [
            &self.name,
            &self.threshold,
            &self.discount,
            &self.earn_points,
            &self.earn_per,
        ]
        .iter()
        .all(|v| v.trim().is_empty())
    }
}

/// The programme form, as typed: every value a string, so a refused form
/// shows exactly what was sent.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProgrammeForm {
    /// The form token.
    csrf: String,
    /// The tiers' rows, the last one blank for a new tier.
    pub tiers: Vec<TierForm>,
    /// `lifetime` or `rolling`.
    pub tier_basis: String,
    /// The rolling window in days.
    pub window_days: String,
    /// Ticked: purchases earn points.
    pub earn_on: bool,
    /// The base rate: points …
    pub earn_points: String,
    /// … for every this many roubles.
    pub earn_per: String,
    /// Categories that earn nothing, separated by commas, semicolons or lines.
    pub earn_excluded_categories: String,
    /// SKUs that earn nothing, likewise.
    pub earn_excluded_skus: String,
    /// Categories' own rates, one a line: `coffee: 2 за 100`.
    pub earn_category_rates: String,
    /// Ticked: customers may pay with points.
    pub redemption_on: bool,
    /// Points …
    pub redeem_points: String,
    /// … worth this many roubles.
    pub redeem_value: String,
    /// At most this share of a check, in percent.
    pub redeem_cap: String,
    /// Points may be spent from a balance of at least this many.
    pub redeem_min_balance: String,
    /// A till offline lets a customer spend at most this many; empty: no cap.
    pub redeem_offline_cap: String,
    /// Days until points earned can be spent.
    pub pending_days: String,
    /// Days until points expire; empty: never.
    pub expire_days: String,
    /// Points on the first purchase; empty: none.
    pub welcome_bonus: String,
    /// Points around the birthday; empty: none.
    pub birthday_points: String,
    /// Days before the birthday.
    pub birthday_before: String,
    /// Days after the birthday.
    pub birthday_after: String,
}

/// The form's fields as the browser sends them.
#[derive(Debug, Deserialize)]
#[serde(transparent)]
pub struct SentFields(BTreeMap<String, String>);

impl CsrfProtected for SentFields {
    fn csrf_token(&self) -> &str {
        self.0.get("csrf").map_or("", String::as_str)
    }
}

/// Refusals by form field (`redeem_cap`, `tier-2-threshold`…), plus those
/// of no field.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FieldErrors {
    by_field: BTreeMap<String, String>,
    /// Refusals that concern no single field.
    pub general: Vec<String>,
}

impl FieldErrors {
    fn add(&mut self, field: impl Into<String>, message: impl Into<String>) {
        self.by_field
            .entry(field.into())
            .or_insert_with(|| message.into());
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

    /// The fields refused, for logs and tests.
    pub fn fields(&self) -> impl Iterator<Item = &str> {
        self.by_field.keys().map(String::as_str)
    }
}

/// The form field of tier row `row`: `tier-0-name`.
fn tier_field(row: usize, field: &str) -> String {
    format!("tier-{row}-{field}")
}

impl ProgrammeForm {
    /// The form filled in from `programme`, with a blank row for a new tier.
    #[must_use]
    pub fn from_programme(programme: &Programme) -> Self {
        let mut tiers: Vec<TierForm> = programme
            .tiers
            .iter()
            .map(|t| TierForm {
                name: t.name.clone(),
                threshold: money_text(t.min_lifetime_spend),
                discount: percent_text(t.discount),
                earn_points: t.earn.map(|e| e.points.to_string()).unwrap_or_default(),
                earn_per: t.earn.map(|e| money_text(e.per)).unwrap_or_default(),
                remove: false,
            })
            .collect();
        tiers.push(TierForm::default());
        let (tier_basis, window_days) = match programme.tier_basis {
            TierBasis::LifetimeSpend => ("lifetime", String::new()),
            TierBasis::RollingWindow { days } => ("rolling", days.to_string()),
        };
        let r = programme.redemption.as_ref();
        let b = programme.birthday_bonus.as_ref();
        let e = programme.earn.as_ref();
        let text = |v: Option<i64>| v.map(|v| v.to_string()).unwrap_or_default();
        ProgrammeForm {
            csrf: String::new(),
            tiers,
            tier_basis: tier_basis.to_owned(),
            window_days,
            earn_on: e.is_some(),
            earn_points: text(e.map(|e| e.points)),
            earn_per: e.map(|e| money_text(e.per)).unwrap_or_default(),
            earn_excluded_categories: e
                .map(|e| list::show_codes(e.excluded_categories.iter().map(|c| c.as_str())))
                .unwrap_or_default(),
            earn_excluded_skus: e
                .map(|e| list::show_codes(e.excluded_skus.iter().map(|s| s.as_str())))
                .unwrap_or_default(),
            earn_category_rates: e
                .map(|e| category_rates_text(&e.category_rates))
                .unwrap_or_default(),
            redemption_on: r.is_some(),
            redeem_points: text(r.map(|r| r.points)),
            redeem_value: r.map(|r| money_text(r.value)).unwrap_or_default(),
            redeem_cap: r.map(|r| percent_text(r.max_share)).unwrap_or_default(),
            redeem_min_balance: text(r.map(|r| r.min_balance)),
            redeem_offline_cap: text(r.and_then(|r| r.offline_cap_points)),
            pending_days: programme.points_pending_days.to_string(),
            expire_days: programme
                .points_expire_days
                .map(|d| d.to_string())
                .unwrap_or_default(),
            welcome_bonus: text(programme.welcome_bonus),
            birthday_points: text(b.map(|b| b.points)),
            birthday_before: b.map(|b| b.days_before.to_string()).unwrap_or_default(),
            birthday_after: b.map(|b| b.days_after.to_string()).unwrap_or_default(),
        }
    }

    /// The form as the browser sent it: tier rows `tier-0-…` up to the
    /// first row number not sent.
    #[must_use]
    pub fn from_sent(sent: &SentFields) -> Self {
        let fields = &sent.0;
        let get = |name: &str| fields.get(name).cloned().unwrap_or_default();
        let mut tiers = Vec::new();
        for row in 0..MAX_TIER_ROWS {
            if !fields.contains_key(&tier_field(row, "name")) {
                break;
            }
            let cell = |field: &str| get(&tier_field(row, field));
            tiers.push(TierForm {
                name: cell("name"),
                threshold: cell("threshold"),
                discount: cell("discount"),
                earn_points: cell("earn_points"),
                earn_per: cell("earn_per"),
                remove: fields.contains_key(&tier_field(row, "remove")),
            });
        }
        ProgrammeForm {
            csrf: get("csrf"),
            tiers,
            tier_basis: get("tier_basis"),
            window_days: get("window_days"),
            earn_on: fields.contains_key("earn_on"),
            earn_points: get("earn_points"),
            earn_per: get("earn_per"),
            earn_excluded_categories: get("earn_excluded_categories"),
            earn_excluded_skus: get("earn_excluded_skus"),
            earn_category_rates: get("earn_category_rates"),
            redemption_on: fields.contains_key("redemption_on"),
            redeem_points: get("redeem_points"),
            redeem_value: get("redeem_value"),
            redeem_cap: get("redeem_cap"),
            redeem_min_balance: get("redeem_min_balance"),
            redeem_offline_cap: get("redeem_offline_cap"),
            pending_days: get("pending_days"),
            expire_days: get("expire_days"),
            welcome_bonus: get("welcome_bonus"),
            birthday_points: get("birthday_points"),
            birthday_before: get("birthday_before"),
            birthday_after: get("birthday_after"),
        }
    }

    /// Whether tiers are picked by spend over a rolling window.
    #[must_use]
    pub fn rolling(&self) -> bool {
        self.tier_basis == "rolling"
    }

    /// The programme this form describes over `base`: the fields the form
    /// shows are replaced, every other field of `base` is kept as it is.
    /// Tiers are ordered by threshold (the rows need not be). Syntax only:
    /// the rules across fields are [`Ruleset::validate`]'s, see
    /// [`validation_errors`].
    pub fn parse_over(&self, base: &Programme) -> Result<Parsed, FieldErrors> {
        let mut errors = FieldErrors::default();
        let mut tiers: Vec<(usize, Tier)> = Vec::new();
        for (row, t) in self.tiers.iter().enumerate() {
            if t.remove || t.is_blank() {
                continue;
            }
            let cell = |f: &str| tier_field(row, f);
            let name = t.name.trim();
            if name.is_empty() {
                errors.add(cell("name"), i18n::t("programme-error-tier-name"));
            }
            let threshold = required(&t.threshold, parse_money).map_err(|()| {
                errors.add(cell("threshold"), i18n::t("programme-error-money"));
            });
            let discount = required(&t.discount, parse_percent).map_err(|()| {
                errors.add(cell("discount"), i18n::t("programme-error-discount"));
            });
            let earn = match (t.earn_points.trim(), t.earn_per.trim()) {
                ("", "") => Ok(None),
                (points, per) => {
                    let points = required(points, parse_count).map_err(|()| {
                        errors.add(cell("earn_points"), i18n::t("programme-error-earn-points"));
                    });
                    let per = required(per, parse_money).map_err(|()| {
                        errors.add(cell("earn_per"), i18n::t("programme-error-earn-per"));
                    });
                    match (points, per) {
                        (Ok(points), Ok(per)) => Ok(Some(EarnRate { per, points })),
                        _ => Err(()),
                    }
                }
            };
            if let (Ok(threshold), Ok(discount), Ok(earn)) = (threshold, discount, earn) {
                tiers.push((
                    row,
                    Tier {
                        name: name.to_owned(),
                        min_lifetime_spend: threshold,
                        discount,
                        earn,
                    },
                ));
            }
        }
        // Stable: a valid list (strictly ascending) keeps its order.
        tiers.sort_by_key(|(_, t)| t.min_lifetime_spend);

        let tier_basis = if self.rolling() {
            match required(&self.window_days, parse_days) {
                Ok(days) => TierBasis::RollingWindow { days },
                Err(()) => {
                    errors.add("window_days", i18n::t("programme-error-window-days"));
                    TierBasis::LifetimeSpend
                }
            }
        } else {
            TierBasis::LifetimeSpend
        };

        let earn = if self.earn_on {
            self.parse_earn(&mut errors)
        } else {
            None
        };

        let redemption = if self.redemption_on {
            let points = field(
                &mut errors,
                "redeem_points",
                "programme-error-redeem-points",
                required(&self.redeem_points, parse_count),
            );
            let value = field(
                &mut errors,
                "redeem_value",
                "programme-error-money-positive",
                required(&self.redeem_value, parse_money),
            );
            let cap = field(
                &mut errors,
                "redeem_cap",
                "programme-error-redeem-cap",
                required(&self.redeem_cap, parse_percent),
            );
            let min_balance = field(
                &mut errors,
                "redeem_min_balance",
                "programme-error-min-balance",
                optional(&self.redeem_min_balance, parse_count).map(Option::unwrap_or_default),
            );
            let offline_cap = field(
                &mut errors,
                "redeem_offline_cap",
                "programme-error-offline-cap",
                optional(&self.redeem_offline_cap, parse_count),
            );
            match (points, value, cap, min_balance, offline_cap) {
                (Some(points), Some(value), Some(max_share), Some(min_balance), Some(cap)) => {
                    Some(Redemption {
                        points,
                        value,
                        max_share,
                        min_balance,
                        offline_cap_points: cap,
                    })
                }
                _ => None,
            }
        } else {
            None
        };

        let pending = field(
            &mut errors,
            "pending_days",
            "programme-error-pending-days",
            optional(&self.pending_days, parse_days).map(Option::unwrap_or_default),
        );
        let expire = field(
            &mut errors,
            "expire_days",
            "programme-error-expire-days",
            optional(&self.expire_days, parse_days),
        );
        let welcome = field(
            &mut errors,
            "welcome_bonus",
            "programme-error-bonus",
            optional(&self.welcome_bonus, parse_count),
        );
        let birthday_points = field(
            &mut errors,
            "birthday_points",
            "programme-error-bonus",
            optional(&self.birthday_points, parse_count),
        );
        let days_before = field(
            &mut errors,
            "birthday_before",
            "programme-error-birthday-days",
            optional(&self.birthday_before, parse_days).map(Option::unwrap_or_default),
        );
        let days_after = field(
            &mut errors,
            "birthday_after",
            "programme-error-birthday-days",
            optional(&self.birthday_after, parse_days).map(Option::unwrap_or_default),
        );

        if !errors.is_empty() {
            return Err(errors);
        }
        let (Some(pending), Some(expire), Some(welcome), Some(birthday_points)) =
            (pending, expire, welcome, birthday_points)
        else {
            return Err(errors);
        };
        let birthday = birthday_points.map(|points| BirthdayBonus {
            points,
            days_before: days_before.unwrap_or_default(),
            days_after: days_after.unwrap_or_default(),
        });
        let rows = tiers.iter().map(|(row, _)| *row).collect();
        let programme = Programme {
            tiers: tiers.into_iter().map(|(_, t)| t).collect(),
            tier_basis,
            earn,
            welcome_bonus: welcome,
            birthday_bonus: birthday,
            redemption,
            points_pending_days: pending,
            points_expire_days: expire,
            ..base.clone()
        };
        Ok(Parsed { programme, rows })
    }

    /// The earn rule as typed, its refusals noted in `errors` (then none).
    fn parse_earn(&self, errors: &mut FieldErrors) -> Option<EarnRule> {
        let points = field(
            errors,
            "earn_points",
            "programme-error-earn-points",
            required(&self.earn_points, parse_count),
        );
        let per = field(
            errors,
            "earn_per",
            "programme-error-money-positive",
            required(&self.earn_per, parse_money),
        );
        let mut refuse = |name: &str, refusal: Refusal| {
            let message = match &refusal.value {
                Some(value) => i18n::t1(refusal.message, "value", value.as_str()),
                None => i18n::t(refusal.message),
            };
            errors.add(name, message);
        };
        let categories = list::read_categories(&self.earn_excluded_categories)
            .map_err(|r| refuse("earn_excluded_categories", r))
            .ok();
        let skus = list::read_skus(&self.earn_excluded_skus)
            .map_err(|r| refuse("earn_excluded_skus", r))
            .ok();
        let rates = read_category_rates(&self.earn_category_rates)
            .map_err(|r| refuse("earn_category_rates", r))
            .ok();
        Some(EarnRule {
            per: per?,
            points: points?,
            excluded_categories: categories?,
            excluded_skus: skus?,
            category_rates: rates?,
        })
    }
}

/// The word between points and roubles in a category's rate line.
fn per_word() -> &'static str {
    match i18n::current() {
        Lang::Ru => "за",
        Lang::En => "per",
    }
}

/// Categories' own rates as the form shows them, one a line:
/// `coffee: 2 за 100`.
fn category_rates_text(rates: &[CategoryRate]) -> String {
    rates
        .iter()
        .map(|r| {
            format!(
                "{}: {} {} {}",
                r.category,
                r.points,
                per_word(),
                money_text(r.per)
            )
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// Categories' own rates, one a line (`coffee: 2 за 100`, `coffee: 2 per
/// 100` in either language); blank lines skipped. A refusal quotes the line.
fn read_category_rates(text: &str) -> Result<Vec<CategoryRate>, Refusal> {
    text.lines()
        .map(str::trim)
        .filter(|line| !line.is_empty())
        .map(|line| {
            let bad = || Refusal::quoting("programme-error-category-rate", line);
            let (category, rate) = line.rsplit_once(':').ok_or_else(bad)?;
            if category.trim().is_empty() {
                return Err(bad());
            }
            let category = shared::ids::Category::parse(category.trim())
                .map_err(|_| Refusal::quoting("promo-reason-bad-category", category.trim()))?;
            let rate = rate.trim();
            let (points, per) = ["за", "per"]
                .iter()
                .find_map(|word| {
                    let (points, per) = rate.split_once(word)?;
                    Some((parse_count(points.trim())?, parse_money(per.trim())?))
                })
                .ok_or_else(bad)?;
            Ok(CategoryRate {
                category,
                per,
                points,
            })
        })
        .collect()
}

/// A parsed form: the programme, and for each of its tiers the form row it
/// came from (the tiers are ordered by threshold, the rows as typed).
#[derive(Debug, Clone)]
pub struct Parsed {
    /// The programme.
    pub programme: Programme,
    /// Tier `i`'s form row.
    pub rows: Vec<usize>,
}

/// `value`, or the field's refusal noted in `errors`.
fn field<T>(
    errors: &mut FieldErrors,
    name: &str,
    message: &str,
    value: Result<T, ()>,
) -> Option<T> {
    match value {
        Ok(v) => Some(v),
        Err(()) => {
            errors.add(name, i18n::t(message));
            None
        }
    }
}

fn required<T>(text: &str, parse: fn(&str) -> Option<T>) -> Result<T, ()> {
    parse(text.trim()).ok_or(())
}

fn optional<T>(text: &str, parse: fn(&str) -> Option<T>) -> Result<Option<T>, ()> {
    let text = text.trim();
    if text.is_empty() {
        Ok(None)
    } else {
        parse(text).map(Some).ok_or(())
    }
}

/// Roubles as typed (`1 500,50`, `1500.5`, `1 500 ₽`), as money.
fn parse_money(text: &str) -> Option<Money> {
    crate::web::format::parse_roubles(text).and_then(|kopecks| Money::from_minor(kopecks).ok())
}

/// A whole number with its digits grouped or not (`1 000`).
fn parse_count(text: &str) -> Option<i64> {
    let digits: String = text
        .chars()
        .filter(|c| !c.is_whitespace() && *c != '\u{a0}')
        .collect();
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

fn parse_days(text: &str) -> Option<u32> {
    parse_count(text).and_then(|n| u32::try_from(n).ok())
}

/// `5`, `12,5`, `12.5 %` percent as basis points, `0`..=`100`.
fn parse_percent(text: &str) -> Option<BasisPoints> {
    let text = text.trim().trim_end_matches('%').trim();
    let (whole, fraction) = text.split_once([',', '.']).unwrap_or((text, ""));
    let digits = |s: &str| !s.is_empty() && s.len() <= 3 && s.bytes().all(|b| b.is_ascii_digit());
    if !digits(whole) || !(fraction.is_empty() || (fraction.len() <= 2 && digits(fraction))) {
        return None;
    }
    let whole: u32 = whole.parse().ok()?;
    let hundredths: u32 = format!("{fraction:0<2}").parse().ok()?;
    BasisPoints::new(whole.checked_mul(100)?.checked_add(hundredths)?).ok()
}

/// Money as the form shows it: `15 000`, `1 500,50` (`15000`, `1500.50` in
/// English, where a comma would be read as the decimal mark).
fn money_text(amount: Money) -> String {
    let minor = amount.minor();
    let sign = if minor < 0 { "-" } else { "" };
    let abs = minor.unsigned_abs();
    let whole = abs / 100;
    let (whole, mark) = match i18n::current() {
        Lang::Ru => (grouped(whole), ','),
        Lang::En => (whole.to_string(), '.'),
    };
    match abs % 100 {
        0 => format!("{sign}{whole}"),
        kopecks => format!("{sign}{whole}{mark}{kopecks:02}"),
    }
}

fn grouped(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, digit) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(' ');
        }
        out.push(digit);
    }
    out
}

/// A percentage as the form shows it: `12,5` (without the sign).
fn percent_text(bp: BasisPoints) -> String {
    let mark = match i18n::current() {
        Lang::Ru => ',',
        Lang::En => '.',
    };
    let (whole, hundredths) = (bp.get() / 100, bp.get() % 100);
    match hundredths {
        0 => whole.to_string(),
        h if h % 10 == 0 => format!("{whole}{mark}{}", h / 10),
        h => format!("{whole}{mark}{h:02}"),
    }
}

/// Where the faults [`Ruleset::validate`] names land on the form: the
/// field, and the message shown beside it.
fn form_field(rule: &str, field: &str, message: &str, rows: &[usize]) -> Option<(String, String)> {
    if let Some(rest) = rule.strip_prefix("tier[") {
        let index: usize = rest.split(']').next()?.parse().ok()?;
        let row = *rows.get(index)?;
        let (name, id) = match field {
            "name" if message.contains("another tier") => {
                ("name", "programme-error-tier-name-taken")
            }
            "name" => ("name", "programme-error-tier-name"),
            "min_lifetime_spend" => ("threshold", "programme-error-tier-threshold-order"),
            "earn.points" => ("earn_points", "programme-error-earn-points"),
            "earn.per" => ("earn_per", "programme-error-earn-per"),
            _ => return None,
        };
        return Some((tier_field(row, name), i18n::t(id)));
    }
    if rule == "programme.earn" {
        let (name, id) = match field {
            "points" => ("earn_points", "programme-error-earn-points"),
            "per" => ("earn_per", "programme-error-money-positive"),
            f if f.starts_with("category_rates[") && f.ends_with("category") => {
                ("earn_category_rates", "programme-error-category-rate-twice")
            }
            f if f.starts_with("category_rates[") => (
                "earn_category_rates",
                "programme-error-category-rate-values",
            ),
            _ => return None,
        };
        return Some((name.to_owned(), i18n::t(id)));
    }
    let (name, id) = match (rule, field) {
        ("programme", "tier_basis.days") => ("window_days", "programme-error-window-days"),
        ("programme", "points_pending_days") => ("pending_days", "programme-error-pending-days"),
        ("programme", "points_expire_days") if message.contains("points_pending_days") => {
            ("expire_days", "programme-error-expire-before-pending")
        }
        ("programme", "points_expire_days") => ("expire_days", "programme-error-expire-days"),
        ("programme", "welcome_bonus") => ("welcome_bonus", "programme-error-bonus"),
        ("programme.birthday_bonus", "points") => ("birthday_points", "programme-error-bonus"),
        ("programme.birthday_bonus", "days_before") => {
            ("birthday_before", "programme-error-birthday-days")
        }
        ("programme.birthday_bonus", "days_after") => {
            ("birthday_after", "programme-error-birthday-days")
        }
        ("programme.redemption", "points") => ("redeem_points", "programme-error-redeem-points"),
        ("programme.redemption", "value") => ("redeem_value", "programme-error-money-positive"),
        ("programme.redemption", "max_share") => ("redeem_cap", "programme-error-redeem-cap"),
        ("programme.redemption", "min_balance") => {
            ("redeem_min_balance", "programme-error-min-balance")
        }
        ("programme.redemption", "offline_cap_points") => {
            ("redeem_offline_cap", "programme-error-offline-cap")
        }
        _ => return None,
    };
    Some((name.to_owned(), i18n::t(id)))
}

/// The faults of the ruleset's own validation, by form field; those of no
/// field shown here (a promotion naming a tier removed, say) are listed
/// as they are.
#[must_use]
pub fn validation_errors(invalid: &InvalidRuleset, rows: &[usize]) -> FieldErrors {
    let mut errors = FieldErrors::default();
    for fault in &invalid.0 {
        match form_field(&fault.rule, &fault.field, &fault.message, rows) {
            Some((field, message)) => errors.add(field, message),
            None => errors.general.push(fault.to_string()),
        }
    }
    errors
}

/// One tier row as the page shows it.
#[derive(Debug, Clone)]
struct TierRow {
    index: usize,
    form: TierForm,
    /// The last, blank row: a new tier.
    new: bool,
    name_error: Option<String>,
    threshold_error: Option<String>,
    discount_error: Option<String>,
    earn_points_error: Option<String>,
    earn_per_error: Option<String>,
}

#[derive(Template)]
#[template(path = "hq/programme.html")]
struct ProgrammePage {
    header: HqHeader,
    merchant_id: MerchantId,
    merchant_name: String,
    /// The current version, if the merchant has rules.
    version: Option<String>,
    notice: Option<String>,
    form: ProgrammeForm,
    tiers: Vec<TierRow>,
    errors: FieldErrors,
    samples: &'static [Sample],
}

impl ProgrammePage {
    /// The refusal of `field`, if any.
    fn error(&self, field: &str) -> Option<&str> {
        self.errors.of(field)
    }
}

/// `GET …/programme` parameters.
#[derive(Debug, Default, Deserialize)]
pub struct ProgrammeQuery {
    /// The version the programme was just published as.
    published: Option<u64>,
    /// Saved unchanged: nothing was published.
    unchanged: Option<u8>,
}

/// `GET /hq/merchants/{id}/programme`.
#[tracing::instrument(skip_all, fields(merchant_id = %merchant))]
pub async fn page(
    State(state): State<AppState>,
    session: HqSession,
    Path(merchant): Path<MerchantId>,
    Query(query): Query<ProgrammeQuery>,
) -> Result<Response, PageError> {
    let current = state.services.publisher.current(merchant).await?;
    let notice = match (query.published, query.unchanged) {
        (Some(v), _) => Some(i18n::t1("programme-notice-published", "version", v)),
        (None, Some(_)) => Some(i18n::t1(
            "programme-notice-unchanged",
            "version",
            current.as_ref().map_or(0, |c| c.version.get()),
        )),
        (None, None) => None,
    };
    let form = ProgrammeForm::from_programme(
        &current
            .as_ref()
            .map(|c| c.ruleset.programme.clone())
            .unwrap_or_default(),
    );
    let page = render(
        &state,
        &session,
        merchant,
        form,
        FieldErrors::default(),
        notice,
    )
    .await?;
    Ok(Html(page.render()?).into_response())
}

async fn render(
    state: &AppState,
    session: &HqSession,
    merchant_id: MerchantId,
    form: ProgrammeForm,
    errors: FieldErrors,
    notice: Option<String>,
) -> Result<ProgrammePage, PageError> {
    let merchant = state.services.catalog.merchant(merchant_id).await?;
    let current = state.services.publisher.current(merchant_id).await?;
    let last = form.tiers.len().saturating_sub(1);
    let tiers = form
        .tiers
        .iter()
        .enumerate()
        .map(|(index, t)| {
            let error = |f: &str| errors.of(&tier_field(index, f)).map(str::to_owned);
            TierRow {
                index,
                form: t.clone(),
                new: index == last && t.is_blank(),
                name_error: error("name"),
                threshold_error: error("threshold"),
                discount_error: error("discount"),
                earn_points_error: error("earn_points"),
                earn_per_error: error("earn_per"),
            }
        })
        .collect();
    Ok(ProgrammePage {
        header: HqHeader::for_merchant(session, &merchant),
        merchant_id,
        merchant_name: merchant.name,
        version: current.map(|c| c.version.to_string()),
        notice,
        form,
        tiers,
        errors,
        samples: &SAMPLES,
    })
}

/// This page again with the form as sent and its refusals, as `422`.
async fn refused(
    state: &AppState,
    session: &HqSession,
    merchant: MerchantId,
    mut form: ProgrammeForm,
    errors: FieldErrors,
) -> Result<Response, PageError> {
    if !form.tiers.last().is_some_and(TierForm::is_blank) {
        form.tiers.push(TierForm::default());
    }
    let page = render(state, session, merchant, form, errors, None).await?;
    Ok((StatusCode::UNPROCESSABLE_ENTITY, Html(page.render()?)).into_response())
}

/// `POST /hq/merchants/{id}/programme`: publishes the programme as typed
/// over the current one as the next ruleset version, promotions and every
/// field not shown kept; nothing when nothing changed. A refusal shows the
/// form again with what was typed and the message beside its field.
#[tracing::instrument(skip_all, fields(merchant_id = %merchant))]
pub async fn save(
    State(state): State<AppState>,
    Path(merchant): Path<MerchantId>,
    ProtectedForm { session, form }: ProtectedForm<SentFields>,
) -> Result<Response, PageError> {
    let merchant_row = state.services.catalog.merchant(merchant).await?;
    // The page always sends the basis (a radio button, one checked): a
    // form without it is not this page's, and must not publish a
    // programme emptied of everything it lacks.
    if !matches!(
        form.0.get("tier_basis").map(String::as_str),
        Some("lifetime" | "rolling")
    ) {
        return Err(PageError::BadRequest("the programme form is incomplete"));
    }
    let form = ProgrammeForm::from_sent(&form);
    let current = state.services.publisher.current(merchant).await?;
    let base = current
        .as_ref()
        .map(|c| c.ruleset.programme.clone())
        .unwrap_or_default();
    let parsed = match form.parse_over(&base) {
        Ok(parsed) => parsed,
        Err(errors) => {
            tracing::info!(fields = ?errors.fields().collect::<Vec<_>>(), "a programme form refused");
            return refused(&state, &session, merchant, form, errors).await;
        }
    };
    let back = format!("/hq/merchants/{merchant}/programme");
    if let Some(current) = &current
        && current.ruleset.programme == parsed.programme
    {
        tracing::info!(version = %current.version, "the programme saved unchanged: nothing to publish");
        let note = AuditNote {
            subject: Some("programme".to_owned()),
            before: format!("version {}", current.version),
            after: format!("version {} (unchanged)", current.version),
            ..AuditNote::default()
        };
        return Ok(note.attach(see_other(&format!("{back}?unchanged=1"))));
    }
    // The ruleset's own validation, before the publish path runs it again
    // in its transaction: its faults name the form's fields.
    let candidate = Ruleset {
        currency: merchant_row.currency,
        programme: parsed.programme.clone(),
        promotions: current
            .as_ref()
            .map(|c| c.ruleset.promotions.clone())
            .unwrap_or_default(),
    };
    if let Err(invalid) = candidate.validate() {
        let errors = validation_errors(&invalid, &parsed.rows);
        return refused(&state, &session, merchant, form, errors).await;
    }
    let before = current
        .as_ref()
        .map_or_else(|| "none".to_owned(), |c| format!("version {}", c.version));
    match state
        .services
        .publisher
        .publish(merchant, RulesetChange::ReplaceProgramme(parsed.programme))
        .await
    {
        Ok(published) => {
            tracing::info!(version = %published.version, "published the programme from its page");
            let note = AuditNote {
                subject: Some("programme".to_owned()),
                before,
                after: format!("version {}", published.version),
                ..AuditNote::default()
            };
            Ok(note.attach(see_other(&format!(
                "{back}?published={}",
                published.version
            ))))
        }
        // A promotion published meanwhile that the new programme breaks.
        Err(PublishError::Refused(PublishRefusal::Invalid(invalid))) => {
            let errors = validation_errors(&invalid, &parsed.rows);
            refused(&state, &session, merchant, form, errors).await
        }
        Err(PublishError::Refused(other)) => Err(PageError::internal(&other)),
        Err(PublishError::Storage(e)) => Err(e.into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use shared::money::Currency;

    /// What a browser sends for `form`: every field the page shows, the
    /// boxes only when ticked.
    fn as_sent(form: &ProgrammeForm) -> SentFields {
        let mut fields = BTreeMap::new();
        let mut put = |name: String, value: &str| {
            fields.insert(name, value.to_owned());
        };
        put("csrf".into(), "token");
        for (row, t) in form.tiers.iter().enumerate() {
            put(tier_field(row, "name"), &t.name);
            put(tier_field(row, "threshold"), &t.threshold);
            put(tier_field(row, "discount"), &t.discount);
            put(tier_field(row, "earn_points"), &t.earn_points);
            put(tier_field(row, "earn_per"), &t.earn_per);
            if t.remove {
                put(tier_field(row, "remove"), "on");
            }
        }
        put("tier_basis".into(), &form.tier_basis);
        put("window_days".into(), &form.window_days);
        if form.redemption_on {
            put("redemption_on".into(), "on");
        }
        if form.earn_on {
            put("earn_on".into(), "on");
        }
        for (name, value) in [
            ("earn_points", &form.earn_points),
            ("earn_per", &form.earn_per),
            ("earn_excluded_categories", &form.earn_excluded_categories),
            ("earn_excluded_skus", &form.earn_excluded_skus),
            ("earn_category_rates", &form.earn_category_rates),
            ("redeem_points", &form.redeem_points),
            ("redeem_value", &form.redeem_value),
            ("redeem_cap", &form.redeem_cap),
            ("redeem_min_balance", &form.redeem_min_balance),
            ("redeem_offline_cap", &form.redeem_offline_cap),
            ("pending_days", &form.pending_days),
            ("expire_days", &form.expire_days),
            ("welcome_bonus", &form.welcome_bonus),
            ("birthday_points", &form.birthday_points),
            ("birthday_before", &form.birthday_before),
            ("birthday_after", &form.birthday_after),
        ] {
            put(name.into(), value);
        }
        SentFields(fields)
    }

    fn samples() -> Vec<(&'static str, Ruleset)> {
        SAMPLES
            .iter()
            .map(|s| (s.key, s.ruleset(Currency::RUB).expect("a sample")))
            .collect()
    }

    fn round_trip(programme: &Programme) -> Programme {
        let form = ProgrammeForm::from_programme(programme);
        let sent = ProgrammeForm::from_sent(&as_sent(&form));
        assert_eq!(sent.tiers, form.tiers, "the rows read back as shown");
        sent.parse_over(programme)
            .unwrap_or_else(|e| panic!("{e:?}"))
            .programme
    }

    #[test]
    fn every_sample_programme_opens_in_the_form_and_parses_back_the_same() {
        for lang in Lang::ALL {
            i18n::with_lang(lang, || {
                for (key, ruleset) in samples() {
                    assert_eq!(
                        round_trip(&ruleset.programme),
                        ruleset.programme,
                        "{key} in {lang:?}"
                    );
                }
                assert_eq!(round_trip(&Programme::default()), Programme::default());
            });
        }
    }

    fn grocery() -> Programme {
        samples()
            .into_iter()
            .find(|(key, _)| *key == "grocery")
            .expect("the grocery sample")
            .1
            .programme
    }

    #[test]
    fn a_new_tier_is_added_from_the_blank_row_and_a_removed_one_goes() {
        let base = grocery();
        let mut form = ProgrammeForm::from_programme(&base);
        let blank = form.tiers.len() - 1;
        form.tiers[blank] = TierForm {
            name: "Платиновый".into(),
            threshold: "1 000 000,50".into(),
            discount: "7,5 %".into(),
            earn_points: "2".into(),
            earn_per: "100".into(),
            remove: false,
        };
        form.tiers[1].remove = true;
        let parsed = ProgrammeForm::from_sent(&as_sent(&form))
            .parse_over(&base)
            .expect("parses");
        let names: Vec<&str> = parsed
            .programme
            .tiers
            .iter()
            .map(|t| t.name.as_str())
            .collect();
        assert_eq!(names, ["Базовый", "Золотой", "Платиновый"]);
        let added = &parsed.programme.tiers[2];
        assert_eq!(added.min_lifetime_spend.minor(), 100_000_050);
        assert_eq!(added.discount.get(), 750);
        assert_eq!(
            added.earn,
            Some(EarnRate {
                per: Money::from_minor(10_000).unwrap(),
                points: 2
            })
        );
        assert_eq!(parsed.rows, [0, 2, 3], "each tier's row");
        // What the form does not show is kept.
        assert_eq!(parsed.programme.earn, base.earn);
        assert_eq!(parsed.programme.stacking, base.stacking);
    }

    #[test]
    fn roubles_are_read_with_a_comma_a_point_or_spaces() {
        for (typed, kopecks) in [
            ("1500", 150_000),
            ("1 500,50", 150_050),
            ("1 500.5", 150_050),
            ("1\u{a0}500,05 ₽", 150_005),
            ("0,99", 99),
            ("10 000", 1_000_000),
        ] {
            assert_eq!(
                parse_money(typed).map(Money::minor),
                Some(kopecks),
                "{typed}"
            );
        }
        for bad in ["", "1,2,3", "1,505", "-5", "abc", "1 5OO", "12.3.4"] {
            assert_eq!(parse_money(bad), None, "{bad}");
        }
        for (typed, bp) in [
            ("5", 500),
            ("12,5", 1250),
            ("12.5 %", 1250),
            ("0", 0),
            ("100", 10_000),
            ("0,01", 1),
        ] {
            assert_eq!(
                parse_percent(typed).map(BasisPoints::get),
                Some(bp),
                "{typed}"
            );
        }
        for bad in ["", "150", "100,01", "5,555", "-1", "пять"] {
            assert_eq!(parse_percent(bad), None, "{bad}");
        }
    }

    #[test]
    fn each_bad_field_is_named() {
        let base = grocery();
        let mut form = ProgrammeForm::from_programme(&base);
        form.tiers[0].threshold = "много".into();
        form.tiers[1].discount = "150".into();
        form.tiers[2].name = " ".into();
        form.tiers[2].earn_points = "3".into();
        form.redeem_points = "x".into();
        form.redeem_value = "1,234".into();
        form.redeem_cap = "abc".into();
        form.redeem_min_balance = "-1".into();
        form.redeem_offline_cap = "1.5".into();
        form.pending_days = "две недели".into();
        form.expire_days = "1e3".into();
        form.welcome_bonus = "сто".into();
        form.birthday_points = "3 00x".into();
        form.birthday_before = "-3".into();
        form.birthday_after = "three".into();
        form.tier_basis = "rolling".into();
        form.window_days = "".into();
        form.earn_points = "1,5".into();
        form.earn_per = "".into();
        form.earn_excluded_categories = "tobacco, \u{7}".into();
        form.earn_excluded_skus = "4600001\u{1}".into();
        form.earn_category_rates = "coffee: 2 за 100\nчай два за сто".into();
        let errors = form.parse_over(&base).expect_err("refused");
        let fields: Vec<&str> = errors.fields().collect();
        assert_eq!(
            fields,
            [
                "birthday_after",
                "birthday_before",
                "birthday_points",
                "earn_category_rates",
                "earn_excluded_categories",
                "earn_excluded_skus",
                "earn_per",
                "earn_points",
                "expire_days",
                "pending_days",
                "redeem_cap",
                "redeem_min_balance",
                "redeem_offline_cap",
                "redeem_points",
                "redeem_value",
                "tier-0-threshold",
                "tier-1-discount",
                "tier-2-earn_per",
                "tier-2-name",
                "welcome_bonus",
                "window_days",
            ]
        );
        assert_eq!(
            errors.of("redeem_cap"),
            Some(i18n::t("programme-error-redeem-cap").as_str())
        );
        assert!(
            errors
                .of("earn_category_rates")
                .is_some_and(|e| e.contains("чай два за сто")),
            "the refused line is quoted: {:?}",
            errors.of("earn_category_rates")
        );
        assert!(errors.general.is_empty());
    }

    #[test]
    fn earning_is_typed_as_a_rate_lists_and_lines_and_untick_stops_it() {
        let base = grocery();
        let mut form = ProgrammeForm::from_programme(&base);
        assert!(form.earn_on);
        assert_eq!(form.earn_excluded_categories, "tobacco, alcohol");
        form.earn_points = "3".into();
        form.earn_per = "50,50".into();
        form.earn_excluded_categories = "tobacco;\nalcohol, lottery".into();
        form.earn_excluded_skus = "4600001 4600002".into();
        form.earn_category_rates = "\ncoffee: 2 за 100\n  tea : 1 per 1 000,50 \n".into();
        let parsed = ProgrammeForm::from_sent(&as_sent(&form))
            .parse_over(&base)
            .expect("parses");
        let category = |c: &str| shared::ids::Category::parse(c).unwrap();
        assert_eq!(
            parsed.programme.earn,
            Some(EarnRule {
                per: Money::from_minor(5_050).unwrap(),
                points: 3,
                excluded_categories: vec![
                    category("tobacco"),
                    category("alcohol"),
                    category("lottery")
                ],
                excluded_skus: vec![
                    shared::ids::Sku::parse("4600001").unwrap(),
                    shared::ids::Sku::parse("4600002").unwrap()
                ],
                category_rates: vec![
                    CategoryRate {
                        category: category("coffee"),
                        per: Money::from_minor(10_000).unwrap(),
                        points: 2
                    },
                    CategoryRate {
                        category: category("tea"),
                        per: Money::from_minor(100_050).unwrap(),
                        points: 1
                    },
                ],
            })
        );
        form.earn_on = false;
        form.earn_points = "не важно".into();
        let parsed = ProgrammeForm::from_sent(&as_sent(&form))
            .parse_over(&base)
            .expect("what an unticked box covers is not read");
        assert_eq!(parsed.programme.earn, None);
    }

    #[test]
    fn the_rulesets_own_faults_land_beside_their_fields() {
        let base = grocery();
        let mut form = ProgrammeForm::from_programme(&base);
        // Rows typed out of order sort by threshold; two equal thresholds
        // and a name used twice are the validation's to find.
        let blank = form.tiers.len() - 1;
        form.tiers[blank] = TierForm {
            name: "Базовый".into(),
            threshold: "15 000".into(),
            discount: "3".into(),
            ..TierForm::default()
        };
        form.redeem_cap = "0".into();
        form.redeem_points = "0".into();
        form.pending_days = "30".into();
        form.expire_days = "30".into();
        form.birthday_before = "200".into();
        form.earn_per = "0".into();
        form.earn_points = "2 000 000".into();
        form.earn_category_rates = "coffee: 1 за 100\ncoffee: 2 за 100".into();
        let parsed = form.parse_over(&base).expect("the syntax is right");
        let ruleset = Ruleset {
            currency: Currency::RUB,
            programme: parsed.programme,
            promotions: Vec::new(),
        };
        let invalid = ruleset.validate().expect_err("invalid");
        let errors = validation_errors(&invalid, &parsed.rows);
        let fields: Vec<&str> = errors.fields().collect();
        assert_eq!(
            fields,
            [
                "birthday_before",
                "earn_category_rates",
                "earn_per",
                "earn_points",
                "expire_days",
                "redeem_cap",
                "redeem_points",
                "tier-3-name",
                "tier-3-threshold",
            ],
            "{invalid}"
        );
        assert_eq!(
            errors.of("expire_days"),
            Some(i18n::t("programme-error-expire-before-pending").as_str())
        );
        assert_eq!(
            errors.of("earn_category_rates"),
            Some(i18n::t("programme-error-category-rate-twice").as_str())
        );
        assert!(errors.general.is_empty(), "{:?}", errors.general);
    }

    fn arb_money() -> impl Strategy<Value = Money> {
        (0..=1_000_000_000_i64).prop_map(|m| Money::from_minor(m).expect("in range"))
    }

    fn arb_programme() -> impl Strategy<Value = Programme> {
        let tier = (
            "[A-Za-zА-Яа-я][A-Za-zА-Яа-я0-9 ]{0,12}[A-Za-zА-Яа-я0-9]",
            1..=100_000_000_i64,
            0..=10_000_u32,
            proptest::option::of((1..=10_000_000_i64, 0..=1_000_000_i64)),
        );
        let tiers = proptest::collection::vec(tier, 0..5).prop_map(|rows| {
            let mut threshold = 0;
            rows.into_iter()
                .enumerate()
                .map(|(i, (name, step, discount, earn))| {
                    threshold += if i == 0 { step - 1 } else { step };
                    Tier {
                        name: format!("{i} {name}"),
                        min_lifetime_spend: Money::from_minor(threshold).expect("in range"),
                        discount: BasisPoints::new(discount).expect("in range"),
                        earn: earn.map(|(per, points)| EarnRate {
                            per: Money::from_minor(per).expect("in range"),
                            points,
                        }),
                    }
                })
                .collect::<Vec<_>>()
        });
        let redemption = proptest::option::of((
            0..=1_000_000_i64,
            arb_money(),
            0..=10_000_u32,
            0..=1_000_000_i64,
            proptest::option::of(0..=1_000_000_i64),
        ))
        .prop_map(|r| {
            r.map(|(points, value, share, min_balance, cap)| Redemption {
                points,
                value,
                max_share: BasisPoints::new(share).expect("in range"),
                min_balance,
                offline_cap_points: cap,
            })
        });
        let basis = proptest::option::of(0..=5_000_u32).prop_map(|days| match days {
            Some(days) => TierBasis::RollingWindow { days },
            None => TierBasis::LifetimeSpend,
        });
        let birthday = proptest::option::of((0..=1_000_000_i64, 0..=400_u32, 0..=400_u32))
            .prop_map(|b| {
                b.map(|(points, days_before, days_after)| BirthdayBonus {
                    points,
                    days_before,
                    days_after,
                })
            });
        let code = "[a-z][a-z0-9_-]{0,10}";
        let earn = proptest::option::of((
            (1..=10_000_000_i64, 0..=1_000_000_i64),
            proptest::collection::vec(code, 0..4),
            proptest::collection::vec("[0-9A-Z][0-9A-Za-z_.-]{0,12}", 0..4),
            proptest::collection::vec((code, 1..=10_000_000_i64, 0..=1_000_000_i64), 0..4),
        ))
        .prop_map(|e| {
            e.map(|((per, points), categories, skus, rates)| EarnRule {
                per: Money::from_minor(per).expect("in range"),
                points,
                excluded_categories: categories
                    .into_iter()
                    .map(|c| shared::ids::Category::parse(c).expect("a code"))
                    .collect(),
                excluded_skus: skus
                    .into_iter()
                    .map(|s| shared::ids::Sku::parse(s).expect("a code"))
                    .collect(),
                category_rates: rates
                    .into_iter()
                    .map(|(c, per, points)| CategoryRate {
                        category: shared::ids::Category::parse(c).expect("a code"),
                        per: Money::from_minor(per).expect("in range"),
                        points,
                    })
                    .collect(),
            })
        });
        (
            (tiers, earn),
            basis,
            redemption,
            0..=5_000_u32,
            proptest::option::of(0..=5_000_u32),
            proptest::option::of(0..=1_000_000_i64),
            birthday,
        )
            .prop_map(
                |((tiers, earn), tier_basis, redemption, pending, expire, welcome, birthday)| {
                    Programme {
                        tiers,
                        earn,
                        tier_basis,
                        redemption,
                        points_pending_days: pending,
                        points_expire_days: expire,
                        welcome_bonus: welcome,
                        birthday_bonus: birthday,
                        ..grocery()
                    }
                },
            )
    }

    proptest! {
        /// Any programme (valid or not: validation is the ruleset's) shown
        /// in the form and sent back unchanged is the same programme, in
        /// either language.
        #[test]
        fn any_programme_shown_and_sent_back_is_the_same(programme in arb_programme()) {
            for lang in Lang::ALL {
                let back = i18n::with_lang(lang, || round_trip(&programme));
                prop_assert_eq!(&back, &programme, "{:?}", lang);
            }
        }
    }
}
