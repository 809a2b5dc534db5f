//! Health, error replies, and merchant set-up.

use reqwest::{Method, StatusCode};
use serde_json::json;
use shared::wire::ErrorBody;
use sync_server::wire::admin::{Brand, Merchant, Store};

use crate::helpers::{ADMIN_TOKEN, TestServer};

#[tokio::test]
async fn health_reports_ok_and_the_version() {
    let server = TestServer::spawn().await;
    let (status, body) = crate::helpers::reply(
        server
            .http
            .get(format!("{}/health", server.base))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["status"], "ok");
    assert_eq!(body["version"], env!("CARGO_PKG_VERSION"));
}

#[tokio::test]
async fn errors_are_error_bodies() {
    let server = TestServer::spawn().await;

    let (status, body) = server.admin(Method::GET, "/api/v1/nowhere", None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let body: ErrorBody = serde_json::from_value(body).unwrap();
    assert_eq!(body.error, "not_found");

    let response = server
        .http
        .post(format!("{}/api/v1/admin/merchants", server.base))
        .bearer_auth(ADMIN_TOKEN)
        .header("content-type", "application/json")
        .body("{\"name\": ")
        .send()
        .await
        .unwrap();
    let (status, body) = crate::helpers::reply(response).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let body: ErrorBody = serde_json::from_value(body).unwrap();
    assert_eq!(body.error, "malformed_json");
    assert!(body.message.contains("EOF"), "{}", body.message);

    for bearer in [None, Some("wrong")] {
        let mut request = server
            .http
            .get(format!("{}/api/v1/admin/merchants", server.base));
        if let Some(b) = bearer {
            request = request.bearer_auth(b);
        }
        let (status, body) = crate::helpers::reply(request.send().await.unwrap()).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
        assert_eq!(body["error"], "unauthorized");
    }

    let (status, body) = server
        .admin(Method::GET, "/api/v1/admin/merchants/0/stores", None)
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(body["error"], "invalid_path");

    let (status, body) = server
        .admin(Method::GET, "/api/v1/admin/merchants/99/stores", None)
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    assert_eq!(body["message"], "merchant 99 not found");
}

#[tokio::test]
async fn merchants_brands_stores_and_enrollment_tokens() {
    let server = TestServer::spawn().await;
    let merchant = server.merchant("Ромашка").await;
    assert_eq!(merchant.name, "Ромашка");
    let listed: Vec<Merchant> = server
        .admin_ok(Method::GET, "/api/v1/admin/merchants", None)
        .await;
    assert_eq!(listed, vec![merchant.clone()]);

    let brand: Brand = server
        .admin_ok(
            Method::POST,
            &format!("/api/v1/admin/merchants/{}/brands", merchant.id),
            Some(json!({"name": "Ромашка Экспресс"})),
        )
        .await;
    assert_eq!(brand.merchant_id, merchant.id);

    let store: Store = server
        .admin_ok(
            Method::POST,
            &format!("/api/v1/admin/merchants/{}/stores", merchant.id),
            Some(json!({"brand_id": brand.id, "name": "Тверская", "timezone": "Europe/Moscow"})),
        )
        .await;
    assert_eq!(store.brand_id, Some(brand.id));
    let stores: Vec<Store> = server
        .admin_ok(
            Method::GET,
            &format!("/api/v1/admin/merchants/{}/stores", merchant.id),
            None,
        )
        .await;
    assert_eq!(stores, vec![store.clone()]);

    let (status, body) = server
        .admin(
            Method::POST,
            &format!("/api/v1/admin/merchants/{}/stores", merchant.id),
            Some(json!({"brand_id": null, "name": "Луна", "timezone": "Mars/Olympus"})),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        body["message"].as_str().unwrap().contains("Mars/Olympus"),
        "{body}"
    );

    let token = server.enrollment_token(store.id).await;
    assert_eq!(token.store_id, store.id);
    assert_eq!(token.token.len(), 32);
    let ttl = token.expires_at - chrono::Utc::now();
    assert!(ttl > chrono::TimeDelta::hours(23) && ttl <= chrono::TimeDelta::hours(24));

    let (status, _) = server
        .admin(
            Method::POST,
            "/api/v1/admin/stores/999/enrollment-tokens",
            Some(json!({})),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

/// `sync-server admin` finds the admin token where the server does: the
/// server's own variable, or its configuration file in the data directory;
/// without either it says where to put it.
#[tokio::test]
async fn the_admin_cli_reads_the_token_from_the_servers_configuration() {
    let server = TestServer::spawn().await;
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("server.toml"),
        format!("admin_token = {ADMIN_TOKEN:?}\n"),
    )
    .unwrap();
    let run = async |args: Vec<String>, env: Option<(&'static str, &'static str)>| {
        let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_sync-server"));
        command
            .arg("admin")
            .args(["--server", &server.base])
            .args(args)
            .args(["merchant", "list"])
            .env_remove("SYNC_SERVER__ADMIN_TOKEN")
            .env_remove("SYNC_SERVER_ADMIN_TOKEN");
        if let Some((key, value)) = env {
            command.env(key, value);
        }
        command.output().await.expect("the CLI runs")
    };
    let from_file = run(
        vec!["--data-dir".into(), dir.path().display().to_string()],
        None,
    )
    .await;
    assert!(
        from_file.status.success(),
        "{}",
        String::from_utf8_lossy(&from_file.stderr)
    );
    let from_env = run(
        vec!["--data-dir".into(), "/nonexistent".into()],
        Some(("SYNC_SERVER__ADMIN_TOKEN", ADMIN_TOKEN)),
    )
    .await;
    assert!(
        from_env.status.success(),
        "{}",
        String::from_utf8_lossy(&from_env.stderr)
    );
    let nowhere = run(vec!["--data-dir".into(), "/nonexistent".into()], None).await;
    assert!(!nowhere.status.success());
    let said = String::from_utf8_lossy(&nowhere.stderr);
    assert!(said.contains("SYNC_SERVER__ADMIN_TOKEN"), "{said}");
}

/// `sync-server admin register revoke` says what it did and what follows.
#[tokio::test]
async fn revoking_a_register_from_the_cli_says_what_it_did() {
    let server = TestServer::spawn().await;
    let (_, _, till) = crate::helpers::merchant_with_till(&server, 3).await;
    let output = tokio::process::Command::new(env!("CARGO_BIN_EXE_sync-server"))
        .args([
            "admin",
            "--server",
            &server.base,
            "--admin-token",
            ADMIN_TOKEN,
        ])
        .args([
            "register",
            "revoke",
            "--register",
            &till.register_id.to_string(),
        ])
        .output()
        .await
        .expect("the CLI runs");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let said = String::from_utf8_lossy(&output.stdout);
    assert!(
        said.contains(&format!("revoked register {}", till.register_id)) && said.contains("enroll"),
        "{said}"
    );
}
