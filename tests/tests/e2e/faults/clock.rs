//! Fault 7: a register's clock steps back a day and forward a year in the
//! middle of sales. Records stay in seq order, a replay still stores each
//! once, the server flags the drift, and the register shows its estimate.

use std::sync::Arc;

use chrono::{DateTime, TimeDelta, Utc};
use shared::ids::Seq;
use sync_server::wire::AlertKind;
use system_tests::harness::{Oversight, StepClock, server_records, verify_outbox};
use system_tests::scenario::{CATALOG, line_json};
use system_tests::system::{TestAgent, mark_outbox_unsent};

use super::{SETTLE, enroll_in, server_with_chain};

const DAY_MS: i64 = 86_400_000;

fn near(value: Option<i64>, expected: i64) -> bool {
    value.is_some_and(|v| (v - expected).abs() < 10_000)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_clock_stepping_back_a_day_and_forward_a_year_mid_sale_changes_no_order_and_is_flagged()
-> anyhow::Result<()> {
    let tmp = tempfile::tempdir()?;
    let (server, chain) = server_with_chain(tmp.path(), "").await?;
    let config = enroll_in(
        &server,
        &chain,
        &tmp.path().join("till"),
        &server.url(),
        |_| {},
    )
    .await?;
    let clock = Arc::new(StepClock::default());
    let mut agent = TestAgent::start_with_clock(config.clone(), clock.clone()).await?;
    let till = agent.till.clone();

    let mut totals = Vec::new();
    // Each sale is opened and priced, then the clock steps, then it commits.
    for (i, step) in [
        TimeDelta::zero(),
        -TimeDelta::days(1),
        TimeDelta::days(1 + 365),
        -TimeDelta::days(365),
    ]
    .into_iter()
    .enumerate()
    {
        let check = till.open().await?;
        till.add_line(check.id, &line_json(&CATALOG[i], 1)).await?;
        clock.step(step);
        let committed = till.commit(check.id).await?;
        assert_eq!(committed.seq, Seq::new(i as i64 + 1)?);
        totals.push(committed.pricing.total.minor());
        let synced = agent
            .wait_status(SETTLE, |s| s.acked_seq == Some(committed.seq))
            .await?;
        let expected = match i {
            1 => -DAY_MS,
            2 => 365 * DAY_MS,
            _ => 0,
        };
        assert!(
            near(synced.sync.clock_drift_ms, expected),
            "sale {i}: drift {:?}, expected about {expected}",
            synced.sync.clock_drift_ms
        );
    }

    let (rows, _) = server_records(server.data_dir(), config.sync.register_id)?;
    assert_eq!(rows.iter().map(|r| r.seq).collect::<Vec<_>>(), [1, 2, 3, 4]);
    assert_eq!(rows.iter().map(|r| r.total).collect::<Vec<_>>(), totals);
    let walls: Vec<DateTime<Utc>> = rows
        .iter()
        .map(|r| r.wall_time.parse())
        .collect::<Result<_, _>>()?;
    assert!(walls[1] < walls[0] && walls[2] > walls[3] && walls[3] > walls[1]);
    assert!(walls[2] - walls[0] > TimeDelta::days(364), "{walls:?}");

    let oversight = Oversight::new(&server);
    let alerts = oversight.alerts(chain.merchant_id()).await?;
    assert!(
        alerts
            .iter()
            .any(|a| a.kind == AlertKind::ClockDrift && a.register_id == config.sync.register_id),
        "{alerts:?}"
    );
    let view = oversight
        .register(chain.merchant_id(), config.sync.register_id)
        .await?;
    assert!(view.clock_drift.is_some(), "{view:?}");

    // A replay of everything stores nothing twice.
    agent.stop().await?;
    mark_outbox_unsent(&config.data_dir)?;
    agent.restart_with(config.clone()).await?;
    agent.wait_uploaded(SETTLE).await?;
    agent.stop().await?;
    let (again, _) = server_records(server.data_dir(), config.sync.register_id)?;
    assert_eq!(again, rows);
    assert_eq!(verify_outbox(&config)?.len(), 4);
    Ok(())
}
