//! Uplift against a holdout end to end (issue 13): a merchant's marketer
//! publishes a promotion that holds out half of its customers; a real till
//! prices it, online and with the server down, for customers the test
//! registered on both sides of [`shared::holdout`]'s split; the records
//! upload; and the promotions report HQ reads (the same view its page
//! loads, through the JSON API and the CSV export, with an analyst's API
//! key) equals a direct computation over the sales the test made: too few
//! customers to tell with a handful a side, and an estimate whose
//! difference is exact to the kopeck once each side has
//! [`MIN_GROUP`] customers.
//!
//! The server and the till read one manual clock, so the days are fixed
//! (the uplift compares the days before a promotion with the days it ran):
//! day 0 chooses the first customers, the promotion runs from day 1; day 3
//! chooses the second group and day 4 measures it.

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::{Context as _, bail, ensure};
use chrono::{DateTime, Days, NaiveDate, TimeDelta, Utc};
use chrono_tz::Europe::Moscow;
use shared::holdout::is_held_out;
use shared::identity::{Gender, PhoneNumber};
use shared::ids::{CustomerId, MerchantId, PromotionId, RulesetVersion, Sku};
use shared::money::{BasisPoints, Quantity};
use shared::pricing::{BlockReason, Condition, PricedCheck, RuleRef};
use shared::ruleset::{Apply, Promotion, Reward, Target};
use shared::wire::till::{AttachCustomer, Committed, OriginalSale, ReturnItem, ReturnRequest};
use sync_server::clock::{Clock as _, ManualClock};
use sync_server::services::analytics::uplift::MIN_GROUP;
use sync_server::wire::admin::{CustomerView, NewApiKey, NewCustomer, NewStore};
use sync_server::wire::analytics::{
    Period, PromotionsView, UpliftEstimate, UpliftGroup, UpliftRow, UpliftVerdict,
};
use system_tests::clients::AdminClient;
use system_tests::scenario::{self, CATALOG, Product};
use system_tests::system::{AgentOptions, TestAgent, TestServer, tune_for_tests};

use crate::WAIT;

const PROMOTION: &str = "coffee-15";
const PROMOTION_NAME: &str = "Кофе −15 %";
/// Half of the customers are held out.
const SHARE_BP: u32 = 5_000;
const COFFEE: &Product = &CATALOG[5];
const MILK: &Product = &CATALOG[0];
const BREAD: &Product = &CATALOG[3];
/// 15 % of a kilo of coffee at 1 299,00 ₽.
const COFFEE_OFF: i64 = 19_485;
/// Customers a side in the first, small comparison.
const SMALL: usize = 3;

/// Noon in Moscow on day 0 (a Monday).
fn day0_noon() -> DateTime<Utc> {
    "2026-03-02T09:00:00Z".parse().expect("constant")
}

/// The till reads the server's clock: one time for the whole system.
struct SharedClock(Arc<ManualClock>);

impl pos_agent::Clock for SharedClock {
    fn now(&self) -> DateTime<Utc> {
        self.0.now()
    }
}

/// How the cashier identifies a customer.
#[derive(Clone, Copy, Debug)]
enum Via {
    Card,
    Phone,
    /// The phone's QR token, issued by the server just before (online only).
    Token,
}

/// A customer the test registered.
#[derive(Clone)]
struct Member {
    view: CustomerView,
    /// The phone number as a cashier types it.
    typed_phone: String,
    held_out: bool,
}

/// What one sale or return added to a customer's figures.
#[derive(Debug)]
struct Sold {
    customer: Option<CustomerId>,
    /// Moscow's day of the till's clock.
    day: NaiveDate,
    /// Paid, or less for a refund, kopecks.
    net: i64,
}

/// The till, the clock and what was sold through them.
struct Shop {
    admin: AdminClient,
    merchant: MerchantId,
    agent: TestAgent,
    clock: Arc<ManualClock>,
    promotion: PromotionId,
    share: BasisPoints,
    starts_at: DateTime<Utc>,
    log: Vec<Sold>,
}

impl Shop {
    fn today(&self) -> NaiveDate {
        self.clock.now().with_timezone(&Moscow).date_naive()
    }

