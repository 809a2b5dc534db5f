//! The till's sale ids: the idempotency keys of commits. Each commit that
//! carried a [`SaleId`] stores it with the reply it was given, inside the
//! transaction that appends the record, so a key exists exactly when its
//! record does. A commit repeated with the same id, and
//! `GET /v1/sales/{sale_id}`, read that reply back. A key is deleted with
//! its record when the outbox is pruned (`sync.retention_days`, at least a
//! day), never sooner.

use chrono::{DateTime, Utc};
use rusqlite::{Connection, OptionalExtension, params};
use shared::ids::SaleId;
use shared::wire::till::Committed;
use uuid::Uuid;

use super::{StoreError, corrupt};

/// A sale committed with a sale id.
#[derive(Clone, Debug)]
pub struct RecordedSale {
    /// The check it was committed from.
    pub check_id: Uuid,
    /// The reply the commit was given.
    pub committed: Committed,
    /// Whether the server acknowledged the record.
    pub uploaded: bool,
}

/// The sale committed with `sale`, if any.
pub fn find(conn: &Connection, sale: &SaleId) -> Result<Option<RecordedSale>, StoreError> {
    let row: Option<(String, String, bool)> = conn
        .prepare_cached(
            "SELECT check_id, reply, seq <= (SELECT acked_seq FROM meta WHERE id = 1)
             FROM sales WHERE sale_id = ?1",
        )?
        .query_row([sale.as_str()], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .optional()?;
    row.map(|(check_id, reply, uploaded)| {
        Ok(RecordedSale {
            check_id: check_id.parse().map_err(|e| corrupt("sale check id", e))?,
            committed: serde_json::from_str(&reply).map_err(|e| corrupt("sale reply", e))?,
            uploaded,
        })
    })
    .transpose()
}

/// Stores `sale` with its reply; call inside the commit's transaction.
pub fn insert(
    conn: &Connection,
    sale: &SaleId,
    committed: &Committed,
    at: DateTime<Utc>,
) -> Result<(), StoreError> {
    let reply = serde_json::to_string(committed).map_err(|e| corrupt("sale reply", e))?;
    conn.prepare_cached(
        "INSERT INTO sales (sale_id, check_id, seq, reply, committed_at)
         VALUES (?1, ?2, ?3, ?4, ?5)",
    )?
    .execute(params![
        sale.as_str(),
        committed.check_id.to_string(),
        committed.seq.get(),
        reply,
        at.to_rfc3339(),
    ])?;
    Ok(())
}
