//! A TCP proxy on 127.0.0.1 between agents and the server that counts
//! uploads and injects faults, for the fault tests.
//!
//! It reads plain HTTP/1.1 only as far as it must: a chunk from the client
//! that starts with `POST /api/v1/records ` begins an upload, and a chunk
//! from the server that starts with `HTTP/1.1 ` begins a reply, whose status
//! is counted when the connection carries an upload. Faults:
//!
//! - **lost replies** ([`FaultProxy::drop_upload_replies`]): the server's
//!   reply to the next `n` uploads is swallowed and both connections are
//!   closed. The server has committed by then (it answers after its
//!   transaction), so the register must replay a batch the server stored.
//! - **chaos** ([`Chaos`]): chunks are delayed, connections cut at random,
//!   replies truncated mid-way, and whole uploads delivered twice (the
//!   copy on a connection of its own, its reply thrown away), from a
//!   seeded generator.
//! - **down** ([`FaultProxy::set_down`]): new connections are refused and
//!   open ones closed, like a cable pulled.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::JoinHandle;

const UPLOAD_LINE: &[u8] = b"POST /api/v1/records ";
const REPLY_LINE: &[u8] = b"HTTP/1.1 ";
const METHODS: [&[u8]; 5] = [b"GET ", b"POST ", b"PUT ", b"DELETE ", b"HEAD "];

/// Random faults on every connection.
#[derive(Clone, Copy, Debug)]
pub struct Chaos {
    /// The longest delay added to a chunk, in ms.
    pub max_delay_ms: u64,
    /// Per thousand chunks, how many cut the connection.
    pub cut_per_mille: u64,
    /// Per thousand replies, how many are truncated mid-way.
    pub truncate_per_mille: u64,
    /// Per thousand uploads, how many the server receives a second time.
    pub duplicate_per_mille: u64,
    /// The generator's seed.
    pub seed: u64,
}

#[derive(Default)]
struct Shared {
    drop_replies: AtomicUsize,
    uploads: AtomicUsize,
    dropped: AtomicUsize,
    cuts: AtomicUsize,
    truncated: AtomicUsize,
    duplicated: AtomicUsize,
    statuses: Mutex<BTreeMap<u16, usize>>,
    chaos: Mutex<Option<Chaos>>,
    rng: AtomicU64,
    down: AtomicBool,
}

impl Shared {
    fn chaos(&self) -> Option<Chaos> {
        *self.chaos.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// A number in `0..n` from a shared xorshift generator.
    fn below(&self, n: u64) -> u64 {
        let mut x = self.rng.load(Ordering::Relaxed);
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.rng.store(x, Ordering::Relaxed);
        if n == 0 { 0 } else { x % n }
    }
}

/// What the proxy counted.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ProxyCounts {
    /// Upload requests seen.
    pub uploads: usize,
    /// Upload replies swallowed on purpose.
    pub dropped_replies: usize,
    /// Connections cut by chaos.
    pub cuts: usize,
    /// Replies truncated by chaos.
    pub truncated: usize,
    /// Uploads delivered twice by chaos.
    pub duplicated: usize,
    /// Statuses of upload replies passed on.
    pub upload_statuses: BTreeMap<u16, usize>,
}

impl ProxyCounts {
    /// Upload replies with `status`.
    #[must_use]
    pub fn status(&self, status: u16) -> usize {
        self.upload_statuses.get(&status).copied().unwrap_or(0)
    }
}

/// The proxy; dropping it stops it.
pub struct FaultProxy {
    addr: SocketAddr,
    shared: Arc<Shared>,
    stop: watch::Sender<bool>,
    task: JoinHandle<()>,
}

impl FaultProxy {
    /// Proxies 127.0.0.1 port 0 to `upstream`.
    pub async fn start(upstream: SocketAddr) -> anyhow::Result<Self> {
        let listener = TcpListener::bind(("127.0.0.1", 0)).await?;
        let addr = listener.local_addr()?;
        let shared = Arc::new(Shared {
            rng: AtomicU64::new(0x9E37_79B9_7F4A_7C15),
            ..Shared::default()
        });
        let (stop, stopped) = watch::channel(false);
        let task = tokio::spawn(accept(listener, upstream, Arc::clone(&shared), stopped));
        Ok(FaultProxy {
            addr,
            shared,
            stop,
            task,
        })
    }

