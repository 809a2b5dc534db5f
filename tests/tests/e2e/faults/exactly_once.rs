//! Exactly once at the door: lost replies replayed, one batch on two
//! connections, forks, backlogs around the page size, and every way a
//! batch can lie. Also the register's side of a permanent refusal: the
//! dead letter, and its recovery.

use std::time::Duration;

use reqwest::StatusCode;
use shared::crypto::{SigningKey, from_base64, generate_pkcs8, sha256, to_base64};
use shared::ids::Seq;
use shared::record::SignedRecord;
use shared::wire::ErrorBody;
use sync_server::wire::AlertKind;
use system_tests::harness::{
    Oversight, SimRegister, seed_outbox, sell, server_audit, server_records, verify_outbox,
};
use system_tests::proxy::FaultProxy;
use system_tests::scenario::CATALOG;
use system_tests::system::TestAgent;
use test_kit::poll::Deadline;

use super::{SETTLE, addr_of, enroll_in, server_with_chain};

fn code(body: &str) -> String {
    serde_json::from_str::<ErrorBody>(body).map_or_else(|_| body.to_owned(), |b| b.error)
}

/// Fault 1, after commit: the server stores a batch and its reply is lost
/// three times. The register replays; every record and every point is
/// counted once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reply_lost_after_commit_is_replayed_and_counted_once() -> anyhow::Result<()> {
    let tmp = tempfile::tempdir()?;
    let (server, chain) = server_with_chain(tmp.path(), "").await?;
    let proxy = FaultProxy::start(addr_of(&server.url())?).await?;
    let config = enroll_in(
        &server,
        &chain,
        &tmp.path().join("till"),
        &proxy.url(),
        |c| {
            c.sync.batch_records = 5;
        },
    )
    .await?;
    let anna = chain.customers[0].id;
    let seeded = seed_outbox(&config, 23, Some((anna, 2)))?;
    proxy.drop_upload_replies(3);
    let mut agent = TestAgent::start(config.clone()).await?;
    let status = agent.wait_uploaded(SETTLE).await?;
    agent.stop().await?;

    let counts = proxy.counts();
    assert_eq!(counts.dropped_replies, 3);
    assert!(counts.uploads >= 5 + 3, "{counts:?}");
    let (rows, points) = server_records(server.data_dir(), config.sync.register_id)?;
    let seqs: Vec<i64> = rows.iter().map(|r| r.seq).collect();
    assert_eq!(seqs, (1..=23).collect::<Vec<_>>());
    assert_eq!(rows.iter().map(|r| r.total).sum::<i64>(), seeded.total);
    assert_eq!(points, seeded.points, "the points ledger counts once");
    let anna_view = server.admin().customer_view(anna).await?;
    assert_eq!(anna_view.points_balance, seeded.points);
    assert_eq!(anna_view.purchases.len(), 12);
    assert!(status.sync.dead_letters.is_empty() && status.sync.alarms.is_empty());
    Ok(())
}

/// Fault 2: the same batch sent on several connections at once stores one
/// row per record, and every copy is acknowledged alike.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_same_batch_on_several_connections_stores_each_record_once() -> anyhow::Result<()> {
    let tmp = tempfile::tempdir()?;
    let (server, chain) = server_with_chain(tmp.path(), "").await?;
    let mut register = SimRegister::enroll(&server, chain.stores[0].id).await?;
    let batch = register.sales(50, 12_345)?;
    let sends = (0..4).map(|_| {
        // A client each: separate connections.
        let http = reqwest::Client::new();
        let (register, batch) = (&register, &batch);
        async move { register.upload_as(&http, register.bearer(), batch).await }
    });
    let replies = futures::future::join_all(sends).await;
    for reply in replies {
        let (status, body) = reply?;
        assert_eq!(status, StatusCode::OK, "{body}");
        let ack: shared::wire::sync::UploadAck = serde_json::from_str(&body)?;
        assert_eq!(ack.acked_through, Some(Seq::new(50)?));
    }
    // And an overlapping longer batch alongside a copy of the first.
    let more = register.sales(30, 100)?;
    let longer: Vec<SignedRecord> = batch.iter().chain(&more).cloned().collect();
    let (a, b) = tokio::join!(register.upload(&batch), register.upload(&longer));
    assert_eq!(a?.0, StatusCode::OK);
    assert_eq!(b?.0, StatusCode::OK);
    let (rows, _) = server_records(server.data_dir(), register.id)?;
    assert_eq!(rows.len(), 80);
    assert_eq!(
        rows.iter().map(|r| r.total).sum::<i64>(),
        50 * 12_345 + 30 * 100
    );
    let stats = server.admin().stats(chain.merchant_id()).await?;
    assert_eq!(stats.totals.checks, 80);
    Ok(())
}

