//! The server's HTTP/1.1 connections: the accept loop, hyper set up for
//! thousands of idle long-polls, and the graceful shutdown.
//!
//! This is `axum::serve` with hyper's settings in our hands. A waiting
//! long-poll holds its connection (hyper's read and write buffers), its
//! task, and the futures of its request. The one setting that matters is
//! `half_close`: without it hyper, while a request is in flight, tries to
//! read the socket to notice the client leaving, and reserves for that
//! read a second 8 KiB buffer (the first still holds the request's head,
//! which the request shares), so every waiting long-poll held two.
//! With it, a client that closes its end while waiting is noticed when the
//! reply is written, at the latest when its wait ends (`[longpoll]
//! max_wait_secs`).

use std::future::Future;
use std::net::SocketAddr;

use axum::Router;
use axum::extract::ConnectInfo;
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tokio::sync::watch;

/// Serves `app` on `listener` until `shutdown` completes; then stops
/// accepting, asks every connection to finish its request in flight, and
/// returns when all have closed. Each request carries its peer's address
/// as `ConnectInfo<SocketAddr>`.
pub(crate) async fn serve(
    listener: TcpListener,
    app: Router,
    shutdown: impl Future<Output = ()> + Send + 'static,
) {
    let mut http = hyper::server::conn::http1::Builder::new();
    http.half_close(true);
    // Dropped when the shutdown begins: every connection then finishes.
    let (stop_tx, stop_rx) = watch::channel(());
    // Every connection holds a receiver; all gone means all closed.
    let (closed_tx, closed_rx) = watch::channel(());
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    // Out of descriptors and the like: wait a little, as
                    // axum does, instead of spinning.
                    tracing::warn!(error = %e, "accepting a connection failed");
                    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let app = app.clone();
        // The router's own future, unwrapped: hyper boxes it once.
        let service = hyper::service::service_fn(move |request: hyper::Request<Incoming>| {
            let mut request = request.map(axum::body::Body::new);
            request.extensions_mut().insert(ConnectInfo(peer));
            tower::Service::call(&mut app.clone(), request)
        });
        let connection = http
            .serve_connection(TokioIo::new(stream), service)
            .with_upgrades();
        let mut stop = stop_rx.clone();
        let closed = closed_rx.clone();
        tokio::spawn(async move {
            let mut connection = std::pin::pin!(connection);
            tokio::select! {
                served = connection.as_mut() => log_end(served, peer),
                _ = stop.changed() => {
                    connection.as_mut().graceful_shutdown();
                    log_end(connection.await, peer);
                }
            }
            drop(closed);
        });
    }
    drop(stop_tx);
    drop(closed_rx);
    drop(listener);
    closed_tx.closed().await;
}

fn log_end(served: Result<(), hyper::Error>, peer: SocketAddr) {
    if let Err(e) = served {
        tracing::debug!(error = %e, %peer, "a connection ended with an error");
    }
}
