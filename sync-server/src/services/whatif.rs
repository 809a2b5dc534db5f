//! The what-if of a draft promotion: the merchant's stored sales of the
//! last N days are priced again by the engine the tills run
//! ([`shared::pricing::Engine`]), once with the current ruleset and once
//! with the current ruleset plus the draft (replacing a promotion with the
//! same code), and the differences are added up.
//!
//! - **What is priced.** A sale is priced as the re-pricer prices it
//!   (`services::reprice`): its lines, its `wall_time`, the store's time
//!   zone and brand as the server knows them, and the inputs the till
//!   recorded (`pricing_inputs`: standing, coupons, points asked for,
//!   usage of limited promotions). A sale without recorded inputs, whose
//!   body does not parse or whose lines the engine refuses is counted as
//!   skipped with the reason, never a failure of the whole what-if.
//! - **Which promotions.** "Running" means in force now: the current
//!   ruleset's promotions whose period holds now, with that period lifted
//!   so they price the past days as they would run now; promotions that
//!   ended or have not started are left out. The draft's own period is
//!   lifted too: the question is what it would have done over those days.
//!   Schedules (weekdays, hours in the store's zone), stores, segments,
//!   coupons and per-check limits apply as recorded; the draft has no
//!   recorded usage, so its per-customer and global limits start at zero
//!   on every check (a budget is not spent down over the replay).
//! - **What is counted.** A check is *touched* when the draft applies to
//!   it. Its cost is the draft's own discount and points; a running
//!   promotion that gave something before and nothing with the draft is
//!   *displaced* on that check, by what it gave. The change in the
//!   merchant's discount and points is over every check, by store and by
//!   local day (the store's zone).
//! - **Bounded memory.** Sales are read a batch at a time after a cursor
//!   (`records.id`) and folded into running totals; only the touched
//!   customers' ids and one row per store, day and displaced promotion are
//!   kept. The pricing runs on the blocking pool, split over the cores,
//!   while the next batch is read.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;

use chrono::{DateTime, NaiveDate, TimeDelta, Utc};
use shared::ids::{CustomerId, MerchantId, PromotionId, StoreId};
use shared::pricing::{Engine, PricedCheck, RuleRef};
use shared::record::{PurchaseRecord, RecordKind};
use shared::ruleset::{InvalidRuleset, Promotion, Ruleset};

use crate::db::{CurrentRuleset, DbError, Repository, StoredSale};
use crate::wire::drafts::{
    DayWhatIf, DisplacedPromotion, StoreWhatIf, WhatIfFigures, WhatIfReport, WhatIfSkip,
};

/// Days replayed when none are asked for.
pub const DEFAULT_DAYS: u32 = 28;
/// The most days one what-if replays.
pub const MAX_DAYS: u32 = 90;
/// Sales read per batch.
const BATCH: usize = 2_000;

/// Days of sales to replay: 1 through [`MAX_DAYS`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Days(u32);

impl Days {
    /// Parses a count of days; `None` is [`DEFAULT_DAYS`].
    pub fn parse(days: Option<i64>) -> Result<Days, WhatIfError> {
        match days {
            None => Ok(Days(DEFAULT_DAYS)),
            Some(d) => u32::try_from(d)
                .ok()
                .filter(|d| (1..=MAX_DAYS).contains(d))
                .map(Days)
                .ok_or(WhatIfError::Invalid {
                    field: "days",
                    message: format!("days must be a whole number from 1 to {MAX_DAYS}, not {d}"),
                }),
        }
    }

    /// The count.
    #[must_use]
    pub const fn get(self) -> u32 {
        self.0
    }
}

