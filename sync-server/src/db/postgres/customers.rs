//! [`CustomersTx`] on PostgreSQL: customers, the change cursor, the ledger
//! and the purchase history. Spend sums add up the `spend` ingest stored
//! per record; no rule of what counts is written here.

use chrono::{DateTime, Utc};
use postgres::Row;
use shared::identity::Gender;
use shared::ids::{CustomerId, MerchantId, RegisterId, Seq};
use shared::money::Money;
use shared::points::{EntryKey, LedgerEntry, PointsHold, PointsPolicy};

use super::columns::{all, days, int, opt_days, opt_int, opt_text, parsed, sql_int, text};
use super::{CursorRun, PgTx};
use crate::db::{
    AccountId, CatalogTx as _, ChangedCustomer, CustomerRow, CustomersTx, DbError, HoldStatus,
    NewAdjustment, OverdrawnRecord, RecordKey,
};
use crate::wire::admin::{AdjustmentKind, NewCustomer, PointsAdjustment, PurchaseSummary};

/// The columns [`adjustment_row`] reads.
macro_rules! adjustment_columns {
    () => {
        "id, customer_id, points, reason, kind, actor, idempotency_key, created_at"
    };
}

fn adjustment_row(row: &Row) -> Result<PointsAdjustment, DbError> {
    let kind: String = row.try_get(4)?;
    Ok(PointsAdjustment {
        id: row.try_get(0)?,
        customer_id: int(row, 1)?,
        points: row.try_get(2)?,
        reason: row.try_get(3)?,
        kind: AdjustmentKind::parse(&kind)
            .ok_or_else(|| DbError::other(format!("unknown adjustment kind {kind:?}")))?,
        actor: row.try_get(5)?,
        idempotency_key: row.try_get(6)?,
        created_at: row.try_get(7)?,
    })
}

/// Lifetime spend of customer `c`.
macro_rules! spend {
    () => {
        "(SELECT COALESCE(SUM(spend), 0)::BIGINT FROM records WHERE customer_id = c.id)"
    };
}

/// The columns [`customer_row`] reads, over `customers c`, with the spend.
macro_rules! customer_columns {
    () => {
        concat!(
            "c.id, c.merchant_id, c.name, c.phone, c.email, c.gender, c.birth_date, ",
            spend!()
        )
    };
}

fn customer_row(row: &Row) -> Result<CustomerRow, DbError> {
    Ok(CustomerRow {
        id: int(row, 0)?,
        merchant_id: int(row, 1)?,
        name: row.try_get(2)?,
        phone: opt_text(row, 3)?,
        email: opt_text(row, 4)?,
        gender: Gender::from_code(row.try_get(5)?),
        birth_date: row.try_get(6)?,
        lifetime_spend: int(row, 7)?,
    })
}

impl PgTx<'_, '_> {
    /// The merchant's next change cursor. The row stays locked until the
    /// transaction ends, so cursors commit in the order they are handed
    /// out and a reader never skips one committed late.
    /// Later cursors of the same transaction are counted on in memory and
    /// stored once before COMMIT ([`PgTx::store_cursors`]).
    fn next_cursor(&mut self, merchant: MerchantId) -> Result<i64, DbError> {
        if let Some(run) = self.cursors.get_mut(&merchant.get()) {
            run.last += 1;
            return Ok(run.last);
        }
        let stored: i64 = self
            .query_opt(
                "UPDATE merchants SET customer_cursor = customer_cursor + 1 WHERE id = $1
                 RETURNING customer_cursor",
                &[&merchant.get()],
            )?
            .map(|row| row.try_get(0))
            .transpose()?
            .ok_or_else(|| DbError::NotFound(format!("merchant {merchant}")))?;
        self.cursors.insert(
            merchant.get(),
            CursorRun {
                stored,
                last: stored,
            },
        );
        Ok(stored)
    }

    /// Stores the last cursor each merchant was handed in this
    /// transaction, where it went past the one stored (the row is locked
    /// since the first).
    pub(crate) fn store_cursors(&mut self) -> Result<(), DbError> {
        let runs: Vec<(i64, CursorRun)> = self
            .cursors
            .drain()
            .filter(|(_, run)| run.last > run.stored)
            .collect();
        for (merchant, run) in runs {
            self.execute(
                "UPDATE merchants SET customer_cursor = $2 WHERE id = $1",
                &[&merchant, &run.last],
            )?;
        }
        Ok(())
    }
}

