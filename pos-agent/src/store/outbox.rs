//! The outbox: committed purchase records as their exact signed bytes,
//! chained by hash, with the head and the server's acknowledgement.
//!
//! [`commit`] appends a record, its effect on the customer's standing and
//! the new head in one transaction, so either all of it is durable or none.
//!
//! The uploader reads the outbox one bounded batch at a time
//! ([`pending_batch`]: by seq on the primary key, at most `max_records` and
//! about `max_bytes`), so a backlog of a million records costs no more
//! memory than one batch. [`prune`] deletes acknowledged records past the
//! retention, a chunk at a time.

use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use rusqlite::{Connection, OptionalExtension, TransactionBehavior, params};
use shared::crypto::{Hash256, Signature, SigningKey};
use shared::ids::{PromotionId, RegisterId, Seq};
use shared::record::{PurchaseRecord, RecordKind, SealedBytes, SignedRecord};
#[cfg(test)]
use shared::wire::sync::MAX_BATCH_BYTES;
use shared::wire::sync::UploadBatch;
use uuid::Uuid;

use super::sync_state::{self, StoredClockOffset};
use super::{StoreError, corrupt, optional_seq};

/// The last committed record.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Head {
    /// Its seq; none before the first commit.
    pub seq: Option<Seq>,
    /// The hash of its bytes ([`Hash256::GENESIS`] before the first commit).
    pub hash: Hash256,
}

impl Head {
    /// The seq the next record gets.
    #[must_use]
    pub fn next_seq(&self) -> Seq {
        self.seq.map_or(Seq::FIRST, Seq::next)
    }
}

/// Reads the head.
pub fn head(conn: &Connection) -> Result<Head, StoreError> {
    let (seq, hash): (i64, Vec<u8>) = conn
        .prepare_cached("SELECT head_seq, head_hash FROM meta WHERE id = 1")?
        .query_row([], |r| Ok((r.get(0)?, r.get(1)?)))?;
    let hash = hash
        .try_into()
        .map(Hash256)
        .map_err(|_| corrupt("head hash", "not 32 bytes"))?;
    Ok(Head {
        seq: optional_seq(seq)?,
        hash,
    })
}

/// The last seq the server acknowledged.
pub fn acked_seq(conn: &Connection) -> Result<Option<Seq>, StoreError> {
    let raw: i64 = conn.query_row("SELECT acked_seq FROM meta WHERE id = 1", [], |r| r.get(0))?;
    optional_seq(raw)
}

/// Seals the record `build` makes for the next seq and previous hash, and
/// appends it with its effect on the customer's standing, in one
/// transaction. Returns the record as committed. (The agent commits
/// through [`commit_with`], which may refuse inside the transaction.)
#[cfg(test)]
pub fn commit(
    conn: &mut Connection,
    key: &SigningKey,
    build: impl FnOnce(Seq, Hash256) -> PurchaseRecord,
) -> Result<PurchaseRecord, StoreError> {
    commit_with(conn, key, MAX_BATCH_BYTES, |_, seq, prev| {
        Ok::<_, StoreError>(build(seq, prev))
    })
}

/// Like [`commit`], but `build` reads the database inside the transaction
/// (a return reads its sale and the earlier returns) and may refuse. A
/// record whose upload alone (`{"records": [it]}`) would pass
/// `max_upload_bytes` is refused with [`StoreError::RecordTooLarge`] and
/// nothing is written: the server would refuse it for good, and every later
/// record would wait behind it.
pub fn commit_with<E: From<StoreError>>(
    conn: &mut Connection,
    key: &SigningKey,
    max_upload_bytes: usize,
    build: impl FnOnce(&Connection, Seq, Hash256) -> Result<PurchaseRecord, E>,
) -> Result<PurchaseRecord, E> {
    commit_timed(conn, key, max_upload_bytes, build).map(|(record, _)| record)
}

/// Where a commit's time went inside its transaction.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CommitTimings {
    /// Signing and encoding the record.
    pub sealed: Duration,
    /// The transaction's statements: the head, the caller's checks and
    /// the inserts.
    pub written: Duration,
    /// The `COMMIT` that makes it durable (its fsyncs).
    pub durable: Duration,
}

