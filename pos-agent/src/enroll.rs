//! `pos-agent enroll`: generates the register's Ed25519 key, enrolls it
//! with a one-time token, pins the server's key and writes `agent.toml`.
//!
//! The key, the configuration (which holds the register secret) and the
//! till's token for the local API (`api-token`) are written with mode 0600, each through a temporary file and a rename, and
//! only after the server accepted the enrollment, so a refused token leaves
//! nothing behind. An existing enrollment is kept unless replacing it is
//! asked for; replacing never discards records the server has not stored.

use std::fs::{self, OpenOptions};
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::Path;
use std::time::Duration;

use anyhow::{Context, bail};
use ring::rand::SystemRandom;
use secrecy::SecretString;
use shared::crypto::{SigningKey, generate_pkcs8};
use shared::wire::sync::{EnrollRequest, EnrollResponse};
use shared::wire::{ErrorBody, PROTOCOL_HEADER, PROTOCOL_VERSION};

use crate::AGENT_VERSION;
use crate::config::{
    AgentConfig, ApiConfig, CONFIG_FILE, DB_FILE, KEY_FILE, RegisterConfig, ScanConfig, SyncConfig,
};
use crate::store;

const ENROLL_TIMEOUT: Duration = Duration::from_secs(30);

/// What to do when the data directory already holds an enrollment.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ExistingEnrollment {
    /// Stop with an error.
    Refuse,
    /// Enroll anew; the old database is kept aside, and only if everything
    /// in its outbox reached the server.
    Replace,
}

/// Enrolls a register, refusing to overwrite an existing enrollment.
pub async fn enroll(
    server_url: &str,
    enrollment_token: &str,
    data_dir: &Path,
) -> anyhow::Result<AgentConfig> {
    enroll_with(
        server_url,
        enrollment_token,
        data_dir,
        ExistingEnrollment::Refuse,
    )
    .await
}

/// Enrolls a register, with a choice about an existing enrollment.
pub async fn enroll_with(
    server_url: &str,
    enrollment_token: &str,
    data_dir: &Path,
    existing: ExistingEnrollment,
) -> anyhow::Result<AgentConfig> {
    enroll_trusting(server_url, enrollment_token, data_dir, existing, None).await
}

/// Enrolls a register whose server's certificate was issued by the private
/// CA in `ca_cert` (a PEM file), kept in the configuration as
/// `sync.ca_cert` for every later request.
#[tracing::instrument(skip(enrollment_token))]
pub async fn enroll_trusting(
    server_url: &str,
    enrollment_token: &str,
    data_dir: &Path,
    existing: ExistingEnrollment,
    ca_cert: Option<&Path>,
) -> anyhow::Result<AgentConfig> {
    // Refuse an unusable CA file before touching the data directory.
    let ca_cert = ca_cert
        .map(|path| {
            let path = std::path::absolute(path)
                .with_context(|| format!("cannot resolve {}", path.display()))?;
            crate::config::read_ca_cert(&path).map_err(|e| anyhow::anyhow!("--ca-cert {e}"))?;
            anyhow::Ok(path)
        })
        .transpose()?;
    if !data_dir.is_dir() {
        fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(data_dir)
            .and_then(|()| fs::set_permissions(data_dir, fs::Permissions::from_mode(0o700)))
            .with_context(|| format!("cannot create the data directory {}", data_dir.display()))?;
    }
    let key_path = data_dir.join(KEY_FILE);
    let config_path = data_dir.join(CONFIG_FILE);
    let db_path = data_dir.join(DB_FILE);
    let enrolled = key_path.exists() || config_path.exists();
    match existing {
        ExistingEnrollment::Refuse if enrolled => bail!(
            "{} already holds an enrollment; pass --force to enroll this register again",
            data_dir.display()
        ),
        ExistingEnrollment::Replace if db_path.exists() => ensure_fully_uploaded(&db_path)?,
        _ => {}
    }

    let pkcs8 = generate_pkcs8(&SystemRandom::new()).context("cannot generate the register key")?;
    let key = SigningKey::from_pkcs8(&pkcs8).context("cannot load the generated key")?;
    let server_url = server_url.trim_end_matches('/');
    let enrolled =
        request_enrollment(server_url, enrollment_token, &key, ca_cert.as_deref()).await?;

    if db_path.exists() {
        retire_database(&db_path)?;
    }
    write_private(&key_path, &pkcs8)?;
    let config = AgentConfig {
        data_dir: data_dir.to_path_buf(),
        sync: SyncConfig {
            ca_cert,
            server_recovery_key: enrolled.server_recovery_key,
            server_key_seq: enrolled.key_seq,
            ..SyncConfig::new(
                server_url.to_owned(),
                enrolled.register_id,
                SecretString::from(enrolled.register_secret),
                enrolled.server_public_key,
            )
        },
        register: RegisterConfig {
            merchant_id: enrolled.merchant_id,
            store_id: enrolled.store_id,
            store_timezone: enrolled.store_timezone,
            store_brand: enrolled.store_brand,
            currency: enrolled.currency,
        },
        api: ApiConfig::default(),
        scanners: Vec::new(),
        hid_scanners: Vec::new(),
        scan: ScanConfig::default(),
    };
    let toml = config.to_toml().context("cannot write the configuration")?;
    write_private(&config_path, toml.as_bytes())?;
    crate::till_token::ensure(data_dir).context("cannot write the till's token")?;
    tracing::info!(
        register_id = %config.sync.register_id,
        store = %enrolled.store_name,
        "register enrolled"
    );
    Ok(config)
}

