//! The baskets view and its CSV exports equal a direct computation over a
//! generated data set: signed sales of two stores in two time zones over
//! three months (products with known companions, a promotion on one of
//! them, returns, and one check of 40 distinct products that only its 30
//! dearest pair in), uploaded by real tills over HTTP. Checked for the
//! chain, one store, a period inside a month (widened to it), a chosen
//! least, a product's pairs and a promotion's; and the basket rows added
//! once at start-up to records stored before them.

use std::cmp::Ordering;
use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Duration, NaiveDate, Utc};
use chrono_tz::Tz;
use reqwest::{Method, StatusCode};
use serde_json::json;
use shared::ids::{Category, PromotionId, Sku, StoreId};
use shared::money::{Money, Quantity};
use shared::pricing::{AppliedRule, RuleRef};
use shared::record::{PurchaseRecord, RecordKind, RecordLine, RecordRef};
use sync_server::wire::analytics::{BasketsView, PairRow, PromotionPairRow};

use crate::helpers::{ADMIN_TOKEN, Purchase, TestServer, Till};

struct Lcg(u64);

impl Lcg {
    fn next(&mut self, below: u64) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (self.0 >> 33) % below
    }
}

/// Products of the everyday checks: 12, in four categories.
const EVERYDAY: u64 = 12;
/// The promotion, on product 0's lines.
const PROMO: &str = "milk-pair";

pub fn sku(i: u64) -> String {
    format!("46{i:011}")
}

fn name(i: u64) -> String {
    format!("Товар {i}")
}

fn category(i: u64) -> String {
    format!("cat-{}", i % 4)
}

fn price(i: u64) -> i64 {
    1_000 + i64::try_from(i).unwrap() * 100
}

fn money(minor: i64) -> Money {
    Money::from_minor(minor).unwrap()
}

/// A sale of products `items` (one line each, product 0 with the
/// promotion when `promoted`), at `at`.
fn sale(till: &mut Till, at: DateTime<Utc>, items: &[u64], promoted: bool) -> Made {
    till.record_edited(Purchase::sale(0).made_at(at), |r| {
        r.lines = items
            .iter()
            .map(|&i| {
                let quantity = Quantity::from_milli(1_000).unwrap();
                let amount = quantity.extend(money(price(i))).unwrap();
                let discount = if promoted && i == 0 { 100 } else { 0 };
                RecordLine {
                    sku: Sku::parse(sku(i)).unwrap(),
                    name: name(i),
                    category: Some(Category::parse(category(i)).unwrap()),
                    quantity,
                    unit_price: money(price(i)),
                    amount,
                    discount: money(discount),
                    total: money(amount.minor() - discount),
                    points: 0,
                    applied: (discount > 0)
                        .then(|| AppliedRule {
                            rule: RuleRef::Promotion(PromotionId::parse(PROMO).unwrap()),
                            discount: money(discount),
                            funded_by: None,
                        })
                        .into_iter()
                        .collect(),
                }
            })
            .collect();
        r.subtotal = money(r.lines.iter().map(|l| l.amount.minor()).sum());
        r.discount = money(r.lines.iter().map(|l| l.discount.minor()).sum());
        r.total = money(r.lines.iter().map(|l| l.total.minor()).sum());
        r.applied = r.lines.iter().flat_map(|l| l.applied.clone()).collect();
        r.points_earned = 0;
        r.points_redeemed = 0;
    })
}

/// A return of the first line of `original`, at `at`.
fn refund(till: &mut Till, at: DateTime<Utc>, original: &PurchaseRecord) -> Made {
    let line = original.lines[0].clone();
    till.record_edited(Purchase::sale(0).made_at(at), |r| {
        r.kind = RecordKind::Return {
            original: RecordRef {
                register_id: original.register_id,
                seq: original.seq,
                id: original.id,
            },
            original_lines: vec![0],
            uses_returned: vec![],
        };
        r.lines = vec![RecordLine {
            amount: money(-line.amount.minor()),
            discount: money(-line.discount.minor()),
            total: money(-line.total.minor()),
            points: 0,
            applied: vec![],
            ..line.clone()
        }];
        r.subtotal = money(-line.amount.minor());
        r.discount = money(-line.discount.minor());
        r.total = money(-line.total.minor());
        r.applied = vec![];
        r.points_earned = 0;
        r.points_redeemed = 0;
    })
}

