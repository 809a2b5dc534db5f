//! What every handler shares: settings, storage, the signing key, the clock,
//! the long-poll notifier and the admission of uploads. Everything durable is in the data directory,
//! so a server restarted on it carries on where it stopped.

use std::sync::Arc;

use shared::crypto::SigningKey;
use shared::keys::KeyChain;

use crate::admission::IngestAdmission;
use crate::clock::Clock;
use crate::config::Settings;
use crate::db::{DbError, PostgresRepository, Repository, SqliteRepository};
use crate::keys::{self, KeyError};
use crate::notify::Notifier;
use crate::services::Services;

/// The database file's name inside the data directory.
pub const DATABASE_FILE: &str = "sync-server.db";

/// Why the server could not open its data directory.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    /// The data directory could not be created.
    #[error("data directory {path}: {source}")]
    DataDir {
        /// The directory.
        path: std::path::PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// The signing key could not be loaded or created.
    #[error(transparent)]
    Key(#[from] KeyError),
    /// The database could not be opened or migrated.
    #[error("database: {0}")]
    Database(#[from] DbError),
}

/// Creates the data directory of `settings` if needed (mode 0700) and
/// opens and migrates the database: PostgreSQL at `database.url` when it
/// is set, else SQLite in the data directory, whose file and its `-wal`
/// and `-shm` files are made mode 0600 before SQLite opens them, whatever
/// the umask: they hold customers' names and phones.
pub async fn open_repository(settings: &Settings) -> Result<Arc<dyn Repository>, OpenError> {
    let dir = settings.data_dir.clone();
    let data_dir_err = |path: &std::path::Path| {
        let path = path.to_path_buf();
        move |source| OpenError::DataDir { path, source }
    };
    keys::create_private_dir(&dir).map_err(data_dir_err(&dir))?;
    Ok(match &settings.database.url {
        Some(url) => {
            use secrecy::ExposeSecret as _;
            Arc::new(PostgresRepository::connect(url.expose_secret()).await?)
        }
        None => {
            let db_path = dir.join(DATABASE_FILE);
            for suffix in ["", "-wal", "-shm"] {
                let mut name = db_path.clone().into_os_string();
                name.push(suffix);
                let path = std::path::PathBuf::from(name);
                keys::ensure_private_file(&path).map_err(data_dir_err(&path))?;
            }
            Arc::new(SqliteRepository::open(&db_path).await?)
        }
    })
}

/// Shared state of the HTTP handlers: one `Arc`, so the clone axum makes
/// for each extractor and layer of every request is one reference count,
/// not one for each of the services' parts.
#[derive(Clone)]
pub struct AppState(Arc<StateParts>);

impl std::ops::Deref for AppState {
    type Target = StateParts;

    fn deref(&self) -> &StateParts {
        &self.0
    }
}

/// What [`AppState`] holds.
#[derive(Clone)]
pub struct StateParts {
    pub(crate) settings: Arc<Settings>,
    pub(crate) db: Arc<dyn Repository>,
    pub(crate) services: Services,
    pub(crate) signing_key: Arc<SigningKey>,
    /// The endorsement chain registers follow to `signing_key`.
    pub(crate) key_chain: Arc<KeyChain>,
    pub(crate) clock: Arc<dyn Clock>,
    pub(crate) notifier: Arc<Notifier>,
    pub(crate) ingest_admission: Arc<IngestAdmission>,
    pub(crate) throttle: Arc<crate::web::throttle::Throttle>,
    pub(crate) metrics: Arc<crate::metrics::Metrics>,
    pub(crate) messaging: crate::services::messaging::Messaging,
}

impl AppState {
    /// State over explicit parts.
    pub fn new(
        settings: Settings,
        db: Arc<dyn Repository>,
        signing_key: SigningKey,
        clock: Arc<dyn Clock>,
    ) -> Self {
        let key_chain = Arc::new(KeyChain {
            current: signing_key.public_key(),
            recovery_key: None,
            endorsements: Vec::new(),
        });
        let signing_key = Arc::new(signing_key);
        let notifier = Arc::new(Notifier::default());
        let base_url = settings
            .public_url
            .clone()
            .unwrap_or_else(|| format!("http://{}", settings.listen));
        let messaging = crate::services::messaging::Messaging::new(
            db.clone(),
            clock.clone(),
            settings.notify.clone(),
            base_url,
        )
        .unwrap_or_else(|e| {
            // `Settings::check` builds the same channels, so only settings
            // made by hand get here.
            tracing::error!(error = %e, "messages to customers are off");
            crate::services::messaging::Messaging::without_channels(db.clone(), clock.clone())
        });
        let rollups = settings.ingest.rollups;
        AppState(Arc::new(StateParts {
            messaging,
            ingest_admission: Arc::new(IngestAdmission::new(&settings.ingest)),
            throttle: Arc::new(crate::web::throttle::Throttle::new(&settings.web)),
            metrics: Arc::default(),
            services: Services::new(&db, &clock, &signing_key, &notifier)
                .with_leases(crate::services::Leases::new(
                    db.clone(),
                    clock.clone(),
                    settings.leases,
                ))
                .with_rollups(rollups),
            settings: Arc::new(settings),
            db,
            signing_key,
            key_chain,
            clock,
            notifier,
        }))
    }

    /// The same state with the key chain `chain` (whose current key must
    /// be the signing key).
    #[must_use]
    pub fn with_key_chain(mut self, chain: KeyChain) -> Self {
        Arc::make_mut(&mut self.0).key_chain = Arc::new(chain);
        self
    }

    /// Opens the data directory of `settings` ([`open_repository`]) and
    /// loads the keyring ([`keys::open`]): a fresh install generates its
    /// first key, a lost one stops the start with what to do.
    pub async fn open(settings: Settings, clock: Arc<dyn Clock>) -> Result<Self, OpenError> {
        let db = open_repository(&settings).await?;
        let keyring = keys::open(&settings.data_dir, &db, clock.now()).await?;
        crate::services::analytics::backfill(&db).await?;
        Ok(Self::new(settings, db, keyring.signing, clock).with_key_chain(keyring.chain))
    }

    /// The task that rewards referrals as they come due (see
    /// [`crate::services::referrals`]), until `stop` turns true. `serve`
    /// runs it; a server built by hand (tests with their own clock) spawns
    /// it itself.
    pub fn referral_rewards(
        &self,
        stop: tokio::sync::watch::Receiver<bool>,
    ) -> impl std::future::Future<Output = ()> + Send + 'static {
        crate::services::referrals::run(
            self.services.referrals.clone(),
            self.clock.clone(),
            self.notifier.clone(),
            stop,
        )
    }

    /// The task that publishes scheduled drafts as their time comes (see
    /// [`crate::services::drafts`]), until `stop` turns true. `serve` runs
    /// it; a server built by hand (tests with their own clock) spawns it
    /// itself.
    pub fn scheduled_publishing(
        &self,
        stop: tokio::sync::watch::Receiver<bool>,
    ) -> impl std::future::Future<Output = ()> + Send + 'static {
        crate::services::drafts::run(self.services.drafts.clone(), stop)
    }

    /// Ends every long-poll: the server is stopping.
    pub fn begin_shutdown(&self) {
        self.notifier.close();
    }
}

impl std::fmt::Debug for AppState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppState")
            .field("settings", &self.settings)
            .field("server_key", &self.signing_key)
            .finish_non_exhaustive()
    }
}
