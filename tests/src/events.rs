//! A reader of an agent's server-sent event stream (`GET /v1/events`), so
//! tests and the demo see what the till sees.

use std::time::Duration;

use anyhow::{Context, bail};
use shared::wire::till::TillEvent;
use tokio::sync::mpsc;

/// Events from one agent, decoded from the SSE `data:` lines.
pub struct EventStream {
    rx: mpsc::UnboundedReceiver<TillEvent>,
    task: tokio::task::JoinHandle<()>,
}

impl EventStream {
    /// Connects to `{base}/v1/events` and waits for the response headers.
    pub async fn connect(base: &str) -> anyhow::Result<Self> {
        let mut resp = reqwest::Client::new()
            .get(format!("{base}/v1/events"))
            .send()
            .await
            .context("connect to the event stream")?
            .error_for_status()?;
        let (tx, rx) = mpsc::unbounded_channel();
        let task = tokio::spawn(async move {
            let mut buf = String::new();
            while let Ok(Some(chunk)) = resp.chunk().await {
                buf.push_str(&String::from_utf8_lossy(&chunk));
                while let Some(end) = buf.find("\n\n") {
                    let frame: String = buf.drain(..end + 2).collect();
                    for data in frame.lines().filter_map(|l| l.strip_prefix("data:")) {
                        if let Ok(ev) = serde_json::from_str::<TillEvent>(data.trim_start()) {
                            let _ = tx.send(ev);
                        }
                    }
                }
            }
        });
        Ok(EventStream { rx, task })
    }

    /// The next event matching `pick`, skipping others, within `timeout`.
    pub async fn next_matching<T>(
        &mut self,
        timeout: Duration,
        mut pick: impl FnMut(TillEvent) -> Option<T>,
    ) -> anyhow::Result<T> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            match tokio::time::timeout_at(deadline, self.rx.recv()).await {
                Ok(Some(ev)) => {
                    if let Some(t) = pick(ev) {
                        return Ok(t);
                    }
                }
                Ok(None) => bail!("the event stream closed"),
                Err(_) => bail!("no matching event within {timeout:?}"),
            }
        }
    }
}

impl Drop for EventStream {
    fn drop(&mut self) {
        self.task.abort();
    }
}
