//! [`LeasesTx`] on SQLite. One writer: a write transaction's reads hold
//! until it commits.

use rusqlite::{Row, params};
use shared::ids::{MerchantId, PromotionId, RegisterId};

use super::SqliteTx;
use super::columns::{int, text, time, time_text};
use crate::db::{
    DbError, LeaseAccount, LeasePool, LeaseRow, LeasesTx, NewLease, RegisterSpend, UseSum,
};

/// What a lease's register gave of its promotion after its `through_seq`,
/// as two columns over `quota_leases l`.
const CONSUMED: &str = "
    (SELECT COALESCE(SUM(u.uses), 0) FROM promotion_uses u
     WHERE u.register_id = l.register_id AND u.seq > l.through_seq
       AND u.promotion_id = l.promotion_id),
    (SELECT COALESCE(SUM(u.discount), 0) FROM promotion_uses u
     WHERE u.register_id = l.register_id AND u.seq > l.through_seq
       AND u.promotion_id = l.promotion_id)";

/// The columns of [`account`] from `at`: the lease's, then its consumption.
const LEASE_COLUMNS: &str = "l.id, l.register_id, l.promotion_id, l.through_seq, l.uses, l.budget,
     l.issued_at, l.expires_at";

fn account(row: &Row<'_>, at: usize) -> rusqlite::Result<LeaseAccount> {
    Ok(LeaseAccount {
        lease: LeaseRow {
            id: row.get(at)?,
            register_id: int(row, at + 1)?,
            promotion_id: text(row, at + 2)?,
            through_seq: row.get(at + 3)?,
            uses: row.get(at + 4)?,
            budget: row.get(at + 5)?,
            issued_at: time(row, at + 6)?,
            expires_at: time(row, at + 7)?,
        },
        consumed: UseSum {
            uses: row.get(at + 8)?,
            spent: row.get(at + 9)?,
        },
    })
}

impl LeasesTx for SqliteTx<'_> {
    fn lock_register(&mut self, _register: RegisterId) -> Result<(), DbError> {
        // One writer: the write transaction holds everything it read.
        Ok(())
    }

    fn lease_pool(
        &mut self,
        merchant: MerchantId,
        promotion: &PromotionId,
    ) -> Result<LeasePool, DbError> {
        let counted = self
            .tx
            .prepare_cached(
                "SELECT COALESCE(SUM(u.uses), 0), COALESCE(SUM(u.discount), 0)
                 FROM promotion_uses u
                 JOIN records r ON r.register_id = u.register_id AND r.seq = u.seq
                 WHERE r.merchant_id = ?1 AND u.promotion_id = ?2",
            )?
            .query_row(params![merchant.get(), promotion.as_str()], |row| {
                Ok(UseSum {
                    uses: row.get(0)?,
                    spent: row.get(1)?,
                })
            })?;
        let leases = self
            .tx
            .prepare_cached(&format!(
                "SELECT {LEASE_COLUMNS}, {CONSUMED} FROM quota_leases l
                 WHERE l.merchant_id = ?1 AND l.promotion_id = ?2 ORDER BY l.register_id"
            ))?
            .query_map(params![merchant.get(), promotion.as_str()], |row| {
                account(row, 0)
            })?
            .collect::<Result<_, _>>()?;
        Ok(LeasePool { counted, leases })
    }

    fn replace_lease(
        &mut self,
        merchant: MerchantId,
        lease: &NewLease,
    ) -> Result<LeaseRow, DbError> {
        self.tx
            .prepare_cached(
                "DELETE FROM quota_leases WHERE register_id = ?1 AND promotion_id = ?2",
            )?
            .execute(params![
                lease.register_id.get(),
                lease.promotion_id.as_str()
            ])?;
        self.tx
            .prepare_cached(
                "INSERT INTO quota_leases (merchant_id, register_id, promotion_id, through_seq,
                     uses, budget, issued_at, expires_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
            )?
            .execute(params![
                merchant.get(),
                lease.register_id.get(),
                lease.promotion_id.as_str(),
                lease.through_seq,
                lease.uses,
                lease.budget,
                time_text(lease.issued_at),
                time_text(lease.expires_at),
            ])?;
        Ok(LeaseRow {
            id: self.tx.last_insert_rowid(),
            register_id: lease.register_id,
            promotion_id: lease.promotion_id.clone(),
            through_seq: lease.through_seq,
            uses: lease.uses,
            budget: lease.budget,
            issued_at: lease.issued_at,
            expires_at: lease.expires_at,
        })
    }

    fn merchant_leases(&mut self, merchant: MerchantId) -> Result<Vec<LeaseAccount>, DbError> {
        Ok(self
            .tx
            .prepare_cached(&format!(
                "SELECT {LEASE_COLUMNS}, {CONSUMED} FROM quota_leases l
                 WHERE l.merchant_id = ?1 ORDER BY l.promotion_id, l.register_id"
            ))?
            .query_map([merchant.get()], |row| account(row, 0))?
            .collect::<Result<_, _>>()?)
    }

    fn spend_by_register(&mut self, merchant: MerchantId) -> Result<Vec<RegisterSpend>, DbError> {
        Ok(self
            .tx
            .prepare_cached(
                "SELECT u.register_id, u.promotion_id, SUM(u.uses), SUM(u.discount)
                 FROM promotion_uses u
                 JOIN records r ON r.register_id = u.register_id AND r.seq = u.seq
                 WHERE r.merchant_id = ?1
                 GROUP BY u.promotion_id, u.register_id
                 ORDER BY u.promotion_id, u.register_id",
            )?
            .query_map([merchant.get()], |row| {
                Ok(RegisterSpend {
                    register_id: int(row, 0)?,
                    promotion_id: text(row, 1)?,
                    spent: UseSum {
                        uses: row.get(2)?,
                        spent: row.get(3)?,
                    },
                })
            })?
            .collect::<Result<_, _>>()?)
    }
}
