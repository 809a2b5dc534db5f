//! Customers: creation, tokens, standing after purchases, and the change
//! feed registers cache from.

use std::time::{Duration, Instant};

use test_kit::poll::Deadline;

use reqwest::{Method, StatusCode};
use serde_json::json;
use shared::identity::Ean13;
use shared::record::RecordRef;
use shared::token::CustomerToken;
use shared::wire::sync::CustomerDeltaPage;
use sync_server::wire::admin::{CustomerView, IssuedToken};

use crate::helpers::{Purchase, TestServer, merchant_with_till, ruleset};

#[tokio::test]
async fn a_customer_needs_a_name_and_a_channel_and_a_free_phone() {
    let server = TestServer::spawn().await;
    let merchant = server.merchant("Ромашка").await;
    let path = format!("/api/v1/admin/merchants/{}/customers", merchant.id);

    let anna = server
        .customer(
            merchant.id,
            json!({"name": "Анна", "phone": "8 (916) 123-45-67", "gender": "female"}),
        )
        .await;
    assert_eq!(anna.phone.as_ref().unwrap().as_str(), "+79161234567");
    assert_eq!(anna.card_number, Ean13::card_for(anna.id));
    assert_eq!((anna.lifetime_spend.minor(), anna.points_balance), (0, 0));
    assert_eq!(anna.tier, None);
    assert!(anna.purchases.is_empty());

    for (body, status, code) in [
        (
            json!({"name": " ", "phone": "+79160000000"}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation",
        ),
        (
            json!({"name": "Борис"}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation",
        ),
        (
            json!({"name": "Борис", "phone": "12"}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_body",
        ),
        (
            json!({"name": "Борис", "phone": "+79161234567"}),
            StatusCode::CONFLICT,
            "phone_taken",
        ),
    ] {
        let (got, reply) = server.admin(Method::POST, &path, Some(body.clone())).await;
        assert_eq!(
            (got, reply["error"].as_str()),
            (status, Some(code)),
            "{body} → {reply}"
        );
    }
    let boris = server
        .customer(
            merchant.id,
            json!({"name": "Борис", "email": "Boris@Example.com"}),
        )
        .await;
    assert_eq!(boris.email.unwrap().as_str(), "boris@example.com");
}

#[tokio::test]
async fn an_issued_token_verifies_with_the_key_pinned_at_enrollment() {
    let server = TestServer::spawn().await;
    let (merchant, _, till) = merchant_with_till(&server, 1).await;
    let anna = server
        .customer(
            merchant.id,
            json!({"name": "Анна", "phone": "+79161234567"}),
        )
        .await;
    let issued: IssuedToken = server
        .admin_ok(
            Method::POST,
            &format!("/api/v1/admin/customers/{}/token", anna.id),
            None,
        )
        .await;
    let token = CustomerToken::verify(
        &issued.token,
        &till.server_key,
        till.merchant_id,
        chrono::Utc::now(),
    )
    .unwrap();
    assert_eq!(token.customer_id, anna.id);
    assert_eq!(token.expires_at, issued.expires_at);
    let ttl = issued.expires_at - chrono::Utc::now();
    assert!(ttl > chrono::TimeDelta::seconds(290) && ttl <= chrono::TimeDelta::seconds(300));

    let (status, _) = server
        .admin(Method::POST, "/api/v1/admin/customers/999/token", None)
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn purchases_give_spend_balance_tier_and_history() {
    let server = TestServer::spawn().await;
    let (merchant, _, mut till) = merchant_with_till(&server, 1).await;
    server.publish(merchant.id, ruleset()).await;
    let anna = server
        .customer(
            merchant.id,
            json!({"name": "Анна", "phone": "+79161234567"}),
        )
        .await;
    assert_eq!(anna.tier.as_deref(), Some("Silver"));

    let (first, first_record) = till.record(Purchase::sale(60_000).by(anna.id).points(6, 0));
    let second = till.records([
        Purchase::sale(50_000).by(anna.id).points(5, 3),
        Purchase::sale(7_000),
    ]);
    let original = RecordRef {
        register_id: till.register_id,
        seq: first_record.seq,
        id: first_record.id,
    };
    let refund = till.records([Purchase::refund(10_000, original).by(anna.id).points(-1, 0)]);
    let batch: Vec<_> = [vec![first], second, refund].concat();
    let (status, body) = till.upload(&batch).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    // A replay changes nothing.
    assert_eq!(till.upload(&batch).await.0, StatusCode::OK);

    let view: CustomerView = server
        .admin_ok(
            Method::GET,
            &format!("/api/v1/admin/customers/{}", anna.id),
            None,
        )
        .await;
    assert_eq!(view.lifetime_spend.minor(), 60_000 + 50_000 - 10_000);
    assert_eq!(view.points_balance, 6 + 5 - 3 - 1);
    assert_eq!(view.tier.as_deref(), Some("Gold"));
    let history: Vec<(i64, &str, i64)> = view
        .purchases
        .iter()
        .map(|p| (p.seq.get(), p.kind.as_str(), p.total.minor()))
        .collect();
    assert_eq!(
        history,
        vec![
            (4, "return", -10_000),
            (2, "sale", 50_000),
            (1, "sale", 60_000)
        ]
    );
}

async fn changes(till: &crate::helpers::Till, query: &str) -> CustomerDeltaPage {
    let response = till
        .get(&format!("/api/v1/customers/changes?{query}"))
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    response.json().await.unwrap()
}

#[tokio::test]
async fn the_change_feed_pages_by_cursor_and_waits_for_changes() {
    let server = TestServer::spawn().await;
    let (merchant, _, mut till) = merchant_with_till(&server, 1).await;
    let other = server.merchant("Василёк").await;
    server
        .customer(other.id, json!({"name": "Чужой", "phone": "+79160000001"}))
        .await;
    let mut ids = Vec::new();
    for (i, name) in ["Анна", "Борис", "Вера"].into_iter().enumerate() {
        let phone = format!("+7916000001{i}");
        ids.push(
            server
                .customer(merchant.id, json!({"name": name, "phone": phone}))
                .await
                .id,
        );
    }

    let page = changes(&till, "after=0&limit=2").await;
    assert_eq!(
        page.customers.iter().map(|c| c.id).collect::<Vec<_>>(),
        ids[..2]
    );
    assert!(page.more);
    assert_eq!(page.stored_through, None, "the till has stored nothing yet");
    let rest = changes(&till, &format!("after={}&limit=2", page.next_cursor)).await;
    assert_eq!(
        rest.customers.iter().map(|c| c.id).collect::<Vec<_>>(),
        ids[2..]
    );
    assert!(!rest.more);
    assert_eq!(rest.customers[0].card_number, Ean13::card_for(ids[2]));

    let started = Instant::now();
    let idle = changes(&till, &format!("after={}&wait=1", rest.next_cursor)).await;
    assert!(started.elapsed() >= Duration::from_millis(900));
    assert!(idle.customers.is_empty());
    assert_eq!(idle.next_cursor, rest.next_cursor);

    // A purchase by Анна wakes a waiting feed with her new standing.
    let cursor = rest.next_cursor;
    let batch = till.records([Purchase::sale(12_345).by(ids[0]).points(1, 0)]);
    let parked = server.parked_long_polls().await;
    let feed = {
        let base = till.base.clone();
        let bearer = till.bearer();
        let http = till.http.clone();
        tokio::spawn(async move {
            http.get(format!(
                "{base}/api/v1/customers/changes?after={cursor}&wait=5"
            ))
            .bearer_auth(bearer)
            .send()
            .await
            .unwrap()
            .json::<CustomerDeltaPage>()
            .await
            .unwrap()
        })
    };
    server.wait_parked_long_polls(parked + 1).await;
    let uploaded_at = Instant::now();
    assert_eq!(till.upload(&batch).await.0, StatusCode::OK);
    let woke = feed.await.unwrap();
    assert!(uploaded_at.elapsed() < Duration::from_secs(1), "woke late");
    assert_eq!(woke.customers.len(), 1);
    assert_eq!(woke.customers[0].id, ids[0]);
    assert_eq!(woke.customers[0].lifetime_spend.minor(), 12_345);
    assert_eq!(woke.customers[0].points_balance, 1);
    assert!(woke.next_cursor > cursor);
    // The page says it counts the till's record: its reply may be lost.
    assert_eq!(woke.stored_through.map(|s| s.get()), Some(1));
}

/// The pacing interval of [`a_register_sent_a_page_waits_for_the_intervals_tick_and_gets_the_changes_meanwhile_in_one`].
const PAGE_INTERVAL: Duration = Duration::from_millis(1_500);

#[tokio::test]
async fn a_register_sent_a_page_waits_for_the_intervals_tick_and_gets_the_changes_meanwhile_in_one()
{
    let server = TestServer::spawn_with(|s| {
        s.longpoll.customer_page_interval_ms = PAGE_INTERVAL.as_millis() as u64;
    })
    .await;
    let (merchant, _, mut till) = merchant_with_till(&server, 1).await;
    let mut ids = Vec::new();
    for (i, name) in ["Анна", "Борис", "Вера"].into_iter().enumerate() {
        let phone = format!("+7916000002{i}");
        ids.push(
            server
                .customer(merchant.id, json!({"name": name, "phone": phone}))
                .await
                .id,
        );
    }
    // A page that says more are ready is followed at once.
    let first = changes(&till, "after=0&limit=2").await;
    assert!(first.more);
    let started = Instant::now();
    let rest = changes(&till, &format!("after={}", first.next_cursor)).await;
    let sent = Instant::now();
    assert!(!rest.more);
    assert_eq!(rest.customers.len(), 1);
    assert!(
        started.elapsed() < PAGE_INTERVAL,
        "a page after one with more is not paced"
    );

    // Two sales, by Анна and by Борис, each its own upload and its own
    // wake-up, right after the page: the register hears of both in one
    // page, once the interval since its last page has passed.
    let computed = feed_metrics(&server).await.pages_computed;
    for (seq, id) in [ids[0], ids[1]].into_iter().enumerate() {
        let batch = till.records([Purchase::sale(1_000 + seq as i64).by(id)]);
        assert_eq!(till.upload(&batch).await.0, StatusCode::OK);
    }
    let page = changes(&till, &format!("after={}&wait=5", rest.next_cursor)).await;
    assert!(
        sent.elapsed() >= PAGE_INTERVAL / 2 - Duration::from_millis(50),
        "the next page waits for the interval's tick, half an interval on at least ({:?})",
        sent.elapsed()
    );
    let mut changed: Vec<_> = page.customers.iter().map(|c| c.id).collect();
    changed.sort();
    assert_eq!(changed, ids[..2], "both changes in one page");
    assert!(!page.more);
    assert_eq!(page.stored_through.map(|s| s.get()), Some(2));
    assert_eq!(
        feed_metrics(&server).await.pages_computed - computed,
        1,
        "one page built for both changes"
    );

    // Another register, sent nothing lately, is answered at once.
    let other = server.enroll(till.store_id, 2).await;
    let started = Instant::now();
    let all = changes(&other, "after=0").await;
    assert_eq!(all.customers.len(), 3);
    assert!(started.elapsed() < PAGE_INTERVAL, "not paced");
}

/// Anna's snapshot in the change feed.
async fn snapshot_of(
    till: &crate::helpers::Till,
    id: shared::ids::CustomerId,
) -> shared::wire::sync::CustomerSnapshot {
    changes(till, "after=0")
        .await
        .customers
        .into_iter()
        .find(|c| c.id == id)
        .expect("the customer is in the feed")
}

#[tokio::test]
async fn the_snapshot_names_the_last_birthday_bonus_by_the_stores_local_date() {
    use shared::pricing::{PointsAward, RuleRef};
    let server = TestServer::spawn().await;
    let (merchant, _, mut till) = merchant_with_till(&server, 1).await;
    server.publish(merchant.id, ruleset()).await;
    let anna = server
        .customer(
            merchant.id,
            json!({"name": "Анна", "phone": "+79161234567", "birth_date": "1990-03-03"}),
        )
        .await;
    // 22:30 UTC on 2 March is 01:30 on 3 March in Moscow.
    let bonus = |r: &mut shared::record::PurchaseRecord| {
        r.point_awards = vec![PointsAward {
            rule: RuleRef::BirthdayBonus,
            points: 50,
        }];
    };
    let records = vec![
        till.record_edited(
            Purchase::sale(1_000)
                .by(anna.id)
                .points(50, 0)
                .at("2025-03-02T22:30:00Z"),
            bonus,
        )
        .0,
        till.record_edited(
            Purchase::sale(1_000)
                .by(anna.id)
                .points(50, 0)
                .at("2026-03-02T22:30:00Z"),
            bonus,
        )
        .0,
        till.record(Purchase::sale(1_000).by(anna.id).at("2026-06-01T10:00:00Z"))
            .0,
    ];
    assert_eq!(till.upload(&records).await.0, StatusCode::OK);
    let snapshot = snapshot_of(&till, anna.id).await;
    assert_eq!(
        snapshot.last_birthday_bonus,
        Some("2026-03-03".parse().unwrap())
    );
}

/// A till is sent what pricing needs and a first name, never a full name,
/// phone, e-mail or birth date (issue 10, part 4): the phone as its hash
/// under the merchant's salt, the birth date as the birthday and the age
/// turned on it this year.
#[tokio::test]
async fn the_snapshot_holds_no_personal_data() {
    use chrono::Datelike as _;
    use shared::identity::{MonthDay, PhoneNumber};
    let server = TestServer::spawn().await;
    let (merchant, _, till) = merchant_with_till(&server, 1).await;
    let (other, _, other_till) = merchant_with_till(&server, 2).await;
    let body = json!({"name": "Анна Петровна Смирнова", "phone": "+79161234567",
                      "email": "anna@example.ru", "birth_date": "1990-03-03"});
    let anna = server.customer(merchant.id, body.clone()).await;
    server.customer(other.id, body).await;
    let page = changes(&till, "after=0").await;
    let salt = page.phone_salt.clone().expect("the page carries the salt");
    let other_salt = changes(&other_till, "after=0").await.phone_salt.unwrap();
    assert_ne!(salt, other_salt, "a salt per merchant");
    let snapshot = page.customers.iter().find(|c| c.id == anna.id).unwrap();
    assert_eq!(snapshot.name, "Анна");
    let phone = PhoneNumber::parse("8 916 123-45-67").unwrap();
    assert_eq!(snapshot.phone_hash, Some(phone.salted_hash(&salt)));
    assert_eq!(snapshot.birthday, MonthDay::new(3, 3));
    let age = snapshot.age.expect("an age anchor");
    assert_eq!(age.year - i32::try_from(age.turns).unwrap(), 1990);
    assert_eq!(age.year, chrono::Utc::now().year());
    let json = serde_json::to_string(&page).unwrap();
    for personal in [
        "79161234567",
        "anna@example.ru",
        "Смирнова",
        "Петровна",
        "1990-03-03",
    ] {
        assert!(!json.contains(personal), "{personal} in {json}");
    }
}

#[tokio::test]
async fn the_snapshot_carries_the_spend_of_a_rolling_tier_window() {
    let server = TestServer::spawn().await;
    let (merchant, _, mut till) = merchant_with_till(&server, 1).await;
    let anna = server
        .customer(
            merchant.id,
            json!({"name": "Анна", "phone": "+79161234567"}),
        )
        .await;
    // To the microsecond, as PostgreSQL keeps instants (the signed record
    // keeps the register's own nanoseconds either way).
    let now = chrono::DurationRound::duration_trunc(
        chrono::Utc::now(),
        chrono::TimeDelta::microseconds(1),
    )
    .unwrap();
    let days_ago = |d: i64| now - chrono::TimeDelta::days(d);
    let old = till.record(Purchase::sale(70_000).by(anna.id).made_at(days_ago(40)));
    let sale = till.record(Purchase::sale(30_000).by(anna.id).made_at(days_ago(5)));
    let original = RecordRef {
        register_id: till.register_id,
        seq: sale.1.seq,
        id: sale.1.id,
    };
    let records = vec![
        old.0,
        sale.0,
        till.record(
            Purchase::refund(5_000, original)
                .by(anna.id)
                .made_at(days_ago(1)),
        )
        .0,
    ];
    let (status, reply) = till.upload(&records).await;
    assert_eq!(status, StatusCode::OK, "{reply}");

    // Lifetime tiers: no window spend.
    server.publish(merchant.id, ruleset()).await;
    assert_eq!(snapshot_of(&till, anna.id).await.window_spend, None);

    let mut rolling = ruleset();
    rolling["programme"]["tier_basis"] = json!({"kind": "rolling_window", "days": 30});
    let (status, reply) = server.publish(merchant.id, rolling).await;
    assert!(status.is_success(), "{reply}");
    let snapshot = snapshot_of(&till, anna.id).await;
    assert_eq!(snapshot.lifetime_spend.minor(), 95_000);
    assert_eq!(
        snapshot.window_spend.map(shared::money::Money::minor),
        Some(25_000),
        "the last 30 days net of the refund"
    );
    // And when each part leaves the window, for the till to age it.
    let leaving: Vec<(chrono::DateTime<chrono::Utc>, i64)> = snapshot
        .window_spend_leaving
        .iter()
        .map(|l| (l.until, l.spend.minor()))
        .collect();
    let month = chrono::TimeDelta::days(30);
    assert_eq!(
        leaving,
        [(days_ago(5) + month, 30_000), (days_ago(1) + month, -5_000)]
    );
}

#[tokio::test]
async fn promotion_uses_count_points_only_promotions_and_give_back_returned_uses() {
    use shared::pricing::{AppliedRule, RuleRef};
    use shared::record::RecordKind;
    let server = TestServer::spawn().await;
    let (merchant, _, mut till) = merchant_with_till(&server, 1).await;
    server.publish(merchant.id, ruleset()).await;
    let anna = server
        .customer(
            merchant.id,
            json!({"name": "Анна", "phone": "+79161234567"}),
        )
        .await;
    let double = shared::ids::PromotionId::parse("double-points").unwrap();
    // Double points gives no discount: it is named only in the record's
    // `applied`, with zero.
    let points_only = |r: &mut shared::record::PurchaseRecord| {
        r.applied.push(AppliedRule {
            rule: RuleRef::Promotion(double.clone()),
            discount: shared::money::Money::ZERO,
            funded_by: None,
        });
    };
    let (first, first_record) = till.record_edited(
        Purchase::sale(10_000)
            .by(anna.id)
            .discounted(1_000, "milk-10", None)
            .points(20, 0),
        points_only,
    );
    let second = till
        .record_edited(Purchase::sale(5_000).by(anna.id).points(10, 0), points_only)
        .0;
    assert_eq!(till.upload(&[first, second]).await.0, StatusCode::OK);
    let uses = |s: &shared::wire::sync::CustomerSnapshot| -> Vec<(String, u64)> {
        s.promotion_uses
            .iter()
            .map(|(id, n)| (id.to_string(), *n))
            .collect()
    };
    let snapshot = snapshot_of(&till, anna.id).await;
    assert_eq!(
        uses(&snapshot),
        [("double-points".to_owned(), 2), ("milk-10".to_owned(), 1)]
    );

    // The first sale comes back whole: both its uses are given back.
    let original = RecordRef {
        register_id: till.register_id,
        seq: first_record.seq,
        id: first_record.id,
    };
    let refund = till
        .record_edited(Purchase::refund(9_000, original).by(anna.id), |r| {
            r.kind = RecordKind::Return {
                original,
                original_lines: vec![0],
                uses_returned: vec![
                    double.clone(),
                    shared::ids::PromotionId::parse("milk-10").unwrap(),
                ],
            };
        })
        .0;
    assert_eq!(till.upload(&[refund]).await.0, StatusCode::OK);
    let snapshot = snapshot_of(&till, anna.id).await;
    assert_eq!(uses(&snapshot), [("double-points".to_owned(), 1)]);
}

/// The change feed's counters.
async fn feed_metrics(server: &TestServer) -> sync_server::wire::admin::CustomerFeedMetrics {
    server
        .admin_ok(Method::GET, "/api/v1/admin/customer-feed", None)
        .await
}

#[tokio::test]
async fn a_sale_wakes_every_waiting_register_for_one_page_computation() {
    const REGISTERS: usize = 12;
    let server = TestServer::spawn().await;
    let (merchant, store, first) = merchant_with_till(&server, 1).await;
    let mut tills = vec![first];
    for seed in 2..=REGISTERS {
        tills.push(server.enroll(store.id, seed as u8).await);
    }
    let anna = server
        .customer(
            merchant.id,
            json!({"name": "Анна", "phone": "+79160000011"}),
        )
        .await
        .id;
    // Till i has stored i sales without a customer: its own head.
    for (i, till) in tills.iter_mut().enumerate() {
        if i > 0 {
            let batch = till.records((0..i).map(|_| Purchase::sale(100)));
            assert_eq!(till.upload(&batch).await.0, StatusCode::OK);
        }
    }
    let cursor = changes(&tills[0], "after=0").await.next_cursor;

    let base_waiting = feed_metrics(&server).await.long_polls_waiting;
    let feeds: Vec<_> = tills
        .iter()
        .map(|till| {
            let (base, bearer, http) = (till.base.clone(), till.bearer(), till.http.clone());
            tokio::spawn(async move {
                http.get(format!(
                    "{base}/api/v1/customers/changes?after={cursor}&wait=5"
                ))
                .bearer_auth(bearer)
                .send()
                .await
                .unwrap()
                .json::<CustomerDeltaPage>()
                .await
                .unwrap()
            })
        })
        .collect();
    // Every feed is parked before the sale.
    let deadline = Deadline::after(Duration::from_secs(10)).every(Duration::from_millis(10));
    let mut parked = false;
    loop {
        if feed_metrics(&server).await.long_polls_waiting >= base_waiting + REGISTERS as u64 {
            parked = true;
            break;
        }
        if deadline.tick(String::new).await.is_err() {
            break;
        }
    }
    assert!(parked, "every register's feed waits");
    let before = feed_metrics(&server).await;

    let sale = tills[0].records([Purchase::sale(12_345).by(anna).points(1, 0)]);
    assert_eq!(tills[0].upload(&sale).await.0, StatusCode::OK);
    for (i, feed) in feeds.into_iter().enumerate() {
        let page = feed.await.unwrap();
        assert_eq!(page.customers.len(), 1, "register {i} hears of the sale");
        assert_eq!(page.customers[0].id, anna);
        assert_eq!(page.customers[0].lifetime_spend.minor(), 12_345);
        assert_eq!(page.customers[0].points_balance, 1);
        assert!(page.next_cursor > cursor);
        // Each register's own head, read in the page's snapshot.
        let head = if i == 0 { 1 } else { i as i64 };
        assert_eq!(
            page.stored_through.map(|s| s.get()),
            Some(head),
            "register {i}'s stored_through"
        );
    }
    let after = feed_metrics(&server).await;
    // On PostgreSQL the server also hears its own NOTIFY of the sale, a
    // second wake-up for the same change: a waiter that checks after it
    // builds one page more.
    let most = if crate::helpers::on_postgres() { 2 } else { 1 };
    let computed = after.pages_computed - before.pages_computed;
    assert!(
        (1..=most).contains(&computed),
        "{REGISTERS} registers at one cursor share one page, not {computed}"
    );
    assert!(after.checks_answered - before.checks_answered >= REGISTERS as u64);
}

/// Registers paced alike ask afresh (a new request each, not a wake-up)
/// at one cursor once their interval has passed: the first builds the
/// page and the others take it, each with its own `stored_through`.
#[tokio::test]
async fn registers_asking_afresh_after_their_pacing_share_one_page() {
    let server = TestServer::spawn().await;
    let (merchant, store, mut first) = merchant_with_till(&server, 1).await;
    let second = server.enroll(store.id, 2).await;
    let mut seller = server.enroll(store.id, 3).await;
    let anna = server
        .customer(
            merchant.id,
            json!({"name": "Анна", "phone": "+79160000013"}),
        )
        .await
        .id;
    // The first till stores a sale without a customer (no announcement):
    // its head differs from the second's.
    let quiet = first.records([Purchase::sale(700)]);
    assert_eq!(first.upload(&quiet).await.0, StatusCode::OK);
    let computed = feed_metrics(&server).await.pages_computed;
    let (a, b) = (
        changes(&first, "after=0").await,
        changes(&second, "after=0").await,
    );
    assert_eq!((a.customers.len(), b.customers.len()), (1, 1));
    assert_eq!(a.next_cursor, b.next_cursor);
    let shared_first = feed_metrics(&server).await.pages_computed - computed;

    // Анна buys at a third till; both are paced from their pages and ask
    // again at the same cursor, one after the other.
    let sale = seller.records([Purchase::sale(5_000).by(anna)]);
    assert_eq!(seller.upload(&sale).await.0, StatusCode::OK);
    let computed = feed_metrics(&server).await.pages_computed;
    let cursor = format!("after={}", a.next_cursor);
    let (a, b) = (
        changes(&first, &cursor).await,
        changes(&second, &cursor).await,
    );
    let shared_next = feed_metrics(&server).await.pages_computed - computed;
    assert_eq!(a.customers, b.customers);
    assert_eq!(a.customers.len(), 1);
    assert_eq!(a.customers[0].id, anna);
    assert_eq!(a.stored_through.map(|s| s.get()), Some(1));
    assert_eq!(b.stored_through, None, "the second till stored nothing");
    // On PostgreSQL a NOTIFY heard back may move the generation on between
    // the two requests, and the second builds a page more.
    let most = if crate::helpers::on_postgres() { 2 } else { 1 };
    for computed in [shared_first, shared_next] {
        assert!(
            (1..=most).contains(&computed),
            "two registers asking afresh at one cursor share one page, not {computed}"
        );
    }

    // A page that says more are ready (a till catching up) is not kept:
    // the next register asking for it builds its own.
    server
        .customer(
            merchant.id,
            json!({"name": "Борис", "phone": "+79160000014"}),
        )
        .await;
    let third = server.enroll(store.id, 4).await;
    let fourth = server.enroll(store.id, 5).await;
    let computed = feed_metrics(&server).await.pages_computed;
    let (c, d) = (
        changes(&third, "after=0&limit=1").await,
        changes(&fourth, "after=0&limit=1").await,
    );
    assert!(c.more && d.more);
    assert_eq!(c.customers, d.customers);
    assert_eq!(feed_metrics(&server).await.pages_computed - computed, 2);
}

#[tokio::test]
async fn a_register_that_stored_more_since_a_shared_page_gets_a_page_of_its_own() {
    let server = TestServer::spawn().await;
    let (merchant, store, mut till) = merchant_with_till(&server, 1).await;
    let mut other = server.enroll(store.id, 2).await;
    let anna = server
        .customer(
            merchant.id,
            json!({"name": "Анна", "phone": "+79160000012"}),
        )
        .await
        .id;
    let cursor = changes(&till, "after=0").await.next_cursor;
    // Two waiting registers share the page of Анна's sale.
    let feed = |till: &crate::helpers::Till| {
        let (base, bearer, http) = (till.base.clone(), till.bearer(), till.http.clone());
        tokio::spawn(async move {
            http.get(format!(
                "{base}/api/v1/customers/changes?after={cursor}&wait=5"
            ))
            .bearer_auth(bearer)
            .send()
            .await
            .unwrap()
            .json::<CustomerDeltaPage>()
            .await
            .unwrap()
        })
    };
    let base_waiting = feed_metrics(&server).await.long_polls_waiting;
    let feeds = [feed(&till), feed(&other)];
    let deadline = Deadline::after(Duration::from_secs(10)).every(Duration::from_millis(10));
    while feed_metrics(&server).await.long_polls_waiting < base_waiting + 2
        && deadline.tick(String::new).await.is_ok()
    {}
    let sale = till.records([Purchase::sale(5_000).by(anna)]);
    assert_eq!(till.upload(&sale).await.0, StatusCode::OK);
    for feed in feeds {
        assert_eq!(feed.await.unwrap().customers.len(), 1);
    }
    // The other register stores a sale without a customer (no wake-up),
    // then asks at the same cursor: the shared page read its old head, so
    // it gets a page of its own that says what it stored.
    let quiet = other.records([Purchase::sale(700)]);
    assert_eq!(other.upload(&quiet).await.0, StatusCode::OK);
    let page = changes(&other, &format!("after={cursor}")).await;
    assert_eq!(page.customers.len(), 1);
    assert_eq!(page.stored_through.map(|s| s.get()), Some(1));
    // The till that stored nothing since shares the page.
    let before = feed_metrics(&server).await.pages_computed;
    let page = changes(&till, &format!("after={cursor}")).await;
    assert_eq!(page.customers.len(), 1);
    assert_eq!(page.stored_through.map(|s| s.get()), Some(1));
    if !crate::helpers::on_postgres() {
        // (On PostgreSQL the NOTIFY heard back moved the generation on.)
        assert_eq!(feed_metrics(&server).await.pages_computed, before);
    }
}
