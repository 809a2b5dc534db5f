//! The analytics views and their CSV exports equal a direct computation
//! over a generated data set: signed records of two stores in two time
//! zones (one under a brand), five customers, several products and
//! categories, promotions, returns, spread over three months, uploaded by
//! real tills over HTTP, and a panel of customers two promotions hold out
//! or not by the documented hash (the uplift). Every view is checked with
//! and without a store or brand filter, beside the previous period.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Datelike as _, Duration, NaiveDate, Timelike as _, Utc};
use chrono_tz::Tz;
use reqwest::{Method, StatusCode};
use serde_json::json;
use shared::identity::age_band;
use shared::ids::{CustomerId, PromotionId, Sku, StoreId};
use shared::money::{Money, Quantity};
use shared::pricing::{AppliedRule, RuleRef};
use shared::record::{PurchaseRecord, RecordKind, RecordLine, RecordRef};
use sync_server::wire::admin::Brand;
use sync_server::wire::analytics::{
    CustomersView, Figures, Period, ProductsView, PromotionsView, SalesView, StoresView,
    UpliftEstimate, UpliftGroup, UpliftRow, UpliftVerdict,
};

use crate::helpers::{ADMIN_TOKEN, Purchase, TestServer, Till, merchant_with_till, on_postgres};

/// A small deterministic generator (an LCG), so the data set is the same
/// on every run and every backend.
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

const PRODUCTS: [(&str, &str, Option<&str>, i64); 5] = [
    ("4601234567893", "Молоко", Some("dairy"), 8_990),
    ("4607001234565", "Кефир", Some("dairy"), 7_450),
    ("4600000000017", "Хлеб", Some("bakery"), 4_500),
    ("4600000000024", "Яблоки, кг", Some("fruit"), 12_990),
    ("4600000000031", "Пакет", None, 500),
];

/// Customers besides the five, for the holdouts.
const PANEL: usize = 150;

/// The share of customers "milk" holds out, basis points.
const MILK_HOLDOUT_BP: u64 = 3_000;

/// A promotion with a holdout as the test knows it: id, name, share,
/// first and last local day (Moscow, the first store's zone), genders and
/// the least age.
type HoldoutSpec = (
    &'static str,
    &'static str,
    u64,
    &'static str,
    Option<&'static str>,
    &'static [&'static str],
    Option<i32>,
);

const HOLDOUTS: [HoldoutSpec; 2] = [
    (
        "kefir-women",
        "Кефир для женщин",
        5_000,
        "2026-03-01",
        Some("2026-03-20"),
        &["female"],
        Some(30),
    ),
    (
        "milk",
        "Молоко и кефир −5 %",
        MILK_HOLDOUT_BP,
        "2026-03-01",
        None,
        &[],
        None,
    ),
];

/// The merchant's rules: "milk" from 1 March (Moscow) holding out 30 %,
/// "kefir-women" for women of 30 and more from 1 to 20 March holding out
/// half, and "bread" with no holdout.
fn holdout_ruleset() -> serde_json::Value {
    json!({
        "currency": "RUB",
        "programme": {},
        "promotions": [
            {"id": "milk", "name": "Молоко и кефир −5 %",
             "target": {"kind": "skus", "skus": ["4601234567893", "4607001234565"]},
             "reward": {"kind": "percent_off", "percent": 500},
             "starts_at": "2026-02-28T21:00:00Z", "funded_by": "Молочный завод",
             "holdout": MILK_HOLDOUT_BP},
            {"id": "bread", "name": "Хлеб",
             "target": {"kind": "skus", "skus": ["4600000000017"]},
             "reward": {"kind": "amount_off", "amount": 100}},
            {"id": "kefir-women", "name": "Кефир для женщин",
             "target": {"kind": "skus", "skus": ["4607001234565"]},
             "reward": {"kind": "percent_off", "percent": 1000},
             "starts_at": "2026-02-28T21:00:00Z", "ends_at": "2026-03-20T21:00:00Z",
             "conditions": {"segment": {"genders": ["female"], "min_age": 30}},
             "holdout": 5_000}
        ]
    })
}

/// Whether the customer is held out of the promotion, by the hash as
/// documented, computed here on its own: SHA-256 of the domain tag, the
/// id as 8 bytes big-endian and the promotion's id; the first 8 bytes
/// big-endian modulo 10 000 against the share.
fn held_out(customer: CustomerId, promotion: &str, share_bp: u64) -> bool {
    let mut input = b"loyalty/holdout/v1\0".to_vec();
    input.extend_from_slice(&customer.get().to_be_bytes());
    input.extend_from_slice(promotion.as_bytes());
    let digest = ring::digest::digest(&ring::digest::SHA256, &input);
    let first: [u8; 8] = digest.as_ref()[..8].try_into().unwrap();
    u64::from_be_bytes(first) % 10_000 < share_bp
}

/// A stored record with what the test needs to compute from it.
#[derive(Clone)]
struct Stored {
    record: PurchaseRecord,
    tz: Tz,
    /// The customer as the merchant knows them.
    customer: Option<(CustomerId, String, Option<NaiveDate>)>,
}

impl Stored {
    fn local_day(&self) -> NaiveDate {
        self.record.wall_time.with_timezone(&self.tz).date_naive()
    }
    fn hour(&self) -> u32 {
        self.record.wall_time.with_timezone(&self.tz).hour()
    }
    fn sale(&self) -> bool {
        self.record.kind == RecordKind::Sale
    }
    /// Sign of the record's effect: +1 for a sale, −1 for a return.
    fn signed(&self, minor: i64) -> i64 {
        if self.sale() { minor } else { -minor.abs() }
    }
    fn items(&self) -> i64 {
        self.record
            .lines
            .iter()
            .map(|l| self.signed(i64::try_from(l.quantity.milli()).unwrap()))
            .sum()
    }
}

pub struct Data {
    pub merchant: sync_server::wire::admin::Merchant,
    pub moscow: StoreId,
    pub far: StoreId,
    pub brand: Brand,
    records: Vec<Stored>,
}

fn money(minor: i64) -> Money {
    Money::from_minor(minor).unwrap()
}

/// A line to sell: product index, quantity in thousandths, discount, and
/// the promotion (with its funder) that gave it.
type SaleLine<'a> = (usize, u64, i64, Option<(&'a str, Option<&'a str>)>);