/// [`commit_with`], also saying where the time went.
pub fn commit_timed<E: From<StoreError>>(
    conn: &mut Connection,
    key: &SigningKey,
    max_upload_bytes: usize,
    build: impl FnOnce(&Connection, Seq, Hash256) -> Result<PurchaseRecord, E>,
) -> Result<(PurchaseRecord, CommitTimings), E> {
    let started = Instant::now();
    let tx = conn
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .map_err(StoreError::from)?;
    let head = head(&tx)?;
    let record = build(&tx, head.next_seq(), head.hash)?;
    let sealed = append(&tx, key, &record, max_upload_bytes)?;
    let written = started.elapsed().saturating_sub(sealed);
    let committing = Instant::now();
    tx.commit().map_err(StoreError::from)?;
    let timings = CommitTimings {
        sealed,
        written,
        durable: committing.elapsed(),
    };
    Ok((record, timings))
}

/// Appends a built record and its effects inside the caller's transaction;
/// the time its sealing took.
fn append(
    tx: &rusqlite::Transaction<'_>,
    key: &SigningKey,
    record: &PurchaseRecord,
    max_upload_bytes: usize,
) -> Result<Duration, StoreError> {
    let sealing = Instant::now();
    let sealed = record.seal_bytes(key)?;
    let upload_bytes = upload_size(record, &sealed)?;
    let sealed_in = sealing.elapsed();
    let hash = sealed.hash;
    if upload_bytes > max_upload_bytes {
        return Err(StoreError::RecordTooLarge {
            bytes: upload_bytes,
            max: max_upload_bytes,
        });
    }
    let body = sealed.bytes;
    tx.prepare_cached(
        "INSERT INTO outbox (seq, record_id, body, signature, hash, customer_id, total, committed_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
    )?
    .execute(
        params![
            record.seq.get(),
            record.id.to_string(),
            body,
            sealed.signature.as_bytes().as_slice(),
            hash.0.as_slice(),
            record.customer.map(|c| c.id.get()),
            record.total.minor(),
            record.wall_time.to_rfc3339(),
        ],
    )?;
    let deltas = record.usage_deltas().map_err(|e| StoreError::Corrupt {
        what: "promotion spend of the record",
        detail: e.to_string(),
    })?;
    if let Some(customer) = record.customer {
        let purchases = i64::from(record.kind == RecordKind::Sale);
        tx.prepare_cached(
            "INSERT INTO pending_effects
                 (seq, customer_id, spend_delta, points_delta, purchases_delta, points_earned)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        )?
        .execute(params![
            record.seq.get(),
            customer.id.get(),
            record.total.minor(),
            record.points_earned - record.points_redeemed,
            purchases,
            record.points_earned,
        ])?;
        if record
            .point_awards
            .iter()
            .any(|a| a.rule == shared::pricing::RuleRef::BirthdayBonus)
        {
            tx.prepare_cached("UPDATE pending_effects SET birthday_bonus_at = ?1 WHERE seq = ?2")?
                .execute(params![record.wall_time.to_rfc3339(), record.seq.get()])?;
        }
        for d in deltas.iter().filter(|d| d.uses != 0) {
            tx.prepare_cached(
                "INSERT INTO pending_uses (seq, customer_id, promotion_id, uses)
                 VALUES (?1, ?2, ?3, ?4)",
            )?
            .execute(params![
                record.seq.get(),
                customer.id.get(),
                d.promotion.as_str(),
                d.uses
            ])?;
        }
    }
    // What a sale gave of each promotion comes off the till's lease of it
    // (returns give nothing back to a lease: the server counts them).
    for d in deltas.iter().filter(|d| d.uses > 0) {
        tx.prepare_cached(
            "INSERT INTO lease_spend (seq, promotion_id, uses, spent) VALUES (?1, ?2, ?3, ?4)",
        )?
        .execute(params![
            record.seq.get(),
            d.promotion.as_str(),
            d.uses,
            d.spent.minor()
        ])?;
    }
    for d in &deltas {
        tx.prepare_cached(
            "INSERT INTO till_usage (promotion_id, uses, spent) VALUES (?1, ?2, ?3)
             ON CONFLICT (promotion_id) DO UPDATE SET
                 uses = uses + excluded.uses, spent = spent + excluded.spent",
        )?
        .execute(params![d.promotion.as_str(), d.uses, d.spent.minor()])?;
    }
    if let RecordKind::Return { original, .. } = &record.kind {
        tx.prepare_cached("INSERT INTO returns (original_id, seq) VALUES (?1, ?2)")?
            .execute(params![original.id.to_string(), record.seq.get()])?;
    }
    tx.prepare_cached("UPDATE meta SET head_seq = ?1, head_hash = ?2 WHERE id = 1")?
        .execute(params![record.seq.get(), hash.0.as_slice()])?;
    Ok(sealed_in)
}

