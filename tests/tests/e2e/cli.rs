//! Store IT's path with the real binaries as separate processes: a server
//! started from the command line, merchant set-up through the admin CLI,
//! `pos-agent enroll`, `doctor`, `run` and `status` (also `status --watch`
//! following a backlog's upload after an outage).

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use anyhow::{Context, bail, ensure};
use system_tests::clients::TillClient;
use system_tests::scenario::{CATALOG, line_json};
use test_kit::poll::Deadline;

/// The workspace's binaries sit beside the test executable's `deps/`.
fn binary(name: &str) -> anyhow::Result<PathBuf> {
    let exe = std::env::current_exe()?;
    let dir = exe
        .parent()
        .and_then(Path::parent)
        .context("test executable has no target directory")?;
    let path = dir.join(name);
    ensure!(
        path.is_file(),
        "{} is missing: `cargo test --workspace` builds it",
        path.display()
    );
    Ok(path)
}

fn free_port() -> anyhow::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

fn run(cmd: &mut Command) -> anyhow::Result<Output> {
    let out = cmd.output().with_context(|| format!("run {cmd:?}"))?;
    Ok(out)
}

fn ok_stdout(cmd: &mut Command) -> anyhow::Result<String> {
    let out = run(cmd)?;
    if !out.status.success() {
        bail!(
            "{cmd:?} failed: {}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(String::from_utf8(out.stdout)?)
}

/// A child process stopped with SIGINT (as systemd would) when dropped.
struct Daemon(std::process::Child);

impl Drop for Daemon {
    fn drop(&mut self) {
        if let Ok(pid) = i32::try_from(self.0.id()) {
            let _ = nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(pid),
                nix::sys::signal::Signal::SIGINT,
            );
        }
        let deadline = Deadline::after(Duration::from_secs(5));
        loop {
            if let Ok(Some(_)) = self.0.try_wait() {
                return;
            }
            if deadline.tick_blocking(String::new).is_err() {
                break;
            }
        }
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

async fn wait_http(url: &str) -> anyhow::Result<()> {
    let deadline = Deadline::after(Duration::from_secs(30));
    loop {
        if reqwest::get(url)
            .await
            .is_ok_and(|r| r.status().is_success())
        {
            return Ok(());
        }
        if deadline.tick(String::new).await.is_err() {
            break;
        }
    }
    bail!("{url} did not answer")
}

/// The admin token the CLI tests' servers start with.
const ADMIN_TOKEN: &str = "cli-admin-token-0123456789";

/// Runs `command` (the server binary) as `serve` over `data_dir` on a free
/// port with [`ADMIN_TOKEN`], and waits until it answers; its URL.
async fn serve(command: Command, data_dir: &Path) -> anyhow::Result<(Daemon, String)> {
    let url = format!("http://127.0.0.1:{}", free_port()?);
    let server = serve_at(command, data_dir, &url).await?;
    Ok((server, url))
}

/// [`serve`] at `url` (a server started again where its registers know it).
async fn serve_at(mut command: Command, data_dir: &Path, url: &str) -> anyhow::Result<Daemon> {
    let server = Daemon(
        command
            .args(["serve", "--data-dir"])
            .arg(data_dir)
            .args(["--listen", url.trim_start_matches("http://")])
            .env("SYNC_SERVER__ADMIN_TOKEN", ADMIN_TOKEN)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()?,
    );
    wait_http(&format!("{url}/health")).await?;
    Ok(server)
}

/// `sync-server admin --server URL --admin-token TOKEN ARGS…`.
fn admin_command(server_bin: &Path, url: &str, token: &str, args: &[&str]) -> Command {
    let mut c = Command::new(server_bin);
    c.args(["admin", "--server", url, "--admin-token", token])
        .args(args);
    c
}

/// A merchant «Ромашка» with a store «Тверская» in Moscow, made through
/// the admin CLI; their ids.
fn merchant_and_store(admin: &dyn Fn(&[&str]) -> Command) -> anyhow::Result<(i64, i64)> {
    let merchant = id_of(&ok_stdout(&mut admin(&[
        "merchant",
        "create",
        "--name",
        "Ромашка",
    ]))?)?;
    let store = id_of(&ok_stdout(&mut admin(&[
        "store",
        "create",
        "--merchant",
        &merchant.to_string(),
        "--name",
        "Тверская",
        "--timezone",
        "Europe/Moscow",
    ]))?)?;
    Ok((merchant, store))
}

fn id_of(json: &str) -> anyhow::Result<i64> {
    let v: serde_json::Value = serde_json::from_str(json)?;
    v["id"].as_i64().context("reply has no id")
}

/// `pos-agent run` over `till_dir` on a free port, once it answers; its
/// local API.
async fn run_agent(agent_bin: &Path, till_dir: &Path) -> anyhow::Result<(Daemon, TillClient)> {
    let api = format!("127.0.0.1:{}", free_port()?);
    let agent = Daemon(
        Command::new(agent_bin)
            .args(["run", "--listen", &api, "--data-dir"])
            .arg(till_dir)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()?,
    );
    wait_http(&format!("http://{api}/health")).await?;
    Ok((agent, TillClient::new(&format!("http://{api}"))))
}

/// Waits until the agent behind `till` prices with a ruleset (the
/// programme arrives by long-poll).
async fn wait_ruleset_in_use(till: &TillClient) -> anyhow::Result<()> {
    let deadline = Deadline::after(Duration::from_secs(30));
    loop {
        if till.status().await?.ruleset_version.is_some() {
            return Ok(());
        }
        deadline
            .tick(|| "the agent never received the published ruleset".to_owned())
            .await?;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn store_it_sets_up_enrolls_checks_and_runs_a_register_with_the_real_binaries()
-> anyhow::Result<()> {
    let server_bin = binary("sync-server")?;
    let agent_bin = binary("pos-agent")?;
    let tmp = tempfile::tempdir()?;
    let (_server, url) = serve(Command::new(&server_bin), &tmp.path().join("server")).await?;
    let token = ADMIN_TOKEN;

    let admin = |args: &[&str]| admin_command(&server_bin, &url, token, args);
    let (merchant, store) = merchant_and_store(&admin)?;
    let bad_tz = run(&mut admin(&[
        "store",
        "create",
        "--merchant",
        &merchant.to_string(),
        "--name",
        "X",
        "--timezone",
        "Mars/Olympus",
    ]))?;
    ensure!(!bad_tz.status.success(), "an unknown time zone must fail");
    let ruleset = tmp.path().join("ruleset.json");
    std::fs::write(
        &ruleset,
        serde_json::to_vec(&system_tests::scenario::programme())?,
    )?;
    ok_stdout(&mut admin(&[
        "ruleset",
        "publish",
        "--merchant",
        &merchant.to_string(),
        "--file",
        ruleset.to_str().context("path")?,
    ]))?;
    let enrollment: serde_json::Value = serde_json::from_str(&ok_stdout(&mut admin(&[
        "enrollment-token",
        "create",
        "--store",
        &store.to_string(),
    ]))?)?;
    let enrollment = enrollment["token"].as_str().context("token")?.to_owned();

    let till_dir = tmp.path().join("till");
    let enrolled = ok_stdout(
        Command::new(&agent_bin)
            .args([
                "enroll",
                "--server",
                &url,
                "--token",
                &enrollment,
                "--data-dir",
            ])
            .arg(&till_dir),
    )?;
    ensure!(enrolled.contains("enrolled as register"), "{enrolled}");
    let again = run(Command::new(&agent_bin)
        .args([
            "enroll",
            "--server",
            &url,
            "--token",
            &enrollment,
            "--data-dir",
        ])
        .arg(tmp.path().join("till-2")))?;
    ensure!(
        !again.status.success(),
        "a used enrollment token must be refused"
    );
    ensure!(
        String::from_utf8_lossy(&again.stderr).contains("used"),
        "{}",
        String::from_utf8_lossy(&again.stderr)
    );
    let key_mode = std::fs::metadata(till_dir.join("register.pk8"))?.permissions();
    ensure!(
        std::os::unix::fs::PermissionsExt::mode(&key_mode) & 0o777 == 0o600,
        "the register key must be private"
    );

    let doctor = ok_stdout(
        Command::new(&agent_bin)
            .args(["doctor", "--data-dir"])
            .arg(&till_dir),
    )?;
    ensure!(doctor.contains('✓') && !doctor.contains('✗'), "{doctor}");

    let (_agent, till) = run_agent(&agent_bin, &till_dir).await?;
    wait_ruleset_in_use(&till).await?;
    let check = till.open().await?;
    till.add_line(check.id, &line_json(&CATALOG[1], 2)).await?;
    let committed = till.commit(check.id).await?;
    ensure!(committed.pricing.total.minor() == 2 * 7_450 - 1_490);

    let mut synced = false;
    let deadline = Deadline::after(Duration::from_secs(30));
    loop {
        let status = ok_stdout(
            Command::new(&agent_bin)
                .args(["status", "--data-dir"])
                .arg(&till_dir),
        )?;
        if status.contains("pending uploads: 0") && status.contains("last seq:        1") {
            synced = true;
            break;
        }
        if deadline.tick(String::new).await.is_err() {
            break;
        }
    }
    ensure!(synced, "the committed check did not sync");
    let stats = ok_stdout(&mut admin(&["stats", "--merchant", &merchant.to_string()]))?;
    let stats: sync_server::wire::admin::Stats = serde_json::from_str(&stats)?;
    ensure!(stats.totals.checks == 1 && stats.totals.revenue == committed.pricing.total);

    // The server prices the check again and agrees: `admin mismatches`.
    let mut report = None;
    let deadline = Deadline::after(Duration::from_secs(30));
    loop {
        let out = ok_stdout(&mut admin(&[
            "mismatches",
            "--merchant",
            &merchant.to_string(),
        ]))?;
        let r: sync_server::wire::RepriceReport = serde_json::from_str(&out)?;
        if r.counts.pending == 0 && r.counts.repriced + r.counts.skipped == 1 {
            report = Some(r);
            break;
        }
        if deadline.tick(String::new).await.is_err() {
            break;
        }
    }
    let report = report.context("the server never re-priced the check")?;
    ensure!(
        report.counts.matched == 1 && report.mismatches.is_empty(),
        "{report:?}"
    );
    Ok(())
}

/// `bin` run by a shell that first sets the umask to 000, the most open.
fn with_open_umask(bin: &Path) -> Command {
    let mut cmd = Command::new("sh");
    cmd.args(["-c", "umask 000 && exec \"$0\" \"$@\""]).arg(bin);
    cmd
}

fn mode_of(path: &Path) -> anyhow::Result<u32> {
    use std::os::unix::fs::PermissionsExt as _;
    Ok(std::fs::metadata(path)
        .with_context(|| format!("{}", path.display()))?
        .permissions()
        .mode()
        & 0o777)
}

fn ensure_mode(path: &Path, wanted: u32) -> anyhow::Result<()> {
    let mode = mode_of(path)?;
    ensure!(
        mode == wanted,
        "{} has mode {mode:o}, not {wanted:o}",
        path.display()
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_binaries_keep_personal_data_private_whatever_the_umask_and_doctor_checks_it()
-> anyhow::Result<()> {
    let server_bin = binary("sync-server")?;
    let agent_bin = binary("pos-agent")?;
    let tmp = tempfile::tempdir()?;
    let token = ADMIN_TOKEN;

    let server_dir = tmp.path().join("srv").join("data");
    let (_server, url) = serve(with_open_umask(&server_bin), &server_dir).await?;
    ensure_mode(&server_dir, 0o700)?;
    for file in [
        "sync-server.db",
        "sync-server.db-wal",
        "sync-server.db-shm",
        "server-signing.pk8",
    ] {
        ensure_mode(&server_dir.join(file), 0o600)?;
    }

    let admin = |args: &[&str]| admin_command(&server_bin, &url, token, args);
    let (_, store) = merchant_and_store(&admin)?;
    let enrollment: serde_json::Value = serde_json::from_str(&ok_stdout(&mut admin(&[
        "enrollment-token",
        "create",
        "--store",
        &store.to_string(),
    ]))?)?;
    let enrollment = enrollment["token"].as_str().context("token")?.to_owned();

    let till_dir = tmp.path().join("till").join("data");
    ok_stdout(
        with_open_umask(&agent_bin)
            .args(["enroll", "--server", &url, "--token", &enrollment])
            .arg("--data-dir")
            .arg(&till_dir),
    )?;
    ensure_mode(&till_dir, 0o700)?;
    for file in ["agent.toml", "register.pk8", "api-token"] {
        ensure_mode(&till_dir.join(file), 0o600)?;
    }

    let api = format!("127.0.0.1:{}", free_port()?);
    let agent = Daemon(
        with_open_umask(&agent_bin)
            .args(["run", "--listen", &api, "--data-dir"])
            .arg(&till_dir)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()?,
    );
    wait_http(&format!("http://{api}/health")).await?;
    for file in ["agent.db", "agent.db-wal", "agent.db-shm"] {
        ensure_mode(&till_dir.join(file), 0o600)?;
    }
    let doctor = |dir: &Path| {
        run(Command::new(&agent_bin)
            .args(["doctor", "--data-dir"])
            .arg(dir))
    };
    let healthy = String::from_utf8(doctor(&till_dir)?.stdout)?;
    ensure!(healthy.contains("✓ file modes"), "{healthy}");
    drop(agent);

    // A database someone made world-readable is a problem doctor reports.
    std::fs::set_permissions(
        till_dir.join("agent.db"),
        std::os::unix::fs::PermissionsExt::from_mode(0o644),
    )?;
    let out = doctor(&till_dir)?;
    let report = String::from_utf8(out.stdout)?;
    ensure!(!out.status.success(), "{report}");
    ensure!(
        report.contains("✗ file modes") && report.contains("agent.db has mode 644"),
        "{report}"
    );
    Ok(())
}

#[test]
fn doctor_and_status_tell_an_unenrolled_directory_to_enroll_with_whole_paths() -> anyhow::Result<()>
{
    let agent_bin = binary("pos-agent")?;
    let cwd = tempfile::tempdir()?;
    // A relative path, as an operator types it.
    let out = run(Command::new(&agent_bin).current_dir(cwd.path()).args([
        "doctor",
        "--data-dir",
        "till",
    ]))?;
    let report = String::from_utf8(out.stdout)?;
    ensure!(
        !out.status.success(),
        "doctor passes an unenrolled register:\n{report}"
    );
    let whole = std::fs::canonicalize(cwd.path())?.join("till");
    for check in ["configuration", "register key", "database"] {
        let line = report
            .lines()
            .find(|l| l.contains(check))
            .with_context(|| format!("no {check} line in:\n{report}"))?;
        ensure!(line.starts_with('✗'), "{check} is not failed: {line}");
    }
    ensure!(
        report
            .lines()
            .all(|l| l.starts_with('✓') || l.starts_with('✗')),
        "a check wraps onto a second line:\n{report}"
    );
    ensure!(
        report.contains(&whole.join("agent.toml").display().to_string()),
        "paths are not whole:\n{report}"
    );
    ensure!(report.contains("pos-agent enroll"), "{report}");

    let out = run(Command::new(&agent_bin).current_dir(cwd.path()).args([
        "status",
        "--data-dir",
        "till",
    ]))?;
    let said = String::from_utf8(out.stderr)?;
    ensure!(!out.status.success());
    ensure!(
        said.contains("not an enrolled register") && said.contains("pos-agent enroll"),
        "{said}"
    );
    ensure!(!said.contains("`pos-agent run` creates it"), "{said}");
    Ok(())
}

/// People and keys from the command line (issue 12): `admin user invite`
/// prints a one-time link whose page names the person; an API key from
/// `admin api-key create` works as the CLI's bearer within its role and
/// no further; `admin audit` shows who did it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cli_invites_people_and_its_api_keys_act_within_their_role() -> anyhow::Result<()> {
    let server_bin = binary("sync-server")?;
    let tmp = tempfile::tempdir()?;
    let (_server, url) = serve(Command::new(&server_bin), &tmp.path().join("server")).await?;
    let token = ADMIN_TOKEN;
    let admin = |args: &[&str]| admin_command(&server_bin, &url, token, args);
    let (merchant, store) = merchant_and_store(&admin)?;
    let merchant = merchant.to_string();

    let link = ok_stdout(&mut admin(&[
        "user",
        "invite",
        "--merchant",
        &merchant,
        "--email",
        "Oleg@Example.ru",
        "--role",
        "store_manager",
        "--store",
        &store.to_string(),
    ]))?;
    let link = link.trim();
    ensure!(
        link.starts_with(&format!("{url}/hq/welcome/")),
        "the invitation prints its link: {link:?}"
    );
    let page = reqwest::get(link).await?;
    ensure!(
        page.status().is_success(),
        "the link opens: {}",
        page.status()
    );
    ensure!(page.text().await?.contains("oleg@example.ru"));
    let unknown_role = run(&mut admin(&[
        "user",
        "invite",
        "--merchant",
        &merchant,
        "--email",
        "x@example.ru",
        "--role",
        "boss",
    ]))?;
    ensure!(!unknown_role.status.success(), "an unknown role must fail");

    let key: serde_json::Value = serde_json::from_str(&ok_stdout(&mut admin(&[
        "api-key",
        "create",
        "--merchant",
        &merchant,
        "--name",
        "BI",
        "--role",
        "analyst",
    ]))?)?;
    let key = key["token"].as_str().context("the key's token")?.to_owned();
    let as_key = |args: &[&str]| admin_command(&server_bin, &url, &key, args);
    ok_stdout(&mut as_key(&["stats", "--merchant", &merchant]))?;
    let refused = run(&mut as_key(&[
        "store",
        "create",
        "--merchant",
        &merchant,
        "--name",
        "Арбат",
        "--timezone",
        "Europe/Moscow",
    ]))?;
    ensure!(
        !refused.status.success(),
        "an analyst's key creates no store"
    );
    ensure!(
        String::from_utf8_lossy(&refused.stderr).contains("role"),
        "the refusal says why: {}",
        String::from_utf8_lossy(&refused.stderr)
    );

    let trail: serde_json::Value = serde_json::from_str(&ok_stdout(&mut admin(&[
        "audit",
        "--merchant",
        &merchant,
        "--action",
        "account",
    ]))?)?;
    let trail = trail.as_array().context("the trail is a list")?;
    ensure!(
        trail.len() == 1
            && trail[0]["actor"] == "admin-token"
            && trail[0]["action"] == "account.invite",
        "the trail: {trail:?}"
    );
    Ok(())
}

/// A child's stdout, line by line, read on a thread of its own.
struct Lines {
    rx: std::sync::mpsc::Receiver<String>,
    seen: Vec<String>,
}

impl Lines {
    fn of(child: &mut std::process::Child) -> anyhow::Result<Self> {
        use std::io::BufRead as _;
        let stdout = child.stdout.take().context("stdout not piped")?;
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in std::io::BufReader::new(stdout)
                .lines()
                .map_while(Result::ok)
            {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Ok(Lines {
            rx,
            seen: Vec::new(),
        })
    }

    /// Waits for a line containing `text`.
    fn wait_for(&mut self, text: &str) -> anyhow::Result<String> {
        let deadline = Deadline::after(Duration::from_secs(30));
        loop {
            while let Ok(line) = self.rx.try_recv() {
                self.seen.push(line.clone());
                if line.contains(text) {
                    return Ok(line);
                }
            }
            deadline.tick_blocking(|| format!("no line with {text:?} in {:?}", self.seen))?;
        }
    }
}

/// Waits for `child` to exit (at most 30 s); its exit code.
fn exit_code(child: &mut std::process::Child) -> anyhow::Result<Option<i32>> {
    let deadline = Deadline::after(Duration::from_secs(30));
    loop {
        if let Some(status) = child.try_wait()? {
            return Ok(status.code());
        }
        deadline.tick_blocking(|| "the command did not end".to_owned())?;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_watch_follows_a_backlog_until_the_server_has_every_sale() -> anyhow::Result<()> {
    let server_bin = binary("sync-server")?;
    let agent_bin = binary("pos-agent")?;
    let tmp = tempfile::tempdir()?;
    let server_dir = tmp.path().join("server");
    let (server, url) = serve(Command::new(&server_bin), &server_dir).await?;
    let admin = |args: &[&str]| admin_command(&server_bin, &url, ADMIN_TOKEN, args);
    let (merchant, store) = merchant_and_store(&admin)?;
    let ruleset = tmp.path().join("ruleset.json");
    std::fs::write(
        &ruleset,
        serde_json::to_vec(&system_tests::scenario::programme())?,
    )?;
    let merchant = merchant.to_string();
    let file = ruleset.to_str().context("path")?;
    ok_stdout(&mut admin(&[
        "ruleset",
        "publish",
        "--merchant",
        &merchant,
        "--file",
        file,
    ]))?;
    let enrollment: serde_json::Value = serde_json::from_str(&ok_stdout(&mut admin(&[
        "enrollment-token",
        "create",
        "--store",
        &store.to_string(),
    ]))?)?;
    let till_dir = tmp.path().join("till");
    ok_stdout(
        Command::new(&agent_bin)
            .args(["enroll", "--server", &url, "--token"])
            .arg(enrollment["token"].as_str().context("token")?)
            .arg("--data-dir")
            .arg(&till_dir),
    )?;
    let (_agent, till) = run_agent(&agent_bin, &till_dir).await?;
    wait_ruleset_in_use(&till).await?;

    // The server goes down for a while; the till keeps selling.
    drop(server);
    const SALES: usize = 40;
    for i in 0..SALES {
        let check = till.open().await?;
        till.add_line(check.id, &line_json(&CATALOG[i % CATALOG.len()], 1))
            .await?;
        till.commit(check.id).await?;
    }
    let watch = || {
        let mut command = Command::new(&agent_bin);
        command
            .args(["status", "--watch", "--data-dir"])
            .arg(&till_dir)
            .stdout(Stdio::piped())
            .stderr(Stdio::null());
        command
    };

    // Ctrl-C while the server is away: what is left, and exit code 130.
    let mut interrupted = Daemon(watch().spawn()?);
    let mut lines = Lines::of(&mut interrupted.0)?;
    lines.wait_for(&format!("{SALES} records to upload (seq 1 to {SALES})"))?;
    let pid = nix::unistd::Pid::from_raw(i32::try_from(interrupted.0.id())?);
    nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGINT)?;
    ensure!(exit_code(&mut interrupted.0)? == Some(130));
    lines.wait_for(&format!("stopped: {SALES} records still to upload"))?;

    // Watched while the server comes back: it ends once all is uploaded.
    let mut watching = Daemon(watch().spawn()?);
    let mut lines = Lines::of(&mut watching.0)?;
    lines.wait_for(&format!("{SALES} records to upload"))?;
    let _server = serve_at(Command::new(&server_bin), &server_dir, &url).await?;
    let done = lines.wait_for("backlog uploaded:")?;
    ensure!(
        done.starts_with(&format!("backlog uploaded: {SALES} records in ")),
        "{done}"
    );
    ensure!(exit_code(&mut watching.0)? == Some(0), "{:?}", lines.seen);
    let stats = ok_stdout(&mut admin(&["stats", "--merchant", &merchant]))?;
    let stats: sync_server::wire::admin::Stats = serde_json::from_str(&stats)?;
    ensure!(stats.totals.checks == SALES as i64, "{stats:?}");

    // Nothing left: said at once.
    let again = ok_stdout(&mut watch())?;
    ensure!(
        again.contains(&format!(
            "nothing to upload: every record through seq {SALES} is on the server"
        )),
        "{again}"
    );
    Ok(())
}
