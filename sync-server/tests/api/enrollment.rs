//! Enrollment with one-time tokens.

use std::sync::Arc;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use chrono::{DateTime, TimeDelta};
use http_body_util::BodyExt as _;
use serde_json::{Value, json};
use shared::crypto::SigningKey;
use shared::wire::sync::EnrollResponse;
use sync_server::clock::ManualClock;
use sync_server::db::SqliteRepository;
use sync_server::{AppState, router};
use tower::ServiceExt as _;

use crate::helpers::{ADMIN_TOKEN, TestServer, settings};

#[tokio::test]
async fn a_token_enrolls_exactly_one_register() {
    let server = TestServer::spawn().await;
    let merchant = server.merchant("Ромашка").await;
    let store = server.store(merchant.id, "Тверская", "Europe/Moscow").await;
    let token = server.enrollment_token(store.id).await;
    let key = SigningKey::from_seed(&[1; 32]).unwrap();

    let (status, body) = server.enroll_with(&token.token, &key).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let enrolled: EnrollResponse = serde_json::from_value(body).unwrap();
    assert_eq!(enrolled.merchant_id, merchant.id);
    assert_eq!(enrolled.store_id, store.id);
    assert_eq!(enrolled.store_name, "Тверская");
    assert_eq!(enrolled.store_timezone.name(), "Europe/Moscow");
    assert_eq!(enrolled.register_secret.len(), 64);

    let (status, body) = server.enroll_with(&token.token, &key).await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert_eq!(body["error"], "enrollment_token_used");

    let (status, body) = server
        .enroll_with("0123456789abcdef0123456789abcdef", &key)
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(body["error"], "enrollment_token_unknown");

    let registers: Vec<sync_server::wire::admin::Register> = server
        .admin_ok(
            reqwest::Method::GET,
            &format!("/api/v1/admin/merchants/{}/registers", merchant.id),
            None,
        )
        .await;
    assert_eq!(registers.len(), 1);
    assert_eq!(registers[0].id, enrolled.register_id);
    assert_eq!(registers[0].hostname, "till-1");
    assert_eq!(registers[0].head_seq, None);
}

#[tokio::test]
async fn concurrent_enrollments_with_one_token_have_one_winner() {
    let server = Arc::new(TestServer::spawn().await);
    let merchant = server.merchant("Ромашка").await;
    let store = server.store(merchant.id, "Тверская", "Europe/Moscow").await;
    let token = server.enrollment_token(store.id).await;
    let attempts: Vec<_> = (0..8u8)
        .map(|seed| {
            let server = server.clone();
            let token = token.token.clone();
            tokio::spawn(async move {
                let key = SigningKey::from_seed(&[seed; 32]).unwrap();
                server.enroll_with(&token, &key).await.0
            })
        })
        .collect();
    let mut statuses = Vec::new();
    for attempt in attempts {
        statuses.push(attempt.await.unwrap());
    }
    assert_eq!(
        statuses
            .iter()
            .filter(|s| **s == StatusCode::CREATED)
            .count(),
        1
    );
    assert_eq!(
        statuses
            .iter()
            .filter(|s| **s == StatusCode::CONFLICT)
            .count(),
        7
    );
}

async fn call(app: &axum::Router, method: &str, uri: &str, body: Value) -> (StatusCode, Value) {
    let request = Request::builder()
        .method(method)
        .uri(uri)
        .header("authorization", format!("Bearer {ADMIN_TOKEN}"))
        .header("content-type", "application/json")
        .body(Body::from(body.to_string()))
        .unwrap();
    let response = app.clone().oneshot(request).await.unwrap();
    let status = response.status();
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    (
        status,
        serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    )
}

#[tokio::test]
async fn an_expired_token_is_gone() {
    let dir = tempfile::tempdir().unwrap();
    let db = SqliteRepository::open(&dir.path().join("test.db"))
        .await
        .unwrap();
    let clock = Arc::new(ManualClock::new(
        DateTime::from_timestamp(1_790_000_000, 0).unwrap(),
    ));
    let state = AppState::new(
        settings(dir.path()),
        Arc::new(db),
        SigningKey::from_seed(&[9; 32]).unwrap(),
        clock.clone(),
    );
    let app = router(state);

    let (_, merchant) = call(
        &app,
        "POST",
        "/api/v1/admin/merchants",
        json!({"name": "M", "currency": "RUB"}),
    )
    .await;
    let (_, store) = call(
        &app,
        "POST",
        &format!("/api/v1/admin/merchants/{}/stores", merchant["id"]),
        json!({"brand_id": null, "name": "S", "timezone": "Europe/Moscow"}),
    )
    .await;
    let (status, token) = call(
        &app,
        "POST",
        &format!("/api/v1/admin/stores/{}/enrollment-tokens", store["id"]),
        json!({"ttl_secs": 60}),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED);

    clock.advance(TimeDelta::seconds(60));
    let key = SigningKey::from_seed(&[1; 32]).unwrap();
    let enroll = json!({
        "enrollment_token": token["token"],
        "public_key": key.public_key(),
        "agent_version": "0.1.0",
    });
    let (status, body) = call(&app, "POST", "/api/v1/registers/enroll", enroll).await;
    assert_eq!(status, StatusCode::GONE, "{body}");
    assert_eq!(body["error"], "enrollment_token_expired");
}
