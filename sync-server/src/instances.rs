//! Wake-ups from the other server instances that share one PostgreSQL.
//!
//! A service announces a new release or a customer change inside its
//! transaction ([`crate::db::EventsTx`]); PostgreSQL delivers it with
//! `NOTIFY` when, and only if, the transaction commits. Every instance
//! keeps one connection that `LISTEN`s and hands what it hears to its own
//! [`Notifier`], so a long-poll held on instance B answers a publish made
//! on instance A within the round trip of a notification. A release is read
//! back from storage (a notification carries only its version), so a
//! waiter is never answered with bytes that were not committed.
//!
//! The channel is named after the schema the server's connections use, so
//! servers (or tests) on separate schemas of one database do not wake each
//! other. A lost connection is opened again with backoff; a notification
//! missed meanwhile costs a long-poll its timeout, never a release: every
//! long-poll reads storage before it waits. A register revoked on another
//! instance drops its credentials kept here, and every kept credential is
//! dropped whenever listening starts (again), since a revocation may have
//! been announced while nobody listened.

use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt as _;
use shared::ids::MerchantId;
use tokio::sync::{mpsc, watch};
use tokio_postgres::{AsyncMessage, NoTls};

use crate::db::{Announcement, Repository};
use crate::notify::{Notifier, ReleaseNews, Topic};
use crate::services::Catalog;

/// The longest wait between attempts to listen again.
const MAX_BACKOFF: Duration = Duration::from_secs(10);

/// The channel of the schema `schema`.
#[must_use]
pub fn channel(schema: &str) -> String {
    let safe: String = schema
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect();
    format!("{}_{safe}", crate::db::events::CHANNEL)
}

/// Listens until `stop` turns true, and hands every announcement to
/// `notifier`.
pub async fn listen(
    url: String,
    repo: Arc<dyn Repository>,
    notifier: Arc<Notifier>,
    catalog: Catalog,
    mut stop: watch::Receiver<bool>,
) {
    let mut backoff = Duration::from_millis(100);
    let heard = Heard {
        repo: &repo,
        notifier: &notifier,
        catalog: &catalog,
    };
    loop {
        match listen_once(&url, &heard, &mut stop).await {
            Ok(Ended::Stopped) => return,
            Ok(Ended::ConnectionClosed) => {
                tracing::warn!(
                    retry_in_ms = backoff.as_millis(),
                    "the listening connection closed; listening again"
                );
            }
            Err(e) => {
                tracing::warn!(error = %e, retry_in_ms = backoff.as_millis(),
                    "lost the wake-ups of the other instances; listening again");
            }
        }
        tokio::select! {
            _ = stop.changed() => return,
            () = tokio::time::sleep(backoff) => {}
        }
        backoff = (backoff * 2).min(MAX_BACKOFF);
    }
}

/// How listening on one connection ended.
enum Ended {
    /// The server is stopping.
    Stopped,
    /// The connection ended without an error.
    ConnectionClosed,
}

/// Who hears the announcements.
struct Heard<'a> {
    repo: &'a Arc<dyn Repository>,
    notifier: &'a Notifier,
    catalog: &'a Catalog,
}

async fn listen_once(
    url: &str,
    heard_by: &Heard<'_>,
    stop: &mut watch::Receiver<bool>,
) -> Result<Ended, tokio_postgres::Error> {
    let (client, mut connection) = tokio_postgres::connect(url, NoTls).await?;
    let (heard, mut hearing) = mpsc::unbounded_channel::<String>();
    let pump = tokio::spawn(async move {
        let mut messages = futures::stream::poll_fn(move |cx| connection.poll_message(cx));
        while let Some(message) = messages.next().await {
            match message {
                Ok(AsyncMessage::Notification(n)) => {
                    if heard.send(n.payload().to_owned()).is_err() {
                        return Ok(());
                    }
                }
                Ok(_) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
    });
    let schema: String = client
        .query_one("SELECT current_schema()", &[])
        .await?
        .get(0);
    client
        .batch_execute(&format!("LISTEN {}", channel(&schema)))
        .await?;
    tracing::info!(channel = %channel(&schema), "listening for the other instances");
    heard_by.catalog.forget_credentials(None);
    loop {
        tokio::select! {
            _ = stop.changed() => {
                pump.abort();
                return Ok(Ended::Stopped);
            }
            payload = hearing.recv() => match payload {
                Some(payload) => hand_on(&payload, heard_by).await,
                None => {
                    drop(client);
                    return match pump.await {
                        Ok(Err(e)) => Err(e),
                        _ => Ok(Ended::ConnectionClosed),
                    };
                }
            },
        }
    }
}

async fn hand_on(payload: &str, heard_by: &Heard<'_>) {
    match payload.parse::<Announcement>() {
        Ok(Announcement::Customers { merchant }) => {
            heard_by.notifier.notify(Topic::Customers, merchant);
        }
        Ok(Announcement::Release { merchant, version }) => {
            announce_stored_release(heard_by.repo, heard_by.notifier, merchant, version).await;
        }
        Ok(Announcement::Revoked { register }) => {
            heard_by.catalog.forget_credentials(Some(register));
        }
        Err(e) => tracing::warn!(error = %e, "an announcement this server does not read"),
    }
}

async fn announce_stored_release(
    repo: &Arc<dyn Repository>,
    notifier: &Notifier,
    merchant: MerchantId,
    version: shared::ids::RulesetVersion,
) {
    let stored = repo.read(move |tx| tx.latest_release(merchant)).await;
    match stored {
        Ok(Some(signed)) if signed.version >= version => match serde_json::to_vec(&signed) {
            Ok(json) => notifier.announce_release(
                merchant,
                ReleaseNews {
                    version: signed.version,
                    json: json.into(),
                },
            ),
            Err(e) => tracing::error!(error = %e, "could not serialise a release for long-polls"),
        },
        Ok(_) => tracing::debug!(merchant_id = %merchant, %version,
            "an announced release is not readable here yet"),
        Err(e) => tracing::warn!(error = %e, "could not read an announced release"),
    }
}

#[cfg(test)]
mod tests {
    use super::channel;

    #[test]
    fn channels_are_per_schema_and_plain() {
        assert_eq!(channel("public"), "loyalty_events_public");
        assert_eq!(channel("t-1\"x"), "loyalty_events_t_1_x");
    }
}
