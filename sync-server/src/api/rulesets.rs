//! `GET /api/v1/ruleset?after=V&wait=S`: a register's long-poll for its
//! merchant's newest signed ruleset. Also answers conditional requests
//! (`If-None-Match: "<version>"`) at once, for plain polling.
//!
//! A long-poll reads storage once when it arrives; after that it waits on
//! the merchant's release feed (see `notify`) and answers with the bytes
//! the publish serialised, so a publish to thousands of waiting registers
//! costs no storage read per register.

use shared::wire::ErrorBody;

use axum::extract::{FromRequestParts, State};
use axum::http::header::{CONTENT_TYPE, ETAG, IF_NONE_MATCH};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use shared::ids::{MerchantId, RulesetVersion};
use shared::release::SignedRuleset;

use super::extract::{Json, Query};
use super::long_poll_deadline;
use crate::auth::AuthenticatedRegister;
use crate::error::ApiError;
use crate::notify::ReleaseNews;
use crate::state::AppState;

/// `GET /api/v1/ruleset` parameters.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct RulesetQuery {
    /// The version the register has; 0 or absent for none.
    #[serde(default)]
    after: i64,
    /// Seconds to hold the request when nothing is newer.
    wait: Option<u64>,
}

#[utoipa::path(
    get,
    path = "/api/v1/ruleset",
    operation_id = "latest_ruleset",
    tag = "sync",
    summary = "Long-poll for the merchant's newest signed ruleset; `If-None-Match` answers at once.",
    params(RulesetQuery, ("If-None-Match" = Option<String>, Header, description = "`\"<version>\"` of the ruleset held: answered at once.")),
    responses(
        (status = 200, description = "A newer signed ruleset.", body = SignedRuleset, headers(("ETag" = String, description = "`\"<version>\"`"))),
        (status = 204, description = "Nothing newer before the wait ended."),
        (status = 304, description = "The version in `If-None-Match` is the newest."),
        (status = 400, description = "A query parameter does not parse.", body = ErrorBody),
        (status = 401, description = "Missing or wrong register credentials, or a revoked register.", body = ErrorBody),
        (status = 426, description = "A sync protocol version this server does not speak.", body = ErrorBody),
    ),
    security(("register" = [])),
)]
#[tracing::instrument(skip_all, fields(register_id = %register.0.register_id, after = query.after))]
pub(crate) async fn latest(
    State(state): State<AppState>,
    register: AuthenticatedRegister,
    Query(query): Query<RulesetQuery>,
    IfNoneMatch(cached): IfNoneMatch,
) -> Result<Response, ApiError> {
    // Only the few words of the request a long-poll needs are kept while it
    // waits: its headers and credentials are dropped with the request, and
    // storage is read in a boxed future freed before the wait.
    let merchant = {
        let register = register;
        register.0.merchant_id
    };
    let known = query.after.max(cached.unwrap_or(0));
    if cached.is_some() {
        // A conditional request is answered at once.
        return Box::pin(conditional(&state, merchant, known)).await;
    }
    let deadline = long_poll_deadline(&state, query.wait);
    // Subscribed before storage is read, so a publish in between is seen.
    let releases = state.notifier.watch_releases(merchant);
    let stored = Box::pin(
        state
            .services
            .publisher
            .latest_release_after(merchant, known),
    )
    .await?;
    if let Some(release) = stored {
        return Ok(with_etag(release));
    }
    drop(state);
    Ok(match releases.newer_than(known, deadline).await {
        Some(news) => news_response(&news),
        None => StatusCode::NO_CONTENT.into_response(),
    })
}

/// The answer to a conditional request: the newest release, 304 or 204.
async fn conditional(
    state: &AppState,
    merchant: MerchantId,
    known: i64,
) -> Result<Response, ApiError> {
    Ok(
        match state.services.publisher.latest_release(merchant).await? {
            Some(release) if release.version.get() > known => with_etag(release),
            Some(release) => {
                (StatusCode::NOT_MODIFIED, [(ETAG, etag(release.version))]).into_response()
            }
            None => StatusCode::NO_CONTENT.into_response(),
        },
    )
}

/// The reply to a long-poll woken by a publish: the bytes serialised once.
fn news_response(news: &ReleaseNews) -> Response {
    (
        [
            (ETAG, etag(news.version)),
            (CONTENT_TYPE, HeaderValue::from_static("application/json")),
        ],
        news.json.clone(),
    )
        .into_response()
}

fn with_etag(release: SignedRuleset) -> Response {
    ([(ETAG, etag(release.version))], Json(release)).into_response()
}

/// `"<version>"`.
fn etag(version: RulesetVersion) -> HeaderValue {
    // Digits in quotes are always a valid header value.
    HeaderValue::from_str(&format!("\"{version}\"")).unwrap_or(HeaderValue::from_static("\"\""))
}

/// The version in the request's `If-None-Match`, if any: the one header a
/// ruleset long-poll reads, taken without cloning the others.
pub(crate) struct IfNoneMatch(Option<i64>);

impl<S: Sync> FromRequestParts<S> for IfNoneMatch {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(IfNoneMatch(if_none_match_version(&parts.headers)))
    }
}

/// The version in `If-None-Match: "<version>"` (weak or strong), if any.
fn if_none_match_version(headers: &HeaderMap) -> Option<i64> {
    let value = headers.get(IF_NONE_MATCH)?.to_str().ok()?.trim();
    let value = value.strip_prefix("W/").unwrap_or(value);
    value.trim_matches('"').parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn etags_are_read_weak_or_strong() {
        let mut headers = HeaderMap::new();
        assert_eq!(if_none_match_version(&headers), None);
        headers.insert(IF_NONE_MATCH, HeaderValue::from_static("\"7\""));
        assert_eq!(if_none_match_version(&headers), Some(7));
        headers.insert(IF_NONE_MATCH, HeaderValue::from_static("W/\"8\""));
        assert_eq!(if_none_match_version(&headers), Some(8));
        headers.insert(IF_NONE_MATCH, HeaderValue::from_static("*"));
        assert_eq!(if_none_match_version(&headers), None);
    }
}
