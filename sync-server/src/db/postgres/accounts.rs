//! [`AccountsTx`] on PostgreSQL.

use postgres::Row;
use shared::crypto::Hash256;
use shared::ids::{MerchantId, StoreId};

use super::PgTx;
use crate::access::Role;
use crate::db::{
    AccountId, AccountLinkRow, AccountRow, AccountSessionRow, AccountsTx, ApiKeyId, ApiKeyRow,
    AuditEntry, AuditFilter, AuditRow, DbError, LinkPurpose, NewAccount, NewApiKey,
};

fn role_of(row: &Row, idx: usize) -> Result<Role, DbError> {
    let s: String = row.try_get(idx)?;
    s.parse::<Role>().map_err(DbError::other)
}

fn merchant_of(id: i64) -> Result<MerchantId, DbError> {
    MerchantId::new(id).map_err(DbError::other)
}

const ACCOUNT_COLUMNS: &str = "SELECT id, merchant_id, email, role, password_hash, created_at_unix, disabled_at_unix FROM accounts ";

fn account_row(row: &Row) -> Result<AccountRow, DbError> {
    Ok(AccountRow {
        id: AccountId(row.try_get(0)?),
        merchant_id: merchant_of(row.try_get(1)?)?,
        email: row.try_get(2)?,
        role: role_of(row, 3)?,
        password_hash: row.try_get(4)?,
        stores: Vec::new(),
        created_at_unix: row.try_get(5)?,
        disabled_at_unix: row.try_get(6)?,
    })
}

const KEY_COLUMNS: &str = "SELECT id, merchant_id, name, role, created_at_unix, \
     last_used_at_unix, revoked_at_unix, \
     (SELECT string_agg(store_id::TEXT, ',') FROM api_key_stores s WHERE s.api_key_id = api_keys.id) \
     FROM api_keys ";

fn key_row(row: &Row) -> Result<ApiKeyRow, DbError> {
    Ok(ApiKeyRow {
        id: ApiKeyId(row.try_get(0)?),
        merchant_id: merchant_of(row.try_get(1)?)?,
        name: row.try_get(2)?,
        role: role_of(row, 3)?,
        created_at_unix: row.try_get(4)?,
        last_used_at_unix: row.try_get(5)?,
        revoked_at_unix: row.try_get(6)?,
        stores: crate::db::accounts::store_list(row.try_get::<_, Option<String>>(7)?.as_deref())?,
    })
}

impl PgTx<'_, '_> {
    fn with_stores(&mut self, mut account: AccountRow) -> Result<AccountRow, DbError> {
        let rows = self.query(
            "SELECT store_id FROM account_stores WHERE account_id = $1 ORDER BY store_id",
            &[&account.id.0],
        )?;
        account.stores = rows
            .iter()
            .map(|row| StoreId::new(row.try_get(0)?).map_err(DbError::other))
            .collect::<Result<_, _>>()?;
        Ok(account)
    }

    fn set_stores(&mut self, id: AccountId, stores: &[StoreId]) -> Result<(), DbError> {
        self.execute("DELETE FROM account_stores WHERE account_id = $1", &[&id.0])?;
        for store in stores {
            self.execute(
                "INSERT INTO account_stores (account_id, store_id) VALUES ($1, $2)
                 ON CONFLICT DO NOTHING",
                &[&id.0, &store.get()],
            )?;
        }
        Ok(())
    }
}

impl AccountsTx for PgTx<'_, '_> {
    fn insert_account(&mut self, account: &NewAccount) -> Result<AccountId, DbError> {
        let row = self.query_opt(
            "INSERT INTO accounts (merchant_id, email, role, created_at_unix)
             VALUES ($1, $2, $3, $4) ON CONFLICT (email) DO NOTHING RETURNING id",
            &[
                &account.merchant_id.get(),
                &account.email,
                &account.role.as_str(),
                &account.created_at_unix,
            ],
        )?;
        let Some(row) = row else {
            return Err(DbError::Conflict(format!(
                "{} already has an account",
                account.email
            )));
        };
        let id = AccountId(row.try_get(0)?);
        self.set_stores(id, &account.stores)?;
        Ok(id)
    }

    fn account(&mut self, id: AccountId) -> Result<Option<AccountRow>, DbError> {
        let found = self.query_opt(&format!("{ACCOUNT_COLUMNS} WHERE id = $1"), &[&id.0])?;
        found
            .map(|row| account_row(&row).and_then(|a| self.with_stores(a)))
            .transpose()
    }

