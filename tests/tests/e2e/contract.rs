//! The OpenAPI contracts, checked by schemathesis (PyPI) against the real
//! server and a real enrolled agent on 127.0.0.1 port 0: generated valid
//! and invalid requests to every documented operation must never get a 5xx
//! and every answer must fit the document (status, content type, schema).
//!
//! Separate runs, each with the credentials its routes take: the
//! registers' sync API with a register's `Bearer <id>.<secret>`, the admin
//! API (and health, metrics, protocol) with the admin token, then the
//! agent's local API over open checks and a committed sale, the calls that
//! close a check last. The event stream (`GET /v1/events`) never ends, so
//! it is left out; the agent tests read it.
//!
//! Without schemathesis the test says so and passes, unless
//! `LOYALTY_REQUIRE_SCHEMATHESIS=1` (set by `.ci/run`, which installs it),
//! where a missing schemathesis fails it.

use std::time::Duration;

use anyhow::{Context as _, bail};
use reqwest::{Method, StatusCode};
use secrecy::ExposeSecret as _;
use serde_json::json;
use shared::wire::till::AttachCustomer;
use system_tests::harness::enroll_agent;
use system_tests::scenario::CATALOG;
use system_tests::system::TestAgent;

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
///
/// `known` maps path parameters to values that name stored things (a
/// merchant, an open check): schemathesis draws them half the time, and
/// generates the rest, so requests reach past "not found".
async fn run(
    command: &[String],
    name: &str,
    schema_url: &str,
    known: &[(&str, Vec<serde_json::Value>)],
    args: &[&str],
) -> anyhow::Result<()> {
    let report = tempfile::tempdir()?;
    let mut config = String::new();
    for (parameter, values) in known {
        config.push_str(&format!(
            "[dictionaries.{parameter}]\nvalues = {}\n",
            serde_json::to_string(values)?
        ));
    }
    if !known.is_empty() {
        config.push_str("[parameters]\n");
    }
    for (parameter, _) in known {
        config.push_str(&format!(
            "\"path.{parameter}\" = {{ dictionary = \"{parameter}\", probability = 0.5 }}\n"
        ));
    }
    let config_file = report.path().join("schemathesis.toml");
    std::fs::write(&config_file, config)?;
    let mut st = tokio::process::Command::new(&command[0]);
    st.args(&command[1..])
        .arg("--config-file")
        .arg(&config_file)
        .args(["--no-color", "run", schema_url])
        .args(["--checks", CHECKS])
        .args(["--max-examples", MAX_EXAMPLES])
        .args(["--phases", "examples,coverage,fuzzing"])
        // One worker: hypothesis's lambda descriptions are not thread-safe
        // on every Python (a `SystemError` from its AST parsing).
        .args(["--workers", "1"])
        .args(["--request-timeout", "10"])
        .args(["--seed", "15"])
        .args(["--generation-database", "none"])
        .arg("--report-dir")
        .arg(report.path())
        .args(args)
        // Its caches (`.schemathesis`, `.hypothesis`) go with the report.
        .current_dir(report.path())
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
        bail!(
            "schemathesis found failures in {name} (exit {})",
            output.status
        );
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn schemathesis_finds_no_server_error_and_no_answer_off_the_documents() -> anyhow::Result<()>
{
    let Some(command) = schemathesis()? else {
        return Ok(());
    };
    let tmp = tempfile::tempdir()?;
    // Long-polls answer at once: each generated request would otherwise
    // wait out the server's longest hold.
    let (server, chain) = server_with_chain(tmp.path(), "[longpoll]\nmax_wait_secs = 0\n").await?;
    let admin = server.admin();

    // The agent whose local API is tested, enrolled and running.
    let token = admin.enrollment_token(chain.stores[0].id).await?;
    let config = enroll_agent(
        &server.url(),
        &token.token,
        &tmp.path().join("till"),
        |_| {},
    )
    .await?;
    let agent = TestAgent::start(config).await?;
    agent
        .wait_status(Duration::from_secs(30), |s| {
            s.ruleset_version.is_some() && s.cached_customers > 0
        })
        .await?;

    // A register of its own for the sync API, so the agent's own chain
    // is not what schemathesis uploads to.
    let token = admin.enrollment_token(chain.stores[0].id).await?;
    let fuzzed = enroll_agent(
        &server.url(),
        &token.token,
        &tmp.path().join("fuzzed"),
        |_| {},
    )
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
        &[],
        &["--include-path-regex", sync_routes, "--header", &register],
    )
    .await?;
    // Merchant, store, customer and register ids of the chain.
    let ids = vec![json!(1), json!(2)];
    run(
        &command,
        "the admin API",
        &document,
        &[("id", ids)],
        &[
            "--exclude-path-regex",
            sync_routes,
            "--header",
            &admin_token,
        ],
    )
    .await?;

    // Open checks, empty, with lines and with a customer, and a committed
    // sale with the till's id.
    let till = &agent.till;
    let customer = AttachCustomer::Card(String::from(chain.customers[0].card_number.clone()));
    let mut checks = vec![
        till.open().await?.id,
        till.open_with(None, &[(&CATALOG[0], 2), (&CATALOG[1], 1)])
            .await?
            .id,
        till.open_with(Some(&customer), &[(&CATALOG[2], 1)])
            .await?
            .id,
    ];
    let sold = till
        .open_with(Some(&customer), &[(&CATALOG[0], 1)])
        .await?
        .id;
    let (status, reply) = till
        .raw(
            Method::POST,
            &format!("/v1/checks/{sold}/commit"),
            r#"{"sale_id": "contract-sale-1"}"#,
        )
        .await?;
    anyhow::ensure!(status == StatusCode::CREATED, "commit: {status} {reply}");
    checks.push(sold);
    let document = format!("{}/v1/openapi.json", till.base());
    let known = [
        ("id", checks.iter().map(|c| json!(c)).collect()),
        ("sale_id", vec![json!("contract-sale-1")]),
        ("line_id", vec![json!(1), json!(2)]),
    ];
    // The checks stay open for the calls that use them, then the calls
    // that close them (cancel, commit) run.
    let closing = "^/v1/checks/\\{id\\}/(cancel|commit)$";
    run(
        &command,
        "the agent's local API",
        &document,
        &known,
        &[
            "--exclude-path",
            "/v1/events",
            "--exclude-path-regex",
            closing,
        ],
    )
    .await?;
    run(
        &command,
        "the agent's commit and cancel",
        &document,
        &known,
        &["--include-path-regex", closing],
    )
    .await?;
    Ok(())
}
