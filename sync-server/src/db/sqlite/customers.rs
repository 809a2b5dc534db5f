//! [`CustomersTx`] on SQLite: customers, the change cursor, the ledger and
//! the purchase history. Spend sums add up the `spend` ingest stored per
//! record; no rule of what counts is written here.

use chrono::{DateTime, Utc};
use rusqlite::{OptionalExtension as _, Row, Transaction, params};
use shared::identity::Gender;
use shared::ids::{CustomerId, MerchantId, RegisterId, Seq};
use shared::money::Money;
use shared::points::{EntryKey, LedgerEntry, PointsHold, PointsPolicy};

use super::columns::{
    int, opt_date, opt_int, opt_text, opt_time, parsed, sql_int, time, time_text,
};
use super::{SqliteTx, is_unique_violation};
use crate::db::{
    AccountId, CatalogTx as _, ChangedCustomer, CustomerRow, CustomersTx, DbError, HoldStatus,
    NewAdjustment, OverdrawnRecord, RecordKey,
};
use crate::wire::admin::{AdjustmentKind, NewCustomer, PointsAdjustment, PurchaseSummary};

/// The columns [`adjustment_row`] reads.
const ADJUSTMENT_COLUMNS: &str =
    "id, customer_id, points, reason, kind, actor, idempotency_key, created_at";

fn adjustment_row(row: &Row<'_>) -> rusqlite::Result<PointsAdjustment> {
    Ok(PointsAdjustment {
        id: row.get(0)?,
        customer_id: int(row, 1)?,
        points: row.get(2)?,
        reason: row.get(3)?,
        kind: parsed(row, 4, |s| {
            AdjustmentKind::parse(s).ok_or_else(|| format!("unknown adjustment kind {s:?}"))
        })?,
        actor: row.get(5)?,
        idempotency_key: row.get(6)?,
        created_at: time(row, 7)?,
    })
}

/// Lifetime spend of customer `c`.
const SPEND: &str = "(SELECT COALESCE(SUM(spend), 0) FROM records WHERE customer_id = c.id)";
/// Sales of customer `c`.
const SALES: &str = "(SELECT COUNT(*) FROM records WHERE customer_id = c.id AND kind = 'sale')";
/// Checks of customer `c` per promotion used on them (points-only
/// promotions included), net of uses given back by returns, as a JSON
/// object.
const PROMOTION_USES: &str = "(SELECT json_group_object(promotion_id, n) FROM (
        SELECT pu.promotion_id, SUM(pu.uses) AS n FROM promotion_uses pu
        JOIN records r ON r.register_id = pu.register_id AND r.seq = pu.seq
        WHERE r.customer_id = c.id
        GROUP BY pu.promotion_id HAVING SUM(pu.uses) > 0))";
/// The store-local date customer `c` last got the birthday bonus.
const LAST_BIRTHDAY_BONUS: &str =
    "(SELECT MAX(local_date) FROM birthday_bonuses WHERE customer_id = c.id)";
/// Spend of customer `c` since the instant `?4`; NULL when `?4` is NULL.
const WINDOW_SPEND: &str = "(SELECT CASE WHEN ?4 IS NULL THEN NULL ELSE
        COALESCE(SUM(spend), 0) END
        FROM records WHERE customer_id = c.id AND julianday(wall_time) > julianday(?4))";
/// The columns [`customer_row`] reads, over `customers c`.
const CUSTOMER_COLUMNS: &str =
    "c.id, c.merchant_id, c.name, c.phone, c.email, c.gender, c.birth_date";

fn customer_row(row: &Row<'_>) -> rusqlite::Result<CustomerRow> {
    Ok(CustomerRow {
        id: int(row, 0)?,
        merchant_id: int(row, 1)?,
        name: row.get(2)?,
        phone: opt_text(row, 3)?,
        email: opt_text(row, 4)?,
        gender: Gender::from_code(&row.get::<_, String>(5)?),
        birth_date: opt_date(row, 6)?,
        lifetime_spend: int(row, 7)?,
    })
}

fn next_cursor(tx: &Transaction<'_>, merchant: MerchantId) -> Result<i64, DbError> {
    tx.prepare_cached(
        "UPDATE merchants SET customer_cursor = customer_cursor + 1 WHERE id = ?1
         RETURNING customer_cursor",
    )?
    .query_row([merchant.get()], |row| row.get(0))
    .optional()?
    .ok_or_else(|| DbError::NotFound(format!("merchant {merchant}")))
}

