//! Basket analysis: which products and categories are bought together.
//!
//! **At ingest** ([`add_record`], from [`super::Rollups`]) a sale adds, for
//! its store's local month, at the store and chain-wide: one check, one to
//! each distinct product and category in it, and one to each pair of them.
//! A check counts a pair once however many lines it has. Only the
//! [`MAX_ITEMS`] products (and categories) with the highest line totals
//! take part in pairs (ties by code), so a check of 1 000 lines adds at
//! most 435 product pairs, not 500 000. The same rows are kept again under
//! each promotion that applied to the sale (its scope), so a promotion's
//! pairs can be set against the other checks'. **A return leaves baskets
//! alone:** it does not unbuy what was bought together, and the counts
//! never go down (the view's exact search below relies on it).
//!
//! **Rows hold numbers, not text.** Items (products by SKU, categories,
//! promotions as scopes) are numbered per merchant on first sight
//! (`rollup_basket_items`, with a product's last name) and months are
//! `YYYYMM`: a batch is merged by small fixed keys and written in the
//! tables' key order, so each of a sale's thirty-odd upserts compares
//! integers. A pair keeps its items in their codes' order, as the views
//! list them.
//!
//! **Whole months.** Pairs are kept per month only (a day table would
//! double the writes), so the view widens the period asked for to the
//! whole months it touches and says so; the other figures on the page are
//! over the same months.
//!
//! **The view reads a few rows, not every pair.** A pair listed needs at
//! least `min_checks` checks with both. Summed over `P` month rows (months,
//! times stores when filtered by store), a pair below `ceil(min / P)` in
//! every row cannot reach `min`; so the rows mark when a pair's count first
//! reaches each power of two (`rollup_basket_marks`), and the view reads
//! only the pairs marked at the level under `ceil(min / P)`, then sums
//! those exactly. The least `min_checks` is therefore `P + 1` (said on the
//! page); a chosen product's pairs are read by the product and take any.
//!
//! **Arithmetic** is integers: support and confidence per million, lift
//! in thousandths, all half up; lists are ordered by exact cross-products.

use std::cmp::Ordering;
use std::collections::{BTreeMap, BTreeSet, HashMap};

use chrono::NaiveDate;
use shared::ids::{MerchantId, StoreId};
use shared::money::round_half_up;
use shared::record::{PurchaseRecord, RecordKind};

use crate::db::analytics::{BasketFilter, BasketItemKind, BasketKey, BasketKind, BasketSum, Month};
use crate::db::{DbError, PromotionUseRow, Tx};
use crate::wire::analytics::{PairRow, ProductPairs, PromotionPairRow, PromotionPairs};

/// The most products (and categories) of one check that take part in
/// pairs: those with the highest line totals.
pub const MAX_ITEMS: usize = 30;
/// The most pairs a list shows (and exports).
pub const TOP_PAIRS: usize = 100;
/// The least `min_checks` by default; above it the default is 0.1 % of
/// the checks.
pub const DEFAULT_MIN_CHECKS: i64 = 3;
/// The most items whose checks are read one by one; more are read in one
/// pass over every item of their kind.
const SINGLES_BY_KEY: usize = 8;
/// Checks per one check of the default minimum (0.1 %).
const DEFAULT_MIN_SHARE: i64 = 1_000;

/// Basket rows merged by key, their items numbered here and given their
/// stored numbers when flushed.
#[derive(Debug, Default)]
pub struct BasketDeltas {
    /// Each item's number here (1-based), by merchant and kind, then code.
    numbers: HashMap<(MerchantId, BasketItemKind), HashMap<String, u32>>,
    /// The items in number order: merchant, kind, code, the last name seen.
    items: Vec<(MerchantId, BasketItemKind, String, String)>,
    /// The checks to add, by key with the items' numbers here.
    rows: HashMap<BasketKey, i64>,
}