/// Fault 3: the same seq with other bytes is refused with 409, the record
/// is quarantined, HQ is alerted, and the stored record stands.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_same_seq_with_other_bytes_is_refused_quarantined_and_alerted() -> anyhow::Result<()> {
    let tmp = tempfile::tempdir()?;
    let (server, chain) = server_with_chain(tmp.path(), "").await?;
    let mut register = SimRegister::enroll(&server, chain.stores[0].id).await?;
    let batch = register.sales(3, 1_000)?;
    register.upload_ok(&batch).await?;

    // Another record 2, properly signed and linked to record 1.
    let first = from_base64(&batch[0].body).ok_or_else(|| anyhow::anyhow!("base64"))?;
    let ids = (register.merchant, register.store, register.id);
    let fork = system_tests::harness::sale_record(
        ids,
        Seq::new(2)?,
        sha256(&first),
        999_999,
        None,
        chrono::Utc::now(),
    )?;
    let (fork, fork_hash) = fork.seal(register.key())?;
    let (status, body) = register.upload(std::slice::from_ref(&fork)).await?;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert_eq!(code(&body), "fork");

    let oversight = Oversight::new(&server);
    let quarantined = oversight.quarantine(chain.merchant_id()).await?;
    let entry = quarantined
        .iter()
        .find(|q| q.register_id == register.id)
        .expect("quarantined");
    assert_eq!(entry.seq, Seq::new(2)?);
    assert_eq!(entry.received_hash, fork_hash);
    let stored_two = from_base64(&batch[1].body).ok_or_else(|| anyhow::anyhow!("base64"))?;
    assert_eq!(entry.stored_hash, Some(sha256(&stored_two)));
    let alerts = oversight.alerts(chain.merchant_id()).await?;
    assert!(
        alerts
            .iter()
            .any(|a| a.kind == AlertKind::Fork && a.register_id == register.id),
        "{alerts:?}"
    );
    let (rows, _) = server_records(server.data_dir(), register.id)?;
    assert_eq!(
        rows.iter().map(|r| r.total).collect::<Vec<_>>(),
        [1_000, 1_000, 1_000]
    );
    Ok(())
}