type Made = (shared::record::SignedRecord, PurchaseRecord);

pub struct Data {
    pub merchant: sync_server::wire::admin::Merchant,
    moscow: StoreId,
    far: StoreId,
    /// Each record with its store's zone.
    records: Vec<(PurchaseRecord, Tz)>,
}

pub async fn data_set(server: &TestServer) -> Data {
    let merchant = server.merchant("Ромашка").await;
    let moscow = server.store(merchant.id, "Тверская", "Europe/Moscow").await;
    let far = server
        .store(merchant.id, "Светланская", "Asia/Vladivostok")
        .await;
    let (status, body) = server
        .publish(
            merchant.id,
            json!({"currency": "RUB", "programme": {}, "promotions": [
                {"id": PROMO, "name": "Молоко к хлебу",
                 "target": {"kind": "skus", "skus": [sku(0)]},
                 "reward": {"kind": "amount_off", "amount": 100}}
            ]}),
        )
        .await;
    assert!(status.is_success(), "{body}");
    let mut tills = [
        (server.enroll(moscow.id, 1).await, Tz::Europe__Moscow),
        (server.enroll(far.id, 2).await, Tz::Asia__Vladivostok),
    ];
    let mut batches: [Vec<Made>; 2] = [Vec::new(), Vec::new()];
    let mut rng = Lcg(5);
    let start: DateTime<Utc> = "2026-01-01T03:00:00Z".parse().unwrap();
    for i in 0..400 {
        let at = start
            + Duration::days(i64::try_from(rng.next(89)).unwrap())
            + Duration::minutes(i64::try_from(rng.next(14 * 60)).unwrap());
        let t = usize::from(rng.next(3) == 0);
        let mut items: BTreeSet<u64> = BTreeSet::new();
        let n = 1 + rng.next(3);
        for _ in 0..n {
            let p = rng.next(EVERYDAY);
            items.insert(p);
            // Companions: 0 with 1, 2 with 3, mostly.
            if p < 4 && rng.next(4) != 0 {
                items.insert(p ^ 1);
            }
        }
        // The same product twice in a check counts once.
        let mut lines: Vec<u64> = items.iter().copied().collect();
        if rng.next(5) == 0 {
            lines.push(lines[0]);
        }
        let promoted = items.contains(&0) && rng.next(2) == 0;
        let made = sale(&mut tills[t].0, at, &lines, promoted);
        let original = made.1.clone();
        batches[t].push(made);
        if i % 11 == 3 {
            let back = at + Duration::days(2);
            let made = refund(&mut tills[t].0, back, &original);
            batches[t].push(made);
        }
    }
    // One check of 40 distinct products (100..140), in February in Moscow.
    let big: Vec<u64> = (100..140).collect();
    let at: DateTime<Utc> = "2026-02-14T09:00:00Z".parse().unwrap();
    let made = sale(&mut tills[0].0, at, &big, false);
    batches[0].push(made);
    let mut records = Vec::new();
    for (t, batch) in batches.iter().enumerate() {
        let (till, tz) = &tills[t];
        let signed: Vec<_> = batch.iter().map(|(s, _)| s.clone()).collect();
        for chunk in signed.chunks(60) {
            let (status, body) = till.upload(chunk).await;
            assert_eq!(status, StatusCode::OK, "{body}");
        }
        records.extend(batch.iter().map(|(_, r)| (r.clone(), *tz)));
    }
    Data {
        merchant,
        moscow: moscow.id,
        far: far.id,
        records,
    }
}

