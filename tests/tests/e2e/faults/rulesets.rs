//! Fault 11 and the ruleset pipeline: old, forged, truncated and
//! unknown-schema releases are refused and the last good one keeps
//! pricing; a release activates at its `effective_from` on the register's
//! drift-corrected clock; ETag polling takes over where long-polls are not
//! held.

use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{TimeDelta, Utc};
use shared::crypto::{SigningKey, generate_pkcs8};
use shared::ids::{MerchantId, PromotionId, RulesetVersion, Sku};
use shared::money::{BasisPoints, Currency};
use shared::release::{RulesetRelease, SignedRuleset};
use shared::ruleset::{Programme, Promotion, Reward, Ruleset, SCHEMA_VERSION, Target};
use system_tests::clients::TillClient;
use system_tests::harness::{StepClock, offline_config};
use system_tests::scenario::{CATALOG, line_json};
use system_tests::system::TestAgent;
use test_kit::fake_sync::{FakeState, FakeSync};
use test_kit::poll::Deadline;

use super::SETTLE;

/// Milk (CATALOG[0], 89.90) at `percent` % off.
fn release(
    version: i64,
    percent: u32,
    effective_from: chrono::DateTime<Utc>,
) -> anyhow::Result<RulesetRelease> {
    Ok(RulesetRelease {
        merchant_id: MerchantId::new(1)?,
        version: RulesetVersion::new(version)?,
        effective_from,
        schema_version: SCHEMA_VERSION,
        min_agent_version: "0.1.0".into(),
        ruleset: Ruleset {
            currency: Currency::RUB,
            programme: Programme::default(),
            promotions: vec![Promotion {
                id: PromotionId::parse("milk")?,
                name: "Milk".into(),
                description: String::new(),
                target: Target::Skus {
                    skus: vec![Sku::parse(CATALOG[0].sku)?],
                },
                reward: Reward::PercentOff {
                    percent: BasisPoints::new(percent * 100)?,
                    apply: Default::default(),
                },
                starts_at: None,
                ends_at: None,
                stores: vec![],
                priority: 0,
                combines_with_tier: false,
                funded_by: None,
                exclude: Default::default(),
                conditions: Default::default(),
                limits: Default::default(),
                group: None,
                coupon: None,
                holdout: None,
            }],
        },
    })
}

/// The discount on one milk, priced now.
async fn milk_discount(till: &TillClient) -> anyhow::Result<i64> {
    let check = till.open().await?;
    let view = till.add_line(check.id, &line_json(&CATALOG[0], 1)).await?;
    till.cancel(check.id).await?;
    Ok(view.pricing.discount.minor())
}

