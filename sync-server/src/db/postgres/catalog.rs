//! [`CatalogTx`] on PostgreSQL: merchants, brands, stores, enrollment
//! tokens and registers.

use chrono::{DateTime, Utc};
use postgres::Row;
use shared::crypto::{Hash256, PublicKey};
use shared::ids::{MerchantId, RegisterId, StoreId};
use shared::money::Currency;

use super::PgTx;
use super::columns::{all, hash, int, opt_int, parsed, text, zone};
use crate::db::{
    Access, CatalogTx, DbError, EnrollmentTokenRow, HeartbeatRow, NewEnrollmentToken, NewRegister,
    RegisterCredentials, RegisterStatus,
};
use crate::drift::{ClockDrift, ClockReading};
use crate::wire::admin::{Brand, Merchant, NewBrand, NewMerchant, NewStore, Register, Store};

fn merchant_row(row: &Row) -> Result<Merchant, DbError> {
    Ok(Merchant {
        id: int(row, 0)?,
        name: row.try_get(1)?,
        currency: text(row, 2)?,
    })
}

fn store_row(row: &Row) -> Result<Store, DbError> {
    Ok(Store {
        id: int(row, 0)?,
        merchant_id: int(row, 1)?,
        brand_id: opt_int(row, 2)?,
        name: row.try_get(3)?,
        timezone: zone(row, 4)?,
    })
}

impl CatalogTx for PgTx<'_, '_> {
    fn lock_merchant(&mut self, merchant: MerchantId) -> Result<(), DbError> {
        // Held until the transaction ends: writers deciding on the
        // merchant's head take turns across connections and instances.
        let sql = match self.access {
            Access::Write => "SELECT 1 FROM merchants WHERE id = $1 FOR UPDATE",
            Access::Read => "SELECT 1 FROM merchants WHERE id = $1",
        };
        self.query_opt(sql, &[&merchant.get()])?
            .map(|_| ())
            .ok_or_else(|| DbError::NotFound(format!("merchant {merchant}")))
    }

    fn merchant_currency(&mut self, merchant: MerchantId) -> Result<Currency, DbError> {
        self.query_opt(
            "SELECT currency FROM merchants WHERE id = $1",
            &[&merchant.get()],
        )?
        .map(|row| text(&row, 0))
        .transpose()?
        .ok_or_else(|| DbError::NotFound(format!("merchant {merchant}")))
    }

    fn insert_merchant(&mut self, new: &NewMerchant) -> Result<Merchant, DbError> {
        let row = self.query_one(
            "INSERT INTO merchants (name, currency) VALUES ($1, $2) RETURNING id, name, currency",
            &[&new.name, &new.currency.as_str()],
        )?;
        merchant_row(&row)
    }

    fn merchants(&mut self) -> Result<Vec<Merchant>, DbError> {
        let rows = self.query("SELECT id, name, currency FROM merchants ORDER BY id", &[])?;
        all(&rows, merchant_row)
    }

    fn merchant(&mut self, id: MerchantId) -> Result<Option<Merchant>, DbError> {
        self.query_opt(
            "SELECT id, name, currency FROM merchants WHERE id = $1",
            &[&id.get()],
        )?
        .map(|row| merchant_row(&row))
        .transpose()
    }

    fn insert_brand(&mut self, merchant: MerchantId, new: &NewBrand) -> Result<Brand, DbError> {
        let row = self.query_one(
            "INSERT INTO brands (merchant_id, name) VALUES ($1, $2) RETURNING id",
            &[&merchant.get(), &new.name],
        )?;
        Ok(Brand {
            id: int(&row, 0)?,
            merchant_id: merchant,
            name: new.name.clone(),
        })
    }

    fn brands(&mut self, merchant: MerchantId) -> Result<Vec<Brand>, DbError> {
        let rows = self.query(
            "SELECT id, merchant_id, name FROM brands WHERE merchant_id = $1 ORDER BY id",
            &[&merchant.get()],
        )?;
        all(&rows, |row| {
            Ok(Brand {
                id: int(row, 0)?,
                merchant_id: int(row, 1)?,
                name: row.try_get(2)?,
            })
        })
    }