/// The bytes of the upload of `record` alone (`{"records": [it]}`, with a
/// chain signature, which the chain path adds), as the uploader sends it:
/// the envelope's JSON with an empty body, plus the body's base64, which
/// JSON carries as it is.
pub fn upload_size(record: &PurchaseRecord, sealed: &SealedBytes) -> Result<usize, StoreError> {
    let envelope = UploadBatch {
        records: vec![SignedRecord {
            register_id: record.register_id,
            seq: record.seq,
            body: String::new(),
            signature: sealed.signature,
        }],
        chain_signature: Some(sealed.signature),
    };
    let envelope = serde_json::to_vec(&envelope).map_err(|e| corrupt("upload batch", e))?;
    Ok(envelope.len() + sealed.bytes.len().div_ceil(3) * 4)
}

/// A committed record of this register, by seq.
pub fn record_at(conn: &Connection, seq: Seq) -> Result<Option<PurchaseRecord>, StoreError> {
    record_where(conn, "seq = ?1", seq.get().into())
}

/// A committed record of this register, by id.
pub fn record_by_id(conn: &Connection, id: Uuid) -> Result<Option<PurchaseRecord>, StoreError> {
    record_where(conn, "record_id = ?1", id.to_string().into())
}

fn record_where(
    conn: &Connection,
    clause: &str,
    value: rusqlite::types::Value,
) -> Result<Option<PurchaseRecord>, StoreError> {
    let body: Option<Vec<u8>> = conn
        .query_row(
            &format!("SELECT body FROM outbox WHERE {clause}"),
            [value],
            |r| r.get(0),
        )
        .optional()?;
    body.map(|b| serde_json::from_slice(&b).map_err(|e| corrupt("outbox record", e)))
        .transpose()
}

/// The returns of a sale committed here, in seq order.
pub fn returns_of(conn: &Connection, original: Uuid) -> Result<Vec<PurchaseRecord>, StoreError> {
    let mut stmt = conn.prepare_cached(
        "SELECT o.body FROM returns r JOIN outbox o ON o.seq = r.seq
         WHERE r.original_id = ?1 ORDER BY r.seq",
    )?;
    let rows = stmt.query_map([original.to_string()], |r| r.get::<_, Vec<u8>>(0))?;
    rows.map(|b| serde_json::from_slice(&b?).map_err(|e| corrupt("outbox record", e)))
        .collect()
}

/// The till's own usage of promotions: `(uses, money given)` each.
pub fn till_usage(
    conn: &Connection,
) -> Result<std::collections::BTreeMap<PromotionId, (i64, i64)>, StoreError> {
    let mut stmt = conn.prepare("SELECT promotion_id, uses, spent FROM till_usage")?;
    let rows = stmt.query_map([], |r| {
        Ok((
            r.get::<_, String>(0)?,
            r.get::<_, i64>(1)?,
            r.get::<_, i64>(2)?,
        ))
    })?;
    rows.map(|row| {
        let (id, uses, spent) = row?;
        let id = PromotionId::parse(id).map_err(|e| corrupt("promotion id", e))?;
        Ok((id, (uses, spent)))
    })
    .collect()
}