    /// Sells `lines` to `who` (identified `via`) through the till's local
    /// API and checks the till's own pricing of the promotion: none before
    /// it starts; after, none for a held-out customer (blocked, with the
    /// holdout as the reason) and 15 % of each coffee for everyone else.
    async fn sell(
        &mut self,
        who: Option<(&Member, Via)>,
        lines: &[(&Product, u32)],
    ) -> anyhow::Result<Committed> {
        let till = &self.agent.till;
        let check = till.open().await?;
        if let Some((m, via)) = who {
            let how = match via {
                Via::Card => AttachCustomer::Card(m.view.card_number.to_string()),
                Via::Phone => AttachCustomer::Phone(m.typed_phone.clone()),
                Via::Token => {
                    AttachCustomer::Token(self.admin.customer_token(m.view.id).await?.token)
                }
            };
            let attached = till.attach(check.id, &how).await?;
            ensure!(
                attached.customer.as_ref().map(|c| c.id) == Some(m.view.id),
                "{via:?} found {:?}",
                attached.customer
            );
        }
        for (product, qty) in lines {
            till.add_line(check.id, &scenario::line_json(product, *qty))
                .await?;
        }
        let committed = till.commit(check.id).await?;
        let coffees: i64 = lines
            .iter()
            .filter(|(p, _)| p.sku == COFFEE.sku)
            .map(|(_, q)| i64::from(*q))
            .sum();
        let pricing = &committed.pricing;
        let held = who.is_some_and(|(m, _)| m.held_out);
        let active = self.clock.now() >= self.starts_at;
        let given = self.discount_of(pricing);
        if !active || coffees == 0 {
            ensure!(given.is_none(), "not running or no coffee: {pricing:?}");
        } else if held {
            ensure!(given.is_none(), "held out, yet discounted: {pricing:?}");
            let blocked = pricing
                .blocked
                .iter()
                .find(|b| b.rule == RuleRef::Promotion(self.promotion.clone()))
                .with_context(|| format!("the holdout is not explained: {pricing:?}"))?;
            ensure!(
                blocked.reason
                    == BlockReason::ConditionNotMet {
                        condition: Condition::HeldOut
                    },
                "{blocked:?}"
            );
        } else {
            ensure!(
                given == Some(COFFEE_OFF * coffees),
                "exposed: {given:?} for {coffees} coffee(s): {pricing:?}"
            );
            ensure!(
                !pricing
                    .blocked
                    .iter()
                    .any(|b| b.rule == RuleRef::Promotion(self.promotion.clone())),
                "{pricing:?}"
            );
        }
        self.log.push(Sold {
            customer: who.map(|(m, _)| m.view.id),
            day: self.today(),
            net: pricing.total.minor(),
        });
        Ok(committed)
    }

    /// What the promotion took off a check, if it applied.
    fn discount_of(&self, pricing: &PricedCheck) -> Option<i64> {
        pricing
            .applied
            .iter()
            .find(|a| a.rule == RuleRef::Promotion(self.promotion.clone()))
            .map(|a| a.discount.minor())
    }

    /// Moves the system's clock on to noon of the next day.
    fn next_day(&self) {
        self.clock.advance(TimeDelta::days(1));
    }

    /// Waits until every record reached the server.
    async fn synced(&self) -> anyhow::Result<()> {
        self.agent.wait_synced(WAIT).await.map(drop)
    }
}

/// `n / d` rounded half away from zero, as the report rounds its means.
fn half_up(n: i128, d: i128) -> i64 {
    let q = if n < 0 {
        -((2 * -n + d) / (2 * d))
    } else {
        (2 * n + d) / (2 * d)
    };
    i64::try_from(q).expect("in range")
}

