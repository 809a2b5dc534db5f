//! A scriptable sync server on 127.0.0.1, for what the real server never
//! does: serve forged, truncated, old or future-schema rulesets, ignore
//! long-poll waits, or speak another protocol version. It signs with its
//! own key, which [`offline_config`] pins in an agent's configuration.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use axum::Json;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use chrono::Utc;
use secrecy::SecretString;
use shared::crypto::{Hash256, SigningKey, from_base64, generate_pkcs8, sha256};
use shared::ids::{MerchantId, RegisterId, StoreId};
use shared::money::Currency;
use shared::release::SignedRuleset;
use shared::wire::sync::{UploadAck, UploadBatch};
use shared::wire::{ErrorBody, PROTOCOL_HEADER};
use tokio::task::JoinHandle;

/// Which protocol the fake speaks.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum FakeProtocol {
    /// Version 1, like this build.
    #[default]
    One,
    /// Only this version: anything else gets 426.
    Only(u32),
    /// Answers uploads with 200 but marks them with this version.
    AnswersIn(u32),
}

/// What the fake serves and what it saw.
#[derive(Debug, Default)]
pub struct FakeState {
    /// The merchant's releases, oldest first; the newest above `after` is
    /// served.
    pub releases: Vec<SignedRuleset>,
    /// Served on every ruleset request instead, whatever `after` says.
    pub offer: Option<SignedRuleset>,
    /// Whether long-polls are held (as a real server does) or answered at
    /// once with 204 (as behind a proxy that does not hold them).
    pub hold_long_polls: bool,
    /// The protocol spoken.
    pub protocol: FakeProtocol,
    /// Ruleset requests: whether each carried `If-None-Match`.
    pub ruleset_requests: Vec<Option<String>>,
    /// Ruleset replies that were 304.
    pub not_modified: usize,
    /// Upload requests (bodies parsed or not).
    pub upload_requests: usize,
    /// Records acknowledged.
    pub acked: usize,
}

/// The fake server; dropping it stops it.
pub struct FakeSync {
    /// Its base URL.
    pub url: String,
    /// Its key: the agent pins its public half.
    pub key: SigningKey,
    state: Arc<Mutex<FakeState>>,
    task: JoinHandle<()>,
}

impl FakeSync {
    /// Starts the fake with `state`.
    pub async fn start(state: FakeState) -> anyhow::Result<Self> {
        let key = SigningKey::from_pkcs8(&generate_pkcs8(&ring::rand::SystemRandom::new())?)?;
        let state = Arc::new(Mutex::new(state));
        let app = axum::Router::new()
            .route("/api/v1/records", axum::routing::post(upload))
            .route("/api/v1/ruleset", axum::routing::get(ruleset))
            .route("/api/v1/customers/changes", axum::routing::get(customers))
            .route("/api/v1/protocol", axum::routing::get(protocol))
            .with_state(Arc::clone(&state));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let addr: SocketAddr = listener.local_addr()?;
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Ok(FakeSync {
            url: format!("http://{addr}"),
            key,
            state,
            task,
        })
    }

    /// The state, to script or inspect.
    pub fn state(&self) -> MutexGuard<'_, FakeState> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl Drop for FakeSync {
    fn drop(&mut self) {
        self.task.abort();
    }
}

type Shared = State<Arc<Mutex<FakeState>>>;

fn lock(state: &Mutex<FakeState>) -> MutexGuard<'_, FakeState> {
    state.lock().unwrap_or_else(PoisonError::into_inner)
}

/// 426 unless the request speaks what the fake speaks.
fn refuse_protocol(state: &FakeState, headers: &HeaderMap) -> Option<Response> {
    let FakeProtocol::Only(version) = state.protocol else {
        return None;
    };
    let sent = headers
        .get(PROTOCOL_HEADER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u32>().ok())
        .unwrap_or(1);
    (sent != version).then(|| {
        (
            StatusCode::UPGRADE_REQUIRED,
            [(PROTOCOL_HEADER, version.to_string())],
            Json(ErrorBody {
                error: "protocol_unsupported".into(),
                message: format!(
                    "this server speaks sync protocol version(s) {version}, the agent sent {sent}"
                ),
                expected_seq: None,
                faults: vec![],
            }),
        )
            .into_response()
    })
}

