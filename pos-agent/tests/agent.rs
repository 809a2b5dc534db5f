//! The agent in-process: real SQLite files in temporary directories, the
//! local API on 127.0.0.1 port 0, and small fake sync servers written with
//! axum for the background tasks. The `scanning` module drives scanners
//! through real ptys and the real binary.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Json;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use pos_agent::config::{ApiConfig, RegisterConfig, ScanConfig, SyncConfig};
use pos_agent::{AgentConfig, Clock, ExistingEnrollment, ScannerSource};
use ring::rand::SystemRandom;
use secrecy::SecretString;
use serde_json::{Value, json};
use shared::crypto::{Hash256, PublicKey, SigningKey, generate_pkcs8};
use shared::identity::Ean13;
use shared::ids::{CustomerId, MerchantId, RegisterId, RulesetVersion, Seq, StoreId};
use shared::money::{BasisPoints, Currency, Money};
use shared::record::SignedRecord;
use shared::release::{RulesetRelease, SignedRuleset};
use shared::ruleset::{Apply, Programme, Promotion, Reward, Ruleset, SCHEMA_VERSION, Target};
use shared::token::CustomerToken;
use shared::wire::ErrorBody;
use shared::wire::sync::{
    CustomerDeltaPage, CustomerSnapshot, EnrollResponse, UploadAck, UploadBatch,
};
use tempfile::TempDir;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

#[path = "agent/edges.rs"]
mod edges;
#[path = "agent/scanning.rs"]
mod scanning;

const WAIT: Duration = Duration::from_secs(10);
/// The merchant's phone salt the fake server hands out with its pages.
const FAKE_SALT: &str = "fake-merchant-salt";

fn server_key() -> SigningKey {
    SigningKey::from_seed(&[42; 32]).unwrap()
}

/// A data directory holding a register key.
struct Register {
    dir: TempDir,
    public_key: PublicKey,
}

impl Register {
    fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let pkcs8 = generate_pkcs8(&SystemRandom::new()).unwrap();
        std::fs::write(dir.path().join("register.pk8"), &pkcs8).unwrap();
        let public_key = SigningKey::from_pkcs8(&pkcs8).unwrap().public_key();
        Self { dir, public_key }
    }

    fn config(&self, sync_url: &str) -> AgentConfig {
        let mut sync = SyncConfig::new(
            sync_url.to_owned(),
            RegisterId::new(3).unwrap(),
            SecretString::from("s3cret".to_owned()),
            server_key().public_key(),
        );
        sync.upload_interval_ms = 60_000;
        sync.longpoll_wait_secs = 1;
        sync.backoff_initial_ms = 20;
        sync.backoff_max_ms = 200;
        AgentConfig {
            data_dir: self.dir.path().to_path_buf(),
            sync,
            register: RegisterConfig {
                merchant_id: MerchantId::new(1).unwrap(),
                store_id: StoreId::new(2).unwrap(),
                store_timezone: "Europe/Moscow".parse().expect("a known zone"),
                store_brand: None,
                currency: Currency::RUB,
            },
            api: ApiConfig::default(),
            scanners: Vec::new(),
            hid_scanners: Vec::new(),
            scan: ScanConfig::default(),
        }
    }

    /// Every record in the outbox, verified with the register key and
    /// checked to be densely numbered and chained.
    fn verified_outbox(&self) -> Vec<shared::record::PurchaseRecord> {
        let conn = rusqlite::Connection::open(self.dir.path().join("agent.db")).unwrap();
        let mut stmt = conn
            .prepare("SELECT seq, body, signature FROM outbox ORDER BY seq")
            .unwrap();
        let rows: Vec<(i64, Vec<u8>, Vec<u8>)> = stmt
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
            .unwrap()
            .map(Result::unwrap)
            .collect();
        let signed: Vec<SignedRecord> = rows
            .into_iter()
            .map(|(seq, body, sig)| SignedRecord {
                register_id: RegisterId::new(3).unwrap(),
                seq: Seq::new(seq).unwrap(),
                body: shared::crypto::to_base64(&body),
                signature: shared::crypto::Signature::from_slice(&sig).unwrap(),
            })
            .collect();
        verify_chain(&signed, &self.public_key)
    }
}

fn verify_chain(signed: &[SignedRecord], key: &PublicKey) -> Vec<shared::record::PurchaseRecord> {
    let mut prev = Hash256::GENESIS;
    signed
        .iter()
        .enumerate()
        .map(|(i, s)| {
            let v = s.open(key).expect("record verifies");
            assert_eq!(v.record.seq.get(), i as i64 + 1, "dense seq");
            assert_eq!(v.record.prev_hash, prev, "chained");
            prev = v.hash;
            v.record
        })
        .collect()
}

/// An address nothing listens on.
fn unreachable_url() -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    format!("http://{addr}")
}

/// A clock standing still.
struct FixedClock(DateTime<Utc>);

impl Clock for FixedClock {
    fn now(&self) -> DateTime<Utc> {
        self.0
    }
}

/// The agent running in-process.
struct Agent {
    url: String,
    http: reqwest::Client,
    stop: Option<oneshot::Sender<()>>,
    task: JoinHandle<anyhow::Result<()>>,
}

impl Agent {
    async fn start(config: AgentConfig) -> Self {
        Self::start_with_clock(config, Arc::new(pos_agent::SystemClock)).await
    }

    async fn start_with_clock(config: AgentConfig, clock: Arc<dyn Clock>) -> Self {
        Self::start_with(config, clock, Vec::new()).await
    }