/// The difference of the means of `exposed` and `held` (times `scale`),
/// its 95 % interval (normal approximation of Welch's test) and verdict,
/// straight from the figures.
#[allow(clippy::cast_precision_loss, clippy::cast_possible_truncation)]
fn expected_estimate(exposed: &[i64], held: &[i64], scale: i64) -> UpliftEstimate {
    let (ne, nh) = (exposed.len() as i128, held.len() as i128);
    let sum = |xs: &[i64]| xs.iter().map(|&x| i128::from(x)).sum::<i128>();
    let sum_sq = |xs: &[i64]| xs.iter().map(|&x| i128::from(x).pow(2)).sum::<i128>();
    let numerator = i128::from(scale) * (sum(exposed) * nh - sum(held) * ne);
    let mean = |xs: &[i64]| {
        if xs.is_empty() {
            0
        } else {
            half_up(sum(xs) * i128::from(scale), xs.len() as i128)
        }
    };
    let difference = if ne == 0 || nh == 0 {
        mean(exposed) - mean(held)
    } else {
        half_up(numerator, ne * nh)
    };
    let var = |xs: &[i64]| {
        let n = xs.len() as i128;
        (n * sum_sq(xs) - sum(xs).pow(2)) as f64 / (n * n * (n - 1)) as f64
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
    let min = usize::try_from(MIN_GROUP).expect("small");
    let verdict = match (low, high) {
        _ if exposed.len() < min || held.len() < min => UpliftVerdict::TooFew,
        (Some(l), _) if l > 0 => UpliftVerdict::Higher,
        (_, Some(h)) if h < 0 => UpliftVerdict::Lower,
        _ => UpliftVerdict::Unclear,
    };
    UpliftEstimate {
        difference,
        low,
        high,
        verdict,
    }
}

/// The promotion against its holdout over `window`, from the sales the
/// test made: the customers with a sale or return in as many days just
/// before, split by the holdout; each one's net spend and days with a
/// record in the window, zero included.
fn expected_row(shop: &Shop, window: Period) -> UpliftRow {
    let days = (window.to - window.from).num_days() + 1;
    let baseline = Period {
        from: window.from - TimeDelta::days(days),
        to: window.from - TimeDelta::days(1),
    };
    let mut who: BTreeMap<CustomerId, (bool, i64, BTreeSet<NaiveDate>)> = BTreeMap::new();
    for s in &shop.log {
        let Some(c) = s.customer else { continue };
        let e = who.entry(c).or_default();
        if s.day >= baseline.from && s.day <= baseline.to {
            e.0 = true;
        } else if s.day >= window.from && s.day <= window.to {
            e.1 += s.net;
            e.2.insert(s.day);
        }
    }
    let (mut exposed, mut held) = ((vec![], vec![]), (vec![], vec![]));
    for (c, (before, spend, visits)) in who {
        if !before {
            continue;
        }
        let side = if is_held_out(c, &shop.promotion, shop.share) {
            &mut held
        } else {
            &mut exposed
        };
        side.0.push(spend);
        side.1.push(i64::try_from(visits.len()).expect("few"));
    }
    let group = |g: &(Vec<i64>, Vec<i64>)| {
        let n = g.0.len() as i128;
        let mean = |xs: &[i64], scale: i128| {
            if n == 0 {
                0
            } else {
                half_up(xs.iter().map(|&x| i128::from(x)).sum::<i128>() * scale, n)
            }
        };
        UpliftGroup {
            customers: i64::try_from(g.0.len()).expect("few"),
            spend: mean(&g.0, 1),
            visits_milli: mean(&g.1, 1000),
        }
    };
    UpliftRow {
        promotion_id: PROMOTION.to_owned(),
        name: PROMOTION_NAME.to_owned(),
        holdout_bp: SHARE_BP,
        window,
        baseline,
        exposed: group(&exposed),
        held_out: group(&held),
        spend: expected_estimate(&exposed.0, &held.0, 1),
        visits: expected_estimate(&exposed.1, &held.1, 1000),
    }
}

/// The uplift rows of the promotions report for `query`, as HQ's analyst
/// reads them.
async fn report(analyst: &AdminClient, shop: &Shop, query: &str) -> anyhow::Result<Vec<UpliftRow>> {
    let merchant = shop.merchant;
    let view: PromotionsView = analyst.analytics(merchant, "promotions", query).await?;
    Ok(view.uplift)
}

/// The verdicts on spend and on visits the CSV export writes for the
/// promotion, in words.
async fn csv_verdicts(
    analyst: &AdminClient,
    shop: &Shop,
    query: &str,
) -> anyhow::Result<(String, String)> {
    let merchant = shop.merchant;
    let text = analyst.analytics_csv(merchant, "uplift", query).await?;
    for line in text.split("\r\n").skip(1) {
        let fields: Vec<&str> = line.split(';').map(|f| f.trim_matches('"')).collect();
        if fields.first() == Some(&PROMOTION) && fields.len() == 19 {
            return Ok((fields[12].to_owned(), fields[18].to_owned()));
        }
    }
    bail!("no row of {PROMOTION} in the export: {text}")
}

fn day(d: NaiveDate, n: u64) -> NaiveDate {
    d.checked_add_days(Days::new(n)).expect("in range")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_real_till_holds_customers_out_and_the_uplift_report_equals_the_sales_to_the_kopeck()
-> anyhow::Result<()> {
    let tmp = tempfile::tempdir()?;
    let clock = Arc::new(ManualClock::new(day0_noon()));
    let mut server = TestServer::start_with_clock(
        &tmp.path().join("server"),
        SocketAddr::from(([127, 0, 0, 1], 0)),
        "",
        clock.clone(),
    )
    .await?;
    let admin = server.admin();
    let merchant = admin.merchant("Ромашка").await?.id;
    let store = admin
        .store(
            merchant,
            &NewStore {
                brand_id: None,
                name: "Тверская, 12".into(),
                timezone: "Europe/Moscow".parse()?,
            },
        )
        .await?;
    admin.publish(merchant, &scenario::programme()).await?;
    let key = |name: &str, role: &str| NewApiKey {
        name: name.into(),
        role: role.into(),
        stores: vec![],
    };
    let marketer = admin.with_token(
        &admin
            .api_key(merchant, &key("Маркетинг", "marketer"))
            .await?
            .token,
    );
    let analyst = admin.with_token(&admin.api_key(merchant, &key("BI", "analyst")).await?.token);

    // Customers on both sides of the split: a few a side for the first
    // comparison, one who first comes once the promotion runs, MIN_GROUP a
    // side for the second, and whoever else registered and never came.
    let promotion = PromotionId::parse(PROMOTION)?;
    let share = BasisPoints::new(SHARE_BP)?;
    let min = usize::try_from(MIN_GROUP)?;
    let (mut small, mut large): ([Vec<Member>; 2], [Vec<Member>; 2]) = Default::default();
    let mut late = None;
    let mut registered = 0;
    while late.is_none()
        || small.iter().any(|g| g.len() < SMALL)
        || large.iter().any(|g| g.len() < min)
    {
        ensure!(registered < 400, "the split is far from half");
        let phone = format!("+7917{registered:07}");
        let view = admin
            .customer(
                merchant,
                &NewCustomer {
                    name: format!("Покупатель {registered}"),
                    phone: Some(PhoneNumber::parse(&phone)?),
                    email: None,
                    gender: if registered % 2 == 0 {
                        Gender::Female
                    } else {
                        Gender::Male
                    },
                    birth_date: None,
                },
            )
            .await?;
        registered += 1;
        let held_out = is_held_out(view.id, &promotion, share);
        let m = Member {
            view,
            typed_phone: format!("8 917 {}", &phone[5..]),
            held_out,
        };
        let side = usize::from(held_out);
        if small[side].len() < SMALL {
            small[side].push(m);
        } else if late.is_none() {
            late = Some(m);
        } else if large[side].len() < min {
            large[side].push(m);
        }
    }
    let late = late.context("a late customer")?;

    let token = admin.enrollment_token(store.id).await?;
    let mut config =
        pos_agent::enroll(&server.url(), &token.token, &tmp.path().join("till")).await?;
    tune_for_tests(&mut config);
    let agent = TestAgent::start_with(
        config,
        AgentOptions {
            scanner: false,
            clock: Some(Arc::new(SharedClock(clock.clone()))),
        },
    )
    .await?;
    agent
        .wait_status(WAIT, |s| {
            s.ruleset_version == Some(RulesetVersion::new(1).expect("1"))
                && s.cached_customers >= registered
        })
        .await?;

    // Day 0: the marketer publishes "coffee −15 %" from tomorrow (midnight
    // in Moscow), holding out half of the customers.
    let starts_at = day0_noon() + TimeDelta::hours(12);
    let coffee = Promotion {
        id: promotion.clone(),
        name: PROMOTION_NAME.into(),
        description: "Скидка 15 % на зерновой кофе".into(),
        target: Target::Skus {
            skus: vec![Sku::parse(COFFEE.sku)?],
        },
        reward: Reward::PercentOff {
            percent: BasisPoints::new(1_500)?,
            apply: Apply::Each,
        },
        starts_at: Some(starts_at),
        priority: 0,
        combines_with_tier: true,
        funded_by: None,
        holdout: Some(share),
        ..scenario::bread_promotion()
    };
    let published = marketer.publish_promotion(merchant, &coffee).await?;
    agent.wait_ruleset(published.version, WAIT).await?;
    let mut shop = Shop {
        admin: admin.clone(),
        merchant,
        agent,
        clock: clock.clone(),
        promotion,
        share,
        starts_at,
        log: Vec::new(),
    };
    let day_0 = shop.today();

    // Day 0 chooses the small group: each of them shops once.
    let [exposed, held] = &small;
    let vias = [Via::Card, Via::Phone, Via::Token];
    for (i, m) in exposed.iter().chain(held).enumerate() {
        let lines: &[(&Product, u32)] = if i == 0 {
            &[(COFFEE, 1), (BREAD, 1)]
        } else {
            &[(MILK, 1 + u32::try_from(i % 3)?), (BREAD, 1)]
        };
        shop.sell(Some((m, vias[i % 3])), lines).await?;
    }
    shop.sell(None, &[(COFFEE, 1)]).await?;
    shop.synced().await?;

    // Day 1: the promotion runs; part of the day with the server down.
    shop.next_day();
    let day_1 = shop.today();
    let first = shop
        .sell(Some((&exposed[0], Via::Token)), &[(COFFEE, 2)])
        .await?;
    shop.sell(Some((&exposed[1], Via::Phone)), &[(COFFEE, 1), (MILK, 2)])
        .await?;
    shop.sell(Some((&held[0], Via::Card)), &[(COFFEE, 1)])
        .await?;
    shop.sell(Some((&held[1], Via::Token)), &[(COFFEE, 2), (BREAD, 1)])
        .await?;
    shop.sell(Some((&late, Via::Card)), &[(COFFEE, 1)]).await?;
    shop.sell(None, &[(COFFEE, 1)]).await?;
    shop.synced().await?;
    server.stop().await?;
    shop.sell(Some((&exposed[2], Via::Phone)), &[(COFFEE, 1)])
        .await?;
    shop.sell(Some((&held[0], Via::Card)), &[(MILK, 1)]).await?;
    shop.sell(Some((&held[2], Via::Phone)), &[(COFFEE, 1), (MILK, 1)])
        .await?;
    let offline = shop.agent.till.status().await?;
    ensure!(
        offline.outbox_pending == 3,
        "nothing leaves while the server is down: {offline:?}"
    );
    server.restart().await?;
    shop.synced().await?;

    // Day 2: one coffee of day 1 comes back; a few come again.
    shop.next_day();
    let day_2 = shop.today();
    let back = shop
        .agent
        .till
        .return_items(&ReturnRequest {
            original: OriginalSale::Record {
                record_id: first.record_id,
            },
            lines: vec![ReturnItem {
                line_no: None,
                sku: Some(Sku::parse(COFFEE.sku)?),
                quantity: Quantity::ONE,
            }],
        })
        .await?;
    assert_eq!(
        back.refund.minor(),
        COFFEE.price - COFFEE_OFF,
        "a returned coffee refunds what was paid for it"
    );
    shop.log.push(Sold {
        customer: Some(exposed[0].view.id),
        day: day_2,
        net: -back.refund.minor(),
    });
    shop.sell(Some((&exposed[2], Via::Card)), &[(COFFEE, 3)])
        .await?;
    shop.sell(Some((&held[1], Via::Card)), &[(COFFEE, 1)])
        .await?;
    shop.synced().await?;

    // Three customers a side: the report tells the figures and that they
    // are too few to tell a difference.
    let window = Period {
        from: day_1,
        to: day_2,
    };
    let want = expected_row(&shop, window);
    assert_eq!(
        (want.exposed.customers, want.held_out.customers),
        (3, 3),
        "the late customer and the anonymous checks are not compared"
    );
    assert!(want.spend.difference != 0 && want.visits.difference != 0);
    let query = format!("from={day_1}&to={day_2}");
    assert_eq!(report(&analyst, &shop, &query).await?, vec![want.clone()]);
    assert_eq!(want.spend.verdict, UpliftVerdict::TooFew);
    assert_eq!(want.visits.verdict, UpliftVerdict::TooFew);
    // HQ's page opens on the last 30 days: the same window.
    assert_eq!(report(&analyst, &shop, "").await?, vec![want]);
    let (spend_words, visits_words) = csv_verdicts(&analyst, &shop, &query).await?;
    for words in [spend_words, visits_words] {
        assert!(
            words.starts_with("Слишком мало покупателей") && words.contains(&MIN_GROUP.to_string()),
            "{words}"
        );
    }

    // Day 3 chooses MIN_GROUP customers a side; on day 4 the exposed buy
    // more coffee (at 15 % off), some held-out customers none.
    shop.next_day();
    let day_3 = shop.today();
    let mut rng = scenario::Rng::new(13);
    let [exposed, held] = &large;
    for (i, m) in exposed.iter().chain(held).enumerate() {
        let lines = [(BREAD, 1 + u32::try_from(rng.below(2))?)];
        shop.sell(Some((m, vias[i % 2])), &lines).await?;
    }
    shop.synced().await?;
    shop.next_day();
    let day_4 = shop.today();
    for (i, m) in exposed.iter().chain(held).enumerate() {
        let coffees = if m.held_out {
            rng.below(3)
        } else {
            1 + rng.below(3)
        };
        if coffees > 0 {
            let lines = [(COFFEE, u32::try_from(coffees)?), (MILK, 1)];
            shop.sell(Some((m, vias[(i + 1) % 2])), &lines).await?;
        }
    }
    shop.synced().await?;
    ensure!(day_3 == day(day_0, 3) && day_4 == day(day_0, 4));

    let window = Period {
        from: day_4,
        to: day_4,
    };
    let want = expected_row(&shop, window);
    assert_eq!(
        (want.exposed.customers, want.held_out.customers),
        (MIN_GROUP, MIN_GROUP)
    );
    assert_ne!(want.spend.verdict, UpliftVerdict::TooFew);
    let got = report(&analyst, &shop, &format!("from={day_4}&to={day_4}")).await?;
    assert_eq!(got, vec![want.clone()]);
    // The difference of the means, exact in kopecks.
    let exposed_sum: i64 = shop
        .log
        .iter()
        .filter(|s| s.day == day_4 && exposed.iter().any(|m| Some(m.view.id) == s.customer))
        .map(|s| s.net)
        .sum();
    let held_sum: i64 = shop
        .log
        .iter()
        .filter(|s| s.day == day_4 && held.iter().any(|m| Some(m.view.id) == s.customer))
        .map(|s| s.net)
        .sum();
    assert_eq!(
        got[0].spend.difference,
        half_up(i128::from(exposed_sum - held_sum), i128::from(MIN_GROUP))
    );
    // On the page's default period (the last 30 days) only the first
    // group was chosen before the promotion: still too few.
    let since_start = expected_row(
        &shop,
        Period {
            from: day_1,
            to: day_4,
        },
    );
    assert_eq!(since_start.spend.verdict, UpliftVerdict::TooFew);
    assert_eq!(report(&analyst, &shop, "").await?, vec![since_start]);

    // The server's own pricing agrees with the till's, holdouts included.
    let records = i64::try_from(shop.log.len())?;
    let repriced = crate::reprice::repriced(&admin, merchant, records).await?;
    assert_eq!(repriced.counts.mismatched, 0, "{repriced:?}");
    assert!(repriced.counts.matched > 0, "{repriced:?}");
    shop.agent.stop().await?;
    Ok(())
}
