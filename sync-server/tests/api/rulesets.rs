//! Publishing rulesets and promotions, and the registers' long-poll.

use std::sync::Arc;
use std::time::{Duration, Instant};

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use shared::release::SignedRuleset;
use shared::wire::{ErrorBody, PROTOCOL_HEADER};
use sync_server::wire::admin::Published;

use crate::helpers::{ADMIN_TOKEN, TestServer, merchant_with_till, promotion, ruleset};

#[tokio::test]
async fn publish_validates_and_versions() {
    let server = TestServer::spawn().await;
    let merchant = server.merchant("Ромашка").await;
    let path = format!("/api/v1/admin/merchants/{}", merchant.id);

    let (status, body) = server
        .admin(
            Method::POST,
            &format!("{path}/promotions"),
            Some(promotion("milk")),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert_eq!(body["error"], "no_ruleset");

    let invalid = json!({
        "currency": "RUB",
        "programme": {"tiers": [
            {"name": "Silver", "min_lifetime_spend": 0, "discount": 300},
            {"name": "Gold", "min_lifetime_spend": 0, "discount": 500}
        ]},
        "promotions": [{"id": "p", "name": "P", "target": {"kind": "skus", "skus": []},
                        "reward": {"kind": "percent_off", "percent": 1000}}]
    });
    let (status, body) = server.publish(merchant.id, invalid).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    let body: ErrorBody = serde_json::from_value(body).unwrap();
    assert_eq!(body.error, "validation");
    assert_eq!(body.faults.len(), 2, "{:?}", body.faults);
    assert!(
        body.faults[0].starts_with(r#"tier[1] "Gold": min_lifetime_spend:"#),
        "{:?}",
        body.faults
    );
    assert_eq!(
        body.faults[1],
        r#"promotion "p": target.skus: must list at least one SKU"#
    );

    let (status, body) = server.publish(merchant.id, ruleset()).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let published: Published = serde_json::from_value(body).unwrap();
    assert_eq!(published.version.get(), 1);

    let published: Published = server
        .admin_ok(
            Method::POST,
            &format!("{path}/promotions"),
            Some(promotion("milk")),
        )
        .await;
    assert_eq!(published.version.get(), 2);
    let mut changed = promotion("milk");
    changed["reward"]["percent"] = json!(2000);
    let published: Published = server
        .admin_ok(Method::POST, &format!("{path}/promotions"), Some(changed))
        .await;
    assert_eq!(published.version.get(), 3);

    let current: Value = server
        .admin_ok(Method::GET, &format!("{path}/ruleset"), None)
        .await;
    assert_eq!(current["version"], 3);
    let promotions = current["ruleset"]["promotions"].as_array().unwrap();
    assert_eq!(promotions.len(), 1);
    assert_eq!(promotions[0]["reward"]["percent"], 2000);
}

/// A promotion's holdout goes through the admin API with the ruleset: a
/// share past half is refused naming the promotion and the field, a valid
/// one is stored and signed into the release the tills get.
#[tokio::test]
async fn a_promotions_holdout_is_validated_and_published() {
    let server = TestServer::spawn().await;
    let (merchant, _, till) = merchant_with_till(&server, 1).await;
    let path = format!("/api/v1/admin/merchants/{}", merchant.id);
    let (status, body) = server.publish(merchant.id, ruleset()).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let mut milk = promotion("milk");
    milk["holdout"] = json!(6_000);
    let (status, body) = server
        .admin(
            Method::POST,
            &format!("{path}/promotions"),
            Some(milk.clone()),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    let body: ErrorBody = serde_json::from_value(body).unwrap();
    assert_eq!(
        body.faults,
        [r#"promotion "milk": holdout: must be in 1..=5000 basis points (0.01 %..=50 %)"#]
    );
    milk["holdout"] = json!(1_500);
    let published: Published = server
        .admin_ok(Method::POST, &format!("{path}/promotions"), Some(milk))
        .await;
    let current: Value = server
        .admin_ok(Method::GET, &format!("{path}/ruleset"), None)
        .await;
    assert_eq!(current["ruleset"]["promotions"][0]["holdout"], 1_500);
    let response = till.get("/api/v1/ruleset?after=1&wait=0").await;
    assert_eq!(response.status(), StatusCode::OK);
    let signed: SignedRuleset = response.json().await.unwrap();
    let release = signed.open(&till.server_key, "9.9.9").unwrap();
    assert_eq!(release.version, published.version);
    assert_eq!(
        release.ruleset.promotions[0].holdout.map(|b| b.get()),
        Some(1_500)
    );
}

#[tokio::test]
async fn concurrent_publishes_get_every_version_once() {
    let server = Arc::new(TestServer::spawn().await);
    let merchant = server.merchant("Ромашка").await;
    let publishes: Vec<_> = (0..10)
        .map(|_| {
            let server = server.clone();
            tokio::spawn(async move { server.publish(merchant.id, ruleset()).await })
        })
        .collect();
    let mut versions = Vec::new();
    for publish in publishes {
        let (status, body) = publish.await.unwrap();
        assert_eq!(status, StatusCode::CREATED, "{body}");
        versions.push(body["version"].as_i64().unwrap());
    }
    versions.sort_unstable();
    assert_eq!(versions, (1..=10).collect::<Vec<_>>());
}

#[tokio::test]
async fn long_poll_answers_newer_at_once_and_holds_otherwise() {
    let server = TestServer::spawn().await;
    let (merchant, _, till) = merchant_with_till(&server, 1).await;

    // Nothing published: held for `wait`, then 204.
    let started = Instant::now();
    let response = till.get("/api/v1/ruleset?after=0&wait=1").await;
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    assert!(started.elapsed() >= Duration::from_millis(900));

    server.publish(merchant.id, ruleset()).await;
    let started = Instant::now();
    let response = till.get("/api/v1/ruleset?after=0&wait=5").await;
    assert_eq!(response.status(), StatusCode::OK);
    assert!(started.elapsed() < Duration::from_secs(1));
    assert_eq!(response.headers()["etag"], "\"1\"");
    let signed: SignedRuleset = response.json().await.unwrap();
    let release = signed
        .open(&till.server_key, "0.1.0")
        .expect("the release verifies");
    assert_eq!(release.version.get(), 1);
    assert_eq!(release.merchant_id, merchant.id);

    let started = Instant::now();
    let response = till.get("/api/v1/ruleset?after=1&wait=1").await;
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    assert!(started.elapsed() >= Duration::from_millis(900));

    // Conditional polling.
    let response = till
        .http
        .get(format!("{}/api/v1/ruleset", till.base))
        .bearer_auth(till.bearer())
        .header("if-none-match", "\"1\"")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::NOT_MODIFIED);
}

/// `GET /api/v1/ruleset` with `If-None-Match`, without `after` or `wait`.
async fn conditional_get(till: &crate::helpers::Till, etag: &str) -> reqwest::Response {
    till.http
        .get(format!("{}/api/v1/ruleset", till.base))
        .bearer_auth(till.bearer())
        .header("if-none-match", etag)
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn etag_polling_answers_not_modified_until_a_newer_version_is_published() {
    let server = TestServer::spawn().await;
    let (merchant, _, till) = merchant_with_till(&server, 1).await;

    // Nothing published yet: nothing to send, and at once.
    let started = Instant::now();
    let response = conditional_get(&till, "\"0\"").await;
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    assert!(started.elapsed() < Duration::from_secs(1), "not held");

    server.publish(merchant.id, ruleset()).await;
    let response = conditional_get(&till, "\"0\"").await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()["etag"], "\"1\"");
    let first: SignedRuleset = response.json().await.unwrap();
    assert_eq!(first.version.get(), 1);

    // The version the register has: 304 with the same ETag, at once, even
    // when the request also asks to wait.
    for etag in ["\"1\"", "W/\"1\""] {
        let started = Instant::now();
        let response = till
            .http
            .get(format!("{}/api/v1/ruleset?after=1&wait=5", till.base))
            .bearer_auth(till.bearer())
            .header("if-none-match", etag)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::NOT_MODIFIED, "{etag}");
        assert_eq!(response.headers()["etag"], "\"1\"");
        assert!(started.elapsed() < Duration::from_secs(1), "not held");
    }

    // A newer version after a publish: 200 with its ETag and the release,
    // which verifies with the pinned key.
    let published: Published = server
        .admin_ok(
            Method::POST,
            &format!("/api/v1/admin/merchants/{}/promotions", merchant.id),
            Some(promotion("milk")),
        )
        .await;
    assert_eq!(published.version.get(), 2);
    let response = conditional_get(&till, "\"1\"").await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()["etag"], "\"2\"");
    let signed: SignedRuleset = response.json().await.unwrap();
    let release = signed.open(&till.server_key, "0.1.0").expect("verifies");
    assert_eq!(release.version.get(), 2);
    assert_eq!(release.ruleset.promotions.len(), 1);

    let response = conditional_get(&till, "\"2\"").await;
    assert_eq!(response.status(), StatusCode::NOT_MODIFIED);
    assert_eq!(response.headers()["etag"], "\"2\"");
}

#[tokio::test]
async fn a_publish_wakes_a_waiting_long_poll() {
    let server = TestServer::spawn().await;
    let (merchant, _, till) = merchant_with_till(&server, 1).await;
    server.publish(merchant.id, ruleset()).await;

    let waiting = tokio::spawn(async move {
        let started = Instant::now();
        let response = till.get("/api/v1/ruleset?after=1&wait=5").await;
        (
            response.status(),
            started,
            response.json::<SignedRuleset>().await,
        )
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    let published_at = Instant::now();
    server
        .admin(
            Method::POST,
            &format!("/api/v1/admin/merchants/{}/promotions", merchant.id),
            Some(promotion("milk")),
        )
        .await;
    let (status, started, signed) = waiting.await.unwrap();
    assert_eq!(status, StatusCode::OK);
    assert!(published_at.elapsed() < Duration::from_secs(1), "woke late");
    assert!(started.elapsed() < Duration::from_secs(2));
    assert_eq!(signed.unwrap().version.get(), 2);
}

#[tokio::test]
async fn another_protocol_version_is_refused() {
    let server = TestServer::spawn().await;
    let (_, _, till) = merchant_with_till(&server, 1).await;
    let response = till
        .http
        .get(format!("{}/api/v1/ruleset?wait=0", till.base))
        .bearer_auth(till.bearer())
        .header(PROTOCOL_HEADER, "2")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::UPGRADE_REQUIRED);
    let body: ErrorBody = response.json().await.unwrap();
    assert_eq!(body.error, "protocol_unsupported");
}

/// Runs `sync-server admin …` against `server`; returns its standard output.
async fn admin_cli(server: &TestServer, args: &[&str]) -> String {
    let output = tokio::process::Command::new(env!("CARGO_BIN_EXE_sync-server"))
        .arg("admin")
        .args(["--server", &server.base, "--admin-token", ADMIN_TOKEN])
        .args(args)
        .output()
        .await
        .expect("the CLI runs");
    assert!(
        output.status.success(),
        "sync-server admin {args:?}: {}\n{}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).expect("UTF-8")
}

#[tokio::test]
async fn each_sample_ruleset_publishes_and_show_then_publish_round_trips_through_the_cli() {
    let server = TestServer::spawn().await;
    let samples = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/rulesets");
    let mut files: Vec<_> = std::fs::read_dir(&samples)
        .expect("the sample rulesets")
        .map(|entry| entry.expect("an entry").path())
        .collect();
    files.sort();
    assert_eq!(files.len(), 3, "a grocery chain, a café, a clothing store");
    let shown_file = tempfile::NamedTempFile::new().expect("temp file");
    for file in files {
        let merchant = server.merchant("Образец").await.id.to_string();
        let file = file.to_str().expect("a UTF-8 path");
        admin_cli(
            &server,
            &[
                "ruleset",
                "publish",
                "--merchant",
                &merchant,
                "--file",
                file,
            ],
        )
        .await;
        let shown = admin_cli(&server, &["ruleset", "show", "--merchant", &merchant]).await;
        let first: Value = serde_json::from_str(&shown).expect("show prints JSON");
        assert_eq!(first["version"], 1, "{file}");
        let sample: Value =
            serde_json::from_str(&std::fs::read_to_string(file).expect("read")).expect("JSON");
        assert_eq!(
            first["ruleset"]["promotions"].as_array().map(Vec::len),
            sample["promotions"].as_array().map(Vec::len),
            "{file}"
        );

        // What show printed is accepted by publish, as it is.
        std::fs::write(shown_file.path(), &shown).expect("write");
        let path = shown_file.path().to_str().expect("a UTF-8 path");
        admin_cli(
            &server,
            &[
                "ruleset",
                "publish",
                "--merchant",
                &merchant,
                "--file",
                path,
            ],
        )
        .await;
        let again: Value = serde_json::from_str(
            &admin_cli(&server, &["ruleset", "show", "--merchant", &merchant]).await,
        )
        .expect("JSON");
        assert_eq!(again["version"], 2, "{file}");
        assert_eq!(again["ruleset"], first["ruleset"], "{file}");
    }
}
