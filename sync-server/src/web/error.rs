//! The one error type of the pages. Each becomes a small HTML page with a
//! status and a fixed message from the catalogues, in the request's
//! language; internal failures are logged where they are
//! created ([`PageError::internal`]) and the browser learns nothing more. A
//! page that needs a signed-in HQ user redirects to the sign-in form.

use std::fmt;

use askama::Template;
use axum::http::header::{LOCATION, RETRY_AFTER};
use axum::http::{HeaderValue, StatusCode};
use axum::response::{Html, IntoResponse, Response};

use crate::db::DbError;
use crate::web::i18n;
use crate::web::links;

/// Why a page could not be shown or a form not taken.
#[derive(Debug, thiserror::Error)]
pub enum PageError {
    /// No such page, merchant, customer or link.
    #[error("not found")]
    NotFound,
    /// An HQ page without a live session; the user signs in and returns to
    /// `return_to`.
    #[error("sign-in required")]
    SignInRequired {
        /// The page to return to after signing in (path and query).
        return_to: Option<String>,
    },
    /// A form without its session's token, or sent from another site.
    #[error("forbidden: {0}")]
    Forbidden(&'static str),
    /// Signed in, but their role does not permit this, or it is another
    /// merchant's or store's.
    #[error("not permitted")]
    NotPermitted,
    /// The request could not be read; the message is safe to show.
    #[error("bad request: {0}")]
    BadRequest(&'static str),
    /// The client's address used its allowance of attempts at a public
    /// form (see [`crate::web::throttle`]).
    #[error("too many attempts")]
    TooManyAttempts {
        /// How long until the next attempt is taken.
        retry_after: std::time::Duration,
    },
    /// Something failed inside; already logged.
    #[error("internal error")]
    Internal,
}

impl PageError {
    /// Logs `cause` and hides it from the browser.
    pub fn internal(cause: &dyn fmt::Display) -> Self {
        tracing::error!(error = %cause, "a page failed");
        PageError::Internal
    }
}

impl From<DbError> for PageError {
    fn from(e: DbError) -> Self {
        match e {
            DbError::NotFound(_) => PageError::NotFound,
            other => PageError::internal(&other),
        }
    }
}

impl From<crate::services::catalog::CatalogError> for PageError {
    fn from(e: crate::services::catalog::CatalogError) -> Self {
        match e {
            crate::services::catalog::CatalogError::Invalid(message) => {
                tracing::warn!(%message, "a form the page checked was refused by the catalog");
                PageError::BadRequest("the form's content was refused")
            }
            crate::services::catalog::CatalogError::Db(e) => e.into(),
        }
    }
}

impl From<askama::Error> for PageError {
    fn from(e: askama::Error) -> Self {
        PageError::internal(&e)
    }
}

/// The error page: message ids of its title and text.
#[derive(Template)]
#[template(path = "error.html")]
struct ErrorPage {
    title: &'static str,
    message: &'static str,
}

impl IntoResponse for PageError {
    fn into_response(self) -> Response {
        if let PageError::BadRequest(reason) | PageError::Forbidden(reason) = &self {
            tracing::debug!(reason, "a request to a page was refused");
        }
        let (status, title, message) = match self {
            PageError::SignInRequired { return_to } => return sign_in_redirect(return_to),
            PageError::TooManyAttempts { retry_after } => {
                let page = ErrorPage {
                    title: "error-too-many-title",
                    message: "error-too-many-text",
                };
                let mut response = match page.render() {
                    Ok(html) => (StatusCode::TOO_MANY_REQUESTS, Html(html)).into_response(),
                    Err(_) => StatusCode::TOO_MANY_REQUESTS.into_response(),
                };
                response
                    .headers_mut()
                    .insert(RETRY_AFTER, HeaderValue::from(retry_after.as_secs().max(1)));
                return response;
            }
            PageError::NotFound => (
                StatusCode::NOT_FOUND,
                "error-not-found-title",
                "error-not-found-text",
            ),
            PageError::Forbidden(_) => (
                StatusCode::FORBIDDEN,
                "error-forbidden-title",
                "error-forbidden-text",
            ),
            PageError::NotPermitted => (
                StatusCode::FORBIDDEN,
                "error-not-permitted-title",
                "error-not-permitted-text",
            ),
            PageError::BadRequest(_) => (
                StatusCode::BAD_REQUEST,
                "error-bad-request-title",
                "error-bad-request-text",
            ),
            PageError::Internal => (
                StatusCode::INTERNAL_SERVER_ERROR,
                "error-internal-title",
                "error-internal-text",
            ),
        };
        match (ErrorPage { title, message }).render() {
            Ok(html) => (status, Html(html)).into_response(),
            Err(e) => {
                tracing::error!(error = %e, "the error page failed to render");
                (status, i18n::t(title)).into_response()
            }
        }
    }
}

/// `303` to the sign-in form, which sends the user back afterwards.
fn sign_in_redirect(return_to: Option<String>) -> Response {
    let location = match return_to {
        Some(path) => format!("/hq?next={}", links::query_value(&path)),
        None => "/hq".to_owned(),
    };
    let mut response = StatusCode::SEE_OTHER.into_response();
    if let Ok(value) = HeaderValue::from_str(&location) {
        response.headers_mut().insert(LOCATION, value);
    }
    response
}
