//! `GET /api/v1/sales`: a till fetches another till's sale and the returns
//! stored of it, each verifiable with its register's key, and only of its
//! own merchant.

use reqwest::StatusCode;
use shared::record::{RecordKind, RecordRef};
use shared::wire::sync::SaleWithReturns;

use crate::helpers::{Purchase, TestServer, merchant_with_till};

#[tokio::test]
async fn a_till_fetches_another_tills_sale_with_its_returns_and_only_its_merchants() {
    let server = TestServer::spawn().await;
    let (_, store, mut seller) = merchant_with_till(&server, 1).await;
    let mut other = server.enroll(store.id, 2).await;
    let (_, _, stranger) = merchant_with_till(&server, 3).await;

    let (sale, sale_record) = seller.record(Purchase::sale(30_000));
    let original = RecordRef {
        register_id: seller.register_id,
        seq: sale_record.seq,
        id: sale_record.id,
    };
    let first = seller.records([Purchase::refund(10_000, original)]);
    assert_eq!(
        seller.upload(&[vec![sale], first].concat()).await.0,
        StatusCode::OK
    );
    let second = other.records([Purchase::sale(5_000), Purchase::refund(10_000, original)]);
    assert_eq!(other.upload(&second).await.0, StatusCode::OK);

    let by_seq = format!(
        "/api/v1/sales?register_id={}&seq={}",
        seller.register_id, sale_record.seq
    );
    let response = other.get(&by_seq).await;
    assert_eq!(response.status(), StatusCode::OK);
    let found: SaleWithReturns = response.json().await.unwrap();
    let sale = found
        .sale
        .record
        .open(&found.sale.public_key)
        .unwrap()
        .record;
    assert_eq!(sale.id, sale_record.id);
    let returns: Vec<(i64, i64)> = found
        .returns
        .iter()
        .map(|r| {
            let record = r.record.open(&r.public_key).unwrap().record;
            assert!(
                matches!(record.kind, RecordKind::Return { original: o, .. } if o.id == sale.id)
            );
            (record.register_id.get(), record.seq.get())
        })
        .collect();
    assert_eq!(
        returns,
        [(seller.register_id.get(), 2), (other.register_id.get(), 2)]
    );

    let by_id = other
        .get(&format!("/api/v1/sales?record_id={}", sale_record.id))
        .await;
    assert_eq!(by_id.status(), StatusCode::OK);

    // A return is not a sale; another merchant's till sees nothing.
    let of_return = other
        .get(&format!(
            "/api/v1/sales?register_id={}&seq=2",
            seller.register_id
        ))
        .await;
    assert_eq!(of_return.status(), StatusCode::NOT_FOUND);
    assert_eq!(stranger.get(&by_seq).await.status(), StatusCode::NOT_FOUND);
    let bad = other.get("/api/v1/sales?seq=1").await;
    assert_eq!(bad.status(), StatusCode::BAD_REQUEST);
}
