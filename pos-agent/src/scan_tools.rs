//! The scanner commands of the CLI, for store IT setting a till up:
//!
//! - `pos-agent scan-image FILE…`: what each image's QR codes decode to and
//!   how the agent classifies them ([`scan_images`]);
//! - `pos-agent scanners`: the serial ports and HID keyboards present, the
//!   configured scanners, and a running agent's view of them
//!   ([`list_scanners`]);
//! - `pos-agent scan-test --device PATH`: one device's raw bytes and scans,
//!   live ([`scan_test`]).
//!
//! Reports' `Display` is what the commands print.

use std::fmt;
use std::future::Future;
use std::io::{self, Write};
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use chrono::Utc;
use hardware::{DeviceState, HidConfig, PortInfo, QrError, Scan, ScannerHandle, SerialConfig};
use shared::keys::TrustedKeys;
use shared::wire::till::{ScannerState, ScannerView};
use tokio::sync::mpsc;

use crate::config::{AgentConfig, ConfigError, ScanConfig};
use crate::identify::Credential;
use crate::scan::{Classified, Classifier, TokenCheck};
use crate::store;

/// How long one image may take to decode.
const IMAGE_BUDGET: Duration = Duration::from_secs(2);

/// Why a scanner command runs without a register's configuration.
#[derive(Debug, thiserror::Error)]
pub enum NoRegister {
    /// The command was not pointed at a data directory.
    #[error("no --data-dir of an enrolled register given")]
    NoDataDir,
    /// The data directory holds no loadable configuration.
    #[error("{} is not enrolled ({source})", data_dir.display())]
    NotEnrolled {
        /// The data directory given.
        data_dir: PathBuf,
        /// Why its configuration did not load.
        source: ConfigError,
    },
}

/// The configuration of the enrolled register in `data_dir`, or why there
/// is none.
pub fn register_config(
    data_dir: Option<&Path>,
    config_file: Option<&Path>,
) -> Result<AgentConfig, NoRegister> {
    let data_dir = data_dir.ok_or(NoRegister::NoDataDir)?;
    AgentConfig::load(data_dir, config_file).map_err(|source| NoRegister::NotEnrolled {
        data_dir: data_dir.to_owned(),
        source,
    })
}

/// The classifier of `register`: tokens verified with every server key the
/// register trusts (pinned at enrollment, and learnt since from the key
/// chain, read from its database; revoked ones verify nothing), coupons with
/// its prefix. Without a register, tokens are recognised but not verified.
/// The note says which.
#[must_use]
pub fn classifier_for(register: &Result<AgentConfig, NoRegister>) -> (Classifier, String) {
    match register {
        Ok(config) => {
            let (keys, learnt) = trusted_keys(config);
            let note = format!(
                "customer tokens are verified with the server keys trusted by register {} ({learnt})",
                config.sync.register_id
            );
            (
                Classifier {
                    tokens: TokenCheck::Trusted(keys, config.register.merchant_id),
                    coupon_prefix: config.scan.coupon_prefix.clone(),
                },
                note,
            )
        }
        Err(why) => (
            Classifier {
                tokens: TokenCheck::Skip,
                coupon_prefix: ScanConfig::default().coupon_prefix,
            },
            format!("customer tokens are NOT verified: {why}"),
        ),
    }
}

/// The keys `config`'s register trusts, as the running agent loads them,
/// and where they came from. The database is only read (the agent may be
/// running); without one, the pinned keys alone.
fn trusted_keys(config: &AgentConfig) -> (TrustedKeys, String) {
    let mut keys = TrustedKeys::pinned(
        config.sync.server_public_key,
        config.sync.server_recovery_key,
        config.sync.server_key_seq,
    );
    let path = config.db_path();
    if !path.exists() {
        return (keys, "the pinned key: no database yet".to_owned());
    }
    let loaded = store::open_read_only(&path)
        .and_then(|conn| store::server_keys::load_into(&conn, &mut keys));
    match loaded {
        Ok(()) => {
            let note = format!(
                "{} valid, key chain at {}",
                keys.valid().len(),
                keys.seq().0
            );
            (keys, note)
        }
        Err(e) => (
            keys,
            format!("the pinned key only: the keys learnt since could not be read: {e}"),
        ),
    }
}