/// `n / d` half up, for `n ≥ 0`, `d > 0`; 0 when `d` is 0.
fn half_up(n: i128, d: i128) -> i64 {
    if d == 0 {
        return 0;
    }
    i64::try_from((2 * n + d) / (2 * d)).unwrap()
}

/// What the test reads the data set for.
#[derive(Clone, Copy)]
struct Filter<'a> {
    first: NaiveDate,
    last: NaiveDate,
    stores: Option<&'a [StoreId]>,
}

/// Counts of one scope, computed directly from the records.
#[derive(Default)]
struct Counts {
    checks: i64,
    products: BTreeMap<String, i64>,
    categories: BTreeMap<String, i64>,
    product_pairs: BTreeMap<(String, String), i64>,
    category_pairs: BTreeMap<(String, String), i64>,
    names: BTreeMap<String, String>,
}

/// The 30 dearest distinct items (by their lines' totals, ties by code),
/// in code order.
fn paired(totals: &BTreeMap<String, i64>) -> Vec<String> {
    let mut items: Vec<(&String, &i64)> = totals.iter().collect();
    items.sort_by(|x, y| y.1.cmp(x.1).then(x.0.cmp(y.0)));
    let mut kept: Vec<String> = items.into_iter().take(30).map(|(k, _)| k.clone()).collect();
    kept.sort();
    kept
}

fn count(data: &Data, f: Filter<'_>, promotion: Option<&str>) -> Counts {
    let mut c = Counts::default();
    for (r, tz) in &data.records {
        let day = r.wall_time.with_timezone(tz).date_naive();
        if r.kind != RecordKind::Sale
            || day < f.first
            || day > f.last
            || f.stores.is_some_and(|s| !s.contains(&r.store_id))
            || promotion.is_some_and(|p| {
                !r.applied
                    .iter()
                    .any(|a| matches!(&a.rule, RuleRef::Promotion(id) if id.as_str() == p))
            })
        {
            continue;
        }
        c.checks += 1;
        let mut products: BTreeMap<String, i64> = BTreeMap::new();
        let mut categories: BTreeMap<String, i64> = BTreeMap::new();
        for l in &r.lines {
            *products.entry(l.sku.as_str().to_owned()).or_default() += l.total.minor();
            c.names.insert(l.sku.as_str().to_owned(), l.name.clone());
            if let Some(cat) = &l.category {
                *categories.entry(cat.as_str().to_owned()).or_default() += l.total.minor();
            }
        }
        for p in products.keys() {
            *c.products.entry(p.clone()).or_default() += 1;
        }
        for k in categories.keys() {
            *c.categories.entry(k.clone()).or_default() += 1;
        }
        for (totals, pairs) in [
            (&products, &mut c.product_pairs),
            (&categories, &mut c.category_pairs),
        ] {
            let items = paired(totals);
            for (i, a) in items.iter().enumerate() {
                for b in &items[i + 1..] {
                    *pairs.entry((a.clone(), b.clone())).or_default() += 1;
                }
            }
        }
    }
    c
}

fn pair_row(a: &str, b: &str, both: i64, singles: (i64, i64), n: i64, names: &Counts) -> PairRow {
    let (ca, cb) = singles;
    let name = |k: &str| names.names.get(k).cloned().unwrap_or_default();
    PairRow {
        a: a.to_owned(),
        a_name: name(a),
        b: b.to_owned(),
        b_name: name(b),
        checks: both,
        a_checks: ca,
        b_checks: cb,
        support_ppm: half_up(i128::from(both) * 1_000_000, i128::from(n)),
        confidence_ab_ppm: half_up(i128::from(both) * 1_000_000, i128::from(ca)),
        confidence_ba_ppm: half_up(i128::from(both) * 1_000_000, i128::from(cb)),
        lift_milli: half_up(
            i128::from(both) * i128::from(n) * 1_000,
            i128::from(ca) * i128::from(cb),
        ),
    }
}

