//! Load shedding: beyond `ingest.max_concurrent_batches` uploads are
//! refused with 429 `overloaded` and `Retry-After`, and registers that
//! retry get every record stored exactly once.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde_json::json;
use shared::record::SignedRecord;
use shared::wire::sync::UploadAck;
use shared::wire::{ErrorBody, PROTOCOL_HEADER};
use sync_server::wire::admin::Stats;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;
use tokio::sync::mpsc;

use test_kit::poll::Deadline;

use crate::helpers::{Purchase, TestServer, Till};

/// The most seconds a shed upload is told to wait, in these tests.
const RETRY_AFTER_MAX: u64 = 2;
/// Time is compressed: a `Retry-After` second lasts this long here.
const RETRY_SECOND: Duration = Duration::from_millis(20);
/// How long any single wait in these tests may last.
const PATIENCE: Duration = Duration::from_secs(10);

async fn one_slot_server() -> TestServer {
    TestServer::spawn_with(|settings| {
        settings.ingest.max_concurrent_batches = 1;
        settings.ingest.retry_after_secs = RETRY_AFTER_MAX;
    })
    .await
}

/// An upload sent but for the last byte of its body: the server has
/// admitted it and waits for the rest, so it holds its slot until
/// [`StalledUpload::finish`].
struct StalledUpload {
    stream: TcpStream,
    last_byte: u8,
}

impl StalledUpload {
    async fn start(till: &Till, records: &[SignedRecord]) -> Self {
        let body = serde_json::to_vec(&json!({ "records": records })).unwrap();
        let authority = till.base.trim_start_matches("http://");
        let mut stream = TcpStream::connect(authority).await.unwrap();
        let head = format!(
            "POST /api/v1/records HTTP/1.1\r\nhost: {authority}\r\n\
             authorization: Bearer {}\r\ncontent-type: application/json\r\n\
             content-length: {}\r\n{PROTOCOL_HEADER}: 1\r\nconnection: close\r\n\r\n",
            till.bearer(),
            body.len()
        );
        stream.write_all(head.as_bytes()).await.unwrap();
        let (last_byte, rest) = body.split_last().unwrap();
        stream.write_all(rest).await.unwrap();
        stream.flush().await.unwrap();
        StalledUpload {
            stream,
            last_byte: *last_byte,
        }
    }

    /// Sends the last byte; the reply's status.
    async fn finish(mut self) -> u16 {
        self.stream.write_all(&[self.last_byte]).await.unwrap();
        let mut reply = Vec::new();
        tokio::time::timeout(PATIENCE, self.stream.read_to_end(&mut reply))
            .await
            .expect("the stalled upload is answered")
            .unwrap();
        let reply = String::from_utf8_lossy(&reply);
        reply
            .split_whitespace()
            .nth(1)
            .and_then(|code| code.parse().ok())
            .unwrap_or_else(|| panic!("not an HTTP reply: {reply:?}"))
    }
}

/// Uploads `batch` until it is accepted, honouring each 429's
/// `Retry-After` in compressed time. Reports the first attempt's status on
/// `first` and counts the 429s in `shed`.
async fn upload_until_accepted(
    till: &Till,
    batch: &[SignedRecord],
    first: Option<&mpsc::UnboundedSender<StatusCode>>,
    shed: &AtomicUsize,
) -> UploadAck {
    let mut first = first;
    loop {
        let response = till.upload_via(&till.http, batch).await;
        let status = response.status();
        if let Some(first) = first.take() {
            first.send(status).unwrap();
        }
        if status == StatusCode::OK {
            return response.json().await.unwrap();
        }
        assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(response.headers()[PROTOCOL_HEADER], "1");
        let retry_after: u64 = response.headers()["retry-after"]
            .to_str()
            .unwrap()
            .parse()
            .unwrap();
        assert!(
            (1..=RETRY_AFTER_MAX).contains(&retry_after),
            "{retry_after}"
        );
        let body: ErrorBody = response.json().await.unwrap();
        assert_eq!(body.error, "overloaded");
        shed.fetch_add(1, Ordering::Relaxed);
        let wait = RETRY_SECOND * u32::try_from(retry_after).unwrap();
        tokio::time::sleep(wait).await;
    }
}

