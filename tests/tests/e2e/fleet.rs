//! The fleet as HQ sees it: a real agent's heartbeat reaches the server
//! with its version and backlog, whether or not it has records to upload,
//! and the server's register view shows its last contact. HQ sets a
//! minimum agent version above a real agent's: its next heartbeat reply
//! raises the alarm in its status, metrics, event stream, `status` and
//! `doctor`, and it goes on selling and syncing; HQ lists it as lagging.

use std::time::Duration;

use anyhow::Context as _;
use shared::wire::till::TillEvent;
use system_tests::events::EventStream;
use system_tests::harness::{enroll_agent, sell};
use system_tests::scenario::CATALOG;
use system_tests::system::TestAgent;
use test_kit::poll::Deadline;

use crate::faults::server_with_chain;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_running_agent_reports_its_version_and_backlog_in_heartbeats() -> anyhow::Result<()> {
    let tmp = tempfile::tempdir()?;
    let (mut server, chain) = server_with_chain(tmp.path(), "").await?;
    let token = server.admin().enrollment_token(chain.stores[0].id).await?;
    let config = enroll_agent(
        &server.url(),
        &token.token,
        &tmp.path().join("till"),
        |_| {},
    )
    .await?;
    let register = config.sync.register_id;
    let mut agent = TestAgent::start(config).await?;
    let http = reqwest::Client::new();
    let view = |http: reqwest::Client, url: String, token: String| async move {
        let all: serde_json::Value = http
            .get(url)
            .bearer_auth(token)
            .send()
            .await?
            .error_for_status()?
            .json()
            .await?;
        anyhow::Ok(
            all.as_array()
                .and_then(|a| a.iter().find(|r| r["id"] == register.get()))
                .cloned()
                .unwrap_or_default(),
        )
    };
    let url = format!(
        "{}/api/v1/admin/merchants/{}/registers",
        server.url(),
        chain.merchant_id()
    );
    let admin_token = server.admin_token().to_owned();
    let wait_until = |pred: fn(&serde_json::Value) -> bool| {
        let (http, url, token) = (http.clone(), url.clone(), admin_token.clone());
        async move {
            let deadline =
                Deadline::after(Duration::from_secs(30)).every(Duration::from_millis(100));
            loop {
                let v = view(http.clone(), url.clone(), token.clone()).await?;
                if pred(&v) {
                    return anyhow::Ok(v);
                }
                deadline.tick(|| format!("no such heartbeat: {v}")).await?;
            }
        }
    };

    // Idle: a heartbeat arrives with nothing to upload.
    let idle = wait_until(|v| !v["heartbeat"].is_null()).await?;
    assert_eq!(idle["agent_version"], env!("CARGO_PKG_VERSION"));
    assert_eq!(idle["heartbeat"]["backlog"], 0);
    assert!(
        idle["last_seen_at"].is_null(),
        "no upload yet, yet in contact"
    );

    // With the server down the till sells; back up, its backlog is reported
    // and then drained.
    server.stop().await?;
    for _ in 0..3 {
        sell(&agent.till, &[(&CATALOG[0], 1)]).await?;
    }
    server.restart().await?;
    agent
        .wait_uploaded(Duration::from_secs(30))
        .await
        .context("the backlog uploads")?;
    let drained = wait_until(|v| v["heartbeat"]["backlog"] == 0 && v["records"] == 3).await?;
    assert_eq!(drained["heartbeat"]["dead_letters"], 0);
    agent.stop().await?;
    Ok(())
}

