//! Faults on the sync path, each a test with real servers and agents on
//! loopback, bounded in time. The numbering:
//!
//! | # | fault | module |
//! | --- | --- | --- |
//! | 1 | server killed before commit; reply lost after commit | [`crash`], [`exactly_once`] |
//! | 2 | the same batch on two connections at once | [`exactly_once`] |
//! | 3 | the same seq with other bytes | [`exactly_once`] |
//! | 4 | backlogs of 0, 1, page−1, page, page+1, 3×page | [`exactly_once`] |
//! | 5 | a large backlog cut off half-way; memory; another register's latency | [`backlog`] |
//! | 6 | many registers reconnect at once against load shedding | [`backlog`] |
//! | 7 | a register clock steps back a day and forward a year | [`clock`] |
//! | 8 | the agent SIGKILLed in a loop during commits and uploads | [`crash`] |
//! | 9 | the disk fills mid-write and mid-ruleset download | [`disk`] |
//! | 10 | forged, edited, deleted, reordered, replayed, unknown register | [`exactly_once`] |
//! | 11 | old, forged, truncated, unknown-schema rulesets | [`rulesets`] |
//! | 12 | agent and server of different protocol versions | [`protocol`] |
//! | 13 | a flaky proxy drops, delays and truncates | [`flaky`] |
//! | 14 | concurrent publishes skip no version | [`publish`] |
//! | — | retention pruning; a server that lost pruned records | [`backlog`] |
//! | — | dead letters (restored backup, rotten record) and recovery | [`exactly_once`] |

mod backlog;
mod clock;
mod crash;
mod disk;
mod exactly_once;
mod flaky;
mod protocol;
mod publish;
mod rulesets;

use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use anyhow::Context;
use system_tests::harness::enroll_agent;
use system_tests::scenario::{Chain, create_chain};
use system_tests::system::TestServer;

/// How long a fault test waits for anything to settle.
const SETTLE: Duration = Duration::from_secs(30);

/// The address behind a server URL.
fn addr_of(url: &str) -> anyhow::Result<SocketAddr> {
    url.trim_start_matches("http://")
        .parse()
        .with_context(|| format!("{url} is not http://<addr>"))
}

/// A server with the chain set up.
/// A server started in `dir` (with `extra_settings` TOML) and the demo
/// chain created on it.
pub(crate) async fn server_with_chain(
    dir: &Path,
    extra_settings: &str,
) -> anyhow::Result<(TestServer, Chain)> {
    let server = TestServer::start_with(
        &dir.join("server"),
        SocketAddr::from(([127, 0, 0, 1], 0)),
        extra_settings,
    )
    .await?;
    let chain = create_chain(&server.admin()).await?;
    Ok((server, chain))
}

/// Enrolls a register in the chain's first store; its sync URL is `url`
/// (the server, or a proxy in front of it), then `tune` applies.
async fn enroll_in(
    server: &TestServer,
    chain: &Chain,
    dir: &Path,
    url: &str,
    tune: impl FnOnce(&mut pos_agent::AgentConfig),
) -> anyhow::Result<pos_agent::AgentConfig> {
    let token = server.admin().enrollment_token(chain.stores[0].id).await?;
    let url = url.to_owned();
    enroll_agent(&server.url(), &token.token, dir, move |config| {
        config.sync.url = url;
        tune(config);
    })
    .await
}
