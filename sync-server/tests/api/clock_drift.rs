//! Register clock drift: estimated from the newest record of each batch
//! that stores records, shown in the registers list, alerted beyond
//! `clock.max_drift_secs` at most once an hour, and never used to order
//! records or to change what statistics add up.

use std::sync::Arc;

use chrono::{DateTime, TimeDelta, Utc};
use reqwest::{Method, StatusCode};
use shared::ids::{RegisterId, Seq};
use sync_server::clock::ManualClock;
use sync_server::wire::admin::Stats;
use sync_server::wire::{AlertKind, RegisterView};

use crate::helpers::{Purchase, TestServer};

/// The seconds a real-clock test may take between signing and upload.
const SLACK_SECS: i64 = 120;

fn view(registers: &[RegisterView], id: RegisterId) -> &RegisterView {
    registers
        .iter()
        .find(|r| r.register.id == id)
        .expect("the register is listed")
}

fn drift_secs(registers: &[RegisterView], id: RegisterId) -> (i64, bool) {
    let drift = view(registers, id)
        .clock_drift
        .expect("drift was estimated");
    (drift.secs, drift.exceeds_limit)
}

#[tokio::test]
async fn drift_is_flagged_but_never_orders_records_or_changes_statistics() {
    let server = TestServer::spawn().await;
    let merchant = server.merchant("Ромашка").await;
    let store = server.store(merchant.id, "Тверская", "Europe/Moscow").await;
    let mut behind = server.enroll(store.id, 1).await;
    let mut ahead = server.enroll(store.id, 2).await;
    let mut in_step = server.enroll(store.id, 3).await;
    let now = Utc::now();
    let (day_behind, year_ahead) = (now - TimeDelta::days(1), now + TimeDelta::days(365));

    // Wall times out of order: the newest record (by seq) is a day behind.
    let batch = behind.records([
        Purchase::sale(100).made_at(year_ahead),
        Purchase::sale(200).made_at(now),
        Purchase::sale(300).made_at(day_behind),
    ]);
    assert_eq!(behind.upload(&batch).await.0, StatusCode::OK);
    let ahead_batch = ahead.records([
        Purchase::sale(400).made_at(day_behind),
        Purchase::sale(500).made_at(year_ahead),
    ]);
    assert_eq!(ahead.upload(&ahead_batch).await.0, StatusCode::OK);
    let on_time = in_step.records([Purchase::sale(600).made_at(now)]);
    assert_eq!(in_step.upload(&on_time).await.0, StatusCode::OK);

    let registers = server.registers(merchant.id).await;
    let (secs, flagged) = drift_secs(&registers, behind.register_id);
    assert!((secs + 86_400).abs() < SLACK_SECS && flagged, "{secs}");
    let (secs, flagged) = drift_secs(&registers, ahead.register_id);
    assert!(
        (secs - 365 * 86_400).abs() < SLACK_SECS && flagged,
        "{secs}"
    );
    let (secs, flagged) = drift_secs(&registers, in_step.register_id);
    assert!(secs.abs() < SLACK_SECS && !flagged, "{secs}");

    let alerts = server.alerts(merchant.id).await;
    let drifts: Vec<(RegisterId, Option<i64>)> = alerts
        .iter()
        .map(|a| {
            assert_eq!(a.kind, AlertKind::ClockDrift);
            (a.register_id, a.seq.map(Seq::get))
        })
        .collect();
    assert_eq!(
        drifts,
        vec![(ahead.register_id, Some(2)), (behind.register_id, Some(3))]
    );
    assert!(alerts[0].detail.contains("ahead"), "{}", alerts[0].detail);
    assert!(alerts[1].detail.contains("1d 0h"), "{}", alerts[1].detail);
    assert!(alerts[1].detail.contains("behind"), "{}", alerts[1].detail);

    // A replay stores nothing new and measures nothing; a new batch
    // measures again but does not alert again within the hour.
    let measured = view(&registers, behind.register_id).clock_drift.unwrap();
    assert_eq!(behind.upload(&batch).await.0, StatusCode::OK);
    let replayed = server.registers(merchant.id).await;
    assert_eq!(
        view(&replayed, behind.register_id).clock_drift,
        Some(measured)
    );
    let more = behind.records([Purchase::sale(700).made_at(day_behind)]);
    assert_eq!(behind.upload(&more).await.0, StatusCode::OK);
    assert_eq!(server.alerts(merchant.id).await.len(), 2);

    // Stored in seq order whatever the clocks said.
    let seqs_in_storage_order = server.seqs_in_storage_order(behind.register_id);
    assert_eq!(seqs_in_storage_order, vec![1, 2, 3, 4]);

    // Statistics add up every record, each on the day its register signed.
    let stats: Stats = server
        .admin_ok(
            Method::GET,
            &format!("/api/v1/admin/merchants/{}/stats", merchant.id),
            None,
        )
        .await;
    let revenue = 100 + 200 + 300 + 400 + 500 + 600 + 700;
    assert_eq!(
        (stats.totals.checks, stats.totals.revenue.minor()),
        (7, revenue)
    );
    let by_day: i64 = stats.by_day.iter().map(|d| d.figures.revenue.minor()).sum();
    assert_eq!(by_day, revenue);
    let year_ahead_day = year_ahead
        .with_timezone(&chrono_tz::Europe::Moscow)
        .date_naive();
    assert!(stats.by_day.iter().any(|d| d.day == year_ahead_day));
}

#[tokio::test]
async fn a_drifting_clock_is_alerted_at_most_once_an_hour() {
    let start: DateTime<Utc> = "2026-03-02T10:00:00Z".parse().unwrap();
    let clock = Arc::new(ManualClock::new(start));
    let server = TestServer::spawn_with_clock(clock.clone()).await;
    let merchant = server.merchant("Ромашка").await;
    let store = server.store(merchant.id, "Тверская", "Europe/Moscow").await;
    let mut till = server.enroll(store.id, 1).await;
    let mut upload_made_at = async |wall_time: DateTime<Utc>| {
        let batch = till.records([Purchase::sale(100).made_at(wall_time)]);
        let (status, body) = till.upload(&batch).await;
        assert_eq!(status, StatusCode::OK, "{body}");
    };
    let clock_drift_alerts = async || {
        server
            .alerts(merchant.id)
            .await
            .iter()
            .filter(|a| a.kind == AlertKind::ClockDrift)
            .count()
    };

    // Ten minutes behind: beyond the default five.
    upload_made_at(start - TimeDelta::minutes(10)).await;
    assert_eq!(clock_drift_alerts().await, 1);
    // Within the limit: measured, not alerted.
    clock.advance(TimeDelta::minutes(30));
    upload_made_at(start + TimeDelta::minutes(26)).await;
    assert_eq!(clock_drift_alerts().await, 1);
    // Still drifting half an hour after the alert: quiet.
    upload_made_at(start).await;
    assert_eq!(clock_drift_alerts().await, 1);
    // An hour after the alert: alerted again.
    clock.advance(TimeDelta::minutes(31));
    upload_made_at(start).await;
    assert_eq!(clock_drift_alerts().await, 2);

    let registers = server.registers(merchant.id).await;
    let drift = registers[0].clock_drift.unwrap();
    assert_eq!(drift.secs, -61 * 60);
    assert!(drift.exceeds_limit);
    assert_eq!(drift.measured_at, start + TimeDelta::minutes(61));
}
