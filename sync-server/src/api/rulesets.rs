//! `GET /api/v1/ruleset?after=V&wait=S`: a register's long-poll for its
//! merchant's newest signed ruleset. Also answers conditional requests
//! (`If-None-Match: "<version>"`) at once, for plain polling.

use axum::extract::State;
use axum::http::header::{ETAG, IF_NONE_MATCH};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use shared::ids::RulesetVersion;
use shared::release::SignedRuleset;

use super::extract::{Json, Query};
use super::long_poll_deadline;
use crate::auth::AuthenticatedRegister;
use crate::error::ApiError;
use crate::notify::Topic;
use crate::state::AppState;

/// `GET /api/v1/ruleset` parameters.
#[derive(Debug, Deserialize)]
pub(crate) struct RulesetQuery {
    /// The version the register has; 0 or absent for none.
    #[serde(default)]
    after: i64,
    /// Seconds to hold the request when nothing is newer.
    wait: Option<u64>,
}

#[tracing::instrument(skip_all, fields(register_id = %register.0.register_id, after = query.after))]
pub(crate) async fn latest(
    State(state): State<AppState>,
    register: AuthenticatedRegister,
    Query(query): Query<RulesetQuery>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let merchant = register.0.merchant_id;
    let cached = if_none_match_version(&headers);
    let known = query.after.max(cached.unwrap_or(0));

    if cached.is_some() {
        // A conditional request is answered at once.
        return Ok(match state.db.latest_release(merchant).await? {
            Some(release) if release.version.get() > known => with_etag(release),
            Some(release) => {
                (StatusCode::NOT_MODIFIED, [(ETAG, etag(release.version))]).into_response()
            }
            None => StatusCode::NO_CONTENT.into_response(),
        });
    }

    let deadline = long_poll_deadline(&state, query.wait);
    let subscription = state.notifier.subscribe(Topic::Ruleset, merchant);
    let found = subscription
        .poll_until(deadline, || async {
            let latest = state.db.latest_release(merchant).await?;
            Ok::<_, ApiError>(latest.filter(|r| r.version.get() > known))
        })
        .await?;
    Ok(found.map_or_else(|| StatusCode::NO_CONTENT.into_response(), with_etag))
}

fn with_etag(release: SignedRuleset) -> Response {
    ([(ETAG, etag(release.version))], Json(release)).into_response()
}

/// `"<version>"`.
fn etag(version: RulesetVersion) -> HeaderValue {
    // Digits in quotes are always a valid header value.
    HeaderValue::from_str(&format!("\"{version}\"")).unwrap_or(HeaderValue::from_static("\"\""))
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
