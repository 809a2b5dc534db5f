//! [`ApiError`]: every failure of the local API as a status and a
//! [`shared::wire::ErrorBody`]. Database faults are logged when they are
//! converted and answered with a generic message; internals never reach
//! the till. A database that cannot be written because the disk is full
//! answers 507 `storage_full` (503 `storage_failed` for a failing disk):
//! loyalty is unavailable and the till finishes the sale without it.

use axum::extract::rejection::{JsonRejection, PathRejection};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use shared::wire::ErrorBody;

use crate::checks::CheckError;
use crate::identify::CredentialError;
use crate::returns::ReturnFailed;
use crate::store::{StorageFault, StoreError};

/// A failure of a local API call.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// The operation on the check was refused.
    #[error(transparent)]
    Check(CheckError),
    /// The return was refused.
    #[error(transparent)]
    Return(ReturnFailed),
    /// The body parses as JSON but not as the request (the message names
    /// the field).
    #[error("{0}")]
    Invalid(String),
    /// The request could not be read: JSON syntax, content type, path.
    #[error("{message}")]
    BadRequest {
        /// The status to answer with.
        status: StatusCode,
        /// What was wrong.
        message: String,
    },
    /// No such route.
    #[error("no such endpoint")]
    NoRoute,
    /// The route does not take this method.
    #[error("this endpoint does not accept that method")]
    MethodNotAllowed,
    /// Refused at the edge of the API: the caller, the method or the media
    /// type.
    #[error("{message}")]
    Refused {
        /// The status to answer with.
        status: StatusCode,
        /// The error code.
        code: &'static str,
        /// What was wrong.
        message: String,
    },
    /// The till's token is required and was missing or wrong.
    #[error("send the till's token as Authorization: Bearer <token> (see <data_dir>/api-token)")]
    Unauthorized,
    /// The database cannot be written; committed records are safe.
    #[error(
        "loyalty unavailable: {}; finish the sale without loyalty",
        match .0 {
            StorageFault::Full => "the register's disk is full",
            StorageFault::Io => "the register's disk fails",
        }
    )]
    Storage(StorageFault),
    /// An internal fault, already logged.
    #[error("internal error; see the agent's log")]
    Internal,
}

impl ApiError {
    /// A refusal at the edge of the API.
    pub fn refused(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        ApiError::Refused {
            status,
            code,
            message: message.into(),
        }
    }

    fn status_and_code(&self) -> (StatusCode, &'static str) {
        use StatusCode as S;
        match self {
            ApiError::Check(err) => match err {
                CheckError::NotFound(_) => (S::NOT_FOUND, "check_not_found"),
                CheckError::LineNotFound(_) => (S::NOT_FOUND, "line_not_found"),
                CheckError::CustomerNotFound(_) => (S::NOT_FOUND, "customer_not_found"),
                CheckError::Credential(CredentialError::Token(_)) => {
                    (S::UNPROCESSABLE_ENTITY, "token_rejected")
                }
                CheckError::Credential(CredentialError::Identity(_)) | CheckError::Basket(_) => {
                    (S::UNPROCESSABLE_ENTITY, "validation")
                }
                CheckError::Empty => (S::UNPROCESSABLE_ENTITY, "empty_check"),
                CheckError::Sums(_) => (S::UNPROCESSABLE_ENTITY, "bad_record"),
                CheckError::Amount(_) => (S::UNPROCESSABLE_ENTITY, "amount_out_of_range"),
                CheckError::NoCustomer => (S::UNPROCESSABLE_ENTITY, "no_customer"),
                CheckError::OfflineCap { .. } => (S::UNPROCESSABLE_ENTITY, "offline_cap"),
                CheckError::LeaseChanged { .. } => (S::CONFLICT, "lease_changed"),
                CheckError::Invalid(_) => (S::UNPROCESSABLE_ENTITY, "validation"),
                CheckError::TooManyOpen { .. } => (S::TOO_MANY_REQUESTS, "too_many_open_checks"),
                CheckError::SaleIdReused { .. } => (S::CONFLICT, "sale_id_conflict"),
                CheckError::CommitInProgress(_) => (S::CONFLICT, "commit_in_progress"),
                CheckError::SaleNotFound(_) => (S::NOT_FOUND, "sale_not_found"),
                CheckError::Store(_) => (S::INTERNAL_SERVER_ERROR, "internal"),
            },
            ApiError::Return(err) => match err {
                ReturnFailed::OriginalNotFound(..) => (S::NOT_FOUND, "original_not_found"),
                ReturnFailed::Item(_) => (S::UNPROCESSABLE_ENTITY, "validation"),
                ReturnFailed::Refused(_) => (S::UNPROCESSABLE_ENTITY, "return_refused"),
                ReturnFailed::Store(_) => (S::INTERNAL_SERVER_ERROR, "internal"),
            },
            ApiError::Invalid(_) => (S::UNPROCESSABLE_ENTITY, "validation"),
            ApiError::BadRequest { status, .. } => (*status, code_for(*status)),
            ApiError::MethodNotAllowed => (S::METHOD_NOT_ALLOWED, "method_not_allowed"),
            ApiError::NoRoute => (S::NOT_FOUND, "not_found"),
            ApiError::Refused { status, code, .. } => (*status, code),
            ApiError::Unauthorized => (S::UNAUTHORIZED, "unauthorized"),
            ApiError::Storage(StorageFault::Full) => (S::INSUFFICIENT_STORAGE, "storage_full"),
            ApiError::Storage(StorageFault::Io) => (S::SERVICE_UNAVAILABLE, "storage_failed"),
            ApiError::Internal => (S::INTERNAL_SERVER_ERROR, "internal"),
        }
    }
}

