//! What HQ sees: alerts (newest first) and the quarantine of forked
//! records, and revoked registers whose records stay and count.

use chrono::Utc;
use reqwest::{Method, StatusCode};
use shared::crypto::{Hash256, Signature};
use shared::ids::Seq;
use sync_server::wire::admin::{Register, Stats};
use sync_server::wire::{Alert, AlertKind, QuarantinedRecord};

use crate::helpers::{Purchase, TestServer, Till, merchant_with_till};

/// A sale made now by the register's clock, so no drift is flagged.
fn sale(amount: i64) -> Purchase {
    Purchase::sale(amount).made_at(Utc::now())
}

fn summary(alerts: &[Alert]) -> Vec<(AlertKind, Option<i64>)> {
    alerts
        .iter()
        .map(|a| (a.kind, a.seq.map(Seq::get)))
        .collect()
}

async fn quarantine(server: &TestServer, till: &Till) -> Vec<QuarantinedRecord> {
    server
        .admin_ok(
            Method::GET,
            &format!("/api/v1/admin/merchants/{}/quarantine", till.merchant_id),
            None,
        )
        .await
}

/// Signs records from `seq` on, linking to `prev`, without moving the
/// register's own chain.
fn rewritten(
    till: &mut Till,
    seq: i64,
    prev: Hash256,
    purchases: Vec<Purchase>,
) -> Vec<shared::record::SignedRecord> {
    let tip = (till.next_seq, till.prev_hash);
    (till.next_seq, till.prev_hash) = (Seq::new(seq).unwrap(), prev);
    let records = till.records(purchases);
    (till.next_seq, till.prev_hash) = tip;
    records
}

#[tokio::test]
async fn forks_are_quarantined_visibly_and_alerted_once() {
    let server = TestServer::spawn().await;
    let (merchant, _, mut till) = merchant_with_till(&server, 1).await;
    let stored = till.records([sale(100), sale(200), sale(300)]);
    assert_eq!(till.upload(&stored).await.0, StatusCode::OK);
    let hashes: Vec<Hash256> = stored
        .iter()
        .map(|r| r.open(&till.key.public_key()).unwrap().hash)
        .collect();

    // Other bytes at the stored seq 2, sent twice (the agent retries).
    let forked = rewritten(&mut till, 2, hashes[0], vec![sale(999)]);
    let forked_hash = forked[0].open(&till.key.public_key()).unwrap().hash;
    for _ in 0..2 {
        let (status, body) = till.upload(&forked).await;
        assert_eq!(status, StatusCode::CONFLICT);
        assert_eq!(body["error"], "fork");
    }
    let alerts = server.alerts(merchant.id).await;
    assert_eq!(summary(&alerts), vec![(AlertKind::Fork, Some(2))]);
    assert_eq!(alerts[0].register_id, till.register_id);
    assert!(
        alerts[0].detail.contains("quarantined"),
        "{}",
        alerts[0].detail
    );
    let kept = quarantine(&server, &till).await;
    assert_eq!(kept.len(), 1, "a retried fork is kept once");
    assert_eq!(
        (kept[0].register_id, kept[0].seq.get()),
        (till.register_id, 2)
    );
    assert_eq!(kept[0].stored_hash, Some(hashes[1]));
    assert_eq!(kept[0].received_hash, forked_hash);

    // Another fork, of seqs 1 to 3: newly quarantined, alerted again.
    let forked = rewritten(
        &mut till,
        1,
        Hash256::GENESIS,
        vec![sale(1), sale(2), sale(3)],
    );
    assert_eq!(till.upload(&forked).await.0, StatusCode::CONFLICT);
    let alerts = server.alerts(merchant.id).await;
    assert_eq!(
        summary(&alerts),
        vec![(AlertKind::Fork, Some(1)), (AlertKind::Fork, Some(2))],
        "newest first"
    );
    assert!(alerts[0].id > alerts[1].id);
    assert!(
        alerts[0]
            .detail
            .starts_with("3 records between seq 1 and 3"),
        "{}",
        alerts[0].detail
    );
    let kept = quarantine(&server, &till).await;
    let seqs: Vec<i64> = kept.iter().map(|q| q.seq.get()).collect();
    assert_eq!(seqs, vec![3, 2, 1, 2], "newest first");
    assert_eq!(kept[0].stored_hash, Some(hashes[2]));

    // The stored chain is untouched.
    assert_eq!(server.count_rows("SELECT COUNT(*) FROM records"), 3);
    assert_eq!(server.count_rows("SELECT SUM(total) FROM records"), 600);
}

