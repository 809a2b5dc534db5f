//! [`AlertsTx`] on PostgreSQL: alerts and the quarantine.

use chrono::{DateTime, Utc};
use shared::ids::{MerchantId, RegisterId, Seq};

use super::PgTx;
use super::columns::{all, hash, int, opt_hash, opt_int, sql_int, text};
use crate::alerts::{AlertKind, NewAlert};
use crate::db::{AlertPage, AlertsTx, CatalogTx as _, DbError};
use crate::ingest::CheckedRecord;
use crate::wire::{Alert, QuarantinedRecord};

impl AlertsTx for PgTx<'_, '_> {
    fn last_alert_at(
        &mut self,
        register: RegisterId,
        kind: AlertKind,
        seq: Option<Seq>,
    ) -> Result<Option<DateTime<Utc>>, DbError> {
        self.query_opt(
            "SELECT created_at FROM alerts
             WHERE register_id = $1 AND kind = $2 AND ($3::BIGINT IS NULL OR seq = $3)
             ORDER BY id DESC LIMIT 1",
            &[&register.get(), &kind.code(), &seq.map(Seq::get)],
        )?
        .map(|row| Ok(row.try_get(0)?))
        .transpose()
    }

    fn insert_alert(&mut self, alert: &NewAlert) -> Result<(), DbError> {
        let inserted = self.execute(
            "INSERT INTO alerts (merchant_id, register_id, kind, seq, detail, created_at)
             SELECT s.merchant_id, r.id, $2, $3, $4, $5
             FROM registers r JOIN stores s ON s.id = r.store_id
             WHERE r.id = $1",
            &[
                &alert.register_id.get(),
                &alert.kind.code(),
                &alert.seq.map(Seq::get),
                &alert.detail,
                &alert.created_at,
            ],
        )?;
        if inserted == 0 {
            return Err(DbError::NotFound(format!("register {}", alert.register_id)));
        }
        Ok(())
    }

    fn alerts(&mut self, merchant: MerchantId, page: AlertPage) -> Result<Vec<Alert>, DbError> {
        self.merchant_currency(merchant)?;
        let rows = self.query(
            "SELECT id, kind, register_id, seq, detail, created_at FROM alerts
             WHERE merchant_id = $1 AND ($2::BIGINT IS NULL OR id < $2)
             ORDER BY id DESC LIMIT $3",
            &[&merchant.get(), &page.before, &sql_int(page.limit)],
        )?;
        all(&rows, |row| {
            Ok(Alert {
                id: row.try_get(0)?,
                kind: text(row, 1)?,
                register_id: int(row, 2)?,
                seq: opt_int(row, 3)?,
                detail: row.try_get(4)?,
                created_at: row.try_get(5)?,
            })
        })
    }

    fn quarantine_record(
        &mut self,
        r: &CheckedRecord,
        now: DateTime<Utc>,
    ) -> Result<bool, DbError> {
        let inserted = self.execute(
            "INSERT INTO quarantine (register_id, seq, hash, body, signature, received_at)
             VALUES ($1, $2, $3, $4, $5, $6)
             ON CONFLICT (register_id, seq, hash) DO NOTHING",
            &[
                &r.record.register_id.get(),
                &r.record.seq.get(),
                &r.hash.0.as_slice(),
                &r.bytes,
                &r.signature.as_bytes().as_slice(),
                &now,
            ],
        )?;
        Ok(inserted > 0)
    }

    fn quarantined(
        &mut self,
        merchant: MerchantId,
        limit: usize,
    ) -> Result<Vec<QuarantinedRecord>, DbError> {
        self.merchant_currency(merchant)?;
        let rows = self.query(
            "SELECT q.id, q.register_id, q.seq, rec.hash, q.hash, q.received_at
             FROM quarantine q
             JOIN registers r ON r.id = q.register_id
             JOIN stores s ON s.id = r.store_id
             LEFT JOIN records rec ON rec.register_id = q.register_id AND rec.seq = q.seq
             WHERE s.merchant_id = $1
             ORDER BY q.id DESC LIMIT $2",
            &[&merchant.get(), &sql_int(limit)],
        )?;
        all(&rows, |row| {
            Ok(QuarantinedRecord {
                id: row.try_get(0)?,
                register_id: int(row, 1)?,
                seq: int(row, 2)?,
                stored_hash: opt_hash(row, 3)?,
                received_hash: hash(row, 4)?,
                received_at: row.try_get(5)?,
            })
        })
    }
}