impl From<CheckError> for ApiError {
    fn from(err: CheckError) -> Self {
        match err {
            CheckError::Store(err) => err.into(),
            other => ApiError::Check(other),
        }
    }
}

impl From<ReturnFailed> for ApiError {
    fn from(err: ReturnFailed) -> Self {
        match err {
            ReturnFailed::Store(err) => err.into(),
            other => ApiError::Return(other),
        }
    }
}

impl From<StoreError> for ApiError {
    fn from(err: StoreError) -> Self {
        if let StoreError::RecordTooLarge { .. } = err {
            return ApiError::refused(
                StatusCode::UNPROCESSABLE_ENTITY,
                "record_too_large",
                format!("{err}; the check stays open"),
            );
        }
        if let Some(fault) = err.storage_fault() {
            tracing::error!(error = %err, "the database cannot be written; loyalty unavailable");
            return ApiError::Storage(fault);
        }
        tracing::error!(error = %err, "database failure in a till request");
        ApiError::Internal
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, code) = self.status_and_code();
        let body = ErrorBody {
            error: code.to_owned(),
            message: self.to_string(),
            expected_seq: None,
            faults: Vec::new(),
        };
        let mut response = (status, axum::Json(body)).into_response();
        if status == StatusCode::UNAUTHORIZED {
            response.headers_mut().insert(
                axum::http::header::WWW_AUTHENTICATE,
                axum::http::HeaderValue::from_static("Bearer"),
            );
        }
        response
    }
}

impl From<JsonRejection> for ApiError {
    /// JSON that does not fit the request is a validation error (422);
    /// broken JSON or a wrong content type is a bad request.
    fn from(rejection: JsonRejection) -> Self {
        match rejection {
            JsonRejection::JsonDataError(e) => ApiError::Invalid(e.body_text()),
            other => ApiError::BadRequest {
                status: other.status(),
                message: other.body_text(),
            },
        }
    }
}

/// The error code of a framework refusal with this status.
fn code_for(status: StatusCode) -> &'static str {
    match status {
        StatusCode::NOT_FOUND => "not_found",
        StatusCode::METHOD_NOT_ALLOWED => "method_not_allowed",
        StatusCode::PAYLOAD_TOO_LARGE => "payload_too_large",
        StatusCode::UNSUPPORTED_MEDIA_TYPE => "unsupported_media_type",
        StatusCode::UNPROCESSABLE_ENTITY => "validation",
        s if s.is_server_error() => "internal",
        _ => "bad_request",
    }
}

/// Middleware: a 4xx or 5xx reply that is not JSON (the framework's own
/// refusals, which come with an empty or plain-text body) becomes an
/// [`ErrorBody`] with the code its status calls for.
pub async fn json_errors(
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let response = next.run(request).await;
    let status = response.status();
    let is_json = response
        .headers()
        .get(axum::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    if !(status.is_client_error() || status.is_server_error()) || is_json {
        return response;
    }
    let message = status
        .canonical_reason()
        .unwrap_or("the request failed")
        .to_lowercase();
    ApiError::BadRequest { status, message }.into_response()
}

impl From<PathRejection> for ApiError {
    fn from(rejection: PathRejection) -> Self {
        ApiError::BadRequest {
            status: StatusCode::BAD_REQUEST,
            message: rejection.body_text(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sqlite(code: i32) -> StoreError {
        StoreError::Sqlite(rusqlite::Error::SqliteFailure(
            rusqlite::ffi::Error::new(code),
            None,
        ))
    }

    #[test]
    fn a_full_disk_is_storage_full_and_never_internal() {
        let full = ApiError::from(CheckError::Store(sqlite(rusqlite::ffi::SQLITE_FULL)));
        assert_eq!(
            full.status_and_code(),
            (StatusCode::INSUFFICIENT_STORAGE, "storage_full")
        );
        assert!(full.to_string().contains("without loyalty"), "{full}");
        let io = ApiError::from(sqlite(rusqlite::ffi::SQLITE_IOERR));
        assert_eq!(
            io.status_and_code(),
            (StatusCode::SERVICE_UNAVAILABLE, "storage_failed")
        );
        let other = ApiError::from(sqlite(rusqlite::ffi::SQLITE_CONSTRAINT));
        assert_eq!(
            other.status_and_code(),
            (StatusCode::INTERNAL_SERVER_ERROR, "internal")
        );
    }
}
