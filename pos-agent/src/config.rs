//! The agent's settings, layered: built-in defaults, then the TOML file
//! (`<data_dir>/agent.toml` or `--config`), then environment variables
//! `POS_AGENT__*` (`__` separates levels: `POS_AGENT__SYNC__URL`), then the
//! command line.
//!
//! `pos-agent enroll` writes the file; the register secret lives in it, so
//! it is created with mode 0600 and the secret's `Debug` is redacted.

use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::time::Duration;

use figment::Figment;
use figment::providers::{Env, Format, Serialized, Toml};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize, Serializer};
use shared::crypto::PublicKey;
use shared::ids::{BrandId, MerchantId, RegisterId, StoreId};
use shared::keys::ChainSeq;
use shared::money::Currency;

/// The sample configuration shipped with the agent.
pub const EXAMPLE_CONFIG: &str = include_str!("../agent.example.toml");

/// The file `enroll` writes in the data directory.
pub const CONFIG_FILE: &str = "agent.toml";
/// The register's Ed25519 private key (PKCS#8) in the data directory.
pub const KEY_FILE: &str = "register.pk8";
/// The SQLite database in the data directory.
pub const DB_FILE: &str = "agent.db";
/// The till's bearer token for the local API, in the data directory.
pub const API_TOKEN_FILE: &str = "api-token";
/// The prefix of environment overrides.
pub const ENV_PREFIX: &str = "POS_AGENT__";

/// Everything the agent needs to run.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AgentConfig {
    /// Where the key, the database and (by default) this file live.
    pub data_dir: PathBuf,
    /// The sync server and this register's credentials.
    pub sync: SyncConfig,
    /// Who this register is, as enrollment returned it.
    pub register: RegisterConfig,
    /// The local API for the till.
    #[serde(default)]
    pub api: ApiConfig,
    /// Serial barcode scanners. None are written when there are none, so
    /// an operator appends `[[scanners]]` tables to the enrolled file.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub scanners: Vec<hardware::SerialConfig>,
    /// USB HID keyboard-wedge barcode scanners (Linux evdev).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub hid_scanners: Vec<hardware::HidConfig>,
    /// How scanned codes are read.
    #[serde(default)]
    pub scan: ScanConfig,
}

/// How scanned codes are classified.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScanConfig {
    /// The prefix of the merchant's coupon codes (`CPN-` unless set); an
    /// empty prefix turns coupon recognition off.
    #[serde(default = "defaults::coupon_prefix")]
    pub coupon_prefix: String,
}

impl Default for ScanConfig {
    fn default() -> Self {
        Self {
            coupon_prefix: defaults::coupon_prefix(),
        }
    }
}

