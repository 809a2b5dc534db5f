//! Scanners through the agent, with real components: pseudo-terminal pairs
//! as serial scanners (in-process, and through the real `pos-agent run`
//! unplugged and replugged behind a stable symlink), PNG phone screens
//! through `pos-agent scan-image`, `pos-agent scan-test` on a pty, and the
//! classification of every kind of code on the event stream.

use std::fs::File;
use std::io::{BufRead, BufReader, Write};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc as std_mpsc;

use chrono::TimeDelta;
use hardware::{FramingConfig, PhoneFrame, SerialConfig};
use nix::fcntl::OFlag;
use nix::pty::{PtyMaster, grantpt, posix_openpt, ptsname_r, unlockpt};
use nix::sys::signal::{Signal, kill};
use nix::unistd::{Pid, SysconfVar, sysconf};
use shared::identity::PhoneNumber;

use super::*;

const GS: &str = "\u{1d}";
const POS_AGENT: &str = env!("CARGO_BIN_EXE_pos-agent");

/// A pseudo-terminal pair standing in for a serial scanner: the agent opens
/// the slave by path like any `/dev/ttyACM0`; the test writes to the master.
/// Only the agent opens the slave, so dropping the master unplugs the
/// device. The master is close-on-exec, so no child process of any test
/// keeps the device alive.
struct Pty {
    master: PtyMaster,
    slave_path: PathBuf,
}

impl Pty {
    fn open() -> Self {
        let master = posix_openpt(OFlag::O_RDWR | OFlag::O_NOCTTY | OFlag::O_CLOEXEC).unwrap();
        grantpt(&master).unwrap();
        unlockpt(&master).unwrap();
        let slave_path = ptsname_r(&master).unwrap().into();
        Self { master, slave_path }
    }

    fn write(&mut self, bytes: &[u8]) {
        self.master.write_all(bytes).unwrap();
        self.master.flush().unwrap();
    }
}

/// Atomically (re)points the symlink `link` at `target`, as udev does for
/// `/dev/serial/by-id/…`.
fn point(link: &Path, target: &Path) {
    let tmp = link.with_extension("new");
    std::os::unix::fs::symlink(target, &tmp).unwrap();
    std::fs::rename(&tmp, link).unwrap();
}

/// A serial scanner on `path`, with an inter-character timeout generous
/// enough that a busy machine cannot split a code.
fn serial_scanner(path: &Path) -> SerialConfig {
    SerialConfig {
        path: path.display().to_string(),
        baud: 115_200,
        framing: FramingConfig {
            inter_char_timeout_ms: 1_000,
            ..FramingConfig::default()
        },
        reopen_backoff_max_ms: 400,
        ..SerialConfig::default()
    }
}

fn token_for(customer: i64, issued_at: DateTime<Utc>, lifetime_secs: u16) -> String {
    CustomerToken::new(
        MerchantId::new(1).unwrap(),
        CustomerId::new(customer).unwrap(),
        issued_at,
        lifetime_secs,
        11,
    )
    .issue(&server_key())
}

/// Polls `GET /v1/scanners` until the scanner `name` satisfies `done`.
async fn wait_for_scanner(
    http: &reqwest::Client,
    base: &str,
    name: &str,
    done: impl Fn(&Value) -> bool,
) -> Value {
    let deadline = Deadline::after(WAIT);
    let mut last = Value::Null;
    loop {
        if let Ok(response) = http.get(format!("{base}/v1/scanners")).send().await
            && let Ok(views) = response.json::<Vec<Value>>().await
            && let Some(view) = views.into_iter().find(|v| v["name"] == name)
        {
            if done(&view) {
                return view;
            }
            last = view;
        }
        let waited = deadline
            .tick(|| format!("scanner {name} did not reach the expected state: {last}"))
            .await;
        if let Err(e) = waited {
            panic!("{e}");
        }
    }
}

/// Waits until the agent reads the pty; returns the scanner's source name.
async fn connected_serial(agent: &Agent, pty: &Pty) -> String {
    let serial = format!("serial:{}", pty.slave_path.display());
    wait_for_scanner(&agent.http, &agent.url, &serial, |s| {
        s["state"] == "connected"
    })
    .await;
    serial
}