    fn account_by_email(&mut self, email: &str) -> Result<Option<AccountRow>, DbError> {
        let found = self.query_opt(&format!("{ACCOUNT_COLUMNS} WHERE email = $1"), &[&email])?;
        found
            .map(|row| account_row(&row).and_then(|a| self.with_stores(a)))
            .transpose()
    }

    fn accounts(&mut self, merchant: MerchantId) -> Result<Vec<AccountRow>, DbError> {
        let rows = self.query(
            &format!("{ACCOUNT_COLUMNS} WHERE merchant_id = $1 ORDER BY id"),
            &[&merchant.get()],
        )?;
        rows.iter()
            .map(|row| account_row(row).and_then(|a| self.with_stores(a)))
            .collect()
    }

    fn set_password_hash(&mut self, id: AccountId, hash: &str) -> Result<(), DbError> {
        self.execute(
            "UPDATE accounts SET password_hash = $2 WHERE id = $1",
            &[&id.0, &hash],
        )?;
        Ok(())
    }

    fn disable_account(&mut self, id: AccountId, now_unix: i64) -> Result<(), DbError> {
        self.execute(
            "UPDATE accounts SET disabled_at_unix = $2 WHERE id = $1 AND disabled_at_unix IS NULL",
            &[&id.0, &now_unix],
        )?;
        Ok(())
    }

    fn set_role(&mut self, id: AccountId, role: Role, stores: &[StoreId]) -> Result<(), DbError> {
        self.execute(
            "UPDATE accounts SET role = $2 WHERE id = $1",
            &[&id.0, &role.as_str()],
        )?;
        self.set_stores(id, stores)
    }

    fn insert_account_link(
        &mut self,
        secret_hash: &Hash256,
        link: &AccountLinkRow,
    ) -> Result<(), DbError> {
        self.execute(
            "INSERT INTO account_links (secret_hash, account_id, purpose, expires_at_unix, used)
             VALUES ($1, $2, $3, $4, $5)",
            &[
                &&secret_hash.0[..],
                &link.account_id.0,
                &link.purpose.as_str(),
                &link.expires_at_unix,
                &link.used,
            ],
        )?;
        Ok(())
    }

    fn account_link(&mut self, secret_hash: &Hash256) -> Result<Option<AccountLinkRow>, DbError> {
        let found = self.query_opt(
            "SELECT account_id, purpose, expires_at_unix, used FROM account_links
             WHERE secret_hash = $1",
            &[&&secret_hash.0[..]],
        )?;
        found
            .map(|row| {
                let purpose: String = row.try_get(1)?;
                Ok(AccountLinkRow {
                    account_id: AccountId(row.try_get(0)?),
                    purpose: LinkPurpose::parse(&purpose)?,
                    expires_at_unix: row.try_get(2)?,
                    used: row.try_get(3)?,
                })
            })
            .transpose()
    }

    fn use_account_links(&mut self, account: AccountId) -> Result<(), DbError> {
        self.execute(
            "UPDATE account_links SET used = TRUE WHERE account_id = $1",
            &[&account.0],
        )?;
        Ok(())
    }

    fn account_sessions(
        &mut self,
        account: AccountId,
        now_unix: i64,
    ) -> Result<Vec<AccountSessionRow>, DbError> {
        let rows = self.query(
            "SELECT public_id, created_at_unix, expires_at_unix FROM admin_sessions
             WHERE account_id = $1 AND expires_at_unix > $2 ORDER BY created_at_unix, public_id",
            &[&account.0, &now_unix],
        )?;
        rows.iter()
            .map(|row| {
                Ok(AccountSessionRow {
                    public_id: row.try_get::<_, Option<String>>(0)?.unwrap_or_default(),
                    created_at_unix: row.try_get(1)?,
                    expires_at_unix: row.try_get(2)?,
                })
            })
            .collect()
    }

    fn delete_account_session(
        &mut self,
        account: AccountId,
        public_id: &str,
    ) -> Result<bool, DbError> {
        Ok(self.execute(
            "DELETE FROM admin_sessions WHERE account_id = $1 AND public_id = $2",
            &[&account.0, &public_id],
        )? > 0)
    }

    fn delete_account_sessions(&mut self, account: AccountId) -> Result<(), DbError> {
        self.execute(
            "DELETE FROM admin_sessions WHERE account_id = $1",
            &[&account.0],
        )?;
        Ok(())
    }