    /// The URL agents should use.
    #[must_use]
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Swallows the replies to the next `n` uploads.
    pub fn drop_upload_replies(&self, n: usize) {
        self.shared.drop_replies.store(n, Ordering::SeqCst);
    }

    /// Turns random faults on (`Some`) or off.
    pub fn set_chaos(&self, chaos: Option<Chaos>) {
        if let Some(c) = chaos {
            self.shared.rng.store(c.seed | 1, Ordering::Relaxed);
        }
        *self
            .shared
            .chaos
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = chaos;
    }

    /// Refuses connections (`true`) or lets them through.
    pub fn set_down(&self, down: bool) {
        self.shared.down.store(down, Ordering::SeqCst);
    }

    /// What was counted so far.
    #[must_use]
    pub fn counts(&self) -> ProxyCounts {
        let s = &self.shared;
        ProxyCounts {
            uploads: s.uploads.load(Ordering::SeqCst),
            dropped_replies: s.dropped.load(Ordering::SeqCst),
            cuts: s.cuts.load(Ordering::SeqCst),
            truncated: s.truncated.load(Ordering::SeqCst),
            duplicated: s.duplicated.load(Ordering::SeqCst),
            upload_statuses: s
                .statuses
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .clone(),
        }
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        let _ = self.stop.send(true);
        self.task.abort();
    }
}

async fn accept(
    listener: TcpListener,
    upstream: SocketAddr,
    shared: Arc<Shared>,
    mut stopped: watch::Receiver<bool>,
) {
    loop {
        let client = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((client, _)) => client,
                Err(_) => continue,
            },
            _ = stopped.changed() => return,
        };
        if shared.down.load(Ordering::SeqCst) {
            drop(client);
            continue;
        }
        let shared = Arc::clone(&shared);
        let stopped = stopped.clone();
        tokio::spawn(async move {
            let Ok(server) = TcpStream::connect(upstream).await else {
                return;
            };
            let _ = client.set_nodelay(true);
            let _ = server.set_nodelay(true);
            connection(client, server, upstream, shared, stopped).await;
        });
    }
}

/// Pumps one connection both ways until either side closes or a fault
/// cuts it.
async fn connection(
    client: TcpStream,
    server: TcpStream,
    upstream_addr: SocketAddr,
    shared: Arc<Shared>,
    mut stopped: watch::Receiver<bool>,
) {
    let (mut client_read, mut client_write) = client.into_split();
    let (mut server_read, mut server_write) = server.into_split();
    // Whether the request in flight on this connection is an upload.
    let upload = Arc::new(AtomicBool::new(false));
    let upstream = {
        let (shared, upload) = (Arc::clone(&shared), Arc::clone(&upload));
        async move {
            let mut buf = vec![0u8; 64 * 1024];
            // The upload being passed on, kept whole to deliver it twice.
            let mut copy: Option<Vec<u8>> = None;
            loop {
                let n = match client_read.read(&mut buf).await {
                    Ok(0) | Err(_) => return,
                    Ok(n) => n,
                };
                let chunk = &buf[..n];
                if METHODS.iter().any(|m| chunk.starts_with(m)) {
                    let is_upload = chunk.starts_with(UPLOAD_LINE);
                    upload.store(is_upload, Ordering::SeqCst);
                    copy = None;
                    if is_upload {
                        shared.uploads.fetch_add(1, Ordering::SeqCst);
                        let twice = shared
                            .chaos()
                            .is_some_and(|c| shared.below(1000) < c.duplicate_per_mille);
                        copy = twice.then(Vec::new);
                    }
                }
                if let Some(request) = copy.as_mut() {
                    request.extend_from_slice(chunk);
                    if request_complete(request) {
                        let request = std::mem::take(request);
                        copy = None;
                        shared.duplicated.fetch_add(1, Ordering::SeqCst);
                        tokio::spawn(deliver_again(upstream_addr, request));
                    }
                }
                if shared.down.load(Ordering::SeqCst) || !chaos_pause(&shared).await {
                    return;
                }
                if server_write.write_all(chunk).await.is_err() {
                    return;
                }
            }
        }
    };
    let downstream = async move {
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            let n = match server_read.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(n) => n,
            };
            let mut chunk = &buf[..n];
            let is_upload_reply = upload.load(Ordering::SeqCst) && chunk.starts_with(REPLY_LINE);
            if is_upload_reply {
                let swallow = shared
                    .drop_replies
                    .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
                    .is_ok();
                if swallow {
                    shared.dropped.fetch_add(1, Ordering::SeqCst);
                    return;
                }
                if let Some(status) = reply_status(chunk) {
                    *shared
                        .statuses
                        .lock()
                        .unwrap_or_else(PoisonError::into_inner)
                        .entry(status)
                        .or_default() += 1;
                }
            }
            if shared.down.load(Ordering::SeqCst) || !chaos_pause(&shared).await {
                return;
            }
            let truncate = chunk.starts_with(REPLY_LINE)
                && shared
                    .chaos()
                    .is_some_and(|c| shared.below(1000) < c.truncate_per_mille);
            if truncate {
                shared.truncated.fetch_add(1, Ordering::SeqCst);
                chunk = &chunk[..chunk.len() / 2];
            }
            if client_write.write_all(chunk).await.is_err() || truncate {
                return;
            }
        }
    };
    tokio::select! {
        () = upstream => {}
        () = downstream => {}
        _ = stopped.changed() => {}
    }
}

