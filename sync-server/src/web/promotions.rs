//! The promotion form of the set-up page: percent off listed SKUs,
//! categories or the whole check, with a name, a description for customers
//! and a publication period. `POST /hq/merchants/{id}/promotions` parses it
//! field by field, then publishes through [`Publisher::publish`](crate::services::Publisher::publish), the admin
//! API's own path, so the new ruleset version reaches every till's
//! long-poll within seconds. Every refusal is shown next to the field it
//! concerns, naming it.
//!
//! # Editing keeps what the form cannot show
//!
//! The form shows a part of a promotion (its holdout share among it): not
//! its hours, conditions,
//! limits, coupon, stores, priority or group, and a reward other than
//! percent off only as a note. So a form whose code names a promotion of
//! the current rules is laid over the stored promotion, re-read on the
//! server, never rebuilt from the form alone: a field whose text is still
//! what the form showed for that promotion keeps the stored value exactly
//! (an instant with seconds, a "3 for 2" reward), and only a field the
//! person changed is parsed. Opening a promotion and saving it unchanged
//! therefore yields the same promotion, and publishes nothing.

use std::collections::BTreeMap;

use axum::extract::State;
use axum::response::Response;
use chrono::{DateTime, NaiveDateTime, TimeZone as _, Utc};
use chrono_tz::Tz;
use serde::Deserialize;
use shared::ids::{Category, MerchantId, PromotionId, Sku};
use shared::money::BasisPoints;
use shared::ruleset::{Apply, Promotion, Reward, Target};

use crate::services::publish::{PublishError, PublishRefusal, RulesetChange};
use crate::state::AppState;
use crate::web::error::PageError;
use crate::web::extract::Path;
use crate::web::format;
use crate::web::i18n;
use crate::web::login::see_other;
use crate::web::session::{CsrfProtected, ProtectedForm};
use crate::web::setup::{self, SetupForms};

/// The longest name shown on receipts and phones.
const MAX_NAME_CHARS: usize = 120;
/// The longest description.
const MAX_DESCRIPTION_CHARS: usize = 2000;
/// How `datetime-local` fields send an instant.
const LOCAL_MINUTES: &str = "%Y-%m-%dT%H:%M";
/// The same with seconds, which some browsers send.
const LOCAL_SECONDS: &str = "%Y-%m-%dT%H:%M:%S";

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
    /// `skus` or `categories`.
    pub target_kind: String,
    /// Codes separated by commas, spaces or lines.
    pub targets: String,
    /// Percent off, such as `10` or `12,5`.
    pub percent: String,
    /// Publication start, `datetime-local` in the merchant's zone.
    pub starts_at: String,
    /// Publication end, likewise.
    pub ends_at: String,
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
    /// The reward of an edited promotion that the percent field cannot
    /// show ("3 по цене 2"), kept unless a percent is typed. Never read
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

impl PromotionForm {
    /// An empty form for a new promotion on SKUs.
    #[must_use]
    pub fn blank() -> Self {
        PromotionForm {
            target_kind: "skus".to_owned(),
            ..PromotionForm::default()
        }
    }

