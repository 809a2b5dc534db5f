//! The server's API and pages over real HTTP and real SQLite files: each
//! test starts its own server on 127.0.0.1:0 with a fresh data directory.
//! The `web` tests also drive a real headless Chromium.

mod helpers;

mod access;
mod adjustments;
mod admin;
mod analytics;
mod backup;
mod baskets;
mod clock_drift;
mod concurrency;
mod content;
mod customers;
mod drafts;
mod enrollment;
mod errors;
mod fleet;
mod holds;
mod ingest;
mod keys;
mod leases;
mod load_shedding;
mod logs;
mod metrics;
mod openapi;
mod oversight;
mod points;
mod protocol;
mod reprice;
mod restart;
mod rulesets;
mod sales;
mod segments;
mod stats;
mod web;
