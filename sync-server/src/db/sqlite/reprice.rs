//! The re-pricer's cursor and outcomes: one row per record, the fields
//! that differ, and the alert each mismatch raises.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use rusqlite::{OptionalExtension as _, Transaction, params};
use shared::ids::{MerchantId, RulesetVersion};
use shared::ruleset::Ruleset;

use super::SqliteDatabase;
use super::alerts::raise;
use super::columns::{int, opt_int, parsed, sql_int, time, time_text};
use crate::alerts::NewAlert;
use crate::db::reprice::{RepriceCandidate, RepriceOutcome, RepriceResult, RepriceStorage};
use crate::db::{DbError, DbFuture, RecordKey};
use crate::wire::{MismatchedField, PriceMismatch, RepriceCounts, RepriceReport, SkipCount};

impl RepriceStorage for SqliteDatabase {
    fn reprice_candidates(&self, limit: usize) -> DbFuture<'_, Vec<RepriceCandidate>> {
        Box::pin(self.read(move |tx| candidates(tx, limit)))
    }

    fn ruleset_at(
        &self,
        merchant: MerchantId,
        version: RulesetVersion,
    ) -> DbFuture<'_, Option<Ruleset>> {
        Box::pin(self.read(move |tx| {
            Ok(tx
                .query_row(
                    "SELECT ruleset FROM ruleset_releases WHERE merchant_id = ?1 AND version = ?2",
                    params![merchant.get(), version.get()],
                    |row| parsed(row, 0, |s| serde_json::from_str(s)),
                )
                .optional()?)
        }))
    }

    fn record_body(&self, key: RecordKey) -> DbFuture<'_, Option<Vec<u8>>> {
        Box::pin(self.read(move |tx| {
            Ok(tx
                .query_row(
                    "SELECT body FROM records WHERE register_id = ?1 AND seq = ?2",
                    params![key.register_id.get(), key.seq.get()],
                    |row| row.get(0),
                )
                .optional()?)
        }))
    }

    fn seen_returns(&self, original: RecordKey) -> DbFuture<'_, Vec<Vec<u8>>> {
        Box::pin(self.read(move |tx| {
            let mut stmt = tx.prepare_cached(
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
        }))
    }

    fn save_reprice(
        &self,
        results: Vec<RepriceResult>,
        cursor: i64,
        now: DateTime<Utc>,
    ) -> DbFuture<'_, ()> {
        Box::pin(self.write(move |tx| save(tx, &results, cursor, now)))
    }

    fn reprice_report(&self, merchant: MerchantId, limit: usize) -> DbFuture<'_, RepriceReport> {
        Box::pin(self.read(move |tx| report(tx, merchant, limit)))
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
            store_timezone: row.get(3)?,
            store_brand: opt_int(row, 4)?,
        })
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}

fn save(
    tx: &Transaction<'_>,
    results: &[RepriceResult],
    cursor: i64,
    now: DateTime<Utc>,
) -> Result<(), DbError> {
    for r in results {
        let (register, seq) = (r.key.register_id.get(), r.key.seq.get());
        // Idempotent: a record looked at again replaces its outcome.
        tx.execute(
            "DELETE FROM price_mismatches WHERE register_id = ?1 AND seq = ?2",
            params![register, seq],
        )?;
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
            raise(
                tx,
                &NewAlert::price_mismatch(r.key.register_id, r.key.seq, fields, now),
            )?;
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
    }
    tx.execute(
        "UPDATE reprice_cursor SET last_record = MAX(last_record, ?1) WHERE id = 1",
        [cursor],
    )?;
    Ok(())
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
        // In the order they are compared: the check's figures, then line
        // by line.
        let by_order: BTreeMap<(usize, usize, usize), MismatchedField> = rows
            .map(|f| f.map(|f| (field_rank(&f.field), f)))
            .collect::<Result<_, _>>()?;
        m.fields = by_order.into_values().collect();
    }
    Ok(RepriceReport {
        counts,
        skipped,
        mismatches,
    })
}

/// Where a field comes in the comparison: check figures in their order,
/// then lines by position, each line's figures in their order.
fn field_rank(field: &str) -> (usize, usize, usize) {
    const CHECK: [&str; 6] = [
        "subtotal",
        "discount",
        "total",
        "points_earned",
        "points_redeemed",
        "lines",
    ];
    const LINE: [&str; 3] = ["discount", "total", "points"];
    if let Some(at) = CHECK.iter().position(|f| *f == field) {
        return (0, at, 0);
    }
    let line = field
        .strip_prefix("lines[")
        .and_then(|rest| rest.split_once("]."))
        .and_then(|(i, name)| Some((i.parse().ok()?, LINE.iter().position(|f| *f == name)?)));
    match line {
        Some((i, at)) => (1, i, at),
        None => (2, 0, 0),
    }
}

#[cfg(test)]
mod tests {
    use super::field_rank;

    #[test]
    fn fields_sort_as_compared_with_lines_by_number() {
        let mut fields = [
            "lines[10].total",
            "lines[2].points",
            "points_earned",
            "lines[2].discount",
            "total",
            "subtotal",
        ];
        fields.sort_by_key(|f| field_rank(f));
        assert_eq!(
            fields,
            [
                "subtotal",
                "total",
                "points_earned",
                "lines[2].discount",
                "lines[2].points",
                "lines[10].total"
            ]
        );
    }
}
