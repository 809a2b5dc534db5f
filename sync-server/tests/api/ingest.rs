//! Uploads of signed purchase records: exactly once, in chain order.

use reqwest::{Method, StatusCode};
use shared::crypto::{Hash256, Signature};
use shared::ids::Seq;
use shared::wire::sync::UploadAck;
use sync_server::wire::admin::{Register, Stats};

use crate::helpers::{Purchase, TestServer, merchant_with_till};
use serde_json::json;
use shared::record::SignedRecord;
use sync_server::db::{CheckKind, RecordKey, RecordRow};
use sync_server::ingest::CheckedRecord;

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

/// One register's upload mixing records stored before, new ones and a
/// record sent twice: the repeat refuses the batch whole (nothing stored),
/// the same batch without it stores the new records once with their
/// lines, uses and points, answers the stored ones as duplicates, and a
/// replay changes nothing.
#[tokio::test]
async fn a_batch_of_stored_new_and_repeated_records_stores_each_once() {
    let server = TestServer::spawn().await;
    let (merchant, _, mut till) = merchant_with_till(&server, 1).await;
    let anna = server
        .customer(
            merchant.id,
            json!({"name": "Анна", "phone": "+79161234567"}),
        )
        .await;
    let sale = |amount, points| {
        Purchase::sale(amount)
            .by(anna.id)
            .points(points, 0)
            .discounted(amount / 10, "spring", None)
    };
    let stored = till.records([sale(1_000, 10), sale(2_000, 20)]);
    let (status, body) = till.upload(&stored).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let new = till.records([sale(3_000, 30), sale(4_000, 40), sale(5_000, 50)]);
    let register = till.register_id;
    let counts = || {
        ["records", "record_lines", "promotion_uses", "ledger"].map(|table| {
            server.count_rows(&format!(
                "SELECT COUNT(*) FROM {table} WHERE register_id = {register}"
            ))
        })
    };
    assert_eq!(counts(), [2, 2, 2, 2]);

    // Seqs 1, 2 stored; 3, 4, 4, 5: a record repeated inside the batch.
    let mut repeated: Vec<SignedRecord> = stored.clone();
    repeated.extend([
        new[0].clone(),
        new[1].clone(),
        new[1].clone(),
        new[2].clone(),
    ]);
    let (status, body) = till.upload(&repeated).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(body["error"], "not_contiguous");
    assert_eq!(counts(), [2, 2, 2, 2], "a refused batch stores nothing");

    // The batch without the repeat: 1, 2 duplicates, 3..5 new.
    let mut mixed = stored.clone();
    mixed.extend(new.iter().cloned());
    for _ in 0..2 {
        let (status, body) = till.upload(&mixed).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        let ack = ack(body);
        assert_eq!(ack.acked_through, Some(Seq::new(5).unwrap()));
        assert_eq!(ack.head_hash, till.prev_hash);
        assert_eq!(counts(), [5, 5, 5, 5]);
    }
    assert_eq!(
        server.count_rows(&format!(
            "SELECT SUM(points) FROM ledger WHERE customer_id = {}",
            anna.id
        )),
        150
    );
    // Sales of 15 000 less their 10 % discounts.
    assert_eq!(stats(&server, &till).await.totals.revenue.minor(), 13_500);
    // Numbered in seq order, as the points replay reads them.
    assert_eq!(server.seqs_in_storage_order(register), vec![1, 2, 3, 4, 5]);
}

/// The storage primitive itself, on either backend: rows whose key is
/// stored, or repeated among the rows, are not written (nor their lines),
/// and the keys written are answered in the rows' order.
/// Stores `batch` as sales through the repository's batch primitive; the
/// keys it wrote.
async fn insert_sales(
    repo: &std::sync::Arc<dyn sync_server::db::Repository>,
    batch: Vec<CheckedRecord>,
) -> Vec<RecordKey> {
    repo.write(move |tx| {
        let rows: Vec<RecordRow<'_>> = batch
            .iter()
            .map(|checked| RecordRow {
                checked,
                kind: CheckKind::Sale,
                customer: None,
                spend: checked.record.total,
                received_at: chrono::Utc::now(),
            })
            .collect();
        tx.insert_records(&rows)
    })
    .await
    .unwrap()
}

#[tokio::test]
async fn insert_records_writes_each_key_once() {
    let server = TestServer::spawn().await;
    let (_, _, mut till) = merchant_with_till(&server, 1).await;
    let stored = till.records([Purchase::sale(100)]);
    assert_eq!(till.upload(&stored).await.0, StatusCode::OK);
    let new = till.records([Purchase::sale(200), Purchase::sale(300)]);
    let public_key = till.key.public_key();
    let checked = |signed: &SignedRecord| {
        let opened = signed.open(&public_key).unwrap();
        CheckedRecord {
            record: opened.record,
            bytes: opened.bytes,
            hash: opened.hash,
            signature: signed.signature,
            verified: true,
        }
    };
    // Stored 1, new 2, new 3, 3 again, 1 again.
    let batch: Vec<CheckedRecord> = [&stored[0], &new[0], &new[1], &new[1], &stored[0]]
        .into_iter()
        .map(checked)
        .collect();
    let repo = server.repository().await;
    let written = insert_sales(&repo, batch).await;
    let key = |seq| RecordKey {
        register_id: till.register_id,
        seq: Seq::new(seq).unwrap(),
    };
    assert_eq!(written, vec![key(2), key(3)]);
    let register = till.register_id;
    for (table, rows) in [("records", 3), ("record_lines", 3)] {
        assert_eq!(
            server.count_rows(&format!(
                "SELECT COUNT(*) FROM {table} WHERE register_id = {register}"
            )),
            rows,
            "{table}"
        );
    }
    assert_eq!(server.seqs_in_storage_order(register), vec![1, 2, 3]);

    // Nothing new: nothing written.
    let again: Vec<CheckedRecord> = new.iter().map(checked).collect();
    let written = insert_sales(&repo, again).await;
    assert!(written.is_empty());
}
