//! The till's bearer token for the local API: 32 random bytes, base64url,
//! in `<data_dir>/api-token` with mode 0600. `enroll` makes it, and `run`
//! makes it if an older enrollment lacks it. With `api.require_token`, the
//! till's software sends `Authorization: Bearer <token>` on every call.

use std::fs::{self, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::Path;

use base64::Engine;
use ring::rand::{SecureRandom, SystemRandom};
use secrecy::SecretString;

use crate::config::API_TOKEN_FILE;

/// The token in `data_dir`, made (mode 0600) if there is none yet.
pub fn ensure(data_dir: &Path) -> io::Result<SecretString> {
    let path = data_dir.join(API_TOKEN_FILE);
    match read(data_dir) {
        Ok(token) => return Ok(token),
        Err(err) if err.kind() != io::ErrorKind::NotFound => return Err(err),
        Err(_) => {}
    }
    let mut bytes = [0u8; 32];
    SystemRandom::new()
        .fill(&mut bytes)
        .map_err(|_| io::Error::other("the system random source failed"))?;
    let token = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes);
    let mut file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&path)?;
    // Whatever the umask.
    file.set_permissions(fs::Permissions::from_mode(0o600))?;
    file.write_all(format!("{token}\n").as_bytes())?;
    file.sync_all()?;
    Ok(SecretString::from(token))
}

/// The token in `data_dir`.
pub fn read(data_dir: &Path) -> io::Result<SecretString> {
    let text = fs::read_to_string(data_dir.join(API_TOKEN_FILE))?;
    let token = text.trim();
    if token.is_empty() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("{API_TOKEN_FILE} is empty"),
        ));
    }
    Ok(SecretString::from(token.to_owned()))
}