/// Sets the merchant's minimum agent version through the admin API.
async fn set_minimum(
    http: &reqwest::Client,
    server_url: &str,
    admin_token: &str,
    merchant: shared::ids::MerchantId,
    minimum: Option<&str>,
) -> anyhow::Result<()> {
    http.put(format!(
        "{server_url}/api/v1/admin/merchants/{merchant}/fleet/minimum-version"
    ))
    .bearer_auth(admin_token)
    .json(&serde_json::json!({ "minimum_agent_version": minimum }))
    .send()
    .await?
    .error_for_status()?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_agent_below_the_minimum_version_raises_the_alarm_and_keeps_selling()
-> anyhow::Result<()> {
    let tmp = tempfile::tempdir()?;
    let (server, chain) = server_with_chain(tmp.path(), "").await?;
    let token = server.admin().enrollment_token(chain.stores[0].id).await?;
    let till_dir = tmp.path().join("till");
    let config = enroll_agent(&server.url(), &token.token, &till_dir, |_| {}).await?;
    let register = config.sync.register_id;
    let mut agent = TestAgent::start(config).await?;
    let mut events = EventStream::connect(agent.till.base()).await?;
    let http = reqwest::Client::new();
    let admin_token = server.admin_token().to_owned();
    let merchant = chain.merchant_id();
    let ours = env!("CARGO_PKG_VERSION");

    // Meeting no minimum: no alarm.
    let before = agent
        .wait_status(Duration::from_secs(30), |s| {
            s.sync.last_contact_at.is_some()
        })
        .await?;
    assert!(before.sync.required_agent_version.is_none());

    // HQ requires a version above this agent's.
    set_minimum(&http, &server.url(), &admin_token, merchant, Some("99.0.0")).await?;
    let raised = agent
        .wait_status(Duration::from_secs(30), |s| {
            s.sync.required_agent_version.is_some()
        })
        .await
        .context("the heartbeat reply raises the alarm")?;
    assert_eq!(
        raised
            .sync
            .required_agent_version
            .as_ref()
            .map(ToString::to_string),
        Some("99.0.0".to_owned())
    );
    let alarm = raised
        .sync
        .alarms
        .iter()
        .find(|a| a.contains("below the minimum 99.0.0"))
        .with_context(|| format!("alarms: {:?}", raised.sync.alarms))?
        .clone();
    assert!(alarm.contains(ours), "{alarm}");
    let event = events
        .next_matching(Duration::from_secs(10), |e| match e {
            TillEvent::AgentOutdated {
                agent_version,
                minimum_agent_version,
                alarm,
            } => Some((agent_version, minimum_agent_version.to_string(), alarm)),
            _ => None,
        })
        .await?;
    assert_eq!(event, (ours.to_owned(), "99.0.0".to_owned(), alarm.clone()));
    let metrics = http
        .get(format!("{}/metrics", agent.till.base()))
        .send()
        .await?
        .error_for_status()?
        .text()
        .await?;
    assert!(
        metrics.contains("pos_agent_below_minimum_version 1"),
        "{metrics}"
    );
    let status_config = tmp.path().join("status.toml");
    agent.write_status_config(&status_config)?;
    let status = pos_agent::status_report(&till_dir, Some(&status_config)).await?;
    assert!(
        status.contains("BELOW the minimum 99.0.0") && status.contains(&alarm),
        "{status}"
    );

    // It keeps selling and syncing.
    sell(&agent.till, &[(&CATALOG[0], 1)]).await?;
    agent
        .wait_uploaded(Duration::from_secs(30))
        .await
        .context("a sale uploads while the alarm is up")?;

    // HQ sees it lag.
    let fleet: serde_json::Value = http
        .get(format!(
            "{}/api/v1/admin/merchants/{merchant}/fleet",
            server.url()
        ))
        .bearer_auth(&admin_token)
        .send()
        .await?
        .error_for_status()?
        .json()
        .await?;
    assert_eq!(fleet["lagging_count"], 1, "{fleet}");
    assert_eq!(fleet["lagging"][0]["register_id"], register.get());
    assert_eq!(fleet["lagging"][0]["agent_version"], ours);

    // Stopped, `status` and `doctor` still show it from the database.
    agent.stop().await?;
    let status = pos_agent::status_report(&till_dir, None).await?;
    assert!(status.contains(&alarm), "{status}");
    let doctor = pos_agent::doctor::doctor(&till_dir, None).await;
    assert!(!doctor.passed(), "{doctor}");
    assert!(
        doctor
            .to_string()
            .contains(&format!("✗ agent version: {alarm}")),
        "{doctor}"
    );

    // HQ lowers the minimum: the next heartbeat clears the alarm.
    set_minimum(&http, &server.url(), &admin_token, merchant, Some(ours)).await?;
    let config = agent.config.clone();
    agent.restart_with(config).await?;
    let cleared = agent
        .wait_status(Duration::from_secs(30), |s| {
            s.sync.required_agent_version.is_none() && s.sync.alarms.is_empty()
        })
        .await
        .context("the alarm clears")?;
    assert!(cleared.sync.alarms.is_empty());
    agent.stop().await?;
    let doctor = pos_agent::doctor::doctor(&till_dir, None).await;
    assert!(doctor.to_string().contains("✓ agent version:"), "{doctor}");
    Ok(())
}
