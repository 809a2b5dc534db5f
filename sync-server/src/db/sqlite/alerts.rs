//! [`AlertsTx`] on SQLite: alerts and the quarantine.

use chrono::{DateTime, Utc};
use rusqlite::{OptionalExtension as _, params};
use shared::ids::{MerchantId, RegisterId, Seq};

use super::SqliteTx;
use super::columns::{hash, int, opt_int, sql_int, text, time, time_text};
use crate::alerts::{AlertKind, NewAlert};
use crate::db::{AlertPage, AlertsTx, CatalogTx as _, DbError};
use crate::ingest::CheckedRecord;
use crate::wire::{Alert, QuarantinedRecord};

impl AlertsTx for SqliteTx<'_> {
    fn last_alert_at(
        &mut self,
        register: RegisterId,
        kind: AlertKind,
        seq: Option<Seq>,
    ) -> Result<Option<DateTime<Utc>>, DbError> {
        Ok(self
            .tx
            .prepare_cached(
                "SELECT created_at FROM alerts
                 WHERE register_id = ?1 AND kind = ?2 AND (?3 IS NULL OR seq = ?3)
                 ORDER BY id DESC LIMIT 1",
            )?
            .query_row(
                params![register.get(), kind.code(), seq.map(Seq::get)],
                |row| time(row, 0),
            )
            .optional()?)
    }

    fn insert_alert(&mut self, alert: &NewAlert) -> Result<(), DbError> {
        let inserted = self
            .tx
            .prepare_cached(
                "INSERT INTO alerts (merchant_id, register_id, kind, seq, detail, created_at)
             SELECT s.merchant_id, r.id, ?2, ?3, ?4, ?5
             FROM registers r JOIN stores s ON s.id = r.store_id
             WHERE r.id = ?1",
            )?
            .execute(params![
                alert.register_id.get(),
                alert.kind.code(),
                alert.seq.map(Seq::get),
                alert.detail,
                time_text(alert.created_at)
            ])?;
        if inserted == 0 {
            return Err(DbError::NotFound(format!("register {}", alert.register_id)));
        }
        Ok(())
    }

    fn alerts(&mut self, merchant: MerchantId, page: AlertPage) -> Result<Vec<Alert>, DbError> {
        self.merchant_currency(merchant)?;
        let mut stmt = self.tx.prepare(
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

    fn quarantine_record(
        &mut self,
        r: &CheckedRecord,
        now: DateTime<Utc>,
    ) -> Result<bool, DbError> {
        let inserted = self
            .tx
            .prepare_cached(
                "INSERT OR IGNORE INTO quarantine (register_id, seq, hash, body, signature,
                     received_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            )?
            .execute(params![
                r.record.register_id.get(),
                r.record.seq.get(),
                r.hash.0.as_slice(),
                r.bytes,
                r.signature.as_bytes().as_slice(),
                time_text(now)
            ])?;
        Ok(inserted > 0)
    }

    fn quarantined(
        &mut self,
        merchant: MerchantId,
        limit: usize,
    ) -> Result<Vec<QuarantinedRecord>, DbError> {
        self.merchant_currency(merchant)?;
        let mut stmt = self.tx.prepare(
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
}