/// The register's side of a fork: a till restored from an old backup
/// commits other records at seqs the server holds. The first is refused
/// for good and becomes a dead letter with the server's reason; uploads
/// stop there, the till keeps selling, and status says so loudly.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_till_restored_from_an_old_backup_dead_letters_the_fork_and_keeps_selling()
-> anyhow::Result<()> {
    let tmp = tempfile::tempdir()?;
    let (server, chain) = server_with_chain(tmp.path(), "").await?;
    let dir = tmp.path().join("till");
    let config = enroll_in(&server, &chain, &dir, &server.url(), |_| {}).await?;
    let mut agent = TestAgent::start(config.clone()).await?;
    sell(&agent.till, &[(&CATALOG[0], 1)]).await?;
    agent.wait_uploaded(SETTLE).await?;
    agent.stop().await?;
    let backup = tmp.path().join("backup");
    std::fs::create_dir_all(&backup)?;
    for file in ["agent.db", "agent.db-wal", "agent.db-shm"] {
        if dir.join(file).exists() {
            std::fs::copy(dir.join(file), backup.join(file))?;
        }
    }
    agent.restart_with(config.clone()).await?;
    sell(&agent.till, &[(&CATALOG[1], 1)]).await?;
    sell(&agent.till, &[(&CATALOG[2], 1)]).await?;
    agent.wait_uploaded(SETTLE).await?;
    agent.stop().await?;

    for file in ["agent.db", "agent.db-wal", "agent.db-shm"] {
        let _ = std::fs::remove_file(dir.join(file));
        if backup.join(file).exists() {
            std::fs::copy(backup.join(file), dir.join(file))?;
        }
    }
    agent.restart_with(config.clone()).await?;
    let forked = sell(&agent.till, &[(&CATALOG[5], 1)]).await?;
    assert_eq!(forked.seq, Seq::new(2)?);
    let status = agent
        .wait_status(SETTLE, |s| !s.sync.dead_letters.is_empty())
        .await?;
    let dead = &status.sync.dead_letters[0];
    assert_eq!((dead.seq, dead.http_status), (Seq::new(2)?, 409));
    assert_eq!(dead.code, "fork");
    assert!(
        status
            .sync
            .alarms
            .iter()
            .any(|a| a.contains("record 2 refused"))
    );
    // The till keeps selling; nothing past the dead letter is uploaded.
    for _ in 0..2 {
        sell(&agent.till, &[(&CATALOG[3], 1)]).await?;
    }
    let status = agent
        .wait_status(SETTLE, |s| s.sync.dead_letters[0].attempts >= 2)
        .await?;
    assert_eq!(status.outbox_pending, 3);
    assert_eq!(status.acked_seq, Some(Seq::new(1)?));
    let live_config = tmp.path().join("live.toml");
    agent.write_status_config(&live_config)?;
    let report = pos_agent::status_report(&dir, Some(&live_config)).await?;
    assert!(report.contains("agent:           running"), "{report}");
    assert!(
        report.contains("ALARMS:\n  ! record 2 refused by the server"),
        "{report}"
    );
    agent.stop().await?;
    let report = pos_agent::status_report(&dir, Some(&live_config)).await?;
    assert!(report.contains("not running"), "{report}");
    assert!(
        report.contains("ALARMS:\n  ! record 2 refused by the server"),
        "{report}"
    );
    assert!(
        report.contains("last error:      record 2 refused"),
        "{report}"
    );
    let records = verify_outbox(&config)?;
    assert_eq!(records.len(), 4, "every record kept");

    let (rows, _) = server_records(server.data_dir(), config.sync.register_id)?;
    assert_eq!(rows.len(), 3, "the server keeps its own records");
    let two = Seq::new(2)?;
    let quarantined = Oversight::new(&server)
        .quarantine(chain.merchant_id())
        .await?;
    assert!(quarantined.iter().any(|q| q.seq == two), "{quarantined:?}");
    Ok(())
}

/// A record whose signature rotted on the till's disk, on the per-record
/// path (a server that does not offer chain-verified ingest), is found by
/// halving the batch (the good records before it are acknowledged), filed
/// as a dead letter with the server's reason, and uploaded once it is
/// repaired: the outbox row was never dropped.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rotten_record_is_isolated_dead_lettered_and_recoverable() -> anyhow::Result<()> {
    let tmp = tempfile::tempdir()?;
    let (server, chain) = server_with_chain(tmp.path(), PER_RECORD_SERVER).await?;
    let config = enroll_in(
        &server,
        &chain,
        &tmp.path().join("till"),
        &server.url(),
        |c| c.sync.batch_records = 10,
    )
    .await?;
    seed_outbox(&config, 25, None)?;
    let good = rot_signature(&config, 13)?;

    let mut agent = TestAgent::start(config.clone()).await?;
    let status = agent
        .wait_status(SETTLE, |s| !s.sync.dead_letters.is_empty())
        .await?;
    assert_eq!(status.acked_seq, Some(Seq::new(12)?), "good records first");
    let dead = &status.sync.dead_letters[0];
    assert_eq!(
        (dead.seq, dead.http_status, dead.code.as_str()),
        (Seq::new(13)?, 400, "bad_signature")
    );
    let committed = sell(&agent.till, &[(&CATALOG[0], 2)]).await?;
    assert_eq!(committed.seq, Seq::new(26)?, "the till keeps committing");
    let alerts = Oversight::new(&server).alerts(chain.merchant_id()).await?;
    let thirteen = Some(Seq::new(13)?);
    assert!(
        alerts
            .iter()
            .any(|a| a.kind == AlertKind::BadSignature && a.seq == thirteen),
        "{alerts:?}"
    );
    agent.stop().await?;

    // Store IT restores the record's good copy; the next retry takes it.
    let conn = rusqlite::Connection::open(config.db_path())?;
    conn.execute("UPDATE outbox SET signature = ?1 WHERE seq = 13", [&good])?;
    drop(conn);
    agent.restart_with(config.clone()).await?;
    let status = agent.wait_uploaded(SETTLE).await?;
    assert!(status.sync.dead_letters.is_empty(), "resolved: {status:?}");
    agent.stop().await?;
    let (rows, _) = server_records(server.data_dir(), config.sync.register_id)?;
    assert_eq!(rows.len(), 26);
    assert_eq!(verify_outbox(&config)?.len(), 26);
    let batches = scrape(&server).await?;
    assert_eq!(
        metric(&batches, r#"ingest_batches_total{path="chain"}"#),
        0.0
    );
    assert!(every_audited(&server, config.sync.register_id)?);
    Ok(())
}