async fn subscribe(http: &reqwest::Client, base: &str) -> reqwest::Response {
    http.get(format!("{base}/v1/events")).send().await.unwrap()
}

#[tokio::test]
async fn serial_scans_through_a_pty_become_exact_events_in_order() {
    let register = Register::new();
    let mut pty = Pty::open();
    let missing_keyboard = register.dir.path().join("usb-scanner-event-kbd");
    let mut config = register.config(&unreachable_url());
    config.scanners = vec![serial_scanner(&pty.slave_path)];
    config.hid_scanners = vec![hardware::HidConfig {
        path: missing_keyboard.display().to_string(),
        ..hardware::HidConfig::default()
    }];
    let sources = ScannerSource::configured(&config);
    let agent = Agent::start_with(config, Arc::new(pos_agent::SystemClock), sources).await;
    let serial = connected_serial(&agent, &pty).await;
    let hid = format!("hid:{}", missing_keyboard.display());
    let mut response = subscribe(&agent.http, &agent.url).await;
    let mut events = SseReader::new(&mut response);
    let check = agent.open_check().await;
    let token = token_for(42, Utc::now(), 300);

    // A code split mid-way across two writes.
    pty.write(b"46012345");
    tokio::time::sleep(Duration::from_millis(30)).await;
    pty.write(b"67893\r");
    // A burst of two codes in one write, with AIM identifiers.
    pty.write(format!("]E496385074\r]d20104601234567893{GS}10LOT-7{GS}17261231\r").as_bytes());
    // Garbage and binary bytes, then a very long line: framing drops both.
    pty.write(b"\x00\xff\xfe\x1b[2J\x07\x80\r");
    pty.write(&[b'7'; 20_000]);
    pty.write(b"\r");
    // A wrong check digit, a coupon typed in lower case, then a good token.
    pty.write(b"4601234567890\rcpn-spring25\r");
    pty.write(format!("{token}\r").as_bytes());

    let mut received = Vec::new();
    for _ in 0..6 {
        received.push(events.next().await);
    }
    let names: Vec<&str> = received.iter().map(|(name, _)| name.as_str()).collect();
    assert_eq!(
        names,
        [
            "product_scanned",
            "product_scanned",
            "product_scanned",
            "scan_rejected",
            "coupon_scanned",
            "customer_identified"
        ]
    );
    let data: Vec<&Value> = received.iter().map(|(_, data)| data).collect();
    assert_eq!(
        *data[0],
        json!({"type": "product_scanned", "source": serial, "code": "4601234567893",
               "symbology": null, "format": "ean13", "gtin": "04601234567893"})
    );
    assert_eq!(
        *data[1],
        json!({"type": "product_scanned", "source": serial, "code": "96385074",
               "symbology": "]E4", "format": "ean8", "gtin": "00000096385074"})
    );
    assert_eq!(
        *data[2],
        json!({"type": "product_scanned", "source": serial,
               "code": format!("0104601234567893{GS}10LOT-7{GS}17261231"),
               "symbology": "]d2", "format": "gs1", "gtin": "04601234567893",
               "gs1": [{"ai": "01", "value": "04601234567893"},
                       {"ai": "10", "value": "LOT-7"},
                       {"ai": "17", "value": "261231"}]})
    );
    assert_eq!(
        *data[3],
        json!({"type": "scan_rejected", "source": serial,
               "reason": "EAN-13 4601234567890 has a wrong check digit"})
    );
    assert_eq!(
        *data[4],
        json!({"type": "coupon_scanned", "source": serial, "code": "CPN-SPRING25",
               "check_id": check, "known": false})
    );
    assert_eq!(data[5]["check_id"], check.as_str());
    assert_eq!(data[5]["customer"]["id"], 42);
    assert_eq!(data[5]["customer"]["identified_by"], "token");

    let serial_view = wait_for_scanner(&agent.http, &agent.url, &serial, |_| true).await;
    assert_eq!(
        (
            &serial_view["state"],
            &serial_view["scans"],
            &serial_view["dropped"],
            &serial_view["errors"]
        ),
        (&json!("connected"), &json!(6), &json!(2), &json!(0)),
        "{serial_view}"
    );
    assert!(serial_view["last_scan_at"].is_string(), "{serial_view}");
    let hid_view = wait_for_scanner(&agent.http, &agent.url, &hid, |s| {
        s["state"] == "disconnected"
    })
    .await;
    assert!(
        hid_view["error"].as_str().unwrap().contains("cannot open"),
        "{hid_view}"
    );
    agent.stop().await;
}