fn version(n: i64) -> Option<RulesetVersion> {
    RulesetVersion::new(n).ok()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_rulesets_are_refused_the_last_good_prices_and_a_new_one_waits_for_its_time()
-> anyhow::Result<()> {
    let tmp = tempfile::tempdir()?;
    let fake = FakeSync::start(FakeState {
        hold_long_polls: true,
        ..FakeState::default()
    })
    .await?;
    fake.state()
        .releases
        .push(release(1, 10, Utc::now() - TimeDelta::minutes(1))?.seal(&fake.key)?);
    let config = offline_config(&tmp.path().join("till"), &fake.url, &fake.key)?;
    // The register's clock is a day behind: by its own clock the release
    // takes effect tomorrow; by the server's it is in effect now.
    let clock = Arc::new(StepClock::default());
    clock.step(-TimeDelta::days(1));
    let mut agent = TestAgent::start_with_clock(config.clone(), clock.clone()).await?;
    let status = agent
        .wait_status(SETTLE, |s| s.ruleset_version == version(1))
        .await?;
    let drift = status.sync.clock_drift_ms.unwrap_or_default();
    assert!(
        (drift + 86_400_000).abs() < 3_000,
        "a day behind, estimated {drift} ms"
    );
    assert_eq!(milk_discount(&agent.till).await?, 899);

    let stranger = SigningKey::from_pkcs8(&generate_pkcs8(&ring::rand::SystemRandom::new())?)?;
    let now = Utc::now();
    let truncated = {
        let mut t = release(3, 30, now)?.seal(&fake.key)?;
        t.body.truncate(t.body.len() - 8);
        t
    };
    let future_schema = RulesetRelease {
        schema_version: 99,
        ..release(4, 40, now)?
    }
    .seal(&fake.key)?;
    let other_merchant = RulesetRelease {
        merchant_id: MerchantId::new(2)?,
        ..release(5, 50, now)?
    }
    .seal(&fake.key)?;
    let bad: Vec<(&str, SignedRuleset, &str)> = vec![
        (
            "old",
            release(1, 60, now)?.seal(&fake.key)?,
            "is not newer than 1",
        ),
        (
            "forged",
            release(2, 20, now)?.seal(&stranger)?,
            "signature does not verify",
        ),
        ("truncated", truncated, "truncated or corrupt"),
        ("unknown schema", future_schema, "has schema 99"),
        ("another merchant", other_merchant, "belongs to merchant 2"),
    ];
    for (what, signed, reason) in bad {
        fake.state().offer = Some(signed);
        let status = agent
            .wait_status(SETTLE, |s| {
                s.sync
                    .ruleset_rejected
                    .as_deref()
                    .is_some_and(|r| r.contains(reason))
            })
            .await
            .map_err(|e| e.context(what.to_owned()))?;
        assert_eq!(status.ruleset_version, version(1), "{what}");
        assert_eq!(milk_discount(&agent.till).await?, 899, "{what}");
    }

    // A good release effective in three seconds of server time waits for
    // it, although the register's clock is a day behind.
    let effective_from = Utc::now() + TimeDelta::seconds(3);
    {
        let mut state = fake.state();
        state.offer = None;
        state
            .releases
            .push(release(6, 20, effective_from)?.seal(&fake.key)?);
    }
    let status = agent
        .wait_status(SETTLE, |s| {
            s.sync.pending_ruleset.map(|p| p.version) == version(6)
        })
        .await?;
    assert_eq!(status.ruleset_version, version(1));
    assert_eq!(status.sync.ruleset_rejected, None);
    assert_eq!(milk_discount(&agent.till).await?, 899);
    let status = agent
        .wait_status(SETTLE, |s| s.ruleset_version == version(6))
        .await?;
    let early = effective_from - Utc::now();
    assert!(
        early < TimeDelta::milliseconds(1_500),
        "activated {early} before its time"
    );
    assert_eq!(status.sync.pending_ruleset, None);
    assert_eq!(milk_discount(&agent.till).await?, 1_798);

    agent.stop().await?;
    fake.state().releases.clear();
    let agent = TestAgent::start_with_clock(config, clock).await?;
    assert_eq!(agent.till.status().await?.ruleset_version, version(6));
    Ok(())
}

/// Where long-polls are answered at once (a proxy that does not hold
/// them), the agent falls back to ETag polling: 304 while nothing is new,
/// the release when one is.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unheld_long_polls_fall_back_to_etag_polling() -> anyhow::Result<()> {
    let tmp = tempfile::tempdir()?;
    let fake = FakeSync::start(FakeState {
        hold_long_polls: false,
        idle_pause: Duration::ZERO,
        ..FakeState::default()
    })
    .await?;
    let mut config = offline_config(&tmp.path().join("till"), &fake.url, &fake.key)?;
    config.sync.longpoll_wait_secs = 8;
    config.sync.ruleset_poll_secs = 1;
    let mut agent = TestAgent::start(config).await?;
    let started = Instant::now();
    agent
        .wait_status(SETTLE, |s| s.sync.ruleset_transport == "etag_poll")
        .await?;
    assert!(started.elapsed() < Duration::from_secs(10));

    fake.state()
        .releases
        .push(release(1, 10, Utc::now())?.seal(&fake.key)?);
    agent
        .wait_status(SETTLE, |s| s.ruleset_version == version(1))
        .await?;
    let deadline = Deadline::after(SETTLE);
    while fake.state().not_modified < 2 {
        deadline.tick(|| "no conditional polls".into()).await?;
    }
    assert!(
        fake.state()
            .ruleset_requests
            .iter()
            .any(|h| h.as_deref() == Some("\"1\"")),
        "polls name the version held"
    );
    fake.state()
        .releases
        .push(release(2, 20, Utc::now())?.seal(&fake.key)?);
    agent
        .wait_status(SETTLE, |s| s.ruleset_version == version(2))
        .await?;
    assert_eq!(milk_discount(&agent.till).await?, 1_798);
    agent.stop().await?;
    Ok(())
}
