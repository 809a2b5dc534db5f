//! The tests' one kit, shared by pos-agent's, sync-server's and the system
//! tests. It depends on `shared` only, so any crate's tests can use it
//! without a cycle.
//!
//! - [`fake_sync`]: the one scriptable fake sync server, for what the real
//!   server never sends (scripted conflicts and 503s, forged or
//!   future-schema rulesets, other protocol versions) and to count what an
//!   agent sent.
//! - [`mail`]: the SMTP sink and the recording SMS gateway, real servers
//!   as child processes (`scripts/`).
//! - [`pricing_load`]: the chain's programme and the generated rulesets
//!   and baskets the pricing engine is timed on (perf harness, profiling
//!   example `pricing_load`).
//! - [`poll`]: waiting for another task or process: poll a condition until
//!   it holds or a deadline passes, never a bare sleep.
//!
//! Invariant: tests use these and keep no second fake sync server, SMTP
//! sink or gateway of their own (`.ci/check-architecture`).

pub mod fake_sync;
pub mod mail;
pub mod poll;
pub mod pricing_load;

/// A free port on 127.0.0.1.
pub fn free_port() -> anyhow::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}
