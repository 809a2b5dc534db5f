//! Fault 13: a flaky network between the registers and the server delays
//! every chunk, cuts connections, truncates replies and delivers uploads
//! twice at random. The
//! server's ledger ends equal to the union of the registers' outboxes, and
//! no register mistakes the noise for a refusal.

use std::time::Duration;

use system_tests::harness::{Oversight, seed_outbox, sell, server_records, verify_outbox};
use system_tests::proxy::{Chaos, FaultProxy};
use system_tests::scenario::CATALOG;
use system_tests::system::TestAgent;

use super::{addr_of, enroll_in, server_with_chain};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn through_a_flaky_network_the_ledger_equals_the_union_of_the_outboxes() -> anyhow::Result<()>
{
    let tmp = tempfile::tempdir()?;
    let (server, chain) = server_with_chain(tmp.path(), "").await?;
    let proxy = FaultProxy::start(addr_of(&server.url())?).await?;
    proxy.set_chaos(Some(Chaos {
        max_delay_ms: 20,
        cut_per_mille: 30,
        truncate_per_mille: 150,
        duplicate_per_mille: 250,
        seed: 13,
    }));
    let mut agents = Vec::new();
    for i in 0..2 {
        let config = enroll_in(
            &server,
            &chain,
            &tmp.path().join(format!("till-{i}")),
            &proxy.url(),
            |c| c.sync.batch_records = 7,
        )
        .await?;
        seed_outbox(&config, 60, Some((chain.customers[2].id, 4)))?;
        agents.push(TestAgent::start(config).await?);
    }
    for round in 0..10 {
        for agent in &agents {
            sell(&agent.till, &[(&CATALOG[round % CATALOG.len()], 1)]).await?;
        }
    }
    for agent in &agents {
        let status = agent.wait_uploaded(Duration::from_secs(60)).await?;
        assert!(status.sync.dead_letters.is_empty(), "{status:?}");
        assert_eq!(status.last_seq.map(|s| s.get()), Some(70));
    }
    proxy.set_chaos(None);
    let counts = proxy.counts();
    assert!(counts.cuts + counts.truncated > 0, "{counts:?}");
    assert!(counts.duplicated > 0, "{counts:?}");
    let mut ledger_points = 0;
    for agent in &mut agents {
        agent.stop().await?;
        let outbox = verify_outbox(&agent.config)?;
        let (rows, points) = server_records(server.data_dir(), agent.config.sync.register_id)?;
        assert_eq!(
            rows.iter().map(|r| (r.seq, r.total)).collect::<Vec<_>>(),
            outbox.iter().map(|r| (r.seq, r.total)).collect::<Vec<_>>()
        );
        ledger_points += points;
    }
    let customer = server.admin().customer_view(chain.customers[2].id).await?;
    assert_eq!(customer.points_balance, ledger_points);
    // A batch delivered twice is the same bytes: stored once, no fork.
    let oversight = Oversight::new(&server);
    assert!(oversight.quarantine(chain.merchant_id()).await?.is_empty());
    eprintln!("flaky network: {counts:?}");
    Ok(())
}
