//! The server's keyring: the Ed25519 signing key in
//! `<data_dir>/server-signing.pk8` (mode 0600), which signs ruleset
//! releases and customer tokens, and the chain of endorsements in the
//! database (`server_keys`) that lets registers follow it to a new key.
//!
//! - A fresh install generates its first key and stores its public half as
//!   chain row 0. Once a register is enrolled (it pinned the key) or the
//!   chain has rows, a missing key file is an error naming the two ways
//!   out ([`KeyError::Missing`]): restore it from a backup, or
//!   `sync-server keys rotate --recovery-key FILE`. A key file that is not
//!   the chain's current key (an old backup) is refused too.
//! - `keys recovery-init` makes the recovery key: its private half goes to
//!   a file the operator keeps offline, its public half into the chain,
//!   endorsed by the current signing key (registers enrolled earlier learn
//!   it so); the enrollment reply carries it.
//! - `keys rotate` makes a new signing key, endorsed by the recovery key
//!   (the signing key was lost) or by the current key (a planned
//!   rotation), optionally revoking the old one, and retires the old file.
//!
//! Registers fetch the chain (`GET /api/v1/keys`) and verify every link
//! with [`shared::keys::TrustedKeys`]. Rotate with every server instance
//! stopped, then copy the new key file to each.

use std::fs::{self, OpenOptions};
use std::io::{self, Write as _};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use chrono::{DateTime, Utc};
use shared::crypto::{CryptoError, PublicKey, SigningKey, generate_pkcs8};
use shared::keys::{Endorsement, KeyChain, KeyChange, SignedBy};

use crate::db::{DbError, KeyRow, Repository};

/// The key file's name inside the data directory.
pub const KEY_FILE: &str = "server-signing.pk8";

/// Why the keyring could not be loaded, created or changed.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    /// Reading or writing a key file failed.
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
    /// The key file is gone but registers pinned its key: a new one would
    /// be refused by every till.
    #[error(
        "the signing key {path} is missing, but registers are enrolled under it (key id {key_id}); \
         the server will not make a new one that no till trusts. Either restore {file} from a \
         backup (sync-server restore), or make a new key the tills will follow with \
         `sync-server keys rotate --recovery-key FILE` (FILE: the recovery key kept offline)"
    )]
    Missing {
        /// The file.
        path: PathBuf,
        /// The file's name.
        file: &'static str,
        /// The id of the key the chain says is current (`-` if unknown).
        key_id: String,
    },
    /// The key file holds another key than the chain's current one (an old
    /// backup restored after a rotation, or a key from elsewhere).
    #[error(
        "the signing key {path} (key id {file_key_id}) is not the current key of the key chain \
         (key id {current_key_id}); restore the current key file, or see `sync-server keys list`"
    )]
    NotCurrent {
        /// The file.
        path: PathBuf,
        /// The file's key id.
        file_key_id: u8,
        /// The chain's current key id.
        current_key_id: u8,
    },
    /// The recovery key file is not the recovery key of the chain.
    #[error("{path} is not this server's recovery key: {reason}")]
    WrongRecoveryKey {
        /// The file.
        path: PathBuf,
        /// Why.
        reason: &'static str,
    },
    /// A recovery key exists already.
    #[error(
        "this server has a recovery key already (key id {key_id}); registers pinned it, so it \
         is not replaced"
    )]
    RecoveryExists {
        /// Its key id.
        key_id: u8,
    },
    /// A file would be overwritten.
    #[error("{0} exists already: choose another file")]
    WouldOverwrite(PathBuf),
    /// The server has never started on this database: there is no key to
    /// rotate from.
    #[error("the key chain is empty: start the server once to make its first key")]
    EmptyChain,
    /// A stored chain row does not parse.
    #[error("key chain row {seq}: {reason}")]
    BadRow {
        /// The row.
        seq: i64,
        /// Why.
        reason: String,
    },
    /// The database failed.
    #[error("key chain: {0}")]
    Storage(#[from] DbError),
}

/// The server's signing key and the chain registers follow to it.
#[derive(Debug)]
pub struct Keyring {
    /// The key that signs now.
    pub signing: SigningKey,
    /// The chain, whose current key is `signing`'s public half.
    pub chain: KeyChain,
}