/// A sale of `lines` (product index, quantity in thousandths, discount,
/// promotion), made at `at` by `customer`.
fn sale(
    till: &mut Till,
    at: DateTime<Utc>,
    customer: Option<CustomerId>,
    lines: &[SaleLine<'_>],
    points: (i64, i64),
) -> (shared::record::SignedRecord, PurchaseRecord) {
    let mut purchase = Purchase::sale(0).made_at(at);
    if let Some(c) = customer {
        purchase = purchase.by(c);
    }
    till.record_edited(purchase, |r| {
        r.lines = lines
            .iter()
            .map(|&(p, qty, discount, promo)| {
                let (sku, name, category, price) = PRODUCTS[p];
                let quantity = Quantity::from_milli(qty).unwrap();
                let amount = quantity.extend(money(price)).unwrap();
                let applied: Vec<AppliedRule> = promo
                    .map(|(id, funded_by)| AppliedRule {
                        rule: RuleRef::Promotion(PromotionId::parse(id).unwrap()),
                        discount: money(discount),
                        funded_by: funded_by.map(str::to_owned),
                    })
                    .into_iter()
                    .collect();
                RecordLine {
                    sku: Sku::parse(sku).unwrap(),
                    name: name.into(),
                    category: category.map(|c| shared::ids::Category::parse(c).unwrap()),
                    quantity,
                    unit_price: money(price),
                    amount,
                    discount: money(discount),
                    total: money(amount.minor() - discount),
                    points: 0,
                    applied,
                }
            })
            .collect();
        r.subtotal = money(r.lines.iter().map(|l| l.amount.minor()).sum());
        r.discount = money(r.lines.iter().map(|l| l.discount.minor()).sum());
        r.total = money(r.lines.iter().map(|l| l.total.minor()).sum());
        let mut applied: BTreeMap<String, (i64, Option<String>)> = BTreeMap::new();
        for l in &r.lines {
            for a in &l.applied {
                let e = applied.entry(a.rule_id()).or_default();
                e.0 += a.discount.minor();
                e.1.clone_from(&a.funded_by);
            }
        }
        r.applied = applied
            .into_iter()
            .map(|(id, (d, funded_by))| AppliedRule {
                rule: RuleRef::Promotion(PromotionId::parse(id).unwrap()),
                discount: money(d),
                funded_by,
            })
            .collect();
        // Points earned sit on the lines; put them on the first.
        if let Some(first) = r.lines.first_mut() {
            first.points = points.0;
        }
        r.points_earned = points.0;
        r.points_redeemed = points.1;
    })
}

trait RuleId {
    fn rule_id(&self) -> String;
}

impl RuleId for AppliedRule {
    fn rule_id(&self) -> String {
        match &self.rule {
            RuleRef::Promotion(id) => id.to_string(),
            other => format!("{other:?}"),
        }
    }
}

/// A return of the first line of `original`, as the till signs it:
/// negative figures, on `at`.
fn refund(
    till: &mut Till,
    at: DateTime<Utc>,
    original: &PurchaseRecord,
) -> (shared::record::SignedRecord, PurchaseRecord) {
    let line = original.lines[0].clone();
    let mut purchase = Purchase::sale(0).made_at(at);
    if let Some(c) = original.customer {
        purchase = purchase.by(c.id);
    }
    till.record_edited(purchase, |r| {
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

/// The data set, uploaded.
pub async fn data_set(server: &TestServer) -> Data {
    let merchant = server.merchant("Ромашка").await;
    let brand: Brand = server
        .admin_ok(
            Method::POST,
            &format!("/api/v1/admin/merchants/{}/brands", merchant.id),
            Some(json!({"name": "Ромашка Экспресс"})),
        )
        .await;
    let moscow: sync_server::wire::admin::Store = server
        .admin_ok(
            Method::POST,
            &format!("/api/v1/admin/merchants/{}/stores", merchant.id),
            Some(json!({"brand_id": brand.id, "name": "Тверская", "timezone": "Europe/Moscow"})),
        )
        .await;
    let far = server
        .store(merchant.id, "Светланская", "Asia/Vladivostok")
        .await;
    let mut moscow_till = server.enroll(moscow.id, 1).await;
    let mut far_till = server.enroll(far.id, 2).await;
    let people = [
        json!({"name": "Анна", "phone": "+79160000001", "gender": "female", "birth_date": "1990-06-15"}),
        json!({"name": "Борис", "phone": "+79160000002", "gender": "male", "birth_date": "2005-01-01"}),
        json!({"name": "Вера", "email": "vera@example.com"}),
        json!({"name": "Галина", "phone": "+79160000004", "gender": "female", "birth_date": "1958-02-03"}),
        json!({"name": "Дмитрий", "phone": "+79160000005", "gender": "male", "birth_date": "1980-11-30"}),
    ];
    let mut customers = Vec::new();
    for p in people {
        let c = server.customer(merchant.id, p).await;
        customers.push((c.id, c.gender.code().to_owned(), c.birth_date));
    }

    let mut rng = Lcg(13);
    let start: DateTime<Utc> = "2026-01-05T05:00:00Z".parse().unwrap();
    let mut stored = Vec::new();
    let mut moscow_batch = Vec::new();
    let mut far_batch = Vec::new();
    let promotions = [("milk", Some("Молочный завод")), ("bread", None)];
    for i in 0..160 {
        let at = start
            + Duration::days(i64::try_from(rng.next(86)).unwrap())
            + Duration::minutes(i64::try_from(rng.next(15 * 60)).unwrap());
        let in_moscow = rng.next(3) != 0;
        // Customer 4 (Дмитрий) first buys in March: a new customer there.
        let who = rng.next(7);
        let customer = match who {
            0..=3 => Some(customers[usize::try_from(who).unwrap()].clone()),
            4 if at >= "2026-03-05T00:00:00Z".parse::<DateTime<Utc>>().unwrap() => {
                Some(customers[4].clone())
            }
            _ => None,
        };
        let n = 1 + rng.next(3);
        let mut lines = Vec::new();
        for _ in 0..n {
            let p = usize::try_from(rng.next(5)).unwrap();
            let qty = if p == 3 {
                500 + rng.next(1500)
            } else {
                1000 * (1 + rng.next(3))
            };
            let promo = match (p, rng.next(3)) {
                (0 | 1, 0) => Some(promotions[0]),
                (2, 0) => Some(promotions[1]),
                _ => None,
            };
            let discount = if promo.is_some() {
                100 * i64::try_from(1 + rng.next(5)).unwrap()
            } else {
                0
            };
            lines.push((p, qty, discount, promo));
        }
        let points = if customer.is_some() {
            (
                i64::try_from(rng.next(50)).unwrap(),
                i64::try_from(rng.next(2) * 10).unwrap(),
            )
        } else {
            (0, 0)
        };
        let (till, batch, tz) = if in_moscow {
            (&mut moscow_till, &mut moscow_batch, Tz::Europe__Moscow)
        } else {
            (&mut far_till, &mut far_batch, Tz::Asia__Vladivostok)
        };
        let (signed, record) = sale(till, at, customer.as_ref().map(|c| c.0), &lines, points);
        batch.push(signed);
        stored.push(Stored {
            record: record.clone(),
            tz,
            customer: customer.clone(),
        });
        // Every ninth sale comes back some days later, at the same till.
        if i % 9 == 4 {
            let back = at + Duration::days(i64::try_from(1 + rng.next(10)).unwrap());
            let (signed, r) = refund(till, back, &record);
            batch.push(signed);
            stored.push(Stored {
                record: r,
                tz,
                customer,
            });
        }
    }
    // The panel: customers with a visit in February (most of them), whom
    // the promotion "milk" holds out or not from March; those it applies
    // to come more often and buy more.
    server
        .publish(merchant.id, holdout_ruleset())
        .await
        .0
        .is_success()
        .then_some(())
        .expect("the ruleset with holdouts is published");
    let mut rng = Lcg(31);
    for i in 0..PANEL {
        let gender = match i % 5 {
            0 | 2 => Some("female"),
            1 | 3 => Some("male"),
            _ => None,
        };
        let birth = format!(
            "{}-{:02}-{:02}",
            1950 + (i * 7) % 56,
            1 + i % 12,
            1 + i % 28
        );
        let mut body = json!({"name": format!("Покупатель {i}"),
            "phone": format!("+7917{i:07}"), "birth_date": birth});
        if let Some(g) = gender {
            body["gender"] = json!(g);
        }
        let c = server.customer(merchant.id, body).await;
        let who = (c.id, c.gender.code().to_owned(), c.birth_date);
        let exposed = !held_out(c.id, "milk", MILK_HOLDOUT_BP);
        let mut visits: Vec<(DateTime<Utc>, bool)> = Vec::new();
        if i % 10 != 9 {
            let feb = "2026-02-01T05:00:00Z".parse::<DateTime<Utc>>().unwrap();
            visits.push((
                feb + Duration::days(i64::try_from(rng.next(27)).unwrap()),
                false,
            ));
        }
        let march = if exposed {
            1 + rng.next(3)
        } else {
            rng.next(2)
        };
        for _ in 0..march {
            let mar = "2026-03-01T05:00:00Z".parse::<DateTime<Utc>>().unwrap();
            visits.push((
                mar + Duration::days(i64::try_from(rng.next(28)).unwrap()),
                exposed,
            ));
        }
        for (day, with_milk) in visits {
            let at = day + Duration::minutes(i64::try_from(rng.next(12 * 60)).unwrap());
            let mut lines: Vec<SaleLine<'_>> = vec![(2, 1000, 0, None)];
            if with_milk {
                lines.push((0, 1000 * (1 + rng.next(3)), 450, Some(promotions[0])));
                lines.push((3, 500 + rng.next(1500), 0, None));
            } else if rng.next(2) == 0 {
                lines.push((1, 1000, 0, None));
            }
            let (till, batch, tz) = if rng.next(4) != 0 {
                (&mut moscow_till, &mut moscow_batch, Tz::Europe__Moscow)
            } else {
                (&mut far_till, &mut far_batch, Tz::Asia__Vladivostok)
            };
            let (signed, record) = sale(till, at, Some(who.0), &lines, (0, 0));
            batch.push(signed);
            stored.push(Stored {
                record,
                tz,
                customer: Some(who.clone()),
            });
        }
    }
    for (till, batch) in [(&moscow_till, moscow_batch), (&far_till, far_batch)] {
        for chunk in batch.chunks(50) {
            let (status, body) = till.upload(chunk).await;
            assert_eq!(status, StatusCode::OK, "{body}");
        }
    }
    Data {
        merchant,
        moscow: moscow.id,
        far: far.id,
        brand,
        records: stored,
    }
}

/// A filter as the test applies it.
#[derive(Clone, Copy)]
struct Filter {
    from: NaiveDate,
    to: NaiveDate,
    stores: Option<&'static [i64]>,
}

impl Data {
    /// The figures of `store`'s records (all stores when `None`) in the
    /// local days `from`..=`to`.
    pub fn figures(&self, from: &str, to: &str, store: Option<StoreId>) -> Figures {
        let (from, to): (NaiveDate, NaiveDate) = (from.parse().unwrap(), to.parse().unwrap());
        let records: Vec<&Stored> = self
            .records
            .iter()
            .filter(|s| {
                let day = s.local_day();
                day >= from && day <= to && store.is_none_or(|id| s.record.store_id == id)
            })
            .collect();
        expected(&records)
    }
}

impl Filter {
    fn has(&self, s: &Stored, from: NaiveDate, to: NaiveDate) -> bool {
        let day = s.local_day();
        day >= from
            && day <= to
            && self
                .stores
                .is_none_or(|ids| ids.contains(&s.record.store_id.get()))
    }
    fn current<'a>(&self, data: &'a Data) -> Vec<&'a Stored> {
        data.records
            .iter()
            .filter(|s| self.has(s, self.from, self.to))
            .collect()
    }
    fn previous<'a>(&self, data: &'a Data) -> Vec<&'a Stored> {
        let days = (self.to - self.from).num_days() + 1;
        let to = self.from - Duration::days(1);
        let from = self.from - Duration::days(days);
        data.records
            .iter()
            .filter(|s| self.has(s, from, to))
            .collect()
    }
}