    fn insert_api_key(&mut self, key: &NewApiKey) -> Result<ApiKeyId, DbError> {
        let row = self.query_one(
            "INSERT INTO api_keys (merchant_id, name, role, secret_hash, created_at_unix)
             VALUES ($1, $2, $3, $4, $5) RETURNING id",
            &[
                &key.merchant_id.get(),
                &key.name,
                &key.role.as_str(),
                &&key.secret_hash.0[..],
                &key.created_at_unix,
            ],
        )?;
        let id: i64 = row.try_get(0)?;
        for store in &key.stores {
            self.execute(
                "INSERT INTO api_key_stores (api_key_id, store_id) VALUES ($1, $2)
                 ON CONFLICT DO NOTHING",
                &[&id, &store.get()],
            )?;
        }
        Ok(ApiKeyId(id))
    }

    fn api_key_by_hash(&mut self, secret_hash: &Hash256) -> Result<Option<ApiKeyRow>, DbError> {
        self.query_opt(
            &format!("{KEY_COLUMNS} WHERE secret_hash = $1"),
            &[&&secret_hash.0[..]],
        )?
        .map(|row| key_row(&row))
        .transpose()
    }

    fn api_key(&mut self, id: ApiKeyId) -> Result<Option<ApiKeyRow>, DbError> {
        self.query_opt(&format!("{KEY_COLUMNS} WHERE id = $1"), &[&id.0])?
            .map(|row| key_row(&row))
            .transpose()
    }

    fn api_keys(&mut self, merchant: MerchantId) -> Result<Vec<ApiKeyRow>, DbError> {
        let rows = self.query(
            &format!("{KEY_COLUMNS} WHERE merchant_id = $1 ORDER BY id"),
            &[&merchant.get()],
        )?;
        rows.iter().map(key_row).collect()
    }

    fn touch_api_key(&mut self, id: ApiKeyId, now_unix: i64) -> Result<(), DbError> {
        self.execute(
            "UPDATE api_keys SET last_used_at_unix = $2 WHERE id = $1",
            &[&id.0, &now_unix],
        )?;
        Ok(())
    }

    fn revoke_api_key(&mut self, id: ApiKeyId, now_unix: i64) -> Result<(), DbError> {
        self.execute(
            "UPDATE api_keys SET revoked_at_unix = $2 WHERE id = $1 AND revoked_at_unix IS NULL",
            &[&id.0, &now_unix],
        )?;
        Ok(())
    }

    fn insert_audit(&mut self, entry: &AuditEntry) -> Result<(), DbError> {
        self.execute(
            "INSERT INTO audit_log (merchant_id, at_unix, actor, action, subject, before, after)
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
            &[
                &entry.merchant_id.map(MerchantId::get),
                &entry.at_unix,
                &entry.actor,
                &entry.action,
                &entry.subject,
                &entry.before,
                &entry.after,
            ],
        )?;
        Ok(())
    }

    fn audit(&mut self, filter: &AuditFilter) -> Result<Vec<AuditRow>, DbError> {
        let limit = i64::try_from(filter.limit).unwrap_or(i64::MAX);
        let rows = self.query(
            "SELECT id, merchant_id, at_unix, actor, action, subject, before, after
             FROM audit_log
             WHERE ($1::BIGINT IS NULL OR merchant_id = $1)
               AND ($2::TEXT IS NULL OR actor = $2)
               AND ($3::TEXT IS NULL OR left(action, length($3)) = $3)
               AND ($4::BIGINT IS NULL OR at_unix >= $4)
               AND ($5::BIGINT IS NULL OR at_unix < $5)
             ORDER BY id DESC LIMIT $6",
            &[
                &filter.merchant_id.map(MerchantId::get),
                &filter.actor,
                &filter.action,
                &filter.from_unix,
                &filter.until_unix,
                &limit,
            ],
        )?;
        rows.iter()
            .map(|row| {
                Ok(AuditRow {
                    id: row.try_get(0)?,
                    entry: AuditEntry {
                        merchant_id: row
                            .try_get::<_, Option<i64>>(1)?
                            .map(merchant_of)
                            .transpose()?,
                        at_unix: row.try_get(2)?,
                        actor: row.try_get(3)?,
                        action: row.try_get(4)?,
                        subject: row.try_get(5)?,
                        before: row.try_get(6)?,
                        after: row.try_get(7)?,
                    },
                })
            })
            .collect()
    }
}