/// Highest lift first (exactly), then more checks, then by the items.
fn order(x: &PairRow, y: &PairRow) -> Ordering {
    let l = |p: &PairRow| {
        (
            i128::from(p.checks),
            i128::from(p.a_checks) * i128::from(p.b_checks),
        )
    };
    let ((xn, xd), (yn, yd)) = (l(x), l(y));
    (yn * xd)
        .cmp(&(xn * yd))
        .then(y.checks.cmp(&x.checks))
        .then_with(|| (&x.a, &x.b).cmp(&(&y.a, &y.b)))
}

fn rows(
    pairs: &BTreeMap<(String, String), i64>,
    singles: &BTreeMap<String, i64>,
    min: i64,
    c: &Counts,
    first: Option<&str>,
) -> Vec<PairRow> {
    let mut out: Vec<PairRow> = pairs
        .iter()
        .filter(|(k, n)| **n >= min && first.is_none_or(|f| k.0 == f || k.1 == f))
        .map(|((a, b), n)| {
            let (a, b) = if first == Some(b.as_str()) {
                (b, a)
            } else {
                (a, b)
            };
            pair_row(a, b, *n, (singles[a], singles[b]), c.checks, c)
        })
        .collect();
    out.sort_by(order);
    out.truncate(100);
    out
}

/// The month rows a pair is summed over.
fn month_rows(f: Filter<'_>) -> i64 {
    use chrono::Datelike as _;
    let months = i64::from(f.last.year() - f.first.year()) * 12 + i64::from(f.last.month())
        - i64::from(f.first.month())
        + 1;
    months * f.stores.map_or(1, |s| i64::try_from(s.len()).unwrap())
}

fn default_min(checks: i64) -> i64 {
    3.max((checks + 999) / 1000)
}

async fn baskets(server: &TestServer, data: &Data, query: &str) -> BasketsView {
    server
        .admin_ok(
            Method::GET,
            &format!(
                "/api/v1/admin/merchants/{}/analytics/baskets?{query}",
                data.merchant.id
            ),
            None,
        )
        .await
}

/// Checks the view of `query` (whose period widens to `f`'s months).
async fn check(server: &TestServer, data: &Data, f: Filter<'_>, query: &str, asked: Option<i64>) {
    let view = baskets(server, data, query).await;
    assert_eq!(
        (
            view.overview.scope.period.from,
            view.overview.scope.period.to
        ),
        (f.first, f.last),
        "{query}: whole months"
    );
    let all = count(data, f, None);
    assert_eq!(view.checks, all.checks, "{query}: checks");
    let p = month_rows(f);
    let min = asked.unwrap_or_else(|| default_min(all.checks)).max(p + 1);
    assert_eq!(view.min_checks, min, "{query}: the least");
    let pairs = rows(&all.product_pairs, &all.products, min, &all, None);
    assert!(pairs.len() >= 3, "{query}: the data set has frequent pairs");
    assert_eq!(view.pairs, pairs, "{query}: product pairs");
    let categories = rows(&all.category_pairs, &all.categories, min, &all, None);
    assert!(!categories.is_empty(), "{query}");
    assert_eq!(view.categories, categories, "{query}: category pairs");
    assert!(view.product.is_none() && view.promotion.is_none());
}

