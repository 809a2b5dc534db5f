//! The outbox: committed purchase records as their exact signed bytes,
//! chained by hash, with the head and the server's acknowledgement.
//!
//! [`commit`] appends a record, its effect on the customer's standing and
//! the new head in one transaction, so either all of it is durable or none.

use rusqlite::{Connection, OptionalExtension, TransactionBehavior, params};
use shared::crypto::{Hash256, Signature, SigningKey, from_base64};
use shared::ids::{PromotionId, Seq};
use shared::record::{PurchaseRecord, RecordKind, SignedRecord};
use uuid::Uuid;

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
    let (seq, hash): (i64, Vec<u8>) = conn.query_row(
        "SELECT head_seq, head_hash FROM meta WHERE id = 1",
        [],
        |r| Ok((r.get(0)?, r.get(1)?)),
    )?;
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
/// transaction. Returns the record as committed.
pub fn commit(
    conn: &mut Connection,
    key: &SigningKey,
    build: impl FnOnce(Seq, Hash256) -> PurchaseRecord,
) -> Result<PurchaseRecord, StoreError> {
    commit_with(conn, key, |_, seq, prev| {
        Ok::<_, StoreError>(build(seq, prev))
    })
}

/// Like [`commit`], but `build` reads the database inside the transaction
/// (a return reads its sale and the earlier returns) and may refuse.
pub fn commit_with<E: From<StoreError>>(
    conn: &mut Connection,
    key: &SigningKey,
    build: impl FnOnce(&Connection, Seq, Hash256) -> Result<PurchaseRecord, E>,
) -> Result<PurchaseRecord, E> {
    let tx = conn
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .map_err(StoreError::from)?;
    let head = head(&tx)?;
    let record = build(&tx, head.next_seq(), head.hash)?;
    append(&tx, key, &record)?;
    tx.commit().map_err(StoreError::from)?;
    Ok(record)
}