impl BasketDeltas {
    /// The item's number here (given on first sight), its name noted when
    /// not empty.
    fn item(&mut self, merchant: MerchantId, kind: BasketItemKind, code: &str, name: &str) -> i64 {
        let numbers = self.numbers.entry((merchant, kind)).or_default();
        let number = match numbers.get(code) {
            Some(number) => *number,
            None => {
                self.items
                    .push((merchant, kind, code.to_owned(), String::new()));
                let number = u32::try_from(self.items.len()).unwrap_or(u32::MAX);
                numbers.insert(code.to_owned(), number);
                number
            }
        };
        if !name.is_empty()
            && let Some(item) = self.items.get_mut(number as usize - 1)
            && item.3 != name
        {
            name.clone_into(&mut item.3);
        }
        i64::from(number)
    }
}

/// Adds one record's basket rows (see the module's docs) for its store's
/// local `day`: nothing for a return.
pub fn add_record(
    into: &mut BasketDeltas,
    record: &PurchaseRecord,
    day: NaiveDate,
    uses: &[PromotionUseRow],
) {
    if record.kind != RecordKind::Sale {
        return;
    }
    let merchant = record.merchant_id;
    // Each product's name and its lines' total; each category's total.
    let mut products: BTreeMap<&str, (&str, i64)> = BTreeMap::new();
    let mut categories: BTreeMap<&str, i64> = BTreeMap::new();
    for line in &record.lines {
        let total = line.total.minor();
        let product = products
            .entry(line.sku.as_str())
            .or_insert((line.name.as_str(), 0));
        product.0 = line.name.as_str();
        product.1 = product.1.saturating_add(total);
        if let Some(category) = &line.category {
            let c = categories.entry(category.as_str()).or_default();
            *c = c.saturating_add(total);
        }
    }
    // The items by code, numbered: every product and category, and the
    // ones that take part in pairs (in their codes' order).
    let mut number = |kind, code: &str, name: &str| into.item(merchant, kind, code, name);
    let product_numbers: Vec<i64> = products
        .iter()
        .map(|(sku, (name, _))| number(BasketItemKind::Product, sku, name))
        .collect();
    let category_numbers: Vec<i64> = categories
        .keys()
        .map(|c| number(BasketItemKind::Category, c, ""))
        .collect();
    let paired = |items: Vec<(&str, i64, i64)>| -> Vec<i64> {
        let mut items = items;
        items.sort_by(|x, y| y.1.cmp(&x.1).then(x.0.cmp(y.0)));
        items.truncate(MAX_ITEMS);
        items.sort_by(|x, y| x.0.cmp(y.0));
        items.into_iter().map(|(_, _, n)| n).collect()
    };
    let product_items = paired(
        products
            .iter()
            .zip(&product_numbers)
            .map(|((k, (_, t)), n)| (*k, *t, *n))
            .collect(),
    );
    let category_items = paired(
        categories
            .iter()
            .zip(&category_numbers)
            .map(|((k, t), n)| (*k, *t, *n))
            .collect(),
    );
    let promotions: BTreeSet<String> = uses
        .iter()
        .filter(|u| u.uses > 0)
        .map(|u| u.promotion_id.to_string())
        .collect();
    let scopes: Vec<i64> = std::iter::once(0)
        .chain(
            promotions
                .iter()
                .map(|p| into.item(merchant, BasketItemKind::Promotion, p, "")),
        )
        .collect();
    let month = Month::of(day);
    for scope in scopes {
        for store_id in [Some(record.store_id), None] {
            let mut add = |kind, a, b| {
                let key = BasketKey {
                    merchant_id: merchant,
                    scope,
                    kind,
                    store_id,
                    a,
                    b,
                    month,
                };
                *into.rows.entry(key).or_default() += 1;
            };
            add(BasketKind::Checks, 0, 0);
            for product in &product_numbers {
                add(BasketKind::Product, *product, 0);
            }
            for category in &category_numbers {
                add(BasketKind::Category, *category, 0);
            }
            for (kind, items) in [
                (BasketKind::ProductPair, &product_items),
                (BasketKind::CategoryPair, &category_items),
            ] {
                for (i, a) in items.iter().enumerate() {
                    for b in &items[i + 1..] {
                        add(kind, *a, *b);
                    }
                }
            }
        }
    }
}