    async fn start_with(
        config: AgentConfig,
        clock: Arc<dyn Clock>,
        scanners: Vec<ScannerSource>,
    ) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(pos_agent::run_with_clock(
            config,
            listener,
            scanners,
            clock,
            async move {
                let _ = stopped.await;
            },
        ));
        Self {
            url,
            http: reqwest::Client::new(),
            stop: Some(stop),
            task,
        }
    }

    async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        tokio::time::timeout(WAIT, self.task)
            .await
            .expect("the agent stops promptly")
            .unwrap()
            .unwrap();
    }

    async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let mut request = self.http.request(method, format!("{}{path}", self.url));
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.unwrap();
        let status = StatusCode::from_u16(response.status().as_u16()).unwrap();
        let text = response.text().await.unwrap();
        (status, serde_json::from_str(&text).unwrap_or(Value::Null))
    }

    async fn post(&self, path: &str, body: Option<Value>) -> (StatusCode, Value) {
        self.call(reqwest::Method::POST, path, body).await
    }

    async fn open_check(&self) -> String {
        let (status, view) = self.post("/v1/checks", None).await;
        assert_eq!(status, StatusCode::CREATED);
        view["id"].as_str().unwrap().to_owned()
    }

    async fn add_line(
        &self,
        check: &str,
        sku: &str,
        quantity: Value,
        price: i64,
    ) -> (StatusCode, Value) {
        let line = json!({"sku": sku, "name": format!("Item {sku}"), "quantity": quantity, "unit_price": price});
        self.post(&format!("/v1/checks/{check}/lines"), Some(line))
            .await
    }

    /// Identifies the check's customer (`{"card": …}`, `{"token": …}`, …).
    async fn attach(&self, check: &str, who: Value) -> (StatusCode, Value) {
        self.call(
            reqwest::Method::PUT,
            &format!("/v1/checks/{check}/customer"),
            Some(who),
        )
        .await
    }

    /// Commits the check; returns the reply.
    async fn commit(&self, check: &str) -> (StatusCode, Value) {
        self.post(&format!("/v1/checks/{check}/commit"), None).await
    }

    /// Opens a check with one line and commits it; returns the seq.
    async fn sell(&self, sku: &str, price: i64) -> i64 {
        let check = self.open_check().await;
        assert_eq!(
            self.add_line(&check, sku, json!(1), price).await.0,
            StatusCode::CREATED
        );
        let (status, committed) = self.post(&format!("/v1/checks/{check}/commit"), None).await;
        assert_eq!(status, StatusCode::CREATED, "{committed}");
        committed["seq"].as_i64().unwrap()
    }

    async fn status(&self) -> Value {
        let (status, body) = self.call(reqwest::Method::GET, "/v1/status", None).await;
        assert_eq!(status, StatusCode::OK);
        body
    }

    /// Waits for the fake's ruleset v1 and its one customer.
    async fn wait_for_ruleset_and_customer(&self) {
        self.wait_for_status("ruleset and customer", |s| {
            s["ruleset_version"] == 1 && s["cached_customers"] == 1
        })
        .await;
    }

    /// Polls the status until `done` holds.
    async fn wait_for_status(&self, what: &str, done: impl Fn(&Value) -> bool) -> Value {
        let deadline = Instant::now() + WAIT;
        loop {
            let status = self.status().await;
            if done(&status) {
                return status;
            }
            assert!(
                Instant::now() < deadline,
                "timed out waiting for {what}: {status}"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

fn error_code(body: &Value) -> &str {
    body["error"].as_str().unwrap_or("<no ErrorBody>")
}

#[tokio::test]
async fn a_check_is_built_priced_and_committed_once() {
    let register = Register::new();
    let agent = Agent::start(register.config(&unreachable_url())).await;

    let check = agent.open_check().await;
    let (status, view) = agent.add_line(&check, "4601", json!(2), 8990).await;
    assert_eq!(status, StatusCode::CREATED, "{view}");
    assert_eq!(view["pricing"]["subtotal"], 17980);
    let (status, view) = agent.add_line(&check, "4602", json!("1.5"), 1000).await;
    assert_eq!(status, StatusCode::CREATED, "{view}");
    assert_eq!(view["lines"][1]["line_id"], 2);
    assert_eq!(view["pricing"]["subtotal"], 19480);

    let (status, view) = agent
        .call(
            reqwest::Method::DELETE,
            &format!("/v1/checks/{check}/lines/2"),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(view["lines"].as_array().unwrap().len(), 1);
    let (status, body) = agent
        .call(
            reqwest::Method::DELETE,
            &format!("/v1/checks/{check}/lines/99"),
            None,
        )
        .await;
    assert_eq!(
        (status, error_code(&body)),
        (StatusCode::NOT_FOUND, "line_not_found")
    );

    let (status, view) = agent.post(&format!("/v1/checks/{check}/price"), None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(view["pricing"]["total"], 17980);
    assert_eq!(view["ruleset_version"], Value::Null);

    let (status, committed) = agent.commit(&check).await;
    assert_eq!(status, StatusCode::CREATED, "{committed}");
    assert_eq!(committed["seq"], 1);
    assert_eq!(committed["pricing"]["total"], 17980);
    let (status, body) = agent.commit(&check).await;
    assert_eq!(
        (status, error_code(&body)),
        (StatusCode::NOT_FOUND, "check_not_found")
    );
    let (status, _) = agent
        .call(reqwest::Method::GET, &format!("/v1/checks/{check}"), None)
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    let cancelled = agent.open_check().await;
    agent.add_line(&cancelled, "4601", json!(1), 100).await;
    let (status, _) = agent
        .post(&format!("/v1/checks/{cancelled}/cancel"), None)
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, _) = agent.commit(&cancelled).await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    let status = agent.status().await;
    assert_eq!(status["last_seq"], 1);
    assert_eq!(status["outbox_pending"], 1);
    assert_eq!(status["server_reachable"], false);
    agent.stop().await;

    let records = register.verified_outbox();
    assert_eq!(records.len(), 1, "committing twice wrote one record");
    let record = &records[0];
    assert_eq!(
        record.id.to_string(),
        committed["record_id"].as_str().unwrap()
    );
    assert_eq!(record.total, Money::from_minor(17980).unwrap());
    assert_eq!(record.lines.len(), 1);
    assert_eq!(record.register_id.get(), 3);
}

#[tokio::test]
async fn the_agent_serves_the_openapi_document_of_its_local_api() {
    let register = Register::new();
    let agent = Agent::start(register.config(&unreachable_url())).await;
    let response = agent
        .http
        .get(format!("{}/v1/openapi.json", agent.url))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 200);
    assert_eq!(response.headers()["content-type"], "application/json");
    let spec = oas3::from_json(response.text().await.unwrap()).expect("valid OpenAPI 3.1");
    let commit = spec
        .operation(&reqwest::Method::POST, "/v1/checks/{id}/commit")
        .expect("the commit is documented");
    let replies = commit.responses(&spec);
    for status in ["200", "201", "409", "507"] {
        assert!(replies.contains_key(status), "the commit's {status}");
    }
    assert!(
        spec.operation(&reqwest::Method::GET, "/v1/openapi.json")
            .is_some()
    );
    // The guard stands in front of it like every route.
    let response = agent
        .http
        .get(format!("{}/v1/openapi.json", agent.url))
        .header("host", "evil.example")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 403);
    agent.stop().await;
}

#[tokio::test]
async fn bad_input_gets_a_clear_error_body_and_never_a_panic() {
    let register = Register::new();
    let agent = Agent::start(register.config(&unreachable_url())).await;
    let check = agent.open_check().await;
    let lines = format!("{}/v1/checks/{check}/lines", agent.url);

    let response = agent
        .http
        .post(&lines)
        .header("content-type", "application/json")
        .body("{\"sku\": ")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 400);
    let body: ErrorBody = response.json().await.unwrap();
    assert_eq!(body.error, "bad_request");

    let response = agent.http.post(&lines).body("{}").send().await.unwrap();
    assert_eq!(response.status().as_u16(), 415);
    assert!(response.json::<ErrorBody>().await.is_ok());

    for quantity in [json!(0), json!(-1), json!(1.5), json!("abc")] {
        let (status, body) = agent.add_line(&check, "4601", quantity.clone(), 100).await;
        assert_eq!(
            status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "quantity {quantity}: {body}"
        );
        assert!(
            body["message"].as_str().unwrap().contains("quantity"),
            "{body}"
        );
    }
    let (status, body) = agent
        .add_line(&check, "4601", json!(1), 10_000_000_000_000)
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        body["message"].as_str().unwrap().contains("unit_price"),
        "{body}"
    );
    let (status, body) = agent
        .add_line(&check, "4601", json!(100_000), 1_000_000_000_000)
        .await;
    assert_eq!(
        (status, error_code(&body)),
        (StatusCode::UNPROCESSABLE_ENTITY, "validation")
    );
    let (status, _) = agent.add_line(&check, "4601", json!(1), -5).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    let (status, _) = agent
        .post(
            &format!("/v1/checks/{check}/lines"),
            Some(json!({"sku": "", "name": "x", "quantity": 1, "unit_price": 1})),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);

    let (status, body) = agent.commit(&check).await;
    assert_eq!(
        (status, error_code(&body)),
        (StatusCode::UNPROCESSABLE_ENTITY, "empty_check")
    );

    let unknown = uuid::Uuid::now_v7();
    let (status, body) = agent
        .call(reqwest::Method::GET, &format!("/v1/checks/{unknown}"), None)
        .await;
    assert_eq!(
        (status, error_code(&body)),
        (StatusCode::NOT_FOUND, "check_not_found")
    );
    let (status, body) = agent
        .call(reqwest::Method::GET, "/v1/checks/not-a-uuid", None)
        .await;
    assert_eq!(
        (status, error_code(&body)),
        (StatusCode::BAD_REQUEST, "bad_request")
    );
    let (status, body) = agent.call(reqwest::Method::GET, "/v2/nothing", None).await;
    assert_eq!(
        (status, error_code(&body)),
        (StatusCode::NOT_FOUND, "not_found")
    );

    let customer = format!("/v1/checks/{check}/customer");
    let put = |body: Value| agent.call(reqwest::Method::PUT, &customer, Some(body));
    let (status, body) = put(json!({"token": "LT1AAAA"})).await;
    assert_eq!(
        (status, error_code(&body)),
        (StatusCode::UNPROCESSABLE_ENTITY, "token_rejected")
    );
    let foreign = CustomerToken::new(
        MerchantId::new(1).unwrap(),
        CustomerId::new(42).unwrap(),
        Utc::now(),
        300,
        1,
    )
    .issue(&SigningKey::from_seed(&[9; 32]).unwrap());
    let (status, body) = put(json!({ "token": foreign })).await;
    assert_eq!(
        (status, error_code(&body)),
        (StatusCode::UNPROCESSABLE_ENTITY, "token_rejected")
    );
    let (status, body) = put(json!({"card": "123"})).await;
    assert_eq!(
        (status, error_code(&body)),
        (StatusCode::UNPROCESSABLE_ENTITY, "validation")
    );
    let card = Ean13::card_for(CustomerId::new(5).unwrap());
    let (status, body) = put(json!({ "card": card.as_str() })).await;
    assert_eq!(
        (status, error_code(&body)),
        (StatusCode::NOT_FOUND, "customer_not_found")
    );
    let (status, body) = put(json!({"phone": "+7 916 123-45-67"})).await;
    assert_eq!(
        (status, error_code(&body)),
        (StatusCode::NOT_FOUND, "customer_not_found")
    );
    let (status, body) = put(json!({"card": "1", "phone": "2"})).await;
    assert!(status.is_client_error(), "{status}");
    assert_eq!(
        error_code(&body),
        "bad_request",
        "exactly one way to identify: {body}"
    );

    assert_eq!(agent.status().await["last_seq"], Value::Null);
    agent.stop().await;
}

