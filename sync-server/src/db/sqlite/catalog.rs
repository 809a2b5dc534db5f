//! [`CatalogTx`] on SQLite: merchants, brands, stores, enrollment tokens
//! and registers.

use chrono::{DateTime, Utc};
use rusqlite::{OptionalExtension as _, Row, params};
use shared::crypto::{Hash256, PublicKey};
use shared::ids::{MerchantId, RegisterId, StoreId};
use shared::money::Currency;

use super::SqliteTx;
use super::columns::{hash, int, opt_int, opt_time, parsed, text, time, time_text, zone};
use crate::db::{
    CatalogTx, DbError, EnrollmentTokenRow, HeartbeatRow, NewEnrollmentToken, NewRegister,
    RegisterCredentials, RegisterStatus,
};
use crate::drift::{ClockDrift, ClockReading};
use crate::wire::admin::{Brand, Merchant, NewBrand, NewMerchant, NewStore, Register, Store};

fn merchant_row(row: &Row<'_>) -> rusqlite::Result<Merchant> {
    Ok(Merchant {
        id: int(row, 0)?,
        name: row.get(1)?,
        currency: text(row, 2)?,
    })
}

fn store_row(row: &Row<'_>) -> rusqlite::Result<Store> {
    Ok(Store {
        id: int(row, 0)?,
        merchant_id: int(row, 1)?,
        brand_id: opt_int(row, 2)?,
        name: row.get(3)?,
        timezone: zone(row, 4)?,
    })
}

const STORE_COLUMNS: &str = "id, merchant_id, brand_id, name, timezone";