impl CustomersTx for SqliteTx<'_> {
    fn mark_customer_changed(
        &mut self,
        merchant: MerchantId,
        customer: CustomerId,
    ) -> Result<(), DbError> {
        let cursor = next_cursor(self.tx, merchant)?;
        self.tx
            .prepare_cached("UPDATE customers SET change_cursor = ?1 WHERE id = ?2")?
            .execute(params![cursor, customer.get()])?;
        Ok(())
    }

    fn insert_customer(
        &mut self,
        merchant: MerchantId,
        new: &NewCustomer,
    ) -> Result<CustomerId, DbError> {
        self.merchant_currency(merchant)?;
        let cursor = next_cursor(self.tx, merchant)?;
        self.tx
            .query_row(
                "INSERT INTO customers (merchant_id, name, phone, email, gender, birth_date,
                     change_cursor)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7) RETURNING id",
                params![
                    merchant.get(),
                    new.name,
                    new.phone.as_ref().map(|p| p.as_str()),
                    new.email.as_ref().map(|e| e.as_str()),
                    new.gender.code(),
                    new.birth_date.map(|d| d.to_string()),
                    cursor
                ],
                |row| int(row, 0),
            )
            .map_err(|e| match (&new.phone, is_unique_violation(&e)) {
                (Some(phone), true) => DbError::Conflict(format!(
                    "phone {phone} is already registered with merchant {merchant}"
                )),
                _ => e.into(),
            })
    }

    fn customer(&mut self, id: CustomerId) -> Result<Option<CustomerRow>, DbError> {
        Ok(self
            .tx
            .query_row(
                &format!("SELECT {CUSTOMER_COLUMNS}, {SPEND} FROM customers c WHERE c.id = ?1"),
                [id.get()],
                customer_row,
            )
            .optional()?)
    }

    fn ledger(&mut self, customer: CustomerId) -> Result<Vec<LedgerEntry>, DbError> {
        ledger(self.tx, customer)
    }

    fn purchases(
        &mut self,
        customer: CustomerId,
        limit: usize,
    ) -> Result<Vec<PurchaseSummary>, DbError> {
        let mut stmt = self.tx.prepare(
            "SELECT record_id, register_id, seq, store_id, kind, wall_time, subtotal, discount,
                    spend, points_earned, points_redeemed
             FROM records WHERE customer_id = ?1 ORDER BY id DESC LIMIT ?2",
        )?;
        let rows = stmt.query_map(params![customer.get(), sql_int(limit)], |row| {
            Ok(PurchaseSummary {
                id: parsed(row, 0, uuid::Uuid::parse_str)?,
                register_id: int(row, 1)?,
                seq: int(row, 2)?,
                store_id: int(row, 3)?,
                kind: row.get(4)?,
                wall_time: time(row, 5)?,
                subtotal: int(row, 6)?,
                discount: int(row, 7)?,
                total: int(row, 8)?,
                points_earned: row.get(9)?,
                points_redeemed: row.get(10)?,
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    fn set_tokens_valid_after(
        &mut self,
        customer: CustomerId,
        now: DateTime<Utc>,
    ) -> Result<Option<MerchantId>, DbError> {
        Ok(self
            .tx
            .query_row(
                "UPDATE customers SET tokens_valid_after = ?1 WHERE id = ?2
                 RETURNING merchant_id",
                params![time_text(now), customer.get()],
                |row| int(row, 0),
            )
            .optional()?)
    }

    fn changed_customers(
        &mut self,
        merchant: MerchantId,
        after: i64,
        limit: usize,
        window_start: Option<DateTime<Utc>>,
    ) -> Result<Vec<ChangedCustomer>, DbError> {
        let sql = format!(
            "SELECT {CUSTOMER_COLUMNS}, {SPEND}, c.change_cursor, c.tokens_valid_after,
                    {SALES}, {PROMOTION_USES}, {LAST_BIRTHDAY_BONUS}, {WINDOW_SPEND},
                    (SELECT json_group_array(tag) FROM (
                        SELECT tag FROM customer_tags WHERE customer_id = c.id ORDER BY tag))
             FROM customers c
             WHERE c.merchant_id = ?1 AND c.change_cursor > ?2
             ORDER BY c.change_cursor LIMIT ?3"
        );
        let mut stmt = self.tx.prepare(&sql)?;
        let rows = stmt.query_map(
            params![
                merchant.get(),
                after,
                sql_int(limit),
                window_start.map(time_text)
            ],
            |row| {
                Ok(ChangedCustomer {
                    row: customer_row(row)?,
                    cursor: row.get(8)?,
                    tokens_valid_after: opt_time(row, 9)?,
                    sales: row.get(10)?,
                    promotion_uses: row
                        .get::<_, Option<String>>(11)?
                        .map(|json| {
                            serde_json::from_str(&json).map_err(|e| {
                                rusqlite::Error::FromSqlConversionFailure(
                                    11,
                                    rusqlite::types::Type::Text,
                                    Box::new(e),
                                )
                            })
                        })
                        .transpose()?
                        .unwrap_or_default(),
                    last_birthday_bonus: opt_date(row, 12)?,
                    window_spend: opt_int(row, 13)?,
                    tags: {
                        let json: String = row.get(14)?;
                        serde_json::from_str(&json).map_err(|e| {
                            rusqlite::Error::FromSqlConversionFailure(
                                14,
                                rusqlite::types::Type::Text,
                                Box::new(e),
                            )
                        })?
                    },
                })
            },
        )?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    fn phone_salt(&mut self, merchant: MerchantId) -> Result<String, DbError> {
        Ok(self
            .tx
            .query_row(
                "SELECT phone_salt FROM merchants WHERE id = ?1",
                [merchant.get()],
                |row| row.get::<_, Option<String>>(0),
            )
            .optional()?
            .flatten()
            .unwrap_or_default())
    }

    fn spend_by_day(
        &mut self,
        customer: CustomerId,
        window_start: DateTime<Utc>,
    ) -> Result<Vec<(DateTime<Utc>, Money)>, DbError> {
        let mut stmt = self.tx.prepare_cached(
            "SELECT MAX(wall_time), SUM(spend)
             FROM records WHERE customer_id = ?1 AND julianday(wall_time) > julianday(?2)
             GROUP BY date(wall_time) ORDER BY date(wall_time)",
        )?;
        let rows = stmt.query_map(params![customer.get(), time_text(window_start)], |row| {
            Ok((time(row, 0)?, int(row, 1)?))
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    fn spending_customers(
        &mut self,
        merchant: MerchantId,
    ) -> Result<Vec<(CustomerId, String)>, DbError> {
        self.merchant_currency(merchant)?;
        let mut stmt = self.tx.prepare(
            "SELECT c.id, c.name FROM customers c
             WHERE c.merchant_id = ?1
               AND (EXISTS (SELECT 1 FROM ledger l WHERE l.customer_id = c.id
                              AND (l.redeemed > 0 OR l.earned < 0))
                    OR EXISTS (SELECT 1 FROM points_adjustments a
                               WHERE a.customer_id = c.id AND a.points < 0))
             ORDER BY c.id",
        )?;
        let rows = stmt.query_map([merchant.get()], |row| Ok((int(row, 0)?, row.get(1)?)))?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    fn overdrawn_record(&mut self, key: RecordKey) -> Result<OverdrawnRecord, DbError> {
        Ok(self
            .tx
            .prepare_cached(
                "SELECT record_id, store_id, points_redeemed FROM records
                 WHERE register_id = ?1 AND seq = ?2",
            )?
            .query_row(params![key.register_id.get(), key.seq.get()], |row| {
                Ok(OverdrawnRecord {
                    record_id: parsed(row, 0, uuid::Uuid::parse_str)?,
                    store_id: int(row, 1)?,
                    points_redeemed: row.get(2)?,
                })
            })?)
    }

    fn lock_customer(&mut self, customer: CustomerId) -> Result<(), DbError> {
        // One writer at a time: the transaction holds the database already.
        self.tx
            .prepare_cached("SELECT 1 FROM customers WHERE id = ?1")?
            .query_row([customer.get()], |_| Ok(()))
            .optional()?
            .ok_or_else(|| DbError::NotFound(format!("customer {customer}")))
    }

    fn insert_adjustment(&mut self, new: &NewAdjustment) -> Result<PointsAdjustment, DbError> {
        self.tx
            .query_row(
                &format!(
                    "INSERT INTO points_adjustments (merchant_id, customer_id, points, reason,
                         kind, actor, account_id, idempotency_key, ledger_order, created_at,
                         expire_days)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8,
                         (SELECT COALESCE(MAX(id), 0) FROM records), ?9, ?10)
                     RETURNING {ADJUSTMENT_COLUMNS}"
                ),
                params![
                    new.merchant_id.get(),
                    new.customer_id.get(),
                    new.points,
                    new.reason,
                    new.kind.as_str(),
                    new.actor,
                    new.account_id.map(|AccountId(id)| id),
                    new.idempotency_key,
                    time_text(new.at),
                    new.expire_days,
                ],
                adjustment_row,
            )
            .map_err(|e| {
                if is_unique_violation(&e) {
                    DbError::Conflict(format!(
                        "the idempotency key {:?} is used already",
                        new.idempotency_key
                    ))
                } else {
                    e.into()
                }
            })
    }

    fn adjustment_by_key(
        &mut self,
        merchant: MerchantId,
        key: &str,
    ) -> Result<Option<PointsAdjustment>, DbError> {
        Ok(self
            .tx
            .prepare_cached(&format!(
                "SELECT {ADJUSTMENT_COLUMNS} FROM points_adjustments
                 WHERE merchant_id = ?1 AND idempotency_key = ?2"
            ))?
            .query_row(params![merchant.get(), key], adjustment_row)
            .optional()?)
    }

    fn adjustments(
        &mut self,
        customer: CustomerId,
        limit: usize,
    ) -> Result<Vec<PointsAdjustment>, DbError> {
        let mut stmt = self.tx.prepare_cached(&format!(
            "SELECT {ADJUSTMENT_COLUMNS} FROM points_adjustments
             WHERE customer_id = ?1 ORDER BY id DESC LIMIT ?2"
        ))?;
        let rows = stmt.query_map(params![customer.get(), sql_int(limit)], adjustment_row)?;
        Ok(rows.collect::<Result<_, _>>()?)
    }
}

fn ledger(tx: &Transaction<'_>, customer: CustomerId) -> Result<Vec<LedgerEntry>, DbError> {
    // The records' side from `records_for_ledger` alone, never their rows
    // (see migration 032).
    let mut stmt = tx.prepare_cached(
        "SELECT r.id, l.register_id, l.seq, r.wall_time, l.earned, l.redeemed,
                l.original_register_id, l.original_seq,
                v.version, v.points_pending_days, v.points_expire_days, h.status
         FROM ledger l
         JOIN records r INDEXED BY records_for_ledger
             ON r.register_id = l.register_id AND r.seq = l.seq
         LEFT JOIN ruleset_releases v
             ON v.merchant_id = r.merchant_id AND v.version = r.ruleset_version
             LEFT JOIN points_holds h ON h.register_id = l.register_id AND h.seq = l.seq
         WHERE l.customer_id = ?1 ORDER BY r.id",
    )?;
    let rows = stmt.query_map([customer.get()], |row| {
        let original = match (opt_int::<RegisterId>(row, 6)?, opt_int::<Seq>(row, 7)?) {
            (Some(register_id), Some(seq)) => Some(EntryKey::record(register_id, seq)),
            _ => None,
        };
        Ok(LedgerEntry {
            order: row.get(0)?,
            key: EntryKey::record(int(row, 1)?, int(row, 2)?),
            at: time(row, 3)?,
            earned: row.get(4)?,
            redeemed: row.get(5)?,
            original,
            // The terms of the ruleset the record was priced with.
            terms: match row.get::<_, Option<i64>>(8)? {
                Some(_) => Some(PointsPolicy {
                    pending_days: row.get(9)?,
                    expire_days: row.get(10)?,
                }),
                None => None,
            },
            hold: match row.get::<_, Option<String>>(11)? {
                Some(_) => parsed(row, 11, HoldStatus::parse)?.points_hold(),
                None => PointsHold::Clear,
            },
        })
    })?;
    let mut entries: Vec<LedgerEntry> = rows.collect::<Result<_, _>>()?;
    let mut stmt = tx.prepare_cached(
        "SELECT ledger_order, id, created_at, points, expire_days
         FROM points_adjustments WHERE customer_id = ?1 ORDER BY id",
    )?;
    let adjustments = stmt.query_map([customer.get()], |row| {
        let points: i64 = row.get(3)?;
        Ok(LedgerEntry {
            order: row.get(0)?,
            key: EntryKey::Adjustment { id: row.get(1)? },
            at: time(row, 2)?,
            earned: points.max(0),
            redeemed: (-points).max(0),
            original: None,
            // A credit is available at once and keeps the expiry of when
            // it was made.
            terms: Some(PointsPolicy {
                pending_days: 0,
                expire_days: row.get(4)?,
            }),
            hold: PointsHold::Clear,
        })
    })?;
    for adjustment in adjustments {
        entries.push(adjustment?);
    }
    Ok(entries)
}