#[tokio::test]
async fn a_valid_token_identifies_even_an_uncached_customer_until_it_expires() {
    let register = Register::new();
    let now = Utc::now();
    let token = CustomerToken::new(
        MerchantId::new(1).unwrap(),
        CustomerId::new(42).unwrap(),
        now,
        300,
        7,
    )
    .issue(&server_key());

    let agent = Agent::start(register.config(&unreachable_url())).await;
    let check = agent.open_check().await;
    agent.add_line(&check, "4601", json!(1), 5000).await;
    let (status, view) = agent.attach(&check, json!({ "token": token })).await;
    assert_eq!(status, StatusCode::OK, "{view}");
    assert_eq!(view["customer"]["name"], "Customer #42");
    assert_eq!(view["customer"]["identified_by"], "token");
    let (status, _) = agent.commit(&check).await;
    assert_eq!(status, StatusCode::CREATED);
    agent.stop().await;
    let records = register.verified_outbox();
    assert_eq!(records[0].customer.map(|c| c.id.get()), Some(42));

    let later = Arc::new(FixedClock(now + chrono::TimeDelta::hours(1)));
    let agent = Agent::start_with_clock(register.config(&unreachable_url()), later).await;
    let check = agent.open_check().await;
    let (status, body) = agent.attach(&check, json!({ "token": token })).await;
    assert_eq!(
        (status, error_code(&body)),
        (StatusCode::UNPROCESSABLE_ENTITY, "token_rejected")
    );
    assert!(
        body["message"].as_str().unwrap().contains("expired"),
        "{body}"
    );
    agent.stop().await;
}

#[tokio::test]
async fn scans_identify_customers_on_the_latest_check_and_pass_products_to_the_till() {
    let register = Register::new();
    let (scanner, scans) = tokio::sync::mpsc::channel(8);
    let agent = Agent::start_with(
        register.config(&unreachable_url()),
        Arc::new(pos_agent::SystemClock),
        vec![ScannerSource::Channel(scans)],
    )
    .await;
    let mut events = agent
        .http
        .get(format!("{}/v1/events", agent.url))
        .send()
        .await
        .unwrap();
    let scan = |text: &str| hardware::Scan::now("test-scanner", None, text);

    scanner.send(scan("4601234567893")).await.unwrap();
    let event = next_event(&mut events, "product_scanned").await;
    assert_eq!(event["code"], "4601234567893");
    assert_eq!(event["source"], "test-scanner");

    agent.open_check().await;
    let latest = agent.open_check().await;
    let token = CustomerToken::new(
        MerchantId::new(1).unwrap(),
        CustomerId::new(42).unwrap(),
        Utc::now(),
        300,
        3,
    )
    .issue(&server_key());
    scanner.send(scan(&token)).await.unwrap();
    let event = next_event(&mut events, "customer_identified").await;
    assert_eq!(event["check_id"], latest.as_str());
    assert_eq!(event["customer"]["id"], 42);
    let (_, view) = agent
        .call(reqwest::Method::GET, &format!("/v1/checks/{latest}"), None)
        .await;
    assert_eq!(view["customer"]["identified_by"], "token");

    scanner.send(scan(&token.replace('A', "B"))).await.unwrap();
    let event = next_event(&mut events, "scan_rejected").await;
    assert!(
        event["reason"].as_str().unwrap().contains("token"),
        "{event}"
    );
    let card = Ean13::card_for(CustomerId::new(5).unwrap());
    scanner.send(scan(card.as_str())).await.unwrap();
    let event = next_event(&mut events, "scan_rejected").await;
    assert!(
        event["reason"].as_str().unwrap().contains("unknown card"),
        "{event}"
    );

    agent.stop().await;
}

