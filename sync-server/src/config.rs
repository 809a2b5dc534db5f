//! Settings, layered: built-in defaults, then a TOML file, then environment
//! variables (`SYNC_SERVER__LONGPOLL__MAX_WAIT_SECS`), then command-line flags.
//!
//! The file is the one given with `--config`, else `<data_dir>/server.toml`
//! when it exists. The admin token is a [`SecretString`], so `Debug` never
//! prints it.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use figment::Figment;
use figment::providers::{Env, Format, Serialized, Toml};
use secrecy::SecretString;
use serde::{Deserialize, Serialize};

/// The commented sample configuration shipped with the server.
pub const EXAMPLE_CONFIG: &str = include_str!("../server.example.toml");

/// The prefix of environment overrides; `__` separates nested keys.
const ENV_PREFIX: &str = "SYNC_SERVER__";

/// The name of the configuration file looked for in the data directory.
const DATA_DIR_CONFIG: &str = "server.toml";

/// Everything the server needs to start.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    /// Holds the database and the signing key.
    #[serde(default = "default_data_dir")]
    pub data_dir: PathBuf,
    /// The address to listen on.
    #[serde(default = "default_listen")]
    pub listen: SocketAddr,
    /// The bearer token of the admin API.
    pub admin_token: SecretString,
    /// The bearer token Prometheus scrapes `/metrics` with; the admin token
    /// when unset.
    #[serde(default)]
    pub metrics_token: Option<SecretString>,
    /// The URL registers reach the server at, if it differs from `listen`
    /// (behind a proxy); shown in the start-up log.
    #[serde(default)]
    pub public_url: Option<String>,
    /// Long-poll limits.
    #[serde(default)]
    pub longpoll: LongPollSettings,
    /// Customer token settings.
    #[serde(default)]
    pub tokens: TokenSettings,
    /// Upload limits and load shedding.
    #[serde(default)]
    pub ingest: IngestSettings,
    /// How far a register's clock may drift before HQ is alerted.
    #[serde(default)]
    pub clock: ClockSettings,
    /// Limits of the public web forms.
    #[serde(default)]
    pub web: WebSettings,
    /// How promotions' global limits are leased to registers.
    #[serde(default)]
    pub leases: LeaseSettings,
    /// Where the data lives: embedded SQLite in `data_dir` unless a
    /// PostgreSQL URL is given.
    #[serde(default)]
    pub database: DatabaseSettings,
    /// Messages to customers: e-mail, SMS, campaigns.
    #[serde(default)]
    pub notify: NotifySettings,
    /// HTTPS served by the server itself (`[tls]`); plain HTTP when unset
    /// (on the loopback, or behind a proxy that ends TLS).
    #[serde(default)]
    pub tls: TlsSettings,
}

/// `[tls]`: the server's certificate chain and private key, PEM files
/// (`SYNC_SERVER__TLS__CERT_PATH`, `SYNC_SERVER__TLS__KEY_PATH`). Both or
/// neither.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TlsSettings {
    /// The certificate chain, the server's own first.
    pub cert_path: Option<PathBuf>,
    /// Its private key (PKCS#8, PKCS#1 or SEC1).
    pub key_path: Option<PathBuf>,
}

