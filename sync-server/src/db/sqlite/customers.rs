//! Customers, their standing, and the change cursor that feeds the
//! registers' customer caches.
//!
//! Standing is computed from the records and the ledger, never kept as a
//! running total: lifetime spend is sales minus refunds; points are the
//! ledger replayed by [`shared::points::replay`] in the server's order
//! (`records.id`) under the programme of the merchant's current ruleset,
//! at the instant the caller passes. The same replay lists overdrafts.

use chrono::{DateTime, Utc};
use rusqlite::{OptionalExtension as _, Row, Transaction, params};
use shared::identity::{Ean13, Gender};
use shared::ids::{CustomerId, MerchantId, RegisterId, Seq};
use shared::money::Money;
use shared::points::{EntryKey, LedgerEntry, PointsPolicy, PointsStanding, replay};
use shared::ruleset::TierBasis;
use shared::wire::admin::{
    CustomerOverdraft, NewCustomer, OverdraftRecord, OverdraftReport, PurchaseSummary,
};
use shared::wire::sync::{CustomerDeltaPage, CustomerSnapshot, LeavingSpend};

use super::catalog::merchant_currency;
use super::columns::{
    int, opt_date, opt_int, opt_text, opt_time, parsed, sql_int, time, time_text,
};
use super::is_unique_violation;
use super::rulesets;
use crate::db::{CustomerProfile, DbError};

/// The most purchases a customer view lists.
const PURCHASES_SHOWN: i64 = 100;

/// Lifetime spend of customer `c`: sales minus refunds.
const SPEND: &str =
    "(SELECT COALESCE(SUM(CASE kind WHEN 'sale' THEN total ELSE -ABS(total) END), 0)
                      FROM records WHERE customer_id = c.id)";
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
/// Spend of customer `c` since the instant `?4` (net of returns); NULL
/// when `?4` is NULL (the tiers do not go by a window).
const WINDOW_SPEND: &str = "(SELECT CASE WHEN ?4 IS NULL THEN NULL ELSE
        COALESCE(SUM(CASE kind WHEN 'sale' THEN total ELSE -ABS(total) END), 0) END
        FROM records WHERE customer_id = c.id AND julianday(wall_time) > julianday(?4))";

/// Hands out the merchant's next change cursor and stamps the customer with it.
pub(super) fn mark_changed(
    tx: &Transaction<'_>,
    merchant: MerchantId,
    customer: CustomerId,
) -> Result<(), DbError> {
    let cursor = next_cursor(tx, merchant)?;
    tx.execute(
        "UPDATE customers SET change_cursor = ?1 WHERE id = ?2",
        params![cursor, customer.get()],
    )?;
    Ok(())
}

fn next_cursor(tx: &Transaction<'_>, merchant: MerchantId) -> Result<i64, DbError> {
    tx.query_row(
        "UPDATE merchants SET customer_cursor = customer_cursor + 1 WHERE id = ?1
         RETURNING customer_cursor",
        [merchant.get()],
        |row| row.get(0),
    )
    .optional()?
    .ok_or_else(|| DbError::NotFound(format!("merchant {merchant}")))
}