/// The next records to upload.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PendingBatch {
    /// Contiguous records in seq order, the first right after the
    /// acknowledged seq.
    pub records: Vec<SignedRecord>,
    /// The hash of the last record's bytes, to check the server's
    /// `head_hash` against.
    pub last_hash: Hash256,
}

impl PendingBatch {
    /// The first seq, if any.
    #[must_use]
    pub fn first(&self) -> Option<Seq> {
        self.records.first().map(|r| r.seq)
    }

    /// The last seq, if any.
    #[must_use]
    pub fn last(&self) -> Option<Seq> {
        self.records.last().map(|r| r.seq)
    }
}

/// Up to `max_records` unacknowledged records in seq order, stopping before
/// the batch's JSON would exceed `max_bytes` (but always at least one).
/// The outbox is `register`'s chain: every record in it is that
/// register's, so the envelope takes its id without reading the bodies.
pub fn pending_batch(
    conn: &Connection,
    register: RegisterId,
    max_records: usize,
    max_bytes: usize,
) -> Result<PendingBatch, StoreError> {
    let acked = acked_seq(conn)?;
    batch_after(conn, register, acked, max_records, max_bytes)
}

/// The records right after `after` (none: from the first), as
/// [`pending_batch`] reads them after the acknowledged seq: the uploader
/// reads the next batch this way while the one before it is in flight.
pub fn batch_after(
    conn: &Connection,
    register: RegisterId,
    after: Option<Seq>,
    max_records: usize,
    max_bytes: usize,
) -> Result<PendingBatch, StoreError> {
    /// Envelope bytes around a record's base64 body and signature.
    const ENVELOPE_BYTES: usize = 200;
    let mut stmt = conn.prepare_cached(
        "SELECT seq, body, signature, hash FROM outbox
         WHERE seq > ?1 ORDER BY seq LIMIT ?2",
    )?;
    let limit = i64::try_from(max_records).unwrap_or(i64::MAX);
    let mut rows = stmt.query([after.map_or(0, Seq::get), limit])?;
    let mut batch = Vec::new();
    let mut last_hash = Hash256::GENESIS;
    let mut bytes = 0;
    while let Some(row) = rows.next()? {
        let seq = Seq::new(row.get(0)?).map_err(|e| corrupt("outbox seq", e))?;
        let body: Vec<u8> = row.get(1)?;
        let signature: Vec<u8> = row.get(2)?;
        bytes += body.len().div_ceil(3) * 4 + ENVELOPE_BYTES;
        if !batch.is_empty() && bytes > max_bytes {
            break;
        }
        if batch.is_empty() && seq != after.map_or(Seq::FIRST, Seq::next) {
            return Err(corrupt(
                "outbox",
                format!(
                    "the record after seq {} is {seq}: a record is missing",
                    after.map_or(0, Seq::get)
                ),
            ));
        }
        if let Some(prev) = batch.last().map(|r: &SignedRecord| r.seq)
            && seq != prev.next()
        {
            return Err(corrupt(
                "outbox",
                format!("seq {seq} follows {prev}: a record is missing"),
            ));
        }
        last_hash = hash_of(row.get(3)?)?;
        let signed = SignedRecord {
            register_id: register,
            seq,
            body: shared::crypto::to_base64(&body),
            signature: Signature::from_slice(&signature)
                .map_err(|e| corrupt("outbox signature", e))?,
        };
        batch.push(signed);
    }
    Ok(PendingBatch {
        records: batch,
        last_hash,
    })
}

fn hash_of(raw: Vec<u8>) -> Result<Hash256, StoreError> {
    raw.try_into()
        .map(Hash256)
        .map_err(|_| corrupt("record hash", "not 32 bytes"))
}

/// Whether the outbox still holds every record from `from` up to, not
/// including, `until` (pruning may have deleted acknowledged ones).
pub fn holds_all(conn: &Connection, from: Seq, until: Seq) -> Result<bool, StoreError> {
    let held: i64 = conn.query_row(
        "SELECT COUNT(*) FROM outbox WHERE seq >= ?1 AND seq < ?2",
        [from.get(), until.get()],
        |r| r.get(0),
    )?;
    Ok(held == (until.get() - from.get()).max(0))
}

