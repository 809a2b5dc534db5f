//! Losing the server's signing key (issue 10 §5): the real `sync-server`
//! binary refuses to start without it once tills pinned it, `keys rotate
//! --recovery-key` makes a new key the recovery key endorses, and a real
//! till follows: it takes a release signed by the new key, accepts tokens
//! the server issues after the rotation (also offline after a restart),
//! refuses tokens of the revoked key (so does `pos-agent scan-image`
//! beside it), and refuses an endorsement signed by
//! a random key with an alarm. A planned rotation (endorsed by the old key)
//! is followed too.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use anyhow::{Context, bail, ensure};
use shared::crypto::{SigningKey, generate_pkcs8};
use shared::ids::{CustomerId, MerchantId, RulesetVersion};
use shared::keys::{ChainSeq, Endorsement, KeyChange, SignedBy};
use shared::token::CustomerToken;
use shared::wire::till::TillEvent;
use system_tests::events::EventStream;
use system_tests::harness::{free_port, workspace_binary};
use system_tests::scenario;
use system_tests::system::{TestAgent, TestServer, test_database_url};

use crate::{WAIT, ready_agent_for};

const KEY_FILE: &str = "server-signing.pk8";

/// `sync-server keys ARGS… --data-dir DATA` (and the test's PostgreSQL
/// schema when the tests run there).
fn keys_command(data: &Path, args: &[&str]) -> anyhow::Result<Command> {
    let mut command = Command::new(workspace_binary("sync-server")?);
    command.arg("keys").args(args).arg("--data-dir").arg(data);
    if let Some(url) = test_database_url(data)? {
        command.args(["--database-url", &url]);
    }
    Ok(command)
}