/// What `scan-image` found: a line saying how tokens were checked, then
/// each image in order.
#[derive(Debug)]
pub struct ImagesReport {
    /// How customer tokens were checked.
    pub note: String,
    /// Each image with its codes, or why it could not be searched.
    pub images: Vec<ImageReport>,
}

/// One image of `scan-image`.
#[derive(Debug)]
pub struct ImageReport {
    /// The file.
    pub path: PathBuf,
    /// Each decoded text with its classification, or why the image could
    /// not be searched.
    pub codes: Result<Vec<(String, Classified)>, QrError>,
}

impl ImagesReport {
    /// Whether any image could not be loaded or searched.
    #[must_use]
    pub fn any_failed(&self) -> bool {
        self.images.iter().any(|image| image.codes.is_err())
    }
}

/// Decodes the QR codes in each image and classifies them.
#[must_use]
pub fn scan_images(paths: &[PathBuf], classifier: &Classifier, note: String) -> ImagesReport {
    let images = paths
        .iter()
        .map(|path| ImageReport {
            path: path.clone(),
            codes: hardware::decode_qr_file(path, IMAGE_BUDGET).map(|scans| {
                scans
                    .into_iter()
                    .map(|scan| {
                        let classified =
                            classifier.classify(&scan.text, scan.symbology.as_deref(), Utc::now());
                        (scan.text, classified)
                    })
                    .collect()
            }),
        })
        .collect();
    ImagesReport { note, images }
}

impl fmt::Display for ImagesReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "({})", self.note)?;
        for image in &self.images {
            match &image.codes {
                Err(err) => writeln!(f, "{}: FAILED: {}", image.path.display(), error_chain(err))?,
                Ok(codes) if codes.is_empty() => {
                    writeln!(f, "{}: no QR code found", image.path.display())?;
                }
                Ok(codes) => {
                    writeln!(f, "{}: {} code(s)", image.path.display(), codes.len())?;
                    for (text, classified) in codes {
                        writeln!(f, "  {}", Printable(text))?;
                        writeln!(f, "    → {}", Described(classified))?;
                    }
                }
            }
        }
        Ok(())
    }
}

/// Scanned text with control characters (the GS1 separator) escaped.
struct Printable<'a>(&'a str);

impl fmt::Display for Printable<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "\"{}\" ({} chars)",
            self.0.escape_debug(),
            self.0.chars().count()
        )
    }
}

/// A classification as a person reads it.
struct Described<'a>(&'a Classified);

impl fmt::Display for Described<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Classified::Customer(Credential::Token(token)) => write!(
                f,
                "customer token, verified: customer {}, issued {}, expires {}",
                token.customer_id, token.issued_at, token.expires_at
            ),
            Classified::Customer(Credential::Card(card)) => {
                write!(f, "printed loyalty card {card}")
            }
            Classified::Customer(Credential::Phone(phone)) => write!(f, "phone number {phone}"),
            Classified::UnverifiedToken => {
                write!(f, "customer token (signature and expiry NOT verified)")
            }
            Classified::Coupon(code) => write!(f, "coupon {code}"),
            Classified::Product { product, .. } => {
                write!(f, "product, {}", product.format)?;
                if let Some(gtin) = &product.gtin {
                    write!(f, ", GTIN {gtin}")?;
                }
                for element in &product.elements {
                    let title = element.title().unwrap_or("AI");
                    write!(f, "\n      ({}) {title}: {}", element.ai, element.value)?;
                }
                Ok(())
            }
            Classified::Rejected { reason } => write!(f, "rejected: {reason}"),
        }
    }
}

