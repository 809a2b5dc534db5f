//! Every error of the `/api` routes is `{"error", "message"}` JSON, the
//! framework's own refusals included (issue 9, item 7).

use reqwest::Method;
use shared::wire::{PROTOCOL_HEADER, PROTOCOL_VERSION};

use crate::helpers::{ADMIN_TOKEN, TestServer, merchant_with_till};

/// The status and the parsed error body; panics if the body is not an
/// error body.
async fn json_error(response: reqwest::Response) -> (u16, String) {
    let status = response.status().as_u16();
    let text = response.text().await.unwrap();
    let body: serde_json::Value =
        serde_json::from_str(&text).unwrap_or_else(|_| panic!("not JSON: {status} {text:?}"));
    let code = body["error"].as_str().unwrap_or_default().to_owned();
    assert!(!code.is_empty(), "no error code: {status} {text}");
    assert!(body["message"].is_string(), "no message: {status} {text}");
    (status, code)
}

#[tokio::test]
async fn framework_refusals_on_api_routes_are_json_error_bodies() {
    let server = TestServer::spawn().await;
    let (_, _, till) = merchant_with_till(&server, 1).await;
    let http = &server.http;
    let at = |path: &str| format!("{}{path}", server.base);

    let patch = http
        .request(Method::PATCH, at("/api/v1/records"))
        .bearer_auth(till.bearer())
        .header(PROTOCOL_HEADER, PROTOCOL_VERSION.to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(json_error(patch).await.0, 405);
    let patch_admin = http
        .request(Method::PATCH, at("/api/v1/admin/merchants"))
        .bearer_auth(ADMIN_TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(json_error(patch_admin).await.0, 405);
    let unknown = http.get(at("/api/v1/nothing-here")).send().await.unwrap();
    assert_eq!(json_error(unknown).await.0, 404);

    let records = || {
        http.post(at("/api/v1/records"))
            .bearer_auth(till.bearer())
            .header(PROTOCOL_HEADER, PROTOCOL_VERSION.to_string())
    };
    let plain = records()
        .header("content-type", "text/plain")
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(json_error(plain).await.0, 415);
    let broken = records()
        .header("content-type", "application/json")
        .body("{\"records\": ")
        .send()
        .await
        .unwrap();
    assert_eq!(json_error(broken).await.0, 400);
    let wrong_shape = records()
        .header("content-type", "application/json")
        .body("{\"records\": 7}")
        .send()
        .await
        .unwrap();
    assert_eq!(json_error(wrong_shape).await.0, 422);
    let too_big = records()
        .header("content-type", "application/json")
        .body(format!("{{\"pad\": \"{}\"}}", "x".repeat(3 * 1024 * 1024)))
        .send()
        .await
        .unwrap();
    assert_eq!(json_error(too_big).await.0, 413);

    let admin_too_big = http
        .post(at("/api/v1/admin/merchants"))
        .bearer_auth(ADMIN_TOKEN)
        .header("content-type", "application/json")
        .body(format!("{{\"name\": \"{}\"}}", "x".repeat(3 * 1024 * 1024)))
        .send()
        .await
        .unwrap();
    assert_eq!(json_error(admin_too_big).await.0, 413);
}