/// The oldest record still in the outbox.
pub fn oldest_seq(conn: &Connection) -> Result<Option<Seq>, StoreError> {
    let raw: Option<i64> = conn.query_row("SELECT MIN(seq) FROM outbox", [], |r| r.get(0))?;
    raw.map(|s| Seq::new(s).map_err(|e| corrupt("outbox seq", e)))
        .transpose()
}

/// What an acknowledgement carries besides the seq.
#[derive(Clone, Copy, Debug)]
pub struct Acknowledgement {
    /// Everything through this seq is stored on the server.
    pub through: Seq,
    /// When the reply arrived (register clock).
    pub at: DateTime<Utc>,
    /// A clock offset estimate to store with it, if it changed.
    pub clock: Option<StoredClockOffset>,
}

/// Records an acknowledgement in one transaction: the acknowledged seq
/// (never backwards, never past the head), dead letters it resolves, the
/// contact with the server and the clock estimate. Returns how many dead
/// letters were resolved.
///
/// The transaction commits with `synchronous = NORMAL`: WAL frames in
/// order, without the fsync that a sale's commit waiting behind it would
/// otherwise queue for. A power cut can lose only what it says, so the
/// records since the last durable acknowledgement are sent again and the
/// server answers them as already stored; the next sale's `FULL` commit
/// makes it durable with its own fsync. The connection is back on `FULL`
/// before this returns, whatever happened.
pub fn acknowledge(conn: &mut Connection, ack: &Acknowledgement) -> Result<usize, StoreError> {
    conn.pragma_update(None, "synchronous", "NORMAL")?;
    let written = write_acknowledgement(conn, ack);
    let restored = conn.pragma_update(None, "synchronous", "FULL");
    let resolved = written?;
    restored?;
    Ok(resolved)
}

fn write_acknowledgement(
    conn: &mut Connection,
    ack: &Acknowledgement,
) -> Result<usize, StoreError> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    ack_through(&tx, ack.through)?;
    let resolved = sync_state::resolve_dead_letters(&tx, ack.through, ack.at)?;
    sync_state::record_contact(&tx, ack.at, true)?;
    if let Some(clock) = ack.clock {
        sync_state::save_clock(&tx, clock)?;
    }
    tx.commit()?;
    Ok(resolved)
}

/// Deletes up to `max_rows` of the oldest records that the server
/// acknowledged and that were committed before `cutoff`. A record still
/// counted in a customer's pending standing, or once dead-lettered, is
/// kept. Returns how many were deleted; the head and its hash live in
/// `meta`, so the chain continues whatever is pruned.
pub fn prune(
    conn: &Connection,
    cutoff: DateTime<Utc>,
    max_rows: usize,
) -> Result<usize, StoreError> {
    let limit = i64::try_from(max_rows).unwrap_or(i64::MAX);
    // `committed_at` is RFC 3339 in UTC, so text order is time order.
    let pruned = conn.execute(
        "DELETE FROM outbox WHERE seq IN (
             SELECT seq FROM outbox
             WHERE seq <= (SELECT acked_seq FROM meta WHERE id = 1)
               AND committed_at < ?1
               AND seq NOT IN (SELECT seq FROM pending_effects)
               AND seq NOT IN (SELECT seq FROM dead_letters)
             ORDER BY seq LIMIT ?2)",
        params![cutoff.to_rfc3339(), limit],
    )?;
    // A sale id lives as long as its record.
    conn.execute(
        "DELETE FROM sales WHERE seq NOT IN (SELECT seq FROM outbox)",
        [],
    )?;
    Ok(pruned)
}

/// Records that the server stored everything through `seq`. Never moves the
/// acknowledgement backwards or past the head.
pub fn ack_through(conn: &Connection, seq: Seq) -> Result<(), StoreError> {
    conn.execute(
        "UPDATE meta SET acked_seq = MIN(MAX(acked_seq, ?1), head_seq) WHERE id = 1",
        [seq.get()],
    )?;
    Ok(())
}

