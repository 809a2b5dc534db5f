//! Alerts and the quarantine as HQ reads them.

use rusqlite::{OptionalExtension as _, Transaction, params};
use shared::ids::{MerchantId, Seq};

use super::catalog::merchant_currency;
use super::columns::{hash, int, opt_int, sql_int, text, time, time_text};
use crate::alerts::{NewAlert, Repetition, quiet_period};
use crate::db::{AlertPage, DbError};
use crate::wire::{Alert, QuarantinedRecord};

/// Raises `alert` unless an alert it repeats was raised within the quiet
/// period; true when it was raised.
pub(super) fn raise(tx: &Transaction<'_>, alert: &NewAlert) -> Result<bool, DbError> {
    let repeated_seq = match alert.kind.repetition() {
        Repetition::Always => None,
        Repetition::OncePerSeq => Some(alert.seq),
        Repetition::OncePerRegister => Some(None),
    };
    if let Some(seq) = repeated_seq
        && raised_recently(tx, alert, seq)?
    {
        return Ok(false);
    }
    let inserted = tx.execute(
        "INSERT INTO alerts (merchant_id, register_id, kind, seq, detail, created_at)
         SELECT s.merchant_id, r.id, ?2, ?3, ?4, ?5
         FROM registers r JOIN stores s ON s.id = r.store_id
         WHERE r.id = ?1",
        params![
            alert.register_id.get(),
            alert.kind.code(),
            alert.seq.map(Seq::get),
            alert.detail,
            time_text(alert.created_at)
        ],
    )?;
    if inserted == 0 {
        return Err(DbError::NotFound(format!("register {}", alert.register_id)));
    }
    tracing::warn!(
        register_id = %alert.register_id,
        kind = alert.kind.code(),
        seq = alert.seq.map(Seq::get),
        detail = %alert.detail,
        "alert"
    );
    Ok(true)
}

/// Whether an alert of the same register and kind (and `seq`, when given)
/// was raised within the quiet period before `alert`.
fn raised_recently(
    tx: &Transaction<'_>,
    alert: &NewAlert,
    seq: Option<Seq>,
) -> Result<bool, DbError> {
    let last = tx
        .prepare_cached(
            "SELECT created_at FROM alerts
             WHERE register_id = ?1 AND kind = ?2 AND (?3 IS NULL OR seq = ?3)
             ORDER BY id DESC LIMIT 1",
        )?
        .query_row(
            params![
                alert.register_id.get(),
                alert.kind.code(),
                seq.map(Seq::get)
            ],
            |row| time(row, 0),
        )
        .optional()?;
    Ok(last.is_some_and(|last| alert.created_at - last < quiet_period()))
}

pub(super) fn list(
    tx: &Transaction<'_>,
    merchant: MerchantId,
    page: AlertPage,
) -> Result<Vec<Alert>, DbError> {
    merchant_currency(tx, merchant)?;
    let mut stmt = tx.prepare(
        "SELECT id, kind, register_id, seq, detail, created_at FROM alerts
         WHERE merchant_id = ?1 AND (?2 IS NULL OR id < ?2)
         ORDER BY id DESC LIMIT ?3",
    )?;
    let rows = stmt.query_map(
        params![merchant.get(), page.before, sql_int(page.limit)],
        |row| {
            Ok(Alert {
                id: row.get(0)?,
                kind: text(row, 1)?,
                register_id: int(row, 2)?,
                seq: opt_int(row, 3)?,
                detail: row.get(4)?,
                created_at: time(row, 5)?,
            })
        },
    )?;
    Ok(rows.collect::<Result<_, _>>()?)
}

pub(super) fn quarantine(
    tx: &Transaction<'_>,
    merchant: MerchantId,
    limit: usize,
) -> Result<Vec<QuarantinedRecord>, DbError> {
    merchant_currency(tx, merchant)?;
    let mut stmt = tx.prepare(
        "SELECT q.id, q.register_id, q.seq, rec.hash, q.hash, q.received_at
         FROM quarantine q
         JOIN registers r ON r.id = q.register_id
         JOIN stores s ON s.id = r.store_id
         LEFT JOIN records rec ON rec.register_id = q.register_id AND rec.seq = q.seq
         WHERE s.merchant_id = ?1
         ORDER BY q.id DESC LIMIT ?2",
    )?;
    let rows = stmt.query_map(params![merchant.get(), sql_int(limit)], |row| {
        let stored: Option<Vec<u8>> = row.get(3)?;
        Ok(QuarantinedRecord {
            id: row.get(0)?,
            register_id: int(row, 1)?,
            seq: int(row, 2)?,
            stored_hash: stored.map(|_| hash(row, 3)).transpose()?,
            received_hash: hash(row, 4)?,
            received_at: time(row, 5)?,
        })
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}
