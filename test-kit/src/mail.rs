//! Real servers for the notification tests: the one SMTP sink (Python's
//! aiosmtpd, `test-kit/scripts/smtp_sink.py`, `pip install aiosmtpd`) that
//! writes each message it accepts to a directory, and a recording HTTP SMS
//! gateway (`test-kit/scripts/sms_gateway.py`). Each runs as a child
//! process on a free port and is killed when dropped.

use std::io::{BufRead as _, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use std::time::Duration;

use anyhow::Context as _;
use serde::Deserialize;

use crate::free_port;

/// What the SMTP server received, decoded.
#[derive(Debug, Clone, Deserialize)]
pub struct ReceivedMail {
    /// The envelope's recipients.
    pub to: Vec<String>,
    /// Subject.
    pub subject: String,
    /// `Message-ID`.
    pub message_id: String,
    /// `List-Unsubscribe`.
    pub list_unsubscribe: String,
    /// `List-Unsubscribe-Post`.
    pub list_unsubscribe_post: String,
    /// The plain-text part.
    pub text: String,
    /// The HTML part.
    pub html: String,
    /// The pictures it carries.
    #[serde(default)]
    pub images: Vec<MailImage>,
}

/// A picture carried in a received message.
#[derive(Debug, Clone, Deserialize)]
pub struct MailImage {
    /// Its `Content-Type`.
    pub content_type: String,
    /// Its `Content-ID`.
    pub content_id: String,
    /// Its `Content-Disposition`.
    pub disposition: String,
    /// SHA-256 of its bytes, in hex.
    pub sha256: String,
}

impl ReceivedMail {
    /// The URL inside `List-Unsubscribe: <…>`.
    #[must_use]
    pub fn unsubscribe_url(&self) -> Option<String> {
        let s = self.list_unsubscribe.trim();
        Some(s.strip_prefix('<')?.strip_suffix('>')?.to_owned())
    }

    /// The first run of six digits in the text: a sign-up code.
    #[must_use]
    pub fn code(&self) -> Option<String> {
        self.text
            .split(|c: char| !c.is_ascii_digit())
            .find(|w| w.len() == 6)
            .map(str::to_owned)
    }
}

fn script(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("scripts")
        .join(name)
}

fn spawn_ready(mut command: Command) -> anyhow::Result<Child> {
    let mut child = command
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .context("python3 runs the test server (pip install aiosmtpd for the SMTP sink)")?;
    let stdout = child.stdout.take().context("stdout")?;
    let mut line = String::new();
    BufReader::new(stdout).read_line(&mut line)?;
    anyhow::ensure!(
        line.trim() == "ready",
        "the test server did not start: {line:?}"
    );
    Ok(child)
}

/// A real SMTP server.
pub struct SmtpSink {
    child: Child,
    /// Its port.
    pub port: u16,
    dir: tempfile::TempDir,
}

impl SmtpSink {
    /// Starts one that answers each message after `delay_secs` and refuses
    /// the recipients in `reject` with 550.
    pub fn start(delay_secs: f64, reject: &[&str]) -> anyhow::Result<SmtpSink> {
        let dir = tempfile::tempdir()?;
        let port = free_port()?;
        let mut command = Command::new("python3");
        command
            .arg(script("smtp_sink.py"))
            .args([
                "--port",
                &port.to_string(),
                "--delay",
                &delay_secs.to_string(),
            ])
            .arg("--dir")
            .arg(dir.path());
        for r in reject {
            command.args(["--reject", r]);
        }
        Ok(SmtpSink {
            child: spawn_ready(command)?,
            port,
            dir,
        })
    }

    /// `smtp://127.0.0.1:<port>`.
    #[must_use]
    pub fn url(&self) -> String {
        format!("smtp://127.0.0.1:{}", self.port)
    }

    /// Every message received so far, in order.
    pub fn messages(&self) -> anyhow::Result<Vec<ReceivedMail>> {
        let mut names: Vec<PathBuf> = std::fs::read_dir(self.dir.path())?
            .filter_map(Result::ok)
            .map(|e| e.path())
            .filter(|p| {
                p.extension().is_some_and(|x| x == "json")
                    && !p
                        .file_name()
                        .is_some_and(|n| n.to_string_lossy().starts_with('.'))
            })
            .collect();
        names.sort();
        names
            .iter()
            .map(|p| Ok(serde_json::from_slice(&std::fs::read(p)?)?))
            .collect()
    }

    /// Refuses `address` with 550 from now on: its mailbox is gone.
    pub fn start_rejecting(&self, address: &str) -> anyhow::Result<()> {
        use std::io::Write as _;
        let mut f = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.path().join("reject.txt"))?;
        writeln!(f, "{address}")?;
        Ok(())
    }

    /// The recipients refused so far, once per refusal.
    pub fn rejected(&self) -> anyhow::Result<Vec<String>> {
        let path = self.dir.path().join("rejected.txt");
        if !path.exists() {
            return Ok(vec![]);
        }
        Ok(std::fs::read_to_string(path)?
            .lines()
            .map(str::to_owned)
            .collect())
    }

    /// The messages to `address`.
    pub fn to(&self, address: &str) -> anyhow::Result<Vec<ReceivedMail>> {
        Ok(self
            .messages()?
            .into_iter()
            .filter(|m| m.to.iter().any(|t| t.eq_ignore_ascii_case(address)))
            .collect())
    }

    /// Waits up to `within` for a message whose envelope names exactly
    /// `to` and that `pick` accepts.
    pub async fn wait_for(
        &self,
        to: &str,
        within: Duration,
        pick: impl Fn(&ReceivedMail) -> bool,
    ) -> anyhow::Result<ReceivedMail> {
        let found = crate::poll::until(&format!("a message to {to}"), within, || {
            let found = self.messages().map(|all| {
                all.into_iter()
                    .find(|m| m.to.iter().any(|t| t == to) && pick(m))
            });
            async move { found }
        })
        .await;
        found.with_context(|| format!("received: {:?}", self.messages()))
    }
}