/// `n / d` rounded half away from zero; 0 when `d` is not positive.
fn half_up(n: i64, d: i64) -> i64 {
    if d <= 0 {
        0
    } else if n < 0 {
        -((2 * -n + d) / (2 * d))
    } else {
        (2 * n + d) / (2 * d)
    }
}

/// The figures of some records, computed directly.
fn expected(records: &[&Stored]) -> Figures {
    let mut f = Figures::default();
    for s in records {
        let r = &s.record;
        if s.sale() {
            f.checks += 1;
            f.sales += r.total.minor();
        } else {
            f.returns += 1;
            f.refunds += r.total.minor().abs();
        }
        f.discount += s.signed(r.discount.minor());
        f.items_milli += s.items();
        f.points_earned += r.points_earned;
        f.points_spent += r.points_redeemed;
    }
    f.revenue = f.sales - f.refunds;
    f.average_check = half_up(f.sales, f.checks);
    f.items_per_check_milli = half_up(f.items_milli, f.checks);
    f
}

fn revenue(records: &[&Stored]) -> i64 {
    expected(records).revenue
}

async fn view<T: serde::de::DeserializeOwned>(
    server: &TestServer,
    data: &Data,
    view: &str,
    query: &str,
) -> T {
    server
        .admin_ok(
            Method::GET,
            &format!(
                "/api/v1/admin/merchants/{}/analytics/{view}?{query}",
                data.merchant.id
            ),
            None,
        )
        .await
}

/// A CSV export: its rows after the header, split into fields, once the
/// BOM and the header are checked.
async fn csv(
    server: &TestServer,
    data: &Data,
    table: &str,
    query: &str,
    header_starts: &str,
) -> Vec<Vec<String>> {
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
    assert_eq!(
        response.headers()["content-type"],
        "text/csv; charset=utf-8"
    );
    let bytes = response.bytes().await.unwrap();
    assert!(bytes.starts_with(b"\xEF\xBB\xBF"), "{table}: a UTF-8 BOM");
    let text = std::str::from_utf8(&bytes[3..]).unwrap();
    let mut lines = text.split("\r\n");
    let header = lines.next().unwrap();
    assert!(header.starts_with(header_starts), "{table}: {header}");
    lines
        .filter(|l| !l.is_empty())
        .map(|l| l.split(';').map(str::to_owned).collect())
        .collect()
}

/// Kopecks as the CSV writes them, spelled out independently.
fn rub(kopecks: i64) -> String {
    let sign = if kopecks < 0 { "-" } else { "" };
    format!("{sign}{}.{:02}", kopecks.abs() / 100, kopecks.abs() % 100).replace('.', ",")
}

fn query(f: &Filter, extra: &str) -> String {
    let mut q = format!("from={}&to={}", f.from, f.to);
    if let Some(ids) = f.stores
        && ids.len() == 1
    {
        q.push_str(&format!("&store={}", ids[0]));
    }
    if !extra.is_empty() {
        q.push('&');
        q.push_str(extra);
    }
    q
}

#[tokio::test]
async fn every_view_and_export_equals_a_direct_computation() {
    let server = TestServer::spawn().await;
    let data = data_set(&server).await;
    let moscow: &'static [i64] = Box::leak(vec![data.moscow.get()].into_boxed_slice());
    let far: &'static [i64] = Box::leak(vec![data.far.get()].into_boxed_slice());
    let mut verdicts = Vec::new();
    let march = |stores| Filter {
        from: "2026-03-01".parse().unwrap(),
        to: "2026-03-31".parse().unwrap(),
        stores,
    };
    for (filter, extra) in [
        (march(None), String::new()),
        (march(Some(moscow)), String::new()),
        (march(Some(far)), String::new()),
        // The brand has the Moscow store only.
        (march(Some(moscow)), format!("brand={}", data.brand.id)),
        // Edge days of January and March around the whole February.
        (
            Filter {
                from: "2026-01-20".parse().unwrap(),
                to: "2026-03-10".parse().unwrap(),
                stores: None,
            },
            String::new(),
        ),
        (
            Filter {
                from: "2026-01-20".parse().unwrap(),
                to: "2026-03-10".parse().unwrap(),
                stores: Some(far),
            },
            String::new(),
        ),
        // Days only, within two months.
        (
            Filter {
                from: "2026-02-10".parse().unwrap(),
                to: "2026-03-20".parse().unwrap(),
                stores: Some(moscow),
            },
            String::new(),
        ),
    ] {
        check_sales(&server, &data, &filter, &extra).await;
        check_stores(&server, &data, &filter, &extra).await;
        check_products(&server, &data, &filter, &extra).await;
        check_customers(&server, &data, &filter, &extra).await;
        check_promotions(&server, &data, &filter, &extra).await;
        verdicts.extend(check_uplift(&server, &data, &filter, &extra).await);
    }
    // The data set reaches a clear uplift and a sample too small to tell.
    assert!(verdicts.contains(&UpliftVerdict::Higher), "{verdicts:?}");
    assert!(verdicts.contains(&UpliftVerdict::TooFew), "{verdicts:?}");
}

