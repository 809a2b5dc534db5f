//! Uploads of signed purchase records: exactly once, in chain order.

use reqwest::{Method, StatusCode};
use shared::crypto::{Hash256, Signature};
use shared::ids::Seq;
use shared::wire::sync::UploadAck;
use sync_server::wire::admin::{Register, Stats};

use crate::helpers::{Purchase, TestServer, merchant_with_till};

fn ack(body: serde_json::Value) -> UploadAck {
    serde_json::from_value(body).expect("an upload ack")
}

async fn registers(server: &TestServer, till: &crate::helpers::Till) -> Vec<Register> {
    server
        .admin_ok(
            Method::GET,
            &format!("/api/v1/admin/merchants/{}/registers", till.merchant_id),
            None,
        )
        .await
}

async fn stats(server: &TestServer, till: &crate::helpers::Till) -> Stats {
    server
        .admin_ok(
            Method::GET,
            &format!("/api/v1/admin/merchants/{}/stats", till.merchant_id),
            None,
        )
        .await
}

#[tokio::test]
async fn records_are_stored_once_and_replays_are_harmless() {
    let server = TestServer::spawn().await;
    let (_, _, mut till) = merchant_with_till(&server, 1).await;

    let (status, body) = till.upload(&[]).await;
    assert_eq!(status, StatusCode::OK);
    let empty = ack(body);
    assert_eq!(
        (empty.acked_through, empty.head_hash),
        (None, Hash256::GENESIS)
    );

    let batch = till.records([
        Purchase::sale(10_000),
        Purchase::sale(20_000),
        Purchase::sale(5_050),
    ]);
    let (status, body) = till.upload(&batch).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let first = ack(body);
    assert_eq!(first.acked_through, Some(Seq::new(3).unwrap()));
    assert_eq!(first.head_hash, till.prev_hash);
    assert!((chrono::Utc::now() - first.server_time).num_seconds().abs() < 5);
    let before = stats(&server, &till).await;
    assert_eq!(before.totals.revenue.minor(), 35_050);

    // The same batch again, then an overlapping one with one new record.
    let (status, body) = till.upload(&batch).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(ack(body).acked_through, Some(Seq::new(3).unwrap()));
    assert_eq!(stats(&server, &till).await, before);

    let mut overlapping = batch[1..].to_vec();
    overlapping.extend(till.records([Purchase::sale(1)]));
    let (status, body) = till.upload(&overlapping).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(ack(body).acked_through, Some(Seq::new(4).unwrap()));

    let registers = registers(&server, &till).await;
    assert_eq!(registers[0].head_seq, Some(Seq::new(4).unwrap()));
    assert_eq!(registers[0].records, 4);
    assert!(registers[0].last_seen_at.is_some());
    assert_eq!(stats(&server, &till).await.totals.revenue.minor(), 35_051);
}

#[tokio::test]
async fn a_gap_a_fork_and_a_broken_chain_are_refused() {
    let server = TestServer::spawn().await;
    let (_, _, mut till) = merchant_with_till(&server, 1).await;
    let stored = till.records([Purchase::sale(100), Purchase::sale(200)]);
    assert_eq!(till.upload(&stored).await.0, StatusCode::OK);

    // Seqs 3 and 4 are signed, but only 4 is sent.
    let ahead = till.records([Purchase::sale(300), Purchase::sale(400)]);
    let (status, body) = till.upload(&ahead[1..]).await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert_eq!(body["error"], "seq_gap");
    assert_eq!(body["expected_seq"], 3);

    // Other bytes at the stored seq 2: a fork, kept in quarantine.
    let (tip_seq, tip_hash) = (till.next_seq, till.prev_hash);
    till.next_seq = Seq::new(2).unwrap();
    till.prev_hash = stored_hash_of_first(&till, &stored);
    let forked = till.records([Purchase::sale(999)]);
    let (status, body) = till.upload(&forked).await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert_eq!(body["error"], "fork");
    assert!(
        body["message"].as_str().unwrap().starts_with("record 2 "),
        "{body}"
    );
    let quarantined = server.count_rows("SELECT COUNT(*) FROM quarantine WHERE seq = 2");
    assert_eq!(quarantined, 1);

    // Seq 3 whose prev_hash is not the stored seq 2.
    till.next_seq = Seq::new(3).unwrap();
    till.prev_hash = Hash256([7; 32]);
    let unlinked = till.records([Purchase::sale(300)]);
    let (status, body) = till.upload(&unlinked).await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert_eq!(body["error"], "chain_broken");

    // The real continuation is still accepted.
    (till.next_seq, till.prev_hash) = (tip_seq, tip_hash);
    let (status, body) = till.upload(&ahead).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(ack(body).acked_through, Some(Seq::new(4).unwrap()));
}