    fn insert_store(&mut self, merchant: MerchantId, new: &NewStore) -> Result<Store, DbError> {
        let row = self.query_one(
            "INSERT INTO stores (merchant_id, brand_id, name, timezone) VALUES ($1, $2, $3, $4)
             RETURNING id, merchant_id, brand_id, name, timezone",
            &[
                &merchant.get(),
                &new.brand_id.map(|b| b.get()),
                &new.name,
                &new.timezone.name(),
            ],
        )?;
        store_row(&row)
    }

    fn stores(&mut self, merchant: MerchantId) -> Result<Vec<Store>, DbError> {
        let rows = self.query(
            "SELECT id, merchant_id, brand_id, name, timezone FROM stores
             WHERE merchant_id = $1 ORDER BY id",
            &[&merchant.get()],
        )?;
        all(&rows, store_row)
    }

    fn store(&mut self, id: StoreId) -> Result<Option<Store>, DbError> {
        self.query_opt(
            "SELECT id, merchant_id, brand_id, name, timezone FROM stores WHERE id = $1",
            &[&id.get()],
        )?
        .map(|row| store_row(&row))
        .transpose()
    }

    fn insert_enrollment_token(&mut self, token: &NewEnrollmentToken) -> Result<(), DbError> {
        self.execute(
            "INSERT INTO enrollment_tokens (token_hash, store_id, expires_at) VALUES ($1, $2, $3)",
            &[
                &token.token_hash.0.as_slice(),
                &token.store_id.get(),
                &token.expires_at,
            ],
        )?;
        Ok(())
    }

    fn enrollment_token(&mut self, hash: &Hash256) -> Result<Option<EnrollmentTokenRow>, DbError> {
        // Locked in a write, so of two enrollments with one token the
        // second waits for the first and sees the token used.
        macro_rules! token {
            () => {
                "SELECT t.expires_at, t.register_id IS NOT NULL, s.id, s.name, s.timezone,
                        s.merchant_id, m.currency, s.brand_id
                 FROM enrollment_tokens t
                 JOIN stores s ON s.id = t.store_id
                 JOIN merchants m ON m.id = s.merchant_id
                 WHERE t.token_hash = $1"
            };
        }
        let sql = match self.access {
            Access::Write => concat!(token!(), " FOR UPDATE OF t"),
            Access::Read => token!(),
        };
        self.query_opt(sql, &[&hash.0.as_slice()])?
            .map(|row| {
                Ok(EnrollmentTokenRow {
                    expires_at: row.try_get(0)?,
                    used: row.try_get(1)?,
                    store_id: int(&row, 2)?,
                    store_name: row.try_get(3)?,
                    store_timezone: zone(&row, 4)?,
                    merchant_id: int(&row, 5)?,
                    currency: text(&row, 6)?,
                    store_brand: opt_int(&row, 7)?,
                })
            })
            .transpose()
    }

