//! The central loyalty server: register enrollment, exactly-once ingest of
//! signed purchase records with the points ledger, signed ruleset and
//! customer distribution by long-poll, CRM statistics, and the browser
//! pages of HQ, merchants and customers.
//!
//! The server is stateless apart from its data directory (the SQLite
//! database and the signing key), so a restart on the same directory carries
//! on where it stopped.
//!
//! # Layout
//!
//! - [`serve`]: the entry point; it receives its listener and its shutdown
//!   signal, so tests start it on port 0.
//! - [`router`] over an [`AppState`]: the routing table, tested with
//!   `oneshot`; handlers live one module per resource under `api/`.
//!   [`openapi`]: the JSON API's OpenAPI document, generated from them.
//! - [`config`]: [`Settings`], layered from defaults, a TOML file, the
//!   environment and the command line.
//! - [`services`]: the use cases (catalog, ingest, customers, publish,
//!   statistics, oversight, sales, the pages' own data, the re-pricer,
//!   messages to customers and their campaign task),
//!   each over the repository; the API and the pages call them.
//! - [`db`]: the repository: transaction-scoped primitives behind the
//!   [`Tx`](db::Tx) traits, and the SQLite backend.
//! - [`ingest`]: batch checks and the decision against the stored chain,
//!   which need no storage.
//! - `admission`: load shedding of uploads (429 with `Retry-After`).
//! - [`protocol`]: sync protocol negotiation with registers.
//! - [`alerts`]: what HQ is told about (forks, broken chains, bad
//!   signatures, uploads of revoked registers, clock drift).
//! - [`drift`]: the crude, flagged estimate of a register's clock drift.
//! - [`media`]: promotions' pictures checked (kind by their bytes, size
//!   before decoding) and re-encoded with a thumbnail; [`rich_text`]:
//!   their descriptions, Markdown rendered into safe HTML.
//! - [`wire`]: wire DTOs this server adds to [`shared::wire`].
//! - [`keys`]: the server's signing key in the data directory.
//! - [`clock`]: injected wall-clock time.
//! - `web`: the browser pages (HQ dashboard, merchant set-up, the
//!   customer's phone page and sign-up), server-rendered HTML.
//! - `customer_token`: issuing the rotating token a phone shows.
//! - `connections`: the accept loop and hyper's settings for idle
//!   long-polls; `layers`: the server's own middleware, unboxed.
//! - `notify`: long-poll wake-ups; `auth`: credentials; `error`: the API's
//!   error replies.

pub mod access;
mod admission;
pub mod alerts;
mod api;
mod auth;
pub mod backup;
pub mod clock;
pub mod config;
mod connections;
mod customer_token;
pub mod db;
pub mod drift;
mod error;
mod guard;
pub mod ingest;
mod instances;
pub mod keys;
mod layers;
pub mod media;
pub mod metrics;
mod notify;
pub mod protocol;
pub mod rich_text;
pub mod services;
mod state;
pub mod tls;
mod web;
pub mod wire;

use std::future::Future;
use std::sync::Arc;

pub use api::{openapi, router};
pub use config::Settings;
pub use state::{AppState, DATABASE_FILE, OpenError, open_repository};

use crate::clock::SystemClock;

/// Runs the server on `listener` until `shutdown` completes, then stops
/// accepting, ends the long-polls and lets in-flight requests finish.
/// With `[tls]` set it speaks HTTPS itself (see [`tls`]); otherwise plain
/// HTTP.
///
/// Everything durable lives in `settings.data_dir`: a later call on the
/// same directory (and the same address) carries on with the same data and
/// signing key.
pub async fn serve(
    settings: Settings,
    listener: tokio::net::TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    serve_with_clock(settings, Arc::new(SystemClock), listener, shutdown).await
}