/// The same rotten signature on the chain path: the agent learned that the
/// server offers chain-verified ingest and signs its batches' heads, so
/// the record is stored (its bytes chain to the signed head) without its
/// own signature being checked at ingest. The background audit then finds
/// it and alerts HQ, the record is marked failed, and the server refuses
/// to hand it to another till as evidence for a return. Every record is
/// kept once, and nothing is dead-lettered.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rotten_signature_on_the_chain_path_is_stored_audited_alerted_and_never_evidence()
-> anyhow::Result<()> {
    let tmp = tempfile::tempdir()?;
    let (server, chain) = server_with_chain(tmp.path(), "").await?;
    let config = enroll_in(
        &server,
        &chain,
        &tmp.path().join("till"),
        &server.url(),
        |c| c.sync.batch_records = 10,
    )
    .await?;
    seed_outbox(&config, 25, None)?;
    rot_signature(&config, 13)?;
    let register = config.sync.register_id;

    let mut agent = TestAgent::start(config.clone()).await?;
    let status = agent.wait_uploaded(SETTLE).await?;
    assert!(status.sync.dead_letters.is_empty(), "{status:?}");
    agent.stop().await?;
    let (rows, _) = server_records(server.data_dir(), register)?;
    assert_eq!(rows.len(), 25);
    let batches = scrape(&server).await?;
    assert!(
        metric(&batches, r#"ingest_batches_total{path="chain"}"#) >= 2.0,
        "the agent took the chain path once it saw the feature: {batches}"
    );

    let thirteen = Some(Seq::new(13)?);
    let oversight = Oversight::new(&server);
    let alerted = wait_for(SETTLE, || async {
        let alerts = oversight.alerts(chain.merchant_id()).await?;
        Ok(alerts
            .into_iter()
            .find(|a| a.kind == AlertKind::BadSignature && a.seq == thirteen))
    })
    .await?;
    assert!(alerted.detail.contains("audit"), "{alerted:?}");
    wait_for(SETTLE, || async {
        let audit = server_audit(server.data_dir(), register)?;
        Ok((audit.iter().all(|&(_, a)| a != 0)).then_some(audit))
    })
    .await
    .and_then(|audit| {
        let failed: Vec<i64> = audit.iter().filter(|a| a.1 == -1).map(|a| a.0).collect();
        anyhow::ensure!(failed == [13], "only record 13 fails: {audit:?}");
        Ok(())
    })?;

    // Another till asking for sale 13 as evidence is refused; sale 12 is
    // handed over.
    let other = SimRegister::enroll(&server, chain.stores[0].id).await?;
    let (status, body) = other.fetch_sale(register, Seq::new(13)?).await?;
    assert_eq!(
        (status, code(&body).as_str()),
        (StatusCode::CONFLICT, "record_unverified"),
        "{body}"
    );
    let (status, body) = other.fetch_sale(register, Seq::new(12)?).await?;
    assert_eq!(status, StatusCode::OK, "{body}");
    Ok(())
}

/// The till's own signature of record `seq` flipped in its outbox; the
/// good signature is returned.
fn rot_signature(config: &pos_agent::AgentConfig, seq: i64) -> anyhow::Result<Vec<u8>> {
    let conn = rusqlite::Connection::open(config.db_path())?;
    let good: Vec<u8> =
        conn.query_row("SELECT signature FROM outbox WHERE seq = ?1", [seq], |r| {
            r.get(0)
        })?;
    let mut bad = good.clone();
    bad[0] ^= 0xff;
    conn.execute(
        "UPDATE outbox SET signature = ?1 WHERE seq = ?2",
        rusqlite::params![bad, seq],
    )?;
    Ok(good)
}

/// A server that does not offer chain-verified ingest: every record's own
/// signature is verified at ingest, whatever the agent sends.
const PER_RECORD_SERVER: &str = "[ingest]\nchain_verified = false\n";

/// The server's metrics, as Prometheus text.
async fn scrape(server: &system_tests::system::TestServer) -> anyhow::Result<String> {
    Ok(reqwest::Client::new()
        .get(format!("{}/metrics", server.url()))
        .bearer_auth(server.admin_token())
        .send()
        .await?
        .error_for_status()?
        .text()
        .await?)
}

/// The value of the sample `name` (with its labels) in `text`, 0 if absent.
fn metric(text: &str, name: &str) -> f64 {
    text.lines()
        .filter_map(|line| line.strip_prefix("sync_server_")?.strip_prefix(name))
        .filter_map(|rest| rest.trim().parse::<f64>().ok())
        .sum()
}

/// Whether every stored record of `register` had its own signature
/// verified (none awaits the audit, none failed).
fn every_audited(
    server: &system_tests::system::TestServer,
    register: shared::ids::RegisterId,
) -> anyhow::Result<bool> {
    Ok(server_audit(server.data_dir(), register)?
        .iter()
        .all(|&(_, audit)| audit == 1))
}

/// Polls `probe` every 50 ms until it gives something, for at most `limit`.
async fn wait_for<T, F, Fut>(limit: Duration, mut probe: F) -> anyhow::Result<T>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = anyhow::Result<Option<T>>>,
{
    let deadline = Deadline::after(limit);
    loop {
        if let Some(found) = probe().await? {
            return Ok(found);
        }
        deadline.tick(|| format!("nothing after {limit:?}")).await?;
    }
}

/// Fault 4: backlogs of 0, 1, page−1, page, page+1 and 3×page sync
/// completely, in exactly ⌈n / page⌉ uploads each.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn backlogs_around_the_page_size_sync_completely_in_whole_pages() -> anyhow::Result<()> {
    const PAGE: usize = 10;
    let tmp = tempfile::tempdir()?;
    let (server, chain) = server_with_chain(tmp.path(), "").await?;
    let mut runs = Vec::new();
    for n in [0, 1, PAGE - 1, PAGE, PAGE + 1, 3 * PAGE] {
        let proxy = FaultProxy::start(addr_of(&server.url())?).await?;
        let config = enroll_in(
            &server,
            &chain,
            &tmp.path().join(format!("till-{n}")),
            &proxy.url(),
            |c| c.sync.batch_records = PAGE,
        )
        .await?;
        let seeded = seed_outbox(&config, n, None)?;
        runs.push((n, proxy, config, seeded));
    }
    let mut agents = Vec::new();
    for (_, _, config, _) in &runs {
        agents.push(TestAgent::start(config.clone()).await?);
    }
    for (agent, (n, ..)) in agents.iter().zip(&runs) {
        agent
            .wait_status(SETTLE, |s| {
                s.outbox_pending == 0 && s.last_seq.map_or(0, |v| v.get()) == *n as i64
            })
            .await?;
    }
    // A few upload intervals more: an empty outbox must send nothing.
    tokio::time::sleep(Duration::from_millis(300)).await;
    for agent in &mut agents {
        agent.stop().await?;
    }
    for (n, proxy, config, seeded) in &runs {
        let (rows, _) = server_records(server.data_dir(), config.sync.register_id)?;
        assert_eq!(rows.len(), *n, "backlog {n}");
        assert_eq!(rows.iter().map(|r| r.total).sum::<i64>(), seeded.total);
        assert_eq!(
            proxy.counts().uploads,
            n.div_ceil(PAGE),
            "backlog {n}: one upload per page"
        );
    }
    Ok(())
}

