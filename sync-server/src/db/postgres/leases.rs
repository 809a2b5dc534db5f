//! [`LeasesTx`] on PostgreSQL. Many writers: a pool is read in one
//! statement (one snapshot), so a record stored by another connection
//! meanwhile is counted both in the merchant's sums and in its lease's
//! consumption, or in neither.

use postgres::Row;
use shared::ids::{MerchantId, PromotionId, RegisterId};

use super::PgTx;
use super::columns::{int, text};
use crate::db::{
    Access, DbError, LeaseAccount, LeasePool, LeaseRow, LeasesTx, NewLease, RegisterSpend, UseSum,
};

/// What a lease's register gave of its promotion after its `through_seq`,
/// as two columns over `quota_leases l`.
const CONSUMED: &str = "
    (SELECT COALESCE(SUM(u.uses), 0)::BIGINT FROM promotion_uses u
     WHERE u.register_id = l.register_id AND u.seq > l.through_seq
       AND u.promotion_id = l.promotion_id),
    (SELECT COALESCE(SUM(u.discount), 0)::BIGINT FROM promotion_uses u
     WHERE u.register_id = l.register_id AND u.seq > l.through_seq
       AND u.promotion_id = l.promotion_id)";

/// The lease's columns, read by [`account`].
const LEASE_COLUMNS: &str = "l.id, l.register_id, l.promotion_id, l.through_seq, l.uses, l.budget,
     l.issued_at, l.expires_at";

fn account(row: &Row, at: usize) -> Result<LeaseAccount, DbError> {
    Ok(LeaseAccount {
        lease: LeaseRow {
            id: row.try_get(at)?,
            register_id: int(row, at + 1)?,
            promotion_id: text(row, at + 2)?,
            through_seq: row.try_get(at + 3)?,
            uses: row.try_get(at + 4)?,
            budget: row.try_get(at + 5)?,
            issued_at: row.try_get(at + 6)?,
            expires_at: row.try_get(at + 7)?,
        },
        consumed: UseSum {
            uses: row.try_get(at + 8)?,
            spent: row.try_get(at + 9)?,
        },
    })
}

impl LeasesTx for PgTx<'_, '_> {
    fn lock_register(&mut self, register: RegisterId) -> Result<(), DbError> {
        let sql = match self.access {
            Access::Write => "SELECT 1 FROM registers WHERE id = $1 FOR UPDATE",
            Access::Read => "SELECT 1 FROM registers WHERE id = $1",
        };
        self.query_opt(sql, &[&register.get()])?
            .map(|_| ())
            .ok_or_else(|| DbError::NotFound(format!("register {register}")))
    }

    fn lease_pool(
        &mut self,
        merchant: MerchantId,
        promotion: &PromotionId,
    ) -> Result<LeasePool, DbError> {
        // One statement: the totals on every row, with a lease or none.
        let rows = self.query(
            &format!(
                "WITH counted AS (
                     SELECT COALESCE(SUM(u.uses), 0)::BIGINT AS uses,
                            COALESCE(SUM(u.discount), 0)::BIGINT AS spent
                     FROM promotion_uses u
                     JOIN records r ON r.register_id = u.register_id AND r.seq = u.seq
                     WHERE r.merchant_id = $1 AND u.promotion_id = $2)
                 SELECT c.uses, c.spent, l.id IS NOT NULL, {LEASE_COLUMNS}, {CONSUMED}
                 FROM counted c
                 LEFT JOIN quota_leases l ON l.merchant_id = $1 AND l.promotion_id = $2
                 ORDER BY l.register_id"
            ),
            &[&merchant.get(), &promotion.as_str()],
        )?;
        let mut pool = LeasePool::default();
        for row in &rows {
            pool.counted = UseSum {
                uses: row.try_get(0)?,
                spent: row.try_get(1)?,
            };
            if row.try_get::<_, bool>(2)? {
                pool.leases.push(account(row, 3)?);
            }
        }
        Ok(pool)
    }

    fn replace_lease(
        &mut self,
        merchant: MerchantId,
        lease: &NewLease,
    ) -> Result<LeaseRow, DbError> {
        self.execute(
            "DELETE FROM quota_leases WHERE register_id = $1 AND promotion_id = $2",
            &[&lease.register_id.get(), &lease.promotion_id.as_str()],
        )?;
        let row = self.query_one(
            "INSERT INTO quota_leases (merchant_id, register_id, promotion_id, through_seq,
                 uses, budget, issued_at, expires_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
             RETURNING id",
            &[
                &merchant.get(),
                &lease.register_id.get(),
                &lease.promotion_id.as_str(),
                &lease.through_seq,
                &lease.uses,
                &lease.budget,
                &lease.issued_at,
                &lease.expires_at,
            ],
        )?;
        Ok(LeaseRow {
            id: row.try_get(0)?,
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
        let rows = self.query(
            &format!(
                "SELECT {LEASE_COLUMNS}, {CONSUMED} FROM quota_leases l
                 WHERE l.merchant_id = $1 ORDER BY l.promotion_id, l.register_id"
            ),
            &[&merchant.get()],
        )?;
        rows.iter().map(|row| account(row, 0)).collect()
    }

    fn spend_by_register(&mut self, merchant: MerchantId) -> Result<Vec<RegisterSpend>, DbError> {
        let rows = self.query(
            "SELECT u.register_id, u.promotion_id, SUM(u.uses)::BIGINT, SUM(u.discount)::BIGINT
             FROM promotion_uses u
             JOIN records r ON r.register_id = u.register_id AND r.seq = u.seq
             WHERE r.merchant_id = $1
             GROUP BY u.promotion_id, u.register_id
             ORDER BY u.promotion_id, u.register_id",
            &[&merchant.get()],
        )?;
        rows.iter()
            .map(|row| {
                Ok(RegisterSpend {
                    register_id: int(row, 0)?,
                    promotion_id: text(row, 1)?,
                    spent: UseSum {
                        uses: row.try_get(2)?,
                        spent: row.try_get(3)?,
                    },
                })
            })
            .collect()
    }
}