#[tokio::test]
async fn basket_figures_equal_a_direct_computation() {
    let server = TestServer::spawn().await;
    let data = data_set(&server).await;
    let d = |s: &str| s.parse::<NaiveDate>().unwrap();
    let moscow = [data.moscow];
    let far = [data.far];
    let quarter = Filter {
        first: d("2026-01-01"),
        last: d("2026-03-31"),
        stores: None,
    };
    check(
        &server,
        &data,
        quarter,
        "from=2026-01-01&to=2026-03-31",
        None,
    )
    .await;
    // A period inside months is widened to them.
    check(
        &server,
        &data,
        quarter,
        "from=2026-01-20&to=2026-03-03",
        None,
    )
    .await;
    let february = |stores| Filter {
        first: d("2026-02-01"),
        last: d("2026-02-28"),
        stores,
    };
    check(
        &server,
        &data,
        february(Some(&moscow)),
        &format!("from=2026-02-10&to=2026-02-20&store={}", data.moscow),
        None,
    )
    .await;
    check(
        &server,
        &data,
        february(Some(&far)),
        &format!("from=2026-02-01&to=2026-02-28&store={}", data.far),
        None,
    )
    .await;
    check(
        &server,
        &data,
        february(None),
        "from=2026-02-01&to=2026-02-28&min_checks=9",
        Some(9),
    )
    .await;
    // Below the rows read, the least is raised to them plus one.
    check(
        &server,
        &data,
        quarter,
        "from=2026-01-01&to=2026-03-31&min_checks=1",
        Some(1),
    )
    .await;

    // A product's pairs: any least, the product first.
    let all = count(&data, quarter, None);
    for (product, least) in [(0, None), (2, Some(1)), (139, Some(1)), (100, Some(1))] {
        let mut q = format!("from=2026-01-01&to=2026-03-31&product={}", sku(product));
        if let Some(n) = least {
            q.push_str(&format!("&min_checks={n}"));
        }
        let view = baskets(&server, &data, &q).await;
        let got = view.product.expect("the product's pairs");
        let least = least.unwrap_or(3);
        assert_eq!(got.sku, sku(product));
        assert_eq!(got.name, name(product));
        assert_eq!(got.checks, all.products[&sku(product)]);
        assert_eq!(got.min_checks, least);
        let want = rows(
            &all.product_pairs,
            &all.products,
            least,
            &all,
            Some(&sku(product)),
        );
        assert_eq!(got.pairs, want, "{q}");
        match product {
            // The big check's 30 dearest pair with each other…
            139 => assert_eq!(got.pairs.len(), 29),
            // …and its cheapest with none.
            100 => assert!(got.pairs.is_empty()),
            _ => assert!(got.pairs.len() >= 3, "{q}"),
        }
    }

    // The pairs a promotion moved: in its checks against the others.
    let view = baskets(
        &server,
        &data,
        &format!("from=2026-01-01&to=2026-03-31&promotion={PROMO}"),
    )
    .await;
    let got = view.promotion.expect("the promotion's pairs");
    let with = count(&data, quarter, Some(PROMO));
    assert_eq!(got.name, "Молоко к хлебу");
    assert_eq!(got.checks, with.checks);
    assert!(with.checks > 20, "the promotion applied");
    let min = default_min(with.checks).max(month_rows(quarter) + 1);
    assert_eq!(got.min_checks, min);
    let others = all.checks - with.checks;
    let mut want: Vec<PromotionPairRow> = with
        .product_pairs
        .iter()
        .filter(|(_, n)| **n >= min)
        .map(|((a, b), n)| {
            let without = all.product_pairs[&(a.clone(), b.clone())] - n;
            PromotionPairRow {
                a: a.clone(),
                a_name: all.names[a].clone(),
                b: b.clone(),
                b_name: all.names[b].clone(),
                with_checks: *n,
                with_ppm: half_up(i128::from(*n) * 1_000_000, i128::from(with.checks)),
                without_checks: without,
                without_ppm: half_up(i128::from(without) * 1_000_000, i128::from(others)),
                uplift_milli: (without > 0).then(|| {
                    half_up(
                        i128::from(*n) * i128::from(others) * 1_000,
                        i128::from(with.checks) * i128::from(without),
                    )
                }),
            }
        })
        .collect();
    want.sort_by(|x, y| {
        let r = |p: &PromotionPairRow| (p.without_checks == 0, p.with_checks, p.without_checks);
        let ((xz, xw, xo), (yz, yw, yo)) = (r(x), r(y));
        yz.cmp(&xz)
            .then((i128::from(yw) * i128::from(xo)).cmp(&(i128::from(xw) * i128::from(yo))))
            .then(yw.cmp(&xw))
            .then_with(|| (&x.a, &x.b).cmp(&(&y.a, &y.b)))
    });
    assert!(!want.is_empty());
    assert_eq!(got.pairs, want);
    // Every check with the promotion has product 0: its pairs moved most.
    assert_eq!(want[0].a, sku(0));
    assert!(
        want[0].uplift_milli.is_none_or(|u| u > 1_000),
        "{:?}",
        want[0]
    );

    // The exports: a BOM, Russian headers, the view's rows.
    let q = "from=2026-01-01&to=2026-03-31";
    let percent = |ppm: i64| {
        let h = half_up(i128::from(ppm), 100);
        format!("{},{:02}", h / 100, h % 100)
    };
    let milli = |m: i64| format!("{},{:03}", m / 1000, m % 1000);
    let line = |p: &PairRow| {
        vec![
            p.a.clone(),
            p.a_name.clone(),
            p.b.clone(),
            p.b_name.clone(),
            p.checks.to_string(),
            p.a_checks.to_string(),
            p.b_checks.to_string(),
            percent(p.support_ppm),
            percent(p.confidence_ab_ppm),
            percent(p.confidence_ba_ppm),
            milli(p.lift_milli),
        ]
    };
    let view = baskets(&server, &data, q).await;
    for (table, want) in [
        ("baskets", &view.pairs),
        ("basket-categories", &view.categories),
    ] {
        let got = csv(&server, &data, table, q).await;
        let want: Vec<Vec<String>> = want.iter().map(line).collect();
        assert_eq!(got, want, "{table}.csv");
    }
    let got = csv(
        &server,
        &data,
        "basket-product",
        &format!("{q}&product={}", sku(2)),
    )
    .await;
    assert_eq!(
        got.len(),
        baskets(&server, &data, &format!("{q}&product={}", sku(2)))
            .await
            .product
            .unwrap()
            .pairs
            .len()
    );
}

