//! PouchDB side by side (`perf peer`): the same purchase records moved by
//! a PouchDB client to pouchdb-server (the sync engine offline-first shops
//! are often built on) and by a real `pos-agent` draining its outbox into
//! the real `sync-server` binary, in the same run on the same machine.
//!
//! Our side runs twice: with every record's signature verified (the
//! server's `[ingest] chain_verified = false`) and with the chain-verified
//! ingest (one signature a batch). The records are seeded into the agent's
//! outbox, exported one JSON object a line (`record_id`, the record's body,
//! its signature) and given to `tests/peer/replicate.mjs`, which loads them
//! into PouchDB's own database first (untimed, as a till would hold them)
//! and times `replicate.to(server, {batch_size: 500})`. Pinned pouchdb and
//! pouchdb-server come from `tests/peer/package-lock.json` (`npm ci`); the
//! section says so and skips when Node.js or npm is missing or the install
//! fails. Goals: ≥ 20 × PouchDB's rate per-record, ≥ 50 × chain-verified.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use anyhow::{Context as _, ensure};
use serde::Deserialize;
use shared::crypto::to_base64;
use system_tests::harness::{
    AgentProcess, ServerProcess, enroll_agent, free_port, seed_outbox, wait_status,
};
use system_tests::scenario::create_chain;
use tokio::process::Command;

use super::{info, row};

/// Records moved each way; `PERF_PEER_RECORDS` overrides it.
const DEFAULT_RECORDS: usize = 100_000;

/// What `replicate.mjs` prints.
#[derive(Debug, Deserialize)]
struct PeerRun {
    docs: u64,
    seconds: f64,
    server_docs: u64,
    client_peak_kib: u64,
    server_peak_kib: u64,
}

/// One drain of ours.
struct OurRun {
    rate: f64,
    seconds: f64,
    agent_peak_kib: u64,
    server_peak_kib: u64,
}

/// Whether `program --version` runs.
async fn present(program: &str) -> bool {
    Command::new(program)
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .await
        .is_ok_and(|s| s.success())
}

/// `tests/peer`, with its pinned packages installed (`npm ci`) unless
/// they are; `Err` says why the peer cannot run.
async fn peer_dir() -> Result<PathBuf, String> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("peer");
    if !present("node").await || !present("npm").await {
        return Err("Node.js and npm are not installed".into());
    }
    if dir.join("node_modules/pouchdb-server").exists() && dir.join("node_modules/pouchdb").exists()
    {
        return Ok(dir);
    }
    let started = Instant::now();
    let out = Command::new("npm")
        .args(["ci", "--no-audit", "--no-fund"])
        .current_dir(&dir)
        .output()
        .await
        .map_err(|e| format!("npm ci: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "npm ci failed: {}",
            String::from_utf8_lossy(&out.stderr)
                .lines()
                .last()
                .unwrap_or_default()
        ));
    }
    info(
        "installed pouchdb and pouchdb-server (npm ci)",
        format!("{:.0} s", started.elapsed().as_secs_f64()),
        "tests/peer".into(),
    );
    Ok(dir)
}

/// Writes the outbox's records, in sequence, one JSON object a line.
fn export_outbox(db: &Path, to: &Path) -> anyhow::Result<u64> {
    use std::io::Write as _;
    let conn = rusqlite::Connection::open(db)?;
    let mut out = std::io::BufWriter::new(std::fs::File::create(to)?);
    let mut stmt = conn.prepare("SELECT record_id, body, signature FROM outbox ORDER BY seq")?;
    let mut rows = stmt.query([])?;
    let mut n = 0;
    while let Some(r) = rows.next()? {
        let body: Vec<u8> = r.get(1)?;
        let line = serde_json::json!({
            "record_id": r.get::<_, String>(0)?,
            "body": serde_json::from_slice::<serde_json::Value>(&body)?,
            "signature": to_base64(&r.get::<_, Vec<u8>>(2)?),
        });
        serde_json::to_writer(&mut out, &line)?;
        out.write_all(b"\n")?;
        n += 1;
    }
    out.flush()?;
    Ok(n)
}