async fn check_sales(server: &TestServer, data: &Data, f: &Filter, extra: &str) {
    let current = f.current(data);
    let previous = f.previous(data);
    assert!(current.len() > 5, "the period has records");
    if f.stores.is_none() {
        assert!(current.iter().any(|s| !s.sale()), "the period has returns");
    }
    // Day by day, with the previous period's day at the same offset.
    let v: SalesView = view(
        server,
        data,
        "sales",
        &query(f, &format!("grain=day&{extra}")),
    )
    .await;
    assert_eq!(v.overview.totals, expected(&current), "totals");
    assert_eq!(v.overview.previous, expected(&previous), "previous totals");
    let days = usize::try_from((f.to - f.from).num_days() + 1).unwrap();
    assert_eq!(v.rows.len(), days);
    let prev_from = f.from - Duration::days(i64::try_from(days).unwrap());
    let mut csv_rows = csv(
        server,
        data,
        "revenue",
        &query(f, &format!("grain=day&{extra}")),
        "Период;Чеков",
    )
    .await;
    assert_eq!(csv_rows.len(), days);
    for (i, row) in v.rows.iter().enumerate() {
        let day = f.from + Duration::days(i64::try_from(i).unwrap());
        let prev_day = prev_from + Duration::days(i64::try_from(i).unwrap());
        let on: Vec<&Stored> = current
            .iter()
            .copied()
            .filter(|s| s.local_day() == day)
            .collect();
        let before: Vec<&Stored> = previous
            .iter()
            .copied()
            .filter(|s| s.local_day() == prev_day)
            .collect();
        assert_eq!(row.label, day.to_string());
        assert_eq!(row.figures, expected(&on), "{day}");
        assert_eq!(row.previous_revenue, revenue(&before), "{day} before");
        let line = csv_rows.remove(0);
        assert_eq!(line[0], day.to_string());
        assert_eq!(line[1], expected(&on).checks.to_string());
        assert_eq!(line[3], rub(expected(&on).revenue));
        assert_eq!(line[7], rub(revenue(&before)));
    }
    // By hour of the day.
    let v: SalesView = view(
        server,
        data,
        "sales",
        &query(f, &format!("grain=hour&{extra}")),
    )
    .await;
    assert_eq!(v.rows.len(), 24);
    for (h, row) in v.rows.iter().enumerate() {
        let at: Vec<&Stored> = current
            .iter()
            .copied()
            .filter(|s| s.hour() as usize == h)
            .collect();
        assert_eq!(row.figures, expected(&at), "hour {h}");
    }
    // By week from the period's first day, and by month.
    let v: SalesView = view(
        server,
        data,
        "sales",
        &query(f, &format!("grain=week&{extra}")),
    )
    .await;
    assert_eq!(v.rows.len(), days.div_ceil(7));
    for (w, row) in v.rows.iter().enumerate() {
        let week: Vec<&Stored> = current
            .iter()
            .copied()
            .filter(|s| ((s.local_day() - f.from).num_days() / 7) as usize == w)
            .collect();
        assert_eq!(row.figures.revenue, revenue(&week), "week {w}");
    }
    let v: SalesView = view(
        server,
        data,
        "sales",
        &query(f, &format!("grain=month&{extra}")),
    )
    .await;
    if f.from.month() == f.to.month() {
        assert_eq!(v.rows.len(), 1);
        assert_eq!(v.rows[0].label, f.from.format("%Y-%m").to_string());
        assert_eq!(v.rows[0].figures, expected(&current));
        assert_eq!(v.rows[0].previous_revenue, revenue(&previous));
    } else {
        let label = |s: &&Stored| s.local_day().format("%Y-%m").to_string();
        let months: BTreeSet<String> = current.iter().map(label).collect();
        assert_eq!(
            v.rows
                .iter()
                .map(|r| r.label.clone())
                .collect::<BTreeSet<_>>(),
            months
        );
        for row in &v.rows {
            let within: Vec<&Stored> = current
                .iter()
                .copied()
                .filter(|s| label(s) == row.label)
                .collect();
            assert_eq!(row.figures, expected(&within), "month {}", row.label);
        }
    }
}

async fn check_stores(server: &TestServer, data: &Data, f: &Filter, extra: &str) {
    let current = f.current(data);
    let previous = f.previous(data);
    let v: StoresView = view(server, data, "stores", &query(f, extra)).await;
    let mut want: Vec<(i64, Figures, i64)> = [data.moscow, data.far]
        .into_iter()
        .map(|id| {
            let here: Vec<&Stored> = current
                .iter()
                .copied()
                .filter(|s| s.record.store_id == id)
                .collect();
            let before: Vec<&Stored> = previous
                .iter()
                .copied()
                .filter(|s| s.record.store_id == id)
                .collect();
            (id.get(), expected(&here), revenue(&before))
        })
        .filter(|(_, f, _)| f.checks + f.returns > 0)
        .collect();
    want.sort_by_key(|w| std::cmp::Reverse(w.1.revenue));
    let got: Vec<(i64, Figures, i64)> = v
        .stores
        .iter()
        .map(|s| (s.id, s.figures, s.previous_revenue))
        .collect();
    assert_eq!(got, want, "by store");
    // The brand is Moscow's; the Far East store has none (id 0).
    let brands: BTreeMap<i64, i64> = v.brands.iter().map(|b| (b.id, b.figures.revenue)).collect();
    let mut want_brands = BTreeMap::new();
    for (id, figures, _) in &want {
        let brand = if *id == data.moscow.get() {
            data.brand.id.get()
        } else {
            0
        };
        *want_brands.entry(brand).or_insert(0) += figures.revenue;
    }
    assert_eq!(brands, want_brands, "by brand");
    let rows = csv(server, data, "stores", &query(f, extra), "Название;Чеков").await;
    assert_eq!(rows.len(), want.len());
    for (row, (_, figures, prev)) in rows.iter().zip(&want) {
        assert_eq!(row[1], figures.checks.to_string());
        assert_eq!(row[3], rub(figures.revenue));
        assert_eq!(row[4], rub(figures.average_check));
        assert_eq!(row[7], rub(*prev));
    }
    let rows = csv(server, data, "brands", &query(f, extra), "Название;").await;
    assert_eq!(rows.len(), want_brands.len());
}