/// Reaching customers (`[notify]`): the SMTP relay, the SMS gateway, and
/// the campaigns' limits. Without `smtp_url` and `[notify.sms]` nothing is
/// sent and sign-up needs no code.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct NotifySettings {
    /// `smtp://host:port` (plain, as to a local relay), `smtp://…?tls=required`
    /// (STARTTLS) or `smtps://host:port`, with `user:pass@` if the relay
    /// wants it.
    pub smtp_url: Option<String>,
    /// The sender of e-mails.
    pub from: String,
    /// Local start of the quiet hours (`HH:MM`), in the customer's zone.
    pub quiet_start: String,
    /// Local end of the quiet hours (`HH:MM`).
    pub quiet_end: String,
    /// The most campaign messages one customer receives per window.
    pub max_per_customer: u32,
    /// The frequency cap's window, in hours.
    pub cap_window_hours: u32,
    /// E-mails handed to the relay per second, at most.
    pub email_per_second: u32,
    /// How often the campaign task looks for work, in seconds.
    pub poll_secs: u64,
    /// Promotions whose publication started at most this long ago still get
    /// their campaign (after a server was down at the start), in hours.
    pub catch_up_hours: u32,
    /// The first retry's delay, in seconds; each retry doubles it.
    pub retry_base_secs: u64,
    /// Attempts before a message fails for good.
    pub max_attempts: u32,
    /// A message claimed longer ago than this without being marked was
    /// claimed by a sender that died; it is never sent again.
    pub claim_lease_secs: u64,
    /// How long a sign-up's one-time code works, in seconds.
    pub code_ttl_secs: u64,
    /// Wrong codes before the sign-up must start over.
    pub code_attempts: u32,
    /// The SMS gateway, if any.
    pub sms: Option<SmsSettings>,
}

impl Default for NotifySettings {
    fn default() -> Self {
        NotifySettings {
            smtp_url: None,
            from: "Loyalty <noreply@localhost>".to_owned(),
            quiet_start: "21:00".to_owned(),
            quiet_end: "09:00".to_owned(),
            max_per_customer: 3,
            cap_window_hours: 24 * 7,
            email_per_second: 10,
            poll_secs: 5,
            catch_up_hours: 24,
            retry_base_secs: 30,
            max_attempts: 5,
            claim_lease_secs: 300,
            code_ttl_secs: 900,
            code_attempts: 5,
            sms: None,
        }
    }
}

/// An HTTP SMS gateway (`[notify.sms]`).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SmsSettings {
    /// `sms_ru` (SMS.ru's `sms/send` API) or `template` (any gateway, by a
    /// URL and body template).
    pub driver: SmsDriverKind,
    /// SMS.ru: the API's base URL (`https://sms.ru`); template: the URL,
    /// with `{to}` and `{text}` placeholders (URL-encoded).
    pub url: String,
    /// SMS.ru: the `api_id`.
    #[serde(default)]
    pub api_id: String,
    /// Template: the body, with `{to}` and `{text}` placeholders (encoded
    /// for `content_type`); empty sends a GET.
    #[serde(default)]
    pub body: String,
    /// Template: `application/json` or `application/x-www-form-urlencoded`.
    #[serde(default = "default_sms_content_type")]
    pub content_type: String,
    /// Template: the HTTP statuses that mean "this number is invalid".
    #[serde(default = "default_invalid_statuses")]
    pub invalid_number_statuses: Vec<u16>,
    /// Messages per second the gateway accepts.
    #[serde(default = "default_sms_rate")]
    pub per_second: u32,
}

/// Which SMS driver.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SmsDriverKind {
    /// SMS.ru's HTTP API.
    SmsRu,
    /// A templated HTTP request.
    Template,
}

fn default_sms_content_type() -> String {
    "application/json".to_owned()
}

fn default_invalid_statuses() -> Vec<u16> {
    vec![400, 404, 422]
}

fn default_sms_rate() -> u32 {
    5
}

/// The storage backend.
#[derive(Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DatabaseSettings {
    /// `postgres://USER@HOST/DB` selects PostgreSQL, shared by every server
    /// instance pointed at it; without it the server keeps SQLite in
    /// `data_dir`. A URL may carry a password, so `Debug` hides it.
    pub url: Option<SecretString>,
}

impl std::fmt::Debug for DatabaseSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DatabaseSettings")
            .field("url", &self.url.as_ref().map(|_| "[set]"))
            .finish()
    }
}

