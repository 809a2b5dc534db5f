//! End to end: a real server on port 0 with a temporary SQLite database,
//! real agents enrolled with one-time tokens, real pseudo-terminals as
//! scanners, real HTTP throughout.

use std::time::Duration;

use reqwest::{Method, StatusCode};
use shared::ids::RulesetVersion;
use shared::money::Money;
use shared::pricing::RuleRef;
use shared::wire::till::{AttachCustomer, TillEvent};
use system_tests::clients::expect_status;
use system_tests::events::EventStream;
use system_tests::scenario::{self, CATALOG, line_json};
use system_tests::system::{TestAgent, TestServer, outbox_totals};

mod adjustments;
mod campaigns;
// The browser kit of sync-server's tests, shared by path; not every
// helper is used here.
#[allow(dead_code)]
#[path = "../../../sync-server/tests/api/web/chrome.rs"]
mod chrome;
mod cli;
mod contract;
mod faults;
mod fleet;
mod instances;
mod journey;
mod keys;
mod leases;
mod points;
mod privacy;
mod referrals;
mod reprice;
mod segments;
mod tls;
mod uplift;

const WAIT: Duration = Duration::from_secs(20);

fn kopecks(m: Money) -> i64 {
    m.minor()
}

async fn agent_for(
    server: &TestServer,
    store: shared::ids::StoreId,
    dir: &std::path::Path,
) -> anyhow::Result<TestAgent> {
    let token = server.admin().enrollment_token(store).await?;
    TestAgent::enroll(&server.url(), &token.token, dir).await
}