/// Delays a chunk under chaos; returns `false` when chaos cuts the
/// connection instead.
async fn chaos_pause(shared: &Shared) -> bool {
    let Some(chaos) = shared.chaos() else {
        return true;
    };
    if shared.below(1000) < chaos.cut_per_mille {
        shared.cuts.fetch_add(1, Ordering::SeqCst);
        return false;
    }
    let delay = shared.below(chaos.max_delay_ms + 1);
    if delay > 0 {
        tokio::time::sleep(Duration::from_millis(delay)).await;
    }
    true
}

/// Whether `request` holds its headers and the whole body they announce.
fn request_complete(request: &[u8]) -> bool {
    let Some(end) = request.windows(4).position(|w| w == b"\r\n\r\n") else {
        return false;
    };
    let headers = String::from_utf8_lossy(&request[..end]).to_ascii_lowercase();
    let length = headers
        .lines()
        .find_map(|l| l.strip_prefix("content-length:"))
        .and_then(|v| v.trim().parse::<usize>().ok())
        .unwrap_or(0);
    request.len() >= end + 4 + length
}

/// Sends a copy of a whole request on a connection of its own and reads
/// the reply to its end, throwing it away.
async fn deliver_again(upstream: SocketAddr, request: Vec<u8>) {
    let Ok(mut server) = TcpStream::connect(upstream).await else {
        return;
    };
    if server.write_all(&request).await.is_ok() {
        let _ = server.shutdown().await;
        let mut sink = Vec::new();
        let _ = tokio::time::timeout(Duration::from_secs(30), server.read_to_end(&mut sink)).await;
    }
}

/// The status of a reply chunk that starts with its status line.
fn reply_status(chunk: &[u8]) -> Option<u16> {
    let rest = chunk.strip_prefix(REPLY_LINE)?;
    std::str::from_utf8(rest.get(..3)?).ok()?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_lines_are_read() {
        assert_eq!(
            reply_status(b"HTTP/1.1 429 Too Many Requests\r\n"),
            Some(429)
        );
        assert_eq!(reply_status(b"{\"a\":1}"), None);
    }

    #[test]
    fn a_request_is_complete_with_the_body_its_headers_announce() {
        let head = b"POST /api/v1/records HTTP/1.1\r\nContent-Length: 4\r\n\r\n";
        assert!(!request_complete(&head[..20]));
        assert!(!request_complete(&[&head[..], b"ab"].concat()));
        assert!(request_complete(&[&head[..], b"abcd"].concat()));
        assert!(request_complete(b"GET / HTTP/1.1\r\n\r\n"));
    }
}