/// A printed coupon read by the scanner is entered on the open check and
/// unlocks its promotion in the next price; one no promotion asks for is
/// entered too but announced as unknown, for the cashier.
#[tokio::test]
async fn a_scanned_coupon_is_entered_on_the_open_check_and_prices() {
    let register = Register::new();
    let fake = fake_server(FakeState::default()).await;
    {
        let ruleset: Ruleset = serde_json::from_value(json!({
            "currency": "RUB",
            "programme": {"tiers": []},
            "promotions": [{
                "id": "spring", "name": "Весна −25%",
                "target": {"kind": "basket"},
                "reward": {"kind": "percent_off", "percent": 2_500},
                "coupon": "CPN-SPRING25"
            }]
        }))
        .unwrap();
        fake.state().offer = Some(
            RulesetRelease {
                ruleset,
                ..release(1, 0)
            }
            .seal(&server_key())
            .unwrap(),
        );
    }
    let url = fake.url.clone();
    let mut pty = Pty::open();
    let mut config = register.config(&url);
    config.scanners = vec![serial_scanner(&pty.slave_path)];
    let sources = ScannerSource::configured(&config);
    let agent = Agent::start_with(config, Arc::new(pos_agent::SystemClock), sources).await;
    agent
        .wait_for_status("the coupon ruleset", |s| s["ruleset_version"] == 1)
        .await;
    let serial = connected_serial(&agent, &pty).await;
    let mut response = subscribe(&agent.http, &agent.url).await;
    let mut events = SseReader::new(&mut response);
    let check = agent.open_check().await;
    agent.add_line(&check, "4601", json!(2), 10_000).await;

    pty.write(b"cpn-spring25\rCPN-WINTER10\r");
    let (name, spring) = events.next().await;
    assert_eq!(name, "coupon_scanned");
    assert_eq!(
        spring,
        json!({"type": "coupon_scanned", "source": serial, "code": "CPN-SPRING25",
               "check_id": check, "known": true})
    );
    let (_, winter) = events.next().await;
    assert_eq!(winter["known"], false, "{winter}");
    assert_eq!(winter["check_id"], check.as_str(), "{winter}");

    let (status, view) = agent
        .call(reqwest::Method::GET, &format!("/v1/checks/{check}"), None)
        .await;
    assert_eq!(status, StatusCode::OK, "{view}");
    assert_eq!(view["coupons"], json!(["CPN-SPRING25", "CPN-WINTER10"]));
    assert_eq!(view["pricing"]["discount"], 5_000, "25 % of 200.00");
    let (status, committed) = agent
        .post(&format!("/v1/checks/{check}/commit"), None)
        .await;
    assert_eq!(status, StatusCode::CREATED, "{committed}");
    assert_eq!(committed["pricing"]["total"], 15_000);
    agent.stop().await;
}