/// Fault 10: forged signatures, edited, deleted and reordered records, a
/// batch replayed from another register, an unknown and a revoked register
/// are all refused, and nothing of theirs is stored.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forged_edited_missing_reordered_replayed_and_unknown_uploads_are_refused()
-> anyhow::Result<()> {
    let tmp = tempfile::tempdir()?;
    let (server, chain) = server_with_chain(tmp.path(), "").await?;
    let mut alice = SimRegister::enroll(&server, chain.stores[0].id).await?;
    let bob = SimRegister::enroll(&server, chain.stores[0].id).await?;
    let stored = alice.sales(3, 500)?;
    alice.upload_ok(&stored).await?;
    let next = alice.sales(3, 700)?; // seqs 4, 5, 6

    // Forged: record 4 signed by another key.
    let stranger = SigningKey::from_pkcs8(&generate_pkcs8(&ring::rand::SystemRandom::new())?)?;
    let mut forged = next[0].clone();
    let body = from_base64(&forged.body).ok_or_else(|| anyhow::anyhow!("base64"))?;
    forged.signature = stranger.sign(shared::crypto::SigningContext::PurchaseRecord, &body);
    let refusals: Vec<(&str, Vec<SignedRecord>, StatusCode, &str)> = vec![
        (
            "forged",
            vec![forged],
            StatusCode::BAD_REQUEST,
            "bad_signature",
        ),
        (
            "edited",
            vec![edited(&next[0])?],
            StatusCode::BAD_REQUEST,
            "bad_signature",
        ),
        (
            "a record missing inside",
            vec![next[0].clone(), next[2].clone()],
            StatusCode::BAD_REQUEST,
            "not_contiguous",
        ),
        (
            "reordered",
            vec![next[1].clone(), next[0].clone()],
            StatusCode::BAD_REQUEST,
            "not_contiguous",
        ),
        (
            "the record before missing",
            vec![next[1].clone()],
            StatusCode::CONFLICT,
            "seq_gap",
        ),
    ];
    for (what, batch, status, expected) in refusals {
        let (got, body) = alice.upload(&batch).await?;
        assert_eq!(
            (got, code(&body).as_str()),
            (status, expected),
            "{what}: {body}"
        );
    }

    // Alice's records replayed by Bob: as they are, then re-addressed.
    let (got, body) = bob.upload(&stored).await?;
    assert_eq!(
        (got, code(&body).as_str()),
        (StatusCode::FORBIDDEN, "wrong_register")
    );
    let readdressed: Vec<SignedRecord> = stored
        .iter()
        .map(|r| SignedRecord {
            register_id: bob.id,
            ..r.clone()
        })
        .collect();
    let (got, body) = bob.upload(&readdressed).await?;
    assert_eq!(
        (got, code(&body).as_str()),
        (StatusCode::BAD_REQUEST, "bad_signature")
    );

    // Unknown registers and a revoked one.
    let http = reqwest::Client::new();
    for bearer in [
        "999999.0123456789abcdef",
        "not-a-register",
        &format!("{}.wrong-secret", alice.id),
    ] {
        let (got, _) = alice.upload_as(&http, bearer, &next).await?;
        assert_eq!(got, StatusCode::UNAUTHORIZED, "{bearer}");
    }
    http.post(format!(
        "{}/api/v1/admin/registers/{}/revoke",
        server.url(),
        alice.id
    ))
    .bearer_auth(server.admin_token())
    .send()
    .await?
    .error_for_status()?;
    let (got, _) = alice.upload(&next).await?;
    assert_eq!(got, StatusCode::UNAUTHORIZED, "revoked");

    let (alice_rows, _) = server_records(server.data_dir(), alice.id)?;
    assert_eq!(alice_rows.len(), 3, "only the honest batch");
    let (bob_rows, _) = server_records(server.data_dir(), bob.id)?;
    assert!(bob_rows.is_empty());
    let alerts = Oversight::new(&server).alerts(chain.merchant_id()).await?;
    assert!(
        alerts
            .iter()
            .any(|a| a.kind == AlertKind::BadSignature && a.register_id == alice.id)
    );
    Ok(())
}

