//! Uplift against a holdout: what a promotion changed in its customers'
//! spend and visits, measured against the customers it held out.
//!
//! # Who is compared (intention to treat)
//!
//! For a promotion of the current ruleset with a holdout share, the
//! *window* is the view's period within the promotion's dates (`starts_at`
//! and `ends_at` as local days of the merchant's first store; without a
//! `starts_at`, the day it was first published), and the
//! *baseline* is as many days just before it. The eligible customers are
//! every identified customer with a visit at the filter's stores in the
//! baseline (so chosen before the window, whatever the promotion then
//! did), narrowed by the promotion's genders and ages (age on the
//! window's first day; tiers, tags, birthdays and "new customer" do not
//! narrow it, as in campaign targeting). [`shared::holdout`] splits them
//! into exposed and held out, the same hash the tills priced with. Each
//! one's net spend (sales less refunds, kopecks) and visits (days with a
//! record) over the window count, zero included, whether or not they
//! came or used the promotion.
//!
//! # The figures
//!
//! Means and differences of means are exact integer ratios rounded half
//! up (spend in kopecks, visits in thousandths). The 95 % interval is the
//! difference ± 1.96 standard errors, the error being Welch's
//! `√(s²ₑ/nₑ + s²ₕ/nₕ)` from each group's sample variance (the normal
//! approximation of Welch's t, fair from [`MIN_GROUP`] customers a side);
//! the variances come from integer sums and only the square root and the
//! interval's ends are floats, rounded to whole units. Fewer than
//! [`MIN_GROUP`] customers in either group is *too few*; an interval that
//! holds zero is *unclear*.

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, Days, NaiveDate, Utc};
use chrono_tz::Tz;
use shared::holdout;
use shared::ids::StoreId;
use shared::money::round_half_up;
use shared::ruleset::Promotion;

use super::visits::{self, Visit};
use crate::db::analytics::RollupFilter;
use crate::db::{DbError, Tx};
use crate::wire::analytics::{Period, UpliftEstimate, UpliftGroup, UpliftRow, UpliftVerdict};

/// The fewest customers a group needs before a difference is told.
pub const MIN_GROUP: i64 = 30;

/// The normal quantile of a two-sided 95 % interval.
pub const Z_95: f64 = 1.96;

/// Count, sum and sum of squares of one figure over a group.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Sums {
    /// Customers.
    pub n: i64,
    /// Sum of the figure.
    pub sum: i128,
    /// Sum of its squares.
    pub sum_sq: i128,
}

impl Sums {
    /// Adds one customer's figure.
    pub fn add(&mut self, x: i64) {
        self.n += 1;
        self.sum += i128::from(x);
        self.sum_sq += i128::from(x) * i128::from(x);
    }

    /// The mean times `scale`, half up; 0 for no one.
    #[must_use]
    pub fn mean(&self, scale: i64) -> i64 {
        if self.n == 0 {
            return 0;
        }
        narrow(round_half_up(
            self.sum * i128::from(scale),
            i128::from(self.n),
        ))
    }

    /// The variance of the mean (s²/n), in the figure's units squared.
    #[allow(clippy::cast_precision_loss)]
    fn variance_of_mean(&self) -> f64 {
        let n = i128::from(self.n);
        // n Σx² − (Σx)² = n(n−1) s², exact.
        let spread = n * self.sum_sq - self.sum * self.sum;
        spread as f64 / (n * n * (n - 1)) as f64
    }
}

fn narrow(n: i128) -> i64 {
    i64::try_from(n).unwrap_or(if n < 0 { i64::MIN } else { i64::MAX })
}

/// The difference of the means of `exposed` and `held` times `scale`,
/// with its interval and verdict.
#[must_use]
#[allow(clippy::cast_precision_loss, clippy::cast_possible_truncation)]
pub fn estimate(exposed: &Sums, held: &Sums, scale: i64) -> UpliftEstimate {
    let (ne, nh) = (i128::from(exposed.n), i128::from(held.n));
    let scale_wide = i128::from(scale);
    let numerator = scale_wide * (exposed.sum * nh - held.sum * ne);
    let denominator = ne * nh;
    let difference = if denominator == 0 {
        exposed.mean(scale) - held.mean(scale)
    } else {
        narrow(round_half_up(numerator, denominator))
    };
    let (low, high) = if exposed.n >= 2 && held.n >= 2 {
        let centre = numerator as f64 / denominator as f64;
        let margin =
            Z_95 * (exposed.variance_of_mean() + held.variance_of_mean()).sqrt() * scale as f64;
        // Saturating float-to-int casts: whole units, half away from zero.
        (
            Some((centre - margin).round() as i64),
            Some((centre + margin).round() as i64),
        )
    } else {
        (None, None)
    };
    let verdict = match (low, high) {
        _ if exposed.n < MIN_GROUP || held.n < MIN_GROUP => UpliftVerdict::TooFew,
        (Some(low), Some(_)) if low > 0 => UpliftVerdict::Higher,
        (Some(_), Some(high)) if high < 0 => UpliftVerdict::Lower,
        _ => UpliftVerdict::Unclear,
    };
    UpliftEstimate {
        difference,
        low,
        high,
        verdict,
    }
}