#[tokio::test]
async fn records_survive_a_restart_and_seq_continues_densely() {
    let register = Register::new();
    let url = unreachable_url();
    let agent = Agent::start(register.config(&url)).await;
    assert_eq!(agent.sell("a", 100).await, 1);
    assert_eq!(agent.sell("b", 200).await, 2);
    agent.stop().await;

    let agent = Agent::start(register.config(&url)).await;
    assert_eq!(agent.status().await["last_seq"], 2);
    assert_eq!(agent.sell("c", 300).await, 3);
    agent.stop().await;

    let totals: Vec<i64> = register
        .verified_outbox()
        .iter()
        .map(|r| r.total.minor())
        .collect();
    assert_eq!(totals, [100, 200, 300]);
}

// ---------------------------------------------------------------------------
// A fake sync server.

/// How the fake answers the next upload.
#[derive(Clone, Copy, Debug)]
enum UploadReply {
    /// 409 with this expected seq.
    Conflict(i64),
    /// 503 with `Retry-After` in seconds.
    Busy(u64),
}

#[derive(Default)]
struct Fake {
    /// Replies to the next uploads; acks when empty.
    upload_script: VecDeque<UploadReply>,
    /// Each upload's records, with when it arrived.
    batches: Vec<(Instant, Vec<SignedRecord>)>,
    /// Bad auth headers seen.
    bad_auth: usize,
    /// The release served on every ruleset poll, if any.
    ruleset: Option<SignedRuleset>,
    ruleset_polls: usize,
    /// Pages served for `after` = 0.
    customers: Vec<CustomerSnapshot>,
    /// The page served for `after` = 1, once set.
    second_page: Option<CustomerDeltaPage>,
    enrollments: Vec<Value>,
}

type FakeState = Arc<Mutex<Fake>>;

async fn fake_server(fake: FakeState) -> String {
    let app = axum::Router::new()
        .route("/api/v1/records", axum::routing::post(fake_upload))
        .route("/api/v1/ruleset", axum::routing::get(fake_ruleset))
        .route(
            "/api/v1/customers/changes",
            axum::routing::get(fake_customers),
        )
        .route("/api/v1/registers/enroll", axum::routing::post(fake_enroll))
        .with_state(fake);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr: SocketAddr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    format!("http://{addr}")
}

fn authorised(headers: &HeaderMap) -> bool {
    headers.get("authorization").and_then(|v| v.to_str().ok()) == Some("Bearer 3.s3cret")
        && headers
            .get("x-loyalty-protocol")
            .and_then(|v| v.to_str().ok())
            == Some("1")
}

async fn fake_upload(
    State(fake): State<FakeState>,
    headers: HeaderMap,
    Json(batch): Json<UploadBatch>,
) -> Response {
    let mut fake = fake.lock().unwrap();
    if !authorised(&headers) {
        fake.bad_auth += 1;
    }
    let last = batch.records.last().map(|r| r.seq);
    let head_hash = batch.records.last().map_or(Hash256::GENESIS, |r| {
        shared::crypto::sha256(&shared::crypto::from_base64(&r.body).unwrap())
    });
    fake.batches.push((Instant::now(), batch.records));
    match fake.upload_script.pop_front() {
        Some(UploadReply::Conflict(expected)) => (
            StatusCode::CONFLICT,
            Json(ErrorBody {
                error: "seq_gap".into(),
                message: "batch does not link to the stored head".into(),
                expected_seq: Some(Seq::new(expected).unwrap()),
                faults: vec![],
            }),
        )
            .into_response(),
        Some(UploadReply::Busy(secs)) => (
            StatusCode::SERVICE_UNAVAILABLE,
            [("retry-after", secs.to_string())],
            "busy",
        )
            .into_response(),
        None => Json(UploadAck {
            acked_through: last,
            head_hash,
            server_time: Utc::now(),
        })
        .into_response(),
    }
}

async fn fake_ruleset(State(fake): State<FakeState>) -> Response {
    let served = {
        let mut fake = fake.lock().unwrap();
        fake.ruleset_polls += 1;
        fake.ruleset.clone()
    };
    match served {
        Some(signed) => Json(signed).into_response(),
        None => {
            tokio::time::sleep(Duration::from_millis(100)).await;
            StatusCode::NO_CONTENT.into_response()
        }
    }
}

async fn fake_customers(
    State(fake): State<FakeState>,
    Query(q): Query<Vec<(String, String)>>,
) -> Response {
    let after = q.iter().find(|(k, _)| k == "after").map(|(_, v)| v.clone());
    if after.as_deref() == Some("0") {
        let customers = fake.lock().unwrap().customers.clone();
        if !customers.is_empty() {
            return Json(CustomerDeltaPage {
                next_cursor: 1,
                customers,
                more: false,
                stored_through: None,
                phone_salt: Some(FAKE_SALT.to_owned()),
            })
            .into_response();
        }
    }
    let second = fake.lock().unwrap().second_page.clone();
    if let (Some("1"), Some(page)) = (after.as_deref(), second) {
        return Json(page).into_response();
    }
    tokio::time::sleep(Duration::from_millis(100)).await;
    StatusCode::NO_CONTENT.into_response()
}

async fn fake_enroll(State(fake): State<FakeState>, Json(request): Json<Value>) -> Response {
    let mut fake = fake.lock().unwrap();
    if fake
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
    fake.enrollments.push(request);
    Json(EnrollResponse {
        register_id: RegisterId::new(3).unwrap(),
        merchant_id: MerchantId::new(1).unwrap(),
        store_id: StoreId::new(2).unwrap(),
        store_name: "Тверская".into(),
        store_timezone: "Europe/Moscow".parse().expect("a known zone"),
        store_brand: None,
        currency: Currency::RUB,
        register_secret: "s3cret".into(),
        server_public_key: server_key().public_key(),
        server_recovery_key: None,
        key_seq: shared::keys::ChainSeq::default(),
    })
    .into_response()
}