#[tokio::test]
async fn revoked_tokens_are_refused_and_typed_phones_identify() {
    let register = Register::new();
    let fake = fake_server(FakeState::default()).await;
    let id = CustomerId::new(5).unwrap();
    let revoked_at = Utc::now() - TimeDelta::seconds(30);
    fake.state().customers = vec![CustomerSnapshot {
        id,
        name: "Анна".into(),
        card_number: Ean13::card_for(id),
        phone_hash: Some(
            PhoneNumber::parse("+79161234567")
                .unwrap()
                .salted_hash(super::FAKE_SALT),
        ),
        lifetime_spend: Money::from_minor(0).unwrap(),
        points_balance: 0,
        tokens_valid_after: Some(revoked_at),
        gender: Default::default(),
        birthday: None,
        age: None,
        purchases: None,
        tags: Vec::new(),
        promotion_uses: Default::default(),
        last_birthday_bonus: None,
        window_spend: None,
        window_spend_leaving: vec![],
        points_pending: vec![],
        points_expiring: vec![],
    }];
    let url = fake.url.clone();
    let (scanner, scans) = tokio::sync::mpsc::channel(8);
    let agent = Agent::start_with(
        register.config(&url),
        Arc::new(pos_agent::SystemClock),
        vec![ScannerSource::Channel(scans)],
    )
    .await;
    agent
        .wait_for_status("the customer cached", |s| s["cached_customers"] == 1)
        .await;
    let mut response = subscribe(&agent.http, &agent.url).await;
    let mut events = SseReader::new(&mut response);
    let scan = |text: &str| hardware::Scan::now("keyboard", None, text);

    // Issued before the revocation, and still within its lifetime.
    let stale = token_for(5, revoked_at - TimeDelta::seconds(60), 600);
    let fresh = token_for(5, Utc::now(), 300);
    scanner.send(scan(&stale)).await.unwrap();
    scanner.send(scan(&fresh)).await.unwrap();
    scanner.send(scan("8 (916) 123-45-67")).await.unwrap();

    let (name, rejected) = events.next().await;
    assert_eq!(name, "scan_rejected");
    assert!(
        rejected["reason"].as_str().unwrap().contains("revoked"),
        "{rejected}"
    );
    for how in ["token", "phone"] {
        let (name, identified) = events.next().await;
        assert_eq!(name, "customer_identified", "{identified}");
        assert_eq!(identified["customer"]["name"], "Анна");
        assert_eq!(identified["customer"]["identified_by"], how);
    }

    let check = agent.open_check().await;
    let (status, body) = agent
        .call(
            reqwest::Method::PUT,
            &format!("/v1/checks/{check}/customer"),
            Some(json!({ "token": stale })),
        )
        .await;
    assert_eq!(
        (status, error_code(&body)),
        (StatusCode::UNPROCESSABLE_ENTITY, "token_rejected")
    );
    assert!(
        body["message"].as_str().unwrap().contains("revoked"),
        "{body}"
    );
    agent.stop().await;
}

/// The real `pos-agent run` in a child process, logging to a file in its
/// data directory.
struct AgentProcess {
    child: Child,
    url: String,
    http: reqwest::Client,
}

impl AgentProcess {
    fn spawn(register: &Register, config: &AgentConfig) -> Self {
        let dir = register.dir.path();
        std::fs::write(dir.join("agent.toml"), config.to_toml().unwrap()).unwrap();
        let log = File::create(dir.join("agent.log")).unwrap();
        let child = Command::new(POS_AGENT)
            .arg("run")
            .arg("--data-dir")
            .arg(dir)
            .env("RUST_LOG", "info")
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap();
        Self {
            child,
            url: format!("http://{}", config.api.listen),
            http: reqwest::Client::new(),
        }
    }

    fn pid(&self) -> Pid {
        Pid::from_raw(i32::try_from(self.child.id()).unwrap())
    }

    /// User plus system CPU time the process has used so far.
    fn cpu_time(&self) -> Duration {
        let stat = std::fs::read_to_string(format!("/proc/{}/stat", self.child.id())).unwrap();
        // Fields after the command name, which may hold spaces: state is
        // the 3rd field of the line, utime the 14th and stime the 15th.
        let after_name = &stat[stat.rfind(')').unwrap() + 2..];
        let fields: Vec<&str> = after_name.split_whitespace().collect();
        let ticks: u64 = fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap();
        let per_second = sysconf(SysconfVar::CLK_TCK).unwrap().unwrap();
        Duration::from_secs_f64(ticks as f64 / per_second as f64)
    }

    /// Stops it with SIGTERM, as systemd does; returns how it exited.
    fn stop(mut self) -> ExitStatus {
        kill(self.pid(), Signal::SIGTERM).unwrap();
        wait_for_exit(&mut self.child)
    }
}

impl Drop for AgentProcess {
    fn drop(&mut self) {
        let _already_gone_is_fine = self.child.kill();
        let _ = self.child.wait();
    }
}

fn wait_for_exit(child: &mut Child) -> ExitStatus {
    let deadline = Deadline::after(WAIT);
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        if let Err(e) = deadline.tick_blocking(|| "the process did not exit".into()) {
            panic!("{e}");
        }
    }
}

/// An address on loopback nothing listens on (yet).
fn free_local_addr() -> SocketAddr {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap()
}

