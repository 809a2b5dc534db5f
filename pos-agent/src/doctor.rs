//! `pos-agent doctor`: checks an installation the way store IT would, and
//! says what is wrong in one line per check.

use std::fmt;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::time::Duration;

use shared::crypto::SigningKey;

use crate::config::{API_TOKEN_FILE, AgentConfig, CONFIG_FILE, DB_FILE, KEY_FILE};
use crate::store;

const HEALTH_TIMEOUT: Duration = Duration::from_secs(5);

/// The outcome of one check.
#[derive(Clone, Debug)]
pub struct Finding {
    /// What was checked.
    pub check: String,
    /// What was found: `Ok` with a detail, or `Err` with the problem.
    pub outcome: Result<String, String>,
}

/// Every finding, in order.
#[derive(Clone, Debug, Default)]
pub struct Report(pub Vec<Finding>);

impl Report {
    /// Whether every check passed.
    #[must_use]
    pub fn passed(&self) -> bool {
        self.0.iter().all(|f| f.outcome.is_ok())
    }

    fn add(&mut self, check: impl Into<String>, outcome: Result<String, String>) {
        self.0.push(Finding {
            check: check.into(),
            outcome,
        });
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for finding in &self.0 {
            match &finding.outcome {
                Ok(detail) => writeln!(f, "✓ {}: {detail}", finding.check)?,
                Err(problem) => writeln!(f, "✗ {}: {problem}", finding.check)?,
            }
        }
        Ok(())
    }
}

/// Runs every check.
pub async fn doctor(data_dir: &Path, config_file: Option<&Path>) -> Report {
    let mut report = Report::default();
    // Paths are shown whole, whatever directory the operator is in.
    let data_dir = &std::path::absolute(data_dir).unwrap_or_else(|_| data_dir.to_path_buf());
    let config_path = config_file.map_or_else(|| data_dir.join(CONFIG_FILE), Path::to_path_buf);
    let enrolled = config_path.exists() && data_dir.join(KEY_FILE).exists();
    let config = AgentConfig::load(data_dir, config_file);
    report.add(
        "configuration",
        if config_path.exists() {
            config
                .as_ref()
                .map(|c| format!("register {}", c.sync.register_id))
                .map_err(|e| one_line(&e.to_string()))
        } else {
            Err(format!(
                "{} is missing: {NOT_ENROLLED}",
                config_path.display()
            ))
        },
    );
    report.add("register key", check_key(&data_dir.join(KEY_FILE)));
    report.add(
        "database",
        check_database(&data_dir.join(DB_FILE), enrolled),
    );
    if data_dir.join(DB_FILE).exists() {
        report.add("agent version", check_version(&data_dir.join(DB_FILE)));
    }
    report.add("file modes", check_modes(data_dir));
    if let Ok(config) = config {
        let ca_cert = config.sync.ca_cert.as_deref();
        if let Some(path) = ca_cert {
            report.add(
                "CA certificate",
                crate::config::read_ca_cert(path).map(|certs| {
                    format!(
                        "{}: {} certificate(s) trusted for the server",
                        path.display(),
                        certs.len()
                    )
                }),
            );
        }
        for url in config.sync.server_urls() {
            report.add(format!("server {url}"), check_server(url, ca_cert).await);
        }
        for scanner in &config.scanners {
            report.add(format!("scanner {}", scanner.path), check_scanner(scanner));
        }
        for scanner in &config.hid_scanners {
            report.add(
                format!("HID scanner {}", scanner.path),
                check_hid_scanner(scanner),
            );
        }
    }
    report
}

/// What to do in a directory that was never enrolled.
const NOT_ENROLLED: &str = "the register is not enrolled; run \
    `pos-agent enroll --server URL --token TOKEN --data-dir DIR` with the one-time token HQ gives";