/// The sync server, the register's credentials and the sync cadence.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SyncConfig {
    /// Base URL of the sync server, such as `https://loyalty.example`.
    pub url: String,
    /// More URLs of the same server (other instances on one database), tried
    /// in order when the one in use does not answer or answers 502, 503 or
    /// 504; after the last, `url` again.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub fallback_urls: Vec<String>,
    /// A PEM file of the certificate authorities to trust for the server's
    /// `https` URLs besides the public ones: a private CA that signed the
    /// server's certificate. `pos-agent doctor` checks it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ca_cert: Option<PathBuf>,
    /// This register's id.
    pub register_id: RegisterId,
    /// This register's secret for `Authorization: Bearer <id>.<secret>`.
    #[serde(serialize_with = "serialize_secret")]
    pub secret: SecretString,
    /// The server key pinned at enrollment: it signs rulesets and tokens.
    pub server_public_key: PublicKey,
    /// The server's recovery key pinned at enrollment, if it had one: an
    /// endorsement it signs makes a new server key valid (keys learnt
    /// since are in the database).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub server_recovery_key: Option<PublicKey>,
    /// The server's key chain position at enrollment.
    #[serde(default, skip_serializing_if = "is_chain_start")]
    pub server_key_seq: ChainSeq,
    /// Look for records to upload at least this often (ms). A commit or a
    /// return wakes the uploader at once, so this only finds records
    /// committed some other way; a failed upload is retried on its own
    /// backoff.
    #[serde(default = "defaults::upload_interval_ms")]
    pub upload_interval_ms: u64,
    /// Seconds between heartbeats to the server (version, backlog, alarms),
    /// sent whether or not there is anything to upload; 0 sends none.
    #[serde(default = "defaults::heartbeat_secs")]
    pub heartbeat_secs: u64,
    /// How long the server may hold a long-poll (s).
    #[serde(default = "defaults::longpoll_wait_secs")]
    pub longpoll_wait_secs: u64,
    /// First retry delay after a failure (ms).
    #[serde(default = "defaults::backoff_initial_ms")]
    pub backoff_initial_ms: u64,
    /// Longest retry delay (ms).
    #[serde(default = "defaults::backoff_max_ms")]
    pub backoff_max_ms: u64,
    /// Most records in one upload (the server takes at most 1000).
    #[serde(default = "defaults::batch_records")]
    pub batch_records: usize,
    /// Days an acknowledged record stays in the outbox before it is pruned
    /// (0 keeps every record). Records still counted in a customer's
    /// pending standing, and dead letters, are kept whatever their age.
    #[serde(default = "defaults::retention_days")]
    pub retention_days: u32,
    /// How rulesets are fetched: `auto` long-polls and falls back to ETag
    /// polling where long requests are cut or not held (a proxy);
    /// `long_poll` and `etag_poll` force one.
    #[serde(default)]
    pub ruleset_transport: RulesetTransportSetting,
    /// Seconds between ETag polls when polling.
    #[serde(default = "defaults::ruleset_poll_secs")]
    pub ruleset_poll_secs: u64,
    /// The register counts as offline once the server has answered nothing
    /// for this long (s), or ever (the last contact stored before a restart
    /// counts); points spent offline are then held to the programme's
    /// `redemption.offline_cap_points`. Keep it above `longpoll_wait_secs`:
    /// an idle register hears from the server once per long-poll.
    #[serde(default = "defaults::offline_after_secs")]
    pub offline_after_secs: u64,
    /// The largest upload the server takes (bytes; the server announces
    /// its `max_batch_bytes` at `GET /api/v1/protocol`). A commit whose
    /// record alone would be larger is refused (422 `record_too_large`).
    #[serde(default = "defaults::max_upload_bytes")]
    pub max_upload_bytes: usize,
    /// Seconds between renewals of the till's quota leases (its shares of
    /// promotions' global limits) while the server answers; every upload
    /// that stores records renews them too.
    #[serde(default = "defaults::lease_renew_secs")]
    pub lease_renew_secs: u64,
}

fn is_chain_start(seq: &ChainSeq) -> bool {
    *seq == ChainSeq::default()
}

/// `sync.ruleset_transport`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RulesetTransportSetting {
    /// Long-poll, falling back to ETag polling when long-polls fail.
    #[default]
    Auto,
    /// Long-poll only.
    LongPoll,
    /// ETag polling only, every `ruleset_poll_secs`.
    EtagPoll,
}

impl SyncConfig {
    /// The server's URL, then the ones to fail over to.
    pub fn server_urls(&self) -> impl Iterator<Item = &str> {
        std::iter::once(self.url.as_str()).chain(self.fallback_urls.iter().map(String::as_str))
    }

    /// Settings for a newly enrolled register, with the default cadence.
    #[must_use]
    pub fn new(
        url: String,
        register_id: RegisterId,
        secret: SecretString,
        server_public_key: PublicKey,
    ) -> Self {
        Self {
            url,
            fallback_urls: Vec::new(),
            ca_cert: None,
            register_id,
            secret,
            server_public_key,
            server_recovery_key: None,
            server_key_seq: ChainSeq::default(),
            upload_interval_ms: defaults::upload_interval_ms(),
            heartbeat_secs: defaults::heartbeat_secs(),
            longpoll_wait_secs: defaults::longpoll_wait_secs(),
            backoff_initial_ms: defaults::backoff_initial_ms(),
            backoff_max_ms: defaults::backoff_max_ms(),
            batch_records: defaults::batch_records(),
            retention_days: defaults::retention_days(),
            ruleset_transport: RulesetTransportSetting::default(),
            ruleset_poll_secs: defaults::ruleset_poll_secs(),
            offline_after_secs: defaults::offline_after_secs(),
            max_upload_bytes: defaults::max_upload_bytes(),
            lease_renew_secs: defaults::lease_renew_secs(),
        }
    }

    /// An HTTP client builder that trusts `sync.ca_cert` too, if set.
    ///
    /// # Errors
    /// The file cannot be read or holds no PEM certificate.
    pub fn http_builder(&self) -> Result<reqwest::ClientBuilder, String> {
        http_builder(self.ca_cert.as_deref())
    }

