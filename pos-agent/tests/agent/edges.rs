//! The till's edges (issue 9): idempotent commits, who may call the local
//! API, limits on open checks, private files, JSON errors everywhere and
//! token revocation to the second. Each test drives the real agent over
//! HTTP on 127.0.0.1 port 0 with its database in a temporary directory.

use super::*;

/// Opens a check with one line.
async fn check_with_a_line(agent: &Agent) -> String {
    let check = agent.open_check().await;
    let (status, view) = agent.add_line(&check, "4601", json!(1), 8990).await;
    assert_eq!(status, StatusCode::CREATED, "{view}");
    check
}

async fn commit_sale(agent: &Agent, check: &str, sale_id: &str) -> (StatusCode, Value) {
    agent
        .post(
            &format!("/v1/checks/{check}/commit"),
            Some(json!({ "sale_id": sale_id })),
        )
        .await
}

#[tokio::test]
async fn a_commit_repeated_with_its_sale_id_answers_the_same_record_even_after_a_restart() {
    let register = Register::new();
    let agent = Agent::start(register.config(&unreachable_url())).await;
    let check = check_with_a_line(&agent).await;

    let (status, first) = commit_sale(&agent, &check, "till-7/000123").await;
    assert_eq!(status, StatusCode::CREATED, "{first}");
    assert_eq!(first["seq"], 1);
    assert_eq!(first["sale_id"], "till-7/000123");
    assert!(first["pricing"]["receipt"].is_object(), "{first}");

    // The reply was lost: the till asks again, and learns the same record.
    let (status, again) = commit_sale(&agent, &check, "till-7/000123").await;
    assert_eq!(status, StatusCode::OK, "{again}");
    assert_eq!(again, first, "same seq, same receipt");
    let (status, outcome) = agent
        .call(reqwest::Method::GET, "/v1/sales/till-7%2F000123", None)
        .await;
    assert_eq!(status, StatusCode::OK, "{outcome}");
    assert_eq!(outcome["committed"], first);
    assert_eq!(outcome["uploaded"], false);

    // A sale that never committed says so.
    let (status, body) = agent
        .call(reqwest::Method::GET, "/v1/sales/never-rung", None)
        .await;
    assert_eq!(
        (status, error_code(&body)),
        (StatusCode::NOT_FOUND, "sale_not_found")
    );

    // The same sale id on another check is a conflict, and that check
    // stays open.
    let other = check_with_a_line(&agent).await;
    let (status, body) = commit_sale(&agent, &other, "till-7/000123").await;
    assert_eq!(
        (status, error_code(&body)),
        (StatusCode::CONFLICT, "sale_id_conflict"),
        "{body}"
    );
    let (status, _) = agent
        .call(reqwest::Method::GET, &format!("/v1/checks/{other}"), None)
        .await;
    assert_eq!(status, StatusCode::OK, "the check stays open");

    // A bad sale id is a clear error, never a record.
    let (status, body) = commit_sale(&agent, &other, "").await;
    assert_eq!(
        (status, error_code(&body)),
        (StatusCode::UNPROCESSABLE_ENTITY, "validation"),
        "{body}"
    );

    // The agent was killed after the commit: the answer survives it.
    agent.stop().await;
    let agent = Agent::start(register.config(&unreachable_url())).await;
    let (status, after_restart) = commit_sale(&agent, &check, "till-7/000123").await;
    assert_eq!(status, StatusCode::OK, "{after_restart}");
    assert_eq!(after_restart, first);
    let (status, outcome) = agent
        .call(reqwest::Method::GET, "/v1/sales/till-7%2F000123", None)
        .await;
    assert_eq!((status, &outcome["committed"]), (StatusCode::OK, &first));
    agent.stop().await;

    assert_eq!(register.verified_outbox().len(), 1, "one sale, one record");
}