/// One promotion's comparison as the scan fills it.
struct Experiment<'a> {
    promotion: &'a Promotion,
    share: shared::money::BasisPoints,
    window: Period,
    baseline: Period,
    genders: Vec<&'static str>,
    exposed: [Sums; 2],
    held: [Sums; 2],
}

impl Experiment<'_> {
    /// Whether a customer of this gender and birth date is eligible.
    fn admits(&self, gender: &str, birth: Option<NaiveDate>) -> bool {
        let seg = &self.promotion.conditions.segment;
        if !self.genders.is_empty() && !self.genders.contains(&gender) {
            return false;
        }
        if seg.min_age.is_some() || seg.max_age.is_some() {
            let age = birth.and_then(|b| self.window.from.years_since(b));
            return age.is_some_and(|a| {
                seg.min_age.is_none_or(|m| a >= m) && seg.max_age.is_none_or(|m| a <= m)
            });
        }
        true
    }
}

/// The local day of `at` in `tz`.
fn day_of(at: DateTime<Utc>, tz: Tz) -> NaiveDate {
    at.with_timezone(&tz).date_naive()
}

/// The window and baseline of `p` within `period`, if it ran in it. A
/// promotion without a start of its own starts when it was `first_published`
/// (the tills could not price with it before).
#[must_use]
pub fn window(
    p: &Promotion,
    first_published: Option<DateTime<Utc>>,
    period: Period,
    tz: Tz,
) -> Option<(Period, Period)> {
    let from = p
        .starts_at
        .or(first_published)
        .map_or(period.from, |s| period.from.max(day_of(s, tz)));
    // `ends_at` is exclusive: its last day is the one of the instant before.
    let to = p.ends_at.map_or(period.to, |e| {
        period
            .to
            .min(day_of(e - chrono::Duration::nanoseconds(1), tz))
    });
    if from > to {
        return None;
    }
    let days = u64::try_from((to - from).num_days()).ok()? + 1;
    let baseline = Period {
        from: from.checked_sub_days(Days::new(days))?,
        to: from.checked_sub_days(Days::new(1))?,
    };
    Some((Period { from, to }, baseline))
}

