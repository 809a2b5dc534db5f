//! Merchants, brands, stores, enrollment tokens and registers.

use chrono::{DateTime, Utc};
use rusqlite::{OptionalExtension as _, Row, Transaction, params};
use shared::crypto::PublicKey;
use shared::ids::{BrandId, MerchantId, RegisterId, StoreId};
use shared::money::Currency;
use shared::wire::admin::{Brand, Merchant, NewBrand, NewMerchant, NewStore, Register, Store};

use super::columns::{hash, int, opt_int, opt_time, parsed, text, time, time_text};
use crate::db::{
    DbError, EnrollOutcome, EnrolledRegister, NewEnrollmentToken, NewRegister, RegisterCredentials,
    RegisterStatus,
};
use crate::drift::{ClockDrift, ClockReading};

/// The merchant's currency, or `NotFound`.
pub(super) fn merchant_currency(
    tx: &Transaction<'_>,
    merchant: MerchantId,
) -> Result<Currency, DbError> {
    tx.query_row(
        "SELECT currency FROM merchants WHERE id = ?1",
        [merchant.get()],
        |row| text(row, 0),
    )
    .optional()?
    .ok_or_else(|| DbError::NotFound(format!("merchant {merchant}")))
}

fn merchant_row(row: &Row<'_>) -> rusqlite::Result<Merchant> {
    Ok(Merchant {
        id: int(row, 0)?,
        name: row.get(1)?,
        currency: text(row, 2)?,
    })
}

pub(super) fn create_merchant(
    tx: &Transaction<'_>,
    new: &NewMerchant,
) -> Result<Merchant, DbError> {
    Ok(tx.query_row(
        "INSERT INTO merchants (name, currency) VALUES (?1, ?2) RETURNING id, name, currency",
        params![new.name, new.currency.as_str()],
        merchant_row,
    )?)
}

pub(super) fn merchants(tx: &Transaction<'_>) -> Result<Vec<Merchant>, DbError> {
    let mut stmt = tx.prepare("SELECT id, name, currency FROM merchants ORDER BY id")?;
    let rows = stmt.query_map([], merchant_row)?;
    Ok(rows.collect::<Result<_, _>>()?)
}

pub(super) fn merchant(tx: &Transaction<'_>, id: MerchantId) -> Result<Merchant, DbError> {
    tx.query_row(
        "SELECT id, name, currency FROM merchants WHERE id = ?1",
        [id.get()],
        merchant_row,
    )
    .optional()?
    .ok_or_else(|| DbError::NotFound(format!("merchant {id}")))
}

pub(super) fn create_brand(
    tx: &Transaction<'_>,
    merchant: MerchantId,
    new: &NewBrand,
) -> Result<Brand, DbError> {
    merchant_currency(tx, merchant)?;
    Ok(tx.query_row(
        "INSERT INTO brands (merchant_id, name) VALUES (?1, ?2) RETURNING id",
        params![merchant.get(), new.name],
        |row| {
            Ok(Brand {
                id: int(row, 0)?,
                merchant_id: merchant,
                name: new.name.clone(),
            })
        },
    )?)
}

fn store_row(row: &Row<'_>) -> rusqlite::Result<Store> {
    Ok(Store {
        id: int(row, 0)?,
        merchant_id: int(row, 1)?,
        brand_id: opt_int(row, 2)?,
        name: row.get(3)?,
        timezone: row.get(4)?,
    })
}

pub(super) fn create_store(
    tx: &Transaction<'_>,
    merchant: MerchantId,
    new: &NewStore,
) -> Result<Store, DbError> {
    merchant_currency(tx, merchant)?;
    if let Some(brand) = new.brand_id {
        let owned: Option<i64> = tx
            .query_row(
                "SELECT 1 FROM brands WHERE id = ?1 AND merchant_id = ?2",
                params![brand.get(), merchant.get()],
                |row| row.get(0),
            )
            .optional()?;
        if owned.is_none() {
            return Err(DbError::NotFound(format!(
                "brand {brand} of merchant {merchant}"
            )));
        }
    }
    Ok(tx.query_row(
        "INSERT INTO stores (merchant_id, brand_id, name, timezone) VALUES (?1, ?2, ?3, ?4)
         RETURNING id, merchant_id, brand_id, name, timezone",
        params![
            merchant.get(),
            new.brand_id.map(|b| b.get()),
            new.name,
            new.timezone
        ],
        store_row,
    )?)
}

pub(super) fn stores(tx: &Transaction<'_>, merchant: MerchantId) -> Result<Vec<Store>, DbError> {
    merchant_currency(tx, merchant)?;
    let mut stmt = tx.prepare(
        "SELECT id, merchant_id, brand_id, name, timezone FROM stores
         WHERE merchant_id = ?1 ORDER BY id",
    )?;
    let rows = stmt.query_map([merchant.get()], store_row)?;
    Ok(rows.collect::<Result<_, _>>()?)
}

pub(super) fn create_enrollment_token(
    tx: &Transaction<'_>,
    token: &NewEnrollmentToken,
) -> Result<(), DbError> {
    let store_exists: Option<i64> = tx
        .query_row(
            "SELECT 1 FROM stores WHERE id = ?1",
            [token.store_id.get()],
            |row| row.get(0),
        )
        .optional()?;
    if store_exists.is_none() {
        return Err(DbError::NotFound(format!("store {}", token.store_id)));
    }
    tx.execute(
        "INSERT INTO enrollment_tokens (token_hash, store_id, expires_at) VALUES (?1, ?2, ?3)",
        params![
            token.token_hash.0.as_slice(),
            token.store_id.get(),
            time_text(token.expires_at)
        ],
    )?;
    Ok(())
}