    /// [`Self::upload_interval_ms`] as a duration.
    #[must_use]
    pub fn upload_interval(&self) -> Duration {
        Duration::from_millis(self.upload_interval_ms)
    }

    /// [`Self::longpoll_wait_secs`] as a duration.
    #[must_use]
    pub fn longpoll_wait(&self) -> Duration {
        Duration::from_secs(self.longpoll_wait_secs)
    }

    /// [`Self::retention_days`] as a duration; `None` keeps every record.
    #[must_use]
    pub fn retention(&self) -> Option<chrono::TimeDelta> {
        (self.retention_days > 0).then(|| chrono::TimeDelta::days(i64::from(self.retention_days)))
    }

    /// [`Self::ruleset_poll_secs`] as a duration, at least a second.
    #[must_use]
    pub fn ruleset_poll_interval(&self) -> Duration {
        Duration::from_secs(self.ruleset_poll_secs.max(1))
    }
}

/// Who the register is, as enrollment returned it.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RegisterConfig {
    /// The merchant whose programme applies.
    pub merchant_id: MerchantId,
    /// The store of the register.
    pub store_id: StoreId,
    /// The store's IANA time zone (a configuration naming an unknown zone
    /// is refused when it is read, with the zone named).
    pub store_timezone: shared::timezone::TimeZone,
    /// The brand the store trades under, for brand conditions (absent in
    /// configurations written before it was known, or without a brand).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub store_brand: Option<BrandId>,
    /// The merchant's currency.
    pub currency: Currency,
}

/// The local API.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApiConfig {
    /// Address to listen on; keep it on loopback. Requests must name it,
    /// `127.0.0.1`, `localhost` or `[::1]` in their `Host`.
    #[serde(default = "defaults::listen")]
    pub listen: SocketAddr,
    /// Refuse (401) every call without `Authorization: Bearer <token>`,
    /// the token in `<data_dir>/api-token`.
    #[serde(default)]
    pub require_token: bool,
    /// Web origins (`http://localhost:3000`) allowed to call the API from
    /// a browser besides the API's own; any other `Origin` is refused.
    #[serde(default)]
    pub allowed_origins: Vec<String>,
    /// The most checks open at once; opening one more answers 429.
    #[serde(default = "defaults::max_open_checks")]
    pub max_open_checks: usize,
    /// An open check untouched for this long (s) expires.
    #[serde(default = "defaults::check_idle_secs")]
    pub check_idle_secs: u64,
}

impl Default for ApiConfig {
    fn default() -> Self {
        Self {
            listen: defaults::listen(),
            require_token: false,
            allowed_origins: Vec::new(),
            max_open_checks: defaults::max_open_checks(),
            check_idle_secs: defaults::check_idle_secs(),
        }
    }
}

mod defaults {
    use super::{Ipv4Addr, SocketAddr};

    pub(super) fn upload_interval_ms() -> u64 {
        10_000
    }
    pub(super) fn heartbeat_secs() -> u64 {
        60
    }
    pub(super) fn lease_renew_secs() -> u64 {
        30
    }
    pub(super) fn longpoll_wait_secs() -> u64 {
        25
    }
    pub(super) fn backoff_initial_ms() -> u64 {
        200
    }
    pub(super) fn backoff_max_ms() -> u64 {
        30_000
    }
    pub(super) fn batch_records() -> usize {
        500
    }
    pub(super) fn retention_days() -> u32 {
        30
    }
    pub(super) fn ruleset_poll_secs() -> u64 {
        60
    }
    pub(super) fn offline_after_secs() -> u64 {
        60
    }
    pub(super) fn max_upload_bytes() -> usize {
        shared::wire::sync::MAX_BATCH_BYTES
    }
    pub(super) fn max_open_checks() -> usize {
        100
    }
    pub(super) fn check_idle_secs() -> u64 {
        4 * 3600
    }
    pub(super) fn listen() -> SocketAddr {
        SocketAddr::from((Ipv4Addr::LOCALHOST, 8641))
    }
    pub(super) fn coupon_prefix() -> String {
        shared::coupon::DEFAULT_COUPON_PREFIX.to_owned()
    }
}

fn serialize_secret<S: Serializer>(secret: &SecretString, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(secret.expose_secret())
}