#[tokio::test]
async fn the_local_api_refuses_foreign_hosts_origins_media_types_and_callers_without_the_token() {
    let register = Register::new();
    let mut config = register.config(&unreachable_url());
    config.api.require_token = true;
    let agent = Agent::start(config).await;
    let port = agent.url.rsplit(':').next().unwrap().to_owned();
    let checks = format!("{}/v1/checks", agent.url);

    // Without the token nothing but the health check answers; once it
    // answers, the agent has made its token.
    let health = agent
        .http
        .get(format!("{}/health", agent.url))
        .send()
        .await
        .unwrap();
    assert_eq!(health.status().as_u16(), 200);
    let token_path = register.dir.path().join("api-token");
    assert_eq!(mode(&token_path), 0o600);
    let token = std::fs::read_to_string(&token_path)
        .unwrap()
        .trim()
        .to_owned();
    assert!(token.len() >= 32, "{token}");

    let refused = |response: reqwest::Response| async move {
        let status = response.status().as_u16();
        let body: ErrorBody = response.json().await.expect("a JSON error body");
        (status, body.error)
    };
    let send = |request: reqwest::RequestBuilder| async move { request.send().await.unwrap() };

    assert_eq!(
        refused(send(agent.http.post(&checks)).await).await,
        (401, "unauthorized".to_owned())
    );
    assert_eq!(
        refused(send(agent.http.post(&checks).bearer_auth("wrong")).await).await,
        (401, "unauthorized".to_owned())
    );
    let opened = send(agent.http.post(&checks).bearer_auth(&token)).await;
    assert_eq!(opened.status().as_u16(), 201);

    // DNS rebinding: a page at evil.example reaches 127.0.0.1 by name.
    let rebound = agent
        .http
        .post(&checks)
        .bearer_auth(&token)
        .header("host", format!("evil.example:{port}"));
    assert_eq!(
        refused(send(rebound).await).await,
        (403, "host_not_allowed".to_owned())
    );
    let by_name = agent
        .http
        .post(&checks)
        .bearer_auth(&token)
        .header("host", format!("localhost:{port}"));
    assert_eq!(send(by_name).await.status().as_u16(), 201);

    // A cross-site request from a browser.
    let cross_site = agent
        .http
        .post(&checks)
        .bearer_auth(&token)
        .header("origin", "https://evil.example");
    assert_eq!(
        refused(send(cross_site).await).await,
        (403, "origin_not_allowed".to_owned())
    );
    let same_origin = agent
        .http
        .post(&checks)
        .bearer_auth(&token)
        .header("origin", format!("http://127.0.0.1:{port}"));
    assert_eq!(send(same_origin).await.status().as_u16(), 201);

    // A text/plain body (what a cross-site form sends) is not JSON.
    let plain = agent
        .http
        .post(&checks)
        .bearer_auth(&token)
        .header("content-type", "text/plain")
        .body("{}");
    assert_eq!(
        refused(send(plain).await).await,
        (415, "unsupported_media_type".to_owned())
    );
    let untyped = agent.http.post(&checks).bearer_auth(&token).body("{}");
    assert_eq!(
        refused(send(untyped).await).await,
        (415, "unsupported_media_type".to_owned())
    );

    let status = send(
        agent
            .http
            .get(format!("{}/v1/status", agent.url))
            .bearer_auth(&token),
    )
    .await;
    let status: Value = status.json().await.unwrap();
    assert_eq!(status["last_seq"], Value::Null, "nothing was committed");
    agent.stop().await;
}

#[tokio::test]
async fn without_require_token_the_till_needs_no_token_but_hosts_are_still_checked() {
    let register = Register::new();
    let agent = Agent::start(register.config(&unreachable_url())).await;
    agent.open_check().await;
    let rebound = agent
        .http
        .post(format!("{}/v1/checks", agent.url))
        .header("host", "evil.example:8641")
        .send()
        .await
        .unwrap();
    assert_eq!(rebound.status().as_u16(), 403);
    agent.stop().await;
}

/// A clock the test moves by hand: its wall time, and its monotonic time
/// apart, as a wall clock can step without time passing.
struct ManualClock {
    wall: Mutex<DateTime<Utc>>,
    monotonic: Mutex<Duration>,
}

impl ManualClock {
    fn new() -> Self {
        Self {
            wall: Mutex::new(Utc::now()),
            monotonic: Mutex::new(Duration::ZERO),
        }
    }

    /// Time passes.
    fn advance(&self, secs: u64) {
        *self.wall.lock().unwrap() += chrono::TimeDelta::seconds(secs as i64);
        *self.monotonic.lock().unwrap() += Duration::from_secs(secs);
    }

