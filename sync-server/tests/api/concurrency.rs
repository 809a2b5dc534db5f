//! Batches of one register arriving at once on several connections: the
//! same batch is stored once and every copy is answered 200 with the same
//! acknowledgement; batches racing out of order get `seq_gap`, from which
//! the register rewinds.

use std::sync::Arc;

use reqwest::StatusCode;
use serde_json::json;
use shared::ids::Seq;
use shared::record::SignedRecord;
use shared::wire::ErrorBody;
use shared::wire::sync::UploadAck;
use sync_server::wire::admin::CustomerView;
use tokio::sync::Barrier;

use crate::helpers::{Purchase, TestServer, Till, merchant_with_till};

/// Sends `batches[i]` on its own connection, all released at once; the
/// replies in the same order.
async fn send_at_once(
    till: &Arc<Till>,
    batches: Vec<Vec<SignedRecord>>,
) -> Vec<(StatusCode, serde_json::Value)> {
    let start = Arc::new(Barrier::new(batches.len()));
    let sends: Vec<_> = batches
        .into_iter()
        .map(|batch| {
            let (till, start) = (till.clone(), start.clone());
            tokio::spawn(async move {
                // A client of its own: a connection of its own.
                let http = reqwest::Client::new();
                start.wait().await;
                let response = till.upload_via(&http, &batch).await;
                (response.status(), response.json().await.unwrap())
            })
        })
        .collect();
    let mut replies = Vec::new();
    for send in sends {
        replies.push(send.await.unwrap());
    }
    replies
}

#[tokio::test]
async fn the_same_batch_on_several_connections_at_once_is_stored_once() {
    let server = TestServer::spawn().await;
    let (merchant, _, mut till) = merchant_with_till(&server, 1).await;
    let anna = server
        .customer(
            merchant.id,
            json!({"name": "Анна", "phone": "+79161234567"}),
        )
        .await;
    let mut rounds = Vec::new();
    for round in 0..3 {
        rounds.push(till.records((0..5).map(|i| {
            Purchase::sale(1_000 * (round + 1) + i)
                .by(anna.id)
                .points(2, 0)
                .made_at(chrono::Utc::now())
        })));
    }
    let till = Arc::new(till);

    let mut last_head_hash = None;
    for (round, batch) in rounds.iter().enumerate() {
        let replies = send_at_once(&till, vec![batch.clone(); 6]).await;
        let acks: Vec<UploadAck> = replies
            .into_iter()
            .map(|(status, body)| {
                assert_eq!(status, StatusCode::OK, "{body}");
                serde_json::from_value(body).unwrap()
            })
            .collect();
        let head = Seq::new(5 * (i64::try_from(round).unwrap() + 1)).unwrap();
        for ack in &acks {
            assert_eq!(ack.acked_through, Some(head));
            assert_eq!(ack.head_hash, acks[0].head_hash);
        }
        last_head_hash = Some(acks[0].head_hash);
    }
    assert_eq!(last_head_hash, Some(till.prev_hash));

    assert_eq!(server.count_rows("SELECT COUNT(*) FROM records"), 15);
    assert_eq!(
        server.count_rows("SELECT COUNT(DISTINCT seq) FROM records"),
        15
    );
    assert_eq!(server.count_rows("SELECT COUNT(*) FROM ledger"), 15);
    let view: CustomerView = server
        .admin_ok(
            reqwest::Method::GET,
            &format!("/api/v1/admin/customers/{}", anna.id),
            None,
        )
        .await;
    assert_eq!(view.points_balance, 15 * 2, "each record's points once");
    assert_eq!(server.count_rows("SELECT COUNT(*) FROM quarantine"), 0);
    // No fork, and a clock in step: nothing for HQ to look at.
    assert_eq!(server.alerts(merchant.id).await, vec![]);
}

#[tokio::test]
async fn racing_batches_out_of_order_resolve_by_rewinding() {
    let server = TestServer::spawn().await;
    let (_, _, mut till) = merchant_with_till(&server, 1).await;
    let earlier = till.records((1..=3).map(Purchase::sale));
    let later = till.records((4..=6).map(Purchase::sale));
    let till = Arc::new(till);

    let replies = send_at_once(&till, vec![earlier.clone(), later.clone()]).await;
    let (status, body) = &replies[0];
    assert_eq!(*status, StatusCode::OK, "{body}");
    match replies[1].0 {
        // The later batch came second: it links to the stored head.
        StatusCode::OK => {}
        // It overtook the earlier one: the server names the seq it needs,
        // and the register resends from there.
        StatusCode::CONFLICT => {
            let refusal: ErrorBody = serde_json::from_value(replies[1].1.clone()).unwrap();
            assert_eq!(refusal.error, "seq_gap");
            assert_eq!(refusal.expected_seq, Some(Seq::FIRST));
            let (status, body) = till.upload(&later).await;
            assert_eq!(status, StatusCode::OK, "{body}");
        }
        other => panic!("unexpected {other}: {}", replies[1].1),
    }
    let (status, body) = till.upload(&[earlier, later].concat()).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let ack: UploadAck = serde_json::from_value(body).unwrap();
    assert_eq!(ack.acked_through, Some(Seq::new(6).unwrap()));
    assert_eq!(server.count_rows("SELECT COUNT(*) FROM records"), 6);
}
