//! Extractors that wrap axum's so that an unreadable path, query or form
//! becomes a [`PageError`] page rather than axum's plain-text rejection.

use axum::extract::rejection::{FormRejection, PathRejection, QueryRejection};
use axum::extract::{FromRequest, FromRequestParts};

use crate::web::error::PageError;

/// Path parameters.
#[derive(Debug, Clone, Copy, FromRequestParts)]
#[from_request(via(axum::extract::Path), rejection(PageError))]
pub struct Path<T>(pub T);

/// Query parameters.
#[derive(Debug, Clone, Copy, Default, FromRequestParts)]
#[from_request(via(axum::extract::Query), rejection(PageError))]
pub struct Query<T>(pub T);

/// A URL-encoded form body.
#[derive(Debug, Clone, Copy, Default, FromRequest)]
#[from_request(via(axum::Form), rejection(PageError))]
pub struct Form<T>(pub T);

impl From<PathRejection> for PageError {
    fn from(_: PathRejection) -> Self {
        // A path that does not parse names nothing that exists.
        PageError::NotFound
    }
}

impl From<QueryRejection> for PageError {
    fn from(_: QueryRejection) -> Self {
        PageError::BadRequest("the query string could not be read")
    }
}

impl From<FormRejection> for PageError {
    fn from(_: FormRejection) -> Self {
        PageError::BadRequest("the form could not be read")
    }
}
