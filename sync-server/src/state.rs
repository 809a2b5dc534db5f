//! What every handler shares: settings, storage, the signing key, the clock,
//! the long-poll notifier and the admission of uploads. Everything durable is in the data directory,
//! so a server restarted on it carries on where it stopped.

use std::sync::Arc;

use shared::crypto::SigningKey;

use crate::admission::IngestAdmission;
use crate::clock::Clock;
use crate::config::Settings;
use crate::db::{Database, DbError, SqliteDatabase};
use crate::keys::{self, KeyError};
use crate::notify::Notifier;

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

/// Shared state of the HTTP handlers; cheap to clone.
#[derive(Clone)]
pub struct AppState {
    pub(crate) settings: Arc<Settings>,
    pub(crate) db: Arc<dyn Database>,
    pub(crate) signing_key: Arc<SigningKey>,
    pub(crate) clock: Arc<dyn Clock>,
    pub(crate) notifier: Arc<Notifier>,
    pub(crate) ingest_admission: Arc<IngestAdmission>,
    pub(crate) throttle: Arc<crate::web::throttle::Throttle>,
}

impl AppState {
    /// State over explicit parts.
    pub fn new(
        settings: Settings,
        db: Arc<dyn Database>,
        signing_key: SigningKey,
        clock: Arc<dyn Clock>,
    ) -> Self {
        AppState {
            ingest_admission: Arc::new(IngestAdmission::new(&settings.ingest)),
            throttle: Arc::new(crate::web::throttle::Throttle::new(&settings.web)),
            settings: Arc::new(settings),
            db,
            signing_key: Arc::new(signing_key),
            clock,
            notifier: Arc::new(Notifier::default()),
        }
    }

    /// Opens the data directory of `settings`: creates it if needed (mode
    /// 0700), loads or generates the signing key, opens and migrates the
    /// SQLite database. The database and its `-wal` and `-shm` files are
    /// made mode 0600 before SQLite opens them, whatever the umask: they
    /// hold customers' names and phones.
    pub async fn open(settings: Settings, clock: Arc<dyn Clock>) -> Result<Self, OpenError> {
        let dir = settings.data_dir.clone();
        let data_dir_err = |path: &std::path::Path| {
            let path = path.to_path_buf();
            move |source| OpenError::DataDir { path, source }
        };
        keys::create_private_dir(&dir).map_err(data_dir_err(&dir))?;
        let key = keys::load_or_generate(&dir)?;
        let db_path = dir.join(DATABASE_FILE);
        for suffix in ["", "-wal", "-shm"] {
            let mut name = db_path.clone().into_os_string();
            name.push(suffix);
            let path = std::path::PathBuf::from(name);
            keys::ensure_private_file(&path).map_err(data_dir_err(&path))?;
        }
        let db = SqliteDatabase::open(&db_path).await?;
        Ok(Self::new(settings, Arc::new(db), key, clock))
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
