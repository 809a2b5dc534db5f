//! The sync part of the status: upload progress, dead letters, what blocks
//! uploads, the storage alarm, the clock drift and the ruleset pipeline,
//! for `GET /v1/status` ([`sync_status`]) and as text for
//! `pos-agent status` ([`render`]).

use std::fmt::Write as _;

use chrono::{DateTime, Utc};
use shared::ids::Seq;
use shared::version::AgentVersion;
use shared::wire::till::{AgentStatus, DeadLetterView, SyncStatus};

use super::monitor::MonitorState;
use crate::store::sync_state::StoredClockOffset;
use crate::store::{DeadLetter, StorageAlarm, Summary};

/// Thousandths of the committed records the server acknowledged.
#[must_use]
pub fn uploaded_permille(head: Option<Seq>, acked: Option<Seq>) -> u32 {
    let head = head.map_or(0, Seq::get);
    let acked = acked.map_or(0, Seq::get).min(head);
    if head == 0 {
        return 1000;
    }
    u32::try_from(acked.saturating_mul(1000) / head).unwrap_or(1000)
}

fn view(d: &DeadLetter) -> DeadLetterView {
    DeadLetterView {
        seq: d.seq,
        http_status: d.http_status,
        code: d.code.clone(),
        message: d.message.clone(),
        first_failed_at: d.first_failed_at,
        last_failed_at: d.last_failed_at,
        attempts: d.attempts,
    }
}

/// The alarm line for a dead letter.
fn dead_letter_alarm(d: &DeadLetterView, pending: i64) -> String {
    format!(
        "record {} refused by the server since {} ({} {}, {} attempts): {}; uploads stop \
         there, {pending} records wait in the outbox",
        d.seq,
        d.first_failed_at.to_rfc3339(),
        d.http_status,
        d.code,
        d.attempts,
        d.message
    )
}

/// This agent's version.
pub const AGENT_VERSION: &str = env!("CARGO_PKG_VERSION");

/// The alarm line of an agent below the minimum version HQ requires.
#[must_use]
pub fn version_alarm(required: &AgentVersion) -> String {
    format!(
        "this agent is version {AGENT_VERSION}, below the minimum {required} HQ requires: \
         install a newer pos-agent package (sales and sync go on meanwhile)"
    )
}

/// The alarms the database alone can tell: a block recorded before the
/// agent stopped, the version below HQ's minimum, and the first dead
/// letter.
fn stored_alarms(summary: &Summary) -> Vec<String> {
    let mut alarms: Vec<String> = summary.sync.upload_blocked.iter().cloned().collect();
    alarms.extend(
        summary
            .sync
            .required_agent_version
            .as_ref()
            .map(version_alarm),
    );
    alarms.extend(
        summary
            .dead_letters
            .first()
            .map(|d| dead_letter_alarm(&view(d), summary.pending)),
    );
    alarms
}

/// The sync status of a running agent.
#[must_use]
pub fn sync_status(
    summary: &Summary,
    live: &MonitorState,
    storage: Option<StorageAlarm>,
    offline: bool,
) -> SyncStatus {
    let clock: Option<StoredClockOffset> = live.clock.map(Into::into);
    let dead_letters: Vec<DeadLetterView> = summary.dead_letters.iter().map(view).collect();
    let storage_alarm = storage.map(|a| a.describe());
    let mut alarms = Vec::new();
    alarms.extend(storage_alarm.clone());
    alarms.extend(live.upload_blocked.clone());
    alarms.extend(live.required_version.as_ref().map(version_alarm));
    alarms.extend(live.key_alarm.clone());
    alarms.extend(
        dead_letters
            .first()
            .map(|d| dead_letter_alarm(d, summary.pending)),
    );
    SyncStatus {
        uploaded_permille: uploaded_permille(summary.head_seq, summary.acked_seq),
        oldest_kept_seq: summary.oldest_kept_seq,
        last_contact_at: live.last_contact_at.or(summary.sync.last_contact_at),
        offline,
        clock_drift_ms: clock.map(|c| -c.offset_ms),
        clock_drift_uncertainty_ms: clock.map(|c| c.uncertainty_ms),
        upload_blocked: live.upload_blocked.clone(),
        dead_letters,
        storage_alarm,
        pending_ruleset: live.pending_ruleset,
        ruleset_rejected: live.ruleset_rejected.clone(),
        ruleset_transport: live.ruleset_transport.name().to_owned(),
        required_agent_version: live.required_version.clone(),
        alarms,
        leases: Vec::new(),
    }
}

