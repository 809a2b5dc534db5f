//! [`AccountsTx`] on SQLite.

use rusqlite::{OptionalExtension as _, Row, params};
use shared::crypto::Hash256;
use shared::ids::{MerchantId, StoreId};

use super::SqliteTx;
use crate::access::Role;
use crate::db::{
    AccountId, AccountLinkRow, AccountRow, AccountSessionRow, AccountsTx, ApiKeyId, ApiKeyRow,
    AuditEntry, AuditFilter, AuditRow, DbError, LinkPurpose, NewAccount, NewApiKey,
};

fn bad(e: impl std::error::Error + Send + Sync + 'static) -> rusqlite::Error {
    rusqlite::Error::FromSqlConversionFailure(0, rusqlite::types::Type::Text, Box::new(e))
}

fn role_of(s: &str) -> rusqlite::Result<Role> {
    s.parse::<Role>().map_err(bad)
}

fn merchant_of(id: i64) -> rusqlite::Result<MerchantId> {
    MerchantId::new(id).map_err(bad)
}

const ACCOUNT_COLUMNS: &str = "SELECT id, merchant_id, email, role, password_hash, created_at_unix, disabled_at_unix FROM accounts ";

fn account_row(row: &Row<'_>) -> rusqlite::Result<AccountRow> {
    Ok(AccountRow {
        id: AccountId(row.get(0)?),
        merchant_id: merchant_of(row.get(1)?)?,
        email: row.get(2)?,
        role: role_of(&row.get::<_, String>(3)?)?,
        password_hash: row.get(4)?,
        stores: Vec::new(),
        created_at_unix: row.get(5)?,
        disabled_at_unix: row.get(6)?,
    })
}

const KEY_COLUMNS: &str = "SELECT id, merchant_id, name, role, created_at_unix, \
     last_used_at_unix, revoked_at_unix, \
     (SELECT group_concat(store_id) FROM api_key_stores s WHERE s.api_key_id = api_keys.id) \
     FROM api_keys ";

fn key_row(row: &Row<'_>) -> rusqlite::Result<ApiKeyRow> {
    Ok(ApiKeyRow {
        id: ApiKeyId(row.get(0)?),
        merchant_id: merchant_of(row.get(1)?)?,
        name: row.get(2)?,
        role: role_of(&row.get::<_, String>(3)?)?,
        created_at_unix: row.get(4)?,
        last_used_at_unix: row.get(5)?,
        revoked_at_unix: row.get(6)?,
        stores: crate::db::accounts::store_list(row.get::<_, Option<String>>(7)?.as_deref())
            .map_err(bad)?,
    })
}

impl SqliteTx<'_> {
    fn with_stores(&mut self, mut account: AccountRow) -> Result<AccountRow, DbError> {
        let mut stmt = self.tx.prepare_cached(
            "SELECT store_id FROM account_stores WHERE account_id = ?1 ORDER BY store_id",
        )?;
        let ids = stmt
            .query_map([account.id.0], |row| row.get::<_, i64>(0))?
            .collect::<Result<Vec<_>, _>>()?;
        account.stores = ids
            .into_iter()
            .map(|id| StoreId::new(id).map_err(DbError::other))
            .collect::<Result<_, _>>()?;
        Ok(account)
    }

    fn set_stores(&mut self, id: AccountId, stores: &[StoreId]) -> Result<(), DbError> {
        self.tx
            .execute("DELETE FROM account_stores WHERE account_id = ?1", [id.0])?;
        for store in stores {
            self.tx.execute(
                "INSERT OR IGNORE INTO account_stores (account_id, store_id) VALUES (?1, ?2)",
                [id.0, store.get()],
            )?;
        }
        Ok(())
    }
}