/// Why the configuration could not be loaded.
#[derive(Debug, thiserror::Error)]
#[error("cannot load the agent configuration: {0}")]
pub struct ConfigError(#[from] Box<figment::Error>);

impl AgentConfig {
    /// Loads the layered configuration: defaults, the file (`file`, else
    /// `<data_dir>/agent.toml`), then `POS_AGENT__*` environment variables.
    /// Command-line overrides are applied by the caller on the result.
    pub fn load(data_dir: &Path, file: Option<&Path>) -> Result<Self, ConfigError> {
        let file = file.map_or_else(|| data_dir.join(CONFIG_FILE), Path::to_path_buf);
        Figment::new()
            .merge(Serialized::default("data_dir", data_dir))
            .merge(Toml::file_exact(file))
            .merge(Env::prefixed(ENV_PREFIX).split("__"))
            .extract()
            .map_err(|e| ConfigError(Box::new(e)))
    }

    /// The path of the register's private key.
    #[must_use]
    pub fn key_path(&self) -> PathBuf {
        self.data_dir.join(KEY_FILE)
    }

    /// The path of the database.
    #[must_use]
    pub fn db_path(&self) -> PathBuf {
        crate::database_path(&self.data_dir)
    }

    /// The configuration as TOML, secret included, for `agent.toml`.
    pub fn to_toml(&self) -> Result<String, toml::ser::Error> {
        toml::to_string_pretty(self)
    }
}

/// The certificates of a CA file (PEM, one or more).
///
/// # Errors
/// The file cannot be read or holds no PEM certificate.
pub fn read_ca_cert(path: &Path) -> Result<Vec<reqwest::Certificate>, String> {
    let pem = std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let certs = reqwest::Certificate::from_pem_bundle(&pem)
        .map_err(|e| format!("{}: not a PEM certificate: {e}", path.display()))?;
    if certs.is_empty() {
        return Err(format!("{} holds no PEM certificate", path.display()));
    }
    Ok(certs)
}

/// An HTTP client builder that trusts the CAs in `ca_cert` besides the
/// public ones.
///
/// # Errors
/// The file cannot be read or holds no PEM certificate.
pub fn http_builder(ca_cert: Option<&Path>) -> Result<reqwest::ClientBuilder, String> {
    let mut builder = reqwest::Client::builder();
    if let Some(path) = ca_cert {
        for cert in read_ca_cert(path)? {
            builder = builder.add_root_certificate(cert);
        }
    }
    Ok(builder)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> AgentConfig {
        Figment::new()
            .merge(Serialized::default("data_dir", "/var/lib/pos-agent"))
            .merge(Toml::string(text))
            .extract()
            .unwrap()
    }

    #[test]
    fn the_example_config_parses_with_its_scanners() {
        let config = parse(EXAMPLE_CONFIG);
        assert_eq!(config.sync.register_id.get(), 7);
        assert_eq!(config.api.listen, defaults::listen());
        assert_eq!(config.scanners.len(), 1);
        assert_eq!(config.scanners[0].path, "/dev/serial/by-id/usb-scanner");
        config.scanners[0].validate().unwrap();
        assert_eq!(config.hid_scanners.len(), 1);
        let hid = &config.hid_scanners[0];
        assert_eq!(hid.path, "/dev/input/by-id/usb-scanner-event-kbd");
        assert_eq!(hid.layout, hardware::KeyboardLayout::Us);
        assert_eq!(hid.framing.suffix, hardware::Suffix::Cr);
        assert_eq!(hid.framing.debounce_ms, 300);
        assert_eq!(config.scan.coupon_prefix, "CPN-");
        assert_eq!(config.register.currency, Currency::RUB);
    }

    #[test]
    fn scanners_and_the_coupon_prefix_are_optional() {
        let text: String = EXAMPLE_CONFIG
            .split("[scan]")
            .next()
            .unwrap_or_default()
            .to_owned();
        let config = parse(&text);
        assert!(config.scanners.is_empty() && config.hid_scanners.is_empty());
        assert_eq!(config.scan, ScanConfig::default());
        assert_eq!(config.scan.coupon_prefix, "CPN-");
    }

    #[test]
    fn the_secret_is_redacted_in_debug_but_written_to_toml() {
        let config = parse(EXAMPLE_CONFIG);
        let debug = format!("{config:?}");
        assert!(!debug.contains("change-me"), "{debug}");
        let written = config.to_toml().unwrap();
        assert!(written.contains("change-me"));
        let again = parse(&written);
        assert_eq!(again.sync.secret.expose_secret(), "change-me");
        assert_eq!(again.sync.batch_records, config.sync.batch_records);
    }

    #[test]
    fn the_file_in_the_data_dir_is_layered_over_defaults() {
        let dir = tempfile::tempdir().unwrap();
        let minimal: String = EXAMPLE_CONFIG
            .lines()
            .filter(|l| !l.starts_with("upload_interval_ms"))
            .map(|l| format!("{l}\n"))
            .collect();
        std::fs::write(dir.path().join(CONFIG_FILE), minimal).unwrap();
        let config = AgentConfig::load(dir.path(), None).unwrap();
        assert_eq!(config.data_dir, dir.path());
        assert_eq!(config.sync.upload_interval_ms, 10_000);
    }

    #[test]
    fn sync_hardening_settings_default_and_parse() {
        let config = parse(EXAMPLE_CONFIG);
        assert_eq!(config.sync.retention_days, 30);
        assert_eq!(config.sync.ruleset_transport, RulesetTransportSetting::Auto);
        assert_eq!(config.sync.ruleset_poll_secs, 60);
        assert_eq!(config.sync.offline_after_secs, 60);
        let minimal: String = EXAMPLE_CONFIG
            .lines()
            .filter(|l| {
                !l.starts_with("retention_days")
                    && !l.starts_with("ruleset_transport")
                    && !l.starts_with("ruleset_poll_secs")
                    && !l.starts_with("offline_after_secs")
            })
            .map(|l| format!("{l}\n"))
            .collect();
        let defaulted = parse(&minimal);
        assert_eq!(defaulted.sync.retention_days, 30);
        assert_eq!(defaulted.sync.offline_after_secs, 60);
        assert_eq!(
            defaulted.sync.retention(),
            Some(chrono::TimeDelta::days(30))
        );
        let text = EXAMPLE_CONFIG
            .replace("retention_days = 30", "retention_days = 0")
            .replace(
                "ruleset_transport = \"auto\"",
                "ruleset_transport = \"etag_poll\"",
            );
        let forced = parse(&text);
        assert_eq!(forced.sync.retention(), None, "0 keeps every record");
        assert_eq!(
            forced.sync.ruleset_transport,
            RulesetTransportSetting::EtagPoll
        );
    }

    #[test]
    #[expect(
        clippy::result_large_err,
        reason = "figment::Jail fixes the closure's type"
    )]
    fn a_scanner_appended_to_a_written_config_is_read_with_it() {
        figment::Jail::expect_with(|jail| {
            // What enroll writes: no scanners yet.
            let mut enrolled = parse(EXAMPLE_CONFIG);
            enrolled.scanners.clear();
            enrolled.hid_scanners.clear();
            let written = enrolled.to_toml().map_err(|e| e.to_string())?;
            assert!(!written.contains("scanners = []"), "{written}");
            // INSTALL.md step 3: append a scanner table.
            jail.create_file(
                CONFIG_FILE,
                &format!("{written}\n[[scanners]]\npath = \"/dev/ttyACM0\"\n"),
            )?;
            let config = AgentConfig::load(jail.directory(), None).map_err(|e| e.to_string())?;
            assert_eq!(config.scanners.len(), 1);
            assert_eq!(config.scanners[0].path, "/dev/ttyACM0");
            Ok(())
        });
    }

    #[test]
    #[expect(
        clippy::result_large_err,
        reason = "figment::Jail fixes the closure's type"
    )]
    fn environment_variables_override_the_file() {
        figment::Jail::expect_with(|jail| {
            jail.create_file(CONFIG_FILE, EXAMPLE_CONFIG)?;
            jail.set_env("POS_AGENT__SYNC__URL", "http://10.0.0.1:8640");
            jail.set_env("POS_AGENT__API__LISTEN", "127.0.0.1:9000");
            let config = AgentConfig::load(jail.directory(), None).map_err(|e| e.to_string())?;
            assert_eq!(config.sync.url, "http://10.0.0.1:8640");
            assert_eq!(config.api.listen.port(), 9000);
            assert_eq!(config.sync.register_id.get(), 7, "the rest from the file");
            Ok(())
        });
    }

    #[test]
    fn a_typo_is_an_error_not_a_silent_default() {
        let text = EXAMPLE_CONFIG.replace("longpoll_wait_secs", "longpol_wait_secs");
        let err = Figment::new()
            .merge(Serialized::default("data_dir", "/x"))
            .merge(Toml::string(&text))
            .extract::<AgentConfig>()
            .unwrap_err();
        assert!(err.to_string().contains("longpol_wait_secs"), "{err}");
    }
}
