//! The workspace's system tests: the real server and real agents started
//! in-process on port 0, real pseudo-terminals as scanners, and typed
//! clients for the admin and till APIs. Used by the end-to-end tests in
//! `tests/`, the Quick start `demo` and the `perf` harness.
//!
//! # Layout
//!
//! - [`system`]: `TestServer` and `TestAgent` (start, stop, restart).
//! - [`clients`]: `AdminClient` and `TillClient`.
//! - [`pty`]: a pseudo-terminal standing in for a serial scanner.
//! - [`events`]: the agent's server-sent event stream.
//! - [`scenario`]: the merchant, catalog and programme the demo and tests share.
//! - [`harness`]: lighter agents, hand-signed registers, seeded backlogs,
//!   the agent binary as a child process, a tmpfs, for the fault tests.
//! - [`proxy`]: a TCP proxy that counts uploads and injects faults.
//!
//! The fake sync server, the SMTP sink, the SMS gateway and polling with a
//! deadline are the workspace's test kit's (`test-kit/`), shared with
//! pos-agent's and sync-server's tests.

pub mod clients;
pub mod events;
pub mod harness;
pub mod proxy;
pub mod pty;
pub mod scenario;
pub mod system;
