//! The server's own middleware as plain tower services: counting replies
//! for the metrics, JSON error bodies for `/api`, and the sync protocol's
//! negotiation on register routes.
//!
//! Each one's future is the inner future plus a few words, neither boxed
//! nor holding a clone of the service below it (as `axum::middleware::from_fn`
//! does: a boxed future of some 3.8 KiB and a boxed clone of the routes
//! below, per layer and request). A long-poll holds these futures for as long
//! as it waits, so with ten thousand registers waiting they are most of the
//! memory the requests hold (see PERFORMANCE.md).

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};

use axum::extract::Request;
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse as _, Response};
use tower::{Layer, Service};

use crate::config::IngestSettings;
use crate::error::ApiError;
use crate::metrics::Metrics;
use crate::protocol::{FEATURES_HEADER, PROTOCOL_HEADER, PROTOCOL_VERSION};

/// Counts every reply by area and status class ([`Metrics`]).
#[derive(Clone)]
pub(crate) struct CountResponsesLayer(pub(crate) Arc<Metrics>);

impl<S> Layer<S> for CountResponsesLayer {
    type Service = CountResponses<S>;

    fn layer(&self, inner: S) -> Self::Service {
        CountResponses {
            inner,
            metrics: self.0.clone(),
        }
    }
}

/// See [`CountResponsesLayer`].
#[derive(Clone)]
pub(crate) struct CountResponses<S> {
    inner: S,
    metrics: Arc<Metrics>,
}

impl<S> Service<Request> for CountResponses<S>
where
    S: Service<Request, Response = Response>,
{
    type Response = Response;
    type Error = S::Error;
    type Future = Counted<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request) -> Self::Future {
        let area = Metrics::area_of(request.uri().path());
        Counted {
            inner: self.inner.call(request),
            area,
            metrics: self.metrics.clone(),
        }
    }
}

pin_project_lite::pin_project! {
    /// The future of [`CountResponses`].
    pub(crate) struct Counted<F> {
        #[pin]
        inner: F,
        area: &'static str,
        metrics: Arc<Metrics>,
    }
}

impl<F, E> Future for Counted<F>
where
    F: Future<Output = Result<Response, E>>,
{
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let out = ready!(this.inner.poll(cx));
        if let Ok(response) = &out {
            this.metrics
                .response_in(this.area, response.status().as_u16());
        }
        Poll::Ready(out)
    }
}

/// A 4xx or 5xx reply of an `/api` route that is not JSON (a refusal of
/// the framework or of a layer, with an empty or plain-text body) becomes
/// an `ErrorBody` with a code for its status. The pages keep their own
/// error pages.
#[derive(Clone, Copy)]
pub(crate) struct JsonErrorsLayer;

impl<S> Layer<S> for JsonErrorsLayer {
    type Service = JsonErrors<S>;

    fn layer(&self, inner: S) -> Self::Service {
        JsonErrors { inner }
    }
}

/// See [`JsonErrorsLayer`].
#[derive(Clone)]
pub(crate) struct JsonErrors<S> {
    inner: S,
}

impl<S> Service<Request> for JsonErrors<S>
where
    S: Service<Request, Response = Response>,
{
    type Response = Response;
    type Error = S::Error;
    type Future = JsonErrorsFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request) -> Self::Future {
        let api = request.uri().path().starts_with("/api/");
        JsonErrorsFuture {
            inner: self.inner.call(request),
            api,
        }
    }
}

pin_project_lite::pin_project! {
    /// The future of [`JsonErrors`].
    pub(crate) struct JsonErrorsFuture<F> {
        #[pin]
        inner: F,
        api: bool,
    }
}

impl<F, E> Future for JsonErrorsFuture<F>
where
    F: Future<Output = Result<Response, E>>,
{
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let out = ready!(this.inner.poll(cx));
        Poll::Ready(out.map(|response| {
            if *this.api {
                json_error(response)
            } else {
                response
            }
        }))
    }
}

