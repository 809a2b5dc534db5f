//! [`RepriceTx`] on PostgreSQL: the re-pricer's outcomes, one row per
//! record and the fields that differ.
//!
//! Candidates are the records without an outcome, in id order: ids are
//! handed out at insert, and transactions on several connections commit
//! out of that order, so a cursor alone could pass over a record committed
//! late. The cursor row is still kept (never moved back).

use chrono::{DateTime, Utc};
use shared::ids::MerchantId;

use super::PgTx;
use super::columns::{all, int, opt_int, sql_int, zone};
use crate::db::{DbError, RecordKey, RepriceCandidate, RepriceOutcome, RepriceResult, RepriceTx};
use crate::wire::{MismatchedField, PriceMismatch, RepriceCounts, RepriceReport, SkipCount};

impl RepriceTx for PgTx<'_, '_> {
    fn reprice_candidates(&mut self, limit: usize) -> Result<Vec<RepriceCandidate>, DbError> {
        let rows = self.query(
            "SELECT r.id, r.merchant_id, r.body, s.timezone, s.brand_id, r.register_id, r.seq
             FROM records r JOIN stores s ON s.id = r.store_id
             WHERE NOT EXISTS (SELECT 1 FROM reprice_results x
                               WHERE x.register_id = r.register_id AND x.seq = r.seq)
             ORDER BY r.id LIMIT $1",
            &[&sql_int(limit)],
        )?;
        all(&rows, |row| {
            Ok(RepriceCandidate {
                row: row.try_get(0)?,
                merchant_id: int(row, 1)?,
                key: RecordKey {
                    register_id: int(row, 5)?,
                    seq: int(row, 6)?,
                },
                body: row.try_get(2)?,
                store_timezone: zone(row, 3)?,
                store_brand: opt_int(row, 4)?,
            })
        })
    }

    fn record_body(&mut self, key: RecordKey) -> Result<Option<Vec<u8>>, DbError> {
        self.query_opt(
            "SELECT body FROM records WHERE register_id = $1 AND seq = $2",
            &[&key.register_id.get(), &key.seq.get()],
        )?
        .map(|row| Ok(row.try_get(0)?))
        .transpose()
    }

    fn seen_returns(&mut self, original: RecordKey) -> Result<Vec<Vec<u8>>, DbError> {
        let rows = self.query(
            "SELECT r.body FROM reprice_returns x
             JOIN records r ON r.register_id = x.register_id AND r.seq = x.seq
             WHERE x.original_register_id = $1 AND x.original_seq = $2
             ORDER BY r.id",
            &[&original.register_id.get(), &original.seq.get()],
        )?;
        all(&rows, |row| Ok(row.try_get(0)?))
    }