#[tokio::test]
async fn an_unplugged_scanner_comes_back_under_its_stable_path_without_spinning() {
    let register = Register::new();
    let by_id = tempfile::tempdir().unwrap();
    let link = by_id.path().join("usb-Honeywell_Scanner_1234-if00");
    let mut pty = Pty::open();
    point(&link, &pty.slave_path);
    let mut config = register.config(&unreachable_url());
    config.api.listen = free_local_addr();
    config.scanners = vec![serial_scanner(&link)];
    let agent = AgentProcess::spawn(&register, &config);
    let name = format!("serial:{}", link.display());
    wait_for_scanner(&agent.http, &agent.url, &name, |s| {
        s["state"] == "connected"
    })
    .await;
    let mut response = subscribe(&agent.http, &agent.url).await;
    let mut events = SseReader::new(&mut response);
    pty.write(b"4601234567893\r");
    let (event, before) = events.next().await;
    assert_eq!(
        (event.as_str(), &before["source"]),
        ("product_scanned", &json!(name))
    );

    // Unplug: udev removes the stable link, and closing the master hangs the
    // slave up and frees its node. The link goes first: a freed pts number is
    // soon another terminal's (a test running beside this one), which the
    // agent must not open as its scanner.
    let (wall, cpu) = (Instant::now(), agent.cpu_time());
    std::fs::remove_file(&link).unwrap();
    drop(pty);
    wait_for_scanner(&agent.http, &agent.url, &name, |s| {
        s["state"] == "disconnected"
    })
    .await;
    tokio::time::sleep(Duration::from_millis(1_500).saturating_sub(wall.elapsed())).await;
    let (wall, cpu) = (wall.elapsed(), agent.cpu_time().saturating_sub(cpu));
    assert!(
        cpu.as_secs_f64() < 0.3 * wall.as_secs_f64(),
        "the agent used {cpu:?} of CPU in {wall:?} of outage"
    );
    let outage = wait_for_scanner(&agent.http, &agent.url, &name, |_| true).await;
    let errors = outage["errors"].as_u64().unwrap();
    assert!(
        (2..=10).contains(&errors),
        "reopened with backoff, not in a loop: {outage}"
    );

    // Replug: a new device node behind the same stable path.
    let mut pty = Pty::open();
    point(&link, &pty.slave_path);
    wait_for_scanner(&agent.http, &agent.url, &name, |s| {
        s["state"] == "connected"
    })
    .await;
    pty.write(format!("{}\r96385074\r", token_for(42, Utc::now(), 300)).as_bytes());
    let (event, identified) = events.next().await;
    assert_eq!(event, "customer_identified", "{identified}");
    assert_eq!(identified["source"], name.as_str());
    let (event, after) = events.next().await;
    assert_eq!(
        (event.as_str(), &after["format"]),
        ("product_scanned", &json!("ean8"))
    );
    let view = wait_for_scanner(&agent.http, &agent.url, &name, |_| true).await;
    assert_eq!(view["scans"], 3, "{view}");
    // Reopening may have failed once more before the new node appeared.
    let errors = view["errors"].as_u64().unwrap();
    assert!((2..=12).contains(&errors), "reopened with backoff: {view}");

    // Store IT's view: the configured path, the device behind it, and the
    // running agent's state of it.
    let (code, listing) = run_cli(&[
        "scanners".as_ref(),
        "--data-dir".as_ref(),
        register.dir.path().as_os_str(),
    ]);
    assert_eq!(code, Some(0), "{listing}");
    let configured = format!(
        "Configured scanners:\n  serial {} → {}\n",
        link.display(),
        pty.slave_path.display()
    );
    assert!(listing.contains(&configured), "{listing}");
    let running = format!(
        "Running agent ({}/v1/scanners):\n  {name}: connected, 3 scans, {errors} errors, 0 dropped, last scan at ",
        agent.url
    );
    assert!(listing.contains(&running), "{listing}");

    drop(response);
    assert!(agent.stop().success(), "a clean shutdown on SIGTERM");
}

/// Renders `text` as a phone screen in a camera frame and saves it as PNG.
fn phone_png(dir: &Path, file: &str, text: &str, frame: &PhoneFrame) -> PathBuf {
    let path = dir.join(file);
    hardware::render_phone_frame(text, frame)
        .expect("the text fits a QR code")
        .save(&path)
        .unwrap();
    path
}

