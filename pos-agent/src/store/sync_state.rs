//! What the sync tasks learnt, kept in the database so `pos-agent status`
//! can show it while the agent is stopped: the dead-letter table and the
//! one-row `sync_state`.
//!
//! # Dead letters
//!
//! A record the server refuses for good (a signature that no longer
//! verifies, bytes that differ from what the server stored at that seq, …)
//! is a *dead letter*. Seqs are dense and the server accepts nothing past a
//! missing seq, so the uploader cannot skip it: it stops there, raises the
//! alarm and retries at the longest backoff, while checkouts go on
//! committing locally. The outbox row is never touched; the dead-letter
//! row says why and since when, and is marked resolved (not deleted) once
//! the server acknowledges the record after all.

use chrono::{DateTime, Utc};
use rusqlite::{Connection, OptionalExtension, params};
use shared::ids::Seq;
use shared::version::AgentVersion;

use super::{StoreError, corrupt};

/// A record the server refused for good.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DeadLetter {
    /// The record.
    pub seq: Seq,
    /// The HTTP status of the refusal.
    pub http_status: u16,
    /// The server's error code, such as `bad_signature` or `fork`.
    pub code: String,
    /// The server's message.
    pub message: String,
    /// The first refusal.
    pub first_failed_at: DateTime<Utc>,
    /// The latest refusal.
    pub last_failed_at: DateTime<Utc>,
    /// How often it was refused.
    pub attempts: i64,
}

/// A refusal to file as a dead letter.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Refusal {
    /// The HTTP status.
    pub http_status: u16,
    /// The server's error code.
    pub code: String,
    /// The server's message.
    pub message: String,
}

/// The sync state as last recorded.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PersistedSync {
    /// The last reply from the server, of any kind.
    pub last_contact_at: Option<DateTime<Utc>>,
    /// The last sync error, cleared by a success.
    pub last_error: Option<String>,
    /// When it happened.
    pub last_error_at: Option<DateTime<Utc>>,
    /// Why uploads stopped until a person acts (protocol, credentials).
    pub upload_blocked: Option<String>,
    /// The clock offset estimate.
    pub clock: Option<StoredClockOffset>,
    /// When acknowledged records were last pruned.
    pub last_pruned_at: Option<DateTime<Utc>>,
    /// The minimum agent version HQ requires, while this agent is below
    /// it (the server's last heartbeat reply said so).
    pub required_agent_version: Option<AgentVersion>,
}

/// A stored estimate of `server clock − register clock`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StoredClockOffset {
    /// Milliseconds to add to the register clock to get the server's.
    pub offset_ms: i64,
    /// Plus or minus this many milliseconds.
    pub uncertainty_ms: i64,
    /// The register time of the measurement.
    pub measured_at: DateTime<Utc>,
}

fn time(raw: Option<String>, what: &'static str) -> Result<Option<DateTime<Utc>>, StoreError> {
    raw.map(|t| {
        DateTime::parse_from_rfc3339(&t)
            .map(|t| t.with_timezone(&Utc))
            .map_err(|e| corrupt(what, e))
    })
    .transpose()
}

/// Reads the sync state.
pub fn load(conn: &Connection) -> Result<PersistedSync, StoreError> {
    let row = conn
        .query_row(
            "SELECT last_contact_at, last_error, last_error_at, upload_blocked,
                    clock_offset_ms, clock_uncertainty_ms, clock_measured_at, last_pruned_at,
                    required_agent_version
             FROM sync_state WHERE id = 1",
            [],
            |r| {
                Ok((
                    r.get::<_, Option<String>>(0)?,
                    r.get::<_, Option<String>>(1)?,
                    r.get::<_, Option<String>>(2)?,
                    r.get::<_, Option<String>>(3)?,
                    r.get::<_, Option<i64>>(4)?,
                    r.get::<_, Option<i64>>(5)?,
                    r.get::<_, Option<String>>(6)?,
                    r.get::<_, Option<String>>(7)?,
                    r.get::<_, Option<String>>(8)?,
                ))
            },
        )
        .optional()?;
    let Some((contact, error, error_at, blocked, offset, uncertainty, measured, pruned, required)) =
        row
    else {
        return Ok(PersistedSync::default());
    };
    let clock = match (
        offset,
        uncertainty,
        time(measured, "clock measurement time")?,
    ) {
        (Some(offset_ms), Some(uncertainty_ms), Some(measured_at)) => Some(StoredClockOffset {
            offset_ms,
            uncertainty_ms,
            measured_at,
        }),
        _ => None,
    };
    Ok(PersistedSync {
        last_contact_at: time(contact, "last contact time")?,
        last_error: error,
        last_error_at: time(error_at, "last error time")?,
        upload_blocked: blocked,
        clock,
        last_pruned_at: time(pruned, "prune time")?,
        required_agent_version: required
            .map(|v| AgentVersion::parse(&v).map_err(|e| corrupt("required agent version", e)))
            .transpose()?,
    })
}

