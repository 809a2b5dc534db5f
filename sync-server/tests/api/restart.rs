//! A restart on the same address and data directory carries on.

use reqwest::{Method, StatusCode};
use serde_json::json;
use shared::ids::Seq;
use shared::token::CustomerToken;
use shared::wire::sync::UploadAck;
use sync_server::wire::admin::{IssuedToken, Merchant};

use crate::helpers::{Purchase, TestServer, merchant_with_till, ruleset};

#[tokio::test]
async fn a_restarted_server_keeps_its_data_and_key() {
    let server = TestServer::spawn().await;
    let (merchant, _, mut till) = merchant_with_till(&server, 1).await;
    server.publish(merchant.id, ruleset()).await;
    let anna = server
        .customer(
            merchant.id,
            json!({"name": "Анна", "phone": "+79161234567"}),
        )
        .await;
    let batch = till.records([Purchase::sale(10_000).by(anna.id).points(1, 0)]);
    assert_eq!(till.upload(&batch).await.0, StatusCode::OK);

    // A long-poll in flight does not hold the shutdown up.
    let poll = till.get("/api/v1/ruleset?after=1&wait=5");
    let (response, server) = tokio::join!(poll, async {
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        server.restart().await
    });
    assert_eq!(response.status(), StatusCode::NO_CONTENT);

    let merchants: Vec<Merchant> = server
        .admin_ok(Method::GET, "/api/v1/admin/merchants", None)
        .await;
    assert_eq!(merchants, vec![merchant.clone()]);
    let issued: IssuedToken = server
        .admin_ok(
            Method::POST,
            &format!("/api/v1/admin/customers/{}/token", anna.id),
            None,
        )
        .await;
    CustomerToken::verify(
        &issued.token,
        &till.server_key,
        till.merchant_id,
        chrono::Utc::now(),
    )
    .expect("the key pinned before the restart still verifies");

    // The register carries on from its head with the same credentials.
    let next = till.records([Purchase::sale(1)]);
    let (status, body) = till.upload(&next).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let ack: UploadAck = serde_json::from_value(body).unwrap();
    assert_eq!(ack.acked_through, Some(Seq::new(2).unwrap()));
    let response = till.get("/api/v1/ruleset?after=0").await;
    assert_eq!(response.status(), StatusCode::OK);
}
