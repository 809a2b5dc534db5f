//! `pos-agent status --watch`: the outbox's backlog followed while it
//! uploads, for store IT after a long outage. It only reads the database
//! (the running agent uploads), twice a second: a progress bar on a
//! terminal, a line per change otherwise (a pipe, a log), and the last sync
//! error whenever it changes. It ends when nothing is left to send, or on
//! Ctrl-C saying how much is left.

use std::io::IsTerminal as _;
use std::path::Path;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use shared::ids::Seq;

use crate::store::Summary;

/// How often the database is read.
pub const POLL: Duration = Duration::from_millis(500);

/// How a watch ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WatchEnd {
    /// Nothing was waiting when it started.
    NothingToSend,
    /// Everything committed was acknowledged.
    Uploaded,
    /// Stopped by Ctrl-C with records still waiting.
    Interrupted,
}

fn seq(s: Option<Seq>) -> i64 {
    s.map_or(0, Seq::get)
}

/// Follows the backlog of the register in `data_dir` until it is empty or
/// `stop` completes, printing to stdout (the bar to stderr, on a terminal).
pub async fn watch(
    data_dir: &Path,
    poll: Duration,
    stop: impl std::future::Future<Output = ()>,
) -> anyhow::Result<WatchEnd> {
    let first = crate::local_status(data_dir)?;
    let from = seq(first.acked_seq);
    if first.pending <= 0 {
        println!(
            "nothing to upload: every record through seq {} is on the server",
            seq(first.head_seq)
        );
        return Ok(WatchEnd::NothingToSend);
    }
    println!(
        "{} records to upload (seq {} to {})",
        first.pending,
        from + 1,
        seq(first.head_seq)
    );
    let terminal = std::io::stderr().is_terminal();
    let bar = ProgressBar::with_draw_target(
        Some(u64::try_from(first.pending).unwrap_or(0)),
        if terminal {
            ProgressDrawTarget::stderr()
        } else {
            ProgressDrawTarget::hidden()
        },
    )
    .with_style(
        ProgressStyle::with_template(
            "{bar:30} {pos}/{len} records uploaded, {per_sec}, about {eta} left",
        )
        .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    let say = |line: String| {
        if terminal {
            bar.println(line);
        } else {
            println!("{line}");
        }
    };
    let started = Instant::now();
    let mut last_left = first.pending;
    let mut last_error = first.sync.last_error.clone();
    let mut stop = std::pin::pin!(stop);
    loop {
        tokio::select! {
            () = tokio::time::sleep(poll) => {}
            () = &mut stop => {
                bar.abandon();
                let left = crate::local_status(data_dir).map_or(last_left, |s| s.pending);
                println!("stopped: {left} records still to upload");
                return Ok(WatchEnd::Interrupted);
            }
        }
        let now = crate::local_status(data_dir)?;
        let (done, total) = progress(from, &now);
        bar.set_length(total);
        bar.set_position(done);
        if now.sync.last_error != last_error {
            if let Some(error) = &now.sync.last_error {
                say(format!("sync error: {error}"));
            }
            last_error.clone_from(&now.sync.last_error);
        }
        if now.pending <= 0 {
            bar.finish_and_clear();
            let ms = started.elapsed().as_millis().max(1);
            println!(
                "backlog uploaded: {done} records in {}.{} s ({} records/s)",
                ms / 1000,
                ms % 1000 / 100,
                u128::from(done) * 1000 / ms
            );
            return Ok(WatchEnd::Uploaded);
        }
        if !terminal && now.pending != last_left {
            println!("{done} uploaded, {} left", now.pending);
        }
        last_left = now.pending;
    }
}

/// Records uploaded since the watch began (from the acknowledged seq
/// `from`), and those plus what is still waiting: sales committed
/// meanwhile lengthen the bar, a rewind by the server shortens the done.
fn progress(from: i64, now: &Summary) -> (u64, u64) {
    let done = (seq(now.acked_seq) - from).max(0);
    let total = done + now.pending.max(0);
    (
        u64::try_from(done).unwrap_or(0),
        u64::try_from(total).unwrap_or(0),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn summary(acked: i64, head: i64) -> Summary {
        Summary {
            head_seq: Seq::new(head).ok(),
            acked_seq: Seq::new(acked).ok(),
            pending: head - acked,
            ..Summary::default()
        }
    }

    #[test]
    fn progress_counts_from_the_start_and_follows_new_sales_and_rewinds() {
        assert_eq!(progress(10, &summary(10, 40)), (0, 30));
        assert_eq!(progress(10, &summary(25, 40)), (15, 30));
        // Five sales committed meanwhile.
        assert_eq!(progress(10, &summary(25, 45)), (15, 35));
        // The server asked to resend from before the start.
        assert_eq!(progress(10, &summary(5, 45)), (0, 40));
        assert_eq!(progress(10, &summary(45, 45)), (35, 35));
    }
}