async fn check_products(server: &TestServer, data: &Data, f: &Filter, extra: &str) {
    let current = f.current(data);
    // (checks, items, revenue, discount) per SKU and per category.
    let mut by_sku: BTreeMap<String, (i64, i64, i64, i64)> = BTreeMap::new();
    let mut by_category: BTreeMap<String, (i64, i64, i64, i64)> = BTreeMap::new();
    for s in &current {
        let mut seen = BTreeSet::new();
        for l in &s.record.lines {
            let category = l
                .category
                .as_ref()
                .map_or("—".to_owned(), |c| c.as_str().to_owned());
            for (key, map, distinct) in [
                (l.sku.as_str().to_owned(), &mut by_sku, true),
                (category, &mut by_category, false),
            ] {
                let e = map.entry(key.clone()).or_default();
                // A check counts once per product (and per category row
                // of each product it has).
                if s.sale() && (!distinct || seen.insert(key)) {
                    e.0 += 1;
                }
                e.1 += s.signed(i64::try_from(l.quantity.milli()).unwrap());
                e.2 += s.signed(l.total.minor());
                e.3 += s.signed(l.discount.minor());
            }
        }
    }
    let v: ProductsView = view(server, data, "products", &query(f, extra)).await;
    let got: BTreeMap<String, (i64, i64, i64, i64)> = v
        .products
        .iter()
        .map(|p| {
            (
                p.key.clone(),
                (p.checks, p.items_milli, p.revenue, p.discount),
            )
        })
        .collect();
    assert_eq!(got, by_sku, "by product");
    assert!(
        v.products.windows(2).all(|w| w[0].revenue >= w[1].revenue),
        "highest revenue first"
    );
    let product_names: BTreeMap<&str, &str> = PRODUCTS.iter().map(|p| (p.0, p.1)).collect();
    for p in &v.products {
        assert_eq!(p.name, product_names[p.key.as_str()]);
    }
    let got: BTreeMap<String, i64> = v
        .categories
        .iter()
        .map(|c| (c.key.clone(), c.revenue))
        .collect();
    let want: BTreeMap<String, i64> = by_category.iter().map(|(k, v)| (k.clone(), v.2)).collect();
    assert_eq!(got, want, "by category");
    let rows = csv(
        server,
        data,
        "products",
        &query(f, extra),
        "Артикул;Название",
    )
    .await;
    let got: BTreeMap<String, (String, String)> = rows
        .iter()
        .map(|r| (r[0].clone(), (r[3].clone(), r[4].clone())))
        .collect();
    let want: BTreeMap<String, (String, String)> = by_sku
        .iter()
        .map(|(k, v)| {
            let items = format!("{},{:03}", v.1 / 1000, v.1.rem_euclid(1000));
            (k.clone(), (items, rub(v.2)))
        })
        .collect();
    assert_eq!(got, want, "products CSV");
    let rows = csv(server, data, "categories", &query(f, extra), "Категория;").await;
    assert_eq!(rows.len(), by_category.len());
}

/// A customer's gender, birth date, days with a record, checks, revenue.
type Activity = (String, Option<NaiveDate>, BTreeSet<NaiveDate>, i64, i64);

/// A promotion's uses, customers, cost, basket totals, basket items and funder.
type PromotionTally = (i64, BTreeSet<CustomerId>, i64, i64, i64, Option<String>);

/// Per customer in `records`: visits (distinct local days), checks,
/// revenue, last day.
fn activity_of(records: &[&Stored]) -> BTreeMap<CustomerId, Activity> {
    let mut who: BTreeMap<CustomerId, Activity> = BTreeMap::new();
    for s in records {
        if let Some((id, gender, birth)) = &s.customer {
            let e = who
                .entry(*id)
                .or_insert_with(|| (gender.clone(), *birth, BTreeSet::new(), 0, 0));
            e.2.insert(s.local_day());
            e.3 += i64::from(s.sale());
            e.4 += s.signed(s.record.total.minor());
        }
    }
    who
}

/// Each active customer's RFM segment at `end`: recency from the last day
/// to the period's end, frequency by visits, money against the top third's
/// lower bound.
fn rfm_of(
    who: &BTreeMap<CustomerId, Activity>,
    first: &BTreeMap<CustomerId, NaiveDate>,
    end: NaiveDate,
) -> BTreeMap<CustomerId, &'static str> {
    let mut spends: Vec<i64> = who.values().map(|w| w.4).collect();
    spends.sort_unstable();
    let Some(&high) = spends.get(spends.len() - spends.len().div_ceil(3)) else {
        return BTreeMap::new();
    };
    who.iter()
        .map(|(id, (_, _, days, _, spend))| {
            let since = (end - *days.last().unwrap()).num_days();
            let r = if since <= 30 {
                3
            } else if since <= 90 {
                2
            } else {
                1
            };
            let fr = match days.len() {
                1 => 1,
                2..=4 => 2,
                _ => 3,
            };
            let m = *spend >= high && *spend > 0;
            let segment = match (r, fr, m) {
                (3, 3, _) | (3, 2, true) => "champions",
                (3 | 2, 2 | 3, _) => "loyal",
                (3, 1, _) if first[id] >= end - Duration::days(30) => "new",
                (1 | 2, _, true) => "lapsed_high_spenders",
                (1, _, _) => "lapsing",
                _ => "other",
            };
            (*id, segment)
        })
        .collect()
}

