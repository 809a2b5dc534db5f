//! Backlogs. Fault 5: a till back after weeks offline uploads a large
//! backlog, is cut off half-way and resumes; its memory does not grow with
//! the backlog, and another register's commits stay fast meanwhile.
//! Fault 6: many registers come back at once against a server that sheds
//! load; they back off as told, with no retry storm, and all data arrives.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use futures::{StreamExt as _, TryStreamExt as _};
use system_tests::clients::TillClient;
use system_tests::harness::{
    AgentProcess, Oversight, free_port, open_files_limit, seed_outbox, server_records, wait_status,
};
use system_tests::proxy::FaultProxy;
use system_tests::scenario::CATALOG;
use system_tests::system::TestAgent;

use super::{SETTLE, addr_of, enroll_in, server_with_chain};

/// Commit latencies of `n` sales on `till`, sorted.
async fn commit_latencies(till: &TillClient, n: usize) -> anyhow::Result<Vec<Duration>> {
    let mut samples = Vec::with_capacity(n);
    for i in 0..n {
        let check = till.open().await?;
        till.add_line(
            check.id,
            &system_tests::scenario::line_json(&CATALOG[i % CATALOG.len()], 1),
        )
        .await?;
        let t = Instant::now();
        till.commit(check.id).await?;
        samples.push(t.elapsed());
    }
    samples.sort();
    Ok(samples)
}

fn p99(sorted: &[Duration]) -> Duration {
    sorted[(sorted.len() - 1) * 99 / 100]
}