impl CatalogTx for SqliteTx<'_> {
    fn lock_merchant(&mut self, merchant: MerchantId) -> Result<(), DbError> {
        // One writer connection: the transaction holds the write lock.
        self.merchant_currency(merchant).map(|_| ())
    }

    fn merchant_currency(&mut self, merchant: MerchantId) -> Result<Currency, DbError> {
        self.tx
            .query_row(
                "SELECT currency FROM merchants WHERE id = ?1",
                [merchant.get()],
                |row| text(row, 0),
            )
            .optional()?
            .ok_or_else(|| DbError::NotFound(format!("merchant {merchant}")))
    }

    fn insert_merchant(&mut self, new: &NewMerchant) -> Result<Merchant, DbError> {
        Ok(self.tx.query_row(
            "INSERT INTO merchants (name, currency) VALUES (?1, ?2) RETURNING id, name, currency",
            params![new.name, new.currency.as_str()],
            merchant_row,
        )?)
    }

    fn merchants(&mut self) -> Result<Vec<Merchant>, DbError> {
        let mut stmt = self
            .tx
            .prepare("SELECT id, name, currency FROM merchants ORDER BY id")?;
        let rows = stmt.query_map([], merchant_row)?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    fn merchant(&mut self, id: MerchantId) -> Result<Option<Merchant>, DbError> {
        Ok(self
            .tx
            .query_row(
                "SELECT id, name, currency FROM merchants WHERE id = ?1",
                [id.get()],
                merchant_row,
            )
            .optional()?)
    }

    fn insert_brand(&mut self, merchant: MerchantId, new: &NewBrand) -> Result<Brand, DbError> {
        Ok(self.tx.query_row(
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

    fn brands(&mut self, merchant: MerchantId) -> Result<Vec<Brand>, DbError> {
        let mut stmt = self.tx.prepare(
            "SELECT id, merchant_id, name FROM brands WHERE merchant_id = ?1 ORDER BY id",
        )?;
        let rows = stmt.query_map([merchant.get()], |row| {
            Ok(Brand {
                id: int(row, 0)?,
                merchant_id: int(row, 1)?,
                name: row.get(2)?,
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    fn insert_store(&mut self, merchant: MerchantId, new: &NewStore) -> Result<Store, DbError> {
        Ok(self.tx.query_row(
            &format!(
                "INSERT INTO stores (merchant_id, brand_id, name, timezone) VALUES (?1, ?2, ?3, ?4)
                 RETURNING {STORE_COLUMNS}"
            ),
            params![
                merchant.get(),
                new.brand_id.map(|b| b.get()),
                new.name,
                new.timezone.name()
            ],
            store_row,
        )?)
    }

    fn stores(&mut self, merchant: MerchantId) -> Result<Vec<Store>, DbError> {
        let mut stmt = self.tx.prepare(&format!(
            "SELECT {STORE_COLUMNS} FROM stores WHERE merchant_id = ?1 ORDER BY id"
        ))?;
        let rows = stmt.query_map([merchant.get()], store_row)?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    fn store(&mut self, id: StoreId) -> Result<Option<Store>, DbError> {
        Ok(self
            .tx
            .query_row(
                &format!("SELECT {STORE_COLUMNS} FROM stores WHERE id = ?1"),
                [id.get()],
                store_row,
            )
            .optional()?)
    }

    fn insert_enrollment_token(&mut self, token: &NewEnrollmentToken) -> Result<(), DbError> {
        self.tx.execute(
            "INSERT INTO enrollment_tokens (token_hash, store_id, expires_at) VALUES (?1, ?2, ?3)",
            params![
                token.token_hash.0.as_slice(),
                token.store_id.get(),
                time_text(token.expires_at)
            ],
        )?;
        Ok(())
    }

    fn enrollment_token(&mut self, hash: &Hash256) -> Result<Option<EnrollmentTokenRow>, DbError> {
        Ok(self
            .tx
            .query_row(
                "SELECT t.expires_at, t.register_id IS NOT NULL, s.id, s.name, s.timezone,
                        s.merchant_id, m.currency, s.brand_id
                 FROM enrollment_tokens t
                 JOIN stores s ON s.id = t.store_id
                 JOIN merchants m ON m.id = s.merchant_id
                 WHERE t.token_hash = ?1",
                [hash.0.as_slice()],
                |row| {
                    Ok(EnrollmentTokenRow {
                        expires_at: time(row, 0)?,
                        used: row.get(1)?,
                        store_id: int(row, 2)?,
                        store_name: row.get(3)?,
                        store_timezone: zone(row, 4)?,
                        merchant_id: int(row, 5)?,
                        currency: text(row, 6)?,
                        store_brand: opt_int(row, 7)?,
                    })
                },
            )
            .optional()?)
    }

    fn insert_register(
        &mut self,
        store: StoreId,
        new: &NewRegister,
    ) -> Result<RegisterId, DbError> {
        let register_id: RegisterId = self.tx.query_row(
            "INSERT INTO registers (store_id, public_key, secret_hash, hostname, agent_version,
                 enrolled_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6) RETURNING id",
            params![
                store.get(),
                new.public_key.to_base64(),
                new.secret_hash.0.as_slice(),
                new.hostname,
                new.agent_version,
                time_text(new.now)
            ],
            |row| int(row, 0),
        )?;
        self.tx.execute(
            "UPDATE enrollment_tokens SET register_id = ?1 WHERE token_hash = ?2",
            params![register_id.get(), new.token_hash.0.as_slice()],
        )?;
        Ok(register_id)
    }

    fn register_credentials(
        &mut self,
        id: RegisterId,
    ) -> Result<Option<RegisterCredentials>, DbError> {
        Ok(self
            .tx
            .query_row(
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
            .optional()?)
    }

    fn registers(&mut self, merchant: MerchantId) -> Result<Vec<RegisterStatus>, DbError> {
        let mut stmt = self.tx.prepare(
            "SELECT r.id, r.store_id, r.hostname, r.agent_version,
                    (SELECT MAX(seq) FROM records WHERE register_id = r.id),
                    (SELECT COUNT(*) FROM records WHERE register_id = r.id),
                    r.last_seen_at, r.revoked_at, r.clock_drift_secs, r.clock_drift_measured_at,
                    r.heartbeat_at, r.heartbeat_backlog, r.heartbeat_dead_letters,
                    r.heartbeat_ruleset_version, r.heartbeat_alarms
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
                heartbeat: match opt_time(row, 10)? {
                    Some(at) => Some(HeartbeatRow {
                        at,
                        backlog: row.get::<_, Option<i64>>(11)?.unwrap_or(0),
                        dead_letters: row.get::<_, Option<i64>>(12)?.unwrap_or(0),
                        ruleset_version: row.get(13)?,
                        alarms: row
                            .get::<_, Option<String>>(14)?
                            .and_then(|json| serde_json::from_str(&json).ok())
                            .unwrap_or_default(),
                    }),
                    None => None,
                },
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    fn revoke_register(&mut self, id: RegisterId, now: DateTime<Utc>) -> Result<(), DbError> {
        self.tx.execute(
            "UPDATE registers SET revoked_at = COALESCE(revoked_at, ?1) WHERE id = ?2",
            params![time_text(now), id.get()],
        )?;
        Ok(())
    }

    fn minimum_agent_version(&mut self, merchant: MerchantId) -> Result<Option<String>, DbError> {
        self.tx
            .prepare_cached("SELECT minimum_agent_version FROM merchants WHERE id = ?1")?
            .query_row([merchant.get()], |row| row.get::<_, Option<String>>(0))
            .optional()?
            .ok_or_else(|| DbError::NotFound(format!("merchant {merchant}")))
    }

    fn set_minimum_agent_version(
        &mut self,
        merchant: MerchantId,
        version: Option<&str>,
    ) -> Result<(), DbError> {
        let changed = self.tx.execute(
            "UPDATE merchants SET minimum_agent_version = ?1 WHERE id = ?2",
            params![version, merchant.get()],
        )?;
        if changed == 0 {
            return Err(DbError::NotFound(format!("merchant {merchant}")));
        }
        Ok(())
    }

    fn record_heartbeat(
        &mut self,
        id: RegisterId,
        agent_version: &str,
        heartbeat: &HeartbeatRow,
    ) -> Result<(), DbError> {
        let alarms = serde_json::to_string(&heartbeat.alarms).map_err(DbError::other)?;
        self.tx
            .prepare_cached(
                "UPDATE registers SET agent_version = ?1, heartbeat_at = ?2,
                     heartbeat_backlog = ?3, heartbeat_dead_letters = ?4,
                     heartbeat_ruleset_version = ?5, heartbeat_alarms = ?6
                 WHERE id = ?7",
            )?
            .execute(params![
                agent_version,
                time_text(heartbeat.at),
                heartbeat.backlog,
                heartbeat.dead_letters,
                heartbeat.ruleset_version,
                alarms,
                id.get()
            ])?;
        Ok(())
    }

    fn touch_register(&mut self, id: RegisterId, now: DateTime<Utc>) -> Result<(), DbError> {
        self.tx
            .prepare_cached("UPDATE registers SET last_seen_at = ?1 WHERE id = ?2")?
            .execute(params![time_text(now), id.get()])?;
        Ok(())
    }

    fn set_clock_drift(
        &mut self,
        id: RegisterId,
        drift_secs: i64,
        measured_at: DateTime<Utc>,
    ) -> Result<(), DbError> {
        self.tx
            .prepare_cached(
                "UPDATE registers SET clock_drift_secs = ?1, clock_drift_measured_at = ?2
                 WHERE id = ?3",
            )?
            .execute(params![drift_secs, time_text(measured_at), id.get()])?;
        Ok(())
    }
}