async fn check_customers(server: &TestServer, data: &Data, f: &Filter, extra: &str) {
    let current = f.current(data);
    let who = activity_of(&current);
    // First purchase day at the merchant, ever, in any store.
    let mut first: BTreeMap<CustomerId, NaiveDate> = BTreeMap::new();
    for s in &data.records {
        if let Some((id, _, _)) = &s.customer {
            let day = s.local_day();
            first
                .entry(*id)
                .and_modify(|d| *d = (*d).min(day))
                .or_insert(day);
        }
    }
    let v: CustomersView = view(server, data, "customers", &query(f, extra)).await;
    let groups = |key: &dyn Fn(&CustomerId) -> String| {
        let mut out: BTreeMap<String, (i64, i64, i64, i64)> = BTreeMap::new();
        for (id, (_, _, days, checks, revenue)) in &who {
            let e = out.entry(key(id)).or_default();
            e.0 += 1;
            e.1 += i64::try_from(days.len()).unwrap();
            e.2 += checks;
            e.3 += revenue;
        }
        out
    };
    let got = |gs: &[sync_server::wire::analytics::CustomerGroup]| -> BTreeMap<String, (i64, i64, i64, i64)> {
        gs.iter()
            .map(|g| (g.code.clone(), (g.customers, g.visits, g.checks, g.revenue)))
            .collect()
    };
    assert_eq!(
        got(&v.genders),
        groups(&|id| match who[id].0.as_str() {
            g @ ("female" | "male") => g.to_owned(),
            _ => "unspecified".to_owned(),
        }),
        "by gender"
    );
    assert_eq!(
        got(&v.ages),
        groups(&|id| age_band(who[id].1, f.to).to_owned()),
        "by age on the period's last day"
    );
    assert_eq!(
        got(&v.new_returning),
        groups(&|id| if first[id] >= f.from {
            "new".into()
        } else {
            "returning".into()
        }),
        "new and returning"
    );
    assert_eq!(
        got(&v.frequency),
        groups(&|id| match who[id].2.len() {
            1 => "1".into(),
            2 => "2".into(),
            3..=4 => "3-4".into(),
            5..=9 => "5-9".into(),
            _ => "10+".into(),
        }),
        "purchase frequency"
    );
    let segments = rfm_of(&who, &first, f.to);
    assert_eq!(
        got(&v.rfm),
        groups(&|id| segments[id].to_owned()),
        "RFM segments"
    );
    // Moves from the previous period's segments (`inactive`: no purchase).
    let before_end = f.from - Duration::days(1);
    let before = rfm_of(&activity_of(&f.previous(data)), &first, before_end);
    let mut moves: BTreeMap<(String, String), i64> = BTreeMap::new();
    for id in before
        .keys()
        .chain(segments.keys())
        .collect::<BTreeSet<_>>()
    {
        let state = |m: &BTreeMap<CustomerId, &'static str>| -> &'static str {
            m.get(id).copied().unwrap_or("inactive")
        };
        *moves
            .entry((state(&before).to_owned(), state(&segments).to_owned()))
            .or_default() += 1;
    }
    let got_moves: BTreeMap<(String, String), i64> = v
        .rfm_transitions
        .iter()
        .map(|t| ((t.from.clone(), t.to.clone()), t.customers))
        .collect();
    assert_eq!(got_moves, moves, "RFM transitions");
    assert!(
        moves
            .keys()
            .any(|(from, to)| from != "inactive" && to != "inactive"),
        "the data set has customers in both periods: {moves:?}"
    );
    // Cohorts: customers whose first month is in the period, per month
    // active (here one month).
    let mut cohorts: BTreeMap<(String, String), BTreeSet<CustomerId>> = BTreeMap::new();
    for s in &current {
        if let Some((id, _, _)) = &s.customer {
            let cohort = format!("{:04}-{:02}", first[id].year(), first[id].month());
            if cohort >= f.from.format("%Y-%m").to_string() {
                cohorts
                    .entry((
                        cohort,
                        format!("{:04}-{:02}", s.local_day().year(), s.local_day().month()),
                    ))
                    .or_default()
                    .insert(*id);
            }
        }
    }
    let got_cohorts: BTreeMap<(String, String), i64> = v
        .cohorts
        .iter()
        .flat_map(|c| {
            c.months
                .iter()
                .map(|(m, n)| ((c.cohort.clone(), m.clone()), *n))
        })
        .collect();
    let want_cohorts: BTreeMap<(String, String), i64> = cohorts
        .into_iter()
        .map(|(k, v)| (k, i64::try_from(v.len()).unwrap()))
        .collect();
    assert_eq!(got_cohorts, want_cohorts, "cohorts");

    // The exports: labels in Russian, the same numbers.
    let rows = csv(
        server,
        data,
        "genders",
        &query(f, extra),
        "Группа;Покупателей",
    )
    .await;
    let csv_revenue: i64 = rows.iter().map(|r| parse_rub(&r[4])).sum();
    assert_eq!(csv_revenue, who.values().map(|w| w.4).sum::<i64>());
    assert!(
        rows.iter()
            .all(|r| ["Женщины", "Мужчины", "Не указан"].contains(&r[0].as_str()))
    );
    let rows = csv(
        server,
        data,
        "rfm-transitions",
        &query(f, extra),
        "Сегмент в прошлом периоде;",
    )
    .await;
    assert_eq!(
        rows.iter()
            .map(|r| r[2].parse::<i64>().unwrap())
            .sum::<i64>(),
        moves.values().sum::<i64>()
    );
    for table in ["ages", "new-returning", "frequency", "rfm"] {
        let rows = csv(server, data, table, &query(f, extra), "Группа;").await;
        let customers: i64 = rows.iter().map(|r| r[1].parse::<i64>().unwrap()).sum();
        assert_eq!(customers, i64::try_from(who.len()).unwrap(), "{table}");
    }
    let rows = csv(
        server,
        data,
        "cohorts",
        &query(f, extra),
        "Месяц первой покупки;",
    )
    .await;
    assert_eq!(rows.len(), want_cohorts.len());
}

fn parse_rub(text: &str) -> i64 {
    let (r, k) = text.split_once(',').unwrap();
    let sign = if r.starts_with('-') { -1 } else { 1 };
    sign * (r.trim_start_matches('-').parse::<i64>().unwrap() * 100 + k.parse::<i64>().unwrap())
}

async fn check_promotions(server: &TestServer, data: &Data, f: &Filter, extra: &str) {
    let current = f.current(data);
    let all = expected(&current);
    // uses, customers, cost, basket totals, basket items, funded by.
    let mut want: BTreeMap<String, PromotionTally> = BTreeMap::new();
    for s in current.iter().filter(|s| s.sale()) {
        for a in &s.record.applied {
            let e = want.entry(a.rule_id()).or_default();
            e.0 += 1;
            e.1.extend(s.customer.as_ref().map(|c| c.0));
            e.2 += a.discount.minor();
            e.3 += s.record.total.minor();
            e.4 += s.items();
            e.5.clone_from(&a.funded_by);
        }
    }
    let v: PromotionsView = view(server, data, "promotions", &query(f, extra)).await;
    assert_eq!(v.promotions.len(), want.len());
    for p in &v.promotions {
        let w = &want[&p.promotion_id];
        assert_eq!(p.uses, w.0, "{}", p.promotion_id);
        assert_eq!(p.customers, i64::try_from(w.1.len()).unwrap());
        assert_eq!(p.cost, w.2);
        assert_eq!(p.funded_by, w.5);
        assert_eq!(p.basket_with, half_up(w.3, w.0));
        assert_eq!(p.basket_without, half_up(all.sales - w.3, all.checks - w.0));
        assert_eq!(p.items_with_milli, half_up(w.4, w.0));
        assert_eq!(
            p.items_without_milli,
            half_up(all.items_milli - w.4, all.checks - w.0)
        );
    }
    assert!(
        v.promotions.windows(2).all(|w| w[0].cost >= w[1].cost),
        "costliest first"
    );
    // The breakdown of "milk": when and where.
    let v: PromotionsView = view(
        server,
        data,
        "promotions",
        &query(f, &format!("promotion=milk&{extra}")),
    )
    .await;
    assert_eq!(v.selected.as_deref(), Some("milk"));
    let milk: Vec<&Stored> = current
        .iter()
        .copied()
        .filter(|s| s.sale() && s.record.applied.iter().any(|a| a.rule_id() == "milk"))
        .collect();
    let mut hours: BTreeMap<String, i64> = BTreeMap::new();
    let mut weekdays: BTreeMap<String, i64> = BTreeMap::new();
    let mut stores: BTreeMap<StoreId, i64> = BTreeMap::new();
    for s in &milk {
        *hours.entry(format!("{:02}", s.hour())).or_default() += 1;
        *weekdays
            .entry((s.local_day().weekday().number_from_monday()).to_string())
            .or_default() += 1;
        *stores.entry(s.record.store_id).or_default() += 1;
    }
    let got: BTreeMap<String, i64> = v
        .by_hour
        .iter()
        .map(|s| (s.label.clone(), s.uses))
        .collect();
    assert_eq!(got, hours, "by hour");
    let got: BTreeMap<String, i64> = v
        .by_weekday
        .iter()
        .map(|s| (s.label.clone(), s.uses))
        .collect();
    assert_eq!(got, weekdays, "by weekday");
    assert_eq!(
        v.by_store.iter().map(|s| s.uses).sum::<i64>(),
        stores.values().sum::<i64>()
    );
    let rows = csv(
        server,
        data,
        "promotions",
        &query(f, extra),
        "Акция;Название",
    )
    .await;
    for row in rows {
        let w = &want[&row[0]];
        assert_eq!(row[2], w.0.to_string());
        assert_eq!(row[4], rub(w.2));
    }
    for table in ["promotion-hours", "promotion-weekdays", "promotion-stores"] {
        let rows = csv(
            server,
            data,
            table,
            &query(f, &format!("promotion=milk&{extra}")),
            "Когда или где;",
        )
        .await;
        let uses: i64 = rows.iter().map(|r| r[1].parse::<i64>().unwrap()).sum();
        assert_eq!(uses, i64::try_from(milk.len()).unwrap(), "{table}");
    }
}