impl AccountsTx for SqliteTx<'_> {
    fn insert_account(&mut self, account: &NewAccount) -> Result<AccountId, DbError> {
        if self.account_by_email(&account.email)?.is_some() {
            return Err(DbError::Conflict(format!(
                "{} already has an account",
                account.email
            )));
        }
        let id: i64 = self.tx.query_row(
            "INSERT INTO accounts (merchant_id, email, role, created_at_unix)
             VALUES (?1, ?2, ?3, ?4) RETURNING id",
            params![
                account.merchant_id.get(),
                account.email,
                account.role.as_str(),
                account.created_at_unix
            ],
            |row| row.get(0),
        )?;
        self.set_stores(AccountId(id), &account.stores)?;
        Ok(AccountId(id))
    }

    fn account(&mut self, id: AccountId) -> Result<Option<AccountRow>, DbError> {
        let found = self
            .tx
            .query_row(
                &format!("{ACCOUNT_COLUMNS} WHERE id = ?1"),
                [id.0],
                account_row,
            )
            .optional()?;
        found.map(|a| self.with_stores(a)).transpose()
    }

    fn account_by_email(&mut self, email: &str) -> Result<Option<AccountRow>, DbError> {
        let found = self
            .tx
            .query_row(
                &format!("{ACCOUNT_COLUMNS} WHERE email = ?1"),
                [email],
                account_row,
            )
            .optional()?;
        found.map(|a| self.with_stores(a)).transpose()
    }

    fn accounts(&mut self, merchant: MerchantId) -> Result<Vec<AccountRow>, DbError> {
        let rows = {
            let mut stmt = self.tx.prepare(&format!(
                "{ACCOUNT_COLUMNS} WHERE merchant_id = ?1 ORDER BY id"
            ))?;
            stmt.query_map([merchant.get()], account_row)?
                .collect::<Result<Vec<_>, _>>()?
        };
        rows.into_iter().map(|a| self.with_stores(a)).collect()
    }

    fn set_password_hash(&mut self, id: AccountId, hash: &str) -> Result<(), DbError> {
        self.tx.execute(
            "UPDATE accounts SET password_hash = ?2 WHERE id = ?1",
            params![id.0, hash],
        )?;
        Ok(())
    }

    fn disable_account(&mut self, id: AccountId, now_unix: i64) -> Result<(), DbError> {
        self.tx.execute(
            "UPDATE accounts SET disabled_at_unix = ?2 WHERE id = ?1 AND disabled_at_unix IS NULL",
            [id.0, now_unix],
        )?;
        Ok(())
    }

    fn set_role(&mut self, id: AccountId, role: Role, stores: &[StoreId]) -> Result<(), DbError> {
        self.tx.execute(
            "UPDATE accounts SET role = ?2 WHERE id = ?1",
            params![id.0, role.as_str()],
        )?;
        self.set_stores(id, stores)
    }

    fn insert_account_link(
        &mut self,
        secret_hash: &Hash256,
        link: &AccountLinkRow,
    ) -> Result<(), DbError> {
        self.tx.execute(
            "INSERT INTO account_links (secret_hash, account_id, purpose, expires_at_unix, used)
             VALUES (?1, ?2, ?3, ?4, ?5)",
            params![
                &secret_hash.0[..],
                link.account_id.0,
                link.purpose.as_str(),
                link.expires_at_unix,
                link.used
            ],
        )?;
        Ok(())
    }

    fn account_link(&mut self, secret_hash: &Hash256) -> Result<Option<AccountLinkRow>, DbError> {
        let found = self
            .tx
            .query_row(
                "SELECT account_id, purpose, expires_at_unix, used FROM account_links
                 WHERE secret_hash = ?1",
                [&secret_hash.0[..]],
                |row| {
                    Ok((
                        row.get::<_, i64>(0)?,
                        row.get::<_, String>(1)?,
                        row.get::<_, i64>(2)?,
                        row.get::<_, bool>(3)?,
                    ))
                },
            )
            .optional()?;
        found
            .map(|(account, purpose, expires, used)| {
                Ok(AccountLinkRow {
                    account_id: AccountId(account),
                    purpose: LinkPurpose::parse(&purpose)?,
                    expires_at_unix: expires,
                    used,
                })
            })
            .transpose()
    }

    fn use_account_links(&mut self, account: AccountId) -> Result<(), DbError> {
        self.tx.execute(
            "UPDATE account_links SET used = 1 WHERE account_id = ?1",
            [account.0],
        )?;
        Ok(())
    }

    fn account_sessions(
        &mut self,
        account: AccountId,
        now_unix: i64,
    ) -> Result<Vec<AccountSessionRow>, DbError> {
        let mut stmt = self.tx.prepare(
            "SELECT public_id, created_at_unix, expires_at_unix FROM admin_sessions
             WHERE account_id = ?1 AND expires_at_unix > ?2 ORDER BY created_at_unix, public_id",
        )?;
        let rows = stmt.query_map([account.0, now_unix], |row| {
            Ok(AccountSessionRow {
                public_id: row.get::<_, Option<String>>(0)?.unwrap_or_default(),
                created_at_unix: row.get(1)?,
                expires_at_unix: row.get(2)?,
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    fn delete_account_session(
        &mut self,
        account: AccountId,
        public_id: &str,
    ) -> Result<bool, DbError> {
        Ok(self.tx.execute(
            "DELETE FROM admin_sessions WHERE account_id = ?1 AND public_id = ?2",
            params![account.0, public_id],
        )? > 0)
    }

    fn delete_account_sessions(&mut self, account: AccountId) -> Result<(), DbError> {
        self.tx.execute(
            "DELETE FROM admin_sessions WHERE account_id = ?1",
            [account.0],
        )?;
        Ok(())
    }

    fn insert_api_key(&mut self, key: &NewApiKey) -> Result<ApiKeyId, DbError> {
        let id: i64 = self.tx.query_row(
            "INSERT INTO api_keys (merchant_id, name, role, secret_hash, created_at_unix)
             VALUES (?1, ?2, ?3, ?4, ?5) RETURNING id",
            params![
                key.merchant_id.get(),
                key.name,
                key.role.as_str(),
                &key.secret_hash.0[..],
                key.created_at_unix
            ],
            |row| row.get(0),
        )?;
        for store in &key.stores {
            self.tx.execute(
                "INSERT OR IGNORE INTO api_key_stores (api_key_id, store_id) VALUES (?1, ?2)",
                [id, store.get()],
            )?;
        }
        Ok(ApiKeyId(id))
    }

    fn api_key_by_hash(&mut self, secret_hash: &Hash256) -> Result<Option<ApiKeyRow>, DbError> {
        Ok(self
            .tx
            .query_row(
                &format!("{KEY_COLUMNS} WHERE secret_hash = ?1"),
                [&secret_hash.0[..]],
                key_row,
            )
            .optional()?)
    }

    fn api_key(&mut self, id: ApiKeyId) -> Result<Option<ApiKeyRow>, DbError> {
        Ok(self
            .tx
            .query_row(&format!("{KEY_COLUMNS} WHERE id = ?1"), [id.0], key_row)
            .optional()?)
    }

    fn api_keys(&mut self, merchant: MerchantId) -> Result<Vec<ApiKeyRow>, DbError> {
        let mut stmt = self
            .tx
            .prepare(&format!("{KEY_COLUMNS} WHERE merchant_id = ?1 ORDER BY id"))?;
        let rows = stmt.query_map([merchant.get()], key_row)?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    fn touch_api_key(&mut self, id: ApiKeyId, now_unix: i64) -> Result<(), DbError> {
        self.tx.execute(
            "UPDATE api_keys SET last_used_at_unix = ?2 WHERE id = ?1",
            [id.0, now_unix],
        )?;
        Ok(())
    }

    fn revoke_api_key(&mut self, id: ApiKeyId, now_unix: i64) -> Result<(), DbError> {
        self.tx.execute(
            "UPDATE api_keys SET revoked_at_unix = ?2 WHERE id = ?1 AND revoked_at_unix IS NULL",
            [id.0, now_unix],
        )?;
        Ok(())
    }

    fn insert_audit(&mut self, entry: &AuditEntry) -> Result<(), DbError> {
        self.tx.execute(
            "INSERT INTO audit_log (merchant_id, at_unix, actor, action, subject, before, after)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            params![
                entry.merchant_id.map(MerchantId::get),
                entry.at_unix,
                entry.actor,
                entry.action,
                entry.subject,
                entry.before,
                entry.after
            ],
        )?;
        Ok(())
    }

    fn audit(&mut self, filter: &AuditFilter) -> Result<Vec<AuditRow>, DbError> {
        let mut stmt = self.tx.prepare(
            "SELECT id, merchant_id, at_unix, actor, action, subject, before, after
             FROM audit_log
             WHERE (?1 IS NULL OR merchant_id = ?1)
               AND (?2 IS NULL OR actor = ?2)
               AND (?3 IS NULL OR substr(action, 1, length(?3)) = ?3)
               AND (?4 IS NULL OR at_unix >= ?4)
               AND (?5 IS NULL OR at_unix < ?5)
             ORDER BY id DESC LIMIT ?6",
        )?;
        let limit = i64::try_from(filter.limit).unwrap_or(i64::MAX);
        let rows = stmt.query_map(
            params![
                filter.merchant_id.map(MerchantId::get),
                filter.actor,
                filter.action,
                filter.from_unix,
                filter.until_unix,
                limit
            ],
            |row| {
                Ok(AuditRow {
                    id: row.get(0)?,
                    entry: AuditEntry {
                        merchant_id: row.get::<_, Option<i64>>(1)?.map(merchant_of).transpose()?,
                        at_unix: row.get(2)?,
                        actor: row.get(3)?,
                        action: row.get(4)?,
                        subject: row.get(5)?,
                        before: row.get(6)?,
                        after: row.get(7)?,
                    },
                })
            },
        )?;
        Ok(rows.collect::<Result<_, _>>()?)
    }
}