/// Loads the keyring at server start: the key file in `data_dir` and the
/// chain in `db`. A fresh install (no register enrolled, no chain)
/// generates its first key; afterwards a missing key file or one that is
/// not the chain's current key is an error that says what to do.
pub async fn open(
    data_dir: &Path,
    db: &Arc<dyn Repository>,
    now: DateTime<Utc>,
) -> Result<Keyring, KeyError> {
    let (rows, enrolled) = db
        .read(|tx| Ok((tx.key_rows()?, tx.any_register_enrolled()?)))
        .await?;
    let path = data_dir.join(KEY_FILE);
    let chain = chain_from_rows(&rows)?;
    if !path.exists() && (enrolled || chain.is_some()) {
        return Err(KeyError::Missing {
            path,
            file: KEY_FILE,
            key_id: chain
                .as_ref()
                .map_or_else(|| "-".to_owned(), |c| c.current.key_id().to_string()),
        });
    }
    let signing = load_or_generate(data_dir)?;
    let chain = match chain {
        Some(chain) => chain,
        None => {
            let first = KeyRow {
                seq: 0,
                kind: "first".into(),
                public_key: signing.public_key().to_base64(),
                endorsement: None,
                created_at: now,
            };
            match db.write(move |tx| tx.insert_key_row(&first)).await {
                // Another instance stored its first key at the same time.
                Ok(()) | Err(DbError::Conflict(_)) => {}
                Err(e) => return Err(e.into()),
            }
            let rows = db.read(|tx| tx.key_rows()).await?;
            chain_from_rows(&rows)?.ok_or(KeyError::EmptyChain)?
        }
    };
    if signing.public_key() != chain.current {
        return Err(KeyError::NotCurrent {
            path,
            file_key_id: signing.public_key().key_id(),
            current_key_id: chain.current.key_id(),
        });
    }
    Ok(Keyring { signing, chain })
}

/// The chain the rows describe; `None` when there are none.
fn chain_from_rows(rows: &[KeyRow]) -> Result<Option<KeyChain>, KeyError> {
    let Some(first) = rows.first() else {
        return Ok(None);
    };
    let bad = |seq: i64, reason: String| KeyError::BadRow { seq, reason };
    let key = |row: &KeyRow| {
        PublicKey::from_base64(&row.public_key).map_err(|e| bad(row.seq, e.to_string()))
    };
    let mut chain = KeyChain {
        current: key(first)?,
        recovery_key: None,
        endorsements: Vec::new(),
    };
    for row in &rows[1..] {
        let text = row
            .endorsement
            .as_deref()
            .ok_or_else(|| bad(row.seq, "no endorsement".into()))?;
        let endorsement: Endorsement =
            serde_json::from_str(text).map_err(|e| bad(row.seq, e.to_string()))?;
        if i64::try_from(endorsement.seq.0).ok() != Some(row.seq) {
            return Err(bad(
                row.seq,
                "the endorsement names another position".into(),
            ));
        }
        match endorsement.change {
            KeyChange::Rotate { new_key, .. } => chain.current = new_key,
            KeyChange::Recovery { recovery_key, .. } => chain.recovery_key = Some(recovery_key),
        }
        chain.endorsements.push(endorsement);
    }
    Ok(Some(chain))
}

async fn stored_chain(db: &Arc<dyn Repository>) -> Result<KeyChain, KeyError> {
    let rows = db.read(|tx| tx.key_rows()).await?;
    chain_from_rows(&rows)?.ok_or(KeyError::EmptyChain)
}

async fn append(
    db: &Arc<dyn Repository>,
    endorsement: &Endorsement,
    kind: &str,
    public_key: PublicKey,
    now: DateTime<Utc>,
) -> Result<(), KeyError> {
    let row = KeyRow {
        seq: i64::try_from(endorsement.seq.0).map_err(|_| KeyError::BadRow {
            seq: i64::MAX,
            reason: "the chain is full".into(),
        })?,
        kind: kind.to_owned(),
        public_key: public_key.to_base64(),
        endorsement: Some(
            serde_json::to_string(endorsement).map_err(|e| KeyError::BadRow {
                seq: i64::MAX,
                reason: e.to_string(),
            })?,
        ),
        created_at: now,
    };
    db.write(move |tx| tx.insert_key_row(&row)).await?;
    Ok(())
}

fn load_key_file(path: &Path) -> Result<SigningKey, KeyError> {
    let document = fs::read(path).map_err(|source| KeyError::Io {
        path: path.to_owned(),
        source,
    })?;
    SigningKey::from_pkcs8(&document).map_err(|source| KeyError::Crypto {
        path: path.to_owned(),
        source,
    })
}

fn new_key_document(path: &Path) -> Result<Vec<u8>, KeyError> {
    generate_pkcs8(&ring::rand::SystemRandom::new()).map_err(|source| KeyError::Crypto {
        path: path.to_owned(),
        source,
    })
}

/// `sync-server keys recovery-init --out FILE`: makes the recovery key,
/// writes its private half to `out` (mode 0600; an existing file is never
/// overwritten) and appends its public half to the chain, endorsed by the
/// current signing key. Returns the public half.
pub async fn recovery_init(
    data_dir: &Path,
    db: &Arc<dyn Repository>,
    out: &Path,
    now: DateTime<Utc>,
) -> Result<PublicKey, KeyError> {
    let chain = stored_chain(db).await?;
    if let Some(existing) = chain.recovery_key {
        return Err(KeyError::RecoveryExists {
            key_id: existing.key_id(),
        });
    }
    let signing = current_key_file(data_dir, &chain)?;
    if out.exists() {
        return Err(KeyError::WouldOverwrite(out.to_owned()));
    }
    let document = new_key_document(out)?;
    let recovery = SigningKey::from_pkcs8(&document).map_err(|source| KeyError::Crypto {
        path: out.to_owned(),
        source,
    })?;
    write_private(out, &document).map_err(|source| KeyError::Io {
        path: out.to_owned(),
        source,
    })?;
    let endorsement = Endorsement::sign(
        chain.seq().next(),
        KeyChange::Recovery {
            recovery_key: recovery.public_key(),
            by: signing.public_key(),
        },
        SignedBy::SigningKey,
        &signing,
    );
    append(db, &endorsement, "recovery", recovery.public_key(), now).await?;
    tracing::info!(
        key_id = recovery.public_key().key_id(),
        "made the recovery key"
    );
    Ok(recovery.public_key())
}