/// An error of several lines (figment's) as one.
fn one_line(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

fn check_key(path: &Path) -> Result<String, String> {
    if !path.exists() {
        return Err(format!("{} is missing: {NOT_ENROLLED}", path.display()));
    }
    let meta = std::fs::metadata(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let mode = meta.permissions().mode() & 0o777;
    if mode != 0o600 {
        return Err(format!(
            "{} has mode {mode:o}; it must be 600",
            path.display()
        ));
    }
    let pkcs8 = std::fs::read(path).map_err(|e| e.to_string())?;
    let key = SigningKey::from_pkcs8(&pkcs8).map_err(|e| e.to_string())?;
    Ok(format!("public key {}", key.public_key().to_base64()))
}

/// The data directory and the files holding secrets or personal data must
/// not be open to group or others.
fn check_modes(data_dir: &Path) -> Result<String, String> {
    let mut open_to_others = Vec::new();
    let files = [
        CONFIG_FILE.to_owned(),
        API_TOKEN_FILE.to_owned(),
        DB_FILE.to_owned(),
        format!("{DB_FILE}-wal"),
        format!("{DB_FILE}-shm"),
    ];
    let paths = std::iter::once((data_dir.to_path_buf(), 0o700))
        .chain(files.iter().map(|f| (data_dir.join(f), 0o600)));
    for (path, wanted) in paths {
        let Ok(meta) = std::fs::metadata(&path) else {
            continue;
        };
        let mode = meta.permissions().mode() & 0o777;
        if mode & 0o077 != 0 {
            open_to_others.push(format!(
                "{} has mode {mode:o} (chmod {wanted:o} it)",
                path.display()
            ));
        }
    }
    if open_to_others.is_empty() {
        Ok("the data directory and its files are private to the agent's user".into())
    } else {
        Err(format!(
            "readable by others, and they hold secrets or customers' data: {}",
            open_to_others.join("; ")
        ))
    }
}

fn check_database(path: &Path, enrolled: bool) -> Result<String, String> {
    if !path.exists() {
        return if enrolled {
            Ok("not created yet; `pos-agent run` creates it".into())
        } else {
            Err(format!(
                "{} does not exist, and `pos-agent run` cannot create it before enrollment",
                path.display()
            ))
        };
    }
    let conn = store::open_read_only(path).map_err(|e| e.to_string())?;
    let verdict: String = conn
        .query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .map_err(|e| e.to_string())?;
    if verdict != "ok" {
        return Err(format!("integrity check failed: {verdict}"));
    }
    let summary = store::summary(&conn).map_err(|e| e.to_string())?;
    Ok(format!(
        "intact; {} records waiting to upload",
        summary.pending
    ))
}

/// Whether HQ's minimum agent version, as the server's last heartbeat
/// reply named it, is met.
fn check_version(path: &Path) -> Result<String, String> {
    let conn = store::open_read_only(path).map_err(|e| e.to_string())?;
    let sync = store::sync_state::load(&conn).map_err(|e| e.to_string())?;
    match sync.required_agent_version {
        Some(required) => Err(crate::sync::status::version_alarm(&required)),
        None => Ok(format!(
            "{}, not below HQ's minimum as the server last said",
            crate::sync::status::AGENT_VERSION
        )),
    }
}

async fn check_server(url: &str, ca_cert: Option<&Path>) -> Result<String, String> {
    let url = format!("{}/health", url.trim_end_matches('/'));
    let client = crate::config::http_builder(ca_cert)?
        .timeout(HEALTH_TIMEOUT)
        .build()
        .map_err(|e| e.to_string())?;
    let response = client.get(&url).send().await.map_err(|e| {
        // reqwest's top line hides the cause (an unknown issuer, say).
        let mut text = e.to_string();
        let mut source = std::error::Error::source(&e);
        while let Some(cause) = source {
            text = format!("{text}: {cause}");
            source = cause.source();
        }
        text
    })?;
    if response.status().is_success() {
        Ok("reachable".into())
    } else {
        Err(format!("{url} answered {}", response.status()))
    }
}

fn check_hid_scanner(scanner: &hardware::HidConfig) -> Result<String, String> {
    scanner.validate().map_err(|e| e.to_string())?;
    match std::fs::File::open(&scanner.path) {
        Ok(_) => Ok("present and readable".into()),
        Err(e) if e.kind() == std::io::ErrorKind::PermissionDenied => {
            Err(format!("{e}: the service user needs the `input` group"))
        }
        Err(e) => Err(e.to_string()),
    }
}

fn check_scanner(scanner: &hardware::SerialConfig) -> Result<String, String> {
    scanner.validate().map_err(|e| e.to_string())?;
    match std::fs::File::open(&scanner.path) {
        Ok(_) => Ok("present".into()),
        // A running agent holds the port exclusively.
        Err(e) if e.kind() == std::io::ErrorKind::ResourceBusy => {
            Ok("present, in use by a running agent".into())
        }
        Err(e) => Err(e.to_string()),
    }
}