/// What `pos-agent scanners` found.
#[derive(Debug)]
pub struct ScannersReport {
    /// Serial ports present, with their USB identities.
    pub serial_ports: Vec<PortInfo>,
    /// HID keyboards present, by stable path.
    pub hid_keyboards: Vec<String>,
    /// The register's configured scanners, or why there is no configuration.
    pub configured: Result<Vec<ConfiguredScanner>, String>,
    /// What the running agent says about its scanners: its address and the
    /// views, or why it did not answer. `None` without a configuration.
    pub running: Option<(String, Result<Vec<ScannerView>, String>)>,
}

/// A scanner of the configuration and whether its device is there.
#[derive(Debug)]
pub struct ConfiguredScanner {
    /// `serial` or `hid`.
    pub kind: &'static str,
    /// The configured path.
    pub path: String,
    /// What the path resolves to (a `by-id` link's device node), if present.
    pub device: Option<PathBuf>,
}

impl ConfiguredScanner {
    fn new(kind: &'static str, path: &str) -> Self {
        Self {
            kind,
            path: path.to_owned(),
            device: std::fs::canonicalize(path).ok(),
        }
    }
}

/// How long `scanners` waits for a running agent.
const AGENT_TIMEOUT: Duration = Duration::from_secs(2);

/// Lists the serial ports and HID keyboards present, the scanners
/// configured for `register`, and their state in its running agent.
pub async fn list_scanners(register: &Result<AgentConfig, NoRegister>) -> ScannersReport {
    let configured = register
        .as_ref()
        .map_err(ToString::to_string)
        .map(|config| {
            let serial = config
                .scanners
                .iter()
                .map(|s| ConfiguredScanner::new("serial", &s.path));
            let hid = config
                .hid_scanners
                .iter()
                .map(|h| ConfiguredScanner::new("hid", &h.path));
            serial.chain(hid).collect()
        });
    let running = match register {
        Ok(config) => Some(running_scanners(config).await),
        Err(_) => None,
    };
    ScannersReport {
        serial_ports: hardware::list_serial_ports(),
        hid_keyboards: hardware::list_hid_keyboards(),
        configured,
        running,
    }
}

/// `GET /v1/scanners` of the running agent, with the till's token when
/// there is one.
async fn running_scanners(config: &AgentConfig) -> (String, Result<Vec<ScannerView>, String>) {
    let mut addr = config.api.listen;
    if addr.ip().is_unspecified() {
        addr.set_ip(Ipv4Addr::LOCALHOST.into());
    }
    let url = format!("http://{addr}/v1/scanners");
    let fetched = async {
        let client = reqwest::Client::builder().timeout(AGENT_TIMEOUT).build()?;
        let mut request = client.get(&url);
        if let Ok(token) = crate::till_token::read(&config.data_dir) {
            use secrecy::ExposeSecret as _;
            request = request.bearer_auth(token.expose_secret());
        }
        request.send().await?.error_for_status()?.json().await
    }
    .await
    .map_err(|err: reqwest::Error| format!("not reachable: {}", error_chain(&err)));
    (url, fetched)
}