    /// The form filled in from a published promotion, for editing.
    #[must_use]
    pub fn from_promotion(p: &Promotion, zone: Tz) -> Self {
        let (target_kind, targets) = match &p.target {
            Target::Skus { skus } => ("skus", join(skus.iter().map(Sku::as_str))),
            Target::Categories { categories } => {
                ("categories", join(categories.iter().map(Category::as_str)))
            }
            Target::Basket => ("basket", String::new()),
        };
        // The form edits percent-off rewards; others show as a note and are
        // kept while the field stays empty.
        let percent = match p.reward {
            Reward::PercentOff { percent, .. } => percent_text(percent),
            _ => String::new(),
        };
        let local = |at: Option<DateTime<Utc>>| {
            at.map(|t| t.with_timezone(&zone).format(LOCAL_MINUTES).to_string())
                .unwrap_or_default()
        };
        PromotionForm {
            csrf: String::new(),
            id: p.id.as_str().to_owned(),
            name: p.name.clone(),
            description: p.description.clone(),
            target_kind: target_kind.to_owned(),
            targets,
            percent,
            starts_at: local(p.starts_at),
            ends_at: local(p.ends_at),
            funded_by: p.funded_by.clone().unwrap_or_default(),
            combines_with_tier: p.combines_with_tier.then(|| "on".to_owned()),
            segment: p.conditions.segment.tags.join(" "),
            holdout: p.holdout.map(percent_text).unwrap_or_default(),
            reward_note: reward_note(p),
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
        let shown = stored.map(|p| PromotionForm::from_promotion(p, zone));
        let kept = |field: fn(&PromotionForm) -> &str| {
            shown
                .as_ref()
                .is_some_and(|shown| same_text(field(shown), field(self)))
        };
        let mut errors = FieldErrors::default();
        let id = if self.id.trim().is_empty() {
            PromotionId::parse(format!("promo-{}", now.format("%Y%m%d-%H%M%S")))
        } else {
            PromotionId::parse(self.id.trim())
        };
        let id = id
            .map_err(|_| {
                errors.add("id", i18n::t("promo-error-id"));
            })
            .ok();
        let name = self.name.trim();
        let name_kept = kept(|f| &f.name);
        if !name_kept && name.is_empty() {
            errors.add("name", i18n::t("promo-error-name"));
        } else if !name_kept && name.chars().count() > MAX_NAME_CHARS {
            errors.add(
                "name",
                i18n::t1("promo-error-name-long", "max", MAX_NAME_CHARS),
            );
        }
        let description = self.description.replace("\r\n", "\n");
        let description = description.trim();
        let description_kept = kept(|f| &f.description);
        if !description_kept && description.chars().count() > MAX_DESCRIPTION_CHARS {
            errors.add(
                "description",
                i18n::t1("promo-error-description-long", "max", MAX_DESCRIPTION_CHARS),
            );
        }
        let target = match stored {
            Some(p) if kept(|f| &f.target_kind) && kept(|f| &f.targets) => Some(p.target.clone()),
            _ => self.parse_target(&mut errors),
        };
        let reward = match stored {
            Some(p) if kept(|f| &f.percent) => Some(p.reward.clone()),
            _ => parse_percent(&self.percent)
                .map_err(|message| errors.add("percent", i18n::t(message)))
                .ok()
                .map(|percent| Reward::PercentOff {
                    percent,
                    apply: match stored.map(|p| &p.reward) {
                        Some(Reward::PercentOff { apply, .. }) => *apply,
                        _ => Apply::default(),
                    },
                }),
        };
        let starts_at = match stored {
            Some(p) if kept(|f| &f.starts_at) => p.starts_at,
            _ => parse_local(&self.starts_at, zone)
                .map_err(|message| {
                    errors.add(
                        "starts_at",
                        i18n::t1("promo-error-starts", "reason", i18n::t(message)),
                    );
                })
                .ok()
                .flatten(),
        };
        let ends_at = match stored {
            Some(p) if kept(|f| &f.ends_at) => p.ends_at,
            _ => parse_local(&self.ends_at, zone)
                .map_err(|message| {
                    errors.add(
                        "ends_at",
                        i18n::t1("promo-error-ends", "reason", i18n::t(message)),
                    );
                })
                .ok()
                .flatten(),
        };
        if let (Some(s), Some(e)) = (starts_at, ends_at)
            && e <= s
        {
            errors.add("ends_at", i18n::t("promo-error-ends-before-start"));
        }
        let funded_by = match stored {
            Some(p) if kept(|f| &f.funded_by) => p.funded_by.clone(),
            _ => Some(self.funded_by.trim())
                .filter(|f| !f.is_empty())
                .map(str::to_owned),
        };
        let holdout = match stored {
            Some(p) if kept(|f| &f.holdout) => p.holdout,
            _ => parse_holdout(&self.holdout)
                .map_err(|message| errors.add("holdout", i18n::t(message)))
                .ok()
                .flatten(),
        };
        let combines_with_tier = match (stored, &shown) {
            (Some(p), Some(shown))
                if shown.combines_with_tier.is_some() == self.combines_with_tier.is_some() =>
            {
                p.combines_with_tier
            }
            _ => self.combines_with_tier.is_some(),
        };
        let tags: Option<Vec<String>> = match stored {
            Some(_) if kept(|f| &f.segment) => None,
            _ => Some(self.segment.split_whitespace().map(str::to_owned).collect()),
        };
        match (id, target, reward) {
            (Some(id), Some(target), Some(reward)) if errors.is_empty() => {
                // What the form does not show comes from the stored one.
                let base = stored.cloned().unwrap_or_else(|| Promotion {
                    id: id.clone(),
                    name: String::new(),
                    description: String::new(),
                    target: target.clone(),
                    reward: reward.clone(),
                    starts_at: None,
                    ends_at: None,
                    stores: Vec::new(),
                    priority: 0,
                    combines_with_tier: false,
                    funded_by: None,
                    exclude: Default::default(),
                    conditions: Default::default(),
                    limits: Default::default(),
                    group: None,
                    coupon: None,
                    holdout: None,
                });
                let mut conditions = base.conditions.clone();
                if let Some(tags) = tags {
                    conditions.segment.tags = tags;
                }
                Ok(Promotion {
                    id,
                    conditions,
                    name: match stored {
                        Some(p) if name_kept => p.name.clone(),
                        _ => name.to_owned(),
                    },
                    description: match stored {
                        Some(p) if description_kept => p.description.clone(),
                        _ => description.to_owned(),
                    },
                    target,
                    reward,
                    starts_at,
                    ends_at,
                    combines_with_tier,
                    funded_by,
                    holdout,
                    ..base
                })
            }
            _ => Err(errors),
        }
    }

    /// The code the form names, trimmed: the promotion it edits, if the
    /// current rules hold one with it.
    #[must_use]
    pub fn code(&self) -> &str {
        self.id.trim()
    }

    fn parse_target(&self, errors: &mut FieldErrors) -> Option<Target> {
        let codes: Vec<&str> = self
            .targets
            .split(|c: char| c == ',' || c == ';' || c.is_whitespace())
            .filter(|code| !code.is_empty())
            .collect();
        if self.targets_basket() {
            return Some(Target::Basket);
        }
        if codes.is_empty() {
            errors.add("targets", i18n::t("promo-error-no-targets"));
            return None;
        }
        match self.target_kind.as_str() {
            "skus" => collect_codes(&codes, Sku::parse, errors).map(|skus| Target::Skus { skus }),
            "categories" => collect_codes(&codes, Category::parse, errors)
                .map(|categories| Target::Categories { categories }),
            _ => {
                errors.add("target_kind", i18n::t("promo-error-target-kind"));
                None
            }
        }
    }
}

fn collect_codes<T, E>(
    codes: &[&str],
    parse: impl Fn(String) -> Result<T, E>,
    errors: &mut FieldErrors,
) -> Option<Vec<T>> {
    let mut parsed = Vec::with_capacity(codes.len());
    for code in codes {
        match parse((*code).to_owned()) {
            Ok(value) => parsed.push(value),
            Err(_) => {
                errors.add("targets", i18n::t1("promo-error-bad-code", "code", *code));
                return None;
            }
        }
    }
    Some(parsed)
}

/// Whether a field's text is what the form showed: a browser sends a
/// textarea's lines with CRLF, and the form trims what it reads.
fn same_text(shown: &str, sent: &str) -> bool {
    shown.replace("\r\n", "\n").trim() == sent.replace("\r\n", "\n").trim()
}

/// How the form shows a reward its percent field cannot: "3 по цене 2".
fn reward_note(p: &Promotion) -> Option<String> {
    match p.reward {
        Reward::PercentOff { .. } => None,
        _ => Some(setup::discount(p)),
    }
}

fn join<'a>(codes: impl Iterator<Item = &'a str>) -> String {
    codes.collect::<Vec<_>>().join(", ")
}