    fn insert_register(
        &mut self,
        store: StoreId,
        new: &NewRegister,
    ) -> Result<RegisterId, DbError> {
        let row = self.query_one(
            "INSERT INTO registers (store_id, public_key, secret_hash, hostname, agent_version,
                 enrolled_at)
             VALUES ($1, $2, $3, $4, $5, $6) RETURNING id",
            &[
                &store.get(),
                &new.public_key.to_base64(),
                &new.secret_hash.0.as_slice(),
                &new.hostname,
                &new.agent_version,
                &new.now,
            ],
        )?;
        let register_id: RegisterId = int(&row, 0)?;
        self.execute(
            "UPDATE enrollment_tokens SET register_id = $1 WHERE token_hash = $2",
            &[&register_id.get(), &new.token_hash.0.as_slice()],
        )?;
        Ok(register_id)
    }

    fn register_credentials(
        &mut self,
        id: RegisterId,
    ) -> Result<Option<RegisterCredentials>, DbError> {
        self.query_opt(
            "SELECT r.id, s.merchant_id, r.store_id, m.currency, r.public_key, r.secret_hash,
                    r.revoked_at IS NOT NULL
             FROM registers r
             JOIN stores s ON s.id = r.store_id
             JOIN merchants m ON m.id = s.merchant_id
             WHERE r.id = $1",
            &[&id.get()],
        )?
        .map(|row| {
            Ok(RegisterCredentials {
                register_id: int(&row, 0)?,
                merchant_id: int(&row, 1)?,
                store_id: int(&row, 2)?,
                currency: text(&row, 3)?,
                public_key: parsed(&row, 4, PublicKey::from_base64)?,
                secret_hash: hash(&row, 5)?,
                revoked: row.try_get(6)?,
            })
        })
        .transpose()
    }

    fn registers(&mut self, merchant: MerchantId) -> Result<Vec<RegisterStatus>, DbError> {
        let rows = self.query(
            "SELECT r.id, r.store_id, r.hostname, r.agent_version,
                    (SELECT MAX(seq) FROM records WHERE register_id = r.id),
                    (SELECT COUNT(*) FROM records WHERE register_id = r.id),
                    r.last_seen_at, r.revoked_at, r.clock_drift_secs, r.clock_drift_measured_at,
                    r.heartbeat_at, r.heartbeat_backlog, r.heartbeat_dead_letters,
                    r.heartbeat_ruleset_version, r.heartbeat_alarms
             FROM registers r JOIN stores s ON s.id = r.store_id
             WHERE s.merchant_id = $1 ORDER BY r.id",
            &[&merchant.get()],
        )?;
        all(&rows, |row| {
            let drift: Option<i64> = row.try_get(8)?;
            let measured_at: Option<DateTime<Utc>> = row.try_get(9)?;
            let clock = match (drift, measured_at) {
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
                    hostname: row.try_get(2)?,
                    agent_version: row.try_get(3)?,
                    head_seq: opt_int(row, 4)?,
                    records: row.try_get(5)?,
                    last_seen_at: row.try_get(6)?,
                },
                revoked_at: row.try_get(7)?,
                clock,
                heartbeat: match row.try_get::<_, Option<DateTime<Utc>>>(10)? {
                    Some(at) => Some(HeartbeatRow {
                        at,
                        backlog: row.try_get::<_, Option<i64>>(11)?.unwrap_or(0),
                        dead_letters: row.try_get::<_, Option<i64>>(12)?.unwrap_or(0),
                        ruleset_version: row.try_get(13)?,
                        alarms: row
                            .try_get::<_, Option<String>>(14)?
                            .and_then(|json| serde_json::from_str(&json).ok())
                            .unwrap_or_default(),
                    }),
                    None => None,
                },
            })
        })
    }

    fn revoke_register(&mut self, id: RegisterId, now: DateTime<Utc>) -> Result<(), DbError> {
        self.execute(
            "UPDATE registers SET revoked_at = COALESCE(revoked_at, $1) WHERE id = $2",
            &[&now, &id.get()],
        )?;
        Ok(())
    }

    fn minimum_agent_version(&mut self, merchant: MerchantId) -> Result<Option<String>, DbError> {
        self.query_opt(
            "SELECT minimum_agent_version FROM merchants WHERE id = $1",
            &[&merchant.get()],
        )?
        .map(|row| row.try_get::<_, Option<String>>(0))
        .transpose()?
        .ok_or_else(|| DbError::NotFound(format!("merchant {merchant}")))
    }

    fn set_minimum_agent_version(
        &mut self,
        merchant: MerchantId,
        version: Option<&str>,
    ) -> Result<(), DbError> {
        let changed = self.execute(
            "UPDATE merchants SET minimum_agent_version = $1 WHERE id = $2",
            &[&version, &merchant.get()],
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
        self.execute(
            "UPDATE registers SET agent_version = $1, heartbeat_at = $2,
                 heartbeat_backlog = $3, heartbeat_dead_letters = $4,
                 heartbeat_ruleset_version = $5, heartbeat_alarms = $6
             WHERE id = $7",
            &[
                &agent_version,
                &heartbeat.at,
                &heartbeat.backlog,
                &heartbeat.dead_letters,
                &heartbeat.ruleset_version,
                &alarms,
                &id.get(),
            ],
        )?;
        Ok(())
    }

    fn touch_register(&mut self, id: RegisterId, now: DateTime<Utc>) -> Result<(), DbError> {
        // The row lock this takes holds until the transaction ends, so two
        // batches of one register are stored one after the other.
        self.execute(
            "UPDATE registers SET last_seen_at = $1 WHERE id = $2",
            &[&now, &id.get()],
        )?;
        Ok(())
    }

    fn set_clock_drift(
        &mut self,
        id: RegisterId,
        drift_secs: i64,
        measured_at: DateTime<Utc>,
    ) -> Result<(), DbError> {
        self.execute(
            "UPDATE registers SET clock_drift_secs = $1, clock_drift_measured_at = $2
             WHERE id = $3",
            &[&drift_secs, &measured_at, &id.get()],
        )?;
        Ok(())
    }
}