fn ok_stdout(command: &mut Command) -> anyhow::Result<String> {
    let out = command
        .output()
        .with_context(|| format!("run {command:?}"))?;
    if !out.status.success() {
        bail!(
            "{command:?} failed: {}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(String::from_utf8(out.stdout)?)
}

/// `sync-server serve` over `data`, which must stop by itself: its exit
/// status and stderr.
fn serve_expecting_refusal(data: &Path) -> anyhow::Result<(bool, String)> {
    let mut command = Command::new(workspace_binary("sync-server")?);
    command
        .args(["serve", "--data-dir"])
        .arg(data)
        .args(["--listen", &format!("127.0.0.1:{}", free_port()?)])
        .env("SYNC_SERVER__ADMIN_TOKEN", "test-admin-token-0123456789")
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    if let Some(url) = test_database_url(data)? {
        command.args(["--database-url", &url]);
    }
    let mut child = command.spawn()?;
    for _ in 0..600 {
        if child.try_wait()?.is_some() {
            let out = child.wait_with_output()?;
            return Ok((
                out.status.success(),
                String::from_utf8_lossy(&out.stderr).into_owned(),
            ));
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = child.kill();
    let _ = child.wait();
    bail!("the server started without its signing key instead of refusing")
}

fn read_key(path: &Path) -> anyhow::Result<SigningKey> {
    SigningKey::from_pkcs8(&std::fs::read(path)?)
        .map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))
}

/// Scans `text` at `agent` and waits for who was identified, or why the
/// scan was refused.
async fn scan(agent: &mut TestAgent, text: &str) -> anyhow::Result<Result<CustomerId, String>> {
    let mut events = EventStream::connect(agent.till.base()).await?;
    agent.scanner().scan(text)?;
    events
        .next_matching(WAIT, |ev| match ev {
            TillEvent::CustomerIdentified { customer, .. } => Some(Ok(customer.id)),
            TillEvent::ScanRejected { reason, .. } => Some(Err(reason)),
            _ => None,
        })
        .await
}

/// Appends a row to the stopped server's key chain, as a damaged or
/// tampered database would hold it.
fn insert_chain_row(
    data: &Path,
    endorsement: &Endorsement,
    public_key: &str,
) -> anyhow::Result<()> {
    let json = serde_json::to_string(endorsement)?;
    let seq = i64::try_from(endorsement.seq.0)?;
    let key = public_key.to_owned();
    match test_database_url(data)? {
        Some(url) => std::thread::spawn(move || -> anyhow::Result<()> {
            let mut client = postgres::Client::connect(&url, postgres::NoTls)?;
            client.execute(
                "INSERT INTO server_keys (seq, kind, public_key, endorsement, created_at)
                 VALUES ($1, 'recovery', $2, $3, now())",
                &[&seq, &key, &json],
            )?;
            Ok(())
        })
        .join()
        .map_err(|_| anyhow::anyhow!("the PostgreSQL helper panicked"))??,
        None => {
            let conn = rusqlite::Connection::open(data.join(sync_server::DATABASE_FILE))?;
            conn.execute(
                "INSERT INTO server_keys (seq, kind, public_key, endorsement, created_at)
                 VALUES (?1, 'recovery', ?2, ?3, '2026-01-01T00:00:00Z')",
                rusqlite::params![seq, key, json],
            )?;
        }
    }
    Ok(())
}

/// `pos-agent scan-image` over phone screens showing each `(file, text)`,
/// with the register in `data_dir`: what it printed.
fn scan_image(data_dir: &Path, dir: &Path, screens: &[(&str, &str)]) -> anyhow::Result<String> {
    std::fs::create_dir_all(dir)?;
    let mut command = Command::new(workspace_binary("pos-agent")?);
    command.arg("scan-image");
    for (file, text) in screens {
        let path = dir.join(file);
        hardware::render_phone_frame(text, &hardware::PhoneFrame::default())
            .context("the token fits a QR code")?
            .save(&path)?;
        command.arg(path);
    }
    command.arg("--data-dir").arg(data_dir);
    ok_stdout(&mut command)
}

fn random_key() -> anyhow::Result<SigningKey> {
    let document = generate_pkcs8(&ring::rand::SystemRandom::new())?;
    Ok(SigningKey::from_pkcs8(&document)?)
}

/// The programme less its last promotion, a new release: its version.
async fn publish_more(server: &TestServer, merchant: MerchantId) -> anyhow::Result<RulesetVersion> {
    let mut ruleset = scenario::programme();
    ruleset.promotions.pop();
    Ok(server.admin().publish(merchant, &ruleset).await?.version)
}

/// After a rotation to `new_key`: a release signed by it reaches the till
/// (which follows the chain to take it), and a token the server issues now
/// for `customer` is signed by it and accepted at the scan.
async fn follows_the_new_key(
    server: &TestServer,
    agent: &mut TestAgent,
    merchant: MerchantId,
    customer: CustomerId,
    new_key: &shared::crypto::PublicKey,
) -> anyhow::Result<()> {
    let version = publish_more(server, merchant).await?;
    agent.wait_ruleset(version, WAIT).await?;
    let token = server.admin().customer_token(customer).await?.token;
    assert_eq!(
        shared::token::claimed_key_id(&token),
        Some(new_key.key_id())
    );
    assert_eq!(scan(agent, &token).await?, Ok(customer));
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lost_signing_key_is_replaced_through_the_recovery_key_and_the_till_follows()
-> anyhow::Result<()> {
    let tmp = tempfile::tempdir()?;
    let data = tmp.path().join("server");
    let offline = tmp.path().join("usb-stick");
    std::fs::create_dir(&offline)?;
    let recovery_file = offline.join("recovery.pk8");
    let mut server = TestServer::start(&data).await?;

    // The operator makes the recovery key (server stopped) and keeps it
    // offline; the till enrolled afterwards pins it.
    server.stop().await?;
    let made = ok_stdout(&mut keys_command(
        &data,
        &[
            "recovery-init",
            "--out",
            &recovery_file.display().to_string(),
        ],
    )?)?;
    ensure!(made.contains("OFFLINE"), "{made}");
    server.restart().await?;
    let chain = scenario::create_chain(&server.admin()).await?;
    let m = chain.merchant_id();
    let mut agent = ready_agent_for(
        &server,
        &chain,
        chain.stores[0].id,
        &tmp.path().join("till"),
    )
    .await?;
    let recovery = read_key(&recovery_file)?.public_key();
    assert_eq!(agent.config.sync.server_recovery_key, Some(recovery));
    let old_key = agent.config.sync.server_public_key;

    // The key file is lost (a thief keeps a copy).
    let stolen = read_key(&data.join(KEY_FILE))?;
    server.stop().await?;
    std::fs::remove_file(data.join(KEY_FILE))?;
    let (started, stderr) = serve_expecting_refusal(&data)?;
    ensure!(!started, "the server must not start: {stderr}");
    ensure!(
        stderr.contains(KEY_FILE)
            && stderr.contains("restore")
            && stderr.contains("keys rotate --recovery-key"),
        "the refusal names the file and both ways out: {stderr}"
    );
    ensure!(!data.join(KEY_FILE).exists(), "no untrusted key was made");

    let rotated = ok_stdout(&mut keys_command(
        &data,
        &[
            "rotate",
            "--recovery-key",
            &recovery_file.display().to_string(),
            "--revoke-old",
        ],
    )?)?;
    ensure!(rotated.contains("signed by the recovery key"), "{rotated}");
    let listed = ok_stdout(&mut keys_command(&data, &["list"])?)?;
    ensure!(listed.contains("old revoked"), "{listed}");
    let new_key = read_key(&data.join(KEY_FILE))?.public_key();
    assert_ne!(new_key, old_key);
    server.restart().await?;

    // A release signed by the new key: the till follows the chain and
    // takes it.
    // A token the server issues now is accepted at the scan.
    let anna = chain.customers[0].id;
    follows_the_new_key(&server, &mut agent, m, anna, &new_key).await?;

    // Offline, after a restart of the till: the key it learnt was stored.
    let boris = chain.customers[1].id;
    let later = server.admin().customer_token(boris).await?.token;
    server.stop().await?;
    agent.restart().await?;
    assert_eq!(scan(&mut agent, &later).await?, Ok(boris));

    // The revoked key signs nothing the till accepts any more.
    let forged_token = CustomerToken::new(m, anna, chrono::Utc::now(), 300, 7).issue(&stolen);
    let refused = scan(&mut agent, &forged_token).await?;
    ensure!(
        matches!(&refused, Err(reason) if reason.contains("revoked")),
        "{refused:?}"
    );

    // Store IT's `pos-agent scan-image`, beside the running till, trusts
    // what the till learnt: the new key's token verifies, the revoked
    // key's is refused as such.
    let images = tmp.path().join("images");
    let checked = scan_image(
        agent.data_dir(),
        &images,
        &[("new-key.png", &later), ("revoked-key.png", &forged_token)],
    )?;
    ensure!(
        checked.contains("verified with the server keys trusted by register")
            && checked.contains(&format!("customer token, verified: customer {boris}"))
            && checked.contains("revoked"),
        "{checked}"
    );

    // An endorsement signed by a random key, in the server's chain: the
    // till refuses it, raises the alarm and keeps its keys.
    let intruder = random_key()?;
    let forged = Endorsement::sign(
        ChainSeq(3),
        KeyChange::Recovery {
            recovery_key: intruder.public_key(),
            by: new_key,
        },
        SignedBy::SigningKey,
        &intruder,
    );
    insert_chain_row(&data, &forged, &intruder.public_key().to_base64())?;
    server.restart().await?;
    agent
        .wait_status(WAIT, |s| {
            s.sync
                .alarms
                .iter()
                .any(|a| a.contains("key chain was refused") && a.contains("does not verify"))
        })
        .await?;
    let fresh = server.admin().customer_token(anna).await?.token;
    assert_eq!(scan(&mut agent, &fresh).await?, Ok(anna));
    agent.stop().await?;
    server.stop().await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_planned_rotation_signed_by_the_old_key_is_followed_and_the_old_key_stays_valid()
-> anyhow::Result<()> {
    let tmp = tempfile::tempdir()?;
    let data = tmp.path().join("server");
    let mut server = TestServer::start(&data).await?;
    let chain = scenario::create_chain(&server.admin()).await?;
    let m = chain.merchant_id();
    let mut agent = ready_agent_for(
        &server,
        &chain,
        chain.stores[0].id,
        &tmp.path().join("till"),
    )
    .await?;
    assert_eq!(agent.config.sync.server_recovery_key, None);

    server.stop().await?;
    let rotated = ok_stdout(&mut keys_command(&data, &["rotate"])?)?;
    ensure!(
        rotated.contains("signed by the old signing key"),
        "{rotated}"
    );
    let retired: PathBuf = std::fs::read_dir(&data)?
        .filter_map(Result::ok)
        .map(|e| e.path())
        .find(|p| {
            p.file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with("server-signing.retired-"))
        })
        .context("the old key file is kept aside")?;
    let old = read_key(&retired)?;
    let new_key = read_key(&data.join(KEY_FILE))?.public_key();
    server.restart().await?;

    let anna = chain.customers[0].id;
    follows_the_new_key(&server, &mut agent, m, anna, &new_key).await?;
    // Not revoked: a token the old key signed (still on a phone) is good.
    let old_token = CustomerToken::new(m, anna, chrono::Utc::now(), 300, 9).issue(&old);
    assert_eq!(scan(&mut agent, &old_token).await?, Ok(anna));
    agent.stop().await?;
    server.stop().await?;
    Ok(())
}