/// A CSV export's rows after the BOM and the Russian header.
async fn csv(server: &TestServer, data: &Data, table: &str, query: &str) -> Vec<Vec<String>> {
    let response = server
        .http
        .get(format!(
            "{}/api/v1/admin/merchants/{}/analytics/export/{table}?{query}",
            server.base, data.merchant.id
        ))
        .bearer_auth(ADMIN_TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK, "{table}");
    let bytes = response.bytes().await.unwrap();
    assert!(bytes.starts_with(b"\xEF\xBB\xBF"), "{table}: a UTF-8 BOM");
    let text = std::str::from_utf8(&bytes[3..]).unwrap();
    let mut lines = text.split("\r\n");
    let header = lines.next().unwrap();
    assert!(
        header.starts_with("Товар;Название;Вместе с"),
        "{table}: {header}"
    );
    lines
        .filter(|l| !l.is_empty())
        .map(|l| l.split(';').map(str::to_owned).collect())
        .collect()
}

#[tokio::test]
async fn a_bad_least_is_refused_with_a_reason() {
    let server = TestServer::spawn().await;
    let merchant = server.merchant("Ромашка").await;
    for q in ["min_checks=0", "min_checks=x", "segment=rfm:loyal"] {
        let (status, body) = server
            .admin(
                Method::GET,
                &format!(
                    "/api/v1/admin/merchants/{}/analytics/baskets?{q}",
                    merchant.id
                ),
                None,
            )
            .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{q}: {body}");
        assert_eq!(body["error"], "invalid_filter", "{q}");
    }
}