/// Adds merged basket rows in the tables' key order, the items given
/// their stored numbers first, marking each pair row at every power of
/// two its count reaches.
pub fn flush(deltas: &BasketDeltas, tx: &mut dyn Tx) -> Result<(), DbError> {
    if deltas.rows.is_empty() {
        return Ok(());
    }
    let stored: Vec<i64> = deltas
        .items
        .iter()
        .map(|(merchant, kind, code, name)| tx.basket_item(*merchant, *kind, code, name))
        .collect::<Result<_, _>>()?;
    let number = |here: i64| -> i64 {
        usize::try_from(here - 1)
            .ok()
            .and_then(|i| stored.get(i))
            .copied()
            .unwrap_or(0)
    };
    let mut rows: Vec<(BasketKey, i64)> = deltas
        .rows
        .iter()
        .map(|(key, checks)| {
            let key = BasketKey {
                scope: number(key.scope),
                a: number(key.a),
                b: number(key.b),
                ..*key
            };
            (key, *checks)
        })
        .collect();
    rows.sort_unstable_by_key(|(key, _)| *key);
    let after = tx.add_baskets(&rows)?;
    let mut marks = Vec::new();
    for ((key, checks), after) in rows.iter().zip(after) {
        if key.kind.is_pair() {
            let before = after - checks;
            marks.extend(levels_reached(before, after).map(|level| (*key, level)));
        }
    }
    tx.add_basket_marks(&marks)
}

/// The levels `l ≥ 1` with `before < 2^l ≤ after`.
fn levels_reached(before: i64, after: i64) -> impl Iterator<Item = u32> {
    (1..63_u32).filter(move |l| {
        let at = 1_i64 << l;
        before < at && at <= after
    })
}

/// The level whose marks hold every pair with at least `per_row` in some
/// row: the greatest `l` with `2^l ≤ per_row` (`per_row ≥ 2`).
fn level_for(per_row: i64) -> u32 {
    63 - per_row.max(2).leading_zeros()
}

/// `n / d` rounded up, for `n ≥ 0`, `d > 0`.
fn ceil_div(n: i64, d: i64) -> i64 {
    (n.max(0) + d - 1) / d.max(1)
}

/// Half-up `n × scale / d`, 0 when nothing to divide by.
fn ratio(n: i64, d: i64, scale: i64) -> i64 {
    if d <= 0 {
        return 0;
    }
    let r = round_half_up(i128::from(n) * i128::from(scale), i128::from(d));
    i64::try_from(r).unwrap_or(i64::MAX)
}

/// A pair's figures: `both` checks of `checks`, `ca` with a and `cb` with b.
fn pair_row(
    (a, a_name): (&str, &str),
    (b, b_name): (&str, &str),
    both: i64,
    (ca, cb): (i64, i64),
    checks: i64,
) -> PairRow {
    let lift = if ca > 0 && cb > 0 {
        let r = round_half_up(
            i128::from(both) * i128::from(checks) * 1_000,
            i128::from(ca) * i128::from(cb),
        );
        i64::try_from(r).unwrap_or(i64::MAX)
    } else {
        0
    };
    PairRow {
        a: a.to_owned(),
        a_name: a_name.to_owned(),
        b: b.to_owned(),
        b_name: b_name.to_owned(),
        checks: both,
        a_checks: ca,
        b_checks: cb,
        support_ppm: ratio(both, checks, 1_000_000),
        confidence_ab_ppm: ratio(both, ca, 1_000_000),
        confidence_ba_ppm: ratio(both, cb, 1_000_000),
        lift_milli: lift,
    }
}

