//! Promotion drafts (issue 11): a draft's what-if over stored sales
//! against figures computed directly from generated baskets with known
//! answers, publishing now and at a set time (once, across a restart),
//! and the refusals (another merchant's draft, a bad `days`, a promotion
//! that does not validate).

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use chrono::{DateTime, NaiveDate, TimeDelta, Utc};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use shared::ids::{CustomerId, MerchantId, RulesetVersion, Sku, StoreId};
use shared::pricing::CustomerStanding;
use shared::record::PricingInputs;
use sync_server::clock::ManualClock;
use sync_server::wire::drafts::{DraftView, WhatIfFigures, WhatIfReport};

use crate::helpers::{Purchase, TestServer, TwoStoreChain, promotion, ruleset};

const MILK: &str = "4601234567893";
const BREAD: &str = "4601234567894";

fn now() -> DateTime<Utc> {
    "2026-03-29T00:00:00Z".parse().expect("time")
}

/// The running rules: 10 % off milk, 5 % off bread, both in the default
/// exclusive group; one point per 100 roubles paid.
fn running_rules() -> Value {
    let mut rules = ruleset();
    let mut bread = promotion("bread-5");
    bread["target"]["skus"] = json!([BREAD]);
    bread["reward"]["percent"] = json!(500);
    rules["promotions"] = json!([promotion("milk-10"), bread]);
    rules
}

/// The draft: 20 % off milk, which takes milk's lines from milk-10.
fn draft_promotion() -> Value {
    let mut p = promotion("milk-20");
    p["name"] = json!("Milk -20%");
    p["target"]["skus"] = json!([MILK]);
    p["reward"]["percent"] = json!(2000);
    p
}

/// A small deterministic generator (an LCG).
struct Lcg(u64);

impl Lcg {
    fn next(&mut self, below: u64) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (self.0 >> 33) % below.max(1)
    }
}

/// One generated sale.
struct Basket {
    far: bool,
    wall_time: DateTime<Utc>,
    amount: i64,
    milk: bool,
    customer: Option<CustomerId>,
    inputs: bool,
}

fn baskets(chain: &TwoStoreChain, n: usize) -> Vec<Basket> {
    let mut g = Lcg(11);
    let customers = [
        None,
        Some(chain.anna.id),
        Some(chain.boris.id),
        Some(chain.vera.id),
    ];
    (0..n)
        .map(|i| {
            let hours = g.next(34 * 24) + 1;
            Basket {
                far: g.next(2) == 1,
                wall_time: now() - TimeDelta::hours(i64::try_from(hours).expect("hours")),
                amount: 100 * i64::try_from(50 + g.next(450)).expect("amount"),
                milk: g.next(3) != 0,
                customer: customers[usize::try_from(g.next(4)).expect("index")],
                // Every eleventh sale comes from an agent older than
                // recorded inputs.
                inputs: i % 11 != 5,
            }
        })
        .collect()
}

/// Uploads the baskets as the tills' signed sales, priced with version 1.
async fn upload(chain: &mut TwoStoreChain, baskets: &[Basket]) {
    for far in [false, true] {
        let till = if far {
            &mut chain.far_till
        } else {
            &mut chain.moscow_till
        };
        let mut records = Vec::new();
        for b in baskets.iter().filter(|b| b.far == far) {
            let mut p = Purchase::sale(b.amount).made_at(b.wall_time);
            if let Some(c) = b.customer {
                p = p.by(c);
            }
            let (signed, _) = till.record_edited(p, |r| {
                r.ruleset_version = Some(RulesetVersion::new(1).expect("version"));
                if !b.milk {
                    r.lines[0].sku = Sku::parse(BREAD).expect("sku");
                    r.lines[0].name = "Хлеб".into();
                }
                // An identified customer's standing, as the till knew it.
                r.pricing_inputs = b.inputs.then(|| PricingInputs {
                    standing: b.customer.map(|_| CustomerStanding {
                        purchases: Some(5),
                        ..CustomerStanding::default()
                    }),
                    ..PricingInputs::default()
                });
            });
            records.push(signed);
        }
        let (status, reply) = till.upload(&records).await;
        assert!(status.is_success(), "{reply}");
    }
}

