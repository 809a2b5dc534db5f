//! Processes killed without warning. Fault 1: the real `sync-server`
//! binary SIGKILLed mid-upload, whatever transaction it had open. Fault 8:
//! the real `pos-agent` binary SIGKILLed in a loop while a till commits and
//! the uploader sends.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use shared::ids::Seq;
use system_tests::clients::TillClient;
use system_tests::harness::{
    AgentProcess, ServerProcess, enroll_agent, free_port, seed_outbox, sell, server_records,
    verify_outbox,
};
use system_tests::scenario::{CATALOG, create_chain};
use system_tests::system::TestAgent;

use super::{SETTLE, enroll_in, server_with_chain};

/// Fault 1, before commit: the server process dies twice in the middle of
/// a 3 000-record upload. Batches it had not committed are simply sent
/// again; the ledger ends with every record and every point once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_server_killed_mid_upload_loses_nothing_and_counts_nothing_twice() -> anyhow::Result<()>
{
    const RECORDS: usize = 3_000;
    let tmp = tempfile::tempdir()?;
    let listen = SocketAddr::from(([127, 0, 0, 1], free_port()?));
    let server_dir = tmp.path().join("server");
    let mut server = ServerProcess::spawn(&server_dir, listen).await?;
    let admin = server.admin();
    let chain = create_chain(&admin).await?;
    let token = admin.enrollment_token(chain.stores[0].id).await?;
    let config = enroll_agent(&server.url(), &token.token, &tmp.path().join("till"), |c| {
        c.sync.batch_records = 100;
    })
    .await?;
    let anna = chain.customers[0].id;
    let seeded = seed_outbox(&config, RECORDS, Some((anna, 3)))?;
    let mut agent = TestAgent::start(config.clone()).await?;
    for threshold in [600, 1_800] {
        agent
            .wait_status(SETTLE, |s| {
                s.acked_seq.is_some_and(|a| a.get() >= threshold)
            })
            .await?;
        server.kill();
        agent.wait_status(SETTLE, |s| !s.server_reachable).await?;
        server.restart().await?;
    }
    let status = agent.wait_uploaded(Duration::from_secs(60)).await?;
    agent.stop().await?;
    assert!(status.sync.dead_letters.is_empty());
    let (rows, points) = server_records(&server_dir, config.sync.register_id)?;
    assert_eq!(rows.len(), RECORDS);
    assert!(rows.iter().enumerate().all(|(i, r)| r.seq == i as i64 + 1));
    assert_eq!(rows.iter().map(|r| r.total).sum::<i64>(), seeded.total);
    assert_eq!(points, seeded.points);
    let view = admin.customer_view(anna).await?;
    assert_eq!(view.points_balance, seeded.points);
    Ok(())
}

/// Fault 8: the agent process is SIGKILLed eight times while a till
/// commits as fast as it can and the uploader sends batches of five. Every
/// checkout the till saw acknowledged is in the outbox at its seq, the seqs
/// have no gap, the chain and signatures verify, `PRAGMA integrity_check`
/// passes, and the server ends with exactly the outbox.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_agent_killed_in_a_loop_keeps_every_acknowledged_checkout_and_no_gap()
-> anyhow::Result<()> {
    let tmp = tempfile::tempdir()?;
    let (server, chain) = server_with_chain(tmp.path(), "").await?;
    let dir = tmp.path().join("till");
    let config = enroll_in(&server, &chain, &dir, &server.url(), |c| {
        c.sync.batch_records = 5;
    })
    .await?;
    let listen = SocketAddr::from(([127, 0, 0, 1], free_port()?));
    let till = TillClient::new(&format!("http://{listen}"));
    let acknowledged = Arc::new(Mutex::new(Vec::new()));
    let stop = Arc::new(AtomicBool::new(false));
    let client = tokio::spawn({
        let (till, acknowledged, stop) = (till.clone(), acknowledged.clone(), stop.clone());
        async move {
            let mut i = 0;
            while !stop.load(Ordering::SeqCst) {
                i += 1;
                match sell(&till, &[(&CATALOG[i % CATALOG.len()], 1)]).await {
                    Ok(committed) => acknowledged
                        .lock()
                        .unwrap_or_else(PoisonError::into_inner)
                        .push((committed.seq, committed.record_id)),
                    Err(_) => tokio::time::sleep(Duration::from_millis(10)).await,
                }
            }
        }
    });
    for round in 0..8u64 {
        let process = AgentProcess::spawn(&dir, listen).await?;
        tokio::time::sleep(Duration::from_millis(250 + round * 97 % 300)).await;
        process.kill();
    }
    stop.store(true, Ordering::SeqCst);
    client.await?;
    let process = AgentProcess::spawn(&dir, listen).await?;
    let status =
        system_tests::harness::wait_status(&process.till, SETTLE, |s| s.outbox_pending == 0)
            .await?;
    process.stop().await?;

    let records = verify_outbox(&config)?;
    let acknowledged = acknowledged
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .clone();
    assert!(
        acknowledged.len() >= 8,
        "only {} commits",
        acknowledged.len()
    );
    for (seq, id) in &acknowledged {
        let index = usize::try_from(seq.get() - 1)?;
        assert_eq!(
            records.get(index).map(|r| r.id),
            Some(*id),
            "acknowledged checkout {seq} is in the outbox"
        );
    }
    assert_eq!(status.last_seq, Seq::new(records.len() as i64).ok());
    let (rows, _) = server_records(server.data_dir(), config.sync.register_id)?;
    assert_eq!(
        rows.iter().map(|r| (r.seq, r.total)).collect::<Vec<_>>(),
        records.iter().map(|r| (r.seq, r.total)).collect::<Vec<_>>()
    );
    Ok(())
}
