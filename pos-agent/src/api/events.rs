//! `GET /v1/events`: server-sent events for the till, one JSON
//! [`TillEvent`] per `data:` line, named by its `type`. A subscriber that
//! falls behind skips the events it missed; streams end when the agent
//! stops.

use shared::wire::ErrorBody;

use std::convert::Infallible;
use std::time::Duration;

use axum::extract::State;
use axum::response::sse::{Event, KeepAlive, Sse};
use futures::{Stream, StreamExt};
use shared::wire::till::TillEvent;
use tokio_stream::wrappers::BroadcastStream;

use super::ApiState;

const KEEP_ALIVE: Duration = Duration::from_secs(15);

/// Streams events until the client leaves or the agent stops.
#[utoipa::path(
    get,
    path = "/v1/events",
    operation_id = "events",
    tag = "events",
    summary = "Server-sent events: one JSON `TillEvent` per `data:` line, named by its `type`.",
    responses(
        (status = 200, description = "An event stream; each event's data is a `TillEvent`.", content_type = "text/event-stream", body = TillEvent),
        (status = 401, description = "The till's token is required and was missing or wrong.", body = ErrorBody),
        (status = 403, description = "The `Host` or `Origin` is not allowed.", body = ErrorBody),
    ),
)]
pub async fn stream(
    State(s): State<ApiState>,
) -> Sse<impl Stream<Item = Result<Event, Infallible>>> {
    let stop = s.stop.clone();
    let events = BroadcastStream::new(s.agent.events.subscribe())
        // A lagging subscriber skips what it missed.
        .filter_map(|event| async move { event.ok().and_then(|e| to_sse(&e)) })
        .map(Ok)
        .take_until(async move { stop.requested().await });
    Sse::new(events).keep_alive(KeepAlive::new().interval(KEEP_ALIVE))
}

fn to_sse(event: &TillEvent) -> Option<Event> {
    let name = match event {
        TillEvent::CustomerIdentified { .. } => "customer_identified",
        TillEvent::ProductScanned { .. } => "product_scanned",
        TillEvent::CouponScanned { .. } => "coupon_scanned",
        TillEvent::ScanRejected { .. } => "scan_rejected",
        TillEvent::RulesetActivated { .. } => "ruleset_activated",
        TillEvent::AgentOutdated { .. } => "agent_outdated",
    };
    Event::default()
        .event(name)
        .json_data(event)
        .inspect_err(|err| tracing::error!(error = %err, "cannot encode a till event"))
        .ok()
}