/// A real agent drains `records` seeded sales into the server binary, with
/// chain-verified ingest on or off; with `export`, the records are written
/// there first.
async fn drain(
    dir: &Path,
    records: usize,
    chain_verified: bool,
    export: Option<&Path>,
) -> anyhow::Result<OurRun> {
    let name = if chain_verified { "chain" } else { "each" };
    let listen = SocketAddr::from(([127, 0, 0, 1], free_port()?));
    let flag = chain_verified.to_string();
    let server = ServerProcess::spawn_with(
        &dir.join(format!("peer-server-{name}")),
        listen,
        &[("SYNC_SERVER__INGEST__CHAIN_VERIFIED", flag.as_str())],
    )
    .await?;
    let admin = server.admin();
    let chain = create_chain(&admin).await?;
    let token = admin.enrollment_token(chain.stores[0].id).await?;
    let config = enroll_agent(
        &server.url(),
        &token.token,
        &dir.join(format!("peer-agent-{name}")),
        |_| {},
    )
    .await?;
    seed_outbox(&config, records, Some((chain.customers[0].id, 5)))?;
    if let Some(to) = export {
        let n = export_outbox(&config.db_path(), to)?;
        ensure!(n == records as u64, "exported {n} of {records} records");
    }
    let api = SocketAddr::from(([127, 0, 0, 1], free_port()?));
    let started = Instant::now();
    let agent = AgentProcess::spawn(&config.data_dir, api).await?;
    wait_status(&agent.till, Duration::from_secs(3600), |s| {
        s.outbox_pending == 0
    })
    .await?;
    let seconds = started.elapsed().as_secs_f64();
    let run = OurRun {
        rate: records as f64 / seconds,
        seconds,
        agent_peak_kib: agent.peak_rss_kib()?,
        server_peak_kib: server.status_field("VmHWM")?,
    };
    agent.stop().await?;
    Ok(run)
}

/// The section.
pub async fn bench_peer(dir: &Path) -> anyhow::Result<()> {
    let records = std::env::var("PERF_PEER_RECORDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(DEFAULT_RECORDS);
    println!("\n== sync beside PouchDB ({records} purchase records, the same JSON) ==");
    let peer = match peer_dir().await {
        Ok(peer) => peer,
        Err(why) => {
            println!("skipped: {why}");
            return Ok(());
        }
    };
    let jsonl = dir.join("peer-records.jsonl");
    let each = drain(dir, records, false, Some(&jsonl)).await?;
    let chained = drain(dir, records, true, None).await?;
    let bytes = std::fs::metadata(&jsonl)?.len();

    let out = Command::new("node")
        .arg(peer.join("replicate.mjs"))
        .arg(&jsonl)
        .arg(dir.join("pouch"))
        .arg(free_port()?.to_string())
        .stderr(Stdio::inherit())
        .output()
        .await
        .context("node replicate.mjs")?;
    ensure!(
        out.status.success(),
        "replicate.mjs failed: {}",
        String::from_utf8_lossy(&out.stdout)
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    let pouch: PeerRun = serde_json::from_str(stdout.lines().last().unwrap_or_default())
        .with_context(|| format!("replicate.mjs printed {stdout:?}"))?;
    ensure!(
        pouch.server_docs == records as u64 && pouch.docs == records as u64,
        "pouchdb-server holds {} of {records} docs",
        pouch.server_docs
    );
    let pouch_rate = pouch.docs as f64 / pouch.seconds;
    let mib = |kib: u64| format!("{:.0} MiB", kib as f64 / 1024.0);

    info(
        "PouchDB → pouchdb-server, docs/s (batch_size 500)",
        format!("{pouch_rate:.0}"),
        format!("{:.1} s", pouch.seconds),
    );
    info(
        "  bytes a record (JSON line)",
        format!("{}", bytes / records.max(1) as u64),
        "same records".into(),
    );
    info(
        "  peak RSS, PouchDB client / pouchdb-server",
        mib(pouch.client_peak_kib),
        mib(pouch.server_peak_kib),
    );
    for (what, run, goal) in [
        ("per-record verification", &each, 20.0),
        ("chain-verified ingest", &chained, 50.0),
    ] {
        info(
            &format!("agent → sync-server, {what}, rec/s"),
            format!("{:.0}", run.rate),
            format!("{:.1} s", run.seconds),
        );
        info(
            "  peak RSS, pos-agent / sync-server",
            mib(run.agent_peak_kib),
            mib(run.server_peak_kib),
        );
        let times = run.rate / pouch_rate;
        row(
            &format!("  ÷ PouchDB's rate, {what}"),
            format!("{times:.1} ×"),
            format!("≥ {goal:.0} ×"),
            goal / times,
        );
    }
    Ok(())
}
