//! The one fake sync server, on 127.0.0.1 port 0, for what the real
//! server never does: serve forged, truncated, old or future-schema
//! rulesets, ignore long-poll waits, answer uploads with scripted
//! conflicts or 503s, or speak another protocol version. It records what
//! the agent sent (uploads with their arrival, enrollments, bad
//! credentials). It signs with its own key, which the agent's
//! configuration pins; it enrolls every register as register 3 of store 2
//! of merchant 1, with the secret `s3cret`.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use axum::Json;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use chrono::Utc;
use serde_json::Value;
use shared::crypto::{Hash256, SigningKey, from_base64, generate_pkcs8, sha256};
use shared::ids::{MerchantId, RegisterId, Seq, StoreId};
use shared::money::Currency;
use shared::record::SignedRecord;
use shared::release::SignedRuleset;
use shared::wire::sync::{
    CustomerDeltaPage, CustomerSnapshot, EnrollResponse, UploadAck, UploadBatch,
};
use shared::wire::{ErrorBody, PROTOCOL_HEADER};
use tokio::task::JoinHandle;

/// The merchant's phone salt the fake hands out with its customer pages.
pub const FAKE_SALT: &str = "fake-merchant-salt";

/// The register secret the fake enrolls with and expects.
pub const REGISTER_SECRET: &str = "s3cret";

/// A scripted reply to one upload.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UploadReply {
    /// 409 `seq_gap` with this expected seq.
    Conflict(i64),
    /// 503 with `Retry-After` in seconds.
    Busy(u64),
}

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
#[derive(Debug)]
pub struct FakeState {
    /// The merchant's releases, oldest first; the newest above `after` is
    /// served.
    pub releases: Vec<SignedRuleset>,
    /// Served on every ruleset request instead, whatever `after` says.
    pub offer: Option<SignedRuleset>,
    /// Whether long-polls are held (as a real server does, up to a second
    /// here) or answered after [`Self::idle_pause`] with 204 (as behind a
    /// proxy that does not hold them).
    pub hold_long_polls: bool,
    /// How long an empty answer (a ruleset poll not held, a customer
    /// feed with nothing new) waits before its 204, so agents do not spin;
    /// 100 ms unless set.
    pub idle_pause: Duration,
    /// The protocol spoken.
    pub protocol: FakeProtocol,
    /// Replies to the next uploads, in order; acknowledged when empty.
    pub upload_script: VecDeque<UploadReply>,
    /// The customer feed's first page (for `after` = 0), unless empty.
    pub customers: Vec<CustomerSnapshot>,
    /// The page served for `after` = 1, once set.
    pub second_page: Option<CustomerDeltaPage>,
    /// Ruleset requests: whether each carried `If-None-Match`.
    pub ruleset_requests: Vec<Option<String>>,
    /// Ruleset replies that were 304.
    pub not_modified: usize,
    /// Upload requests (bodies parsed or not).
    pub upload_requests: usize,
    /// Each parsed upload's records, with when it arrived.
    pub batches: Vec<(Instant, Vec<SignedRecord>)>,
    /// Records acknowledged.
    pub acked: usize,
    /// Uploads without register 3's credentials or protocol version 1.
    pub bad_auth: usize,
    /// Enrollment requests accepted, as sent.
    pub enrollments: Vec<Value>,
}

impl Default for FakeState {
    fn default() -> Self {
        FakeState {
            releases: Vec::new(),
            offer: None,
            hold_long_polls: false,
            idle_pause: Duration::from_millis(100),
            protocol: FakeProtocol::default(),
            upload_script: VecDeque::new(),
            customers: Vec::new(),
            second_page: None,
            ruleset_requests: Vec::new(),
            not_modified: 0,
            upload_requests: 0,
            batches: Vec::new(),
            acked: 0,
            bad_auth: 0,
            enrollments: Vec::new(),
        }
    }
}

impl FakeState {
    /// Every record uploaded, in the order received.
    #[must_use]
    pub fn uploaded(&self) -> Vec<SignedRecord> {
        self.batches.iter().flat_map(|(_, b)| b.clone()).collect()
    }
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
    /// Starts the fake with `state` and a fresh key.
    pub async fn start(state: FakeState) -> anyhow::Result<Self> {
        let key = SigningKey::from_pkcs8(&generate_pkcs8(&ring::rand::SystemRandom::new())?)?;
        Self::start_with_key(state, key).await
    }