async fn request_enrollment(
    server_url: &str,
    enrollment_token: &str,
    key: &SigningKey,
    ca_cert: Option<&Path>,
) -> anyhow::Result<EnrollResponse> {
    let request = EnrollRequest {
        enrollment_token: enrollment_token.trim().to_owned(),
        public_key: key.public_key(),
        agent_version: AGENT_VERSION.to_owned(),
        hostname: hostname(),
    };
    let url = format!("{server_url}/api/v1/registers/enroll");
    let response = crate::config::http_builder(ca_cert)
        .map_err(|e| anyhow::anyhow!("--ca-cert {e}"))?
        .timeout(ENROLL_TIMEOUT)
        .build()?
        .post(&url)
        .header(PROTOCOL_HEADER, PROTOCOL_VERSION)
        .json(&request)
        .send()
        .await
        .with_context(|| format!("cannot reach {url}"))?;
    let status = response.status();
    if !status.is_success() {
        let text = response.text().await.unwrap_or_default();
        match serde_json::from_str::<ErrorBody>(&text) {
            Ok(body) => bail!("the server refused the enrollment: {}", body.message),
            Err(_) => bail!("the server refused the enrollment ({status}): {text}"),
        }
    }
    response
        .json()
        .await
        .context("the server's enrollment reply does not parse")
}

/// Refuses to replace an enrollment whose records are not all on the server.
fn ensure_fully_uploaded(db_path: &Path) -> anyhow::Result<()> {
    let conn = store::open_read_only(db_path)?;
    let summary = store::summary(&conn)?;
    if summary.pending > 0 {
        bail!(
            "{} records of the current enrollment have not reached the server; \
             run the agent until they are uploaded before enrolling again",
            summary.pending
        );
    }
    Ok(())
}

/// Moves the old database aside (never deletes it): the new register
/// starts its own seq at 1.
fn retire_database(db_path: &Path) -> anyhow::Result<()> {
    let conn = store::open(db_path)?;
    // Folds the WAL into the main file so one file holds everything.
    conn.pragma_update(None, "journal_mode", "DELETE")?;
    drop(conn);
    let aside = db_path.with_extension(format!("db.retired-{}", chrono::Utc::now().timestamp()));
    fs::rename(db_path, &aside)
        .with_context(|| format!("cannot move {} aside", db_path.display()))?;
    tracing::warn!(kept = %aside.display(), "the previous enrollment's database was moved aside");
    Ok(())
}

/// Writes a file readable by its owner only, replacing it atomically.
fn write_private(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    let tmp = path.with_extension("tmp");
    let _ = fs::remove_file(&tmp);
    let mut file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&tmp)
        .with_context(|| format!("cannot create {}", tmp.display()))?;
    file.write_all(bytes)?;
    file.sync_all()?;
    fs::rename(&tmp, path).with_context(|| format!("cannot write {}", path.display()))?;
    Ok(())
}

fn hostname() -> String {
    fs::read_to_string("/proc/sys/kernel/hostname")
        .or_else(|_| fs::read_to_string("/etc/hostname"))
        .map(|h| h.trim().to_owned())
        .unwrap_or_default()
}