impl fmt::Display for ScannersReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "Serial ports:")?;
        if self.serial_ports.is_empty() {
            writeln!(f, "  (none)")?;
        }
        for port in &self.serial_ports {
            writeln!(f, "  {}", port.path)?;
            if let Some(by_id) = &port.by_id {
                writeln!(f, "      by-id:   {by_id}")?;
            }
            if let (Some(vid), Some(pid)) = (port.vid, port.pid) {
                let text = |t: &Option<String>| t.clone().unwrap_or_else(|| "?".into());
                writeln!(
                    f,
                    "      USB:     {vid:04x}:{pid:04x}  {}  {}  serial number {}",
                    text(&port.manufacturer),
                    text(&port.product),
                    text(&port.serial_number)
                )?;
            }
        }
        writeln!(f, "HID keyboards:")?;
        if self.hid_keyboards.is_empty() {
            writeln!(f, "  (none)")?;
        }
        for keyboard in &self.hid_keyboards {
            writeln!(f, "  {keyboard}")?;
        }
        writeln!(f, "Configured scanners:")?;
        match &self.configured {
            Err(why) => writeln!(f, "  (no configuration: {why})")?,
            Ok(configured) if configured.is_empty() => writeln!(f, "  (none)")?,
            Ok(configured) => {
                for scanner in configured {
                    match &scanner.device {
                        Some(device) => writeln!(
                            f,
                            "  {:<6} {} → {}",
                            scanner.kind,
                            scanner.path,
                            device.display()
                        )?,
                        None => writeln!(f, "  {:<6} {}  MISSING", scanner.kind, scanner.path)?,
                    }
                }
            }
        }
        if let Some((url, running)) = &self.running {
            writeln!(f, "Running agent ({url}):")?;
            match running {
                Err(why) => writeln!(f, "  ({why})")?,
                Ok(views) if views.is_empty() => writeln!(f, "  (no scanners)")?,
                Ok(views) => {
                    for view in views {
                        writeln!(f, "  {}", Status(view))?;
                    }
                }
            }
        }
        Ok(())
    }
}

/// One scanner's state on one line.
struct Status<'a>(&'a ScannerView);

impl fmt::Display for Status<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let view = self.0;
        let state = match view.state {
            ScannerState::Connecting => "connecting",
            ScannerState::Connected => "connected",
            ScannerState::Disconnected => "DISCONNECTED",
            ScannerState::Stopped => "stopped",
        };
        write!(
            f,
            "{}: {state}, {} scans, {} errors, {} dropped",
            view.name, view.scans, view.errors, view.dropped
        )?;
        if let Some(at) = view.last_scan_at {
            write!(f, ", last scan at {at}")?;
        }
        if let Some(error) = &view.error {
            write!(f, " ({error})")?;
        }
        Ok(())
    }
}

/// The device `scan-test` opens.
#[derive(Clone, Debug)]
pub enum TestDevice {
    /// A serial or USB-CDC scanner.
    Serial(SerialConfig),
    /// A HID keyboard-wedge scanner.
    Hid(HidConfig),
}

impl TestDevice {
    /// The serial scanner at `path`, with its settings in `register` if it
    /// is configured there, else the defaults.
    #[must_use]
    pub fn serial(path: &str, register: Option<&AgentConfig>) -> Self {
        let configured = register.and_then(|c| c.scanners.iter().find(|s| s.path == path));
        TestDevice::Serial(configured.cloned().unwrap_or_else(|| SerialConfig {
            path: path.to_owned(),
            ..SerialConfig::default()
        }))
    }

    /// The HID scanner at `path`, with its settings in `register` if it is
    /// configured there, else the defaults.
    #[must_use]
    pub fn hid(path: &str, register: Option<&AgentConfig>) -> Self {
        let configured = register.and_then(|c| c.hid_scanners.iter().find(|h| h.path == path));
        TestDevice::Hid(configured.cloned().unwrap_or_else(|| HidConfig {
            path: path.to_owned(),
            ..HidConfig::default()
        }))
    }
}

/// How often `scan-test` looks for a change of the device's state.
const STATE_POLL: Duration = Duration::from_millis(100);
/// Raw bytes per line of `scan-test`'s dump.
const BYTES_PER_LINE: usize = 16;