    /// Starts the fake with `state`, signing (and enrolling) with `key`.
    pub async fn start_with_key(state: FakeState, key: SigningKey) -> anyhow::Result<Self> {
        let state = Arc::new(Mutex::new(state));
        let app = axum::Router::new()
            .route("/api/v1/records", axum::routing::post(upload))
            .route("/api/v1/ruleset", axum::routing::get(ruleset))
            .route("/api/v1/customers/changes", axum::routing::get(customers))
            .route("/api/v1/protocol", axum::routing::get(protocol))
            .route("/api/v1/registers/enroll", axum::routing::post(enroll))
            .with_state(Shared {
                state: Arc::clone(&state),
                public_key: key.public_key(),
            });
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

/// The handlers' state: the script and record, and the key to hand out.
#[derive(Clone)]
struct Shared {
    state: Arc<Mutex<FakeState>>,
    public_key: shared::crypto::PublicKey,
}

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

/// Whether `headers` carry register 3's credentials and protocol 1.
fn authorised(headers: &HeaderMap) -> bool {
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    header("authorization") == Some(&format!("Bearer 3.{REGISTER_SECRET}"))
        && header(PROTOCOL_HEADER) == Some("1")
}

async fn upload(State(shared): State<Shared>, headers: HeaderMap, body: String) -> Response {
    let mut state = lock(&shared.state);
    state.upload_requests += 1;
    if !authorised(&headers) {
        state.bad_auth += 1;
    }
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
    let count = batch.records.len();
    state.batches.push((Instant::now(), batch.records));
    match state.upload_script.pop_front() {
        Some(UploadReply::Conflict(expected)) => {
            return (
                StatusCode::CONFLICT,
                Json(ErrorBody {
                    error: "seq_gap".into(),
                    message: "batch does not link to the stored head".into(),
                    expected_seq: Seq::new(expected).ok(),
                    faults: vec![],
                }),
            )
                .into_response();
        }
        Some(UploadReply::Busy(secs)) => {
            return (
                StatusCode::SERVICE_UNAVAILABLE,
                [("retry-after", secs.to_string())],
                "busy",
            )
                .into_response();
        }
        None => {}
    }
    match state.protocol {
        FakeProtocol::AnswersIn(version) => {
            ([(PROTOCOL_HEADER, version.to_string())], Json(ack)).into_response()
        }
        _ => {
            state.acked += count;
            Json(ack).into_response()
        }
    }
}

async fn ruleset(
    State(shared): State<Shared>,
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
    let (served, hold, idle) = {
        let mut state = lock(&shared.state);
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
        (served, state.hold_long_polls, state.idle_pause)
    };
    match served {
        Some(release) => Json(release).into_response(),
        None => {
            // The server's own behaviour being faked: a held long-poll.
            let held = if hold && wait > 0 {
                Duration::from_secs(u64::try_from(wait).unwrap_or(1).min(1))
            } else {
                idle
            };
            tokio::time::sleep(held).await;
            StatusCode::NO_CONTENT.into_response()
        }
    }
}

async fn customers(
    State(shared): State<Shared>,
    Query(query): Query<Vec<(String, String)>>,
) -> Response {
    let after = query
        .iter()
        .find(|(k, _)| k == "after")
        .map(|(_, v)| v.as_str());
    let (page, idle) = {
        let state = lock(&shared.state);
        let page = match after {
            Some("0") if !state.customers.is_empty() => Some(CustomerDeltaPage {
                next_cursor: 1,
                customers: state.customers.clone(),
                more: false,
                stored_through: None,
                phone_salt: Some(FAKE_SALT.to_owned()),
            }),
            Some("1") => state.second_page.clone(),
            _ => None,
        };
        (page, state.idle_pause)
    };
    if let Some(page) = page {
        return Json(page).into_response();
    }
    tokio::time::sleep(idle).await;
    StatusCode::NO_CONTENT.into_response()
}

async fn enroll(State(shared): State<Shared>, Json(request): Json<Value>) -> Response {
    let mut state = lock(&shared.state);
    if state
        .enrollments
        .iter()
        .any(|e| e["enrollment_token"] == request["enrollment_token"])
    {
        return (
            StatusCode::CONFLICT,
            Json(ErrorBody {
                error: "token_used".into(),
                message: "enrollment token already used".into(),
                expected_seq: None,
                faults: vec![],
            }),
        )
            .into_response();
    }
    state.enrollments.push(request);
    let ids = (RegisterId::new(3), MerchantId::new(1), StoreId::new(2));
    let (Ok(register_id), Ok(merchant_id), Ok(store_id)) = ids else {
        return StatusCode::INTERNAL_SERVER_ERROR.into_response();
    };
    Json(EnrollResponse {
        register_id,
        merchant_id,
        store_id,
        store_name: "Тверская".into(),
        store_timezone: "Europe/Moscow".parse().expect("a known zone"),
        store_brand: None,
        currency: Currency::RUB,
        register_secret: REGISTER_SECRET.into(),
        server_public_key: shared.public_key,
        server_recovery_key: None,
        key_seq: shared::keys::ChainSeq::default(),
    })
    .into_response()
}

async fn protocol(State(shared): State<Shared>) -> Response {
    let versions = match lock(&shared.state).protocol {
        FakeProtocol::One => vec![1],
        FakeProtocol::Only(v) | FakeProtocol::AnswersIn(v) => vec![v],
    };
    Json(serde_json::json!({ "versions": versions, "server_version": "fake" })).into_response()
}