/// `n / d` rounded half away from zero, wide.
fn half_up_wide(n: i128, d: i128) -> i64 {
    let q = if n < 0 {
        -((2 * -n + d) / (2 * d))
    } else {
        (2 * n + d) / (2 * d)
    };
    i64::try_from(q).unwrap()
}

/// The difference of the means of `exposed` and `held` (times `scale`),
/// its 95 % interval and verdict, computed directly from the figures.
#[allow(clippy::cast_precision_loss, clippy::cast_possible_truncation)]
fn expected_estimate(exposed: &[i64], held: &[i64], scale: i64) -> UpliftEstimate {
    let (ne, nh) = (exposed.len() as i128, held.len() as i128);
    let sum = |xs: &[i64]| xs.iter().map(|&x| i128::from(x)).sum::<i128>();
    let sum_sq = |xs: &[i64]| {
        xs.iter()
            .map(|&x| i128::from(x) * i128::from(x))
            .sum::<i128>()
    };
    let numerator = i128::from(scale) * (sum(exposed) * nh - sum(held) * ne);
    let difference = if ne == 0 || nh == 0 {
        let mean = |xs: &[i64]| {
            if xs.is_empty() {
                0
            } else {
                half_up_wide(sum(xs) * i128::from(scale), xs.len() as i128)
            }
        };
        mean(exposed) - mean(held)
    } else {
        half_up_wide(numerator, ne * nh)
    };
    // s²/n of each group: (nΣx² − (Σx)²) / (n²(n−1)).
    let var = |xs: &[i64]| {
        let n = xs.len() as i128;
        (n * sum_sq(xs) - sum(xs) * sum(xs)) as f64 / (n * n * (n - 1)) as f64
    };
    let (low, high) = if ne >= 2 && nh >= 2 {
        let centre = numerator as f64 / (ne * nh) as f64;
        let margin = 1.96 * (var(exposed) + var(held)).sqrt() * scale as f64;
        (
            Some((centre - margin).round() as i64),
            Some((centre + margin).round() as i64),
        )
    } else {
        (None, None)
    };
    let verdict = if ne < 30 || nh < 30 {
        UpliftVerdict::TooFew
    } else if low.unwrap() > 0 {
        UpliftVerdict::Higher
    } else if high.unwrap() < 0 {
        UpliftVerdict::Lower
    } else {
        UpliftVerdict::Unclear
    };
    UpliftEstimate {
        difference,
        low,
        high,
        verdict,
    }
}

/// Each promotion with a holdout against its holdout, computed from the
/// records: customers with a record (at the filter's stores) in the days
/// before the window, of the promotion's genders and ages, split by the
/// hash; their net spend and days with a record in the window. Returns
/// the verdicts on spend.
async fn check_uplift(
    server: &TestServer,
    data: &Data,
    f: &Filter,
    extra: &str,
) -> Vec<UpliftVerdict> {
    let mut want = Vec::new();
    for (id, name, share, starts, ends, genders, min_age) in HOLDOUTS {
        let from = f.from.max(starts.parse().unwrap());
        let to = ends.map_or(f.to, |e| f.to.min(e.parse().unwrap()));
        if from > to {
            continue;
        }
        let days = (to - from).num_days() + 1;
        let baseline = (from - Duration::days(days), from - Duration::days(1));
        let mut who: BTreeMap<CustomerId, (i64, BTreeSet<NaiveDate>, bool)> = BTreeMap::new();
        for s in data.records.iter().filter(|s| {
            f.stores
                .is_none_or(|ids| ids.contains(&s.record.store_id.get()))
        }) {
            let Some((c, gender, birth)) = &s.customer else {
                continue;
            };
            if !genders.is_empty() && !genders.contains(&gender.as_str()) {
                continue;
            }
            if let Some(min) = min_age {
                let Some(b) = birth else { continue };
                let before_birthday = (from.month(), from.day()) < (b.month(), b.day());
                if from.year() - b.year() - i32::from(before_birthday) < min {
                    continue;
                }
            }
            let e = who.entry(*c).or_default();
            let day = s.local_day();
            if day >= baseline.0 && day <= baseline.1 {
                e.2 = true;
            } else if day >= from && day <= to {
                e.0 += s.signed(s.record.total.minor());
                e.1.insert(day);
            }
        }
        let (mut exposed, mut held) = ((vec![], vec![]), (vec![], vec![]));
        for (c, (spend, visits, before)) in who {
            if !before {
                continue;
            }
            let side = if held_out(c, id, share) {
                &mut held
            } else {
                &mut exposed
            };
            side.0.push(spend);
            side.1.push(i64::try_from(visits.len()).unwrap());
        }
        let group = |g: &(Vec<i64>, Vec<i64>)| UpliftGroup {
            customers: i64::try_from(g.0.len()).unwrap(),
            spend: if g.0.is_empty() {
                0
            } else {
                half_up(g.0.iter().sum(), i64::try_from(g.0.len()).unwrap())
            },
            visits_milli: if g.1.is_empty() {
                0
            } else {
                half_up(
                    1000 * g.1.iter().sum::<i64>(),
                    i64::try_from(g.1.len()).unwrap(),
                )
            },
        };
        want.push(UpliftRow {
            promotion_id: id.to_owned(),
            name: name.to_owned(),
            holdout_bp: u32::try_from(share).unwrap(),
            window: Period { from, to },
            baseline: Period {
                from: baseline.0,
                to: baseline.1,
            },
            exposed: group(&exposed),
            held_out: group(&held),
            spend: expected_estimate(&exposed.0, &held.0, 1),
            visits: expected_estimate(&exposed.1, &held.1, 1000),
        });
    }
    let v: PromotionsView = view(server, data, "promotions", &query(f, extra)).await;
    assert_eq!(v.uplift, want, "uplift against the holdouts");
    let rows = csv(
        server,
        data,
        "uplift",
        &query(f, extra),
        "Акция;Название;Контрольная группа;Дни сравнения",
    )
    .await;
    assert_eq!(rows.len(), want.len());
    for (row, w) in rows.iter().zip(&want) {
        assert_eq!(row[0], w.promotion_id);
        assert_eq!(row[5], w.exposed.customers.to_string());
        assert_eq!(row[6], w.held_out.customers.to_string());
        assert_eq!(row[9], rub(w.spend.difference));
        assert_eq!(row[10], w.spend.low.map(rub).unwrap_or_default());
        let words = match w.spend.verdict {
            UpliftVerdict::TooFew => "Слишком мало покупателей",
            UpliftVerdict::Unclear => "Разница не доказана",
            UpliftVerdict::Higher => "Выше",
            UpliftVerdict::Lower => "Ниже",
        };
        assert!(
            row[12].starts_with(words),
            "{}: {}",
            w.promotion_id,
            row[12]
        );
    }
    want.iter().map(|w| w.spend.verdict).collect()
}

