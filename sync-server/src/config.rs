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
    /// Where the data lives: embedded SQLite in `data_dir` unless a
    /// PostgreSQL URL is given.
    #[serde(default)]
    pub database: DatabaseSettings,
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
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct WebSettings {
    /// HQ sign-in attempts per minute (also the burst).
    pub sign_in_attempts_per_minute: u32,
    /// Customer sign-ups per hour (also the burst).
    pub sign_ups_per_hour: u32,
}

impl Default for WebSettings {
    fn default() -> Self {
        WebSettings {
            sign_in_attempts_per_minute: 10,
            sign_ups_per_hour: 30,
        }
    }
}

/// How long a long-poll may be held.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LongPollSettings {
    /// The longest a request is held, whatever `wait` it asks for.
    pub max_wait_secs: u64,
}

impl Default for LongPollSettings {
    fn default() -> Self {
        LongPollSettings { max_wait_secs: 30 }
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
}

impl Default for IngestSettings {
    fn default() -> Self {
        IngestSettings {
            max_batch_records: shared::wire::sync::MAX_BATCH_RECORDS,
            max_batch_bytes: shared::wire::sync::MAX_BATCH_BYTES,
            max_concurrent_batches: 8,
            retry_after_secs: 2,
            rollups: true,
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