#[tokio::test]
async fn a_burst_beyond_capacity_is_shed_and_every_record_arrives_once() {
    const REGISTERS: u8 = 10;
    const BATCHES: usize = 3;
    const RECORDS_PER_BATCH: usize = 4;
    let server = Arc::new(one_slot_server().await);
    let merchant = server.merchant("Ромашка").await;
    let store = server.store(merchant.id, "Тверская", "Europe/Moscow").await;

    // A register whose upload holds the only slot while the burst arrives.
    let mut holder = server.enroll(store.id, 100).await;
    // Seed 100 is far from the burst's seeds 1..=REGISTERS.
    let held_batch = holder.records([Purchase::sale(1)]);
    let stalled = StalledUpload::start(&holder, &held_batch).await;
    let deadline = Deadline::after(PATIENCE).every(Duration::from_millis(10));
    while holder.upload(&[]).await.0 != StatusCode::TOO_MANY_REQUESTS {
        if let Err(e) = deadline
            .tick(|| "the stalled upload takes the slot".into())
            .await
        {
            panic!("{e}");
        }
    }

    let shed = Arc::new(AtomicUsize::new(0));
    let (first_tx, mut first_rx) = mpsc::unbounded_channel();
    let mut expected_revenue = 0;
    let mut burst = Vec::new();
    for seed in 1..=REGISTERS {
        let mut till = server.enroll(store.id, seed).await;
        let batches: Vec<Vec<SignedRecord>> = (0..BATCHES)
            .map(|b| {
                till.records((0..RECORDS_PER_BATCH).map(|r| {
                    let amount = i64::from(seed) * 1000 + i64::try_from(b * 10 + r).unwrap();
                    expected_revenue += amount;
                    Purchase::sale(amount)
                }))
            })
            .collect();
        let (shed, first_tx) = (shed.clone(), first_tx.clone());
        burst.push(tokio::spawn(async move {
            let mut acks = Vec::new();
            for (i, batch) in batches.iter().enumerate() {
                let first = (i == 0).then_some(&first_tx);
                acks.push(upload_until_accepted(&till, batch, first, &shed).await);
            }
            (till, acks)
        }));
    }

    // Every register's first attempt meets the full server.
    for _ in 0..REGISTERS {
        let status = tokio::time::timeout(PATIENCE, first_rx.recv())
            .await
            .unwrap()
            .unwrap();
        assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
    }
    assert_eq!(stalled.finish().await, 200);

    for register in burst {
        let (till, acks) = tokio::time::timeout(PATIENCE, register)
            .await
            .expect("the burst drains")
            .unwrap();
        let heads: Vec<i64> = acks
            .iter()
            .map(|ack| ack.acked_through.unwrap().get())
            .collect();
        assert_eq!(heads, vec![4, 8, 12], "register {}", till.register_id);
        assert_eq!(acks[2].head_hash, till.prev_hash);
    }
    assert!(shed.load(Ordering::Relaxed) >= usize::from(REGISTERS));

    let per_register = i64::try_from(BATCHES * RECORDS_PER_BATCH).unwrap();
    let total = i64::from(REGISTERS) * per_register + 1;
    assert_eq!(server.count_rows("SELECT COUNT(*) FROM records"), total);
    for register in server.registers(merchant.id).await {
        let expected = if register.register.id == holder.register_id {
            1
        } else {
            per_register
        };
        assert_eq!(register.register.records, expected);
        assert_eq!(register.register.head_seq.map(|s| s.get()), Some(expected));
    }
    let stats: Stats = server
        .admin_ok(
            Method::GET,
            &format!("/api/v1/admin/merchants/{}/stats", merchant.id),
            None,
        )
        .await;
    assert_eq!(stats.totals.checks, total);
    assert_eq!(stats.totals.revenue.minor(), expected_revenue + 1);
}

#[tokio::test]
async fn shedding_touches_only_uploads() {
    let server = one_slot_server().await;
    let merchant = server.merchant("Ромашка").await;
    let store = server.store(merchant.id, "Тверская", "Europe/Moscow").await;
    let mut till = server.enroll(store.id, 1).await;
    let held = till.records([Purchase::sale(1)]);
    let stalled = StalledUpload::start(&till, &held).await;
    let deadline = Deadline::after(PATIENCE).every(Duration::from_millis(10));
    while till.upload(&[]).await.0 != StatusCode::TOO_MANY_REQUESTS {
        if let Err(e) = deadline
            .tick(|| "the stalled upload takes the slot".into())
            .await
        {
            panic!("{e}");
        }
    }

    // Other routes answer while ingest is full.
    let response = till.get("/api/v1/ruleset?wait=0").await;
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    assert_eq!(server.registers(merchant.id).await.len(), 1);

    assert_eq!(stalled.finish().await, 200);
    let next = till.records([Purchase::sale(2)]);
    let (status, body) = till.upload(&next).await;
    assert_eq!(status, StatusCode::OK, "{body}");
}
