//! The OpenAPI contracts, checked by schemathesis (PyPI) against the real
//! server and a real enrolled agent on 127.0.0.1 port 0: generated valid
//! and invalid requests to every documented operation must never get a 5xx
//! and every answer must fit the document (status, content type, schema).
//!
//! Three runs, each with the credentials its routes take: the registers'
//! sync API with a register's `Bearer <id>.<secret>`, the admin API (and
//! health, metrics, protocol) with the admin token, then the agent's local
//! API. The event stream (`GET /v1/events`) never ends, so it is left out;
//! the agent tests read it.
//!
//! Without schemathesis the test says so and passes, unless
//! `LOYALTY_REQUIRE_SCHEMATHESIS=1` (set by `.ci/run`, which installs it),
//! where a missing schemathesis fails it.

use std::time::Duration;

use anyhow::{Context as _, bail};
use secrecy::ExposeSecret as _;
use system_tests::harness::{LiteAgent, enroll_agent};

use crate::faults::server_with_chain;

/// Test cases per operation and phase: enough to reach every operation
/// with valid and invalid input, few enough to keep the run to minutes.
const MAX_EXAMPLES: &str = "25";

/// The checks every answer must pass.
const CHECKS: &str = "not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance";

/// The command that runs schemathesis, if it is installed.
fn schemathesis() -> anyhow::Result<Option<Vec<String>>> {
    let command = ["python3", "-m", "schemathesis.cli"];
    let found = std::process::Command::new(command[0])
        .args(&command[1..])
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if found {
        return Ok(Some(command.iter().map(|s| (*s).to_owned()).collect()));
    }
    if std::env::var("LOYALTY_REQUIRE_SCHEMATHESIS").is_ok_and(|v| v == "1") {
        bail!(
            "schemathesis is required (LOYALTY_REQUIRE_SCHEMATHESIS=1) but `python3 -m \
             schemathesis.cli` does not run: `python3 -m pip install schemathesis`"
        );
    }
    eprintln!(
        "SKIPPED: schemathesis is not installed (`python3 -m pip install schemathesis`); \
         .ci/run installs it and sets LOYALTY_REQUIRE_SCHEMATHESIS=1"
    );
    Ok(None)
}

/// Runs schemathesis against the document at `schema_url` with `args`,
/// and fails with its report unless every check passed.
async fn run(command: &[String], name: &str, schema_url: &str, args: &[&str]) -> anyhow::Result<()> {
    let report = tempfile::tempdir()?;
    let mut st = tokio::process::Command::new(&command[0]);
    st.args(&command[1..])
        .args(["--no-color", "run", schema_url])
        .args(["--checks", CHECKS])
        .args(["--max-examples", MAX_EXAMPLES])
        .args(["--phases", "examples,coverage,fuzzing"])
        .args(["--workers", "2"])
        .args(["--request-timeout", "10"])
        .args(["--seed", "15"])
        .args(["--generation-database", "none"])
        .arg("--report-dir")
        .arg(report.path())
        .args(args)
        .kill_on_drop(true);
    let output = tokio::time::timeout(Duration::from_secs(600), st.output())
        .await
        .with_context(|| format!("schemathesis on {name} did not finish in 10 minutes"))?
        .with_context(|| format!("schemathesis on {name} did not start"))?;
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    // Its summary: how many operations and cases, and any failures.
    eprintln!("schemathesis on {name}:\n{stdout}{stderr}");
    if !output.status.success() {
        bail!("schemathesis found failures in {name} (exit {})", output.status);
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn schemathesis_finds_no_server_error_and_no_answer_off_the_documents() -> anyhow::Result<()> {
    let Some(command) = schemathesis()? else {
        return Ok(());
    };
    let tmp = tempfile::tempdir()?;
    let (server, chain) = server_with_chain(tmp.path(), "").await?;
    let admin = server.admin();

    // The agent whose local API is tested, enrolled and running.
    let token = admin.enrollment_token(chain.stores[0].id).await?;
    let config = enroll_agent(&server.url(), &token.token, &tmp.path().join("till"), |_| {})
        .await?;
    let agent = LiteAgent::start(config).await?;
    agent.wait_synced(Duration::from_secs(30)).await?;

    // A register of its own for the sync API, so the agent's own chain
    // is not what schemathesis uploads to.
    let token = admin.enrollment_token(chain.stores[0].id).await?;
    let fuzzed = enroll_agent(&server.url(), &token.token, &tmp.path().join("fuzzed"), |_| {})
        .await?;
    let register = format!(
        "Authorization: Bearer {}.{}",
        fuzzed.sync.register_id,
        fuzzed.sync.secret.expose_secret()
    );
    let admin_token = format!("Authorization: Bearer {}", server.admin_token());
    let document = format!("{}/api/v1/openapi.json", server.url());
    let sync_routes = "^/api/v1/(records|ruleset|customers/changes|sales|heartbeat|leases)$";

    run(
        &command,
        "the sync API",
        &document,
        &["--include-path-regex", sync_routes, "--header", &register],
    )
    .await?;
    run(
        &command,
        "the admin API",
        &document,
        &["--exclude-path-regex", sync_routes, "--header", &admin_token],
    )
    .await?;
    run(
        &command,
        "the agent's local API",
        &format!("{}/v1/openapi.json", agent.till.base()),
        &["--exclude-path", "/v1/events"],
    )
    .await?;
    Ok(())
}