    fn save_reprice_result(
        &mut self,
        r: &RepriceResult,
        now: DateTime<Utc>,
    ) -> Result<(), DbError> {
        let (register, seq) = (r.key.register_id.get(), r.key.seq.get());
        // Idempotent: a record looked at again replaces its outcome.
        self.execute(
            "DELETE FROM price_mismatches WHERE register_id = $1 AND seq = $2",
            &[&register, &seq],
        )?;
        let (outcome, reason) = match &r.outcome {
            RepriceOutcome::Matched => ("matched", None),
            RepriceOutcome::Mismatched(_) => ("mismatched", None),
            RepriceOutcome::Skipped(reason) => ("skipped", Some(reason.as_str())),
        };
        self.execute(
            "INSERT INTO reprice_results (register_id, seq, merchant_id, outcome, reason,
                 checked_at)
             VALUES ($1, $2, $3, $4, $5, $6)
             ON CONFLICT (register_id, seq) DO UPDATE SET
                 outcome = excluded.outcome, reason = excluded.reason,
                 checked_at = excluded.checked_at",
            &[
                &register,
                &seq,
                &r.merchant_id.get(),
                &outcome,
                &reason,
                &now,
            ],
        )?;
        if let RepriceOutcome::Mismatched(fields) = &r.outcome {
            for f in fields {
                self.execute(
                    "INSERT INTO price_mismatches (register_id, seq, field, till, server)
                     VALUES ($1, $2, $3, $4, $5)",
                    &[&register, &seq, &f.field, &f.till, &f.server],
                )?;
            }
        }
        if let Some(original) = r.return_of {
            self.execute(
                "INSERT INTO reprice_returns
                     (original_register_id, original_seq, register_id, seq)
                 VALUES ($1, $2, $3, $4)
                 ON CONFLICT DO NOTHING",
                &[
                    &original.register_id.get(),
                    &original.seq.get(),
                    &register,
                    &seq,
                ],
            )?;
        }
        Ok(())
    }

    fn advance_reprice_cursor(&mut self, cursor: i64) -> Result<(), DbError> {
        self.execute(
            "UPDATE reprice_cursor SET last_record = GREATEST(last_record, $1) WHERE id = 1",
            &[&cursor],
        )?;
        Ok(())
    }

    fn reprice_report(
        &mut self,
        merchant: MerchantId,
        limit: usize,
    ) -> Result<RepriceReport, DbError> {
        let mut counts = RepriceCounts::default();
        let rows = self.query(
            "SELECT outcome, COUNT(*) FROM reprice_results WHERE merchant_id = $1
             GROUP BY outcome",
            &[&merchant.get()],
        )?;
        for row in &rows {
            let outcome: &str = row.try_get(0)?;
            let n: i64 = row.try_get(1)?;
            match outcome {
                "matched" => counts.matched = n,
                "mismatched" => counts.mismatched = n,
                _ => counts.skipped += n,
            }
        }
        counts.repriced = counts.matched + counts.mismatched;
        counts.pending = self
            .query_one(
                "SELECT COUNT(*) FROM records r
                 WHERE r.merchant_id = $1
                   AND NOT EXISTS (SELECT 1 FROM reprice_results x
                                   WHERE x.register_id = r.register_id AND x.seq = r.seq)",
                &[&merchant.get()],
            )?
            .try_get(0)?;

        let rows = self.query(
            "SELECT reason, COUNT(*) AS n FROM reprice_results
             WHERE merchant_id = $1 AND outcome = 'skipped'
             GROUP BY reason ORDER BY n DESC, reason",
            &[&merchant.get()],
        )?;
        let skipped = all(&rows, |row| {
            Ok(SkipCount {
                reason: row.try_get::<_, Option<String>>(0)?.unwrap_or_default(),
                records: row.try_get(1)?,
            })
        })?;

        let rows = self.query(
            "SELECT r.register_id, r.seq, r.record_id, r.kind, r.wall_time
             FROM reprice_results x
             JOIN records r ON r.register_id = x.register_id AND r.seq = x.seq
             WHERE x.merchant_id = $1 AND x.outcome = 'mismatched'
             ORDER BY r.id DESC LIMIT $2",
            &[&merchant.get(), &sql_int(limit)],
        )?;
        let mut mismatches = all(&rows, |row| {
            Ok(PriceMismatch {
                register_id: int(row, 0)?,
                seq: int(row, 1)?,
                record_id: row.try_get(2)?,
                kind: row.try_get(3)?,
                wall_time: row.try_get(4)?,
                fields: Vec::new(),
            })
        })?;
        for m in &mut mismatches {
            let rows = self.query(
                "SELECT field, till, server FROM price_mismatches
                 WHERE register_id = $1 AND seq = $2",
                &[&m.register_id.get(), &m.seq.get()],
            )?;
            m.fields = all(&rows, |row| {
                Ok(MismatchedField {
                    field: row.try_get(0)?,
                    till: row.try_get(1)?,
                    server: row.try_get(2)?,
                })
            })?;
        }
        Ok(RepriceReport {
            counts,
            skipped,
            mismatches,
        })
    }
}
