//! Fault 12: an agent and a server of different protocol versions meet.
//! Neither parses what it does not speak: the agent stops uploading, says
//! which side is too old, keeps selling into its outbox, and catches up
//! once it meets a server that speaks its version.

use std::time::Duration;

use reqwest::StatusCode;
use shared::ids::Seq;
use shared::wire::{ErrorBody, PROTOCOL_HEADER};
use system_tests::harness::{SimRegister, sell, server_records, verify_outbox};
use system_tests::scenario::CATALOG;
use system_tests::system::TestAgent;
use test_kit::fake_sync::{FakeProtocol, FakeState, FakeSync};

use super::{SETTLE, enroll_in, server_with_chain};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_agent_meeting_a_newer_only_server_stops_uploading_says_so_and_loses_nothing()
-> anyhow::Result<()> {
    let tmp = tempfile::tempdir()?;
    let (server, chain) = server_with_chain(tmp.path(), "").await?;
    let dir = tmp.path().join("till");
    let config = enroll_in(&server, &chain, &dir, &server.url(), |_| {}).await?;
    let mut agent = TestAgent::start(config.clone()).await?;
    for _ in 0..2 {
        sell(&agent.till, &[(&CATALOG[0], 1)]).await?;
    }
    agent.wait_uploaded(SETTLE).await?;

    // The server is replaced by one that speaks only version 2.
    let future = FakeSync::start(FakeState {
        protocol: FakeProtocol::Only(2),
        ..FakeState::default()
    })
    .await?;
    let mut moved = config.clone();
    moved.sync.url = future.url.clone();
    agent.restart_with(moved.clone()).await?;
    for _ in 0..3 {
        sell(&agent.till, &[(&CATALOG[1], 1)]).await?;
    }
    let status = agent
        .wait_status(SETTLE, |s| s.sync.upload_blocked.is_some())
        .await?;
    let blocked = status.sync.upload_blocked.clone().unwrap_or_default();
    assert!(blocked.starts_with("agent too old for server"), "{blocked}");
    assert!(blocked.contains("version(s) 2"), "{blocked}");
    assert!(status.sync.alarms.contains(&blocked));
    assert_eq!(status.outbox_pending, 3);
    assert_eq!(status.acked_seq, Some(Seq::new(2)?));
    // Blocked, it asks the server's versions rather than re-sending.
    let sent = future.state().upload_requests;
    tokio::time::sleep(Duration::from_millis(1_000)).await;
    assert!(
        future.state().upload_requests <= sent + 1,
        "no retry storm while blocked"
    );
    assert_eq!(future.state().acked, 0);
    let live_config = tmp.path().join("live.toml");
    agent.write_status_config(&live_config)?;
    let report = pos_agent::status_report(&dir, Some(&live_config)).await?;
    assert!(report.contains("! agent too old for server"), "{report}");

    // A server answering in another version is not believed either.
    let confused = FakeSync::start(FakeState {
        protocol: FakeProtocol::AnswersIn(2),
        ..FakeState::default()
    })
    .await?;
    let mut confusing = config.clone();
    confusing.sync.url = confused.url.clone();
    agent.restart_with(confusing).await?;
    let status = agent
        .wait_status(SETTLE, |s| s.sync.upload_blocked.is_some())
        .await?;
    assert!(
        status
            .sync
            .upload_blocked
            .as_deref()
            .is_some_and(|b| b.contains("agent too old")),
        "{status:?}"
    );
    assert_eq!(status.acked_seq, Some(Seq::new(2)?), "nothing acknowledged");

    // Back to a server that speaks version 1: everything arrives once.
    agent.restart_with(config.clone()).await?;
    let status = agent.wait_uploaded(SETTLE).await?;
    assert_eq!(status.sync.upload_blocked, None);
    assert!(status.sync.alarms.is_empty(), "{:?}", status.sync.alarms);
    agent.stop().await?;
    let records = verify_outbox(&config)?;
    let (rows, _) = server_records(server.data_dir(), config.sync.register_id)?;
    assert_eq!(rows.len(), 5);
    assert_eq!(
        rows.iter().map(|r| r.total).collect::<Vec<_>>(),
        records.iter().map(|r| r.total).collect::<Vec<_>>()
    );
    Ok(())
}

/// The other way round: a client speaking a version the real server does
/// not gets 426 with the versions it does, and nothing is stored.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_server_refuses_a_newer_agent_with_426_and_stores_nothing() -> anyhow::Result<()> {
    let tmp = tempfile::tempdir()?;
    let (server, chain) = server_with_chain(tmp.path(), "").await?;
    let mut register = SimRegister::enroll(&server, chain.stores[0].id).await?;
    let batch = register.sales(3, 100)?;
    let http = reqwest::Client::new();
    for (version, status, code) in [
        ("2", StatusCode::UPGRADE_REQUIRED, "protocol_unsupported"),
        ("0", StatusCode::UPGRADE_REQUIRED, "protocol_unsupported"),
        ("v1", StatusCode::BAD_REQUEST, "bad_protocol_header"),
    ] {
        let reply = http
            .post(format!("{}/api/v1/records", server.url()))
            .bearer_auth(register.bearer())
            .header(PROTOCOL_HEADER, version)
            .json(&serde_json::json!({ "records": batch }))
            .send()
            .await?;
        assert_eq!(reply.status(), status, "version {version}");
        assert_eq!(reply.headers()[PROTOCOL_HEADER], "1");
        let body: ErrorBody = reply.json().await?;
        assert_eq!(body.error, code);
        if status == StatusCode::UPGRADE_REQUIRED {
            assert!(body.message.contains("version(s) 1"), "{}", body.message);
        }
    }
    let (rows, _) = server_records(server.data_dir(), register.id)?;
    assert!(rows.is_empty());
    register.upload_ok(&batch).await?;
    Ok(())
}
