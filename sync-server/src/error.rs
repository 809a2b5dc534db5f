//! The one error type of the HTTP API. Every refusal becomes a status and a
//! [`shared::wire::ErrorBody`] with a stable code. Internal failures are
//! logged where they are converted, and the client sees only `internal`.

use std::fmt;

use axum::http::header::RETRY_AFTER;
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use shared::ids::Seq;
use shared::wire::ErrorBody;

use crate::db::DbError;

/// An HTTP error reply.
#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    body: ErrorBody,
    /// Seconds for `Retry-After`, on replies that ask the client to wait.
    retry_after_secs: Option<u64>,
}

impl ApiError {
    /// A reply with any status and code.
    pub fn new(status: StatusCode, code: &str, message: impl Into<String>) -> Self {
        ApiError {
            status,
            body: ErrorBody {
                error: code.to_owned(),
                message: message.into(),
                expected_seq: None,
                faults: Vec::new(),
            },
            retry_after_secs: None,
        }
    }

    /// 400: the request is malformed.
    pub fn bad_request(code: &str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, code, message)
    }

    /// 401: the credentials are missing or wrong.
    pub fn unauthorized(code: &str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, code, message)
    }

    /// 403: the caller may not touch this.
    pub fn forbidden(code: &str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, code, message)
    }

    /// 404: no such thing.
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "not_found", message)
    }

    /// 409: the request conflicts with stored state.
    pub fn conflict(code: &str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::CONFLICT, code, message)
    }

    /// 422: the request parsed but its content is invalid.
    pub fn validation(message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNPROCESSABLE_ENTITY, "validation", message)
    }

    /// 429 `overloaded`: the server sheds load; retry after `retry_after_secs`.
    pub fn overloaded(retry_after_secs: u64) -> Self {
        let mut error = Self::new(
            StatusCode::TOO_MANY_REQUESTS,
            "overloaded",
            format!("the server is busy; retry in {retry_after_secs} s"),
        );
        error.retry_after_secs = Some(retry_after_secs);
        error
    }

    /// 500: logs `cause` and tells the client nothing more.
    pub fn internal(cause: &dyn fmt::Display) -> Self {
        tracing::error!(error = %cause, "internal error");
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "internal server error",
        )
    }

    /// Adds the seq the server expects next (for `seq_gap`).
    #[must_use]
    pub fn with_expected_seq(mut self, seq: Seq) -> Self {
        self.body.expected_seq = Some(seq);
        self
    }

    /// Adds the faults of an invalid ruleset.
    #[must_use]
    pub fn with_faults(mut self, faults: Vec<String>) -> Self {
        self.body.faults = faults;
        self
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut response = (self.status, axum::Json(self.body)).into_response();
        if let Some(secs) = self.retry_after_secs {
            response
                .headers_mut()
                .insert(RETRY_AFTER, HeaderValue::from(secs));
        }
        response
    }
}

impl From<DbError> for ApiError {
    fn from(e: DbError) -> Self {
        match e {
            DbError::NotFound(what) => ApiError::not_found(format!("{what} not found")),
            DbError::Conflict(message) => ApiError::conflict("conflict", message),
            DbError::Other(cause) => ApiError::internal(&cause),
        }
    }
}