pub(super) fn create(
    tx: &Transaction<'_>,
    merchant: MerchantId,
    new: &NewCustomer,
) -> Result<CustomerId, DbError> {
    merchant_currency(tx, merchant)?;
    let cursor = next_cursor(tx, merchant)?;
    tx.query_row(
        "INSERT INTO customers (merchant_id, name, phone, email, gender, birth_date, change_cursor)
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

/// The points policy of the merchant's current ruleset (none published:
/// points are available at once and never expire).
fn policy(tx: &Transaction<'_>, merchant: MerchantId) -> Result<PointsPolicy, DbError> {
    Ok(rulesets::current(tx, merchant)?
        .map(|c| PointsPolicy::of(&c.ruleset.programme))
        .unwrap_or_default())
}

/// The customer's ledger, in the server's order.
fn ledger(tx: &Transaction<'_>, customer: CustomerId) -> Result<Vec<LedgerEntry>, DbError> {
    let mut stmt = tx.prepare_cached(
        "SELECT r.id, l.register_id, l.seq, r.wall_time, l.earned, l.redeemed,
                l.original_register_id, l.original_seq,
                v.version, v.points_pending_days, v.points_expire_days
         FROM ledger l JOIN records r ON r.register_id = l.register_id AND r.seq = l.seq
         LEFT JOIN ruleset_releases v
             ON v.merchant_id = r.merchant_id AND v.version = r.ruleset_version
         WHERE l.customer_id = ?1 ORDER BY r.id",
    )?;
    let rows = stmt.query_map([customer.get()], |row| {
        let original = match (opt_int::<RegisterId>(row, 6)?, opt_int::<Seq>(row, 7)?) {
            (Some(register_id), Some(seq)) => Some(EntryKey { register_id, seq }),
            _ => None,
        };
        Ok(LedgerEntry {
            order: row.get(0)?,
            key: EntryKey {
                register_id: int(row, 1)?,
                seq: int(row, 2)?,
            },
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
        })
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// The customer's points at `now`.
fn points(
    tx: &Transaction<'_>,
    policy: PointsPolicy,
    customer: CustomerId,
    now: DateTime<Utc>,
) -> Result<PointsStanding, DbError> {
    Ok(replay(policy, &ledger(tx, customer)?, now))
}

pub(super) fn profile(
    tx: &Transaction<'_>,
    id: CustomerId,
    now: DateTime<Utc>,
) -> Result<CustomerProfile, DbError> {
    let sql = format!(
        "SELECT c.id, c.merchant_id, c.name, c.phone, c.email, c.gender, c.birth_date,
                {SPEND}
         FROM customers c WHERE c.id = ?1"
    );
    let mut profile = tx
        .query_row(&sql, [id.get()], |row| {
            Ok(CustomerProfile {
                id: int(row, 0)?,
                merchant_id: int(row, 1)?,
                name: row.get(2)?,
                phone: opt_text(row, 3)?,
                email: opt_text(row, 4)?,
                gender: Gender::from_code(&row.get::<_, String>(5)?),
                birth_date: opt_date(row, 6)?,
                lifetime_spend: int(row, 7)?,
                points: PointsStanding::default(),
                purchases: Vec::new(),
            })
        })
        .optional()?
        .ok_or_else(|| DbError::NotFound(format!("customer {id}")))?;
    profile.purchases = purchases(tx, id)?;
    profile.points = points(tx, policy(tx, profile.merchant_id)?, id, now)?;
    Ok(profile)
}

/// The newest purchases first, by the order the server stored them.
fn purchases(tx: &Transaction<'_>, id: CustomerId) -> Result<Vec<PurchaseSummary>, DbError> {
    let mut stmt = tx.prepare(
        "SELECT record_id, register_id, seq, store_id, kind, wall_time, subtotal, discount,
                CASE kind WHEN 'sale' THEN total ELSE -ABS(total) END,
                points_earned, points_redeemed
         FROM records WHERE customer_id = ?1 ORDER BY id DESC LIMIT ?2",
    )?;
    let rows = stmt.query_map(params![id.get(), PURCHASES_SHOWN], |row| {
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

pub(super) fn revoke_tokens(
    tx: &Transaction<'_>,
    id: CustomerId,
    now: DateTime<Utc>,
) -> Result<MerchantId, DbError> {
    let merchant: MerchantId = tx
        .query_row(
            "UPDATE customers SET tokens_valid_after = ?1 WHERE id = ?2 RETURNING merchant_id",
            params![time_text(now), id.get()],
            |row| int(row, 0),
        )
        .optional()?
        .ok_or_else(|| DbError::NotFound(format!("customer {id}")))?;
    mark_changed(tx, merchant, id)?;
    Ok(merchant)
}

pub(super) fn changes(
    tx: &Transaction<'_>,
    merchant: MerchantId,
    after: i64,
    limit: usize,
    now: DateTime<Utc>,
) -> Result<CustomerDeltaPage, DbError> {
    let sql = format!(
        "SELECT c.id, c.name, c.phone, {SPEND}, 0, c.tokens_valid_after, c.change_cursor,
                c.gender, c.birth_date, {SALES}, {PROMOTION_USES}, {LAST_BIRTHDAY_BONUS},
                {WINDOW_SPEND}
         FROM customers c
         WHERE c.merchant_id = ?1 AND c.change_cursor > ?2
         ORDER BY c.change_cursor LIMIT ?3"
    );
    // The current programme, read once: its rolling tier window, if it has
    // one, and its points policy.
    let programme = rulesets::current(tx, merchant)?.map(|c| c.ruleset.programme);
    let window = match programme.as_ref().map(|p| p.tier_basis) {
        Some(TierBasis::RollingWindow { days }) => Some(chrono::TimeDelta::days(i64::from(days))),
        _ => None,
    };
    let policy = programme.as_ref().map(PointsPolicy::of).unwrap_or_default();
    let window_start = window.map(|w| time_text(now - w));
    let mut stmt = tx.prepare(&sql)?;
    // One row more than asked tells whether another page is ready.
    let rows = stmt.query_map(
        params![
            merchant.get(),
            after,
            sql_int(limit).saturating_add(1),
            window_start
        ],
        snapshot_row,
    )?;
    let mut rows: Vec<(CustomerSnapshot, i64)> = rows.collect::<Result<_, _>>()?;
    let more = rows.len() > limit;
    rows.truncate(limit);
    for (snapshot, _) in &mut rows {
        let standing = points(tx, policy, snapshot.id, now)?;
        snapshot.points_balance = standing.available;
        snapshot.points_pending = standing.pending;
        snapshot.points_expiring = standing.expiring;
        if let (Some(window), Some(start)) = (window, &window_start) {
            snapshot.window_spend_leaving = leaving_spend(tx, snapshot.id, start, window)?;
        }
    }
    Ok(CustomerDeltaPage {
        next_cursor: rows.last().map_or(after, |(_, cursor)| *cursor),
        customers: rows.into_iter().map(|(snapshot, _)| snapshot).collect(),
        more,
        stored_through: None,
    })
}

/// The customer's spend in the window by day (UTC), each leaving the window
/// with the day's latest record.
fn leaving_spend(
    tx: &Transaction<'_>,
    customer: CustomerId,
    window_start: &str,
    window: chrono::TimeDelta,
) -> Result<Vec<LeavingSpend>, DbError> {
    let mut stmt = tx.prepare_cached(
        "SELECT MAX(wall_time), SUM(CASE kind WHEN 'sale' THEN total ELSE -ABS(total) END)
         FROM records WHERE customer_id = ?1 AND julianday(wall_time) > julianday(?2)
         GROUP BY date(wall_time) ORDER BY date(wall_time)",
    )?;
    let rows = stmt.query_map(params![customer.get(), window_start], |row| {
        Ok(LeavingSpend {
            until: time(row, 0)? + window,
            spend: int(row, 1)?,
        })
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}

fn snapshot_row(row: &Row<'_>) -> rusqlite::Result<(CustomerSnapshot, i64)> {
    let id: CustomerId = int(row, 0)?;
    Ok((
        CustomerSnapshot {
            id,
            name: row.get(1)?,
            card_number: Ean13::card_for(id),
            phone: opt_text(row, 2)?,
            lifetime_spend: int(row, 3)?,
            // Replaced by the replay of the ledger.
            points_balance: row.get(4)?,
            tokens_valid_after: opt_time(row, 5)?,
            gender: Gender::from_code(&row.get::<_, String>(7)?),
            birth_date: opt_date(row, 8)?,
            purchases: u64::try_from(row.get::<_, i64>(9)?).ok(),
            tags: Vec::new(),
            promotion_uses: row
                .get::<_, Option<String>>(10)?
                .map(|json| {
                    serde_json::from_str(&json).map_err(|e| {
                        rusqlite::Error::FromSqlConversionFailure(
                            10,
                            rusqlite::types::Type::Text,
                            Box::new(e),
                        )
                    })
                })
                .transpose()?
                .unwrap_or_default(),
            last_birthday_bonus: opt_date(row, 11)?,
            window_spend: row
                .get::<_, Option<i64>>(12)?
                .map(|spend| Money::from_minor(spend).unwrap_or_default()),
            window_spend_leaving: Vec::new(),
            points_pending: Vec::new(),
            points_expiring: Vec::new(),
        },
        row.get(6)?,
    ))
}

pub(super) fn overdrafts(
    tx: &Transaction<'_>,
    merchant: MerchantId,
    now: DateTime<Utc>,
) -> Result<OverdraftReport, DbError> {
    merchant_currency(tx, merchant)?;
    let policy = policy(tx, merchant)?;
    // Only spending and claw-backs can overdraw.
    let mut stmt = tx.prepare(
        "SELECT DISTINCT c.id, c.name FROM customers c JOIN ledger l ON l.customer_id = c.id
         WHERE c.merchant_id = ?1 AND (l.redeemed > 0 OR l.earned < 0)
         ORDER BY c.id",
    )?;
    let candidates: Vec<(CustomerId, String)> = stmt
        .query_map([merchant.get()], |row| Ok((int(row, 0)?, row.get(1)?)))?
        .collect::<Result<_, _>>()?;
    let mut record_stmt = tx.prepare_cached(
        "SELECT record_id, store_id, points_redeemed FROM records
         WHERE register_id = ?1 AND seq = ?2",
    )?;
    let mut customers = Vec::new();
    for (customer_id, name) in candidates {
        let standing = points(tx, policy, customer_id, now)?;
        if standing.overdrafts.is_empty() {
            continue;
        }
        let mut records = Vec::with_capacity(standing.overdrafts.len());
        for o in &standing.overdrafts {
            let (record_id, store_id, points_redeemed) = record_stmt.query_row(
                params![o.key.register_id.get(), o.key.seq.get()],
                |row| {
                    Ok((
                        parsed(row, 0, uuid::Uuid::parse_str)?,
                        int(row, 1)?,
                        row.get(2)?,
                    ))
                },
            )?;
            records.push(OverdraftRecord {
                record_id,
                register_id: o.key.register_id,
                seq: o.key.seq,
                store_id,
                wall_time: o.at,
                cause: o.cause,
                points_redeemed,
                overdrawn: o.points,
                balance_after: o.balance_after,
            });
        }
        customers.push(CustomerOverdraft {
            customer_id,
            name,
            points_balance: standing.available,
            overdrawn: standing.overdrafts.iter().map(|o| o.points).sum(),
            records,
        });
    }
    Ok(OverdraftReport {
        merchant_id: merchant,
        customers,
    })
}