/// An enrollment token with the store it enrolls into.
struct TokenRow {
    expires_at: DateTime<Utc>,
    used: bool,
    store_id: StoreId,
    store_name: String,
    store_timezone: String,
    store_brand: Option<BrandId>,
    merchant_id: MerchantId,
    currency: Currency,
}

/// Spends the token and creates the register in the caller's transaction,
/// so of two concurrent enrollments with one token exactly one wins.
pub(super) fn enroll(tx: &Transaction<'_>, new: &NewRegister) -> Result<EnrollOutcome, DbError> {
    let token = tx
        .query_row(
            "SELECT t.expires_at, t.register_id IS NOT NULL, s.id, s.name, s.timezone,
                    s.merchant_id, m.currency, s.brand_id
             FROM enrollment_tokens t
             JOIN stores s ON s.id = t.store_id
             JOIN merchants m ON m.id = s.merchant_id
             WHERE t.token_hash = ?1",
            [new.token_hash.0.as_slice()],
            |row| {
                Ok(TokenRow {
                    expires_at: time(row, 0)?,
                    used: row.get(1)?,
                    store_id: int(row, 2)?,
                    store_name: row.get(3)?,
                    store_timezone: row.get(4)?,
                    merchant_id: int(row, 5)?,
                    currency: text(row, 6)?,
                    store_brand: opt_int(row, 7)?,
                })
            },
        )
        .optional()?;
    let Some(token) = token else {
        return Ok(EnrollOutcome::TokenUnknown);
    };
    if token.used {
        return Ok(EnrollOutcome::TokenUsed);
    }
    if new.now >= token.expires_at {
        return Ok(EnrollOutcome::TokenExpired(token.expires_at));
    }
    let register_id: RegisterId = tx.query_row(
        "INSERT INTO registers (store_id, public_key, secret_hash, hostname, agent_version, enrolled_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6) RETURNING id",
        params![
            token.store_id.get(),
            new.public_key.to_base64(),
            new.secret_hash.0.as_slice(),
            new.hostname,
            new.agent_version,
            time_text(new.now)
        ],
        |row| int(row, 0),
    )?;
    tx.execute(
        "UPDATE enrollment_tokens SET register_id = ?1 WHERE token_hash = ?2",
        params![register_id.get(), new.token_hash.0.as_slice()],
    )?;
    Ok(EnrollOutcome::Enrolled(EnrolledRegister {
        register_id,
        merchant_id: token.merchant_id,
        store_id: token.store_id,
        store_name: token.store_name,
        store_timezone: token.store_timezone,
        store_brand: token.store_brand,
        currency: token.currency,
    }))
}

pub(super) fn register_credentials(
    tx: &Transaction<'_>,
    id: RegisterId,
) -> Result<RegisterCredentials, DbError> {
    tx.query_row(
        "SELECT r.id, s.merchant_id, r.store_id, m.currency, r.public_key, r.secret_hash,
                r.revoked_at IS NOT NULL
         FROM registers r
         JOIN stores s ON s.id = r.store_id
         JOIN merchants m ON m.id = s.merchant_id
         WHERE r.id = ?1",
        [id.get()],
        |row| {
            Ok(RegisterCredentials {
                register_id: int(row, 0)?,
                merchant_id: int(row, 1)?,
                store_id: int(row, 2)?,
                currency: text(row, 3)?,
                public_key: parsed(row, 4, PublicKey::from_base64)?,
                secret_hash: hash(row, 5)?,
                revoked: row.get(6)?,
            })
        },
    )
    .optional()?
    .ok_or_else(|| DbError::NotFound(format!("register {id}")))
}

pub(super) fn registers(
    tx: &Transaction<'_>,
    merchant: MerchantId,
) -> Result<Vec<RegisterStatus>, DbError> {
    merchant_currency(tx, merchant)?;
    let mut stmt = tx.prepare(
        "SELECT r.id, r.store_id, r.hostname, r.agent_version,
                (SELECT MAX(seq) FROM records WHERE register_id = r.id),
                (SELECT COUNT(*) FROM records WHERE register_id = r.id),
                r.last_seen_at, r.revoked_at, r.clock_drift_secs, r.clock_drift_measured_at
         FROM registers r JOIN stores s ON s.id = r.store_id
         WHERE s.merchant_id = ?1 ORDER BY r.id",
    )?;
    let rows = stmt.query_map([merchant.get()], |row| {
        let drift: Option<i64> = row.get(8)?;
        let clock = match (drift, opt_time(row, 9)?) {
            (Some(secs), Some(measured_at)) => Some(ClockReading {
                drift: ClockDrift::from_secs(secs),
                measured_at,
            }),
            _ => None,
        };
        Ok(RegisterStatus {
            register: Register {
                id: int(row, 0)?,
                store_id: int(row, 1)?,
                hostname: row.get(2)?,
                agent_version: row.get(3)?,
                head_seq: opt_int(row, 4)?,
                records: row.get(5)?,
                last_seen_at: opt_time(row, 6)?,
            },
            revoked_at: opt_time(row, 7)?,
            clock,
        })
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}

pub(super) fn revoke_register(
    tx: &Transaction<'_>,
    id: RegisterId,
    now: DateTime<Utc>,
) -> Result<MerchantId, DbError> {
    let merchant = register_credentials(tx, id)?.merchant_id;
    tx.execute(
        "UPDATE registers SET revoked_at = COALESCE(revoked_at, ?1) WHERE id = ?2",
        params![time_text(now), id.get()],
    )?;
    Ok(merchant)
}