/// `10`, `12,5` or `12.5` percent as basis points in `1..=10000`.
fn parse_percent(text: &str) -> Result<BasisPoints, &'static str> {
    const MESSAGE: &str = "promo-error-percent";
    let text = text.trim().trim_end_matches('%').trim();
    let (whole, fraction) = text.split_once([',', '.']).unwrap_or((text, ""));
    let digits = |s: &str| !s.is_empty() && s.len() <= 3 && s.bytes().all(|b| b.is_ascii_digit());
    if !digits(whole) || !(fraction.is_empty() || (fraction.len() <= 2 && digits(fraction))) {
        return Err(MESSAGE);
    }
    let whole: u32 = whole.parse().map_err(|_| MESSAGE)?;
    let hundredths: u32 = match fraction.len() {
        0 => 0,
        1 => fraction.parse::<u32>().map_err(|_| MESSAGE)? * 10,
        _ => fraction.parse().map_err(|_| MESSAGE)?,
    };
    let bp = whole * 100 + hundredths;
    if bp == 0 {
        return Err(MESSAGE);
    }
    BasisPoints::new(bp).map_err(|_| MESSAGE)
}

/// A percentage as the form shows it: `12,5` (without the sign).
fn percent_text(bp: BasisPoints) -> String {
    format::percent(bp)
        .trim_end_matches('%')
        .trim_end_matches('\u{a0}')
        .to_owned()
}