fn local(port: u16) -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], port))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_large_backlog_cut_off_half_way_resumes_in_bounded_memory_and_spares_other_tills()
-> anyhow::Result<()> {
    const LARGE: usize = 6_000;
    const SMALL: usize = 300;
    let tmp = tempfile::tempdir()?;
    let (server, chain) = server_with_chain(tmp.path(), "").await?;
    let url = server.url();
    let small = enroll_in(&server, &chain, &tmp.path().join("small"), &url, |_| {}).await?;
    let large = enroll_in(&server, &chain, &tmp.path().join("large"), &url, |_| {}).await?;
    let other = enroll_in(&server, &chain, &tmp.path().join("other"), &url, |_| {}).await?;
    seed_outbox(&small, SMALL, None)?;
    let seeded = seed_outbox(&large, LARGE, Some((chain.customers[1].id, 10)))?;
    let mut other = TestAgent::start(other).await?;
    let idle = commit_latencies(&other.till, 30).await?;

    // The same binary with a backlog twenty times smaller, for comparison.
    let process = AgentProcess::spawn(&small.data_dir, local(free_port()?)).await?;
    wait_status(&process.till, SETTLE, |s| s.outbox_pending == 0).await?;
    let small_peak = process.peak_rss_kib()?;
    process.stop().await?;

    let started = Instant::now();
    let listen = local(free_port()?);
    let process = AgentProcess::spawn(&large.data_dir, listen).await?;
    let half = LARGE as i64 / 2;
    let status = wait_status(&process.till, Duration::from_secs(60), |s| {
        s.acked_seq.is_some_and(|a| a.get() >= half)
    })
    .await?;
    assert!(status.sync.uploaded_permille >= 500);
    let first_peak = process.peak_rss_kib()?;
    process.kill();
    let (rows, _) = server_records(server.data_dir(), large.sync.register_id)?;
    assert!(
        rows.len() >= LARGE / 2 && rows.len() < LARGE,
        "{}",
        rows.len()
    );

    let process = AgentProcess::spawn(&large.data_dir, listen).await?;
    let busy = commit_latencies(&other.till, 30).await?;
    let status = wait_status(&process.till, Duration::from_secs(60), |s| {
        s.outbox_pending == 0
    })
    .await?;
    let elapsed = started.elapsed();
    let second_peak = process.peak_rss_kib()?;
    process.stop().await?;
    other.stop().await?;
    assert_eq!(status.sync.uploaded_permille, 1000);

    let (rows, points) = server_records(server.data_dir(), large.sync.register_id)?;
    assert_eq!(rows.len(), LARGE);
    assert_eq!(rows.iter().map(|r| r.total).sum::<i64>(), seeded.total);
    assert_eq!(points, seeded.points);
    let large_peak = first_peak.max(second_peak);
    eprintln!(
        "backlog {LARGE}: uploaded in {elapsed:.1?} ({:.0} records/s, debug build); \
         peak RSS {large_peak} KiB vs {small_peak} KiB for {SMALL}; other till's commit \
         p99 {:.1?} during vs {:.1?} idle",
        LARGE as f64 / elapsed.as_secs_f64(),
        p99(&busy),
        p99(&idle)
    );
    // Loading the backlog whole would take some 18 MiB more.
    assert!(
        large_peak <= small_peak + 8 * 1024,
        "peak RSS {large_peak} KiB with {LARGE} records vs {small_peak} KiB with {SMALL}"
    );
    assert!(
        p99(&busy) <= (p99(&idle) * 5).max(Duration::from_millis(300)),
        "commit p99 {:?} during the upload vs {:?} idle",
        p99(&busy),
        p99(&idle)
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_registers_reconnecting_at_once_back_off_without_a_storm_and_all_data_arrives()
-> anyhow::Result<()> {
    const RECORDS: usize = 20;
    const PAGE: usize = 10;
    // Each agent holds about twenty descriptors here (database, sockets on
    // both sides of the proxy); stay inside the limit.
    let registers = usize::try_from(open_files_limit().saturating_sub(300) / 20)?.clamp(10, 100);
    let tmp = tempfile::tempdir()?;
    let (server, chain) = server_with_chain(
        tmp.path(),
        "[ingest]\nmax_concurrent_batches = 2\nretry_after_secs = 1\n",
    )
    .await?;
    let proxy = FaultProxy::start(addr_of(&server.url())?).await?;
    proxy.set_down(true);
    let enrolled = futures::stream::iter(0..registers)
        .map(|i| {
            let (server, chain, proxy, dir) = (&server, &chain, &proxy, tmp.path());
            async move {
                let config = enroll_in(
                    server,
                    chain,
                    &dir.join(format!("till-{i}")),
                    &proxy.url(),
                    |c| {
                        c.sync.batch_records = PAGE;
                        c.sync.backoff_max_ms = 2_000;
                    },
                )
                .await?;
                seed_outbox(&config, RECORDS, None)?;
                TestAgent::start(config).await
            }
        })
        .buffer_unordered(16);
    let mut agents: Vec<TestAgent> = enrolled.try_collect().await?;

    // The network comes back for everyone at once.
    let started = Instant::now();
    proxy.set_down(false);
    for agent in &agents {
        agent.wait_uploaded(Duration::from_secs(60)).await?;
    }
    let elapsed = started.elapsed();
    for agent in &mut agents {
        agent.stop().await?;
    }

    let counts = proxy.counts();
    let batches = registers * RECORDS.div_ceil(PAGE);
    eprintln!(
        "{registers} registers, {batches} batches: {} uploads, {} shed with 429, in {elapsed:.1?}",
        counts.uploads,
        counts.status(429)
    );
    assert_eq!(counts.status(200), batches, "{counts:?}");
    assert!(counts.status(429) > 0, "the server shed load: {counts:?}");
    // A refused register waits at least the Retry-After second: no
    // register can be refused more than once per second.
    let bound = batches + registers * (elapsed.as_secs() as usize + 2);
    assert!(
        counts.uploads <= bound,
        "retry storm: {} uploads for {batches} batches in {elapsed:?}",
        counts.uploads
    );
    let views = Oversight::new(&server)
        .registers(chain.merchant_id())
        .await?;
    assert_eq!(views.len(), registers);
    assert!(
        views.iter().all(|v| v.register.records == RECORDS as i64
            && v.register.head_seq.map(|s| s.get()) == Some(RECORDS as i64)),
        "every register's data arrived"
    );
    Ok(())
}

/// A till (keeping acknowledged records 7 days) enrolled in `dir/till`
/// whose outbox holds `records` sales, those through `aged_through`
/// committed 8 days ago.
async fn till_back_from_weeks_offline(
    server: &system_tests::system::TestServer,
    chain: &system_tests::scenario::Chain,
    dir: &std::path::Path,
    records: usize,
    aged_through: i64,
) -> anyhow::Result<pos_agent::AgentConfig> {
    let config = enroll_in(server, chain, &dir.join("till"), &server.url(), |c| {
        c.sync.retention_days = 7;
    })
    .await?;
    seed_outbox(&config, records, None)?;
    let conn = rusqlite::Connection::open(config.db_path())?;
    let old = (chrono::Utc::now() - chrono::TimeDelta::days(8)).to_rfc3339();
    conn.execute(
        "UPDATE outbox SET committed_at = ?1 WHERE seq <= ?2",
        rusqlite::params![old, aged_through],
    )?;
    Ok(config)
}

/// Weeks offline, then home: acknowledged records past
/// `sync.retention_days` are pruned, records still counted in a customer's
/// standing are kept, and the chain goes on from the head.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acknowledged_records_past_the_retention_are_pruned_and_the_chain_goes_on()
-> anyhow::Result<()> {
    let tmp = tempfile::tempdir()?;
    let (server, chain) = server_with_chain(tmp.path(), "").await?;
    let config = till_back_from_weeks_offline(&server, &chain, tmp.path(), 40, 30).await?;
    let conn = rusqlite::Connection::open(config.db_path())?;
    // Record 5 still counts in a customer's pending standing.
    conn.execute(
        "INSERT INTO pending_effects (seq, customer_id, spend_delta, points_delta)
         VALUES (5, ?1, 100, 1)",
        [chain.customers[0].id.get()],
    )?;
    drop(conn);
    let mut agent = TestAgent::start(config.clone()).await?;
    let status = agent
        .wait_status(SETTLE, |s| {
            s.outbox_pending == 0 && s.sync.oldest_kept_seq.is_some_and(|o| o.get() > 1)
        })
        .await?;
    assert_eq!(status.sync.oldest_kept_seq.map(|s| s.get()), Some(5));
    let committed = system_tests::harness::sell(&agent.till, &[(&CATALOG[0], 1)]).await?;
    assert_eq!(committed.seq.get(), 41);
    agent.wait_uploaded(SETTLE).await?;
    agent.stop().await?;
    let conn = rusqlite::Connection::open(config.db_path())?;
    let kept: Vec<i64> = conn
        .prepare("SELECT seq FROM outbox ORDER BY seq")?
        .query_map([], |r| r.get(0))?
        .collect::<Result<_, _>>()?;
    assert_eq!(kept, [vec![5], (31..=41).collect::<Vec<_>>()].concat());
    let (rows, _) = server_records(server.data_dir(), config.sync.register_id)?;
    assert_eq!(rows.len(), 41, "the server has them all");
    Ok(())
}

/// The server loses records (restored from an older backup) that the
/// register had already pruned after their acknowledgement. The register
/// cannot resend them, and says so instead of rewinding forever; it keeps
/// selling into its outbox.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_that_lost_pruned_records_blocks_uploads_loudly_instead_of_looping()
-> anyhow::Result<()> {
    let tmp = tempfile::tempdir()?;
    let (server, chain) = server_with_chain(tmp.path(), "").await?;
    let config = till_back_from_weeks_offline(&server, &chain, tmp.path(), 30, 30).await?;
    let mut agent = TestAgent::start(config.clone()).await?;
    agent
        .wait_status(SETTLE, |s| {
            s.outbox_pending == 0 && s.sync.oldest_kept_seq.is_none()
        })
        .await?;

    // The server's database goes back to when it held ten records.
    system_tests::harness::forget_records_after(server.data_dir(), config.sync.register_id, 10)?;

    let committed = system_tests::harness::sell(&agent.till, &[(&CATALOG[0], 1)]).await?;
    assert_eq!(committed.seq.get(), 31);
    let status = agent
        .wait_status(SETTLE, |s| s.sync.upload_blocked.is_some())
        .await?;
    let reason = status.sync.upload_blocked.unwrap_or_default();
    assert!(reason.contains("lacks records from seq 11"), "{reason}");
    assert!(status.sync.alarms.contains(&reason));
    let committed = system_tests::harness::sell(&agent.till, &[(&CATALOG[1], 1)]).await?;
    assert_eq!(committed.seq.get(), 32, "the till keeps selling");
    agent.stop().await?;
    Ok(())
}