/// Higher lift first (exactly: both ÷ (a × b), the checks being common),
/// then more checks, then by the items.
fn by_lift(x: &PairRow, y: &PairRow) -> Ordering {
    let key = |p: &PairRow| i128::from(p.a_checks) * i128::from(p.b_checks);
    (i128::from(y.checks) * key(x))
        .cmp(&(i128::from(x.checks) * key(y)))
        .then(y.checks.cmp(&x.checks))
        .then_with(|| (&x.a, &x.b).cmp(&(&y.a, &y.b)))
}

/// What the view reads: the merchant, the whole months, the stores.
pub(crate) struct Reading {
    pub merchant_id: MerchantId,
    pub first: Month,
    pub last: Month,
    /// `None`: chain-wide rows.
    pub stores: Option<Vec<StoreId>>,
}

impl Reading {
    fn filter(&self, scope: &str, kind: BasketKind) -> BasketFilter {
        BasketFilter {
            merchant_id: self.merchant_id,
            scope: scope.to_owned(),
            kind,
            first: self.first,
            last: self.last,
            stores: self.stores.clone(),
        }
    }

    /// The month rows a pair is summed over.
    fn rows(&self) -> i64 {
        let months = (i64::from(self.last.year) - i64::from(self.first.year)) * 12
            + i64::from(self.last.month)
            - i64::from(self.first.month)
            + 1;
        months.max(1) * self.stores.as_ref().map_or(1, |s| s.len().max(1) as i64)
    }

    /// The least checks a pair needs: `asked`, or 0.1 % of `checks` and at
    /// least [`DEFAULT_MIN_CHECKS`].
    fn min_checks(asked: Option<i64>, checks: i64) -> i64 {
        asked.unwrap_or_else(|| DEFAULT_MIN_CHECKS.max(ceil_div(checks, DEFAULT_MIN_SHARE)))
    }

    /// Sales checks in `scope`.
    pub fn checks(&self, tx: &mut dyn Tx, scope: &str) -> Result<i64, DbError> {
        Ok(tx
            .basket_sums(&self.filter(scope, BasketKind::Checks), None)?
            .iter()
            .map(|s| s.checks)
            .sum())
    }

    /// Items' checks and names, for these items.
    fn singles(
        &self,
        tx: &mut dyn Tx,
        scope: &str,
        kind: BasketKind,
        items: impl IntoIterator<Item = String>,
    ) -> Result<HashMap<String, (String, i64)>, DbError> {
        let items: BTreeSet<String> = items.into_iter().collect();
        if items.len() > SINGLES_BY_KEY {
            // One pass over every item's rows: a popular product's pairs
            // name thousands of partners, a query each would cost more.
            return Ok(tx
                .basket_sums(&self.filter(scope, kind), None)?
                .into_iter()
                .filter(|s| items.contains(&s.a))
                .map(|s| (s.a, (s.name, s.checks)))
                .collect());
        }
        let keys: Vec<(String, String)> = items.into_iter().map(|i| (i, String::new())).collect();
        Ok(tx
            .basket_pair_sums(&self.filter(scope, kind), &keys)?
            .into_iter()
            .map(|s| (s.a, (s.name, s.checks)))
            .collect())
    }

    /// The pairs of `scope` and `kind` with at least `min` checks (raised
    /// to the rows read plus one), exactly summed; and that least.
    fn frequent(
        &self,
        tx: &mut dyn Tx,
        scope: &str,
        kind: BasketKind,
        min: i64,
    ) -> Result<(Vec<BasketSum>, i64), DbError> {
        let rows = self.rows();
        let min = min.max(rows + 1);
        let level = level_for(ceil_div(min, rows));
        let pairs = tx
            .basket_marked_pairs(&self.filter(scope, kind), level)?
            .into_iter()
            .filter(|p| p.checks >= min)
            .collect();
        Ok((pairs, min))
    }