/// Records stored before the basket rollups (here: the basket rows
/// emptied and the migration's marker put back) are added to them alone
/// once at start-up: the baskets come back as ingest made them and the
/// other views do not double.
#[tokio::test]
async fn basket_rows_are_added_once_at_start_up() {
    let server = TestServer::spawn().await;
    let data = data_set(&server).await;
    let q = "from=2026-01-01&to=2026-03-31";
    let product = format!("{q}&product={}&promotion={PROMO}", sku(0));
    let before = baskets(&server, &data, &product).await;
    assert!(!before.pairs.is_empty());
    server.execute(
        "DELETE FROM rollup_basket_months; DELETE FROM rollup_basket_store_months;
         DELETE FROM rollup_basket_marks; INSERT INTO rollup_basket_backfill (pending) VALUES (1);",
    );
    let emptied = baskets(&server, &data, &product).await;
    assert_eq!(emptied.checks, 0);
    assert!(emptied.pairs.is_empty());
    let server = server.restart().await;
    assert_eq!(
        server.count_rows("SELECT COUNT(*) FROM rollup_basket_backfill"),
        0
    );
    let after = baskets(&server, &data, &product).await;
    assert_eq!(
        after, before,
        "the rows ingest made, the other figures once"
    );
    let server = server.restart().await;
    assert_eq!(baskets(&server, &data, &product).await, before);
}

/// Waits until the server's background pass has emptied the basket queue
/// (no view asked): the records' line rows are added off the ingest
/// transaction.
pub(crate) async fn queue_drained(server: &TestServer) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        let queued = server.count_rows("SELECT COUNT(*) FROM rollup_basket_queue");
        if queued == 0 {
            return;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "{queued} records still queued for their line rows after 30 s"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

/// Ingest queues each new record for its line rows (a return has no
/// basket rows); the
/// server's background pass adds them without any view asking, each once.
/// Sales left queued when a server stops (here: the rows emptied and every
/// sale queued again, as after a crash between ingest and the pass) are
/// added by the next start, once; and a view asked while sales are still
/// queued adds them before it reads.
#[tokio::test]
async fn queued_sales_are_added_to_the_baskets_once_off_the_ingest_path() {
    let server = TestServer::spawn().await;
    let data = data_set(&server).await;
    queue_drained(&server).await;
    let sales = server.count_rows("SELECT COUNT(*) FROM records WHERE kind = 'sale'");
    assert!(sales > 0);
    let q = "from=2026-01-01&to=2026-03-31";
    let product = format!("{q}&product={}&promotion={PROMO}", sku(0));
    let before = baskets(&server, &data, &product).await;
    assert!(!before.pairs.is_empty());
    // The figures of the direct computation, for the chain.
    let d = |s: &str| s.parse::<NaiveDate>().unwrap();
    let chain = Filter {
        first: d("2026-01-01"),
        last: d("2026-03-31"),
        stores: None,
    };
    check(&server, &data, chain, q, None).await;

    let requeue = "DELETE FROM rollup_basket_months; DELETE FROM rollup_basket_store_months;
         DELETE FROM rollup_basket_marks;
         INSERT INTO rollup_basket_queue (register_id, seq)
             SELECT register_id, seq FROM records WHERE kind = 'sale' ORDER BY id;";
    server.execute(requeue);
    assert_eq!(
        server.count_rows("SELECT COUNT(*) FROM rollup_basket_queue"),
        sales
    );
    let server = server.restart().await;
    queue_drained(&server).await;
    assert_eq!(
        server.count_rows("SELECT COUNT(*) FROM rollup_basket_months WHERE kind = 4 AND scope = 0"),
        3,
        "one checks row a month, chain-wide"
    );
    assert_eq!(
        baskets(&server, &data, &product).await,
        before,
        "added once"
    );
    let server = server.restart().await;
    assert_eq!(baskets(&server, &data, &product).await, before, "not again");

    // A view asked with sales still queued adds them first.
    server.execute(requeue);
    assert_eq!(baskets(&server, &data, &product).await, before);
    queue_drained(&server).await;
    assert_eq!(baskets(&server, &data, &product).await, before);
}