/// The uplift of every promotion of `promotions` with a holdout that ran
/// in `filter`'s period, by promotion id, from one pass over the
/// customers' visits rows. `tz` dates the promotions.
pub fn uplift(
    tx: &mut dyn Tx,
    filter: &RollupFilter,
    promotions: &[Promotion],
    tz: Tz,
) -> Result<Vec<UpliftRow>, DbError> {
    let period = Period {
        from: filter.from,
        to: filter.to,
    };
    let first_published = if promotions
        .iter()
        .any(|p| p.holdout.is_some() && p.starts_at.is_none())
    {
        tx.promotions_first_published(filter.merchant_id)?
    } else {
        HashMap::new()
    };
    let mut experiments: Vec<Experiment<'_>> = promotions
        .iter()
        .filter_map(|p| {
            let share = p.holdout?;
            let first = first_published.get(p.id.as_str()).copied();
            let (window, baseline) = window(p, first, period, tz)?;
            Some(Experiment {
                promotion: p,
                share,
                window,
                baseline,
                genders: p
                    .conditions
                    .segment
                    .genders
                    .iter()
                    .map(|g| g.code())
                    .collect(),
                exposed: [Sums::default(); 2],
                held: [Sums::default(); 2],
            })
        })
        .collect();
    if experiments.is_empty() {
        return Ok(Vec::new());
    }
    experiments.sort_by(|a, b| a.promotion.id.cmp(&b.promotion.id));
    let stores: Option<HashSet<StoreId>> =
        filter.stores.as_ref().map(|s| s.iter().copied().collect());
    let mut damaged = None;
    let mut row_visits: Vec<Visit> = Vec::new();
    tx.each_customer_visits(filter.merchant_id, &mut |row| {
        row_visits.clear();
        let read = visits::for_each(row.visits, |v| {
            if stores.as_ref().is_none_or(|s| s.contains(&v.store)) {
                row_visits.push(v);
            }
        });
        if let Err(e) = read {
            damaged.get_or_insert(e);
            return;
        }
        for e in &mut experiments {
            if !e.admits(row.gender, row.birth_date) {
                continue;
            }
            let mut before = false;
            let (mut spend, mut days, mut last) = (0_i64, 0_i64, None);
            for v in &row_visits {
                if v.day >= e.baseline.from && v.day <= e.baseline.to {
                    before = true;
                } else if v.day >= e.window.from && v.day <= e.window.to {
                    spend = spend.saturating_add(v.figures.revenue());
                    if last != Some(v.day) {
                        days += 1;
                        last = Some(v.day);
                    }
                }
            }
            if !before {
                continue;
            }
            let side = if holdout::is_held_out(row.customer_id, &e.promotion.id, e.share) {
                &mut e.held
            } else {
                &mut e.exposed
            };
            side[0].add(spend);
            side[1].add(days);
        }
    })?;
    if let Some(e) = damaged {
        return Err(e);
    }
    Ok(experiments
        .into_iter()
        .map(|e| {
            let group = |s: &[Sums; 2]| UpliftGroup {
                customers: s[0].n,
                spend: s[0].mean(1),
                visits_milli: s[1].mean(1000),
            };
            UpliftRow {
                promotion_id: e.promotion.id.to_string(),
                name: e.promotion.name.clone(),
                holdout_bp: e.share.get(),
                window: e.window,
                baseline: e.baseline,
                exposed: group(&e.exposed),
                held_out: group(&e.held),
                spend: estimate(&e.exposed[0], &e.held[0], 1),
                visits: estimate(&e.exposed[1], &e.held[1], 1000),
            }
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sums(xs: &[i64]) -> Sums {
        let mut s = Sums::default();
        for &x in xs {
            s.add(x);
        }
        s
    }

    #[test]
    fn a_clear_difference_a_null_one_and_too_few() {
        // Exposed: 40 customers of 100 or 140 (mean 120, s² ≈ 410);
        // held out: 40 of 90 or 110 (mean 100, s² ≈ 103).
        let exposed = sums(&[100, 140].repeat(20));
        let held = sums(&[90, 110].repeat(20));
        let e = estimate(&exposed, &held, 1);
        assert_eq!(e.difference, 20);
        // SE = √(410.26/40 + 102.56/40) = 3.580; ± 7.017.
        assert_eq!((e.low, e.high), (Some(13), Some(27)));
        assert_eq!(e.verdict, UpliftVerdict::Higher);
        let e = estimate(&held, &exposed, 1);
        assert_eq!((e.difference, e.low, e.high), (-20, Some(-27), Some(-13)));
        assert_eq!(e.verdict, UpliftVerdict::Lower);
        let same = estimate(&exposed, &sums(&[140, 100].repeat(20)), 1);
        assert_eq!(same.difference, 0);
        assert_eq!(same.verdict, UpliftVerdict::Unclear);
        let few = estimate(&sums(&[100, 140].repeat(14)), &held, 1);
        assert_eq!(few.verdict, UpliftVerdict::TooFew);
        assert!(few.low.is_some());
        let none = estimate(&Sums::default(), &sums(&[1]), 1000);
        assert_eq!((none.low, none.verdict), (None, UpliftVerdict::TooFew));
        assert_eq!(none.difference, -1000);
        // Visits in thousandths: 1 and 2 against 1.
        let e = estimate(&sums(&[1, 2, 2]), &sums(&[1, 1]), 1000);
        assert_eq!(e.difference, 667);
    }

    #[test]
    fn the_window_is_the_period_within_the_promotions_dates() {
        let day = |s: &str| s.parse::<NaiveDate>().unwrap();
        let period = Period {
            from: day("2026-03-01"),
            to: day("2026-03-31"),
        };
        let mut p: Promotion = serde_json::from_value(serde_json::json!({
            "id": "p", "name": "P", "target": {"kind": "basket"},
            "reward": {"kind": "percent_off", "percent": 1000}
        }))
        .unwrap();
        let (w, b) = window(&p, None, period, Tz::Europe__Moscow).unwrap();
        assert_eq!(w, period);
        assert_eq!((b.from, b.to), (day("2026-01-29"), day("2026-02-28")));
        // Without a start of its own, it starts on the day it was first
        // published: 22:30 UTC on 14 March is the 15th in Moscow.
        let published = Some("2026-03-14T22:30:00Z".parse().unwrap());
        let (w, b) = window(&p, published, period, Tz::Europe__Moscow).unwrap();
        assert_eq!((w.from, w.to), (day("2026-03-15"), day("2026-03-31")));
        assert_eq!((b.from, b.to), (day("2026-02-26"), day("2026-03-14")));
        // Midnight in Moscow is 21:00 UTC the day before. A start of its
        // own is the promotion's, whenever it was published.
        p.starts_at = Some("2026-03-09T21:00:00Z".parse().unwrap());
        p.ends_at = Some("2026-03-19T21:00:00Z".parse().unwrap());
        let (w, b) = window(&p, published, period, Tz::Europe__Moscow).unwrap();
        assert_eq!((w.from, w.to), (day("2026-03-10"), day("2026-03-19")));
        assert_eq!((b.from, b.to), (day("2026-02-28"), day("2026-03-09")));
        p.starts_at = Some("2026-04-01T00:00:00Z".parse().unwrap());
        p.ends_at = None;
        assert_eq!(window(&p, None, period, Tz::Europe__Moscow), None);
    }
}
