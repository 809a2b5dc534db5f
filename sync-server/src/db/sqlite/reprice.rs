//! [`RepriceTx`] on SQLite: the re-pricer's cursor and outcomes, one row
//! per record and the fields that differ.

use chrono::{DateTime, Utc};
use rusqlite::{OptionalExtension as _, Transaction, params};
use shared::ids::MerchantId;

use super::SqliteTx;
use super::columns::{int, opt_int, parsed, sql_int, time, time_text, zone};
use crate::db::{DbError, RecordKey, RepriceCandidate, RepriceOutcome, RepriceResult, RepriceTx};
use crate::wire::{MismatchedField, PriceMismatch, RepriceCounts, RepriceReport, SkipCount};

impl RepriceTx for SqliteTx<'_> {
    fn reprice_candidates(&mut self, limit: usize) -> Result<Vec<RepriceCandidate>, DbError> {
        candidates(self.tx, limit)
    }

    fn record_body(&mut self, key: RecordKey) -> Result<Option<Vec<u8>>, DbError> {
        Ok(self
            .tx
            .prepare_cached("SELECT body FROM records WHERE register_id = ?1 AND seq = ?2")?
            .query_row(params![key.register_id.get(), key.seq.get()], |row| {
                row.get(0)
            })
            .optional()?)
    }

    fn seen_returns(&mut self, original: RecordKey) -> Result<Vec<Vec<u8>>, DbError> {
        let mut stmt = self.tx.prepare_cached(
            "SELECT r.body FROM reprice_returns x
             JOIN records r ON r.register_id = x.register_id AND r.seq = x.seq
             WHERE x.original_register_id = ?1 AND x.original_seq = ?2
             ORDER BY r.id",
        )?;
        let rows = stmt.query_map(
            params![original.register_id.get(), original.seq.get()],
            |row| row.get(0),
        )?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    fn save_reprice_result(
        &mut self,
        r: &RepriceResult,
        now: DateTime<Utc>,
    ) -> Result<(), DbError> {
        let tx = self.tx;
        let (register, seq) = (r.key.register_id.get(), r.key.seq.get());
        // Idempotent: a record looked at again replaces its outcome.
        tx.prepare_cached("DELETE FROM price_mismatches WHERE register_id = ?1 AND seq = ?2")?
            .execute(params![register, seq])?;
        let (outcome, reason) = match &r.outcome {
            RepriceOutcome::Matched => ("matched", None),
            RepriceOutcome::Mismatched(_) => ("mismatched", None),
            RepriceOutcome::Skipped(reason) => ("skipped", Some(reason.as_str())),
        };
        tx.prepare_cached(
            "INSERT INTO reprice_results (register_id, seq, merchant_id, outcome, reason, checked_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)
             ON CONFLICT (register_id, seq) DO UPDATE SET
                 outcome = excluded.outcome, reason = excluded.reason,
                 checked_at = excluded.checked_at",
        )?
        .execute(params![
            register,
            seq,
            r.merchant_id.get(),
            outcome,
            reason,
            time_text(now)
        ])?;
        if let RepriceOutcome::Mismatched(fields) = &r.outcome {
            let mut stmt = tx.prepare_cached(
                "INSERT INTO price_mismatches (register_id, seq, field, till, server)
                 VALUES (?1, ?2, ?3, ?4, ?5)",
            )?;
            for f in fields {
                stmt.execute(params![register, seq, f.field, f.till, f.server])?;
            }
        }
        if let Some(original) = r.return_of {
            tx.prepare_cached(
                "INSERT OR IGNORE INTO reprice_returns
                     (original_register_id, original_seq, register_id, seq)
                 VALUES (?1, ?2, ?3, ?4)",
            )?
            .execute(params![
                original.register_id.get(),
                original.seq.get(),
                register,
                seq
            ])?;
        }
        Ok(())
    }

    fn advance_reprice_cursor(&mut self, cursor: i64) -> Result<(), DbError> {
        self.tx.execute(
            "UPDATE reprice_cursor SET last_record = MAX(last_record, ?1) WHERE id = 1",
            [cursor],
        )?;
        Ok(())
    }

    fn reprice_report(
        &mut self,
        merchant: MerchantId,
        limit: usize,
    ) -> Result<RepriceReport, DbError> {
        report(self.tx, merchant, limit)
    }
}