/// An agent enrolled in `store` once it prices with the chain's first
/// ruleset and knows every customer of the chain.
async fn ready_agent_for(
    server: &TestServer,
    chain: &scenario::Chain,
    store: shared::ids::StoreId,
    dir: &std::path::Path,
) -> anyhow::Result<TestAgent> {
    let agent = agent_for(server, store, dir).await?;
    agent.wait_ruleset(RulesetVersion::new(1)?, WAIT).await?;
    agent
        .wait_status(WAIT, |s| s.cached_customers >= chain.customers.len() as i64)
        .await?;
    Ok(agent)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_scanned_phone_token_prices_with_the_tier_and_reaches_hq_to_the_kopeck()
-> anyhow::Result<()> {
    let tmp = tempfile::tempdir()?;
    let (server, chain) = faults::server_with_chain(tmp.path(), "").await?;
    let admin = server.admin();
    let mut agent = ready_agent_for(
        &server,
        &chain,
        chain.stores[0].id,
        &tmp.path().join("till-1"),
    )
    .await?;
    let anna = &chain.customers[0];

    // A first purchase by phone number lifts Anna from Bronze to Silver.
    let by_phone = AttachCustomer::Phone("8 916 000-00-01".into());
    let check = agent
        .till
        .open_with(Some(&by_phone), &[(&CATALOG[5], 16)])
        .await?;
    let first = agent.till.commit(check.id).await?;
    assert_eq!(
        kopecks(first.pricing.total),
        2_078_400,
        "Bronze gives no discount"
    );
    assert_eq!(first.pricing.points_earned, 207);

    // The cashier scans Anna's phone: the token arrives through the pty.
    let mut events = EventStream::connect(agent.till.base()).await?;
    let check = agent
        .till
        .open_with(None, &[(&CATALOG[0], 2), (&CATALOG[3], 1)])
        .await?;
    let token = admin.customer_token(anna.id).await?;
    agent.scanner().scan(&token.token)?;
    let (customer, attached_to) = events
        .next_matching(WAIT, |ev| match ev {
            TillEvent::CustomerIdentified {
                customer, check_id, ..
            } => Some((customer, check_id)),
            _ => None,
        })
        .await?;
    assert_eq!(customer.id, anna.id);
    assert_eq!(customer.tier.as_deref(), Some("Silver"));
    assert_eq!(attached_to, Some(check.id));

    let priced = agent.till.price(check.id).await?.pricing;
    // Milk 2 × 89.90 = 179.80, dairy −10 % = 17.98; Silver 3 % of
    // (161.82 + 62.90) = 6.74; total 242.70 − 24.72 = 217.98; 2 points.
    assert_eq!(kopecks(priced.subtotal), 24_270);
    assert_eq!(kopecks(priced.discount), 2_472);
    assert_eq!(kopecks(priced.total), 21_798);
    assert_eq!(priced.points_earned, 2);
    assert_eq!(
        priced
            .lines
            .iter()
            .map(|l| kopecks(l.discount))
            .sum::<i64>(),
        2_472
    );
    assert!(
        priced
            .applied
            .iter()
            .any(|a| a.rule == RuleRef::Tier("Silver".into()))
    );
    assert!(priced.receipt.ru.iter().any(|l| l.contains("Silver")));
    let second = agent.till.commit(check.id).await?;
    assert_eq!(second.pricing, priced);

    agent.wait_synced(WAIT).await?;
    let stats = admin.stats(chain.merchant_id()).await?;
    assert_eq!(stats.totals.checks, 2);
    assert_eq!(kopecks(stats.totals.revenue), 2_078_400 + 21_798);
    assert_eq!(kopecks(stats.totals.discount), 2_472);
    assert_eq!(
        kopecks(stats.totals.average_check),
        (2_078_400 + 21_798 + 1) / 2
    );
    let female = stats
        .by_gender
        .iter()
        .find(|s| s.segment == "female")
        .expect("female segment");
    assert_eq!((female.customers, female.figures.checks), (1, 2));
    let dairy = stats
        .promotions
        .iter()
        .find(|p| p.promotion_id.as_str() == "dairy-10")
        .expect("dairy uses");
    assert_eq!((dairy.checks, kopecks(dairy.discount)), (1, 1_798));

    let view = admin.customer_view(anna.id).await?;
    assert_eq!(view.purchases.len(), 2);
    assert_eq!(kopecks(view.lifetime_spend), 2_078_400 + 21_798);
    assert_eq!(view.points_balance, 207 + 2);
    assert_eq!(view.tier.as_deref(), Some("Silver"));
    let (n, sum) = outbox_totals(agent.data_dir())?;
    assert_eq!((n, sum), (2, 2_078_400 + 21_798));
    agent.stop().await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_published_promotion_reaches_the_running_agent_and_prices_the_next_check()
-> anyhow::Result<()> {
    let tmp = tempfile::tempdir()?;
    let (server, chain) = faults::server_with_chain(tmp.path(), "").await?;
    let admin = server.admin();
    let mut agent = agent_for(&server, chain.stores[1].id, &tmp.path().join("till")).await?;
    agent.wait_ruleset(RulesetVersion::new(1)?, WAIT).await?;
    let mut events = EventStream::connect(agent.till.base()).await?;

    let check = agent.till.open_with(None, &[(&CATALOG[3], 2)]).await?;
    let before = agent.till.price(check.id).await?;
    assert_eq!(kopecks(before.pricing.discount), 0);
    assert_eq!(before.ruleset_version, Some(RulesetVersion::new(1)?));

    let published = admin
        .publish_promotion(chain.merchant_id(), &scenario::bread_promotion())
        .await?;
    assert_eq!(published.version, RulesetVersion::new(2)?);
    let activated = events
        .next_matching(WAIT, |ev| match ev {
            TillEvent::RulesetActivated { version } => Some(version),
            _ => None,
        })
        .await?;
    assert_eq!(activated, published.version);

    let after = agent.till.price(check.id).await?;
    assert_eq!(after.ruleset_version, Some(published.version));
    assert_eq!(kopecks(after.pricing.discount), 2_516, "20 % of 2 × 62.90");
    let bread = after
        .pricing
        .applied
        .iter()
        .find(|a| a.rule != RuleRef::Tier("Bronze".into()))
        .expect("applied");
    assert_eq!(bread.funded_by.as_deref(), Some("Хлебозавод №1"));
    let committed = agent.till.commit(check.id).await?;
    agent.wait_synced(WAIT).await?;
    let stats = admin.stats(chain.merchant_id()).await?;
    let uses = stats
        .promotions
        .iter()
        .find(|p| p.promotion_id.as_str() == "borodinsky-20")
        .expect("uses");
    assert_eq!(
        (uses.checks, uses.discount),
        (1, committed.pricing.discount)
    );
    agent.stop().await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_the_server_down_checks_commit_and_later_sync_exactly_once() -> anyhow::Result<()> {
    let tmp = tempfile::tempdir()?;
    let (mut server, chain) = faults::server_with_chain(tmp.path(), "").await?;
    let admin = server.admin();
    let mut agents = vec![
        agent_for(&server, chain.stores[0].id, &tmp.path().join("till-1")).await?,
        agent_for(&server, chain.stores[1].id, &tmp.path().join("till-2")).await?,
    ];
    for a in &agents {
        a.wait_ruleset(RulesetVersion::new(1)?, WAIT).await?;
    }
    // Tokens are issued while the server is up; phones keep showing them.
    let ivan = &chain.customers[1];
    let token = admin.customer_token(ivan.id).await?;
    for a in &agents {
        a.wait_status(WAIT, |s| s.cached_customers >= chain.customers.len() as i64)
            .await?;
    }

    server.stop().await?;
    let mut rng = scenario::Rng::new(7);
    let mut committed = 0;
    for round in 0..12 {
        for a in agents.iter_mut() {
            let check = a.till.open().await?;
            for _ in 0..1 + rng.below(4) {
                let p = &CATALOG[rng.below(CATALOG.len() as u64) as usize];
                a.till
                    .add_line(check.id, &line_json(p, 1 + rng.below(3) as u32))
                    .await?;
            }
            if round % 3 == 0 {
                let mut events = EventStream::connect(a.till.base()).await?;
                a.scanner().scan(&token.token)?;
                events
                    .next_matching(WAIT, |ev| {
                        matches!(ev, TillEvent::CustomerIdentified { .. }).then_some(())
                    })
                    .await?;
            } else if round % 3 == 1 {
                let card = chain.customers[2].card_number.to_string();
                a.till.attach(check.id, &AttachCustomer::Card(card)).await?;
            }
            a.till.commit(check.id).await?;
            committed += 1;
        }
    }
    for a in &agents {
        let s = a.till.status().await?;
        assert_eq!(
            s.outbox_pending, 12,
            "nothing leaves while the server is down"
        );
        assert!(!s.server_reachable);
    }

    server.restart().await?;
    for a in &agents {
        a.wait_synced(WAIT).await?;
    }
    let mut till_checks = 0;
    let mut till_sum = 0;
    for a in &agents {
        let (n, sum) = outbox_totals(a.data_dir())?;
        till_checks += n;
        till_sum += sum;
    }
    assert_eq!(till_checks, committed);
    let stats = admin.stats(chain.merchant_id()).await?;
    assert_eq!(stats.totals.checks, till_checks);
    assert_eq!(kopecks(stats.totals.revenue), till_sum);
    let by_store: i64 = stats.by_store.iter().map(|s| s.figures.checks).sum();
    assert_eq!(by_store, till_checks);

    // Replay everything: mark the outbox unsent and restart the agents. The
    // server must count nothing twice.
    for a in agents.iter_mut() {
        a.stop().await?;
        system_tests::system::mark_outbox_unsent(a.data_dir())?;
        a.restart().await?;
        a.wait_synced(WAIT).await?;
    }
    let again = admin.stats(chain.merchant_id()).await?;
    assert_eq!(again, stats);
    let ivan_view = admin.customer_view(ivan.id).await?;
    assert_eq!(ivan_view.purchases.len(), 8);
    for a in agents.iter_mut() {
        a.stop().await?;
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_gets_clear_4xx_and_nothing_is_committed_twice_or_lost() -> anyhow::Result<()> {
    let tmp = tempfile::tempdir()?;
    let (server, chain) = faults::server_with_chain(tmp.path(), "").await?;
    let admin = server.admin();
    let enrollment = admin.enrollment_token(chain.stores[0].id).await?;
    let mut agent =
        TestAgent::enroll(&server.url(), &enrollment.token, &tmp.path().join("till")).await?;
    agent.wait_ruleset(RulesetVersion::new(1)?, WAIT).await?;
    let till = agent.till.clone();

    // Malformed JSON and an unknown check.
    let check = till.open().await?;
    let (status, body) = till
        .raw(
            Method::POST,
            &format!("/v1/checks/{}/lines", check.id),
            "{\"sku\": ",
        )
        .await?;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert!(body.contains("\"error\""), "{body}");
    expect_status(
        till.price(uuid::Uuid::now_v7()).await,
        StatusCode::NOT_FOUND,
    )?;

    // Zero and negative quantities, a price beyond the money range.
    let mut bad = line_json(&CATALOG[0], 1);
    for q in [
        serde_json::json!(0),
        serde_json::json!(-1),
        serde_json::json!("0.000"),
    ] {
        bad["quantity"] = q;
        let err = till
            .add_line(check.id, &bad)
            .await
            .expect_err("bad quantity");
        let status = system_tests::clients::status_of(&err).expect("an HTTP error");
        assert!(status.is_client_error(), "{status}");
    }
    let mut huge = line_json(&CATALOG[0], 1);
    huge["unit_price"] = serde_json::json!(Money::MAX_MINOR + 1);
    let err = till
        .add_line(check.id, &huge)
        .await
        .expect_err("price beyond range");
    assert!(system_tests::clients::status_of(&err).is_some_and(|s| s.is_client_error()));

    // Unknown and tampered tokens, typed in and scanned.
    let token = admin.customer_token(chain.customers[0].id).await?.token;
    let mut tampered: Vec<char> = token.chars().collect();
    tampered[10] = if tampered[10] == 'A' { 'B' } else { 'A' };
    let tampered: String = tampered.into_iter().collect();
    for t in ["LT1NOTATOKEN", tampered.as_str()] {
        let body = expect_status(
            till.attach(check.id, &AttachCustomer::Token(t.into()))
                .await,
            StatusCode::UNPROCESSABLE_ENTITY,
        )?;
        assert!(body.is_some_and(|b| !b.message.is_empty()));
    }
    let mut events = EventStream::connect(till.base()).await?;
    agent.scanner().scan(&tampered)?;
    let reason = events
        .next_matching(WAIT, |ev| match ev {
            TillEvent::ScanRejected { reason, .. } => Some(reason),
            _ => None,
        })
        .await?;
    assert!(!reason.is_empty());
    let unknown_card =
        shared::identity::Ean13::card_for(shared::ids::CustomerId::new(99_999)?).to_string();
    let mut wrong_check_digit = unknown_card.clone();
    let last = wrong_check_digit
        .pop()
        .and_then(|c| c.to_digit(10))
        .unwrap_or(0);
    wrong_check_digit.push_str(&((last + 1) % 10).to_string());
    expect_status(
        till.attach(check.id, &AttachCustomer::Card(unknown_card))
            .await,
        StatusCode::NOT_FOUND,
    )?;
    expect_status(
        till.attach(check.id, &AttachCustomer::Card(wrong_check_digit))
            .await,
        StatusCode::UNPROCESSABLE_ENTITY,
    )?;

    // An empty check cannot be committed; a committed check cannot be committed again.
    expect_status(
        till.commit(check.id).await,
        StatusCode::UNPROCESSABLE_ENTITY,
    )?;
    till.add_line(check.id, &line_json(&CATALOG[1], 1)).await?;
    till.commit(check.id).await?;
    expect_status(till.commit(check.id).await, StatusCode::NOT_FOUND)?;

    // A reused enrollment token is refused.
    let err = pos_agent::enroll(&server.url(), &enrollment.token, &tmp.path().join("till-2"))
        .await
        .expect_err("reused token");
    assert!(
        format!("{err:#}").to_lowercase().contains("used"),
        "{err:#}"
    );

    agent.wait_synced(WAIT).await?;
    assert_eq!(outbox_totals(agent.data_dir())?, (1, 6_705));
    let stats = admin.stats(chain.merchant_id()).await?;
    assert_eq!(
        (stats.totals.checks, kopecks(stats.totals.revenue)),
        (1, 6_705)
    );
    agent.stop().await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn points_paid_and_a_return_in_two_parts_settle_at_hq_to_the_point() -> anyhow::Result<()> {
    use shared::ids::Sku;
    use shared::money::Quantity;
    use shared::wire::till::{OriginalSale, ReturnItem, ReturnRequest};

    let tmp = tempfile::tempdir()?;
    let (server, chain) = faults::server_with_chain(tmp.path(), "").await?;
    let admin = server.admin();
    let mut agent = ready_agent_for(
        &server,
        &chain,
        chain.stores[0].id,
        &tmp.path().join("till"),
    )
    .await?;
    let ivan = &chain.customers[1];
    let card = AttachCustomer::Card(ivan.card_number.to_string());

    // 16 kg of coffee earn 207 points.
    let check = agent
        .till
        .open_with(Some(&card), &[(&CATALOG[5], 16)])
        .await?;
    let first = agent.till.commit(check.id).await?;
    assert_eq!(first.pricing.points_earned, 207);

    // Ivan (now Silver) pays 150 of them on chocolate and milk.
    let check = agent
        .till
        .open_with(Some(&card), &[(&CATALOG[8], 3), (&CATALOG[0], 2)])
        .await?;
    let view = agent.till.redeem(check.id, 150).await?;
    assert_eq!(view.customer.as_ref().map(|c| c.points_balance), Some(207));
    assert_eq!(view.pricing.points_redeemed, 150);
    let second = agent.till.commit(check.id).await?;
    let sale = second.record_id;

    // One bar back, then the rest.
    let first_part = agent
        .till
        .return_items(&ReturnRequest {
            original: OriginalSale::Record { record_id: sale },
            lines: vec![ReturnItem {
                line_no: None,
                sku: Some(Sku::parse(CATALOG[8].sku)?),
                quantity: Quantity::ONE,
            }],
        })
        .await?;
    let rest = agent
        .till
        .return_items(&ReturnRequest {
            original: OriginalSale::Seq {
                register_id: agent.till.status().await?.register_id,
                seq: second.seq,
            },
            lines: vec![
                ReturnItem {
                    line_no: Some(0),
                    sku: None,
                    quantity: Quantity::from_units(2)?,
                },
                ReturnItem {
                    line_no: Some(1),
                    sku: None,
                    quantity: Quantity::from_units(2)?,
                },
            ],
        })
        .await?;
    assert_eq!(
        first_part.refund.minor() + rest.refund.minor(),
        second.pricing.total.minor(),
        "two returns refund the check to the kopeck"
    );
    assert_eq!(first_part.points_restored + rest.points_restored, 150);
    assert_eq!(
        first_part.points_clawed_back + rest.points_clawed_back,
        second.pricing.points_earned
    );
    let again = agent
        .till
        .return_items(&ReturnRequest {
            original: OriginalSale::Record { record_id: sale },
            lines: vec![ReturnItem {
                line_no: Some(1),
                sku: None,
                quantity: Quantity::ONE,
            }],
        })
        .await;
    expect_status(again, StatusCode::UNPROCESSABLE_ENTITY)?;

    // HQ: the balance and spend are back where the first sale left them.
    agent.wait_synced(WAIT).await?;
    let view = admin.customer_view(ivan.id).await?;
    assert_eq!(view.points_balance, 207);
    assert_eq!(kopecks(view.lifetime_spend), kopecks(first.pricing.total));
    assert_eq!(view.purchases.len(), 4);
    let stats = admin.stats(chain.merchant_id()).await?;
    assert_eq!((stats.totals.checks, stats.totals.returns), (2, 2));
    assert_eq!(kopecks(stats.totals.revenue), kopecks(first.pricing.total));
    let (n, sum) = outbox_totals(agent.data_dir())?;
    assert_eq!((n, sum), (4, kopecks(first.pricing.total)));
    agent.stop().await?;
    Ok(())
}

/// A sale at one till comes back at another: the second till fetches the
/// signed sale and the returns stored of it from the server, so no till
/// gives back more than was sold, and keeps them, so the rest comes back
/// there even with the server down.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sale_comes_back_at_another_till_even_offline_and_never_twice() -> anyhow::Result<()> {
    use shared::ids::Sku;
    use shared::money::Quantity;
    use shared::wire::till::{OriginalSale, ReturnItem, ReturnRequest};

    let tmp = tempfile::tempdir()?;
    let (mut server, chain) = faults::server_with_chain(tmp.path(), "").await?;
    let admin = server.admin();
    let mut seller =
        ready_agent_for(&server, &chain, chain.stores[0].id, &tmp.path().join("a")).await?;
    let mut other =
        ready_agent_for(&server, &chain, chain.stores[1].id, &tmp.path().join("b")).await?;
    let ivan = &chain.customers[1];
    let card = AttachCustomer::Card(ivan.card_number.to_string());
    let points_before = admin.customer_view(ivan.id).await?.points_balance;

    // Three bars of chocolate and 16 kg of coffee at the first till.
    let check = seller
        .till
        .open_with(Some(&card), &[(&CATALOG[8], 3), (&CATALOG[5], 16)])
        .await?;
    let sale = seller.till.commit(check.id).await?;
    assert!(sale.pricing.points_earned > 0);
    seller.wait_synced(WAIT).await?;
    let seller_id = seller.till.status().await?.register_id;
    let chocolate = Sku::parse(CATALOG[8].sku)?;
    let bars = |n: i64| -> anyhow::Result<ReturnRequest> {
        Ok(ReturnRequest {
            original: OriginalSale::Seq {
                register_id: seller_id,
                seq: sale.seq,
            },
            lines: vec![ReturnItem {
                line_no: None,
                sku: Some(chocolate.clone()),
                quantity: Quantity::from_units(n)?,
            }],
        })
    };

    // One bar back at the other till, which never saw the sale.
    let first = other.till.return_items(&bars(1)?).await?;
    assert_eq!(first.original_record_id, sale.record_id);
    other.wait_synced(WAIT).await?;

    // The seller's till learns of it: three more bars are too many.
    let too_many = seller.till.return_items(&bars(3)?).await;
    expect_status(too_many, StatusCode::UNPROCESSABLE_ENTITY)?;
    let second = seller.till.return_items(&bars(1)?).await?;
    seller.wait_synced(WAIT).await?;

    // With the server down, the coffee comes back at the other till from
    // the sale it keeps.
    server.stop().await?;
    let coffee = other
        .till
        .return_items(&ReturnRequest {
            original: OriginalSale::Record {
                record_id: sale.record_id,
            },
            lines: vec![ReturnItem {
                line_no: Some(1),
                sku: None,
                quantity: Quantity::from_units(16)?,
            }],
        })
        .await?;
    server.restart().await?;
    other.wait_synced(WAIT).await?;

    // HQ: refunds and points settle to the kopeck and the point.
    let refunds = first.refund.minor() + second.refund.minor() + coffee.refund.minor();
    let view = admin.customer_view(ivan.id).await?;
    let clawed = first.points_clawed_back + second.points_clawed_back + coffee.points_clawed_back;
    assert_eq!(
        view.points_balance,
        points_before + sale.pricing.points_earned - clawed
    );
    let bar_left =
        sale.pricing.lines[0].total.minor() - first.refund.minor() - second.refund.minor();
    assert!(bar_left > 0, "one bar is still sold");
    assert_eq!(refunds + bar_left, sale.pricing.total.minor());
    let stats = admin.stats(chain.merchant_id()).await?;
    assert_eq!((stats.totals.checks, stats.totals.returns), (1, 3));
    assert_eq!(kopecks(stats.totals.revenue), bar_left);
    seller.stop().await?;
    other.stop().await?;
    Ok(())
}