/// Attempts per client address at the public forms (see `web::throttle`).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct WebSettings {
    /// The reverse proxies in front of the server (addresses or networks,
    /// such as `"127.0.0.1"` or `"10.0.0.0/8"`). A request from one of
    /// them is counted against the client it names in `X-Forwarded-For`;
    /// the header of anyone else is ignored.
    pub trusted_proxies: Vec<TrustedProxy>,
    /// HQ sign-in attempts per minute (also the burst).
    pub sign_in_attempts_per_minute: u32,
    /// Customer sign-ups per hour (also the burst).
    pub sign_ups_per_hour: u32,
    /// HQ sign-in attempts per minute at one person's address, from any
    /// client address (also the burst).
    pub account_sign_in_attempts_per_minute: u32,
}

impl Default for WebSettings {
    fn default() -> Self {
        WebSettings {
            trusted_proxies: Vec::new(),
            sign_in_attempts_per_minute: 10,
            sign_ups_per_hour: 30,
            account_sign_in_attempts_per_minute: 5,
        }
    }
}

/// A trusted reverse proxy: one address (`"127.0.0.1"`) or a network
/// (`"10.0.0.0/8"`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TrustedProxy(pub ipnet::IpNet);

impl<'de> Deserialize<'de> for TrustedProxy {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        let net = match text.parse::<ipnet::IpNet>() {
            Ok(net) => net,
            Err(_) => text
                .parse::<std::net::IpAddr>()
                .map(ipnet::IpNet::from)
                .map_err(|_| {
                    serde::de::Error::custom(format!(
                        "`{text}` is not an address or a network such as 10.0.0.0/8"
                    ))
                })?,
        };
        Ok(TrustedProxy(net))
    }
}

/// How long a long-poll may be held, and how often a register is sent
/// a page of changed customers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LongPollSettings {
    /// The longest a request is held, whatever `wait` it asks for.
    pub max_wait_secs: u64,
    /// The pacing of pages of changed customers sent to one register
    /// (ms): after a page (unless it said more were ready) the register's
    /// next waits for the next tick of this interval, half an interval to
    /// one and a half later, one on average. A quiet register hears of a
    /// change at once; under a stream of changes (a till draining weeks of
    /// sales, a busy chain's tills) each page gathers what changed
    /// meanwhile, so a customer changed many times is sent, and their
    /// points replayed, once a tick instead of once a batch, and the tills
    /// caught up at one cursor ask at the same tick and share one page.
    pub customer_page_interval_ms: u64,
}

impl Default for LongPollSettings {
    fn default() -> Self {
        LongPollSettings {
            max_wait_secs: 30,
            customer_page_interval_ms: 2_000,
        }
    }
}

/// The longest `customer_page_interval_ms` taken: tills hear of other
/// tills' customers within one and a half of it.
const MAX_CUSTOMER_PAGE_INTERVAL_MS: u64 = 60_000;

impl LongPollSettings {
    /// [`Self::customer_page_interval_ms`] as a duration.
    #[must_use]
    pub fn customer_page_interval(&self) -> std::time::Duration {
        std::time::Duration::from_millis(self.customer_page_interval_ms)
    }
}

/// Customer tokens shown on phones.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TokenSettings {
    /// How long an issued token is accepted.
    pub customer_token_ttl_secs: u64,
}

impl Default for TokenSettings {
    fn default() -> Self {
        TokenSettings {
            customer_token_ttl_secs: 300,
        }
    }
}

/// Limits of one upload batch, and how many batches are taken at once.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct IngestSettings {
    /// The most records in one batch.
    pub max_batch_records: usize,
    /// The largest batch body in bytes.
    pub max_batch_bytes: usize,
    /// Upload batches handled at once; further uploads are shed with 429.
    pub max_concurrent_batches: usize,
    /// The most seconds a shed upload is told to wait (`Retry-After`); the
    /// value sent is drawn from `1..=retry_after_secs` so retries spread out.
    pub retry_after_secs: u64,
    /// Whether ingest keeps the analytics rollups. Always on in service:
    /// off, the analytics views miss every record stored meanwhile. The
    /// perf harness turns it off only to measure what the rollups cost.
    pub rollups: bool,
    /// Whether the server offers chain-verified ingest
    /// (`x-loyalty-features: chain-ingest`): a batch that carries a
    /// signature over its last record's hash is authenticated by the hash
    /// chain and that one signature, and each record's own signature is
    /// audited in the background. Off, every record's signature is
    /// verified at ingest, whatever the agent sends.
    pub chain_verified: bool,
    /// Records the background audit checks per pass (their own
    /// signatures, for records that came by the chain path).
    pub audit_batch: usize,
}