fn candidates(tx: &Transaction<'_>, limit: usize) -> Result<Vec<RepriceCandidate>, DbError> {
    let mut stmt = tx.prepare_cached(
        "SELECT r.id, r.merchant_id, r.body, s.timezone, s.brand_id, r.register_id, r.seq
         FROM records r JOIN stores s ON s.id = r.store_id
         WHERE r.id > (SELECT last_record FROM reprice_cursor WHERE id = 1)
         ORDER BY r.id LIMIT ?1",
    )?;
    let rows = stmt.query_map([sql_int(limit)], |row| {
        Ok(RepriceCandidate {
            row: row.get(0)?,
            merchant_id: int(row, 1)?,
            key: RecordKey {
                register_id: int(row, 5)?,
                seq: int(row, 6)?,
            },
            body: row.get(2)?,
            store_timezone: zone(row, 3)?,
            store_brand: opt_int(row, 4)?,
        })
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}

fn report(
    tx: &Transaction<'_>,
    merchant: MerchantId,
    limit: usize,
) -> Result<RepriceReport, DbError> {
    let mut counts = RepriceCounts::default();
    let mut stmt = tx.prepare(
        "SELECT outcome, COUNT(*) FROM reprice_results WHERE merchant_id = ?1 GROUP BY outcome",
    )?;
    let rows = stmt.query_map([merchant.get()], |row| {
        Ok((row.get::<_, String>(0)?, row.get::<_, i64>(1)?))
    })?;
    for row in rows {
        let (outcome, n) = row?;
        match outcome.as_str() {
            "matched" => counts.matched = n,
            "mismatched" => counts.mismatched = n,
            _ => counts.skipped += n,
        }
    }
    counts.repriced = counts.matched + counts.mismatched;
    counts.pending = tx.query_row(
        "SELECT COUNT(*) FROM records
         WHERE merchant_id = ?1
           AND id > (SELECT last_record FROM reprice_cursor WHERE id = 1)",
        [merchant.get()],
        |row| row.get(0),
    )?;

    let mut stmt = tx.prepare(
        "SELECT reason, COUNT(*) AS n FROM reprice_results
         WHERE merchant_id = ?1 AND outcome = 'skipped'
         GROUP BY reason ORDER BY n DESC, reason",
    )?;
    let skipped = stmt
        .query_map([merchant.get()], |row| {
            Ok(SkipCount {
                reason: row.get::<_, Option<String>>(0)?.unwrap_or_default(),
                records: row.get(1)?,
            })
        })?
        .collect::<Result<_, _>>()?;

    let mut stmt = tx.prepare(
        "SELECT r.register_id, r.seq, r.record_id, r.kind, r.wall_time
         FROM reprice_results x
         JOIN records r ON r.register_id = x.register_id AND r.seq = x.seq
         WHERE x.merchant_id = ?1 AND x.outcome = 'mismatched'
         ORDER BY r.id DESC LIMIT ?2",
    )?;
    let mut mismatches: Vec<PriceMismatch> = stmt
        .query_map(params![merchant.get(), sql_int(limit)], |row| {
            Ok(PriceMismatch {
                register_id: int(row, 0)?,
                seq: int(row, 1)?,
                record_id: parsed(row, 2, uuid::Uuid::parse_str)?,
                kind: row.get(3)?,
                wall_time: time(row, 4)?,
                fields: Vec::new(),
            })
        })?
        .collect::<Result<_, _>>()?;
    let mut stmt = tx.prepare_cached(
        "SELECT field, till, server FROM price_mismatches
         WHERE register_id = ?1 AND seq = ?2",
    )?;
    for m in &mut mismatches {
        let rows = stmt.query_map(params![m.register_id.get(), m.seq.get()], |row| {
            Ok(MismatchedField {
                field: row.get(0)?,
                till: row.get(1)?,
                server: row.get(2)?,
            })
        })?;
        m.fields = rows.collect::<Result<_, _>>()?;
    }
    Ok(RepriceReport {
        counts,
        skipped,
        mismatches,
    })
}
