//! `GET /metrics`: Prometheus text behind the metrics (or admin) token,
//! with ingest counted as it happens.

use reqwest::StatusCode;
use secrecy::SecretString;

use crate::helpers::{ADMIN_TOKEN, Purchase, TestServer, merchant_with_till};

/// The value of the sample `name` (with its labels) in `text`.
fn sample(text: &str, name: &str) -> Option<f64> {
    text.lines()
        .find_map(|line| line.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
}

async fn scrape(server: &TestServer, token: Option<&str>) -> (StatusCode, String, String) {
    let mut request = server.http.get(format!("{}/metrics", server.base));
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    let response = request.send().await.unwrap();
    let status = response.status();
    let kind = response
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default();
    (status, kind, response.text().await.unwrap())
}

#[tokio::test]
async fn ingest_is_counted_by_outcome_and_batch() {
    let server = TestServer::spawn().await;
    let (_, _, mut till) = merchant_with_till(&server, 1).await;
    let records = till.records((0..5).map(|i| Purchase::sale(1_000 + i)));
    assert_eq!(till.upload(&records).await.0, StatusCode::OK);
    // The same batch again: every record is a duplicate.
    assert_eq!(till.upload(&records).await.0, StatusCode::OK);

    let (status, kind, text) = scrape(&server, Some(ADMIN_TOKEN)).await;
    assert_eq!(status, StatusCode::OK, "{text}");
    assert!(kind.starts_with("application/openmetrics-text"), "{kind}");
    assert_eq!(
        sample(
            &text,
            r#"sync_server_ingest_records_total{outcome="stored"}"#
        ),
        Some(5.0),
        "{text}"
    );
    assert_eq!(
        sample(
            &text,
            r#"sync_server_ingest_records_total{outcome="duplicate"}"#
        ),
        Some(5.0),
        "{text}"
    );
    assert_eq!(
        sample(&text, "sync_server_ingest_batch_records_count"),
        Some(2.0)
    );
    assert_eq!(
        sample(&text, "sync_server_ingest_batch_records_sum"),
        Some(10.0)
    );
    assert_eq!(
        sample(&text, "sync_server_ingest_verify_seconds_count"),
        Some(2.0)
    );
    assert_eq!(sample(&text, "sync_server_long_polls_held"), Some(0.0));
    // The five sales wait for their basket rows, or were added already.
    let queued = sample(&text, "sync_server_analytics_basket_queue");
    assert!(
        queued.is_some_and(|q| (0.0..=5.0).contains(&q)),
        "{queued:?}: {text}"
    );
    assert!(
        sample(
            &text,
            r#"sync_server_http_responses_total{area="api",class="2xx"}"#
        )
        .is_some_and(|n| n >= 2.0),
        "{text}"
    );
    assert!(
        text.trim_end().ends_with("# EOF"),
        "OpenMetrics ends with # EOF"
    );
}

#[tokio::test]
async fn a_refused_batch_is_counted_as_refused() {
    let server = TestServer::spawn().await;
    let (_, _, mut till) = merchant_with_till(&server, 1).await;
    let mut records = till.records([Purchase::sale(1_000), Purchase::sale(2_000)]);
    // Break the second record's signature.
    records[1].signature = records[0].signature;
    assert_eq!(till.upload(&records).await.0, StatusCode::BAD_REQUEST);
    let (_, _, text) = scrape(&server, Some(ADMIN_TOKEN)).await;
    assert_eq!(
        sample(
            &text,
            r#"sync_server_ingest_records_total{outcome="refused"}"#
        ),
        Some(2.0),
        "{text}"
    );
}

#[tokio::test]
async fn metrics_want_their_token() {
    let server = TestServer::spawn_with(|s| {
        s.metrics_token = Some(SecretString::from("scraper-token"));
    })
    .await;
    let (status, _, body) = scrape(&server, None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    assert!(body.contains("metrics_token"), "{body}");
    let (status, _, _) = scrape(&server, Some(ADMIN_TOKEN)).await;
    assert_eq!(
        status,
        StatusCode::UNAUTHORIZED,
        "with a metrics token set, the admin token is not asked for"
    );
    let (status, _, text) = scrape(&server, Some("scraper-token")).await;
    assert_eq!(status, StatusCode::OK);
    assert!(text.contains("sync_server_ingest_shed_total 0"), "{text}");
}

#[tokio::test]
async fn the_sample_grafana_dashboard_asks_only_for_metrics_the_server_has() {
    let server = TestServer::spawn().await;
    let (_, _, mut till) = merchant_with_till(&server, 1).await;
    let records = till.records([Purchase::sale(1_000)]);
    assert_eq!(till.upload(&records).await.0, StatusCode::OK);
    let (_, _, text) = scrape(&server, Some(ADMIN_TOKEN)).await;
    let dashboard = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../packaging/grafana/loyalty.json"),
    )
    .unwrap();
    let names = metric_names(&dashboard, "sync_server_");
    assert!(names.len() >= 5, "{names:?}");
    for name in names {
        assert!(
            text.contains(&name),
            "the dashboard asks for {name}:\n{text}"
        );
    }
}

/// Every metric name starting with `prefix` in `text`.
fn metric_names(text: &str, prefix: &str) -> std::collections::BTreeSet<String> {
    text.match_indices(prefix)
        .map(|(at, _)| {
            text[at..]
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect()
        })
        .collect()
}