/// [`serve`] on `clock` instead of the system's: the requests and every
/// background task (referral rewards, scheduled publishes, campaigns, the
/// re-pricer, the audit) read the time from it. Tests pass a
/// [`clock::ManualClock`] to move days on in a moment.
pub async fn serve_with_clock(
    settings: Settings,
    clock: Arc<dyn clock::Clock>,
    listener: tokio::net::TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    // A bad certificate or key stops the start, before anything runs.
    let tls = tls::acceptor(&settings.tls)?;
    let state = AppState::open(settings, clock).await?;
    tracing::info!(
        addr = %listener.local_addr()?,
        public_url = state.settings.public_url.as_deref().unwrap_or("-"),
        data_dir = %state.settings.data_dir.display(),
        server_key = %state.signing_key.public_key().to_base64(),
        tls = tls.is_some(),
        "sync-server listening"
    );
    let (stop_repricer, repricer_stop) = tokio::sync::watch::channel(false);
    let campaigns_stop = repricer_stop.clone();
    let referral_rewards = tokio::spawn(state.referral_rewards(repricer_stop.clone()));
    let scheduled_publishing = tokio::spawn(state.scheduled_publishing(repricer_stop.clone()));
    let basket_rows = tokio::spawn(services::analytics::basket_queue::run(
        state.services.basket_queue.clone(),
        repricer_stop.clone(),
    ));
    let segment_tags = tokio::spawn(services::segments::run(
        state.services.segments.clone(),
        repricer_stop.clone(),
    ));
    // Several instances on one PostgreSQL wake each other's long-polls.
    let instance_listener = state.settings.database.url.as_ref().map(|url| {
        use secrecy::ExposeSecret as _;
        tokio::spawn(instances::listen(
            url.expose_secret().to_owned(),
            state.db.clone(),
            state.notifier.clone(),
            state.services.catalog.clone(),
            repricer_stop.clone(),
        ))
    });
    let audit = {
        let admission = state.ingest_admission.clone();
        let metrics = state.metrics.clone();
        tokio::spawn(services::audit::run(
            services::audit::Audit::new(
                state.db.clone(),
                state.clock.clone(),
                state.settings.ingest.audit_batch,
            ),
            move || admission.in_flight() > 0,
            move |pass| metrics.audited(pass.verified, pass.failed),
            repricer_stop.clone(),
        ))
    };
    let repricer = {
        let admission = state.ingest_admission.clone();
        tokio::spawn(services::reprice::run(
            state.db.clone(),
            state.clock.clone(),
            state.notifier.clone(),
            move || admission.in_flight() > 0,
            repricer_stop,
        ))
    };
    let campaigns = {
        let messaging = match &state.settings.public_url {
            Some(_) => state.messaging.clone(),
            None => state.messaging.with_base_url(&format!(
                "{}://{}",
                if tls.is_some() { "https" } else { "http" },
                listener.local_addr()?
            )),
        };
        tokio::spawn(services::messaging::run(messaging, campaigns_stop))
    };
    let stopping = state.clone();
    // One routing table for every connection (the `Router` is shared, not
    // rebuilt per connection); the peer's address goes with each request,
    // for the public forms' limits.
    let shutdown = async move {
        shutdown.await;
        tracing::info!("sync-server stopping");
        stopping.begin_shutdown();
    };
    let served = match tls {
        Some(acceptor) => tls::serve(listener, acceptor, router(state), shutdown).await,
        None => {
            connections::serve(listener, router(state), shutdown).await;
            Ok(())
        }
    };
    let _ = stop_repricer.send(true);
    if let Some(listener) = instance_listener
        && let Err(e) = listener.await
    {
        tracing::error!(error = %e, "the listener of the other instances failed");
    }
    if let Err(e) = referral_rewards.await {
        tracing::error!(error = %e, "the referral reward task failed");
    }
    if let Err(e) = scheduled_publishing.await {
        tracing::error!(error = %e, "the scheduled publishing task failed");
    }
    if let Err(e) = basket_rows.await {
        tracing::error!(error = %e, "the basket rows task failed");
    }
    if let Err(e) = segment_tags.await {
        tracing::error!(error = %e, "the segment tags task failed");
    }
    if let Err(e) = campaigns.await {
        tracing::error!(error = %e, "the campaign task failed");
    }
    if let Err(e) = audit.await {
        tracing::error!(error = %e, "the audit task failed");
    }
    if let Err(e) = repricer.await {
        tracing::error!(error = %e, "the re-pricer task failed");
    }
    served?;
    Ok(())
}