/// A holdout share in percent, `0,01`..=`50`; empty is none.
fn parse_holdout(text: &str) -> Result<Option<BasisPoints>, &'static str> {
    const MESSAGE: &str = "promo-error-holdout";
    if text.trim().is_empty() {
        return Ok(None);
    }
    let bp = parse_percent(text).map_err(|_| MESSAGE)?;
    if bp.get() > shared::holdout::MAX_SHARE_BP {
        return Err(MESSAGE);
    }
    Ok(Some(bp))
}

/// A `datetime-local` value in `zone`; empty is none.
fn parse_local(text: &str, zone: Tz) -> Result<Option<DateTime<Utc>>, &'static str> {
    let text = text.trim();
    if text.is_empty() {
        return Ok(None);
    }
    let local = NaiveDateTime::parse_from_str(text, LOCAL_MINUTES)
        .or_else(|_| NaiveDateTime::parse_from_str(text, LOCAL_SECONDS))
        .map_err(|_| "promo-error-datetime-format")?;
    zone.from_local_datetime(&local)
        .earliest()
        .map(|t| Some(t.with_timezone(&Utc)))
        .ok_or("promo-error-datetime-gap")
}

/// Where the faults the ruleset validation names land on the form.
fn field_of_fault(field: &str) -> Option<&'static str> {
    match field {
        "id" => Some("id"),
        "name" => Some("name"),
        "target.skus" | "target.categories" => Some("targets"),
        "starts_at" => Some("starts_at"),
        "ends_at" => Some("ends_at"),
        "reward.percent" => Some("percent"),
        "holdout" => Some("holdout"),
        _ => None,
    }
}