async fn upload(State(state): Shared, headers: HeaderMap, body: String) -> Response {
    let mut state = lock(&state);
    state.upload_requests += 1;
    if let Some(refusal) = refuse_protocol(&state, &headers) {
        return refusal;
    }
    let Ok(batch) = serde_json::from_str::<UploadBatch>(&body) else {
        return StatusCode::BAD_REQUEST.into_response();
    };
    let last = batch.records.last();
    let head_hash = last
        .and_then(|r| from_base64(&r.body))
        .map_or(Hash256::GENESIS, |bytes| sha256(&bytes));
    let ack = UploadAck {
        acked_through: last.map(|r| r.seq),
        head_hash,
        server_time: Utc::now(),
    };
    match state.protocol {
        FakeProtocol::AnswersIn(version) => {
            ([(PROTOCOL_HEADER, version.to_string())], Json(ack)).into_response()
        }
        _ => {
            state.acked += batch.records.len();
            Json(ack).into_response()
        }
    }
}

async fn ruleset(
    State(state): Shared,
    headers: HeaderMap,
    Query(query): Query<Vec<(String, String)>>,
) -> Response {
    let param = |name: &str| {
        query
            .iter()
            .find(|(k, _)| k == name)
            .and_then(|(_, v)| v.parse::<i64>().ok())
    };
    let after = param("after").unwrap_or(0);
    let wait = param("wait").unwrap_or(0);
    let if_none_match = headers
        .get("if-none-match")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let (served, hold) = {
        let mut state = lock(&state);
        state.ruleset_requests.push(if_none_match.clone());
        if let Some(refusal) = refuse_protocol(&state, &headers) {
            return refusal;
        }
        let known = if_none_match
            .as_deref()
            .and_then(|v| v.trim_matches('"').parse::<i64>().ok())
            .unwrap_or(after)
            .max(after);
        let served = state.offer.clone().or_else(|| {
            state
                .releases
                .iter()
                .rev()
                .find(|r| r.version.get() > known)
                .cloned()
        });
        if served.is_none() && if_none_match.is_some() {
            state.not_modified += 1;
            return StatusCode::NOT_MODIFIED.into_response();
        }
        (served, state.hold_long_polls)
    };
    match served {
        Some(release) => Json(release).into_response(),
        None => {
            if hold && wait > 0 {
                let secs = u64::try_from(wait).unwrap_or(1).min(1);
                tokio::time::sleep(Duration::from_secs(secs)).await;
            }
            StatusCode::NO_CONTENT.into_response()
        }
    }
}

async fn customers() -> Response {
    tokio::time::sleep(Duration::from_millis(200)).await;
    StatusCode::NO_CONTENT.into_response()
}

async fn protocol(State(state): Shared) -> Response {
    let versions = match lock(&state).protocol {
        FakeProtocol::One => vec![1],
        FakeProtocol::Only(v) | FakeProtocol::AnswersIn(v) => vec![v],
    };
    Json(serde_json::json!({ "versions": versions, "server_version": "fake" })).into_response()
}

/// A configuration for a register of merchant 1, store 2, register 3,
/// talking to `url` and pinning `server_key`, with a fresh register key in
/// `data_dir` and a database created there.
pub fn offline_config(
    data_dir: &Path,
    url: &str,
    server_key: &SigningKey,
) -> anyhow::Result<pos_agent::AgentConfig> {
    std::fs::create_dir_all(data_dir)?;
    let pkcs8 = generate_pkcs8(&ring::rand::SystemRandom::new())?;
    std::fs::write(data_dir.join(pos_agent::config::KEY_FILE), &pkcs8)?;
    let mut sync = pos_agent::config::SyncConfig::new(
        url.to_owned(),
        RegisterId::new(3)?,
        SecretString::from("s3cret".to_owned()),
        server_key.public_key(),
    );
    sync.upload_interval_ms = 100;
    sync.longpoll_wait_secs = 1;
    sync.backoff_initial_ms = 20;
    sync.backoff_max_ms = 200;
    let config = pos_agent::AgentConfig {
        data_dir: data_dir.to_owned(),
        sync,
        register: pos_agent::config::RegisterConfig {
            merchant_id: MerchantId::new(1)?,
            store_id: StoreId::new(2)?,
            store_timezone: "Europe/Moscow".parse().expect("a known zone"),
            store_brand: None,
            currency: Currency::RUB,
        },
        api: pos_agent::config::ApiConfig::default(),
        scanners: Vec::new(),
        hid_scanners: Vec::new(),
        scan: Default::default(),
    };
    pos_agent::prepare_database(data_dir)?;
    Ok(config)
}