    /// Pairs as rows with their items' figures, highest lift first.
    fn rows_of(
        &self,
        tx: &mut dyn Tx,
        kind: BasketKind,
        pairs: Vec<BasketSum>,
        checks: i64,
        first: Option<&str>,
    ) -> Result<Vec<PairRow>, DbError> {
        let single = if kind == BasketKind::ProductPair {
            BasketKind::Product
        } else {
            BasketKind::Category
        };
        let singles = self.singles(
            tx,
            "",
            single,
            pairs.iter().flat_map(|p| [p.a.clone(), p.b.clone()]),
        )?;
        let get = |k: &str| singles.get(k).map_or(("", 0), |(n, c)| (n.as_str(), *c));
        let mut rows: Vec<PairRow> = pairs
            .iter()
            .map(|p| {
                // A chosen product's pairs show it first.
                let (a, b) = if first == Some(p.b.as_str()) {
                    (&p.b, &p.a)
                } else {
                    (&p.a, &p.b)
                };
                let ((an, ca), (bn, cb)) = (get(a), get(b));
                pair_row((a, an), (b, bn), p.checks, (ca, cb), checks)
            })
            .collect();
        rows.sort_by(by_lift);
        rows.truncate(TOP_PAIRS);
        Ok(rows)
    }
}

/// The pairs of the view: products, categories, the chosen product's and
/// the chosen promotion's. Returns the checks and the least used.
pub(crate) struct Pairs {
    pub checks: i64,
    pub min_checks: i64,
    pub pairs: Vec<PairRow>,
    pub categories: Vec<PairRow>,
    pub product: Option<ProductPairs>,
    pub promotion: Option<PromotionPairs>,
}

/// Reads the view's pairs.
pub(crate) fn pairs(
    tx: &mut dyn Tx,
    reading: &Reading,
    min_checks: Option<i64>,
    product: Option<&str>,
    promotion: Option<(&str, &str)>,
) -> Result<Pairs, DbError> {
    let checks = reading.checks(tx, "")?;
    let wanted = Reading::min_checks(min_checks, checks);
    let (frequent, min) = reading.frequent(tx, "", BasketKind::ProductPair, wanted)?;
    let pairs = reading.rows_of(tx, BasketKind::ProductPair, frequent, checks, None)?;
    // Categories are few: every pair is read.
    let category_pairs: Vec<BasketSum> = tx
        .basket_sums(&reading.filter("", BasketKind::CategoryPair), None)?
        .into_iter()
        .filter(|p| p.checks >= wanted)
        .collect();
    let categories = reading.rows_of(tx, BasketKind::CategoryPair, category_pairs, checks, None)?;
    let product = match product {
        Some(sku) => {
            // Read by the product, so any least holds; by default a few
            // checks, not 0.1 % of all.
            let least = min_checks.unwrap_or(DEFAULT_MIN_CHECKS);
            let with: Vec<BasketSum> = tx
                .basket_pairs_with(&reading.filter("", BasketKind::ProductPair), sku)?
                .into_iter()
                .filter(|p| p.checks >= least)
                .collect();
            let own = reading.singles(tx, "", BasketKind::Product, [sku.to_owned()])?;
            let (name, own_checks) = own.get(sku).cloned().unwrap_or_default();
            Some(ProductPairs {
                sku: sku.to_owned(),
                name,
                checks: own_checks,
                min_checks: least,
                pairs: reading.rows_of(tx, BasketKind::ProductPair, with, checks, Some(sku))?,
            })
        }
        None => None,
    };
    let promotion = match promotion {
        Some((id, name)) => Some(promotion_pairs(tx, reading, min_checks, checks, id, name)?),
        None => None,
    };
    Ok(Pairs {
        checks,
        min_checks: min,
        pairs,
        categories,
        product,
        promotion,
    })
}