impl CustomersTx for PgTx<'_, '_> {
    fn mark_customer_changed(
        &mut self,
        merchant: MerchantId,
        customer: CustomerId,
    ) -> Result<(), DbError> {
        let cursor = self.next_cursor(merchant)?;
        self.execute(
            "UPDATE customers SET change_cursor = $1 WHERE id = $2",
            &[&cursor, &customer.get()],
        )?;
        Ok(())
    }

    fn insert_customer(
        &mut self,
        merchant: MerchantId,
        new: &NewCustomer,
    ) -> Result<CustomerId, DbError> {
        self.merchant_currency(merchant)?;
        // A taken phone is found before an id is drawn, so refusals leave
        // no gaps in the ids; one taken meanwhile by another connection
        // inserts nothing below (rather than failing, which would abort the
        // whole transaction).
        if let Some(phone) = &new.phone
            && self
                .query_opt(
                    "SELECT 1 FROM customers WHERE merchant_id = $1 AND phone = $2",
                    &[&merchant.get(), &phone.as_str()],
                )?
                .is_some()
        {
            return Err(DbError::Conflict(format!(
                "phone {phone} is already registered with merchant {merchant}"
            )));
        }
        let cursor = self.next_cursor(merchant)?;
        let row = self.query_opt(
            "INSERT INTO customers (merchant_id, name, phone, email, gender, birth_date,
                 change_cursor)
             VALUES ($1, $2, $3, $4, $5, $6, $7)
             ON CONFLICT (merchant_id, phone) DO NOTHING
             RETURNING id",
            &[
                &merchant.get(),
                &new.name,
                &new.phone.as_ref().map(|p| p.as_str()),
                &new.email.as_ref().map(|e| e.as_str()),
                &new.gender.code(),
                &new.birth_date,
                &cursor,
            ],
        )?;
        match (row, &new.phone) {
            (Some(row), _) => int(&row, 0),
            (None, Some(phone)) => Err(DbError::Conflict(format!(
                "phone {phone} is already registered with merchant {merchant}"
            ))),
            (None, None) => Err(DbError::other("a customer without a phone was not stored")),
        }
    }

    fn customer(&mut self, id: CustomerId) -> Result<Option<CustomerRow>, DbError> {
        self.query_opt(
            concat!(
                "SELECT ",
                customer_columns!(),
                " FROM customers c WHERE c.id = $1"
            ),
            &[&id.get()],
        )?
        .map(|row| customer_row(&row))
        .transpose()
    }

    fn ledger(&mut self, customer: CustomerId) -> Result<Vec<LedgerEntry>, DbError> {
        let rows = self.query(
            "SELECT r.id, l.register_id, l.seq, r.wall_time, l.earned, l.redeemed,
                    l.original_register_id, l.original_seq,
                    v.version, v.points_pending_days, v.points_expire_days, h.status
             FROM ledger l JOIN records r ON r.register_id = l.register_id AND r.seq = l.seq
             LEFT JOIN ruleset_releases v
                 ON v.merchant_id = r.merchant_id AND v.version = r.ruleset_version
             LEFT JOIN points_holds h ON h.register_id = l.register_id AND h.seq = l.seq
             WHERE l.customer_id = $1 ORDER BY r.id",
            &[&customer.get()],
        )?;
        let mut entries = all(&rows, |row| {
            let original = match (opt_int::<RegisterId>(row, 6)?, opt_int::<Seq>(row, 7)?) {
                (Some(register_id), Some(seq)) => Some(EntryKey::record(register_id, seq)),
                _ => None,
            };
            Ok(LedgerEntry {
                order: row.try_get(0)?,
                key: EntryKey::record(int(row, 1)?, int(row, 2)?),
                at: row.try_get(3)?,
                earned: row.try_get(4)?,
                redeemed: row.try_get(5)?,
                original,
                // The terms of the ruleset the record was priced with.
                terms: match row.try_get::<_, Option<i64>>(8)? {
                    Some(_) => Some(PointsPolicy {
                        pending_days: days(row, 9)?,
                        expire_days: opt_days(row, 10)?,
                    }),
                    None => None,
                },
                hold: match row.try_get::<_, Option<&str>>(11)? {
                    Some(_) => parsed(row, 11, HoldStatus::parse)?.points_hold(),
                    None => PointsHold::Clear,
                },
            })
        })?;
        let rows = self.query(
            "SELECT ledger_order, id, created_at, points, expire_days
             FROM points_adjustments WHERE customer_id = $1 ORDER BY id",
            &[&customer.get()],
        )?;
        let adjustments = all(&rows, |row| {
            let points: i64 = row.try_get(3)?;
            Ok(LedgerEntry {
                order: row.try_get(0)?,
                key: EntryKey::Adjustment {
                    id: row.try_get(1)?,
                },
                at: row.try_get(2)?,
                earned: points.max(0),
                redeemed: (-points).max(0),
                original: None,
                // A credit is available at once and keeps the expiry of
                // when it was made.
                terms: Some(PointsPolicy {
                    pending_days: 0,
                    expire_days: opt_days(row, 4)?,
                }),
                hold: PointsHold::Clear,
            })
        })?;
        entries.extend(adjustments);
        Ok(entries)
    }

    fn purchases(
        &mut self,
        customer: CustomerId,
        limit: usize,
    ) -> Result<Vec<PurchaseSummary>, DbError> {
        let rows = self.query(
            "SELECT record_id, register_id, seq, store_id, kind, wall_time, subtotal, discount,
                    spend, points_earned, points_redeemed
             FROM records WHERE customer_id = $1 ORDER BY id DESC LIMIT $2",
            &[&customer.get(), &sql_int(limit)],
        )?;
        all(&rows, |row| {
            Ok(PurchaseSummary {
                id: row.try_get(0)?,
                register_id: int(row, 1)?,
                seq: int(row, 2)?,
                store_id: int(row, 3)?,
                kind: row.try_get(4)?,
                wall_time: row.try_get(5)?,
                subtotal: int(row, 6)?,
                discount: int(row, 7)?,
                total: int(row, 8)?,
                points_earned: row.try_get(9)?,
                points_redeemed: row.try_get(10)?,
            })
        })
    }

    fn set_tokens_valid_after(
        &mut self,
        customer: CustomerId,
        now: DateTime<Utc>,
    ) -> Result<Option<MerchantId>, DbError> {
        self.query_opt(
            "UPDATE customers SET tokens_valid_after = $1 WHERE id = $2 RETURNING merchant_id",
            &[&now, &customer.get()],
        )?
        .map(|row| int(&row, 0))
        .transpose()
    }

    fn changed_customers(
        &mut self,
        merchant: MerchantId,
        after: i64,
        limit: usize,
        window_start: Option<DateTime<Utc>>,
    ) -> Result<Vec<ChangedCustomer>, DbError> {
        let rows = self.query(
            concat!(
                "SELECT ",
                customer_columns!(),
                ", c.change_cursor, c.tokens_valid_after,
                    (SELECT COUNT(*) FROM records WHERE customer_id = c.id AND kind = 'sale'),
                    (SELECT json_object_agg(promotion_id, n)::TEXT FROM (
                        SELECT pu.promotion_id, SUM(pu.uses)::BIGINT AS n
                        FROM promotion_uses pu
                        JOIN records r ON r.register_id = pu.register_id AND r.seq = pu.seq
                        WHERE r.customer_id = c.id
                        GROUP BY pu.promotion_id HAVING SUM(pu.uses) > 0) uses),
                    (SELECT MAX(local_date) FROM birthday_bonuses WHERE customer_id = c.id),
                    (SELECT CASE WHEN $4::TIMESTAMPTZ IS NULL THEN NULL
                                 ELSE COALESCE(SUM(spend), 0)::BIGINT END
                     FROM records WHERE customer_id = c.id AND wall_time > $4::TIMESTAMPTZ),
                    ARRAY(SELECT tag FROM customer_tags WHERE customer_id = c.id ORDER BY tag)
                 FROM customers c
                 WHERE c.merchant_id = $1 AND c.change_cursor > $2
                 ORDER BY c.change_cursor LIMIT $3"
            ),
            &[&merchant.get(), &after, &sql_int(limit), &window_start],
        )?;
        all(&rows, |row| {
            Ok(ChangedCustomer {
                row: customer_row(row)?,
                cursor: row.try_get(8)?,
                tokens_valid_after: row.try_get(9)?,
                sales: row.try_get(10)?,
                promotion_uses: row
                    .try_get::<_, Option<&str>>(11)?
                    .map(serde_json::from_str)
                    .transpose()
                    .map_err(DbError::other)?
                    .unwrap_or_default(),
                last_birthday_bonus: row.try_get(12)?,
                window_spend: opt_int(row, 13)?,
                tags: row.try_get(14)?,
            })
        })
    }

    fn phone_salt(&mut self, merchant: MerchantId) -> Result<String, DbError> {
        self.query_opt(
            "SELECT phone_salt FROM merchants WHERE id = $1",
            &[&merchant.get()],
        )?
        .map(|row| text(&row, 0))
        .transpose()
        .map(Option::unwrap_or_default)
    }

    fn spend_by_day(
        &mut self,
        customer: CustomerId,
        window_start: DateTime<Utc>,
    ) -> Result<Vec<(DateTime<Utc>, Money)>, DbError> {
        let rows = self.query(
            "SELECT MAX(wall_time), SUM(spend)::BIGINT
             FROM records WHERE customer_id = $1 AND wall_time > $2
             GROUP BY (wall_time AT TIME ZONE 'UTC')::DATE
             ORDER BY (wall_time AT TIME ZONE 'UTC')::DATE",
            &[&customer.get(), &window_start],
        )?;
        all(&rows, |row| Ok((row.try_get(0)?, int(row, 1)?)))
    }

    fn spending_customers(
        &mut self,
        merchant: MerchantId,
    ) -> Result<Vec<(CustomerId, String)>, DbError> {
        self.merchant_currency(merchant)?;
        let rows = self.query(
            "SELECT c.id, c.name FROM customers c
             WHERE c.merchant_id = $1
               AND (EXISTS (SELECT 1 FROM ledger l WHERE l.customer_id = c.id
                              AND (l.redeemed > 0 OR l.earned < 0))
                    OR EXISTS (SELECT 1 FROM points_adjustments a
                               WHERE a.customer_id = c.id AND a.points < 0))
             ORDER BY c.id",
            &[&merchant.get()],
        )?;
        all(&rows, |row| Ok((int(row, 0)?, row.try_get(1)?)))
    }

    fn overdrawn_record(&mut self, key: RecordKey) -> Result<OverdrawnRecord, DbError> {
        let row = self.query_one(
            "SELECT record_id, store_id, points_redeemed FROM records
             WHERE register_id = $1 AND seq = $2",
            &[&key.register_id.get(), &key.seq.get()],
        )?;
        Ok(OverdrawnRecord {
            record_id: row.try_get(0)?,
            store_id: int(&row, 1)?,
            points_redeemed: row.try_get(2)?,
        })
    }

    fn lock_customer(&mut self, customer: CustomerId) -> Result<(), DbError> {
        self.query_opt(
            "SELECT 1 FROM customers WHERE id = $1 FOR UPDATE",
            &[&customer.get()],
        )?
        .map(|_| ())
        .ok_or_else(|| DbError::NotFound(format!("customer {customer}")))
    }

    fn insert_adjustment(&mut self, new: &NewAdjustment) -> Result<PointsAdjustment, DbError> {
        // A key taken (by another connection, too) inserts nothing rather
        // than failing, which would abort the whole transaction. The order
        // is drawn from the records' own id sequence.
        let row = self.query_opt(
            concat!(
                "INSERT INTO points_adjustments (merchant_id, customer_id, points, reason,
                     kind, actor, account_id, idempotency_key, ledger_order, created_at,
                     expire_days)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8,
                     nextval(pg_get_serial_sequence('records', 'id')), $9, $10)
                 ON CONFLICT (merchant_id, idempotency_key) DO NOTHING
                 RETURNING ",
                adjustment_columns!()
            ),
            &[
                &new.merchant_id.get(),
                &new.customer_id.get(),
                &new.points,
                &new.reason,
                &new.kind.as_str(),
                &new.actor,
                &new.account_id.map(|AccountId(id)| id),
                &new.idempotency_key,
                &new.at,
                &new.expire_days.map(i64::from),
            ],
        )?;
        match row {
            Some(row) => adjustment_row(&row),
            None => Err(DbError::Conflict(format!(
                "the idempotency key {:?} is used already",
                new.idempotency_key
            ))),
        }
    }

    fn adjustment_by_key(
        &mut self,
        merchant: MerchantId,
        key: &str,
    ) -> Result<Option<PointsAdjustment>, DbError> {
        self.query_opt(
            concat!(
                "SELECT ",
                adjustment_columns!(),
                " FROM points_adjustments WHERE merchant_id = $1 AND idempotency_key = $2"
            ),
            &[&merchant.get(), &key],
        )?
        .map(|row| adjustment_row(&row))
        .transpose()
    }

    fn adjustments(
        &mut self,
        customer: CustomerId,
        limit: usize,
    ) -> Result<Vec<PointsAdjustment>, DbError> {
        let rows = self.query(
            concat!(
                "SELECT ",
                adjustment_columns!(),
                " FROM points_adjustments WHERE customer_id = $1 ORDER BY id DESC LIMIT $2"
            ),
            &[&customer.get(), &sql_int(limit)],
        )?;
        all(&rows, adjustment_row)
    }
}