fn run_cli(args: &[&std::ffi::OsStr]) -> (Option<i32>, String) {
    let output = Command::new(POS_AGENT).args(args).output().unwrap();
    let stdout = String::from_utf8(output.stdout).unwrap();
    (output.status.code(), stdout)
}

#[test]
fn scan_image_names_a_verified_token_and_a_product() {
    let register = Register::new();
    let config = register.config(&unreachable_url());
    std::fs::write(
        register.dir.path().join("agent.toml"),
        config.to_toml().unwrap(),
    )
    .unwrap();
    let images = tempfile::tempdir().unwrap();
    // A phone in dark mode, turned a little, a bit blurred and noisy.
    let dark_mode = PhoneFrame {
        rotation_deg: 4.0,
        module_px: 4.0,
        blur_radius: 1,
        levels: (30, 220),
        inverted: true,
        noise: 6,
        ..PhoneFrame::default()
    };
    let token = token_for(42, Utc::now(), 300);
    let phone = phone_png(images.path(), "phone.png", &token, &dark_mode);
    let product = phone_png(
        images.path(),
        "product.png",
        "4601234567893",
        &PhoneFrame::default(),
    );
    let missing = images.path().join("missing.png");

    let (code, stdout) = run_cli(&[
        "scan-image".as_ref(),
        phone.as_os_str(),
        product.as_os_str(),
        "--data-dir".as_ref(),
        register.dir.path().as_os_str(),
    ]);
    assert_eq!(code, Some(0), "{stdout}");
    assert!(
        stdout.contains(
            "verified with the server keys trusted by register 3 (the pinned key: no database yet)"
        ),
        "{stdout}"
    );
    let token_report = format!("{}: 1 code(s)\n  \"{token}\"", phone.display());
    assert!(stdout.contains(&token_report), "{stdout}");
    assert!(
        stdout.contains("→ customer token, verified: customer 42"),
        "{stdout}"
    );
    assert!(
        stdout.contains(&format!(
            "{}: 1 code(s)\n  \"4601234567893\"",
            product.display()
        )),
        "{stdout}"
    );
    assert!(stdout.contains("→ product"), "{stdout}");

    // Without an enrolled register: recognised, not verified, and said so;
    // a file that cannot be loaded fails the command.
    let (code, stdout) = run_cli(&[
        "scan-image".as_ref(),
        phone.as_os_str(),
        missing.as_os_str(),
    ]);
    assert_eq!(code, Some(1), "{stdout}");
    assert!(
        stdout.contains("customer tokens are NOT verified"),
        "{stdout}"
    );
    assert!(
        stdout.contains("→ customer token (signature and expiry NOT verified)"),
        "{stdout}"
    );
    assert!(
        stdout.contains(&format!("{}: FAILED: cannot load image", missing.display())),
        "{stdout}"
    );
}

#[test]
fn scan_test_shows_raw_bytes_and_classified_scans_until_interrupted() {
    let mut pty = Pty::open();
    let mut child = Command::new(POS_AGENT)
        .arg("scan-test")
        .arg("--device")
        .arg(&pty.slave_path)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let (lines_tx, lines) = std_mpsc::channel();
    let stdout = child.stdout.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if lines_tx.send(line).is_err() {
                return;
            }
        }
    });
    let next_line = || lines.recv_timeout(WAIT).expect("scan-test printed a line");
    while next_line() != "state connected" {}

    pty.write(b"]E04601234567893\r");
    // The raw bytes, in as many reads as the pty delivered them, then the scan.
    let mut raw = Vec::new();
    let scan_line = loop {
        let line = next_line();
        match line.strip_prefix("raw   ") {
            Some(dump) => raw.extend(
                dump.split(" |")
                    .next()
                    .unwrap()
                    .split_whitespace()
                    .map(|hex| u8::from_str_radix(hex, 16).unwrap()),
            ),
            None => break line,
        }
    };
    assert_eq!(raw, b"]E04601234567893\r");
    assert_eq!(scan_line, "scan  ]E0 \"4601234567893\" (13 chars)");
    assert_eq!(next_line(), "    → product, EAN-13, GTIN 04601234567893");

    kill(
        Pid::from_raw(i32::try_from(child.id()).unwrap()),
        Signal::SIGINT,
    )
    .unwrap();
    assert!(wait_for_exit(&mut child).success());
}
