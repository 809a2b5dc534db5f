//! Sales fetched from the server for a return, and the returns the server
//! had stored of them: verified before they get here, kept so that a
//! second return of the same sale works offline and never gives back more
//! than was sold, whichever tills took the earlier returns.

use chrono::{DateTime, Utc};
use rusqlite::{Connection, OptionalExtension as _, params};
use shared::ids::{RegisterId, Seq};
use shared::record::{PurchaseRecord, RecordKind};
use uuid::Uuid;

use super::{StoreError, corrupt};

/// Stores verified records (a sale and its returns), replacing older copies.
pub fn store(
    conn: &Connection,
    records: &[(PurchaseRecord, Vec<u8>)],
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    let mut stmt = conn.prepare_cached(
        "INSERT INTO fetched_records (record_id, register_id, seq, original_id, body, fetched_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)
         ON CONFLICT (record_id) DO UPDATE SET fetched_at = excluded.fetched_at",
    )?;
    for (record, bytes) in records {
        let original = match &record.kind {
            RecordKind::Return { original, .. } => Some(original.id.to_string()),
            RecordKind::Sale => None,
        };
        stmt.execute(params![
            record.id.to_string(),
            record.register_id.get(),
            record.seq.get(),
            original,
            bytes,
            now.to_rfc3339(),
        ])?;
    }
    Ok(())
}

/// A fetched sale, by its register and seq.
pub fn sale_at(
    conn: &Connection,
    register: RegisterId,
    seq: Seq,
) -> Result<Option<PurchaseRecord>, StoreError> {
    one(
        conn,
        "register_id = ?1 AND seq = ?2 AND original_id IS NULL",
        params![register.get(), seq.get()],
    )
}

/// A fetched sale, by id.
pub fn sale_by_id(conn: &Connection, id: Uuid) -> Result<Option<PurchaseRecord>, StoreError> {
    one(
        conn,
        "record_id = ?1 AND original_id IS NULL",
        params![id.to_string()],
    )
}

fn one(
    conn: &Connection,
    clause: &str,
    values: impl rusqlite::Params,
) -> Result<Option<PurchaseRecord>, StoreError> {
    let body: Option<Vec<u8>> = conn
        .query_row(
            &format!("SELECT body FROM fetched_records WHERE {clause}"),
            values,
            |r| r.get(0),
        )
        .optional()?;
    body.map(|b| serde_json::from_slice(&b).map_err(|e| corrupt("fetched record", e)))
        .transpose()
}

/// The fetched returns of a sale, by register and seq.
pub fn returns_of(conn: &Connection, original: Uuid) -> Result<Vec<PurchaseRecord>, StoreError> {
    let mut stmt = conn.prepare_cached(
        "SELECT body FROM fetched_records WHERE original_id = ?1 ORDER BY register_id, seq",
    )?;
    let rows = stmt.query_map([original.to_string()], |r| r.get::<_, Vec<u8>>(0))?;
    rows.map(|b| serde_json::from_slice(&b?).map_err(|e| corrupt("fetched record", e)))
        .collect()
}