impl Default for IngestSettings {
    fn default() -> Self {
        IngestSettings {
            max_batch_records: shared::wire::sync::MAX_BATCH_RECORDS,
            max_batch_bytes: shared::wire::sync::MAX_BATCH_BYTES,
            max_concurrent_batches: 8,
            retry_after_secs: 2,
            rollups: true,
            chain_verified: true,
            audit_batch: 1000,
        }
    }
}

/// Quota leases: how much of a promotion's global limits (total uses,
/// budget) a register may give while it cannot reach the server. A share
/// is what remains over the merchant's registers in service, at least the
/// floor, at most `max_share_percent` of the limit, and never more than
/// the pool not leased to others (see `services::leases`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LeaseSettings {
    /// How long a lease lasts; a register renews it at every sync, and the
    /// server takes the unspent part of one not renewed back when it ends.
    pub lease_secs: u64,
    /// The most one lease may hold, in percent of the limit (1..=100): the
    /// rest stays in the pool for the registers that come back first.
    pub max_share_percent: u8,
    /// The least a share of total uses is, while the pool has it.
    pub min_share_uses: u64,
    /// The least a share of a budget is in kopecks, while the pool has it.
    pub min_share_kopecks: i64,
}

impl Default for LeaseSettings {
    fn default() -> Self {
        LeaseSettings {
            lease_secs: 24 * 3600,
            max_share_percent: 50,
            min_share_uses: 1,
            min_share_kopecks: 100,
        }
    }
}

/// Register clocks. Drift is flagged, never used for ordering.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ClockSettings {
    /// A register whose estimated drift exceeds this many seconds, either
    /// way, raises a `clock_drift` alert.
    pub max_drift_secs: u64,
}

impl Default for ClockSettings {
    fn default() -> Self {
        ClockSettings {
            max_drift_secs: 300,
        }
    }
}

fn default_data_dir() -> PathBuf {
    PathBuf::from("/var/lib/sync-server")
}

fn default_listen() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 8640))
}

/// Values given on the command line; they override every other layer.
#[derive(Debug, Clone, Default, Serialize)]
pub struct CliOverrides {
    /// `--data-dir`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub data_dir: Option<PathBuf>,
    /// `--listen`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub listen: Option<SocketAddr>,
    /// `--admin-token`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub admin_token: Option<String>,
    /// `--database-url`, as `database.url`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub database: Option<CliDatabase>,
}

/// `--database-url`, nested as the file's `[database]` table.
#[derive(Debug, Clone, Serialize)]
pub struct CliDatabase {
    /// The PostgreSQL URL.
    pub url: String,
}