/// Commits `n` sales with the server unreachable, so the outbox holds them.
async fn offline_sales(register: &Register, n: usize) {
    let agent = Agent::start(register.config(&unreachable_url())).await;
    for i in 0..n {
        agent.sell("4601", 100 * (i as i64 + 1)).await;
    }
    agent.stop().await;
}

fn seqs(batch: &[SignedRecord]) -> Vec<i64> {
    batch.iter().map(|r| r.seq.get()).collect()
}

#[tokio::test]
async fn the_outbox_uploads_in_order_when_the_server_returns_and_commits_wake_the_uploader() {
    let register = Register::new();
    offline_sales(&register, 3).await;
    let fake = FakeState::default();
    let url = fake_server(Arc::clone(&fake)).await;

    let agent = Agent::start(register.config(&url)).await;
    agent
        .wait_for_status("the backlog acked", |s| s["acked_seq"] == 3)
        .await;
    // The upload interval is a minute: only the commit can wake the uploader.
    agent.sell("4602", 500).await;
    let status = agent
        .wait_for_status("the new sale acked", |s| s["acked_seq"] == 4)
        .await;
    assert_eq!(status["outbox_pending"], 0);
    assert_eq!(status["server_reachable"], true);
    agent.stop().await;

    let fake = fake.lock().unwrap();
    assert_eq!(fake.bad_auth, 0);
    let uploaded: Vec<SignedRecord> = fake.batches.iter().flat_map(|(_, b)| b.clone()).collect();
    let records = verify_chain(&uploaded, &register.public_key);
    assert_eq!(records.len(), 4);
}

#[tokio::test]
async fn a_conflict_with_expected_seq_rewinds_the_uploader() {
    let register = Register::new();
    offline_sales(&register, 3).await;
    let fake = FakeState::default();
    fake.lock()
        .unwrap()
        .upload_script
        .push_back(UploadReply::Conflict(3));
    let url = fake_server(Arc::clone(&fake)).await;

    let agent = Agent::start(register.config(&url)).await;
    agent
        .wait_for_status("acked through 3", |s| s["acked_seq"] == 3)
        .await;
    agent.stop().await;

    let fake = fake.lock().unwrap();
    let batches: Vec<Vec<i64>> = fake.batches.iter().map(|(_, b)| seqs(b)).collect();
    assert_eq!(batches, [vec![1, 2, 3], vec![3]]);
}

#[tokio::test]
async fn a_busy_server_is_retried_after_its_retry_after() {
    let register = Register::new();
    offline_sales(&register, 2).await;
    let fake = FakeState::default();
    fake.lock()
        .unwrap()
        .upload_script
        .push_back(UploadReply::Busy(1));
    let url = fake_server(Arc::clone(&fake)).await;

    let agent = Agent::start(register.config(&url)).await;
    let status = agent
        .wait_for_status("acked through 2", |s| s["acked_seq"] == 2)
        .await;
    assert_eq!(status["last_sync_error"], Value::Null);
    agent.stop().await;

    let fake = fake.lock().unwrap();
    assert_eq!(fake.batches.len(), 2, "one refused, one acked");
    let waited = fake.batches[1].0 - fake.batches[0].0;
    assert!(
        waited >= Duration::from_millis(950),
        "retried after {waited:?}"
    );
    assert_eq!(seqs(&fake.batches[1].1), [1, 2]);
}

fn release(version: i64, percent: u32) -> RulesetRelease {
    RulesetRelease {
        merchant_id: MerchantId::new(1).unwrap(),
        version: RulesetVersion::new(version).unwrap(),
        effective_from: Utc::now(),
        schema_version: SCHEMA_VERSION,
        min_agent_version: "0.1.0".into(),
        ruleset: Ruleset {
            currency: Currency::RUB,
            programme: Programme::default(),
            promotions: vec![Promotion {
                id: shared::ids::PromotionId::parse("milk").unwrap(),
                name: "Milk".into(),
                description: String::new(),
                target: Target::Skus {
                    skus: vec![shared::ids::Sku::parse("4601").unwrap()],
                },
                reward: Reward::PercentOff {
                    percent: BasisPoints::new(percent).unwrap(),
                    apply: Apply::Each,
                },
                starts_at: None,
                ends_at: None,
                stores: vec![],
                priority: 0,
                combines_with_tier: false,
                funded_by: None,
                exclude: Default::default(),
                conditions: Default::default(),
                limits: Default::default(),
                group: None,
                coupon: None,
                holdout: None,
            }],
        },
    }
}

async fn priced_discount(agent: &Agent) -> Value {
    let check = agent.open_check().await;
    let (_, view) = agent.add_line(&check, "4601", json!(1), 10_000).await;
    agent
        .post(&format!("/v1/checks/{check}/cancel"), None)
        .await;
    view["pricing"]["discount"].clone()
}

