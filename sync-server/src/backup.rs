//! `sync-server backup` and `restore`: a consistent copy of what a server
//! keeps, taken while it runs, and the way back.
//!
//! A backup is a directory holding the SQLite database (copied with
//! SQLite's online backup, so the server need not stop) and the signing key
//! (without which every register would have to enroll again). A server on
//! PostgreSQL keeps its data in the database server: the backup then holds
//! the key alone and says how to dump the database with `pg_dump`.
//!
//! Restoring copies both back into an empty data directory of a stopped
//! server; it refuses to overwrite a database.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use crate::db::{DbError, backup_file};
use crate::keys::KEY_FILE;
use crate::state::DATABASE_FILE;

/// Why a backup or a restore did not happen.
#[derive(Debug, thiserror::Error)]
pub enum BackupError {
    /// The target exists and is not an empty directory.
    #[error("{0} exists and is not empty; back up into a new directory")]
    TargetNotEmpty(PathBuf),
    /// The data directory has no database or key to copy.
    #[error("{0} does not exist; is this the server's data directory?")]
    Missing(PathBuf),
    /// Restoring would overwrite a database.
    #[error("{0} already holds a database; restore into an empty data directory")]
    WouldOverwrite(PathBuf),
    /// Reading or writing a file failed.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: io::Error,
    },
    /// SQLite's backup failed.
    #[error("copying the database: {0}")]
    Database(#[from] DbError),
}

/// What a backup holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BackupReport {
    /// The directory written.
    pub dir: PathBuf,
    /// The database copy, unless the data lives in PostgreSQL.
    pub database: Option<PathBuf>,
    /// The signing key copy.
    pub key: PathBuf,
}

fn io_error(path: &Path) -> impl FnOnce(io::Error) -> BackupError + '_ {
    move |source| BackupError::Io {
        path: path.to_owned(),
        source,
    }
}

/// Creates `dir` for private files: 0700 on Unix, whatever the umask.
fn private_dir(dir: &Path) -> Result<(), BackupError> {
    match fs::read_dir(dir).map(|mut entries| entries.next().is_some()) {
        Ok(true) => return Err(BackupError::TargetNotEmpty(dir.to_owned())),
        Ok(false) => {}
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            fs::create_dir_all(dir).map_err(io_error(dir))?;
        }
        Err(e) => return Err(io_error(dir)(e)),
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        fs::set_permissions(dir, fs::Permissions::from_mode(0o700)).map_err(io_error(dir))?;
    }
    Ok(())
}

/// Copies a private file (the key) keeping it 0600.
fn copy_private(from: &Path, to: &Path) -> Result<(), BackupError> {
    if !from.is_file() {
        return Err(BackupError::Missing(from.to_owned()));
    }
    fs::copy(from, to).map_err(io_error(to))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        fs::set_permissions(to, fs::Permissions::from_mode(0o600)).map_err(io_error(to))?;
    }
    Ok(())
}

/// Backs up `data_dir` into the new or empty directory `out`: the signing
/// key and, when `with_database`, the SQLite database, consistent even
/// while the server runs. `progress` hears (pages copied, pages in all).
pub fn backup(
    data_dir: &Path,
    out: &Path,
    with_database: bool,
    progress: impl FnMut(u64, u64),
) -> Result<BackupReport, BackupError> {
    let source = data_dir.join(DATABASE_FILE);
    if with_database && !source.is_file() {
        return Err(BackupError::Missing(source));
    }
    private_dir(out)?;
    let key = out.join(KEY_FILE);
    copy_private(&data_dir.join(KEY_FILE), &key)?;
    let database = if with_database {
        let copy = out.join(DATABASE_FILE);
        backup_file(&source, &copy, progress)?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            fs::set_permissions(&copy, fs::Permissions::from_mode(0o600))
                .map_err(io_error(&copy))?;
        }
        Some(copy)
    } else {
        None
    };
    tracing::info!(dir = %out.display(), "backed up the server");
    Ok(BackupReport {
        dir: out.to_owned(),
        database,
        key,
    })
}

/// Restores the backup in `from` into `data_dir`, which must hold no
/// database (the server is stopped and the directory new or emptied).
pub fn restore(from: &Path, data_dir: &Path) -> Result<(), BackupError> {
    let database = data_dir.join(DATABASE_FILE);
    if database.exists() {
        return Err(BackupError::WouldOverwrite(database));
    }
    fs::create_dir_all(data_dir).map_err(io_error(data_dir))?;
    let key = data_dir.join(KEY_FILE);
    if !key.exists() {
        copy_private(&from.join(KEY_FILE), &key)?;
    }
    let saved = from.join(DATABASE_FILE);
    if saved.is_file() {
        copy_private(&saved, &database)?;
    }
    tracing::info!(from = %from.display(), to = %data_dir.display(), "restored a backup");
    Ok(())
}

/// What to run to back up a PostgreSQL database (the data of a server on
/// PostgreSQL is not in its data directory).
#[must_use]
pub fn pg_dump_guidance() -> &'static str {
    "the data is in PostgreSQL: back it up with `pg_dump --format=custom --file=loyalty.dump \
     \"$DATABASE_URL\"` (and restore with `pg_restore --dbname=\"$DATABASE_URL\" loyalty.dump`); \
     the signing key was copied here"
}
