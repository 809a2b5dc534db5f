//! The till's edges (issue 9): idempotent commits, who may call the local
//! API, limits on open checks, private files, JSON errors everywhere and
//! token revocation to the second. Each test drives the real agent over
//! HTTP on 127.0.0.1 port 0 with its database in a temporary directory.

use super::*;

/// Opens a check with one line.
async fn check_with_a_line(agent: &Agent) -> String {
    let check = agent.open_check().await;
    let (status, view) = agent.add_line(&check, "4601", json!(1), 8990).await;
    assert_eq!(status, StatusCode::CREATED, "{view}");
    check
}

async fn commit_sale(agent: &Agent, check: &str, sale_id: &str) -> (StatusCode, Value) {
    agent
        .post(
            &format!("/v1/checks/{check}/commit"),
            Some(json!({ "sale_id": sale_id })),
        )
        .await
}

#[tokio::test]
async fn a_commit_repeated_with_its_sale_id_answers_the_same_record_even_after_a_restart() {
    let register = Register::new();
    let agent = Agent::start(register.config(&unreachable_url())).await;
    let check = check_with_a_line(&agent).await;

    let (status, first) = commit_sale(&agent, &check, "till-7/000123").await;
    assert_eq!(status, StatusCode::CREATED, "{first}");
    assert_eq!(first["seq"], 1);
    assert_eq!(first["sale_id"], "till-7/000123");
    assert!(first["pricing"]["receipt"].is_object(), "{first}");

    // The reply was lost: the till asks again, and learns the same record.
    let (status, again) = commit_sale(&agent, &check, "till-7/000123").await;
    assert_eq!(status, StatusCode::OK, "{again}");
    assert_eq!(again, first, "same seq, same receipt");
    let (status, outcome) = agent
        .call(reqwest::Method::GET, "/v1/sales/till-7%2F000123", None)
        .await;
    assert_eq!(status, StatusCode::OK, "{outcome}");
    assert_eq!(outcome["committed"], first);
    assert_eq!(outcome["uploaded"], false);

    // A sale that never committed says so.
    let (status, body) = agent
        .call(reqwest::Method::GET, "/v1/sales/never-rung", None)
        .await;
    assert_eq!(
        (status, error_code(&body)),
        (StatusCode::NOT_FOUND, "sale_not_found")
    );

    // The same sale id on another check is a conflict, and that check
    // stays open.
    let other = check_with_a_line(&agent).await;
    let (status, body) = commit_sale(&agent, &other, "till-7/000123").await;
    assert_eq!(
        (status, error_code(&body)),
        (StatusCode::CONFLICT, "sale_id_conflict"),
        "{body}"
    );
    let (status, _) = agent
        .call(reqwest::Method::GET, &format!("/v1/checks/{other}"), None)
        .await;
    assert_eq!(status, StatusCode::OK, "the check stays open");

    // A bad sale id is a clear error, never a record.
    let (status, body) = commit_sale(&agent, &other, "").await;
    assert_eq!(
        (status, error_code(&body)),
        (StatusCode::UNPROCESSABLE_ENTITY, "validation"),
        "{body}"
    );

    // The agent was killed after the commit: the answer survives it.
    agent.stop().await;
    let agent = Agent::start(register.config(&unreachable_url())).await;
    let (status, after_restart) = commit_sale(&agent, &check, "till-7/000123").await;
    assert_eq!(status, StatusCode::OK, "{after_restart}");
    assert_eq!(after_restart, first);
    let (status, outcome) = agent
        .call(reqwest::Method::GET, "/v1/sales/till-7%2F000123", None)
        .await;
    assert_eq!((status, &outcome["committed"]), (StatusCode::OK, &first));
    agent.stop().await;

    assert_eq!(register.verified_outbox().len(), 1, "one sale, one record");
}