/// Keeps the minimum agent version HQ requires while this agent is below
/// it, or clears it.
pub fn set_required_version(
    conn: &Connection,
    required: Option<&AgentVersion>,
) -> Result<(), StoreError> {
    conn.execute(
        "UPDATE sync_state SET required_agent_version = ?1 WHERE id = 1",
        [required.map(ToString::to_string)],
    )?;
    Ok(())
}

/// Records a reply from the server; a success also clears the last error
/// and the block.
pub fn record_contact(
    conn: &Connection,
    at: DateTime<Utc>,
    succeeded: bool,
) -> Result<(), StoreError> {
    if succeeded {
        conn.execute(
            "UPDATE sync_state SET last_contact_at = ?1, last_error = NULL, last_error_at = NULL,
                    upload_blocked = NULL
             WHERE id = 1",
            [at.to_rfc3339()],
        )?;
    } else {
        conn.execute(
            "UPDATE sync_state SET last_contact_at = ?1 WHERE id = 1",
            [at.to_rfc3339()],
        )?;
    }
    Ok(())
}

/// A sync error to record.
#[derive(Clone, Copy, Debug)]
pub struct ErrorRecord<'a> {
    /// When it happened.
    pub at: DateTime<Utc>,
    /// What happened.
    pub error: &'a str,
    /// Why uploads are blocked, if they are.
    pub blocked: Option<&'a str>,
    /// Whether the server answered (a refusal rather than silence).
    pub reached_server: bool,
}

/// Records a sync error, and why uploads are blocked if they are.
pub fn record_error(conn: &Connection, e: &ErrorRecord<'_>) -> Result<(), StoreError> {
    conn.execute(
        "UPDATE sync_state SET last_error = ?1, last_error_at = ?2, upload_blocked = ?3,
                last_contact_at = CASE WHEN ?4 THEN ?2 ELSE last_contact_at END
         WHERE id = 1",
        params![e.error, e.at.to_rfc3339(), e.blocked, e.reached_server],
    )?;
    Ok(())
}

/// Stores the clock offset estimate.
pub fn save_clock(conn: &Connection, clock: StoredClockOffset) -> Result<(), StoreError> {
    conn.execute(
        "UPDATE sync_state SET clock_offset_ms = ?1, clock_uncertainty_ms = ?2,
                clock_measured_at = ?3
         WHERE id = 1",
        params![
            clock.offset_ms,
            clock.uncertainty_ms,
            clock.measured_at.to_rfc3339()
        ],
    )?;
    Ok(())
}

/// Records when acknowledged records were last pruned.
pub fn record_prune(conn: &Connection, at: DateTime<Utc>) -> Result<(), StoreError> {
    conn.execute(
        "UPDATE sync_state SET last_pruned_at = ?1 WHERE id = 1",
        [at.to_rfc3339()],
    )?;
    Ok(())
}

/// Files (or refreshes) the dead letter for `seq`. Returns whether it is
/// new, so the first refusal is logged loudest.
pub fn dead_letter(
    conn: &Connection,
    seq: Seq,
    refusal: &Refusal,
    at: DateTime<Utc>,
) -> Result<bool, StoreError> {
    let open: Option<i64> = conn
        .query_row(
            "SELECT attempts FROM dead_letters WHERE seq = ?1 AND resolved_at IS NULL",
            [seq.get()],
            |r| r.get(0),
        )
        .optional()?;
    conn.execute(
        "INSERT INTO dead_letters
             (seq, http_status, code, message, first_failed_at, last_failed_at, attempts)
         VALUES (?1, ?2, ?3, ?4, ?5, ?5, 1)
         ON CONFLICT (seq) DO UPDATE SET
             http_status = excluded.http_status, code = excluded.code,
             message = excluded.message, last_failed_at = excluded.last_failed_at,
             attempts = CASE WHEN resolved_at IS NULL THEN attempts + 1 ELSE 1 END,
             first_failed_at = CASE WHEN resolved_at IS NULL THEN first_failed_at
                                    ELSE excluded.first_failed_at END,
             resolved_at = NULL",
        params![
            seq.get(),
            refusal.http_status,
            refusal.code,
            refusal.message,
            at.to_rfc3339()
        ],
    )?;
    Ok(open.is_none())
}

/// Marks every open dead letter up to `through` resolved: the server
/// acknowledged those records after all.
pub fn resolve_dead_letters(
    conn: &Connection,
    through: Seq,
    at: DateTime<Utc>,
) -> Result<usize, StoreError> {
    Ok(conn.execute(
        "UPDATE dead_letters SET resolved_at = ?1 WHERE seq <= ?2 AND resolved_at IS NULL",
        params![at.to_rfc3339(), through.get()],
    )?)
}