/// Follows the server's `expected_seq`: it holds everything before it and
/// nothing from it on, so uploading resumes there, backwards or forwards.
pub fn rewind_to(conn: &Connection, expected: Seq) -> Result<(), StoreError> {
    conn.execute(
        "UPDATE meta SET acked_seq = MIN(?1 - 1, head_seq) WHERE id = 1",
        [expected.get()],
    )?;
    Ok(())
}

#[cfg(test)]
pub(crate) mod tests {
    use chrono::DateTime;
    use shared::ids::{MerchantId, StoreId};
    use shared::money::{Currency, Money};
    use shared::record::{RECORD_FORMAT, RecordKind};

    use super::*;
    use crate::store::tests::temp_db;

    pub(crate) fn key() -> SigningKey {
        SigningKey::from_seed(&[7; 32]).unwrap()
    }

    pub(crate) fn sale(seq: Seq, prev_hash: Hash256) -> PurchaseRecord {
        PurchaseRecord {
            format: RECORD_FORMAT,
            id: uuid::Uuid::now_v7(),
            merchant_id: MerchantId::new(1).unwrap(),
            store_id: StoreId::new(2).unwrap(),
            register_id: RegisterId::new(3).unwrap(),
            seq,
            prev_hash,
            wall_time: DateTime::from_timestamp(1_790_000_000, 0).unwrap(),
            ruleset_version: None,
            kind: RecordKind::Sale,
            currency: Currency::RUB,
            customer: None,
            lines: vec![],
            subtotal: Money::ZERO,
            discount: Money::ZERO,
            total: Money::ZERO,
            points_earned: 0,
            points_redeemed: 0,
            applied: vec![],
            point_awards: vec![],
            pricing_inputs: None,
        }
    }

    fn seq(n: i64) -> Seq {
        Seq::new(n).unwrap()
    }

    fn register() -> RegisterId {
        RegisterId::new(3).unwrap()
    }

    #[test]
    fn the_upload_size_is_that_of_the_batch_as_sent() {
        let mut record = sale(seq(41), Hash256::GENESIS);
        // Bodies a byte longer each: every base64 padding.
        for points in [0, 10, 100, 1000] {
            record.points_earned = points;
            let sealed = record.seal_bytes(&key()).unwrap();
            let (signed, _) = record.seal(&key()).unwrap();
            let sent = serde_json::to_vec(&UploadBatch {
                chain_signature: Some(signed.signature),
                records: vec![signed],
            })
            .unwrap();
            assert_eq!(upload_size(&record, &sealed).unwrap(), sent.len());
        }
    }

    /// The hash of the stored record at `seq`, if it is still kept.
    fn record_hash(conn: &Connection, seq: Seq) -> Result<Option<Hash256>, StoreError> {
        use rusqlite::OptionalExtension as _;
        conn.query_row("SELECT hash FROM outbox WHERE seq = ?1", [seq.get()], |r| {
            r.get::<_, Vec<u8>>(0)
        })
        .optional()?
        .map(hash_of)
        .transpose()
    }

    #[test]
    fn commits_chain_densely_and_verify() {
        let (_dir, mut conn) = temp_db();
        for _ in 0..3 {
            commit(&mut conn, &key(), sale).unwrap();
        }
        let pending = pending_batch(&conn, register(), 10, usize::MAX).unwrap();
        assert_eq!(Some(pending.last_hash), record_hash(&conn, seq(3)).unwrap());
        let batch = pending.records;
        let mut prev = Hash256::GENESIS;
        for (i, signed) in batch.iter().enumerate() {
            let verified = signed.open(&key().public_key()).unwrap();
            assert_eq!(verified.record.seq.get(), i as i64 + 1);
            assert_eq!(verified.record.prev_hash, prev);
            prev = verified.hash;
        }
        assert_eq!(head(&conn).unwrap().hash, prev);
    }