/// The refusals of a publish, by field.
fn refusal_errors(refusal: &PublishRefusal, promotion: &Promotion) -> FieldErrors {
    let mut errors = FieldErrors::default();
    match refusal {
        PublishRefusal::NoRuleset(_) => errors.general.push(i18n::t("promo-error-no-ruleset")),
        PublishRefusal::Invalid(invalid) => {
            let own_rule = format!("promotion {:?}", promotion.id.as_str());
            for fault in &invalid.0 {
                match field_of_fault(&fault.field).filter(|_| fault.rule == own_rule) {
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
    form.reward_note = stored.as_ref().and_then(reward_note);
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
            ..PromotionForm::default()
        }
    }

    fn now() -> DateTime<Utc> {
        "2026-02-01T00:00:00Z".parse().unwrap()
    }

    #[test]
    fn a_filled_form_becomes_a_promotion_in_the_merchants_zone() {
        let zone = chrono_tz::Europe::Moscow;
        let p = form().parse(zone, now()).unwrap();
        assert_eq!(p.id.as_str(), "milk-10");
        assert_eq!(
            p.reward,
            Reward::PercentOff {
                percent: BasisPoints::new(1250).unwrap(),
                apply: Default::default(),
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
        assert_eq!(p.holdout, BasisPoints::new(1250).ok());
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
            BasisPoints::new(5000).ok()
        );
    }

    #[test]
    fn percents_are_read_as_people_write_them() {
        let bp = |s| parse_percent(s).map(BasisPoints::get);
        assert_eq!(bp("10"), Ok(1000));
        assert_eq!(bp("12.5"), Ok(1250));
        assert_eq!(bp("0,01"), Ok(1));
        assert_eq!(bp("100 %"), Ok(10_000));
        assert!(bp("0").is_err());
        assert!(bp("100,01").is_err());
        assert!(bp("-5").is_err());
        assert!(bp("1,234").is_err());
        assert!(bp("").is_err());
    }

    /// A promotion with every field the form does not show set, and
    /// instants with seconds, which the form shows only to the minute.
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
                "schedule": {"weekdays": ["mon", "fri"],
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
    /// lines with CRLF, an unchecked box not at all.
    fn as_sent(form: &PromotionForm) -> PromotionForm {
        PromotionForm {
            description: form.description.replace('\n', "\r\n"),
            targets: form.targets.replace('\n', "\r\n"),
            reward_note: None,
            ..form.clone()
        }
    }

    #[test]
    fn every_promotion_opened_and_saved_unchanged_stays_the_same() {
        for zone in [chrono_tz::Europe::Moscow, chrono_tz::Asia::Vladivostok] {
            for stored in every_promotion() {
                let shown = PromotionForm::from_promotion(&stored, zone);
                assert_eq!(
                    shown.reward_note.is_some(),
                    !matches!(stored.reward, Reward::PercentOff { .. }),
                    "{:?}",
                    stored.reward
                );
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
                ..as_sent(&PromotionForm::from_promotion(&stored, zone))
            };
            let saved = edited.parse_over(Some(&stored), zone, now()).unwrap();
            assert_eq!(
                saved,
                Promotion {
                    name: "Вечерние часы".into(),
                    ends_at: Some("2026-05-01T06:00:00Z".parse().unwrap()),
                    ..stored.clone()
                }
            );
        }
    }

    #[test]
    fn a_percent_typed_over_another_reward_replaces_it_and_keeps_the_rest() {
        let zone = chrono_tz::UTC;
        for stored in every_promotion() {
            let edited = PromotionForm {
                percent: "15".into(),
                ..as_sent(&PromotionForm::from_promotion(&stored, zone))
            };
            let saved = edited.parse_over(Some(&stored), zone, now()).unwrap();
            let apply = match stored.reward {
                Reward::PercentOff { apply, .. } => apply,
                _ => Apply::Each,
            };
            let percent = BasisPoints::new(1500).unwrap();
            assert_eq!(saved.reward, Reward::PercentOff { percent, apply });
            assert_eq!(saved.conditions, stored.conditions);
            assert_eq!(saved.limits, stored.limits);
            assert_eq!(saved.coupon, stored.coupon);
            assert_eq!(saved.target, stored.target);
        }
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
}