/// The dead letters not resolved, oldest first.
pub fn open_dead_letters(conn: &Connection) -> Result<Vec<DeadLetter>, StoreError> {
    let mut stmt = conn.prepare_cached(
        "SELECT seq, http_status, code, message, first_failed_at, last_failed_at, attempts
         FROM dead_letters WHERE resolved_at IS NULL ORDER BY seq",
    )?;
    let rows = stmt.query_map([], |r| {
        Ok((
            r.get::<_, i64>(0)?,
            r.get::<_, u16>(1)?,
            r.get::<_, String>(2)?,
            r.get::<_, String>(3)?,
            r.get::<_, String>(4)?,
            r.get::<_, String>(5)?,
            r.get::<_, i64>(6)?,
        ))
    })?;
    rows.map(|row| {
        let (seq, http_status, code, message, first, last, attempts) = row?;
        Ok(DeadLetter {
            seq: Seq::new(seq).map_err(|e| corrupt("dead letter seq", e))?,
            http_status,
            code,
            message,
            first_failed_at: time(Some(first), "dead letter time")?.unwrap_or_default(),
            last_failed_at: time(Some(last), "dead letter time")?.unwrap_or_default(),
            attempts,
        })
    })
    .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::outbox::tests::{key, sale};
    use crate::store::outbox::{ack_through, commit};
    use crate::store::tests::temp_db;

    fn at(secs: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_790_000_000 + secs, 0).unwrap()
    }

    fn refusal(code: &str) -> Refusal {
        Refusal {
            http_status: 400,
            code: code.into(),
            message: format!("{code} at record 2"),
        }
    }

    #[test]
    fn dead_letters_count_attempts_and_are_resolved_not_deleted() {
        let (_dir, mut conn) = temp_db();
        for _ in 0..3 {
            commit(&mut conn, &key(), sale).unwrap();
        }
        let seq = Seq::new(2).unwrap();
        assert!(dead_letter(&conn, seq, &refusal("bad_signature"), at(0)).unwrap());
        assert!(!dead_letter(&conn, seq, &refusal("bad_signature"), at(30)).unwrap());
        let open = open_dead_letters(&conn).unwrap();
        assert_eq!(open.len(), 1);
        assert_eq!(
            (
                open[0].attempts,
                open[0].first_failed_at,
                open[0].last_failed_at
            ),
            (2, at(0), at(30))
        );

        ack_through(&conn, Seq::new(3).unwrap()).unwrap();
        assert_eq!(
            resolve_dead_letters(&conn, Seq::new(3).unwrap(), at(60)).unwrap(),
            1
        );
        assert!(open_dead_letters(&conn).unwrap().is_empty());
        let kept: i64 = conn
            .query_row("SELECT COUNT(*) FROM dead_letters", [], |r| r.get(0))
            .unwrap();
        assert_eq!(kept, 1, "the history stays");
        let records: i64 = conn
            .query_row("SELECT COUNT(*) FROM outbox", [], |r| r.get(0))
            .unwrap();
        assert_eq!(records, 3, "the record stays");

        assert!(
            dead_letter(&conn, seq, &refusal("fork"), at(90)).unwrap(),
            "new episode"
        );
        assert_eq!(open_dead_letters(&conn).unwrap()[0].attempts, 1);
    }

    #[test]
    fn the_sync_state_round_trips_and_a_success_clears_the_error() {
        let (_dir, conn) = temp_db();
        assert_eq!(load(&conn).unwrap(), PersistedSync::default());
        record_error(
            &conn,
            &ErrorRecord {
                at: at(1),
                error: "cannot reach",
                blocked: Some("agent too old"),
                reached_server: false,
            },
        )
        .unwrap();
        let clock = StoredClockOffset {
            offset_ms: -86_400_000,
            uncertainty_ms: 3,
            measured_at: at(2),
        };
        save_clock(&conn, clock).unwrap();
        let state = load(&conn).unwrap();
        assert_eq!(state.last_error.as_deref(), Some("cannot reach"));
        assert_eq!(state.upload_blocked.as_deref(), Some("agent too old"));
        assert_eq!(state.clock, Some(clock));
        record_contact(&conn, at(3), false).unwrap();
        assert!(load(&conn).unwrap().last_error.is_some());
        record_contact(&conn, at(4), true).unwrap();
        let state = load(&conn).unwrap();
        assert_eq!(
            (
                state.last_error,
                state.upload_blocked,
                state.last_contact_at
            ),
            (None, None, Some(at(4)))
        );
    }
}