#[tokio::test]
async fn broken_chains_and_bad_signatures_are_alerted_once_per_seq() {
    let server = TestServer::spawn().await;
    let (merchant, _, mut till) = merchant_with_till(&server, 1).await;
    let stored = till.records([sale(100)]);
    assert_eq!(till.upload(&stored).await.0, StatusCode::OK);

    let unlinked = rewritten(&mut till, 2, Hash256([7; 32]), vec![sale(200)]);
    for _ in 0..3 {
        let (status, body) = till.upload(&unlinked).await;
        assert_eq!(
            (status, body["error"].as_str()),
            (StatusCode::CONFLICT, Some("chain_broken"))
        );
    }

    let mut forged = till.records([sale(300), sale(400)]);
    forged[1].signature = Signature::from_slice(&[0; 64]).unwrap();
    for _ in 0..2 {
        let (status, body) = till.upload(&forged).await;
        assert_eq!(
            (status, body["error"].as_str()),
            (StatusCode::BAD_REQUEST, Some("bad_signature"))
        );
    }

    let alerts = server.alerts(merchant.id).await;
    assert_eq!(
        summary(&alerts),
        vec![
            (AlertKind::BadSignature, Some(3)),
            (AlertKind::ChainBroken, Some(2)),
        ]
    );
    assert!(
        alerts[0].detail.contains("signature"),
        "{}",
        alerts[0].detail
    );
    assert!(
        alerts[1].detail.contains("prev_hash"),
        "{}",
        alerts[1].detail
    );
    assert!(quarantine(&server, &till).await.is_empty());
}

#[tokio::test]
async fn alerts_page_newest_first_and_stay_with_their_merchant() {
    let server = TestServer::spawn().await;
    let (merchant, _, mut till) = merchant_with_till(&server, 1).await;
    let (other, _, _) = merchant_with_till(&server, 2).await;
    let stored = till.records([sale(1)]);
    assert_eq!(till.upload(&stored).await.0, StatusCode::OK);
    for seq in 2..=5 {
        let unlinked = rewritten(&mut till, seq, Hash256([9; 32]), vec![sale(2)]);
        let (status, body) = till.upload(&unlinked).await;
        // Seq 2 does not link; seqs past it leave a gap, which is no alert.
        let expected = if seq == 2 { "chain_broken" } else { "seq_gap" };
        assert_eq!(
            (status, body["error"].as_str()),
            (StatusCode::CONFLICT, Some(expected))
        );
    }
    let all = server.alerts(merchant.id).await;
    assert_eq!(summary(&all), vec![(AlertKind::ChainBroken, Some(2))]);

    // Three more broken links at seq 2 with other content: once per seq.
    for amount in [3, 4, 5] {
        let unlinked = rewritten(
            &mut till,
            2,
            Hash256([amount; 32]),
            vec![sale(i64::from(amount))],
        );
        till.upload(&unlinked).await;
    }
    assert_eq!(server.alerts(merchant.id).await.len(), 1);

    // Forks at seq 1, three times with other bytes: three alerts.
    for amount in [10, 20, 30] {
        let forked = rewritten(&mut till, 1, Hash256::GENESIS, vec![sale(amount)]);
        assert_eq!(till.upload(&forked).await.0, StatusCode::CONFLICT);
    }
    let all = server.alerts(merchant.id).await;
    assert_eq!(all.len(), 4);
    assert!(all.windows(2).all(|w| w[0].id > w[1].id), "newest first");

    let path = format!("/api/v1/admin/merchants/{}/alerts", merchant.id);
    let first: Vec<Alert> = server
        .admin_ok(Method::GET, &format!("{path}?limit=2"), None)
        .await;
    assert_eq!(first, all[..2]);
    let rest: Vec<Alert> = server
        .admin_ok(
            Method::GET,
            &format!("{path}?limit=2&before={}", first[1].id),
            None,
        )
        .await;
    assert_eq!(rest, all[2..]);

    assert!(server.alerts(other.id).await.is_empty());
    let (status, body) = server
        .admin(Method::GET, "/api/v1/admin/merchants/99/alerts", None)
        .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::NOT_FOUND, Some("not_found"))
    );
    let (status, _) = server
        .admin(Method::GET, "/api/v1/admin/merchants/99/quarantine", None)
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let response = till
        .http
        .get(format!("{}{path}", server.base))
        .bearer_auth(till.bearer())
        .send()
        .await
        .unwrap();
    assert_eq!(
        response.status(),
        StatusCode::UNAUTHORIZED,
        "alerts are for HQ"
    );
}