/// `response` as JSON when it is an error reply that is not.
fn json_error(response: Response) -> Response {
    let status = response.status();
    let is_json = response
        .headers()
        .get(axum::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    if is_json || !(status.is_client_error() || status.is_server_error()) {
        return response;
    }
    let code = match status {
        StatusCode::NOT_FOUND => "not_found",
        StatusCode::METHOD_NOT_ALLOWED => "method_not_allowed",
        StatusCode::PAYLOAD_TOO_LARGE => "payload_too_large",
        StatusCode::UNSUPPORTED_MEDIA_TYPE => "unsupported_media_type",
        StatusCode::UNPROCESSABLE_ENTITY => "invalid_body",
        s if s.is_server_error() => "internal",
        _ => "bad_request",
    };
    let message = status
        .canonical_reason()
        .unwrap_or("the request failed")
        .to_lowercase();
    ApiError::new(status, code, message).into_response()
}

/// Register routes: refuses a sync protocol this server does not speak
/// (426) and marks every reply with the version answered in and the
/// features offered (see `protocol`).
#[derive(Clone)]
pub(crate) struct NegotiateProtocolLayer {
    features: HeaderValue,
}

impl NegotiateProtocolLayer {
    /// The layer of a server with `ingest`'s settings.
    pub(crate) fn new(ingest: &IngestSettings) -> Self {
        NegotiateProtocolLayer {
            features: crate::protocol::features_header(ingest),
        }
    }
}

impl<S> Layer<S> for NegotiateProtocolLayer {
    type Service = NegotiateProtocol<S>;

    fn layer(&self, inner: S) -> Self::Service {
        NegotiateProtocol {
            inner,
            features: self.features.clone(),
        }
    }
}

/// See [`NegotiateProtocolLayer`].
#[derive(Clone)]
pub(crate) struct NegotiateProtocol<S> {
    inner: S,
    features: HeaderValue,
}

impl<S> Service<Request> for NegotiateProtocol<S>
where
    S: Service<Request, Response = Response>,
{
    type Response = Response;
    type Error = S::Error;
    type Future = Negotiated<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request) -> Self::Future {
        let features = self.features.clone();
        match crate::protocol::negotiate(request.headers()) {
            Ok(version) => Negotiated::Served {
                inner: self.inner.call(request),
                version,
                features,
            },
            Err(refusal) => Negotiated::Refused {
                response: Some(marked(
                    ApiError::from(refusal).into_response(),
                    PROTOCOL_VERSION,
                    features,
                )),
            },
        }
    }
}

pin_project_lite::pin_project! {
    /// The future of [`NegotiateProtocol`].
    #[project = NegotiatedProj]
    pub(crate) enum Negotiated<F> {
        /// The route runs, in `version`.
        Served {
            #[pin]
            inner: F,
            version: u32,
            features: HeaderValue,
        },
        /// Refused before the route.
        Refused { response: Option<Response> },
    }
}

impl<F, E> Future for Negotiated<F>
where
    F: Future<Output = Result<Response, E>>,
{
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match self.project() {
            NegotiatedProj::Served {
                inner,
                version,
                features,
            } => {
                let out = ready!(inner.poll(cx));
                Poll::Ready(out.map(|response| marked(response, *version, features.clone())))
            }
            NegotiatedProj::Refused { response } => Poll::Ready(Ok(response
                .take()
                .unwrap_or_else(|| StatusCode::INTERNAL_SERVER_ERROR.into_response()))),
        }
    }
}

/// `response` with the protocol version it was answered in and the
/// features offered.
fn marked(mut response: Response, version: u32, features: HeaderValue) -> Response {
    response
        .headers_mut()
        .insert(PROTOCOL_HEADER, HeaderValue::from(version));
    response.headers_mut().insert(FEATURES_HEADER, features);
    response
}