/// A promotion's pairs: each frequent pair of the checks it applied to,
/// its rate there against its rate in the other checks.
fn promotion_pairs(
    tx: &mut dyn Tx,
    reading: &Reading,
    min_checks: Option<i64>,
    all_checks: i64,
    id: &str,
    name: &str,
) -> Result<PromotionPairs, DbError> {
    let with_checks = reading.checks(tx, id)?;
    let wanted = Reading::min_checks(min_checks, with_checks);
    let (frequent, min) = reading.frequent(tx, id, BasketKind::ProductPair, wanted)?;
    let keys: Vec<(String, String)> = frequent
        .iter()
        .map(|p| (p.a.clone(), p.b.clone()))
        .collect();
    let everywhere: HashMap<(String, String), i64> = tx
        .basket_pair_sums(&reading.filter("", BasketKind::ProductPair), &keys)?
        .into_iter()
        .map(|s| ((s.a, s.b), s.checks))
        .collect();
    let names = reading.singles(
        tx,
        "",
        BasketKind::Product,
        frequent.iter().flat_map(|p| [p.a.clone(), p.b.clone()]),
    )?;
    let name_of = |k: &str| names.get(k).map(|(n, _)| n.clone()).unwrap_or_default();
    let other_checks = all_checks - with_checks;
    let mut rows: Vec<PromotionPairRow> = frequent
        .iter()
        .map(|p| {
            let all = everywhere
                .get(&(p.a.clone(), p.b.clone()))
                .copied()
                .unwrap_or(p.checks);
            let without = (all - p.checks).max(0);
            let uplift = (without > 0 && with_checks > 0).then(|| {
                let r = round_half_up(
                    i128::from(p.checks) * i128::from(other_checks) * 1_000,
                    i128::from(with_checks) * i128::from(without),
                );
                i64::try_from(r).unwrap_or(i64::MAX)
            });
            PromotionPairRow {
                a_name: name_of(&p.a),
                b_name: name_of(&p.b),
                a: p.a.clone(),
                b: p.b.clone(),
                with_checks: p.checks,
                with_ppm: ratio(p.checks, with_checks, 1_000_000),
                without_checks: without,
                without_ppm: ratio(without, other_checks, 1_000_000),
                uplift_milli: uplift,
            }
        })
        .collect();
    // Most moved first: only with the promotion, then by the exact ratio
    // with × others ÷ without (the promotion's checks being common).
    rows.sort_by(|x, y| {
        let moved = |r: &PromotionPairRow| (r.without_checks == 0, r.with_checks, r.without_checks);
        let ((xz, xw, xo), (yz, yw, yo)) = (moved(x), moved(y));
        yz.cmp(&xz)
            .then((i128::from(yw) * i128::from(xo)).cmp(&(i128::from(xw) * i128::from(yo))))
            .then(yw.cmp(&xw))
            .then_with(|| (&x.a, &x.b).cmp(&(&y.a, &y.b)))
    });
    rows.truncate(TOP_PAIRS);
    Ok(PromotionPairs {
        promotion_id: id.to_owned(),
        name: name.to_owned(),
        checks: with_checks,
        min_checks: min,
        pairs: rows,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn marks_and_levels_agree() {
        assert_eq!(levels_reached(0, 1).count(), 0);
        assert_eq!(levels_reached(0, 2).collect::<Vec<_>>(), vec![1]);
        assert_eq!(levels_reached(1, 9).collect::<Vec<_>>(), vec![1, 2, 3]);
        assert_eq!(levels_reached(8, 15).count(), 0);
        assert_eq!(level_for(2), 1);
        assert_eq!(level_for(3), 1);
        assert_eq!(level_for(4), 2);
        assert_eq!(level_for(834), 9);
        // Every count ≥ per_row reached the level's mark.
        for per_row in 2..300 {
            let at = 1_i64 << level_for(per_row);
            assert!(at <= per_row && per_row < at * 2);
        }
    }

    #[test]
    fn lift_support_and_confidence_are_integers_half_up() {
        let row = pair_row(("a", ""), ("b", ""), 2, (4, 5), 20);
        assert_eq!(row.support_ppm, 100_000);
        assert_eq!(row.confidence_ab_ppm, 500_000);
        assert_eq!(row.confidence_ba_ppm, 400_000);
        assert_eq!(row.lift_milli, 2_000);
        let third = pair_row(("a", ""), ("b", ""), 1, (3, 1), 1);
        assert_eq!(third.confidence_ab_ppm, 333_333);
        assert_eq!(third.lift_milli, 333);
    }
}