fn show<T: ToString>(v: Option<T>) -> String {
    v.map_or_else(|| "none".to_owned(), |v| v.to_string())
}

fn drift_text(drift_ms: i64, uncertainty_ms: i64) -> String {
    let secs = drift_ms.unsigned_abs() as f64 / 1000.0;
    let way = if drift_ms >= 0 { "ahead of" } else { "behind" };
    format!("register clock {secs:.1} s {way} the server's (± {uncertainty_ms} ms)")
}

fn ago(at: DateTime<Utc>, now: DateTime<Utc>) -> String {
    let secs = (now - at).num_seconds();
    format!("{} ({secs} s ago)", at.to_rfc3339())
}

/// `pos-agent status`: the database's figures, and the running agent's
/// live view when it answers on its local API.
#[must_use]
pub fn render(summary: &Summary, live: Option<&AgentStatus>, now: DateTime<Utc>) -> String {
    let mut out = String::new();
    let head = summary.head_seq.map_or(0, Seq::get);
    let acked = summary.acked_seq.map_or(0, Seq::get);
    let permille = uploaded_permille(summary.head_seq, summary.acked_seq);
    // Writing to a String cannot fail.
    let _ = writeln!(out, "last seq:        {}", show(summary.head_seq));
    let _ = writeln!(out, "acked seq:       {}", show(summary.acked_seq));
    let _ = writeln!(out, "pending uploads: {}", summary.pending);
    let _ = writeln!(
        out,
        "upload progress: {acked} / {head} ({}.{} %)",
        permille / 10,
        permille % 10
    );
    let _ = writeln!(out, "oldest kept seq: {}", show(summary.oldest_kept_seq));
    let _ = writeln!(
        out,
        "ruleset version: {}",
        show(summary.ruleset_version.map(|v| v.get()))
    );
    let _ = writeln!(out, "customers:       {}", summary.customers);
    let required = match live {
        Some(live) => live.sync.required_agent_version.clone(),
        None => summary.sync.required_agent_version.clone(),
    };
    let _ = writeln!(
        out,
        "agent version:   {AGENT_VERSION}{}",
        required.map_or_else(String::new, |r| format!(
            " (BELOW the minimum {r} HQ requires)"
        ))
    );
    match live {
        Some(live) => {
            let s = &live.sync;
            let _ = writeln!(out, "agent:           running");
            let _ = writeln!(
                out,
                "server:          {}",
                if live.server_reachable {
                    "reachable"
                } else {
                    "unreachable"
                }
            );
            if let Some(at) = s.last_contact_at {
                let _ = writeln!(out, "last contact:    {}", ago(at, now));
            }
            if s.offline {
                let _ = writeln!(
                    out,
                    "offline:         yes: points a customer spends here are held to the \
                     programme's offline cap until the server is reached"
                );
            }
            let _ = writeln!(
                out,
                "last error:      {}",
                show(live.last_sync_error.clone())
            );
            let _ = writeln!(
                out,
                "clock drift:     {}",
                match (s.clock_drift_ms, s.clock_drift_uncertainty_ms) {
                    (Some(d), Some(u)) => drift_text(d, u),
                    _ => "not estimated yet".to_owned(),
                }
            );
            let _ = writeln!(out, "ruleset fetch:   {}", s.ruleset_transport);
            if let Some(p) = s.pending_ruleset {
                let _ = writeln!(
                    out,
                    "pending ruleset: {} from {}",
                    p.version,
                    p.effective_from.to_rfc3339()
                );
            }
            if let Some(r) = &s.ruleset_rejected {
                let _ = writeln!(out, "ruleset refused: {r}");
            }
            let _ = writeln!(
                out,
                "storage:         {}",
                s.storage_alarm.as_deref().unwrap_or("ok")
            );
            let _ = writeln!(
                out,
                "upload blocked:  {}",
                s.upload_blocked.as_deref().unwrap_or("no")
            );
        }
        None => {
            let sync = &summary.sync;
            let _ = writeln!(
                out,
                "agent:           not running (figures from the database)"
            );
            if let Some(at) = sync.last_contact_at {
                let _ = writeln!(out, "last contact:    {}", ago(at, now));
            }
            let _ = writeln!(
                out,
                "last error:      {}",
                match (&sync.last_error, sync.last_error_at) {
                    (Some(e), Some(at)) => format!("{e} (at {})", at.to_rfc3339()),
                    (Some(e), None) => e.clone(),
                    _ => "none".to_owned(),
                }
            );
            let _ = writeln!(
                out,
                "clock drift:     {}",
                sync.clock.map_or_else(
                    || "not estimated yet".to_owned(),
                    |c| format!(
                        "{}, measured {}",
                        drift_text(-c.offset_ms, c.uncertainty_ms),
                        c.measured_at.to_rfc3339()
                    )
                )
            );
            if let Some(blocked) = &sync.upload_blocked {
                let _ = writeln!(out, "upload blocked:  {blocked}");
            }
        }
    }
    if summary.dead_letters.is_empty() {
        let _ = writeln!(out, "dead letters:    none");
    } else {
        let _ = writeln!(out, "dead letters:    {}", summary.dead_letters.len());
        for d in &summary.dead_letters {
            let _ = writeln!(out, "  {}", dead_letter_alarm(&view(d), summary.pending));
        }
    }
    let alarms = match live {
        Some(live) => live.sync.alarms.clone(),
        None => stored_alarms(summary),
    };
    if !alarms.is_empty() {
        let _ = writeln!(out, "ALARMS:");
        for alarm in alarms {
            let _ = writeln!(out, "  ! {alarm}");
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seq(n: i64) -> Option<Seq> {
        Some(Seq::new(n).unwrap())
    }

    #[test]
    fn progress_is_in_thousandths_and_full_when_empty() {
        assert_eq!(uploaded_permille(None, None), 1000);
        assert_eq!(uploaded_permille(seq(1_000_000), seq(500_000)), 500);
        assert_eq!(uploaded_permille(seq(3), None), 0);
        assert_eq!(uploaded_permille(seq(3), seq(3)), 1000);
    }

    #[test]
    fn the_report_keeps_the_lines_scripts_read_and_shows_dead_letters() {
        let now = DateTime::from_timestamp(1_790_000_000, 0).unwrap();
        let summary = Summary {
            head_seq: seq(20),
            acked_seq: seq(12),
            pending: 8,
            dead_letters: vec![DeadLetter {
                seq: Seq::new(13).unwrap(),
                http_status: 400,
                code: "bad_signature".into(),
                message: "record 13 has a signature that does not verify".into(),
                first_failed_at: now,
                last_failed_at: now,
                attempts: 3,
            }],
            ..Summary::default()
        };
        let text = render(&summary, None, now);
        assert!(text.contains("last seq:        20\n"), "{text}");
        assert!(text.contains("pending uploads: 8\n"), "{text}");
        assert!(text.contains("upload progress: 12 / 20 (60.0 %)"), "{text}");
        assert!(text.contains("record 13 refused by the server"), "{text}");
        assert!(text.contains("not running"), "{text}");
        assert!(text.contains("ALARMS:\n  ! record 13"), "{text}");
    }

    #[test]
    fn an_offline_register_says_so_and_why_it_matters() {
        let now = DateTime::from_timestamp(1_790_000_000, 0).unwrap();
        let summary = Summary::default();
        let live = |offline: bool| AgentStatus {
            register_id: shared::ids::RegisterId::new(3).unwrap(),
            store_id: shared::ids::StoreId::new(1).unwrap(),
            ruleset_version: None,
            last_seq: None,
            acked_seq: None,
            outbox_pending: 0,
            cached_customers: 0,
            server_reachable: !offline,
            last_sync_error: None,
            sync: sync_status(&summary, &MonitorState::default(), None, offline),
        };
        let text = render(&summary, Some(&live(true)), now);
        assert!(text.contains("offline:         yes"), "{text}");
        assert!(text.contains("offline cap"), "{text}");
        let text = render(&summary, Some(&live(false)), now);
        assert!(!text.contains("offline:"), "{text}");
    }

    #[test]
    fn alarms_collect_storage_blocks_and_dead_letters() {
        let now = DateTime::from_timestamp(1_790_000_000, 0).unwrap();
        let live = MonitorState {
            upload_blocked: Some("agent too old for server".into()),
            ..MonitorState::default()
        };
        let storage = StorageAlarm {
            fault: crate::store::StorageFault::Full,
            since: now,
            failures: 2,
            detail: "database or disk is full".into(),
        };
        let status = sync_status(&Summary::default(), &live, Some(storage), false);
        assert_eq!(status.alarms.len(), 2, "{:?}", status.alarms);
        assert!(status.alarms[0].starts_with("loyalty unavailable: the disk is full"));
        assert_eq!(status.ruleset_transport, "long_poll");
    }
}
