//! What an operator reads: the server binary's logs are plain text without
//! colour codes when written to a pipe (journald), or one JSON object per
//! line with `--log-format json`; every request is in the access log with
//! its request id, which the reply carries back; a customer's page address
//! (their secret) is never logged.

use std::process::Stdio;
use std::time::Duration;

use tokio::io::AsyncReadExt as _;

use crate::helpers::ADMIN_TOKEN;

/// Runs `sync-server serve` with `extra` flags on a free port until it has
/// answered two requests (one with a request id); returns its stderr and
/// the request id the reply carried.
async fn serve_and_log(extra: &[&str]) -> (String, String) {
    let dir = tempfile::tempdir().unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_sync-server"))
        .args(extra)
        .args([
            "serve",
            "--listen",
            &format!("127.0.0.1:{port}"),
            "--data-dir",
        ])
        .arg(dir.path())
        .env("SYNC_SERVER__ADMIN_TOKEN", ADMIN_TOKEN)
        .env("RUST_LOG", "info")
        .env_remove("SYNC_SERVER__DATABASE__URL")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("the server starts");
    let http = reqwest::Client::new();
    let base = format!("http://127.0.0.1:{port}");
    let deadline = test_kit::poll::Deadline::after(Duration::from_secs(10));
    let mut up = false;
    loop {
        if http.get(format!("{base}/health")).send().await.is_ok() {
            up = true;
            break;
        }
        if deadline.tick(String::new).await.is_err() {
            break;
        }
    }
    assert!(up, "the server answers");
    let reply = http
        .get(format!("{base}/api/v1/protocol"))
        .header("x-request-id", "till-7-req-42")
        .send()
        .await
        .unwrap();
    let echoed = reply
        .headers()
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let _ = http
        .get(format!("{base}/c/the-customers-secret-link"))
        .send()
        .await
        .unwrap();
    child.start_kill().unwrap();
    let mut stderr = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut stderr)
        .await
        .unwrap();
    (stderr, echoed)
}

#[tokio::test]
async fn logs_in_a_pipe_have_no_colour_codes_and_carry_request_ids() {
    let (stderr, echoed) = serve_and_log(&[]).await;
    assert_eq!(echoed, "till-7-req-42", "the reply carries the request id");
    assert!(
        !stderr.contains('\u{1b}'),
        "no ANSI escapes in a pipe:\n{stderr}"
    );
    assert!(
        stderr.contains("till-7-req-42"),
        "the access log:\n{stderr}"
    );
    assert!(
        !stderr.contains("the-customers-secret-link"),
        "a customer's link is a secret:\n{stderr}"
    );
}

#[tokio::test]
async fn json_logs_are_one_object_per_line_with_the_request_id() {
    let (stderr, _) = serve_and_log(&["--log-format", "json"]).await;
    let lines: Vec<serde_json::Value> = stderr
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect();
    assert!(!lines.is_empty());
    assert!(
        lines
            .iter()
            .any(|l| l["span"]["request_id"] == "till-7-req-42"),
        "{stderr}"
    );
}