/// Fault 10 on the chain path: a batch signature forged by another key or
/// made under the record context, a record edited mid-batch (its hash no
/// longer chains), the last record edited, a middle record swapped for
/// another the register really signed, an old batch's signature on new
/// records, records missing or reordered, and another register's records
/// are all refused, alerted where they are forgeries, and nothing of them
/// is stored; the honest batch then goes through on the chain path.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forged_edited_swapped_and_replayed_batches_are_refused_on_the_chain_path()
-> anyhow::Result<()> {
    let tmp = tempfile::tempdir()?;
    let (server, chain) = server_with_chain(tmp.path(), "").await?;
    let mut alice = SimRegister::enroll(&server, chain.stores[0].id).await?;
    let bob = SimRegister::enroll(&server, chain.stores[0].id).await?;
    let stored = alice.sales(3, 500)?;
    let stored_signature = alice.chain_signature(&stored)?;
    let (got, body) = alice.upload_chained(&stored, stored_signature).await?;
    assert_eq!(got, StatusCode::OK, "{body}");
    let next = alice.sales(3, 700)?; // seqs 4, 5, 6
    let signature = alice.chain_signature(&next)?;

    let head = |records: &[SignedRecord]| -> anyhow::Result<shared::crypto::Hash256> {
        let last = records.last().ok_or_else(|| anyhow::anyhow!("empty"))?;
        Ok(sha256(
            &from_base64(&last.body).ok_or_else(|| anyhow::anyhow!("base64"))?,
        ))
    };
    let stranger = SigningKey::from_pkcs8(&generate_pkcs8(&ring::rand::SystemRandom::new())?)?;
    let forged = shared::record::sign_chain_head(&stranger, &head(&next)?);
    let as_record = alice.key().sign(
        shared::crypto::SigningContext::PurchaseRecord,
        &head(&next)?.0,
    );
    // Another record 5, properly signed by Alice and linked to record 4.
    let four = from_base64(&next[0].body).ok_or_else(|| anyhow::anyhow!("base64"))?;
    let ids = (alice.merchant, alice.store, alice.id);
    let (swapped, _) = system_tests::harness::sale_record(
        ids,
        Seq::new(5)?,
        sha256(&four),
        123_456,
        None,
        chrono::Utc::now(),
    )?
    .seal(alice.key())?;

    let refusals: Vec<(
        &str,
        Vec<SignedRecord>,
        shared::crypto::Signature,
        StatusCode,
        &str,
    )> = vec![
        (
            "a batch signature by another key",
            next.clone(),
            forged,
            StatusCode::BAD_REQUEST,
            "bad_signature",
        ),
        (
            "the head signed under the record context",
            next.clone(),
            as_record,
            StatusCode::BAD_REQUEST,
            "bad_signature",
        ),
        (
            "a record edited mid-batch",
            vec![next[0].clone(), edited(&next[1])?, next[2].clone()],
            signature,
            StatusCode::BAD_REQUEST,
            "bad_signature",
        ),
        (
            "the last record edited",
            vec![next[0].clone(), next[1].clone(), edited(&next[2])?],
            signature,
            StatusCode::BAD_REQUEST,
            "bad_signature",
        ),
        (
            "a middle record swapped for another the register signed",
            vec![next[0].clone(), swapped.clone(), next[2].clone()],
            signature,
            StatusCode::BAD_REQUEST,
            "bad_signature",
        ),
        (
            "an old batch's signature on new records",
            next.clone(),
            stored_signature,
            StatusCode::BAD_REQUEST,
            "bad_signature",
        ),
        (
            "a record missing inside",
            vec![next[0].clone(), next[2].clone()],
            signature,
            StatusCode::BAD_REQUEST,
            "not_contiguous",
        ),
        (
            "reordered",
            vec![next[1].clone(), next[0].clone()],
            signature,
            StatusCode::BAD_REQUEST,
            "not_contiguous",
        ),
        (
            "the record before missing",
            next[1..].to_vec(),
            signature,
            StatusCode::CONFLICT,
            "seq_gap",
        ),
    ];
    for (what, batch, signature, status, expected) in refusals {
        let (got, body) = alice.upload_chained(&batch, signature).await?;
        assert_eq!(
            (got, code(&body).as_str()),
            (status, expected),
            "{what}: {body}"
        );
    }

    // Alice's records sent by Bob, with Bob's own head signature: as they
    // are, then re-addressed.
    let bobs = bob.chain_signature(&stored)?;
    let (got, body) = bob.upload_chained(&stored, bobs).await?;
    assert_eq!(
        (got, code(&body).as_str()),
        (StatusCode::FORBIDDEN, "wrong_register"),
        "{body}"
    );
    let readdressed: Vec<SignedRecord> = stored
        .iter()
        .map(|r| SignedRecord {
            register_id: bob.id,
            ..r.clone()
        })
        .collect();
    let (got, body) = bob.upload_chained(&readdressed, bobs).await?;
    assert_eq!(got, StatusCode::BAD_REQUEST, "{body}");

    let (alice_rows, _) = server_records(server.data_dir(), alice.id)?;
    assert_eq!(alice_rows.len(), 3, "only the honest batch");
    let (bob_rows, _) = server_records(server.data_dir(), bob.id)?;
    assert!(bob_rows.is_empty());
    let alerts = Oversight::new(&server).alerts(chain.merchant_id()).await?;
    assert!(
        alerts
            .iter()
            .any(|a| a.kind == AlertKind::BadSignature && a.register_id == alice.id),
        "{alerts:?}"
    );

    // The honest batch, and a replay of it, go through.
    for _ in 0..2 {
        let (got, body) = alice.upload_chained(&next, signature).await?;
        assert_eq!(got, StatusCode::OK, "{body}");
    }
    let (alice_rows, _) = server_records(server.data_dir(), alice.id)?;
    assert_eq!(
        alice_rows.iter().map(|r| r.total).collect::<Vec<_>>(),
        [500, 500, 500, 700, 700, 700]
    );
    let batches = scrape(&server).await?;
    assert!(metric(&batches, r#"ingest_batches_total{path="chain"}"#) >= 3.0);
    Ok(())
}

/// The audit of the chain path: a record whose own signature is bad but
/// which is bound by a valid batch signature (made here with the
/// register's key) is stored, then found by the background audit, which
/// alerts HQ; the server never hands it over as evidence for a return.
/// An old agent's batch (no chain signature) beside it is verified record
/// by record and needs no audit.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bad_signature_of_its_own_under_a_valid_chain_is_found_by_the_audit() -> anyhow::Result<()>
{
    let tmp = tempfile::tempdir()?;
    let (server, chain) = server_with_chain(tmp.path(), "").await?;
    let mut till = SimRegister::enroll(&server, chain.stores[0].id).await?;
    let mut batch = till.sales(3, 900)?;
    let mut bad = *batch[1].signature.as_bytes();
    bad[10] ^= 0x01;
    batch[1].signature = shared::crypto::Signature::from_slice(&bad)?;
    let signature = till.chain_signature(&batch)?;
    let (got, body) = till.upload_chained(&batch, signature).await?;
    assert_eq!(got, StatusCode::OK, "{body}");

    let two = Some(Seq::new(2)?);
    let oversight = Oversight::new(&server);
    let alert = wait_for(SETTLE, || async {
        let alerts = oversight.alerts(chain.merchant_id()).await?;
        Ok(alerts
            .into_iter()
            .find(|a| a.kind == AlertKind::BadSignature && a.register_id == till.id))
    })
    .await?;
    assert_eq!(alert.seq, two, "{alert:?}");
    let audit = wait_for(SETTLE, || async {
        let audit = server_audit(server.data_dir(), till.id)?;
        Ok(audit.iter().all(|&(_, a)| a != 0).then_some(audit))
    })
    .await?;
    assert_eq!(audit, [(1, 1), (2, -1), (3, 1)]);
    let (status, body) = till.fetch_sale(till.id, Seq::new(2)?).await?;
    assert_eq!(
        (status, code(&body).as_str()),
        (StatusCode::CONFLICT, "record_unverified"),
        "{body}"
    );
    let (status, body) = till.fetch_sale(till.id, Seq::new(3)?).await?;
    assert_eq!(status, StatusCode::OK, "{body}");

    // An old agent: no chain signature, every record verified at ingest.
    let mut old = SimRegister::enroll(&server, chain.stores[0].id).await?;
    let records = old.sales(4, 100)?;
    old.upload_ok(&records).await?;
    assert!(every_audited(&server, old.id)?);
    let metrics = scrape(&server).await?;
    assert!(metric(&metrics, r#"ingest_batches_total{path="each_record"}"#) >= 1.0);
    assert!(metric(&metrics, r#"audit_records_total{outcome="failed"}"#) >= 1.0);
    Ok(())
}

/// `signed` with its total changed after signing.
fn edited(signed: &SignedRecord) -> anyhow::Result<SignedRecord> {
    let body = from_base64(&signed.body).ok_or_else(|| anyhow::anyhow!("base64"))?;
    let mut json: serde_json::Value = serde_json::from_slice(&body)?;
    json["total"] = serde_json::json!(1);
    Ok(SignedRecord {
        body: to_base64(&serde_json::to_vec(&json)?),
        ..signed.clone()
    })
}