/// Reads `device` and writes to `out`, until `stop` resolves or the reader
/// ends: the raw bytes of a serial device as they arrive (hex and
/// printable), each scan with its symbology, length and classification,
/// and each change of the device's state (connected, unplugged, …).
pub async fn scan_test(
    device: TestDevice,
    classifier: &Classifier,
    out: &mut (dyn Write + Send),
    stop: impl Future<Output = ()>,
) -> io::Result<()> {
    let (scan_tx, mut scans) = mpsc::channel(16);
    let (raw_tx, mut raw) = mpsc::unbounded_channel::<Vec<u8>>();
    let stop_flag = Arc::new(AtomicBool::new(false));
    let reader = match device {
        TestDevice::Serial(cfg) => {
            let tap = Box::new(move |bytes: &[u8]| {
                let _printer_gone_is_fine = raw_tx.send(bytes.to_vec());
            });
            hardware::spawn_serial_with_tap(cfg, scan_tx, Arc::clone(&stop_flag), tap)
        }
        TestDevice::Hid(cfg) => {
            drop(raw_tx);
            hardware::spawn_hid(cfg, scan_tx, Arc::clone(&stop_flag))
        }
    };
    writeln!(out, "reading {} (Ctrl-C to stop)", reader.name())?;
    let printed = print_live(&reader, classifier, &mut scans, &mut raw, out, stop).await;
    stop_flag.store(true, Ordering::Relaxed);
    let _reader_ends_with_the_process_otherwise =
        tokio::task::spawn_blocking(move || reader.join()).await;
    printed
}

async fn print_live(
    reader: &ScannerHandle,
    classifier: &Classifier,
    scans: &mut mpsc::Receiver<Scan>,
    raw: &mut mpsc::UnboundedReceiver<Vec<u8>>,
    out: &mut (dyn Write + Send),
    stop: impl Future<Output = ()>,
) -> io::Result<()> {
    let mut shown_state = None;
    let mut poll = tokio::time::interval(STATE_POLL);
    tokio::pin!(stop);
    loop {
        tokio::select! {
            // Bytes are tapped before they are framed: show them first.
            biased;
            () = &mut stop => return Ok(()),
            Some(bytes) = raw.recv() => {
                for line in bytes.chunks(BYTES_PER_LINE) {
                    writeln!(out, "raw   {}", HexDump(line))?;
                }
            }
            scan = scans.recv() => {
                let Some(scan) = scan else {
                    writeln!(out, "reader ended: {}", StateLine(&reader.state()))?;
                    return Ok(());
                };
                let symbology = scan.symbology.as_deref().unwrap_or("(no symbology)");
                writeln!(out, "scan  {symbology} {}", Printable(&scan.text))?;
                let classified = classifier.classify(&scan.text, scan.symbology.as_deref(), Utc::now());
                writeln!(out, "    → {}", Described(&classified))?;
            }
            _ = poll.tick() => {
                let state = reader.state();
                if shown_state.as_ref() != Some(&state) {
                    writeln!(out, "state {}", StateLine(&state))?;
                    shown_state = Some(state);
                }
            }
        }
        out.flush()?;
    }
}

/// Bytes as hex and as printable ASCII (`.` for the rest).
struct HexDump<'a>(&'a [u8]);

impl fmt::Display for HexDump<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for byte in self.0 {
            write!(f, "{byte:02x} ")?;
        }
        for _ in self.0.len()..BYTES_PER_LINE {
            f.write_str("   ")?;
        }
        f.write_str(" |")?;
        for &byte in self.0 {
            let shown = if byte.is_ascii_graphic() || byte == b' ' {
                char::from(byte)
            } else {
                '.'
            };
            write!(f, "{shown}")?;
        }
        f.write_str("|")
    }
}

/// A device state on one line.
struct StateLine<'a>(&'a DeviceState);

impl fmt::Display for StateLine<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            DeviceState::Connecting => f.write_str("connecting"),
            DeviceState::Connected => f.write_str("connected"),
            DeviceState::Disconnected { error } => write!(f, "disconnected: {error}"),
            DeviceState::Stopped => f.write_str("stopped"),
        }
    }
}

/// `error: cause: cause…`.
fn error_chain(err: &(dyn std::error::Error + 'static)) -> String {
    let mut text = err.to_string();
    let mut cause = err.source();
    while let Some(source) = cause {
        text.push_str(": ");
        text.push_str(&source.to_string());
        cause = source.source();
    }
    text
}