/// Appends a built record and its effects inside the caller's transaction.
fn append(
    tx: &rusqlite::Transaction<'_>,
    key: &SigningKey,
    record: &PurchaseRecord,
) -> Result<(), StoreError> {
    let (signed, hash) = record.seal(key)?;
    let body = from_base64(&signed.body).ok_or_else(|| corrupt("sealed body", "not base64"))?;
    tx.execute(
        "INSERT INTO outbox (seq, record_id, body, signature, hash, customer_id, total, committed_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
        params![
            record.seq.get(),
            record.id.to_string(),
            body,
            signed.signature.as_bytes().as_slice(),
            hash.0.as_slice(),
            record.customer.map(|c| c.id.get()),
            record.total.minor(),
            record.wall_time.to_rfc3339(),
        ],
    )?;
    let deltas = record.usage_deltas();
    if let Some(customer) = record.customer {
        let purchases = i64::from(record.kind == RecordKind::Sale);
        tx.execute(
            "INSERT INTO pending_effects (seq, customer_id, spend_delta, points_delta, purchases_delta)
             VALUES (?1, ?2, ?3, ?4, ?5)",
            params![
                record.seq.get(),
                customer.id.get(),
                record.total.minor(),
                record.points_earned - record.points_redeemed,
                purchases,
            ],
        )?;
        for d in deltas.iter().filter(|d| d.uses != 0) {
            tx.execute(
                "INSERT INTO pending_uses (seq, customer_id, promotion_id, uses)
                 VALUES (?1, ?2, ?3, ?4)",
                params![
                    record.seq.get(),
                    customer.id.get(),
                    d.promotion.as_str(),
                    d.uses
                ],
            )?;
        }
    }
    for d in &deltas {
        tx.execute(
            "INSERT INTO till_usage (promotion_id, uses, spent) VALUES (?1, ?2, ?3)
             ON CONFLICT (promotion_id) DO UPDATE SET
                 uses = uses + excluded.uses, spent = spent + excluded.spent",
            params![d.promotion.as_str(), d.uses, d.spent.minor()],
        )?;
    }
    if let RecordKind::Return { original, .. } = &record.kind {
        tx.execute(
            "INSERT INTO returns (original_id, seq) VALUES (?1, ?2)",
            params![original.id.to_string(), record.seq.get()],
        )?;
    }
    tx.execute(
        "UPDATE meta SET head_seq = ?1, head_hash = ?2 WHERE id = 1",
        params![record.seq.get(), hash.0.as_slice()],
    )?;
    Ok(())
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

/// Up to `max_records` unacknowledged records in seq order, stopping before
/// the batch's JSON would exceed `max_bytes` (but always at least one).
pub fn unacked(
    conn: &Connection,
    max_records: usize,
    max_bytes: usize,
) -> Result<Vec<SignedRecord>, StoreError> {
    /// Envelope bytes around a record's base64 body and signature.
    const ENVELOPE_BYTES: usize = 200;
    let mut stmt = conn.prepare_cached(
        "SELECT seq, body, signature FROM outbox
         WHERE seq > (SELECT acked_seq FROM meta WHERE id = 1)
         ORDER BY seq LIMIT ?1",
    )?;
    let limit = i64::try_from(max_records).unwrap_or(i64::MAX);
    let mut rows = stmt.query([limit])?;
    let mut batch = Vec::new();
    let mut bytes = 0;
    while let Some(row) = rows.next()? {
        let seq = Seq::new(row.get(0)?).map_err(|e| corrupt("outbox seq", e))?;
        let body: Vec<u8> = row.get(1)?;
        let signature: Vec<u8> = row.get(2)?;
        bytes += body.len().div_ceil(3) * 4 + ENVELOPE_BYTES;
        if !batch.is_empty() && bytes > max_bytes {
            break;
        }
        let signed = SignedRecord {
            register_id: register_of(&body, seq)?,
            seq,
            body: shared::crypto::to_base64(&body),
            signature: Signature::from_slice(&signature)
                .map_err(|e| corrupt("outbox signature", e))?,
        };
        batch.push(signed);
    }
    Ok(batch)
}

/// The register id inside a stored body, for the envelope.
fn register_of(body: &[u8], seq: Seq) -> Result<shared::ids::RegisterId, StoreError> {
    #[derive(serde::Deserialize)]
    struct Routing {
        register_id: shared::ids::RegisterId,
    }
    serde_json::from_slice::<Routing>(body)
        .map(|r| r.register_id)
        .map_err(|e| corrupt("outbox body", format!("seq {seq}: {e}")))
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
    use shared::ids::{MerchantId, RegisterId, StoreId};
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
        }
    }

    fn seq(n: i64) -> Seq {
        Seq::new(n).unwrap()
    }

    #[test]
    fn commits_chain_densely_and_verify() {
        let (_dir, mut conn) = temp_db();
        for _ in 0..3 {
            commit(&mut conn, &key(), sale).unwrap();
        }
        let batch = unacked(&conn, 10, usize::MAX).unwrap();
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
        let batch = unacked(&conn, 10, usize::MAX).unwrap();
        assert_eq!(batch.first().map(|r| r.seq), Some(seq(2)));
        assert_eq!(batch.len(), 4);
        rewind_to(&conn, seq(5)).unwrap();
        assert_eq!(acked_seq(&conn).unwrap(), Some(seq(4)));
    }

    #[test]
    fn batches_respect_record_and_byte_limits() {
        let (_dir, mut conn) = temp_db();
        for _ in 0..4 {
            commit(&mut conn, &key(), sale).unwrap();
        }
        assert_eq!(unacked(&conn, 3, usize::MAX).unwrap().len(), 3);
        assert_eq!(unacked(&conn, 10, 1).unwrap().len(), 1, "at least one");
        assert_eq!(unacked(&conn, 10, 1500).unwrap().len(), 2);
    }
}
