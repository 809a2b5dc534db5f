//! Fault 14: concurrent publishes skip no version. Publishes sent at once
//! on separate connections to the server binary are versioned one after
//! another under the writer lock: the versions are exactly the next N, each
//! once, no promotion is lost to a concurrent upsert, and a long-polling
//! till ends on the last version.

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::sync::Arc;

use shared::ruleset::Promotion;
use system_tests::clients::AdminClient;
use system_tests::harness::{ServerProcess, enroll_agent, free_port};
use system_tests::scenario::{CATALOG, create_chain};
use system_tests::system::TestAgent;

use super::SETTLE;

/// Promotion `i`: a few percent off one product of the catalogue.
fn promotion(i: usize) -> anyhow::Result<Promotion> {
    Ok(serde_json::from_value(serde_json::json!({
        "id": format!("concurrent-{i}"),
        "name": format!("Concurrent {i}"),
        "target": {"kind": "skus", "skus": [CATALOG[i % CATALOG.len()].sku]},
        "reward": {"kind": "percent_off", "percent": 100 + 10 * i},
    }))?)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_publishes_skip_no_version_and_the_till_ends_on_the_last() -> anyhow::Result<()>
{
    const PUBLISHES: usize = 20;
    let tmp = tempfile::tempdir()?;
    let listen = SocketAddr::from(([127, 0, 0, 1], free_port()?));
    let server = ServerProcess::spawn(&tmp.path().join("server"), listen).await?;
    let admin = server.admin();
    let chain = create_chain(&admin).await?;
    let merchant = chain.merchant_id();
    let before = admin.ruleset(merchant).await?;
    let token = admin.enrollment_token(chain.stores[0].id).await?;
    let config = enroll_agent(
        &server.url(),
        &token.token,
        &tmp.path().join("till"),
        |_| {},
    )
    .await?;
    let mut agent = TestAgent::start(config).await?;
    agent
        .wait_status(SETTLE, |s| s.ruleset_version == Some(before.version))
        .await?;

    // Each publish on its own client, so its own connection, released at
    // once.
    let start = Arc::new(tokio::sync::Barrier::new(PUBLISHES));
    let publishes: Vec<_> = (0..PUBLISHES)
        .map(|i| {
            let admin = AdminClient::new(&server.url(), &server.admin_token);
            let start = start.clone();
            tokio::spawn(async move {
                let promotion = promotion(i)?;
                start.wait().await;
                admin.publish_promotion(merchant, &promotion).await
            })
        })
        .collect();
    let mut versions = Vec::new();
    for publish in publishes {
        versions.push(publish.await??.version.get());
    }
    versions.sort_unstable();
    let first = before.version.get() + 1;
    let expected: Vec<i64> = (first..first + PUBLISHES as i64).collect();
    assert_eq!(versions, expected, "no gap and no repeat");

    let after = admin.ruleset(merchant).await?;
    assert_eq!(after.version.get(), first + PUBLISHES as i64 - 1);
    let ids: BTreeSet<String> = after
        .ruleset
        .promotions
        .iter()
        .map(|p| p.id.as_str().to_owned())
        .collect();
    for i in 0..PUBLISHES {
        assert!(
            ids.contains(&format!("concurrent-{i}")),
            "promotion {i} was lost to a concurrent publish"
        );
    }
    let status = agent
        .wait_status(SETTLE, |s| s.ruleset_version == Some(after.version))
        .await?;
    agent.stop().await?;
    assert_eq!(status.ruleset_version, Some(after.version));
    Ok(())
}