/// What the draft does to one basket, computed by hand: milk-20 takes
/// milk's lines from milk-10 (20 % against 10 %), bread keeps its 5 %,
/// an identified customer earns one point per full 100 roubles paid (an
/// anonymous check earns none).
fn expected_figures(b: &Basket) -> WhatIfFigures {
    let points = |paid: i64| {
        if b.customer.is_some() {
            paid / 10_000
        } else {
            0
        }
    };
    if b.milk {
        let before = b.amount / 10;
        let after = b.amount / 5;
        WhatIfFigures {
            checks_touched: 1,
            discount: after,
            points: 0,
            discount_change: after - before,
            points_change: points(b.amount - after) - points(b.amount - before),
        }
    } else {
        WhatIfFigures::default()
    }
}

fn add(into: &mut WhatIfFigures, f: &WhatIfFigures) {
    into.checks_touched += f.checks_touched;
    into.discount += f.discount;
    into.points += f.points;
    into.discount_change += f.discount_change;
    into.points_change += f.points_change;
}

async fn create_draft(server: &TestServer, merchant: MerchantId, p: Value) -> DraftView {
    let (status, body) = server
        .admin(
            Method::POST,
            &format!("/api/v1/admin/merchants/{merchant}/drafts"),
            Some(p),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    serde_json::from_value(body).expect("a draft")
}

async fn current_version(server: &TestServer, merchant: MerchantId) -> (i64, Value) {
    let (status, body) = server
        .admin(
            Method::GET,
            &format!("/api/v1/admin/merchants/{merchant}/ruleset"),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    (body["version"].as_i64().expect("a version"), body)
}

fn has_promotion(current: &Value, id: &str) -> bool {
    current["ruleset"]["promotions"]
        .as_array()
        .is_some_and(|all| all.iter().any(|p| p["id"] == id))
}

#[tokio::test]
async fn a_what_if_equals_the_figures_computed_from_the_baskets() {
    let clock = Arc::new(ManualClock::new(now()));
    let server = TestServer::spawn_with_clock(clock.clone()).await;
    let mut chain = TwoStoreChain::create(&server).await;
    let merchant = chain.merchant.id;
    let (status, reply) = server.publish(merchant, running_rules()).await;
    assert!(status.is_success(), "{reply}");
    let generated = baskets(&chain, 240);
    upload(&mut chain, &generated).await;
    let draft = create_draft(&server, merchant, draft_promotion()).await;
    assert_eq!(draft.status, "draft");
    // A draft never reaches a till: the rules are as published.
    let (version, current) = current_version(&server, merchant).await;
    assert_eq!(version, 1);
    assert!(!has_promotion(&current, "milk-20"));

    // The direct computation over the same baskets.
    let since = now() - TimeDelta::days(28);
    let store_of = |b: &Basket| -> (StoreId, chrono_tz::Tz) {
        if b.far {
            (chain.far.id, chrono_tz::Asia::Vladivostok)
        } else {
            (chain.moscow.id, chrono_tz::Europe::Moscow)
        }
    };
    let mut total = WhatIfFigures::default();
    let mut by_store: BTreeMap<StoreId, WhatIfFigures> = BTreeMap::new();
    let mut by_day: BTreeMap<NaiveDate, WhatIfFigures> = BTreeMap::new();
    let mut customers = BTreeSet::new();
    let (mut read, mut skipped, mut displaced_checks, mut displaced_discount) = (0, 0, 0, 0);
    let (mut before, mut after) = (0, 0);
    for b in generated.iter().filter(|b| b.wall_time >= since) {
        read += 1;
        if !b.inputs {
            skipped += 1;
            continue;
        }
        let f = expected_figures(b);
        let (store, zone) = store_of(b);
        let day = b.wall_time.with_timezone(&zone).date_naive();
        add(&mut total, &f);
        add(by_store.entry(store).or_default(), &f);
        add(by_day.entry(day).or_default(), &f);
        let base = if b.milk { b.amount / 10 } else { b.amount / 20 };
        before += base;
        after += base + f.discount_change;
        if b.milk {
            displaced_checks += 1;
            displaced_discount += b.amount / 10;
            customers.extend(b.customer);
        }
    }
    assert!(total.checks_touched > 50 && skipped > 5, "a real mix");
    assert!(total.points_change < 0, "paying less earns fewer points");
    assert!(
        by_day.len() > 20,
        "the baskets spread over the days: {}",
        by_day.len()
    );

    let (status, body) = server
        .admin(
            Method::POST,
            &format!(
                "/api/v1/admin/merchants/{merchant}/drafts/{}/what-if",
                draft.id
            ),
            Some(json!({})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let report: WhatIfReport = serde_json::from_value(body).expect("a report");
    assert_eq!(report.days, 28);
    assert_eq!(report.from, since);
    assert_eq!(report.ruleset_version, 1);
    assert_eq!(report.sales_read, read);
    assert_eq!(report.sales_priced, read - skipped);
    assert_eq!(report.skipped.len(), 1, "{:?}", report.skipped);
    assert_eq!(report.skipped[0].sales, skipped);
    assert!(report.skipped[0].reason.contains("no pricing inputs"));
    assert_eq!(report.total, total);
    assert_eq!(
        report.customers_touched,
        u64::try_from(customers.len()).expect("count")
    );
    assert_eq!(
        (report.discount_before, report.discount_after),
        (before, after)
    );
    let stores: BTreeMap<StoreId, WhatIfFigures> = report
        .by_store
        .iter()
        .map(|s| (s.store_id, s.figures.clone()))
        .collect();
    assert_eq!(stores, by_store);
    let days: BTreeMap<NaiveDate, WhatIfFigures> = report
        .by_day
        .iter()
        .map(|d| (d.day, d.figures.clone()))
        .collect();
    assert_eq!(days, by_day, "days in each store's own zone");
    assert_eq!(report.displaced.len(), 1, "{:?}", report.displaced);
    let milk_10 = &report.displaced[0];
    assert_eq!(milk_10.promotion_id, "milk-10");
    assert_eq!(milk_10.group, shared::ruleset::DEFAULT_GROUP);
    assert_eq!(
        (milk_10.checks, milk_10.discount, milk_10.points),
        (displaced_checks, displaced_discount, 0)
    );

    // A shorter window counts only its days.
    let (status, body) = server
        .admin(
            Method::POST,
            &format!(
                "/api/v1/admin/merchants/{merchant}/drafts/{}/what-if",
                draft.id
            ),
            Some(json!({"days": 3})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let short: WhatIfReport = serde_json::from_value(body).expect("a report");
    let recent = now() - TimeDelta::days(3);
    let expected: u64 = generated
        .iter()
        .filter(|b| b.wall_time >= recent && b.inputs && b.milk)
        .count()
        .try_into()
        .expect("count");
    assert_eq!(short.total.checks_touched, expected);
    assert!(short.total.checks_touched < report.total.checks_touched);
}

#[tokio::test]
async fn another_merchants_draft_is_not_found_and_a_bad_days_is_refused_by_name() {
    let server = TestServer::spawn().await;
    let ours = server.merchant("Ромашка").await;
    let theirs = server.merchant("Лютик").await;
    server.store(ours.id, "Тверская", "Europe/Moscow").await;
    let (status, reply) = server.publish(ours.id, running_rules()).await;
    assert!(status.is_success(), "{reply}");
    let draft = create_draft(&server, ours.id, draft_promotion()).await;
    let base = format!("/api/v1/admin/merchants/{}/drafts/{}", theirs.id, draft.id);
    for (method, path, body) in [
        (Method::GET, base.clone(), None),
        (Method::DELETE, base.clone(), None),
        (Method::POST, format!("{base}/what-if"), Some(json!({}))),
        (Method::POST, format!("{base}/publish"), Some(json!({}))),
    ] {
        let (status, body) = server.admin(method.clone(), &path, body).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{method} {path}: {body}");
    }
    let (status, body) = server
        .admin(
            Method::GET,
            &format!("/api/v1/admin/merchants/{}/drafts", theirs.id),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body, json!([]), "their list holds none of ours");

    let what_if = format!(
        "/api/v1/admin/merchants/{}/drafts/{}/what-if",
        ours.id, draft.id
    );
    for days in [0, 91, -3] {
        let (status, body) = server
            .admin(Method::POST, &what_if, Some(json!({ "days": days })))
            .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{days}: {body}");
        let message = body["message"].as_str().unwrap_or_default();
        assert!(message.starts_with("days:"), "{days}: {message}");
    }
    let (status, body) = server
        .admin(Method::POST, &what_if, Some(json!({ "days": 90 })))
        .await;
    assert_eq!(status, StatusCode::OK, "the most days: {body}");
    // Our draft is still there.
    let (status, _) = server
        .admin(
            Method::GET,
            &format!("/api/v1/admin/merchants/{}/drafts/{}", ours.id, draft.id),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK);
}

#[tokio::test]
async fn a_draft_that_does_not_validate_is_refused_naming_the_field_and_stays_a_draft() {
    let server = TestServer::spawn().await;
    let merchant = server.merchant("Ромашка").await;
    server.store(merchant.id, "Тверская", "Europe/Moscow").await;
    let (status, reply) = server.publish(merchant.id, running_rules()).await;
    assert!(status.is_success(), "{reply}");
    let mut bad = draft_promotion();
    bad["reward"]["percent"] = json!(0);
    let draft = create_draft(&server, merchant.id, bad).await;
    let publish = format!(
        "/api/v1/admin/merchants/{}/drafts/{}/publish",
        merchant.id, draft.id
    );
    let (status, body) = server.admin(Method::POST, &publish, Some(json!({}))).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    let faults = body["faults"].to_string();
    assert!(faults.contains("reward.percent"), "{faults}");
    let (_, body) = server
        .admin(
            Method::GET,
            &format!(
                "/api/v1/admin/merchants/{}/drafts/{}",
                merchant.id, draft.id
            ),
            None,
        )
        .await;
    let shown: DraftView = serde_json::from_value(body).expect("a draft");
    assert_eq!(shown.status, "failed");
    assert!(
        shown
            .failure
            .as_deref()
            .unwrap_or_default()
            .contains("reward.percent"),
        "{shown:?}"
    );
    assert_eq!(current_version(&server, merchant.id).await.0, 1);

    // A good one publishes once; a second publish is refused.
    let good = create_draft(&server, merchant.id, draft_promotion()).await;
    let publish = format!(
        "/api/v1/admin/merchants/{}/drafts/{}/publish",
        merchant.id, good.id
    );
    let (status, body) = server.admin(Method::POST, &publish, Some(json!({}))).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(body["published_version"], 2);
    let (status, body) = server.admin(Method::POST, &publish, Some(json!({}))).await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    let (version, current) = current_version(&server, merchant.id).await;
    assert_eq!(version, 2);
    assert!(has_promotion(&current, "milk-20"));
}

#[tokio::test]
async fn a_scheduled_draft_is_published_once_at_its_time_across_a_restart() {
    let clock = Arc::new(ManualClock::new(now()));
    let server = TestServer::spawn_with_clock(clock.clone()).await;
    let merchant = server.merchant("Ромашка").await;
    server.store(merchant.id, "Тверская", "Europe/Moscow").await;
    let (status, reply) = server.publish(merchant.id, running_rules()).await;
    assert!(status.is_success(), "{reply}");
    let draft = create_draft(&server, merchant.id, draft_promotion()).await;
    let publish = format!(
        "/api/v1/admin/merchants/{}/drafts/{}/publish",
        merchant.id, draft.id
    );
    // A time gone by is refused by name.
    let (status, body) = server
        .admin(
            Method::POST,
            &publish,
            Some(json!({"at": now() - TimeDelta::minutes(1)})),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert!(
        body["message"]
            .as_str()
            .unwrap_or_default()
            .starts_with("at:")
    );
    let at = now() + TimeDelta::hours(1);
    let (status, body) = server
        .admin(Method::POST, &publish, Some(json!({ "at": at })))
        .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    assert_eq!(body["status"], "scheduled");

    // The schedule is stored: a restart keeps it, and nothing is
    // published before its time.
    let server = server.restart().await;
    let get = format!(
        "/api/v1/admin/merchants/{}/drafts/{}",
        merchant.id, draft.id
    );
    let (_, body) = server.admin(Method::GET, &get, None).await;
    assert_eq!(body["status"], "scheduled", "{body}");
    assert_eq!(current_version(&server, merchant.id).await.0, 1);

    clock.advance(TimeDelta::hours(2));
    let mut shown = Value::Null;
    let deadline = test_kit::poll::Deadline::after(std::time::Duration::from_secs(60));
    loop {
        let (_, body) = server.admin(Method::GET, &get, None).await;
        if body["status"] == "published" {
            shown = body;
            break;
        }
        if deadline.tick(String::new).await.is_err() {
            break;
        }
    }
    assert_eq!(shown["status"], "published", "published at its time");
    assert_eq!(shown["published_version"], 2);
    let (version, current) = current_version(&server, merchant.id).await;
    assert_eq!(version, 2);
    assert!(has_promotion(&current, "milk-20"));

    // Later passes and another restart publish nothing more.
    let server = server.restart().await;
    clock.advance(TimeDelta::hours(2));
    let (status, body) = server.admin(Method::POST, &publish, Some(json!({}))).await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert_eq!(current_version(&server, merchant.id).await.0, 2);
}
