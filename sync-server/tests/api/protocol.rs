//! Sync protocol negotiation: `GET /api/v1/protocol`, the version header on
//! every register reply, version 1 for agents that send no header, and 426
//! for versions the server does not speak.

use reqwest::StatusCode;
use shared::wire::sync::EnrollRequest;
use shared::wire::{ErrorBody, PROTOCOL_HEADER};
use sync_server::wire::ProtocolInfo;

use crate::helpers::{Purchase, TestServer, merchant_with_till};

fn protocol_of(response: &reqwest::Response) -> Option<&str> {
    response
        .headers()
        .get(PROTOCOL_HEADER)
        .and_then(|v| v.to_str().ok())
}

#[tokio::test]
async fn the_server_says_which_versions_it_speaks() {
    let server = TestServer::spawn().await;
    let response = server
        .http
        .get(format!("{}/api/v1/protocol", server.base))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(protocol_of(&response), Some("1"));
    let info: ProtocolInfo = response.json().await.unwrap();
    assert_eq!(
        info,
        ProtocolInfo {
            versions: vec![1],
            server_version: env!("CARGO_PKG_VERSION").to_owned(),
            limits: Some(sync_server::wire::UploadLimits {
                max_batch_records: shared::wire::sync::MAX_BATCH_RECORDS,
                max_batch_bytes: shared::wire::sync::MAX_BATCH_BYTES,
            }),
            features: vec![
                "quota-leases".to_owned(),
                "chain-ingest".to_owned(),
                "key-rotation".to_owned(),
            ],
        }
    );
}

#[tokio::test]
async fn every_register_reply_carries_the_protocol_version() {
    let server = TestServer::spawn().await;
    let (_, _, mut till) = merchant_with_till(&server, 1).await;
    let batch = till.records([Purchase::sale(100)]);

    let uploaded = till.upload_via(&till.http, &batch).await;
    assert_eq!(uploaded.status(), StatusCode::OK);
    assert_eq!(protocol_of(&uploaded), Some("1"));
    let polled = till.get("/api/v1/ruleset?wait=0").await;
    assert_eq!(polled.status(), StatusCode::NO_CONTENT);
    assert_eq!(protocol_of(&polled), Some("1"));

    // Refusals too: bad credentials, an unknown enrollment token.
    let refused = server
        .http
        .get(format!("{}/api/v1/customers/changes", server.base))
        .bearer_auth("1.wrong")
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(protocol_of(&refused), Some("1"));
    let unenrolled = server
        .http
        .post(format!("{}/api/v1/registers/enroll", server.base))
        .json(&EnrollRequest {
            enrollment_token: "0123456789abcdef0123456789abcdef".into(),
            public_key: till.key.public_key(),
            agent_version: "0.1.0".into(),
            hostname: "till-2".into(),
        })
        .send()
        .await
        .unwrap();
    assert_eq!(unenrolled.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(protocol_of(&unenrolled), Some("1"));

    // The admin API is not a register route.
    let admin = server
        .http
        .get(format!("{}/api/v1/admin/merchants", server.base))
        .bearer_auth(crate::helpers::ADMIN_TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(admin.status(), StatusCode::OK);
    assert_eq!(protocol_of(&admin), None);
}

#[tokio::test]
async fn an_agent_that_sends_no_version_is_taken_for_version_one() {
    let server = TestServer::spawn().await;
    let (_, _, mut till) = merchant_with_till(&server, 1).await;
    let batch = till.records([Purchase::sale(100)]);
    let response = till
        .http
        .post(format!("{}/api/v1/records", till.base))
        .bearer_auth(till.bearer())
        .json(&serde_json::json!({ "records": batch }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(protocol_of(&response), Some("1"));
}

#[tokio::test]
async fn versions_the_server_does_not_speak_are_refused() {
    let server = TestServer::spawn().await;
    let (_, _, mut till) = merchant_with_till(&server, 1).await;
    let batch = till.records([Purchase::sale(100)]);
    for (sent, status, code) in [
        ("2", StatusCode::UPGRADE_REQUIRED, "protocol_unsupported"),
        ("0", StatusCode::UPGRADE_REQUIRED, "protocol_unsupported"),
        ("one", StatusCode::BAD_REQUEST, "bad_protocol_header"),
    ] {
        let response = till
            .http
            .post(format!("{}/api/v1/records", till.base))
            .bearer_auth(till.bearer())
            .header(PROTOCOL_HEADER, sent)
            .json(&serde_json::json!({ "records": batch }))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), status, "{sent}");
        assert_eq!(protocol_of(&response), Some("1"), "{sent}");
        let body: ErrorBody = response.json().await.unwrap();
        assert_eq!(body.error, code, "{sent}");
        assert!(body.message.contains(sent), "{}", body.message);
        if status == StatusCode::UPGRADE_REQUIRED {
            assert!(
                body.message.contains("version(s) 1,"),
                "names the supported versions: {}",
                body.message
            );
        }
    }
    // Nothing was stored by the refused uploads.
    assert_eq!(server.count_rows("SELECT COUNT(*) FROM records"), 0);
}

/// `POST /api/v1/records` with a chain signature over the batch's last
/// record, made with the till's key.
async fn upload_chained(
    till: &crate::helpers::Till,
    records: &[shared::record::SignedRecord],
) -> (StatusCode, serde_json::Value) {
    let last = records.last().expect("a batch");
    let head = shared::crypto::sha256(&shared::crypto::from_base64(&last.body).expect("base64"));
    let signature = shared::record::sign_chain_head(&till.key, &head);
    crate::helpers::reply(
        till.http
            .post(format!("{}/api/v1/records", till.base))
            .bearer_auth(till.bearer())
            .header(PROTOCOL_HEADER, "1")
            .json(&serde_json::json!({ "records": records, "chain_signature": signature }))
            .send()
            .await
            .expect("upload"),
    )
    .await
}

/// Chain-verified ingest is chosen by negotiation: a server that offers it
/// lists `chain-ingest` and takes a batch on its chain signature (a record
/// whose own signature is bad is stored for the audit), and one that does
/// not offer it leaves it out and verifies every record of the same batch
/// (refused). Old agents, which send no chain signature, are verified
/// record by record on both.
#[tokio::test]
async fn chain_ingest_is_offered_and_taken_only_when_turned_on() {
    for chain_verified in [true, false] {
        let server = if chain_verified {
            TestServer::spawn().await
        } else {
            TestServer::spawn_with(|s| s.ingest.chain_verified = false).await
        };
        let (_, _, mut till) = merchant_with_till(&server, 1).await;
        let old_agent = till.records([Purchase::sale(100)]);
        let uploaded = till.upload_via(&till.http, &old_agent).await;
        assert_eq!(uploaded.status(), StatusCode::OK);
        let features = uploaded
            .headers()
            .get(shared::wire::FEATURES_HEADER)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        assert_eq!(
            features.split(',').any(|f| f == "chain-ingest"),
            chain_verified,
            "{features}"
        );

        let mut batch = till.records([Purchase::sale(200), Purchase::sale(300)]);
        let mut bad = *batch[0].signature.as_bytes();
        bad[0] ^= 0xff;
        batch[0].signature = shared::crypto::Signature::from_slice(&bad).unwrap();
        let (status, body) = upload_chained(&till, &batch).await;
        if chain_verified {
            assert_eq!(status, StatusCode::OK, "{body}");
        } else {
            assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
            assert_eq!(body["error"], "bad_signature", "{body}");
        }
    }
}