#[tokio::test]
async fn a_revoked_register_keeps_its_records_and_its_uploads_are_alerted() {
    let server = TestServer::spawn().await;
    let (merchant, store, mut till) = merchant_with_till(&server, 1).await;
    let colleague = server.enroll(store.id, 2).await;
    let stored = till.records([sale(10_000), sale(2_500)]);
    assert_eq!(till.upload(&stored).await.0, StatusCode::OK);

    let (status, _) = server
        .admin(
            Method::POST,
            &format!("/api/v1/admin/registers/{}/revoke", till.register_id),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);

    let next = till.records([sale(1)]);
    for _ in 0..2 {
        let (status, body) = till.upload(&next).await;
        assert_eq!(
            (status, body["error"].as_str()),
            (StatusCode::UNAUTHORIZED, Some("register_revoked"))
        );
    }
    // Other routes are refused too, but only uploads are alerted.
    assert_eq!(
        till.get("/api/v1/ruleset?wait=0").await.status(),
        StatusCode::UNAUTHORIZED
    );
    // Without the right secret there is nothing to alert about.
    let secret = std::mem::replace(&mut till.secret, "0".repeat(64));
    let (status, body) = till.upload(&next).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::UNAUTHORIZED, Some("unauthorized"))
    );
    till.secret = secret;

    let alerts = server.alerts(merchant.id).await;
    assert_eq!(
        summary(&alerts),
        vec![(AlertKind::RevokedRegisterUpload, None)],
        "once, however often it retries"
    );
    assert_eq!(alerts[0].register_id, till.register_id);

    let registers = server.registers(merchant.id).await;
    let revoked: Vec<(bool, bool, i64)> = registers
        .iter()
        .map(|r| (r.revoked, r.revoked_at.is_some(), r.register.records))
        .collect();
    assert_eq!(revoked, vec![(true, true, 2), (false, false, 0)]);
    assert_eq!(registers[1].register.id, colleague.register_id);
    // Clients that know only the shared `Register` read the same reply.
    let shared_view: Vec<Register> = server
        .admin_ok(
            Method::GET,
            &format!("/api/v1/admin/merchants/{}/registers", merchant.id),
            None,
        )
        .await;
    assert_eq!(shared_view[0].head_seq, Some(Seq::new(2).unwrap()));

    let stats: Stats = server
        .admin_ok(
            Method::GET,
            &format!("/api/v1/admin/merchants/{}/stats", merchant.id),
            None,
        )
        .await;
    assert_eq!(
        (stats.totals.checks, stats.totals.revenue.minor()),
        (2, 12_500),
        "a revoked register's records still count"
    );
}