/// Why a what-if was not computed.
#[derive(Debug, thiserror::Error)]
pub enum WhatIfError {
    /// A parameter is out of range; the field is named.
    #[error("{field}: {message}")]
    Invalid {
        /// The field.
        field: &'static str,
        /// What is wrong.
        message: String,
    },
    /// The merchant has published no ruleset to compare with.
    #[error("the merchant has no ruleset yet; publish one first")]
    NoRuleset,
    /// The current ruleset with the draft cannot be priced.
    #[error(transparent)]
    Rules(InvalidRuleset),
    /// Storage failed.
    #[error(transparent)]
    Db(#[from] DbError),
}

/// The two engines a what-if compares and what it needs to tell their
/// outcomes apart.
pub struct Scenario {
    before: Engine,
    after: Engine,
    draft: PromotionId,
    groups: HashMap<PromotionId, String>,
    version: i64,
}

/// The running promotions of `rules` at `now`, periods lifted.
fn running(rules: &Ruleset, now: DateTime<Utc>) -> Vec<Promotion> {
    rules
        .promotions
        .iter()
        .filter(|p| p.starts_at.is_none_or(|s| s <= now) && p.ends_at.is_none_or(|e| now < e))
        .map(|p| Promotion {
            starts_at: None,
            ends_at: None,
            ..p.clone()
        })
        .collect()
}

impl Scenario {
    /// The current rules (their running promotions) without and with
    /// `draft`, as of `now`.
    pub fn new(
        current: &CurrentRuleset,
        draft: &Promotion,
        now: DateTime<Utc>,
    ) -> Result<Scenario, WhatIfError> {
        let promotions = running(&current.ruleset, now);
        let before_rules = Ruleset {
            promotions: promotions.clone(),
            ..current.ruleset.clone()
        };
        let draft_lifted = Promotion {
            starts_at: None,
            ends_at: None,
            ..draft.clone()
        };
        let mut with = promotions;
        match with.iter_mut().find(|p| p.id == draft.id) {
            Some(p) => *p = draft_lifted,
            None => with.push(draft_lifted),
        }
        let after_rules = Ruleset {
            promotions: with,
            ..current.ruleset.clone()
        };
        let groups = after_rules
            .promotions
            .iter()
            .chain(&before_rules.promotions)
            .map(|p| (p.id.clone(), p.group_name().to_owned()))
            .collect();
        // The draft's faults first: they are what the person can fix.
        let after = Engine::new(after_rules).map_err(WhatIfError::Rules)?;
        let before = Engine::new(before_rules).map_err(WhatIfError::Rules)?;
        Ok(Scenario {
            before,
            after,
            draft: draft.id.clone(),
            groups,
            version: current.version.get(),
        })
    }