    #[test]
    fn acks_move_forward_only_and_rewinds_follow_the_server() {
        let (_dir, mut conn) = temp_db();
        for _ in 0..5 {
            commit(&mut conn, &key(), sale).unwrap();
        }
        ack_through(&conn, seq(3)).unwrap();
        ack_through(&conn, seq(2)).unwrap();
        assert_eq!(acked_seq(&conn).unwrap(), Some(seq(3)));
        ack_through(&conn, seq(9)).unwrap();
        assert_eq!(acked_seq(&conn).unwrap(), Some(seq(5)));
        rewind_to(&conn, seq(2)).unwrap();
        let batch = pending_batch(&conn, register(), 10, usize::MAX)
            .unwrap()
            .records;
        assert_eq!(batch.first().map(|r| r.seq), Some(seq(2)));
        assert_eq!(batch.len(), 4);
        rewind_to(&conn, seq(5)).unwrap();
        assert_eq!(acked_seq(&conn).unwrap(), Some(seq(4)));
    }

    #[test]
    fn an_acknowledgement_is_written_and_sales_stay_fully_durable() {
        let (_dir, mut conn) = temp_db();
        let synchronous = |conn: &Connection| -> i64 {
            conn.pragma_query_value(None, "synchronous", |r| r.get(0))
                .unwrap()
        };
        for _ in 0..3 {
            commit(&mut conn, &key(), sale).unwrap();
        }
        assert_eq!(synchronous(&conn), 2, "sales commit with FULL");
        let ack = Acknowledgement {
            through: seq(2),
            at: DateTime::from_timestamp(1_000, 0).unwrap(),
            clock: None,
        };
        acknowledge(&mut conn, &ack).unwrap();
        assert_eq!(acked_seq(&conn).unwrap(), Some(seq(2)));
        assert_eq!(
            synchronous(&conn),
            2,
            "FULL again after the acknowledgement"
        );
        // A failed acknowledgement (here: a transaction already open)
        // leaves the connection on FULL too.
        conn.execute_batch("BEGIN").unwrap();
        assert!(acknowledge(&mut conn, &ack).is_err());
        conn.execute_batch("ROLLBACK").unwrap();
        assert_eq!(synchronous(&conn), 2);
        commit(&mut conn, &key(), sale).unwrap();
        assert_eq!(acked_seq(&conn).unwrap(), Some(seq(2)));
    }

    #[test]
    fn batches_respect_record_and_byte_limits() {
        let (_dir, mut conn) = temp_db();
        for _ in 0..4 {
            commit(&mut conn, &key(), sale).unwrap();
        }
        let len = |n, bytes| {
            pending_batch(&conn, register(), n, bytes)
                .unwrap()
                .records
                .len()
        };
        assert_eq!(len(3, usize::MAX), 3);
        assert_eq!(len(10, 1), 1, "at least one");
        assert_eq!(len(10, 1500), 2);
    }

    #[test]
    fn an_acknowledgement_is_one_transaction_with_its_dead_letters_and_contact() {
        let (_dir, mut conn) = temp_db();
        for _ in 0..3 {
            commit(&mut conn, &key(), sale).unwrap();
        }
        let at = DateTime::from_timestamp(1_790_000_100, 0).unwrap();
        let refusal = sync_state::Refusal {
            http_status: 409,
            code: "fork".into(),
            message: "differs".into(),
        };
        sync_state::dead_letter(&conn, seq(2), &refusal, at).unwrap();
        let resolved = acknowledge(
            &mut conn,
            &Acknowledgement {
                through: seq(2),
                at,
                clock: None,
            },
        )
        .unwrap();
        assert_eq!(resolved, 1);
        assert_eq!(acked_seq(&conn).unwrap(), Some(seq(2)));
        assert_eq!(sync_state::load(&conn).unwrap().last_contact_at, Some(at));
        let batch = pending_batch(&conn, register(), 10, usize::MAX).unwrap();
        assert_eq!((batch.first(), batch.last()), (Some(seq(3)), Some(seq(3))));
    }

