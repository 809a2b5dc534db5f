//! The server prices again what real agents priced: every record of a day
//! of the demo programme (tiers, dairy week, points paid, a coupon with a
//! limit, promotions published mid-run, returns in parts) re-prices to the
//! kopeck; and what the till needs from the server beyond spend and
//! points (the store's brand, the rolling-window spend, the last birthday
//! bonus) reaches it.

use std::time::Duration;

use chrono::Utc;
use shared::identity::{Gender, PhoneNumber};
use shared::ids::{PromotionId, RulesetVersion, Sku};
use shared::money::{BasisPoints, Money, Quantity};
use shared::pricing::RuleRef;
use shared::ruleset::{Apply, BirthdayBonus, Limits, Reward, TierBasis};
use shared::wire::till::{AttachCustomer, OriginalSale, ReturnItem, ReturnRequest};
use sync_server::wire::RepriceReport;
use sync_server::wire::admin::NewCustomer;
use system_tests::clients::AdminClient;
use system_tests::scenario::{
    CATALOG, bread_promotion, chocolate_promotion, dairy_promotion, line_json, programme,
};
use test_kit::poll::Deadline;

use super::{WAIT, agent_for, ready_agent_for};

/// The re-pricer's report once it has looked at `records` records.
pub(crate) async fn repriced(
    admin: &AdminClient,
    merchant: shared::ids::MerchantId,
    records: i64,
) -> anyhow::Result<RepriceReport> {
    let deadline = Deadline::after(WAIT);
    loop {
        let report = admin.mismatches(merchant).await?;
        let seen = report.counts.repriced + report.counts.skipped;
        if report.counts.pending == 0 && seen >= records {
            return Ok(report);
        }
        deadline
            .tick(|| format!("the server did not re-price {records} records: {report:?}"))
            .await?;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_record_a_real_agent_prices_with_the_demo_programme_reprices_to_the_kopeck()
-> anyhow::Result<()> {
    let tmp = tempfile::tempdir()?;
    let (server, chain) = crate::faults::server_with_chain(tmp.path(), "").await?;
    let admin = server.admin();
    let mut agent = ready_agent_for(
        &server,
        &chain,
        chain.stores[0].id,
        &tmp.path().join("till"),
    )
    .await?;
    let till = &agent.till;
    let anna = AttachCustomer::Phone("8 916 000-00-01".into());
    let ivan = AttachCustomer::Card(chain.customers[1].card_number.to_string());
    let mut records = 0;

    // Anonymous: dairy week only.
    let check = till.open().await?;
    till.add_line(check.id, &line_json(&CATALOG[0], 2)).await?;
    till.add_line(check.id, &line_json(&CATALOG[3], 1)).await?;
    till.commit(check.id).await?;
    records += 1;
    // Anna's coffee lifts her to Silver; then dairy with the tier and
    // points paid.
    let check = till.open().await?;
    till.attach(check.id, &anna).await?;
    till.add_line(check.id, &line_json(&CATALOG[5], 16)).await?;
    till.commit(check.id).await?;
    let check = till.open().await?;
    till.attach(check.id, &anna).await?;
    till.add_line(check.id, &line_json(&CATALOG[2], 3)).await?;
    till.add_line(check.id, &line_json(&CATALOG[8], 3)).await?;
    till.add_line(check.id, &line_json(&CATALOG[0], 1)).await?;
    let view = till.redeem(check.id, 100).await?;
    anyhow::ensure!(view.pricing.points_redeemed > 0, "{view:?}");
    let paid_with_points = till.commit(check.id).await?;
    records += 2;

    // Mid-run: bread and chocolate promotions and a coupon once per customer.
    admin
        .publish_promotion(chain.merchant_id(), &bread_promotion())
        .await?;
    admin
        .publish_promotion(chain.merchant_id(), &chocolate_promotion())
        .await?;
    let mut coupon = dairy_promotion();
    coupon.id = PromotionId::parse("kefir-coupon")?;
    coupon.name = "Купон на кефир −15%".into();
    coupon.target = shared::ruleset::Target::Skus {
        skus: vec![Sku::parse(CATALOG[1].sku)?],
    };
    coupon.reward = Reward::PercentOff {
        percent: BasisPoints::new(1500)?,
        apply: Apply::Each,
    };
    coupon.coupon = Some("KEFIR15".into());
    coupon.limits = Limits {
        per_customer: Some(1),
        total_uses: Some(1000),
        ..Limits::default()
    };
    admin
        .publish_promotion(chain.merchant_id(), &coupon)
        .await?;
    agent.wait_ruleset(RulesetVersion::new(4)?, WAIT).await?;
    let till = &agent.till;

    for attempt in 0..2 {
        let check = till.open().await?;
        till.attach(check.id, &ivan).await?;
        till.add_line(check.id, &line_json(&CATALOG[1], 2)).await?;
        till.add_line(check.id, &line_json(&CATALOG[3], 2)).await?;
        till.add_line(check.id, &line_json(&CATALOG[8], 4)).await?;
        let view = till.coupons(check.id, &["kefir15"]).await?;
        let coupon_applied = view
            .pricing
            .applied
            .iter()
            .any(|a| a.rule == RuleRef::Promotion(coupon.id.clone()));
        anyhow::ensure!(
            coupon_applied == (attempt == 0),
            "the coupon applies once per customer: {view:?}"
        );
        till.commit(check.id).await?;
        records += 1;
    }

    // Anna brings the chocolate back, one bar, then the rest.
    for quantity in [1, 2] {
        till.return_items(&ReturnRequest {
            original: OriginalSale::Record {
                record_id: paid_with_points.record_id,
            },
            lines: vec![ReturnItem {
                line_no: Some(1),
                sku: None,
                quantity: Quantity::from_units(quantity)?,
            }],
        })
        .await?;
        records += 1;
    }

    agent.wait_synced(WAIT).await?;
    let report = repriced(&admin, chain.merchant_id(), records).await?;
    assert_eq!(
        (
            report.counts.repriced,
            report.counts.matched,
            report.counts.mismatched,
            report.counts.skipped
        ),
        (records, records, 0, 0),
        "{report:?}"
    );
    assert!(report.mismatches.is_empty());
    agent.stop().await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_till_prices_with_its_brand_its_window_spend_and_the_last_birthday_bonus()
-> anyhow::Result<()> {
    let tmp = tempfile::tempdir()?;
    let (server, chain) = crate::faults::server_with_chain(tmp.path(), "").await?;
    let admin = server.admin();
    let merchant = chain.merchant_id();
    let brand = chain.stores[0]
        .brand_id
        .expect("the chain's stores have a brand");

    // Tiers by the last 30 days; a birthday bonus around the day; a
    // promotion for the chain's brand and one for another brand.
    let mut rules = programme();
    rules.programme.tier_basis = TierBasis::RollingWindow { days: 30 };
    rules.programme.birthday_bonus = Some(BirthdayBonus {
        points: 50,
        days_before: 3,
        days_after: 3,
    });
    let mut ours = bread_promotion();
    ours.conditions.brands = vec![brand];
    let other = admin.brand(merchant, "Другой бренд").await?;
    let mut theirs = chocolate_promotion();
    theirs.conditions.brands = vec![other.id];
    rules.promotions.extend([ours.clone(), theirs.clone()]);
    let published = admin.publish(merchant, &rules).await?;

    let today = Utc::now()
        .with_timezone(&chrono_tz::Europe::Moscow)
        .date_naive();
    let vera = admin
        .customer(
            merchant,
            &NewCustomer {
                name: "Вера".into(),
                phone: Some(PhoneNumber::parse("+79160000099")?),
                email: None,
                gender: Gender::Female,
                birth_date: Some(today),
            },
        )
        .await?;
    let phone = AttachCustomer::Phone("+79160000099".into());

    let first = agent_for(&server, chain.stores[0].id, &tmp.path().join("till-1")).await?;
    first.wait_ruleset(published.version, WAIT).await?;
    first
        .wait_status(WAIT, |s| s.cached_customers > chain.customers.len() as i64)
        .await?;

    // The brand: bread is 20 % off, chocolate (another brand's) is not.
    let check = first.till.open().await?;
    first.till.attach(check.id, &phone).await?;
    first
        .till
        .add_line(check.id, &line_json(&CATALOG[3], 1))
        .await?;
    first
        .till
        .add_line(check.id, &line_json(&CATALOG[8], 3))
        .await?;
    first
        .till
        .add_line(check.id, &line_json(&CATALOG[5], 16))
        .await?;
    let view = first.till.price(check.id).await?;
    let applied = |view: &shared::wire::till::CheckView, id: &PromotionId| {
        view.pricing
            .applied
            .iter()
            .any(|a| a.rule == RuleRef::Promotion(id.clone()))
    };
    assert!(applied(&view, &ours.id), "the store's brand: {view:?}");
    assert!(!applied(&view, &theirs.id), "another brand: {view:?}");
    // The birthday bonus on the first check of the window...
    let birthday = |view: &shared::wire::till::CheckView| {
        view.pricing
            .points
            .iter()
            .any(|p| p.rule == RuleRef::BirthdayBonus)
    };
    assert!(birthday(&view), "{view:?}");
    assert_eq!(
        view.customer.as_ref().and_then(|c| c.tier.as_deref()),
        Some("Bronze")
    );
    let sale = first.till.commit(check.id).await?;
    assert!(sale.pricing.total > Money::from_minor(2_000_000)?);

    // ...not on the next, still pending at this till; and the window spend
    // (pending too) lifts Vera to Silver.
    let check = first.till.open().await?;
    first.till.attach(check.id, &phone).await?;
    first
        .till
        .add_line(check.id, &line_json(&CATALOG[0], 1))
        .await?;
    let view = first.till.price(check.id).await?;
    assert!(!birthday(&view), "once per window: {view:?}");
    assert_eq!(
        view.customer.as_ref().and_then(|c| c.tier.as_deref()),
        Some("Silver")
    );
    first.till.commit(check.id).await?;
    first.wait_synced(WAIT).await?;

    // Another till of the store knows only what the server sends: the last
    // birthday bonus and the spend of the window.
    let second = agent_for(&server, chain.stores[0].id, &tmp.path().join("till-2")).await?;
    second.wait_ruleset(published.version, WAIT).await?;
    let deadline = Deadline::after(WAIT).every(Duration::from_millis(100));
    loop {
        let check = second.till.open().await?;
        let view = match second.till.attach(check.id, &phone).await {
            Ok(_) => {
                second
                    .till
                    .add_line(check.id, &line_json(&CATALOG[0], 1))
                    .await?
            }
            Err(_) => second.till.check(check.id).await?,
        };
        second.till.cancel(check.id).await?;
        let tier = view.customer.as_ref().and_then(|c| c.tier.clone());
        if view.customer.as_ref().map(|c| c.id) == Some(vera.id)
            && !birthday(&view)
            && tier.as_deref() == Some("Silver")
        {
            break;
        }
        deadline
            .tick(|| {
                format!(
                    "the second till never learnt the birthday bonus and window spend: {view:?}"
                )
            })
            .await?;
    }

    // And the server agrees with both tills.
    let report = repriced(&admin, merchant, 2).await?;
    assert_eq!(
        (
            report.counts.matched,
            report.counts.mismatched,
            report.counts.skipped
        ),
        (2, 0, 0),
        "{report:?}"
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_signed_record_with_totals_the_engine_does_not_give_is_flagged_and_alerted()
-> anyhow::Result<()> {
    use shared::record::PricingInputs;
    use system_tests::harness::{Oversight, SimRegister};

    let tmp = tempfile::tempdir()?;
    let (server, chain) = crate::faults::server_with_chain(tmp.path(), "").await?;
    let admin = server.admin();
    let mut sim = SimRegister::enroll(&server, chain.stores[0].id).await?;
    // A kilogram of coffee for an anonymous shopper: no discount and no
    // points, as the programme says; then the same with a kopeck taken
    // off, signed all the same.
    let priced_with_v1 = |r: &mut shared::record::PurchaseRecord| {
        r.ruleset_version = Some(RulesetVersion::new(1).expect("version"));
        r.pricing_inputs = Some(PricingInputs::default());
    };
    let honest = sim.next_record(129_900, priced_with_v1)?;
    let kopeck = Money::from_minor(1)?;
    let forged = sim.next_record(129_900, |r| {
        priced_with_v1(r);
        let line = &mut r.lines[0];
        line.discount = kopeck;
        line.total = Money::from_minor(129_899).expect("money");
        r.discount = kopeck;
        r.total = line.total;
    })?;
    sim.upload_ok(&[honest, forged]).await?;

    let report = repriced(&admin, chain.merchant_id(), 2).await?;
    assert_eq!(
        (report.counts.matched, report.counts.mismatched),
        (1, 1),
        "{report:?}"
    );
    let flagged = &report.mismatches[0];
    assert_eq!((flagged.register_id, flagged.seq.get()), (sim.id, 2));
    let fields: Vec<(&str, i64, i64)> = flagged
        .fields
        .iter()
        .map(|f| (f.field.as_str(), f.till, f.server))
        .collect();
    assert_eq!(
        fields,
        [
            ("discount", 1, 0),
            ("total", 129_899, 129_900),
            ("lines[0].discount", 1, 0),
            ("lines[0].total", 129_899, 129_900),
        ]
    );
    let alerts = Oversight::new(&server).alerts(chain.merchant_id()).await?;
    let alert = alerts
        .iter()
        .find(|a| a.kind == sync_server::wire::AlertKind::PriceMismatch)
        .expect("a price mismatch alert");
    assert_eq!(
        (alert.register_id, alert.seq.map(|s| s.get())),
        (sim.id, Some(2))
    );
    Ok(())
}