#[tokio::test]
async fn bad_filters_are_refused_with_a_reason() {
    let server = TestServer::spawn().await;
    let merchant = server.merchant("Ромашка").await;
    for (q, code) in [
        ("from=2026-03-10&to=2026-03-01", "invalid_filter"),
        ("from=01.03.2026", "invalid_filter"),
        ("store=999", "invalid_filter"),
        ("grain=year", "invalid_filter"),
    ] {
        let (status, body) = server
            .admin(
                Method::GET,
                &format!(
                    "/api/v1/admin/merchants/{}/analytics/sales?{q}",
                    merchant.id
                ),
                None,
            )
            .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{q}: {body}");
        assert_eq!(body["error"], code, "{q}");
    }
    let (status, body) = server
        .admin(
            Method::GET,
            &format!("/api/v1/admin/merchants/{}/analytics/nonsense", merchant.id),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
}

/// Records stored before the rollups existed (here: the rollups emptied
/// and the migration's marker put back) are added once when the server
/// starts, by the same rule as at ingest.
#[tokio::test]
async fn records_stored_before_the_rollups_are_added_at_start_up() {
    let server = TestServer::spawn().await;
    let data = data_set(&server).await;
    let f = Filter {
        from: "2026-03-01".parse().unwrap(),
        to: "2026-03-31".parse().unwrap(),
        stores: None,
    };
    let before: SalesView = view(&server, &data, "sales", &query(&f, "grain=day")).await;
    assert_eq!(before.overview.totals, expected(&f.current(&data)));
    // As when the migration left the marker, no server is still adding
    // line rows: the running one's pass would add some after the DELETE,
    // and the start's backfill the same records again.
    crate::baskets::queue_drained(&server).await;
    server.execute(
        "DELETE FROM rollup_store_hours; DELETE FROM rollup_store_days;
         DELETE FROM rollup_product_days; DELETE FROM rollup_product_store_days;
         DELETE FROM rollup_product_months; DELETE FROM rollup_product_store_months;
         DELETE FROM rollup_customer_visits; DELETE FROM rollup_promotion_hours;
         DELETE FROM rollup_promotion_days; DELETE FROM rollup_promotion_months;
         DELETE FROM rollup_promotion_customers; INSERT INTO rollup_backfill (pending) VALUES (1);",
    );
    let emptied: SalesView = view(&server, &data, "sales", &query(&f, "grain=day")).await;
    assert_eq!(emptied.overview.totals, Figures::default());

    let server = server.restart().await;
    assert_eq!(server.count_rows("SELECT COUNT(*) FROM rollup_backfill"), 0);
    if on_postgres() {
        // The planner has statistics of what the backfill filled (an
        // ANALYZE of its own, not autovacuum's; the counters are
        // published within seconds).
        let analyzed = "SELECT analyze_count FROM pg_stat_user_tables \
             WHERE schemaname = current_schema() AND relname = 'rollup_store_days'";
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
        while server.count_rows(analyzed) < 1 {
            assert!(
                std::time::Instant::now() < deadline,
                "the backfilled tables were never analyzed"
            );
            tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        }
    }
    let after: SalesView = view(&server, &data, "sales", &query(&f, "grain=day")).await;
    assert_eq!(after, before, "the same views as ingest made");
    let customers_before: CustomersView = view(&server, &data, "customers", &query(&f, "")).await;
    check_customers(&server, &data, &f, "").await;
    check_promotions(&server, &data, &f, "").await;
    check_products(&server, &data, &f, "").await;
    // Once: a second start adds nothing more.
    let server = server.restart().await;
    let again: CustomersView = view(&server, &data, "customers", &query(&f, "")).await;
    assert_eq!(again, customers_before);
    let again: SalesView = view(&server, &data, "sales", &query(&f, "grain=day")).await;
    assert_eq!(again, before);
}

/// A record's product rows are added off the ingest path, with its basket
/// rows, returns' included: a page asked right after the uploads has every
/// record on it, and records left queued when a server stops (here: the
/// product rows emptied and every record queued again, as after a crash
/// between ingest and the pass) are added by the next start, once.
#[tokio::test]
async fn product_rows_are_added_off_the_ingest_path_once_returns_included() {
    let server = TestServer::spawn().await;
    let data = data_set(&server).await;
    let f = Filter {
        from: "2026-01-01".parse().unwrap(),
        to: "2026-03-31".parse().unwrap(),
        stores: None,
    };
    check_products(&server, &data, &f, "").await;
    crate::baskets::queue_drained(&server).await;
    assert!(server.count_rows("SELECT COUNT(*) FROM records WHERE kind = 'return'") > 0);
    let before: ProductsView = view(&server, &data, "products", &query(&f, "")).await;
    assert!(!before.products.is_empty());

    server.execute(
        "DELETE FROM rollup_product_days; DELETE FROM rollup_product_store_days;
         DELETE FROM rollup_product_months; DELETE FROM rollup_product_store_months;
         DELETE FROM rollup_basket_months; DELETE FROM rollup_basket_store_months;
         DELETE FROM rollup_basket_marks;
         INSERT INTO rollup_basket_queue (register_id, seq, products)
             SELECT register_id, seq, TRUE FROM records ORDER BY id;",
    );
    let server = server.restart().await;
    crate::baskets::queue_drained(&server).await;
    assert_eq!(
        view::<ProductsView>(&server, &data, "products", &query(&f, "")).await,
        before,
        "added once"
    );
    check_products(&server, &data, &f, "").await;
    let server = server.restart().await;
    assert_eq!(
        view::<ProductsView>(&server, &data, "products", &query(&f, "")).await,
        before,
        "not again"
    );
}

/// A promotion without a start of its own is measured from the day it was
/// first published (the tills could not price with it before), not over
/// the whole period asked for; one with a start keeps its own.
#[tokio::test]
async fn an_uplift_window_starts_when_a_promotion_without_a_start_was_first_published() {
    let clock = std::sync::Arc::new(sync_server::clock::ManualClock::new(
        "2026-03-10T10:00:00Z".parse().unwrap(),
    ));
    let server = TestServer::spawn_with_clock(clock.clone()).await;
    let (merchant, _, _till) = merchant_with_till(&server, 1).await;
    let promotion = |id: &str, starts: Option<&str>| {
        let mut p = json!({
            "id": id, "name": id,
            "target": {"kind": "skus", "skus": ["4601234567893"]},
            "reward": {"kind": "percent_off", "percent": 500},
            "holdout": 5_000
        });
        if let Some(s) = starts {
            p["starts_at"] = s.into();
        }
        p
    };
    let ruleset = |promotions: Vec<serde_json::Value>| json!({"currency": "RUB", "programme": {}, "promotions": promotions});
    let (status, body) = server
        .publish(merchant.id, ruleset(vec![promotion("early", None)]))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    // Ten days later (22:30 UTC: the 21st in Moscow) two more join; the
    // first stays, its first publication unchanged.
    clock.advance(chrono::TimeDelta::hours(10 * 24 + 12) + chrono::TimeDelta::minutes(30));
    let (status, body) = server
        .publish(
            merchant.id,
            ruleset(vec![
                promotion("early", None),
                promotion("late", None),
                promotion("dated", Some("2026-03-04T21:00:00Z")),
            ]),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");

    let (status, view) = server
        .admin(
            Method::GET,
            &format!(
                "/api/v1/admin/merchants/{}/analytics/promotions?from=2026-03-01&to=2026-03-31",
                merchant.id
            ),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{view}");
    let windows: BTreeMap<String, (String, String)> = view["uplift"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| {
            (
                u["promotion_id"].as_str().unwrap().to_owned(),
                (
                    u["window"]["from"].as_str().unwrap().to_owned(),
                    u["baseline"]["from"].as_str().unwrap().to_owned(),
                ),
            )
        })
        .collect();
    let want = |from: &str, baseline: &str| (from.to_owned(), baseline.to_owned());
    assert_eq!(
        windows,
        BTreeMap::from([
            ("dated".to_owned(), want("2026-03-05", "2026-02-06")),
            ("early".to_owned(), want("2026-03-10", "2026-02-16")),
            ("late".to_owned(), want("2026-03-21", "2026-03-10")),
        ]),
        "{view}"
    );
}