/// Why the settings could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// `--config` names a file that does not exist.
    #[error("configuration file {0} does not exist")]
    MissingFile(PathBuf),
    /// A layer has a bad or missing value.
    #[error("invalid configuration: {0}")]
    Invalid(#[from] Box<figment::Error>),
    /// A value parsed but cannot work.
    #[error("invalid configuration: {0}")]
    Unusable(&'static str),
}

impl Settings {
    /// Loads the layers in order: defaults, the TOML file (`config_file`, or
    /// `<data_dir>/server.toml` if present), the environment, then `cli`.
    pub fn load(config_file: Option<&Path>, cli: &CliOverrides) -> Result<Settings, ConfigError> {
        let file = match config_file {
            Some(path) if !path.is_file() => return Err(ConfigError::MissingFile(path.to_owned())),
            Some(path) => Some(path.to_owned()),
            None => {
                let candidate = Self::data_dir_before_file(cli)?.join(DATA_DIR_CONFIG);
                candidate.is_file().then_some(candidate)
            }
        };
        let mut figment = Figment::new();
        if let Some(file) = file {
            figment = figment.merge(Toml::file_exact(file));
        }
        Self::from_figment(figment.merge(env()).merge(Serialized::defaults(cli)))
    }

    /// Parses TOML text alone, as in the sample configuration.
    pub fn from_toml(text: &str) -> Result<Settings, ConfigError> {
        Self::from_figment(Figment::from(Toml::string(text)))
    }

    fn from_figment(figment: Figment) -> Result<Settings, ConfigError> {
        let settings: Settings = figment.extract().map_err(Box::new)?;
        settings.check()?;
        Ok(settings)
    }

    /// The data directory from the layers that can name it before the file
    /// is read: the environment and the command line.
    fn data_dir_before_file(cli: &CliOverrides) -> Result<PathBuf, ConfigError> {
        #[derive(Deserialize)]
        struct DataDirOnly {
            #[serde(default = "default_data_dir")]
            data_dir: PathBuf,
        }
        let only: DataDirOnly = Figment::new()
            .merge(env().only(&["data_dir"]))
            .merge(Serialized::defaults(cli))
            .extract()
            .map_err(Box::new)?;
        Ok(only.data_dir)
    }

    fn check(&self) -> Result<(), ConfigError> {
        use secrecy::ExposeSecret as _;
        if self.admin_token.expose_secret().trim().is_empty() {
            return Err(ConfigError::Unusable("admin_token must not be empty"));
        }
        let ingest = &self.ingest;
        if ingest.max_batch_records == 0
            || ingest.max_batch_bytes == 0
            || ingest.max_concurrent_batches == 0
            || ingest.retry_after_secs == 0
        {
            return Err(ConfigError::Unusable("ingest limits must be above zero"));
        }
        if self.tls.cert_path.is_some() != self.tls.key_path.is_some() {
            return Err(ConfigError::Unusable(
                "tls.cert_path and tls.key_path go together: give both, or neither for plain HTTP",
            ));
        }
        if self.longpoll.customer_page_interval_ms > MAX_CUSTOMER_PAGE_INTERVAL_MS {
            return Err(ConfigError::Unusable(
                "longpoll.customer_page_interval_ms must be at most 60000 (a minute)",
            ));
        }
        let leases = &self.leases;
        if leases.lease_secs == 0 || !(1..=100).contains(&leases.max_share_percent) {
            return Err(ConfigError::Unusable(
                "leases.lease_secs must be above zero and leases.max_share_percent within 1..=100",
            ));
        }
        if leases.min_share_kopecks < 0 {
            return Err(ConfigError::Unusable(
                "leases.min_share_kopecks must not be negative",
            ));
        }
        let notify = &self.notify;
        if crate::services::messaging::schedule::QuietHours::parse(
            &notify.quiet_start,
            &notify.quiet_end,
        )
        .is_none()
        {
            return Err(ConfigError::Unusable(
                "notify.quiet_start and notify.quiet_end must be HH:MM",
            ));
        }
        if let Some(url) = &notify.smtp_url {
            crate::services::messaging::channels::Mailer::new(url, &notify.from).map_err(|_| {
                ConfigError::Unusable("notify.smtp_url or notify.from is not usable")
            })?;
        }
        if notify.email_per_second == 0
            || notify.poll_secs == 0
            || notify.max_attempts == 0
            || notify.code_attempts == 0
            || notify.sms.as_ref().is_some_and(|s| s.per_second == 0)
        {
            return Err(ConfigError::Unusable("notify limits must be above zero"));
        }
        Ok(())
    }
}

fn env() -> Env {
    Env::prefixed(ENV_PREFIX).split("__")
}

#[cfg(test)]
mod tests {
    use super::*;
    use secrecy::ExposeSecret as _;

    #[test]
    fn the_sample_config_parses() {
        let settings = Settings::from_toml(EXAMPLE_CONFIG).expect("sample config parses");
        assert_eq!(settings.listen, default_listen());
        assert_eq!(settings.longpoll, LongPollSettings::default());
        assert_eq!(settings.ingest, IngestSettings::default());
        assert_eq!(settings.clock, ClockSettings::default());
        assert_eq!(settings.leases, LeaseSettings::default());
    }

    #[test]
    fn defaults_fill_everything_but_the_admin_token() {
        let settings = Settings::from_toml(r#"admin_token = "s3cret""#).unwrap();
        assert_eq!(settings.admin_token.expose_secret(), "s3cret");
        assert_eq!(settings.longpoll.max_wait_secs, 30);
        assert_eq!(settings.tokens.customer_token_ttl_secs, 300);
        assert_eq!(settings.ingest.max_concurrent_batches, 8);
        assert_eq!(settings.ingest.retry_after_secs, 2);
        assert_eq!(settings.clock.max_drift_secs, 300);
        assert!(matches!(
            Settings::from_toml("listen = \"127.0.0.1:1\""),
            Err(ConfigError::Invalid(_))
        ));
        assert!(matches!(
            Settings::from_toml("admin_token = \"  \""),
            Err(ConfigError::Unusable(_))
        ));
        assert!(matches!(
            Settings::from_toml("admin_token = \"s\"\n[ingest]\nmax_concurrent_batches = 0"),
            Err(ConfigError::Unusable(_))
        ));
    }

    #[test]
    fn the_customer_page_interval_is_at_most_a_minute() {
        let taken = Settings::from_toml(
            "admin_token = \"s\"\n[longpoll]\ncustomer_page_interval_ms = 60000",
        )
        .unwrap();
        assert_eq!(
            taken.longpoll.customer_page_interval(),
            std::time::Duration::from_secs(60)
        );
        match Settings::from_toml(
            "admin_token = \"s\"\n[longpoll]\ncustomer_page_interval_ms = 9223372036854775807",
        ) {
            Err(ConfigError::Unusable(why)) => {
                assert!(why.contains("customer_page_interval_ms"), "{why}");
            }
            other => panic!("an interval past a minute is refused, not {other:?}"),
        }
    }

    #[test]
    fn tls_takes_a_certificate_and_a_key_together() {
        let both = Settings::from_toml(
            "admin_token = \"s\"\n[tls]\ncert_path = \"/c.pem\"\nkey_path = \"/k.pem\"",
        )
        .unwrap();
        assert_eq!(both.tls.cert_path.as_deref(), Some(Path::new("/c.pem")));
        assert_eq!(both.tls.key_path.as_deref(), Some(Path::new("/k.pem")));
        assert!(matches!(
            Settings::from_toml("admin_token = \"s\"\n[tls]\ncert_path = \"/c.pem\""),
            Err(ConfigError::Unusable(_))
        ));
        assert!(matches!(
            crate::tls::acceptor(&both.tls),
            Err(crate::tls::TlsError::File { .. })
        ));
        assert!(
            crate::tls::acceptor(&TlsSettings::default())
                .unwrap()
                .is_none()
        );
    }

    #[test]
    fn debug_output_redacts_the_admin_token() {
        let settings = Settings::from_toml(r#"admin_token = "s3cret""#).unwrap();
        assert!(!format!("{settings:?}").contains("s3cret"));
    }

    #[test]
    fn the_command_line_overrides_the_file_in_the_data_dir() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join(DATA_DIR_CONFIG),
            "admin_token = \"from-file\"\n[longpoll]\nmax_wait_secs = 5\n",
        )
        .unwrap();
        let cli = CliOverrides {
            data_dir: Some(dir.path().to_owned()),
            admin_token: Some("from-cli".into()),
            ..CliOverrides::default()
        };
        let settings = Settings::load(None, &cli).unwrap();
        assert_eq!(settings.admin_token.expose_secret(), "from-cli");
        assert_eq!(settings.longpoll.max_wait_secs, 5);
        assert_eq!(settings.data_dir, dir.path());

        let missing = dir.path().join("nope.toml");
        assert!(matches!(
            Settings::load(Some(&missing), &cli),
            Err(ConfigError::MissingFile(_))
        ));
    }
}