    /// The wall clock steps; no time passes.
    fn step_wall(&self, by: chrono::TimeDelta) {
        *self.wall.lock().unwrap() += by;
    }
}

impl Clock for ManualClock {
    fn now(&self) -> DateTime<Utc> {
        *self.wall.lock().unwrap()
    }

    fn monotonic(&self) -> Duration {
        *self.monotonic.lock().unwrap()
    }
}

#[tokio::test]
async fn open_checks_are_capped_with_a_429_and_expire_when_left_untouched() {
    let register = Register::new();
    let mut config = register.config(&unreachable_url());
    config.api.max_open_checks = 3;
    config.api.check_idle_secs = 60;
    let clock = Arc::new(ManualClock::new());
    let agent = Agent::start_with_clock(config, Arc::clone(&clock) as Arc<dyn Clock>).await;

    let first = check_with_a_line(&agent).await;
    let second = agent.open_check().await;
    let third = agent.open_check().await;
    let (status, body) = agent.post("/v1/checks", None).await;
    assert_eq!(
        (status, error_code(&body)),
        (StatusCode::TOO_MANY_REQUESTS, "too_many_open_checks"),
        "{body}"
    );
    assert!(
        body["message"]
            .as_str()
            .unwrap()
            .contains("3 checks are open"),
        "{body}"
    );

    // Cancelling one makes room.
    let (status, _) = agent
        .post(&format!("/v1/checks/{third}/cancel"), None)
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let fourth = agent.open_check().await;

    // The wall clock stepping a year (NTP, a dead battery) expires nothing.
    clock.step_wall(chrono::TimeDelta::days(365));
    let (status, _) = agent
        .call(reqwest::Method::GET, &format!("/v1/checks/{second}"), None)
        .await;
    assert_eq!(status, StatusCode::OK, "a wall clock step is not idle time");

    // A check in use stays; the others expire once untouched for a minute.
    clock.advance(40);
    let (status, _) = agent
        .call(reqwest::Method::GET, &format!("/v1/checks/{first}"), None)
        .await;
    assert_eq!(status, StatusCode::OK);
    clock.advance(21);
    for gone in [&second, &fourth] {
        let (status, body) = agent
            .call(reqwest::Method::GET, &format!("/v1/checks/{gone}"), None)
            .await;
        assert_eq!(
            (status, error_code(&body)),
            (StatusCode::NOT_FOUND, "check_not_found"),
            "{body}"
        );
    }
    let (status, committed) = agent.commit(&first).await;
    assert_eq!(
        status,
        StatusCode::CREATED,
        "the check in use commits: {committed}"
    );

    // Expired checks no longer count against the cap.
    for _ in 0..3 {
        agent.open_check().await;
    }
    agent.stop().await;
}

