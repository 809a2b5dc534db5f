//! The fleet as HQ sees it: a real agent's heartbeat reaches the server
//! with its version and backlog, whether or not it has records to upload,
//! and the server's register view shows its last contact.

use std::time::Duration;

use anyhow::Context as _;
use system_tests::harness::{LiteAgent, enroll_agent, sell};
use system_tests::scenario::CATALOG;

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
    let mut agent = LiteAgent::start(config).await?;
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
            let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
            loop {
                let v = view(http.clone(), url.clone(), token.clone()).await?;
                if pred(&v) {
                    return anyhow::Ok(v);
                }
                anyhow::ensure!(
                    tokio::time::Instant::now() < deadline,
                    "no such heartbeat: {v}"
                );
                tokio::time::sleep(Duration::from_millis(100)).await;
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
        .wait_synced(Duration::from_secs(30))
        .await
        .context("the backlog uploads")?;
    let drained = wait_until(|v| v["heartbeat"]["backlog"] == 0 && v["records"] == 3).await?;
    assert_eq!(drained["heartbeat"]["dead_letters"], 0);
    agent.stop().await?;
    Ok(())
}