/// The key file, which must hold the chain's current key.
fn current_key_file(data_dir: &Path, chain: &KeyChain) -> Result<SigningKey, KeyError> {
    let path = data_dir.join(KEY_FILE);
    if !path.exists() {
        return Err(KeyError::Missing {
            path,
            file: KEY_FILE,
            key_id: chain.current.key_id().to_string(),
        });
    }
    let key = load_key_file(&path)?;
    if key.public_key() != chain.current {
        return Err(KeyError::NotCurrent {
            path,
            file_key_id: key.public_key().key_id(),
            current_key_id: chain.current.key_id(),
        });
    }
    Ok(key)
}

/// What a rotation did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rotation {
    /// The endorsement stored.
    pub endorsement: Endorsement,
    /// The key replaced.
    pub old_key: PublicKey,
    /// The new signing key.
    pub new_key: PublicKey,
    /// Where the old key file went, if there was one.
    pub retired_file: Option<PathBuf>,
}

/// `sync-server keys rotate`: makes a new signing key endorsed by the
/// recovery key in `recovery_key` (the signing key was lost) or, without
/// it, by the current key file (a planned rotation); with `revoke_old` the
/// old key stops verifying at the registers. The new key is staged, the
/// endorsement stored, the old file renamed to
/// `server-signing.retired-<seq>.pk8`, and the new one moved into place.
/// Run it with the server stopped.
pub async fn rotate(
    data_dir: &Path,
    db: &Arc<dyn Repository>,
    recovery_key: Option<&Path>,
    revoke_old: bool,
    now: DateTime<Utc>,
) -> Result<Rotation, KeyError> {
    let chain = stored_chain(db).await?;
    let old_key = chain.current;
    let path = data_dir.join(KEY_FILE);
    let (signer, signed_by) = match recovery_key {
        Some(file) => {
            let recovery = load_key_file(file)?;
            match chain.recovery_key {
                None => {
                    return Err(KeyError::WrongRecoveryKey {
                        path: file.to_owned(),
                        reason: "the server has no recovery key (run `keys recovery-init` while \
                                 the signing key is at hand)",
                    });
                }
                Some(known) if known != recovery.public_key() => {
                    return Err(KeyError::WrongRecoveryKey {
                        path: file.to_owned(),
                        reason: "it is another key than the one registers pinned",
                    });
                }
                Some(_) => {}
            }
            (recovery, SignedBy::Recovery)
        }
        None => (current_key_file(data_dir, &chain)?, SignedBy::SigningKey),
    };
    let staging = data_dir.join(format!("{KEY_FILE}.{}.new", std::process::id()));
    let document = new_key_document(&staging)?;
    let new = SigningKey::from_pkcs8(&document).map_err(|source| KeyError::Crypto {
        path: staging.clone(),
        source,
    })?;
    let io_err = |path: &Path| {
        let path = path.to_owned();
        move |source| KeyError::Io { path, source }
    };
    write_private(&staging, &document).map_err(io_err(&staging))?;
    let endorsement = Endorsement::sign(
        chain.seq().next(),
        KeyChange::Rotate {
            new_key: new.public_key(),
            replaces: old_key,
            revoke: revoke_old,
        },
        signed_by,
        &signer,
    );
    if let Err(e) = append(db, &endorsement, "rotate", new.public_key(), now).await {
        let _ = fs::remove_file(&staging);
        return Err(e);
    }
    let retired_file = if path.exists() {
        let retired = data_dir.join(format!("server-signing.retired-{}.pk8", endorsement.seq));
        fs::rename(&path, &retired).map_err(io_err(&path))?;
        Some(retired)
    } else {
        None
    };
    fs::rename(&staging, &path).map_err(io_err(&path))?;
    tracing::info!(
        seq = %endorsement.seq,
        old_key_id = old_key.key_id(),
        new_key_id = new.public_key().key_id(),
        revoked = revoke_old,
        "rotated the signing key"
    );
    Ok(Rotation {
        endorsement,
        old_key,
        new_key: new.public_key(),
        retired_file,
    })
}

/// `sync-server keys list`: the chain as stored.
pub async fn chain(db: &Arc<dyn Repository>) -> Result<KeyChain, KeyError> {
    stored_chain(db).await
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
