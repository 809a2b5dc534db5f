//! `GET /media/{hash}` and `GET /media/{hash}/thumbnail`: promotions'
//! pictures, public (the phone pages show them), named by the SHA-256 of
//! their bytes and so never changing: a year's `immutable` caching, the
//! hash as the `ETag` (an `If-None-Match` naming it is answered 304
//! without reading the database), the stored type and `nosniff`. An
//! unknown or malformed name is a plain 404.

use axum::body::Body;
use axum::extract::State;
use axum::http::header::{
    CACHE_CONTROL, CONTENT_TYPE, ETAG, IF_NONE_MATCH, X_CONTENT_TYPE_OPTIONS,
};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use shared::crypto::Hash256;

use crate::db::MediaVariant;
use crate::state::AppState;
use crate::web::error::PageError;
use crate::web::extract::Path;

/// How long browsers and proxies may keep a picture: a year, unchanged.
const FOREVER: &str = "public, max-age=31536000, immutable";

/// The public address of a stored picture.
#[must_use]
pub fn url(hash: &Hash256) -> String {
    format!("/media/{hash}")
}

/// The public address of a stored picture's thumbnail.
#[must_use]
pub fn thumbnail_url(hash: &Hash256) -> String {
    format!("/media/{hash}/thumbnail")
}

/// `GET /media/{hash}`.
#[tracing::instrument(skip_all)]
pub async fn picture(
    State(state): State<AppState>,
    Path(hash): Path<String>,
    headers: HeaderMap,
) -> Result<Response, PageError> {
    serve(&state, &hash, MediaVariant::Full, &headers).await
}

/// `GET /media/{hash}/thumbnail`.
#[tracing::instrument(skip_all)]
pub async fn thumbnail(
    State(state): State<AppState>,
    Path(hash): Path<String>,
    headers: HeaderMap,
) -> Result<Response, PageError> {
    serve(&state, &hash, MediaVariant::Thumbnail, &headers).await
}

async fn serve(
    state: &AppState,
    name: &str,
    variant: MediaVariant,
    headers: &HeaderMap,
) -> Result<Response, PageError> {
    let hash = Hash256::from_hex(name).ok_or(PageError::NotFound)?;
    let etag = match variant {
        MediaVariant::Full => format!("\"{hash}\""),
        MediaVariant::Thumbnail => format!("\"{hash}-thumbnail\""),
    };
    let etag_value = HeaderValue::from_str(&etag).map_err(|e| PageError::internal(&e))?;
    let cached = [
        (ETAG, etag_value),
        (CACHE_CONTROL, HeaderValue::from_static(FOREVER)),
        (X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff")),
    ];
    if matches_etag(headers, &etag) {
        return Ok((StatusCode::NOT_MODIFIED, cached).into_response());
    }
    let (content_type, bytes) = state
        .services
        .content
        .media(hash, variant)
        .await?
        .ok_or(PageError::NotFound)?;
    let content_type = HeaderValue::from_str(&content_type).map_err(|e| PageError::internal(&e))?;
    let mut response = (StatusCode::OK, cached, Body::from(bytes)).into_response();
    response.headers_mut().insert(CONTENT_TYPE, content_type);
    Ok(response)
}

/// Whether `If-None-Match` names `etag` (or is `*`); weak tags compare by
/// their value, as RFC 9110 says for this header.
fn matches_etag(headers: &HeaderMap, etag: &str) -> bool {
    headers
        .get_all(IF_NONE_MATCH)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|tag| tag.trim().trim_start_matches("W/"))
        .any(|tag| tag == "*" || tag == etag)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn if_none_match_names_the_tag_among_others() {
        let mut headers = HeaderMap::new();
        assert!(!matches_etag(&headers, "\"ab\""));
        headers.insert(IF_NONE_MATCH, HeaderValue::from_static("\"x\", W/\"ab\""));
        assert!(matches_etag(&headers, "\"ab\""));
        assert!(!matches_etag(&headers, "\"abc\""));
        headers.insert(IF_NONE_MATCH, HeaderValue::from_static("*"));
        assert!(matches_etag(&headers, "\"ab\""));
    }
}