    #[test]
    fn pruning_deletes_only_old_acknowledged_unreferenced_records() {
        let (_dir, mut conn) = temp_db();
        for _ in 0..6 {
            commit(&mut conn, &key(), sale).unwrap();
        }
        // Record 2 still counts in a customer's pending standing.
        conn.execute(
            "INSERT INTO pending_effects (seq, customer_id, spend_delta, points_delta)
             VALUES (2, 9, 100, 1)",
            [],
        )
        .unwrap();
        ack_through(&conn, seq(4)).unwrap();
        let committed = DateTime::from_timestamp(1_790_000_000, 0).unwrap();
        let before = committed - chrono::TimeDelta::seconds(1);
        assert_eq!(prune(&conn, before, 100).unwrap(), 0, "none old enough");
        let after = committed + chrono::TimeDelta::seconds(1);
        assert_eq!(prune(&conn, after, 1).unwrap(), 1, "a chunk at a time");
        assert_eq!(prune(&conn, after, 100).unwrap(), 2);
        let kept: Vec<i64> = conn
            .prepare("SELECT seq FROM outbox ORDER BY seq")
            .unwrap()
            .query_map([], |r| r.get(0))
            .unwrap()
            .map(Result::unwrap)
            .collect();
        assert_eq!(
            kept,
            [2, 5, 6],
            "referenced and unacknowledged records stay"
        );
        assert_eq!(oldest_seq(&conn).unwrap(), Some(seq(2)));
        assert!(holds_all(&conn, seq(5), seq(7)).unwrap());
        assert!(!holds_all(&conn, seq(2), seq(5)).unwrap(), "3 and 4 pruned");
        // A rewind below what was pruned is refused, not papered over.
        rewind_to(&conn, seq(3)).unwrap();
        assert!(matches!(
            pending_batch(&conn, register(), 10, usize::MAX),
            Err(StoreError::Corrupt { .. })
        ));
        ack_through(&conn, seq(4)).unwrap();
        // The chain goes on from the head.
        let next = commit(&mut conn, &key(), sale).unwrap();
        assert_eq!(next.seq, seq(7));
        let batch = pending_batch(&conn, register(), 10, usize::MAX).unwrap();
        assert_eq!(seqs_of(&batch), [5, 6, 7]);
    }

    fn seqs_of(batch: &PendingBatch) -> Vec<i64> {
        batch.records.iter().map(|r| r.seq.get()).collect()
    }

    #[test]
    fn a_full_database_refuses_the_commit_whole_and_keeps_every_record() {
        let (_dir, mut conn) = temp_db();
        for _ in 0..3 {
            commit(&mut conn, &key(), sale).unwrap();
        }
        // Simulate a full disk: no page beyond the ones in use.
        let pages: i64 = conn
            .pragma_query_value(None, "page_count", |r| r.get(0))
            .unwrap();
        conn.pragma_update(None, "max_page_count", pages).unwrap();
        let big = |seq, prev| PurchaseRecord {
            lines: (0..200)
                .map(|i| shared::record::RecordLine {
                    sku: shared::ids::Sku::parse(format!("sku{i}")).unwrap(),
                    name: "x".repeat(200),
                    category: None,
                    quantity: shared::money::Quantity::ONE,
                    unit_price: Money::ZERO,
                    amount: Money::ZERO,
                    discount: Money::ZERO,
                    total: Money::ZERO,
                    points: 0,
                    applied: vec![],
                })
                .collect(),
            ..sale(seq, prev)
        };
        let err = commit(&mut conn, &key(), big).unwrap_err();
        assert_eq!(err.storage_fault(), Some(crate::store::StorageFault::Full));
        assert_eq!(
            head(&conn).unwrap().seq,
            Some(seq(3)),
            "nothing half-written"
        );
        conn.pragma_update(None, "max_page_count", 1_000_000)
            .unwrap();
        let next = commit(&mut conn, &key(), sale).unwrap();
        assert_eq!(next.seq, seq(4), "the seq stays dense");
        let ok: String = conn
            .query_row("PRAGMA integrity_check", [], |r| r.get(0))
            .unwrap();
        assert_eq!(ok, "ok");
        assert_eq!(
            pending_batch(&conn, register(), 10, usize::MAX)
                .unwrap()
                .records
                .len(),
            4
        );
    }
}
