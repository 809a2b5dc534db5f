//! The server's Ed25519 signing key: generated on first start into
//! `<data_dir>/server-signing.pk8` (mode 0600) and reloaded afterwards. It
//! signs ruleset releases and customer tokens; registers pin its public half
//! at enrollment, so losing it means re-enrolling every register.

use std::fs::{self, OpenOptions};
use std::io::{self, Write as _};
use std::path::{Path, PathBuf};

use shared::crypto::{CryptoError, SigningKey, generate_pkcs8};

/// The key file's name inside the data directory.
pub const KEY_FILE: &str = "server-signing.pk8";

/// Why the key could not be loaded or created.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    /// Reading or writing the key file failed.
    #[error("key file {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: io::Error,
    },
    /// The file is not an Ed25519 key, or the random source failed.
    #[error("key file {path}: {source}")]
    Crypto {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: CryptoError,
    },
}

/// Loads the key from `data_dir`, generating it on first start.
///
/// A new key is written to a temporary file, synced, then hard-linked into
/// place, so a crash never leaves a half-written key and two concurrent
/// first starts agree on one key.
pub fn load_or_generate(data_dir: &Path) -> Result<SigningKey, KeyError> {
    let path = data_dir.join(KEY_FILE);
    let io_err = |source| KeyError::Io {
        path: path.clone(),
        source,
    };
    if !path.exists() {
        let document = generate_pkcs8(&ring::rand::SystemRandom::new()).map_err(|source| {
            KeyError::Crypto {
                path: path.clone(),
                source,
            }
        })?;
        let staging = data_dir.join(format!("{KEY_FILE}.{}.tmp", std::process::id()));
        write_private(&staging, &document).map_err(io_err)?;
        let linked = fs::hard_link(&staging, &path);
        fs::remove_file(&staging).map_err(io_err)?;
        match linked {
            Ok(()) => tracing::info!(path = %path.display(), "generated the server signing key"),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
            Err(e) => return Err(io_err(e)),
        }
    }
    warn_if_readable_by_others(&path);
    let document = fs::read(&path).map_err(io_err)?;
    SigningKey::from_pkcs8(&document).map_err(|source| KeyError::Crypto { path, source })
}

/// Creates `dir` and its missing parents with mode 0700, whatever the
/// umask; a directory that exists already is left as it is.
pub fn create_private_dir(dir: &Path) -> io::Result<()> {
    if dir.is_dir() {
        return Ok(());
    }
    let mut builder = fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::{DirBuilderExt as _, PermissionsExt as _};
        builder.mode(0o700).create(dir)?;
        fs::set_permissions(dir, fs::Permissions::from_mode(0o700))
    }
    #[cfg(not(unix))]
    builder.create(dir)
}

/// Makes `path` readable and writable by its owner only, whatever the
/// umask: created empty with mode 0600 if missing (so SQLite opens a file
/// it did not create with its own mode), else set to 0600.
pub fn ensure_private_file(path: &Path) -> io::Result<()> {
    let mut options = OpenOptions::new();
    options.write(true).create(true).truncate(false);
    #[cfg(unix)]
    {
        use std::os::unix::fs::{OpenOptionsExt as _, PermissionsExt as _};
        options.mode(0o600);
        let file = options.open(path)?;
        file.set_permissions(fs::Permissions::from_mode(0o600))
    }
    #[cfg(not(unix))]
    options.open(path).map(drop)
}

fn write_private(path: &Path, contents: &[u8]) -> io::Result<()> {
    let mut options = OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        options.mode(0o600);
    }
    let mut file = options.open(path)?;
    file.write_all(contents)?;
    file.sync_all()
}

fn warn_if_readable_by_others(path: &Path) {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        if let Ok(meta) = fs::metadata(path)
            && meta.permissions().mode() & 0o077 != 0
        {
            tracing::warn!(path = %path.display(), "the signing key is readable by group or others; chmod 600 it");
        }
    }
    #[cfg(not(unix))]
    let _ = path;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_key_is_generated_once_then_reloaded() {
        let dir = tempfile::tempdir().unwrap();
        let first = load_or_generate(dir.path()).unwrap();
        let second = load_or_generate(dir.path()).unwrap();
        assert_eq!(first.public_key(), second.public_key());
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            let mode = fs::metadata(dir.path().join(KEY_FILE))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
    }

    #[test]
    fn a_damaged_key_file_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        fs::write(dir.path().join(KEY_FILE), b"not a key").unwrap();
        assert!(matches!(
            load_or_generate(dir.path()),
            Err(KeyError::Crypto { .. })
        ));
    }
}