impl Drop for SmtpSink {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One request the SMS gateway received.
#[derive(Debug, Clone, Deserialize)]
pub struct GatewayRequest {
    /// Method.
    pub method: String,
    /// Path.
    pub path: String,
    /// Query parameters.
    pub query: std::collections::HashMap<String, String>,
    /// The form or JSON body's fields.
    pub form: std::collections::HashMap<String, serde_json::Value>,
}

impl GatewayRequest {
    /// A field of the body, as text.
    #[must_use]
    pub fn field(&self, name: &str) -> String {
        match self.form.get(name) {
            Some(serde_json::Value::String(s)) => s.clone(),
            Some(other) => other.to_string(),
            None => self.query.get(name).cloned().unwrap_or_default(),
        }
    }
}

/// A recording SMS gateway.
pub struct SmsGatewayProcess {
    child: Child,
    /// Its port.
    pub port: u16,
    dir: tempfile::TempDir,
}

impl SmsGatewayProcess {
    /// Starts one that calls the numbers in `invalid` invalid.
    pub fn start(invalid: &[&str]) -> anyhow::Result<SmsGatewayProcess> {
        let dir = tempfile::tempdir()?;
        let port = free_port()?;
        let mut command = Command::new("python3");
        command
            .arg(script("sms_gateway.py"))
            .args(["--port", &port.to_string()])
            .arg("--log")
            .arg(dir.path().join("requests.jsonl"));
        for n in invalid {
            command.args(["--invalid", n]);
        }
        Ok(SmsGatewayProcess {
            child: spawn_ready(command)?,
            port,
            dir,
        })
    }

    /// `http://127.0.0.1:<port>`.
    #[must_use]
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Calls `number` invalid from now on.
    pub fn start_refusing(&self, number: &str) -> anyhow::Result<()> {
        use std::io::Write as _;
        let mut f = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.path().join("invalid.txt"))?;
        writeln!(f, "{number}")?;
        Ok(())
    }

    /// Every request received so far.
    pub fn requests(&self) -> anyhow::Result<Vec<GatewayRequest>> {
        let path = self.dir.path().join("requests.jsonl");
        if !path.exists() {
            return Ok(vec![]);
        }
        std::fs::read_to_string(path)?
            .lines()
            .filter(|l| !l.trim().is_empty())
            .map(|l| Ok(serde_json::from_str(l)?))
            .collect()
    }
}

impl Drop for SmsGatewayProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