#[tokio::test]
async fn a_record_naming_another_merchants_customer_is_stored_and_alerted() {
    let server = TestServer::spawn().await;
    let (merchant, _, mut till) = merchant_with_till(&server, 1).await;
    let (other, _, _) = merchant_with_till(&server, 2).await;
    let theirs = server
        .customer(
            other.id,
            serde_json::json!({"name": "Борис", "phone": "+79161234567"}),
        )
        .await;
    let stored = till.records([sale(500).by(theirs.id).points(5, 0)]);
    let (status, body) = till.upload(&stored).await;
    assert_eq!(status, StatusCode::OK, "the sale happened: {body}");
    assert_eq!(server.count_rows("SELECT COUNT(*) FROM records"), 1);
    assert_eq!(
        server.count_rows("SELECT COUNT(*) FROM records WHERE customer_id IS NULL"),
        1
    );
    let alerts = server.alerts(merchant.id).await;
    assert_eq!(
        summary(&alerts),
        vec![(AlertKind::UnknownCustomer, Some(1))],
        "the customer is not dropped silently"
    );
    assert!(
        alerts[0].detail.contains(&theirs.id.to_string()),
        "{}",
        alerts[0].detail
    );
    assert!(server.alerts(other.id).await.is_empty());
}

#[tokio::test]
async fn a_signed_record_that_does_not_add_up_is_refused_quarantined_and_alerted() {
    let server = TestServer::spawn().await;
    let (merchant, _, mut till) = merchant_with_till(&server, 1).await;
    let customer = server
        .customer(
            merchant.id,
            serde_json::json!({"name": "Анна", "phone": "+79160000001"}),
        )
        .await;
    let stored = till.records([sale(100)]);
    assert_eq!(till.upload(&stored).await.0, StatusCode::OK);

    // Validly signed and chained, but total ≠ subtotal − discount.
    let (wrong_total, _) = till.record_edited(sale(500).by(customer.id), |r| {
        r.total = shared::money::Money::from_minor(50_000).unwrap();
    });
    for _ in 0..2 {
        let (status, body) = till.upload(std::slice::from_ref(&wrong_total)).await;
        assert_eq!(
            (status, body["error"].as_str()),
            (StatusCode::BAD_REQUEST, Some("bad_record")),
            "{body}"
        );
        assert!(
            body["message"].as_str().unwrap().contains("total"),
            "{body}"
        );
    }
    let alerts = server.alerts(merchant.id).await;
    assert_eq!(summary(&alerts), vec![(AlertKind::BadRecord, Some(2))]);
    assert!(
        alerts[0].detail.contains("quarantined"),
        "{}",
        alerts[0].detail
    );
    let kept = quarantine(&server, &till).await;
    assert_eq!(kept.len(), 1, "a retried bad record is kept once");
    assert_eq!(kept[0].seq.get(), 2);
    assert_eq!(kept[0].stored_hash, None);

    // Absurd points that add up line by line are refused too.
    till.next_seq = Seq::new(2).unwrap();
    till.prev_hash = stored[0].open(&till.key.public_key()).unwrap().hash;
    let (absurd, _) = till.record_edited(
        sale(500).by(customer.id).points(1_000_000_000_000, 0),
        |_| {},
    );
    let (status, body) = till.upload(&[absurd]).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("bad_record")),
        "{body}"
    );
    assert_eq!(quarantine(&server, &till).await.len(), 2);

    // Nothing entered the records or the ledger.
    assert_eq!(server.count_rows("SELECT COUNT(*) FROM records"), 1);
    assert_eq!(server.count_rows("SELECT SUM(total) FROM records"), 100);
    assert_eq!(server.count_rows("SELECT COUNT(*) FROM ledger"), 0);
}