async fn wait_for_polls(fake: &FakeState, more_than: usize) {
    let deadline = Instant::now() + WAIT;
    while fake.lock().unwrap().ruleset_polls <= more_than {
        assert!(Instant::now() < deadline, "the agent stopped polling");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Reads server-sent events until one of type `name` arrives.
async fn next_event(events: &mut reqwest::Response, name: &str) -> Value {
    let mut events = SseReader::new(events);
    loop {
        let (event, data) = events.next().await;
        if event == name {
            return data;
        }
    }
}

/// Server-sent events of `GET /v1/events`, one at a time, in order.
struct SseReader<'a> {
    response: &'a mut reqwest::Response,
    /// Bytes received, so a character split across chunks stays whole.
    buffer: Vec<u8>,
}

impl<'a> SseReader<'a> {
    fn new(response: &'a mut reqwest::Response) -> Self {
        Self {
            response,
            buffer: Vec::new(),
        }
    }

    /// The next event's name and JSON data.
    async fn next(&mut self) -> (String, Value) {
        loop {
            while let Some(end) = self.buffer.windows(2).position(|w| w == b"\n\n") {
                let frame: Vec<u8> = self.buffer.drain(..end + 2).collect();
                let frame = String::from_utf8(frame).unwrap();
                let name = frame.lines().find_map(|l| l.strip_prefix("event: "));
                let data = frame.lines().find_map(|l| l.strip_prefix("data: "));
                if let (Some(name), Some(data)) = (name, data) {
                    return (name.to_owned(), serde_json::from_str(data).unwrap());
                }
            }
            let chunk = tokio::time::timeout(WAIT, self.response.chunk())
                .await
                .expect("an event in time")
                .unwrap()
                .expect("the stream stays open");
            self.buffer.extend_from_slice(&chunk);
        }
    }
}

#[tokio::test]
async fn newer_signed_rulesets_activate_without_restart_and_bad_ones_are_refused() {
    let register = Register::new();
    let fake = FakeState::default();
    let url = fake_server(Arc::clone(&fake)).await;
    let agent = Agent::start(register.config(&url)).await;
    assert_eq!(priced_discount(&agent).await, 0);

    let mut events = agent
        .http
        .get(format!("{}/v1/events", agent.url))
        .send()
        .await
        .unwrap();
    fake.lock().unwrap().ruleset = Some(release(2, 1000).seal(&server_key()).unwrap());
    let event = next_event(&mut events, "ruleset_activated").await;
    assert_eq!(event, json!({"type": "ruleset_activated", "version": 2}));
    assert_eq!(agent.status().await["ruleset_version"], 2);
    assert_eq!(priced_discount(&agent).await, 1000);

    let refused = [
        release(1, 2000).seal(&server_key()).unwrap(),
        release(3, 3000)
            .seal(&SigningKey::from_seed(&[1; 32]).unwrap())
            .unwrap(),
        {
            let mut truncated = release(4, 4000).seal(&server_key()).unwrap();
            truncated.body.truncate(truncated.body.len() - 8);
            truncated
        },
    ];
    for signed in refused {
        let polls = {
            let mut fake = fake.lock().unwrap();
            fake.ruleset = Some(signed);
            fake.ruleset_polls
        };
        wait_for_polls(&fake, polls + 1).await;
        assert_eq!(agent.status().await["ruleset_version"], 2);
        assert_eq!(priced_discount(&agent).await, 1000);
    }
    agent.stop().await;

    fake.lock().unwrap().ruleset = None;
    let agent = Agent::start(register.config(&url)).await;
    assert_eq!(
        agent.status().await["ruleset_version"],
        2,
        "the last good ruleset is stored"
    );
    assert_eq!(priced_discount(&agent).await, 1000);
    agent.stop().await;
}

#[tokio::test]
async fn customer_changes_fill_the_cache_for_card_and_phone_lookups() {
    let register = Register::new();
    let fake = FakeState::default();
    let id = CustomerId::new(5).unwrap();
    fake.lock().unwrap().customers = vec![CustomerSnapshot {
        id,
        name: "Анна".into(),
        card_number: Ean13::card_for(id),
        phone_hash: Some(
            shared::identity::PhoneNumber::parse("+79161234567")
                .unwrap()
                .salted_hash(FAKE_SALT),
        ),
        lifetime_spend: Money::from_minor(100_000).unwrap(),
        points_balance: 250,
        tokens_valid_after: None,
        gender: Default::default(),
        birthday: None,
        age: None,
        purchases: Some(4),
        tags: vec![],
        promotion_uses: Default::default(),
        last_birthday_bonus: None,
        window_spend: None,
        window_spend_leaving: vec![],
        points_pending: vec![],
        points_expiring: vec![],
    }];
    let url = fake_server(Arc::clone(&fake)).await;
    let agent = Agent::start(register.config(&url)).await;
    agent
        .wait_for_status("the customer cached", |s| s["cached_customers"] == 1)
        .await;

    let check = agent.open_check().await;
    let customer = format!("/v1/checks/{check}/customer");
    for (body, how) in [
        (json!({"card": Ean13::card_for(id).as_str()}), "card"),
        (json!({"phone": "8 (916) 123-45-67"}), "phone"),
    ] {
        let (status, view) = agent
            .call(reqwest::Method::PUT, &customer, Some(body))
            .await;
        assert_eq!(status, StatusCode::OK, "{view}");
        assert_eq!(view["customer"]["name"], "Анна");
        assert_eq!(view["customer"]["points_balance"], 250);
        assert_eq!(view["customer"]["identified_by"], how);
    }
    let (status, view) = agent.call(reqwest::Method::DELETE, &customer, None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(view["customer"], Value::Null);
    agent.stop().await;
}

fn mode(path: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

#[tokio::test]
async fn enrollment_writes_a_private_key_and_config_and_refuses_reuse() {
    let fake = FakeState::default();
    let url = fake_server(Arc::clone(&fake)).await;
    let dir = tempfile::tempdir().unwrap();
    let data_dir: PathBuf = dir.path().join("agent");

    let config = pos_agent::enroll(&url, "one-time", &data_dir)
        .await
        .unwrap();
    assert_eq!(config.sync.register_id.get(), 3);
    assert_eq!(config.sync.server_public_key, server_key().public_key());
    let key_path = data_dir.join("register.pk8");
    assert_eq!(mode(&key_path), 0o600);
    assert_eq!(mode(&data_dir.join("agent.toml")), 0o600);
    let key = SigningKey::from_pkcs8(&std::fs::read(&key_path).unwrap()).unwrap();
    let sent = fake.lock().unwrap().enrollments[0]["public_key"].clone();
    assert_eq!(sent, json!(key.public_key().to_base64()));
    let loaded = AgentConfig::load(&data_dir, None).unwrap();
    assert_eq!(loaded.sync.url, url);
    assert_eq!(loaded.register.store_id.get(), 2);

    let err = pos_agent::enroll(&url, "another", &data_dir)
        .await
        .unwrap_err();
    assert!(
        err.to_string().contains("already holds an enrollment"),
        "{err}"
    );

    let fresh = dir.path().join("fresh");
    let err = pos_agent::enroll(&url, "one-time", &fresh)
        .await
        .unwrap_err();
    assert!(
        err.to_string().contains("enrollment token already used"),
        "{err:#}"
    );
    assert!(!fresh.join("register.pk8").exists());

    // The enrolled register runs from what enrollment wrote.
    let agent = Agent::start(loaded).await;
    assert_eq!(agent.sell("4601", 100).await, 1);
    agent
        .wait_for_status("the sale uploaded", |s| s["acked_seq"] == 1)
        .await;
    agent.stop().await;

    // Enrolling again keeps the old database aside, the new register starts afresh.
    let again = ExistingEnrollment::Replace;
    pos_agent::enroll_with(&url, "second", &data_dir, again)
        .await
        .unwrap();
    let new_key = SigningKey::from_pkcs8(&std::fs::read(&key_path).unwrap()).unwrap();
    assert_ne!(new_key.public_key(), key.public_key());
    let retired = std::fs::read_dir(&data_dir)
        .unwrap()
        .filter_map(Result::ok)
        .any(|e| {
            e.file_name()
                .to_string_lossy()
                .starts_with("agent.db.retired-")
        });
    assert!(retired, "the old database is kept");
    assert!(!data_dir.join("agent.db").exists());
}

#[tokio::test]
async fn enrolling_again_never_abandons_records_the_server_lacks() {
    let fake = FakeState::default();
    let url = fake_server(Arc::clone(&fake)).await;
    let dir = tempfile::tempdir().unwrap();
    let config = pos_agent::enroll(&url, "first", dir.path()).await.unwrap();
    let mut offline = config.clone();
    offline.sync.url = unreachable_url();
    let agent = Agent::start(offline).await;
    agent.sell("4601", 100).await;
    agent.stop().await;

    let err = pos_agent::enroll_with(&url, "second", dir.path(), ExistingEnrollment::Replace)
        .await
        .unwrap_err();
    assert!(
        err.to_string().contains("have not reached the server"),
        "{err}"
    );
    assert_eq!(
        fake.lock().unwrap().enrollments.len(),
        1,
        "the token is not spent"
    );
}

/// A programme with points paid as money and a coupon promotion limited to
/// one use per customer.
fn loyalty_release(version: i64) -> RulesetRelease {
    let ruleset: Ruleset = serde_json::from_value(json!({
        "currency": "RUB",
        "programme": {
            "tiers": [{"name": "Base", "min_lifetime_spend": 0, "discount": 0}],
            "earn": {"per": 10_000, "points": 1},
            "redemption": {"points": 1, "value": 100, "max_share": 5_000, "min_balance": 100}
        },
        "promotions": [{
            "id": "save10", "name": "Купон −10%",
            "target": {"kind": "basket"},
            "reward": {"kind": "percent_off", "percent": 1_000},
            "coupon": "SAVE10",
            "limits": {"per_customer": 1}
        }]
    }))
    .unwrap();
    RulesetRelease {
        ruleset,
        ..release(version, 1)
    }
}

fn anna(id: CustomerId, name: &str, points: i64) -> CustomerSnapshot {
    CustomerSnapshot {
        id,
        name: name.into(),
        card_number: Ean13::card_for(id),
        phone_hash: None,
        lifetime_spend: Money::from_minor(100_000).unwrap(),
        points_balance: points,
        tokens_valid_after: None,
        gender: shared::identity::Gender::Female,
        birthday: None,
        age: None,
        purchases: Some(4),
        tags: vec![],
        promotion_uses: Default::default(),
        last_birthday_bonus: None,
        window_spend: None,
        window_spend_leaving: vec![],
        points_pending: vec![],
        points_expiring: vec![],
    }
}

/// A fake server with the loyalty programme (v1) and Анна with 300 points.
fn loyal_customer_fake() -> (FakeState, CustomerId) {
    let fake = FakeState::default();
    let id = CustomerId::new(5).unwrap();
    {
        let mut fake = fake.lock().unwrap();
        fake.ruleset = Some(loyalty_release(1).seal(&server_key()).unwrap());
        fake.customers = vec![anna(id, "Анна", 300)];
    }
    (fake, id)
}

/// The server stored a sale but its reply was lost, so the till never saw
/// the acknowledgement; a snapshot that already counts the sale must not
/// be added to the sale's pending effect. The page says what it counts.
#[tokio::test]
async fn a_snapshot_counting_an_unacknowledged_sale_settles_it_once() {
    let register = Register::new();
    let (fake, id) = loyal_customer_fake();
    // Every upload "fails"; the till never sees an acknowledgement.
    fake.lock().unwrap().upload_script = std::iter::repeat_n(UploadReply::Busy(600), 10).collect();
    let url = fake_server(Arc::clone(&fake)).await;
    let agent = Agent::start(register.config(&url)).await;
    agent.wait_for_ruleset_and_customer().await;
    let card = json!({"card": Ean13::card_for(id).as_str()});
    let check = agent.open_check().await;
    agent.add_line(&check, "4601", json!(2), 10_000).await;
    agent.attach(&check, card.clone()).await;
    let (status, committed) = agent.commit(&check).await;
    assert_eq!(status, StatusCode::CREATED, "{committed}");
    assert_eq!(committed["pricing"]["points_earned"], 2);
    let seq = committed["seq"].as_i64().unwrap();

    let standing = || async {
        let check = agent.open_check().await;
        let (_, view) = agent.attach(&check, card.clone()).await;
        agent
            .post(&format!("/v1/checks/{check}/cancel"), None)
            .await;
        view["customer"].clone()
    };
    assert_eq!(
        standing().await["points_balance"],
        302,
        "snapshot + pending"
    );

    // The server stored the sale (its snapshot counts the 2 points) and
    // says so; the name changes too, so the test sees the page arrive.
    fake.lock().unwrap().second_page = Some(CustomerDeltaPage {
        next_cursor: 2,
        customers: vec![anna(id, "Аня", 302)],
        more: false,
        stored_through: Some(Seq::new(seq).unwrap()),
        phone_salt: Some(FAKE_SALT.to_owned()),
    });
    let deadline = Instant::now() + WAIT;
    let customer = loop {
        let customer = standing().await;
        if customer["name"] == "Аня" || Instant::now() > deadline {
            break customer;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(customer["name"], "Аня", "{customer}");
    assert_eq!(customer["points_balance"], 302, "counted once: {customer}");
    assert_eq!(
        agent.status().await["outbox_pending"],
        1,
        "still unacknowledged"
    );
    agent.stop().await;
}

/// A promotion holding out half of the customers: offline, the till
/// prices a held-out customer without it (and says why), an exposed
/// customer and an anonymous check with it, from the ids it holds; the
/// records say the same.
#[tokio::test]
async fn a_held_out_customer_is_priced_without_the_promotion_offline() {
    let promotion = shared::ids::PromotionId::parse("milk-holdout").unwrap();
    let half = BasisPoints::new(5_000).unwrap();
    let ids = (6..).map(|n| CustomerId::new(n).unwrap());
    let held = ids
        .clone()
        .find(|&c| shared::holdout::is_held_out(c, &promotion, half))
        .unwrap();
    let exposed = ids
        .clone()
        .find(|&c| !shared::holdout::is_held_out(c, &promotion, half))
        .unwrap();
    let fake = FakeState::default();
    {
        let mut fake = fake.lock().unwrap();
        let ruleset: Ruleset = serde_json::from_value(json!({
            "currency": "RUB",
            "programme": {},
            "promotions": [{
                "id": "milk-holdout", "name": "Молоко −10%",
                "target": {"kind": "skus", "skus": ["4601"]},
                "reward": {"kind": "percent_off", "percent": 1_000},
                "holdout": 5_000
            }]
        }))
        .unwrap();
        fake.ruleset = Some(
            RulesetRelease {
                ruleset,
                ..release(1, 1)
            }
            .seal(&server_key())
            .unwrap(),
        );
        fake.customers = vec![anna(held, "Анна", 0), anna(exposed, "Вера", 0)];
    }
    let register = Register::new();
    let url = fake_server(Arc::clone(&fake)).await;
    let agent = Agent::start(register.config(&url)).await;
    agent
        .wait_for_status("ruleset and customers", |s| {
            s["ruleset_version"] == 1 && s["cached_customers"] == 2
        })
        .await;
    agent.stop().await;

    // Offline from here on.
    let agent = Agent::start(register.config(&unreachable_url())).await;
    let sell = |customer: Option<CustomerId>| {
        let agent = &agent;
        async move {
            let check = agent.open_check().await;
            agent.add_line(&check, "4601", json!(1), 10_000).await;
            if let Some(c) = customer {
                agent
                    .attach(&check, json!({"card": Ean13::card_for(c).as_str()}))
                    .await;
            }
            let (status, committed) = agent.commit(&check).await;
            assert_eq!(status, StatusCode::CREATED, "{committed}");
            committed["pricing"].clone()
        }
    };
    let priced = sell(Some(held)).await;
    assert_eq!(priced["discount"], 0, "{priced}");
    assert_eq!(priced["blocked"][0]["rule"]["id"], "milk-holdout");
    assert_eq!(
        priced["blocked"][0]["reason"],
        json!({"code": "condition_not_met", "condition": "held_out"})
    );
    assert_eq!(sell(Some(exposed)).await["discount"], 1_000);
    assert_eq!(sell(None).await["discount"], 1_000, "anonymous: no holdout");
    agent.stop().await;
    let records = register.verified_outbox();
    let discounts: Vec<(Option<CustomerId>, i64)> = records
        .iter()
        .map(|r| (r.customer.map(|c| c.id), r.discount.minor()))
        .collect();
    assert_eq!(
        discounts,
        [(Some(held), 0), (Some(exposed), 1_000), (None, 1_000)]
    );
    assert!(records[0].applied.is_empty());
}

#[tokio::test]
async fn coupons_points_and_returns_work_offline_from_the_outbox() {
    let register = Register::new();
    let (fake, id) = loyal_customer_fake();
    let url = fake_server(Arc::clone(&fake)).await;
    let agent = Agent::start(register.config(&url)).await;
    agent.wait_for_ruleset_and_customer().await;
    agent.stop().await;

    // Offline from here on.
    let agent = Agent::start(register.config(&unreachable_url())).await;
    let check = agent.open_check().await;
    let path = |what: &str| format!("/v1/checks/{check}/{what}");
    agent.add_line(&check, "4601", json!(3), 10_000).await;
    agent.add_line(&check, "4602", json!(1), 20_000).await;
    let (status, body) = agent
        .post(&path("redeem"), Some(json!({"points": 50})))
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(error_code(&body), "no_customer");
    let card = json!({"card": Ean13::card_for(id).as_str()});
    let (status, _) = agent
        .call(reqwest::Method::PUT, &path("customer"), Some(card.clone()))
        .await;
    assert_eq!(status, StatusCode::OK);
    let (status, view) = agent
        .call(
            reqwest::Method::PUT,
            &path("coupons"),
            Some(json!({"codes": [" save10 "]})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{view}");
    assert_eq!(view["coupons"], json!(["save10"]));
    assert_eq!(view["pricing"]["discount"], 5_000, "10 % of 500.00");
    let (status, view) = agent
        .post(&path("redeem"), Some(json!({"points": 1_000})))
        .await;
    assert_eq!(status, StatusCode::OK, "{view}");
    // At most half of the 450.00 left to pay: 225 of the 300 points, at
    // 1.00 each, spread 135.00 and 90.00 over the lines.
    assert_eq!(view["pricing"]["points_redeemed"], 225);
    assert_eq!(view["pricing"]["total"], 22_500);
    let (status, committed) = agent.post(&path("commit"), None).await;
    assert_eq!(status, StatusCode::CREATED, "{committed}");
    let sale_seq = committed["seq"].as_i64().unwrap();
    assert_eq!(committed["pricing"]["points_redeemed"], 225);
    assert_eq!(committed["pricing"]["points_earned"], 2);

    // The coupon is used up for this customer on this till.
    let again = agent.open_check().await;
    agent.add_line(&again, "4601", json!(1), 10_000).await;
    agent.attach(&again, card.clone()).await;
    let (_, view) = agent
        .post(
            &format!("/v1/checks/{again}/coupons"),
            Some(json!({"code": "SAVE10"})),
        )
        .await;
    assert_eq!(view["pricing"]["discount"], 0);
    assert_eq!(
        view["pricing"]["blocked"][0]["reason"]["code"],
        "limit_reached"
    );
    assert_eq!(
        view["customer"]["points_balance"],
        300 - 225 + 2,
        "pending local effects count"
    );
    agent
        .post(&format!("/v1/checks/{again}/cancel"), None)
        .await;

    // One of the three 4601 back by SKU, then everything else by line.
    let (status, first) = agent
        .post(
            "/v1/returns",
            Some(json!({"original": {"register_id": 3, "seq": sale_seq},
                        "lines": [{"sku": "4601", "quantity": 1}]})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{first}");
    assert_eq!(first["refund"], 4_500, "a third of 135.00");
    assert_eq!(first["points_restored"], 45, "a third of 135");
    assert_eq!(first["points_clawed_back"], 0);
    let (status, rest) = agent
        .post(
            "/v1/returns",
            Some(json!({"original": {"record_id": committed["record_id"]},
                        "lines": [{"line_no": 0, "quantity": 2}, {"line_no": 1, "quantity": 1}]})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{rest}");
    assert_eq!(rest["refund"], 22_500 - 4_500);
    assert_eq!(rest["points_restored"], 225 - 45);
    assert_eq!(rest["points_clawed_back"], 2);
    assert_eq!(rest["uses_returned"], json!(["save10"]));
    let (status, body) = agent
        .post(
            "/v1/returns",
            Some(json!({"original": {"register_id": 3, "seq": sale_seq},
                        "lines": [{"line_no": 1, "quantity": 1}]})),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(error_code(&body), "return_refused");
    let (status, body) = agent
        .post(
            "/v1/returns",
            Some(json!({"original": {"register_id": 3, "seq": 99},
                        "lines": [{"line_no": 0, "quantity": 1}]})),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    assert_eq!(error_code(&body), "original_not_found");

    // Everything back: the balance and the coupon's use are restored.
    let last = agent.open_check().await;
    agent.add_line(&last, "4601", json!(1), 10_000).await;
    agent.attach(&last, card).await;
    let (_, view) = agent
        .call(
            reqwest::Method::PUT,
            &format!("/v1/checks/{last}/coupons"),
            Some(json!({"codes": ["SAVE10"]})),
        )
        .await;
    assert_eq!(view["customer"]["points_balance"], 300);
    assert_eq!(view["pricing"]["discount"], 1_000);
    agent.stop().await;

    let records = register.verified_outbox();
    assert_eq!(records.len(), 3);
    let moves: i64 = records
        .iter()
        .map(|r| r.points_earned - r.points_redeemed)
        .sum();
    assert_eq!(moves, 0);
}