    /// Prices one stored sale both ways.
    fn replay(&self, sale: &StoredSale, since: DateTime<Utc>) -> Replayed {
        let record: PurchaseRecord = match serde_json::from_slice(&sale.body) {
            Ok(record) => record,
            Err(_) => return Replayed::Skipped("the stored body does not parse"),
        };
        if record.wall_time < since {
            return Replayed::Outside;
        }
        if !matches!(record.kind, RecordKind::Sale) {
            return Replayed::Skipped("not a sale");
        }
        let Some(inputs) = &record.pricing_inputs else {
            return Replayed::Skipped("no pricing inputs recorded (an older agent)");
        };
        let ctx = inputs.context(
            record.store_id,
            record.wall_time,
            sale.store_timezone.name(),
            sale.store_brand,
            record.customer.map(|c| c.id),
        );
        let basket = record.basket();
        let standing = inputs.standing.as_ref();
        let (Ok(before), Ok(after)) = (
            self.before.price(&basket, standing, &ctx),
            self.after.price(&basket, standing, &ctx),
        ) else {
            return Replayed::Skipped("the engine cannot price its lines");
        };
        let before_parts = parts(&before);
        let after_parts = parts(&after);
        let draft = after_parts.iter().find(|p| p.0 == self.draft);
        let displaced = if draft.is_some() {
            before_parts
                .iter()
                .filter(|(id, d, p)| {
                    *id != self.draft
                        && (*d != 0 || *p != 0)
                        && !after_parts.iter().any(|a| a.0 == *id)
                })
                .cloned()
                .collect()
        } else {
            Vec::new()
        };
        Replayed::Priced(Check {
            store: sale.store_id,
            day: sale.store_timezone.local_date(record.wall_time),
            customer: record.customer.map(|c| c.id),
            touched: draft.is_some(),
            discount: draft.map_or(0, |d| d.1),
            points: draft.map_or(0, |d| d.2),
            before_discount: before.discount.minor(),
            after_discount: after.discount.minor(),
            before_points: before.points_earned,
            after_points: after.points_earned,
            displaced,
        })
    }
}

/// Each promotion's discount and points on a check.
fn parts(check: &PricedCheck) -> Vec<(PromotionId, i64, i64)> {
    let mut parts: Vec<(PromotionId, i64, i64)> = Vec::new();
    for a in &check.applied {
        if let RuleRef::Promotion(id) = &a.rule {
            parts.push((id.clone(), a.discount.minor(), 0));
        }
    }
    for award in &check.points {
        if let RuleRef::Promotion(id) = &award.rule {
            match parts.iter_mut().find(|p| p.0 == *id) {
                Some(p) => p.2 += award.points,
                None => parts.push((id.clone(), 0, award.points)),
            }
        }
    }
    parts
}

/// One sale, priced both ways.
enum Replayed {
    /// Before the window (its wall time is earlier than the store said).
    Outside,
    /// Not priced, for this reason.
    Skipped(&'static str),
    /// Priced.
    Priced(Check),
}

struct Check {
    store: StoreId,
    day: NaiveDate,
    customer: Option<CustomerId>,
    touched: bool,
    discount: i64,
    points: i64,
    before_discount: i64,
    after_discount: i64,
    before_points: i64,
    after_points: i64,
    displaced: Vec<(PromotionId, i64, i64)>,
}

fn add_to(f: &mut WhatIfFigures, c: &Check) {
    if c.touched {
        f.checks_touched += 1;
    }
    f.discount = f.discount.saturating_add(c.discount);
    f.points = f.points.saturating_add(c.points);
    f.discount_change = f
        .discount_change
        .saturating_add(c.after_discount - c.before_discount);
    f.points_change = f
        .points_change
        .saturating_add(c.after_points - c.before_points);
}

fn merge_figures(into: &mut WhatIfFigures, from: &WhatIfFigures) {
    into.checks_touched += from.checks_touched;
    into.discount = into.discount.saturating_add(from.discount);
    into.points = into.points.saturating_add(from.points);
    into.discount_change = into.discount_change.saturating_add(from.discount_change);
    into.points_change = into.points_change.saturating_add(from.points_change);
}

/// Running totals of a what-if.
#[derive(Default)]
struct Tally {
    read: u64,
    priced: u64,
    skipped: BTreeMap<&'static str, u64>,
    customers: HashSet<CustomerId>,
    total: WhatIfFigures,
    before_discount: i64,
    after_discount: i64,
    before_points: i64,
    after_points: i64,
    by_store: BTreeMap<StoreId, WhatIfFigures>,
    by_day: BTreeMap<NaiveDate, WhatIfFigures>,
    /// Per displaced promotion: checks, discount, points.
    displaced: HashMap<PromotionId, (u64, i64, i64)>,
}

impl Tally {
    fn add(&mut self, replayed: Replayed) {
        let c = match replayed {
            Replayed::Outside => return,
            Replayed::Skipped(reason) => {
                self.read += 1;
                *self.skipped.entry(reason).or_default() += 1;
                return;
            }
            Replayed::Priced(c) => c,
        };
        self.read += 1;
        self.priced += 1;
        if c.touched
            && let Some(customer) = c.customer
        {
            self.customers.insert(customer);
        }
        add_to(&mut self.total, &c);
        add_to(self.by_store.entry(c.store).or_default(), &c);
        add_to(self.by_day.entry(c.day).or_default(), &c);
        self.before_discount = self.before_discount.saturating_add(c.before_discount);
        self.after_discount = self.after_discount.saturating_add(c.after_discount);
        self.before_points = self.before_points.saturating_add(c.before_points);
        self.after_points = self.after_points.saturating_add(c.after_points);
        for (id, discount, points) in c.displaced {
            let d = self.displaced.entry(id).or_default();
            d.0 += 1;
            d.1 = d.1.saturating_add(discount);
            d.2 = d.2.saturating_add(points);
        }
    }