#[tokio::test]
async fn every_error_of_the_local_api_is_a_json_error_body() {
    let register = Register::new();
    let agent = Agent::start(register.config(&unreachable_url())).await;
    let check = agent.open_check().await;
    let expect_json = |status: u16| {
        move |response: reqwest::Response| async move {
            assert_eq!(response.status().as_u16(), status);
            let text = response.text().await.unwrap();
            let body: ErrorBody = serde_json::from_str(&text)
                .unwrap_or_else(|_| panic!("not an error body: {status} {text:?}"));
            assert!(!body.error.is_empty() && !body.message.is_empty(), "{text}");
            body.error
        }
    };

    let patch = agent
        .http
        .patch(format!("{}/v1/checks", agent.url))
        .send()
        .await
        .unwrap();
    assert_eq!(expect_json(405)(patch).await, "method_not_allowed");
    let get_commit = agent
        .http
        .get(format!("{}/v1/checks/{check}/commit", agent.url))
        .send()
        .await
        .unwrap();
    assert_eq!(expect_json(405)(get_commit).await, "method_not_allowed");
    let unknown = agent
        .http
        .get(format!("{}/v1/nothing", agent.url))
        .send()
        .await
        .unwrap();
    assert_eq!(expect_json(404)(unknown).await, "not_found");
    let too_big = agent
        .http
        .post(format!("{}/v1/checks/{check}/lines", agent.url))
        .header("content-type", "application/json")
        .body(format!("{{\"sku\": \"{}\"}}", "x".repeat(3 * 1024 * 1024)))
        .send()
        .await
        .unwrap();
    assert_eq!(expect_json(413)(too_big).await, "payload_too_large");
    let too_big_commit = agent
        .http
        .post(format!("{}/v1/checks/{check}/commit", agent.url))
        .header("content-type", "application/json")
        .body(format!(
            "{{\"sale_id\": \"{}\"}}",
            "x".repeat(3 * 1024 * 1024)
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(expect_json(413)(too_big_commit).await, "payload_too_large");
    let broken = agent
        .http
        .put(format!("{}/v1/checks/{check}/coupons", agent.url))
        .header("content-type", "application/json")
        .body("{\"codes\": [")
        .send()
        .await
        .unwrap();
    assert_eq!(expect_json(400)(broken).await, "bad_request");
    agent.stop().await;
}

#[tokio::test]
async fn a_token_issued_in_the_second_of_a_revocation_is_accepted_and_an_earlier_one_refused() {
    let register = Register::new();
    let (fake, id) = loyal_customer_fake().await;
    // Revoked at T + 0.7 s; tokens carry whole seconds.
    let second = DateTime::from_timestamp(Utc::now().timestamp() - 10, 0).unwrap();
    let revoked_at = second + chrono::TimeDelta::milliseconds(700);
    fake.state().customers[0].tokens_valid_after = Some(revoked_at);
    let url = fake.url.clone();
    let clock = Arc::new(FixedClock(second + chrono::TimeDelta::seconds(5)));
    let agent = Agent::start_with_clock(register.config(&url), clock).await;
    agent.wait_for_ruleset_and_customer().await;

    let check = agent.open_check().await;
    let before = CustomerToken::new(
        MerchantId::new(1).unwrap(),
        id,
        second - chrono::TimeDelta::seconds(1),
        300,
        1,
    )
    .issue(&server_key());
    let (status, body) = agent.attach(&check, json!({ "token": before })).await;
    assert_eq!(
        (status, error_code(&body)),
        (StatusCode::UNPROCESSABLE_ENTITY, "token_rejected"),
        "a token of the second before the revocation: {body}"
    );
    // Issued right after the revocation, in the same second.
    let after =
        CustomerToken::new(MerchantId::new(1).unwrap(), id, second, 300, 2).issue(&server_key());
    let (status, view) = agent.attach(&check, json!({ "token": after })).await;
    assert_eq!(status, StatusCode::OK, "{view}");
    assert_eq!(view["customer"]["id"], id.get());
    agent.stop().await;
}

/// Opens a check of `lines` lines with long Cyrillic names.
async fn big_check(agent: &Agent, lines: usize) -> String {
    let check = agent.open_check().await;
    for i in 0..lines {
        let line = json!({
            "sku": format!("46{i:04}"),
            "name": format!("Молоко отборное пастеризованное 3,2% {}", "ж".repeat(40)),
            "quantity": 1,
            "unit_price": 8990,
        });
        let (status, view) = agent
            .post(&format!("/v1/checks/{check}/lines"), Some(line))
            .await;
        assert_eq!(status, StatusCode::CREATED, "{view}");
    }
    check
}

#[tokio::test]
async fn a_record_that_would_not_upload_alone_is_refused_at_commit_and_one_at_the_limit_is_not() {
    let at = DateTime::from_timestamp(Utc::now().timestamp(), 0).unwrap();
    let clock = || Arc::new(FixedClock(at)) as Arc<dyn Clock>;

    // The size of this check's record uploaded alone, from a first till.
    let probe = Register::new();
    let agent = Agent::start_with_clock(probe.config(&unreachable_url()), clock()).await;
    let check = big_check(&agent, 40).await;
    assert_eq!(agent.commit(&check).await.0, StatusCode::CREATED);
    agent.stop().await;
    let conn = rusqlite::Connection::open(probe.dir.path().join("agent.db")).unwrap();
    let (body, signature): (Vec<u8>, Vec<u8>) = conn
        .query_row(
            "SELECT body, signature FROM outbox WHERE seq = 1",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap();
    let alone = UploadBatch {
        records: vec![SignedRecord {
            register_id: RegisterId::new(3).unwrap(),
            seq: Seq::FIRST,
            body: shared::crypto::to_base64(&body),
            signature: shared::crypto::Signature::from_slice(&signature).unwrap(),
        }],
        chain_signature: Some(shared::crypto::Signature::from_slice(&signature).unwrap()),
    };
    let size = serde_json::to_vec(&alone).unwrap().len();

    // Exactly at the limit: committed.
    let register = Register::new();
    let mut config = register.config(&unreachable_url());
    config.sync.max_upload_bytes = size;
    let agent = Agent::start_with_clock(config, clock()).await;
    let check = big_check(&agent, 40).await;
    let (status, body) = agent.commit(&check).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    agent.stop().await;
    assert_eq!(register.verified_outbox().len(), 1);

    // One byte over: refused before the reply, nothing written, the check
    // stays open.
    let register = Register::new();
    let mut config = register.config(&unreachable_url());
    config.sync.max_upload_bytes = size - 1;
    let agent = Agent::start_with_clock(config, clock()).await;
    let check = big_check(&agent, 40).await;
    let (status, body) = agent.commit(&check).await;
    assert_eq!(
        (status, error_code(&body)),
        (StatusCode::UNPROCESSABLE_ENTITY, "record_too_large"),
        "{body}"
    );
    assert!(
        body["message"]
            .as_str()
            .unwrap()
            .contains(&size.to_string()),
        "{body}"
    );
    let (status, view) = agent
        .call(reqwest::Method::GET, &format!("/v1/checks/{check}"), None)
        .await;
    assert_eq!(status, StatusCode::OK, "the check stays open");
    assert_eq!(view["lines"].as_array().unwrap().len(), 40);
    assert_eq!(agent.status().await["last_seq"], Value::Null);
    agent.stop().await;
    assert!(register.verified_outbox().is_empty());
}

#[tokio::test]
async fn another_merchants_token_is_refused_and_the_customer_on_the_check_stays() {
    let register = Register::new();
    let (fake, id) = loyal_customer_fake().await;
    let url = fake.url.clone();
    let agent = Agent::start(register.config(&url)).await;
    agent.wait_for_ruleset_and_customer().await;

    let check = agent.open_check().await;
    agent.add_line(&check, "4601", json!(1), 5000).await;
    let ours = CustomerToken::new(MerchantId::new(1).unwrap(), id, Utc::now(), 300, 1)
        .issue(&server_key());
    let (status, view) = agent.attach(&check, json!({ "token": ours })).await;
    assert_eq!(status, StatusCode::OK, "{view}");
    let name = view["customer"]["name"].clone();

    // Signed by the same server key, for merchant 2's customer number 2.
    let theirs = CustomerToken::new(
        MerchantId::new(2).unwrap(),
        CustomerId::new(2).unwrap(),
        Utc::now(),
        300,
        2,
    )
    .issue(&server_key());
    let (status, body) = agent.attach(&check, json!({ "token": theirs })).await;
    assert_eq!(
        (status, error_code(&body)),
        (StatusCode::UNPROCESSABLE_ENTITY, "token_rejected"),
        "{body}"
    );
    let message = body["message"].as_str().unwrap();
    assert!(message.contains("another merchant"), "{message}");

    let (status, view) = agent
        .call(reqwest::Method::GET, &format!("/v1/checks/{check}"), None)
        .await;
    assert_eq!(status, StatusCode::OK, "{view}");
    assert_eq!(view["customer"]["id"], id.get(), "{view}");
    assert_eq!(view["customer"]["name"], name);
    agent.stop().await;
}

#[tokio::test]
async fn a_promotion_spend_past_the_money_range_is_refused_with_a_422_not_reset_to_zero() {
    // The till counts what it gave on each promotion. Two checks at the
    // largest price, wholly off, give twice the money range on "milk".
    let register = Register::new();
    let fake = fake_server(FakeState::default()).await;
    fake.state().offer = Some(release(1, 10_000).seal(&server_key()).unwrap());
    let url = fake.url.clone();
    let agent = Agent::start(register.config(&url)).await;
    agent
        .wait_for_status("ruleset 1", |s| s["ruleset_version"] == 1)
        .await;
    for sale in ["s-1", "s-2"] {
        let check = agent.open_check().await;
        let (status, view) = agent
            .add_line(&check, "4601", json!(1), Money::MAX_MINOR)
            .await;
        assert_eq!(status, StatusCode::CREATED, "{view}");
        assert_eq!(view["pricing"]["discount"], Money::MAX_MINOR, "{view}");
        let (status, body) = commit_sale(&agent, &check, sale).await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
    }

    // A budget arrives: the till has spent past it, and past the money
    // range. The spend must not read as zero, which would give the whole
    // budget again: checks are refused with a clear 422.
    let mut budgeted = release(2, 10_000);
    budgeted.ruleset.promotions[0].limits.budget = Some(Money::from_minor(1_000_000).unwrap());
    fake.state().offer = Some(budgeted.seal(&server_key()).unwrap());
    agent
        .wait_for_status("ruleset 2", |s| s["ruleset_version"] == 2)
        .await;
    let (status, body) = agent.post("/v1/checks", None).await;
    if status == StatusCode::CREATED {
        let check = body["id"].as_str().unwrap();
        let (_, view) = agent.add_line(check, "4601", json!(1), 8990).await;
        panic!("the spend read as zero and the budget was given again: {view}");
    }
    assert_eq!(
        (status, error_code(&body)),
        (StatusCode::UNPROCESSABLE_ENTITY, "amount_out_of_range"),
        "{body}"
    );
    let message = body["message"].as_str().unwrap();
    assert!(
        message.contains("2000000000000") && message.contains("money range"),
        "{body}"
    );
    agent.stop().await;
}

/// The value of the sample `name` (with its labels) in Prometheus text.
fn sample(text: &str, name: &str) -> Option<f64> {
    text.lines()
        .find_map(|line| line.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
}

#[tokio::test]
async fn metrics_show_commit_latency_and_the_offline_backlog() {
    let register = Register::new();
    let agent = Agent::start(register.config(&unreachable_url())).await;
    agent.sell("4601", 100).await;
    agent.sell("4601", 250).await;
    let response = agent
        .http
        .get(format!("{}/metrics", agent.url))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let kind = response.headers()["content-type"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(kind.starts_with("application/openmetrics-text"), "{kind}");
    let text = response.text().await.unwrap();
    assert_eq!(
        sample(&text, "pos_agent_commit_seconds_count"),
        Some(2.0),
        "{text}"
    );
    assert!(
        sample(&text, "pos_agent_commit_seconds_sum").is_some_and(|s| s > 0.0),
        "{text}"
    );
    // Where the commits' time went, stage by stage; the stages fit in the
    // whole.
    let mut stages = 0.0;
    for stage in ["priced", "queued", "sealed", "written", "durable", "after"] {
        let labels = format!("{{stage=\"{stage}\"}}");
        assert_eq!(
            sample(
                &text,
                &format!("pos_agent_commit_stage_seconds_count{labels}")
            ),
            Some(2.0),
            "{stage}\n{text}"
        );
        stages += sample(
            &text,
            &format!("pos_agent_commit_stage_seconds_sum{labels}"),
        )
        .unwrap();
    }
    let whole = sample(&text, "pos_agent_commit_seconds_sum").unwrap();
    assert!(
        stages > 0.0 && stages <= whole,
        "{stages} of {whole}\n{text}"
    );
    assert_eq!(
        sample(&text, "pos_agent_outbox_pending_records"),
        Some(2.0),
        "the server is unreachable: both sales wait\n{text}"
    );
    assert_eq!(
        sample(&text, "pos_agent_server_reachable"),
        Some(0.0),
        "{text}"
    );
    assert_eq!(sample(&text, "pos_agent_dead_letters"), Some(0.0), "{text}");
    // The sample Grafana dashboard asks only for metrics the agent has.
    let dashboard = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../packaging/grafana/loyalty.json"),
    )
    .unwrap();
    let mut asked = 0;
    for (at, _) in dashboard.match_indices("pos_agent_") {
        let name: String = dashboard[at..]
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
            .collect();
        assert!(
            text.contains(&name),
            "the dashboard asks for {name}:\n{text}"
        );
        asked += 1;
    }
    assert!(asked >= 5, "{asked}");
    agent.stop().await;
}
