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