    fn merge(&mut self, other: Tally) {
        self.read += other.read;
        self.priced += other.priced;
        for (reason, n) in other.skipped {
            *self.skipped.entry(reason).or_default() += n;
        }
        self.customers.extend(other.customers);
        merge_figures(&mut self.total, &other.total);
        for (store, f) in &other.by_store {
            merge_figures(self.by_store.entry(*store).or_default(), f);
        }
        for (day, f) in &other.by_day {
            merge_figures(self.by_day.entry(*day).or_default(), f);
        }
        self.before_discount = self.before_discount.saturating_add(other.before_discount);
        self.after_discount = self.after_discount.saturating_add(other.after_discount);
        self.before_points = self.before_points.saturating_add(other.before_points);
        self.after_points = self.after_points.saturating_add(other.after_points);
        for (id, (n, d, p)) in other.displaced {
            let into = self.displaced.entry(id).or_default();
            into.0 += n;
            into.1 = into.1.saturating_add(d);
            into.2 = into.2.saturating_add(p);
        }
    }
}

/// What a what-if is of.
#[derive(Debug, Clone)]
pub struct WhatIfSubject {
    /// The merchant.
    pub merchant: MerchantId,
    /// The draft's id.
    pub draft_id: i64,
    /// Its promotion.
    pub promotion: Promotion,
}

/// Replays `subject` against the merchant's sales of the last `days`
/// before `now`, with the current rules.
#[tracing::instrument(skip_all, fields(merchant_id = %subject.merchant, draft_id = subject.draft_id, days = days.get()))]
pub async fn what_if(
    repo: &Arc<dyn Repository>,
    subject: WhatIfSubject,
    days: Days,
    now: DateTime<Utc>,
) -> Result<WhatIfReport, WhatIfError> {
    let merchant = subject.merchant;
    let current = repo
        .read(move |tx| tx.current_ruleset(merchant))
        .await?
        .ok_or(WhatIfError::NoRuleset)?;
    let scenario = Arc::new(Scenario::new(&current, &subject.promotion, now)?);
    let since = now - TimeDelta::days(i64::from(days.get()));
    let parts = std::thread::available_parallelism().map_or(1, |n| n.get().clamp(1, 4));
    let read = |after: i64| {
        let repo = repo.clone();
        async move {
            repo.read(move |tx| tx.sales_since(merchant, since, after, BATCH))
                .await
        }
    };
    let mut tally = Tally::default();
    let mut batch = read(0).await?;
    while !batch.is_empty() {
        let last = batch.last().map_or(0, |s| s.row);
        let full = batch.len() == BATCH;
        let priced = price_batch(scenario.clone(), batch, since, parts);
        let (priced, next) = if full {
            let (priced, next) = tokio::join!(priced, read(last));
            (priced, next?)
        } else {
            (priced.await, Vec::new())
        };
        tally.merge(priced?);
        batch = next;
    }
    tracing::info!(
        sales = tally.read,
        touched = tally.total.checks_touched,
        "what-if replayed"
    );
    Ok(report(&subject, days, since, now, &scenario, tally))
}

/// Prices a batch on the blocking pool, in `parts` pieces at once.
async fn price_batch(
    scenario: Arc<Scenario>,
    mut batch: Vec<StoredSale>,
    since: DateTime<Utc>,
    parts: usize,
) -> Result<Tally, DbError> {
    let size = batch.len().div_ceil(parts).max(1);
    let mut tasks = Vec::with_capacity(parts);
    while !batch.is_empty() {
        let piece: Vec<StoredSale> = batch.drain(..size.min(batch.len())).collect();
        let scenario = scenario.clone();
        tasks.push(tokio::task::spawn_blocking(move || {
            let mut tally = Tally::default();
            for sale in &piece {
                tally.add(scenario.replay(sale, since));
            }
            tally
        }));
    }
    let mut tally = Tally::default();
    for task in tasks {
        tally.merge(task.await.map_err(DbError::other)?);
    }
    Ok(tally)
}

fn report(
    subject: &WhatIfSubject,
    days: Days,
    since: DateTime<Utc>,
    now: DateTime<Utc>,
    scenario: &Scenario,
    tally: Tally,
) -> WhatIfReport {
    let mut displaced: Vec<DisplacedPromotion> = tally
        .displaced
        .into_iter()
        .map(|(id, (checks, discount, points))| DisplacedPromotion {
            promotion_id: id.as_str().to_owned(),
            group: scenario.groups.get(&id).cloned().unwrap_or_default(),
            checks,
            discount,
            points,
        })
        .collect();
    displaced.sort_by(|a, b| {
        b.discount
            .cmp(&a.discount)
            .then_with(|| a.promotion_id.cmp(&b.promotion_id))
    });
    WhatIfReport {
        draft_id: subject.draft_id,
        promotion_id: subject.promotion.id.as_str().to_owned(),
        days: days.get(),
        from: since,
        to: now,
        ruleset_version: scenario.version,
        sales_read: tally.read,
        sales_priced: tally.priced,
        skipped: tally
            .skipped
            .into_iter()
            .map(|(reason, sales)| WhatIfSkip {
                reason: reason.to_owned(),
                sales,
            })
            .collect(),
        customers_touched: u64::try_from(tally.customers.len()).unwrap_or(u64::MAX),
        total: tally.total,
        discount_before: tally.before_discount,
        discount_after: tally.after_discount,
        points_before: tally.before_points,
        points_after: tally.after_points,
        by_store: tally
            .by_store
            .into_iter()
            .map(|(store_id, figures)| StoreWhatIf { store_id, figures })
            .collect(),
        by_day: tally
            .by_day
            .into_iter()
            .map(|(day, figures)| DayWhatIf { day, figures })
            .collect(),
        displaced,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn days_are_one_to_ninety_and_twenty_eight_by_default() {
        assert_eq!(Days::parse(None).map(Days::get).ok(), Some(DEFAULT_DAYS));
        assert_eq!(Days::parse(Some(1)).map(Days::get).ok(), Some(1));
        assert_eq!(Days::parse(Some(90)).map(Days::get).ok(), Some(90));
        for bad in [0, 91, -1, i64::MAX] {
            match Days::parse(Some(bad)) {
                Err(WhatIfError::Invalid { field, .. }) => assert_eq!(field, "days"),
                other => panic!("{bad}: {other:?}"),
            }
        }
    }

    #[test]
    fn running_promotions_lose_their_periods_and_the_rest_are_left_out() {
        let now: DateTime<Utc> = "2026-03-10T00:00:00Z".parse().unwrap();
        let promotion = |id: &str, starts: Option<&str>, ends: Option<&str>| -> Promotion {
            let mut p = serde_json::json!({
                "id": id, "name": id,
                "target": {"kind": "skus", "skus": ["4601234567893"]},
                "reward": {"kind": "percent_off", "percent": 1000}
            });
            if let Some(s) = starts {
                p["starts_at"] = serde_json::json!(s);
            }
            if let Some(e) = ends {
                p["ends_at"] = serde_json::json!(e);
            }
            serde_json::from_value(p).unwrap()
        };
        let rules: Ruleset = serde_json::from_value(serde_json::json!({
            "currency": "RUB", "programme": {}, "promotions": []
        }))
        .unwrap();
        let rules = Ruleset {
            promotions: vec![
                promotion("always", None, None),
                promotion(
                    "now",
                    Some("2026-03-01T00:00:00Z"),
                    Some("2026-04-01T00:00:00Z"),
                ),
                promotion("ended", None, Some("2026-03-01T00:00:00Z")),
                promotion("later", Some("2026-04-01T00:00:00Z"), None),
            ],
            ..rules
        };
        let kept = running(&rules, now);
        let ids: Vec<&str> = kept.iter().map(|p| p.id.as_str()).collect();
        assert_eq!(ids, ["always", "now"]);
        assert!(
            kept.iter()
                .all(|p| p.starts_at.is_none() && p.ends_at.is_none())
        );
    }
}
