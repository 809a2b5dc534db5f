//! [`ApiError`]: every failure of the local API as a status and a
//! [`shared::wire::ErrorBody`]. Database faults are logged when they are
//! converted and answered with a generic message; internals never reach
//! the till.

use axum::extract::rejection::{JsonRejection, PathRejection};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use shared::wire::ErrorBody;

use crate::checks::CheckError;
use crate::identify::CredentialError;
use crate::returns::ReturnFailed;
use crate::store::StoreError;

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
    /// An internal fault, already logged.
    #[error("internal error; see the agent's log")]
    Internal,
}

impl ApiError {
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
                CheckError::NoCustomer => (S::UNPROCESSABLE_ENTITY, "no_customer"),
                CheckError::Invalid(_) => (S::UNPROCESSABLE_ENTITY, "validation"),
                CheckError::Store(_) => (S::INTERNAL_SERVER_ERROR, "internal"),
            },
            ApiError::Return(err) => match err {
                ReturnFailed::OriginalNotFound(_) => (S::NOT_FOUND, "original_not_found"),
                ReturnFailed::Item(_) => (S::UNPROCESSABLE_ENTITY, "validation"),
                ReturnFailed::Refused(_) => (S::UNPROCESSABLE_ENTITY, "return_refused"),
                ReturnFailed::Store(_) => (S::INTERNAL_SERVER_ERROR, "internal"),
            },
            ApiError::Invalid(_) => (S::UNPROCESSABLE_ENTITY, "validation"),
            ApiError::BadRequest { status, .. } => (*status, "bad_request"),
            ApiError::NoRoute => (S::NOT_FOUND, "not_found"),
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
        (status, axum::Json(body)).into_response()
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

impl From<PathRejection> for ApiError {
    fn from(rejection: PathRejection) -> Self {
        ApiError::BadRequest {
            status: StatusCode::BAD_REQUEST,
            message: rejection.body_text(),
        }
    }
}