/// The hash of the first stored record, which seq 2 links to.
fn stored_hash_of_first(
    till: &crate::helpers::Till,
    stored: &[shared::record::SignedRecord],
) -> Hash256 {
    stored[0].open(&till.key.public_key()).unwrap().hash
}

#[tokio::test]
async fn a_bad_signature_refuses_the_whole_batch() {
    let server = TestServer::spawn().await;
    let (_, _, mut till) = merchant_with_till(&server, 1).await;
    let mut batch = till.records([Purchase::sale(100), Purchase::sale(200)]);
    batch[1].signature = Signature::from_slice(&[0; 64]).unwrap();
    let (status, body) = till.upload(&batch).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["error"], "bad_signature");
    assert!(
        body["message"].as_str().unwrap().contains("record 2"),
        "{body}"
    );
    assert_eq!(registers(&server, &till).await[0].records, 0);
}

/// A batch large enough to be verified in parts on several threads is
/// refused for its first bad record, whichever part it is in, and the
/// parts come back in order.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_verified_in_parts_names_its_first_bad_record() {
    let server = TestServer::spawn().await;
    let (_, _, mut till) = merchant_with_till(&server, 1).await;
    let good = till.records((1..=600).map(Purchase::sale));
    let forged = Signature::from_slice(&[0; 64]).unwrap();
    for bad in [[120, 560], [560, 560]] {
        let mut batch = good.clone();
        for seq in bad {
            batch[seq - 1].signature = forged;
        }
        let (status, body) = till.upload(&batch).await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert_eq!(body["error"], "bad_signature");
        let message = body["message"].as_str().unwrap();
        assert!(message.contains(&format!("record {} ", bad[0])), "{body}");
        assert_eq!(registers(&server, &till).await[0].records, 0);
    }
    let (status, body) = till.upload(&good).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["acked_through"], 600);
    assert_eq!(registers(&server, &till).await[0].records, 600);
}

#[tokio::test]
async fn only_the_register_itself_may_upload_its_records() {
    let server = TestServer::spawn().await;
    let (_, store, mut till) = merchant_with_till(&server, 1).await;
    let batch = till.records([Purchase::sale(100)]);

    let honest_secret = std::mem::replace(&mut till.secret, "0".repeat(64));
    let (status, body) = till.upload(&batch).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(body["error"], "unauthorized");
    till.secret = honest_secret;

    // Another register of the store uploads the first one's record.
    let other = server.enroll(store.id, 2).await;
    let (status, body) = other.upload(&batch).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(body["error"], "wrong_register");

    // A revoked register is refused.
    server
        .admin(
            Method::POST,
            &format!("/api/v1/admin/registers/{}/revoke", till.register_id),
            None,
        )
        .await;
    let (status, body) = till.upload(&batch).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(body["error"], "register_revoked");
}

#[tokio::test]
async fn an_oversized_batch_is_refused() {
    let server = TestServer::spawn().await;
    let (_, _, till) = merchant_with_till(&server, 1).await;
    let response = till
        .http
        .post(format!("{}/api/v1/records", till.base))
        .bearer_auth(till.bearer())
        .header("content-type", "application/json")
        .body(format!(
            "{{\"records\": [], \"pad\": \"{}\"}}",
            "x".repeat(2 * 1024 * 1024)
        ))
        .send()
        .await
        .unwrap();
    let (status, body) = crate::helpers::reply(response).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(body["error"], "payload_too_large");
}
