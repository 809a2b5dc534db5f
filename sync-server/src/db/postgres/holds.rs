//! [`HoldsTx`] on PostgreSQL.

use chrono::{DateTime, Utc};
use postgres::Row;
use shared::ids::{CustomerId, MerchantId};

use super::PgTx;
use super::columns::{all, int, parsed, sql_int};
use crate::db::{DbError, HoldRow, HoldStatus, HoldsTx, NewHold, RecordKey};
use crate::wire::MismatchedField;

const HOLD_COLUMNS: &str =
    "register_id, seq, customer_id, points, status, held_at, resolved_at, resolved_by";

fn hold_row(row: &Row) -> Result<HoldRow, DbError> {
    Ok(HoldRow {
        key: RecordKey {
            register_id: int(row, 0)?,
            seq: int(row, 1)?,
        },
        customer_id: int(row, 2)?,
        points: row.try_get(3)?,
        status: parsed(row, 4, HoldStatus::parse)?,
        held_at: row.try_get(5)?,
        resolved_at: row.try_get(6)?,
        resolved_by: row.try_get(7)?,
    })
}

impl HoldsTx for PgTx<'_, '_> {
    fn ledger_earned(&mut self, key: RecordKey) -> Result<Option<(CustomerId, i64)>, DbError> {
        self.query_opt(
            "SELECT customer_id, earned FROM ledger WHERE register_id = $1 AND seq = $2",
            &[&key.register_id.get(), &key.seq.get()],
        )?
        .map(|row| Ok((int(&row, 0)?, row.try_get(1)?)))
        .transpose()
    }

    fn insert_hold(&mut self, hold: &NewHold) -> Result<bool, DbError> {
        let stored = self.execute(
            "INSERT INTO points_holds (register_id, seq, merchant_id, customer_id, points, held_at)
             VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING",
            &[
                &hold.key.register_id.get(),
                &hold.key.seq.get(),
                &hold.merchant_id.get(),
                &hold.customer_id.get(),
                &hold.points,
                &hold.at,
            ],
        )?;
        Ok(stored == 1)
    }

    fn holds(
        &mut self,
        merchant: MerchantId,
        status: Option<HoldStatus>,
        limit: usize,
    ) -> Result<Vec<HoldRow>, DbError> {
        let rows = self.query(
            &format!(
                "SELECT {HOLD_COLUMNS} FROM points_holds
                 WHERE merchant_id = $1 AND ($2::TEXT IS NULL OR status = $2)
                 ORDER BY held_at DESC, register_id, seq LIMIT $3"
            ),
            &[
                &merchant.get(),
                &status.map(HoldStatus::as_str),
                &sql_int(limit),
            ],
        )?;
        all(&rows, hold_row)
    }

    fn hold(&mut self, merchant: MerchantId, key: RecordKey) -> Result<Option<HoldRow>, DbError> {
        self.query_opt(
            &format!(
                "SELECT {HOLD_COLUMNS} FROM points_holds
                 WHERE merchant_id = $1 AND register_id = $2 AND seq = $3"
            ),
            &[&merchant.get(), &key.register_id.get(), &key.seq.get()],
        )?
        .map(|row| hold_row(&row))
        .transpose()
    }

    fn mismatched_fields(&mut self, key: RecordKey) -> Result<Vec<MismatchedField>, DbError> {
        let rows = self.query(
            "SELECT field, till, server FROM price_mismatches WHERE register_id = $1 AND seq = $2",
            &[&key.register_id.get(), &key.seq.get()],
        )?;
        all(&rows, |row| {
            Ok(MismatchedField {
                field: row.try_get(0)?,
                till: row.try_get(1)?,
                server: row.try_get(2)?,
            })
        })
    }

    fn resolve_hold(
        &mut self,
        merchant: MerchantId,
        key: RecordKey,
        status: HoldStatus,
        by: &str,
        at: DateTime<Utc>,
    ) -> Result<bool, DbError> {
        let changed = self.execute(
            "UPDATE points_holds SET status = $4, resolved_by = $5, resolved_at = $6
             WHERE merchant_id = $1 AND register_id = $2 AND seq = $3 AND status = 'held'",
            &[
                &merchant.get(),
                &key.register_id.get(),
                &key.seq.get(),
                &status.as_str(),
                &by,
                &at,
            ],
        )?;
        Ok(changed == 1)
    }
}
