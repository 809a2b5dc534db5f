//! [`RecordsTx`] on SQLite: stored records with their lines, promotion
//! uses, ledger entries and birthday bonuses, and the facts statistics
//! are computed from.

use std::collections::{BTreeMap, HashSet};

use rusqlite::{OptionalExtension as _, Row, params};
use shared::crypto::{Hash256, PublicKey};
use shared::ids::{CustomerId, MerchantId, RegisterId, Seq};
use shared::record::SignedRecord;

use super::SqliteTx;
use super::columns::{hash, int, opt_int, parsed, signature, time_text};
use crate::db::{
    BirthdayBonusRow, DbError, LedgerRow, PromotionUseRow, RecordKey, RecordRow, RecordsTx,
    SaleKey, SignedRow, UnauditedRecord,
};
use crate::ingest::StoredHead;

/// The columns [`signed_row`] reads, over `records r JOIN registers g`.
const SIGNED_COLUMNS: &str =
    "SELECT r.register_id, r.seq, r.body, r.signature, g.public_key, r.record_id
     FROM records r JOIN registers g ON g.id = r.register_id";

fn signed_row(row: &Row<'_>) -> rusqlite::Result<(SignedRow, uuid::Uuid)> {
    let body: Vec<u8> = row.get(2)?;
    Ok((
        SignedRow {
            record: SignedRecord {
                register_id: int(row, 0)?,
                seq: int(row, 1)?,
                body: shared::crypto::to_base64(&body),
                signature: signature(row, 3)?,
            },
            body,
            public_key: parsed(row, 4, PublicKey::from_base64)?,
        },
        parsed(row, 5, uuid::Uuid::parse_str)?,
    ))
}

impl RecordsTx for SqliteTx<'_> {
    fn head(&mut self, register: RegisterId) -> Result<Option<StoredHead>, DbError> {
        Ok(self
            .tx
            .prepare_cached(
                "SELECT seq, hash FROM records WHERE register_id = ?1 ORDER BY seq DESC LIMIT 1",
            )?
            .query_row([register.get()], |row| {
                Ok(StoredHead {
                    seq: int(row, 0)?,
                    hash: hash(row, 1)?,
                })
            })
            .optional()?)
    }

    fn merchant_heads(&mut self, merchant: MerchantId) -> Result<Vec<(RegisterId, Seq)>, DbError> {
        let mut stmt = self.tx.prepare_cached(
            "SELECT r.id, (SELECT MAX(seq) FROM records WHERE register_id = r.id)
             FROM registers r JOIN stores s ON s.id = r.store_id
             WHERE s.merchant_id = ?1",
        )?;
        let rows = stmt.query_map([merchant.get()], |row| {
            Ok((int(row, 0)?, opt_int::<Seq>(row, 1)?))
        })?;
        let mut heads = Vec::new();
        for row in rows {
            if let (id, Some(seq)) = row? {
                heads.push((id, seq));
            }
        }
        Ok(heads)
    }

    fn stored_hashes(
        &mut self,
        register: RegisterId,
        first: Seq,
        last: Seq,
    ) -> Result<BTreeMap<Seq, Hash256>, DbError> {
        let mut stmt = self.tx.prepare_cached(
            "SELECT seq, hash FROM records WHERE register_id = ?1 AND seq BETWEEN ?2 AND ?3",
        )?;
        let rows = stmt.query_map(params![register.get(), first.get(), last.get()], |row| {
            Ok((int(row, 0)?, hash(row, 1)?))
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    fn merchant_customers(
        &mut self,
        merchant: MerchantId,
        customers: &[CustomerId],
    ) -> Result<HashSet<CustomerId>, DbError> {
        let mut stmt = self
            .tx
            .prepare_cached("SELECT 1 FROM customers WHERE id = ?1 AND merchant_id = ?2")?;
        let mut known = HashSet::new();
        for &customer in customers {
            if stmt.exists(params![customer.get(), merchant.get()])? {
                known.insert(customer);
            }
        }
        Ok(known)
    }

    fn insert_records(&mut self, rows: &[RecordRow<'_>]) -> Result<Vec<RecordKey>, DbError> {
        let mut record_stmt = self.tx.prepare_cached(
            "INSERT INTO records (register_id, seq, record_id, merchant_id, store_id, kind,
                 customer_id, wall_time, subtotal, discount, total, points_earned,
                 points_redeemed, ruleset_version, hash, body, signature, received_at, spend,
                 audit)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16,
                 ?17, ?18, ?19, ?20)
             ON CONFLICT (register_id, seq) DO NOTHING",
        )?;
        let mut line_stmt = self.tx.prepare_cached(
            "INSERT INTO record_lines (register_id, seq, line_no, sku, category, quantity_milli,
                 amount, discount, total)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
        )?;
        let mut written = Vec::with_capacity(rows.len());
        for row in rows {
            let record = &row.checked.record;
            let (register, seq) = (record.register_id.get(), record.seq.get());
            let inserted = record_stmt.execute(params![
                register,
                seq,
                record.id.to_string(),
                record.merchant_id.get(),
                record.store_id.get(),
                row.kind.code(),
                row.customer.map(CustomerId::get),
                time_text(record.wall_time),
                record.subtotal.minor(),
                record.discount.minor(),
                record.total.minor(),
                record.points_earned,
                record.points_redeemed,
                record.ruleset_version.map(|v| v.get()),
                row.checked.hash.0.as_slice(),
                row.checked.bytes,
                row.checked.signature.as_bytes().as_slice(),
                time_text(row.received_at),
                row.spend.minor(),
                i64::from(row.checked.verified),
            ])?;
            if inserted == 0 {
                continue;
            }
            for (line_no, line) in record.lines.iter().enumerate() {
                line_stmt.execute(params![
                    register,
                    seq,
                    i64::try_from(line_no).map_err(DbError::other)?,
                    line.sku.as_str(),
                    line.category.as_ref().map(|c| c.as_str()),
                    i64::try_from(line.quantity.milli()).map_err(DbError::other)?,
                    line.amount.minor(),
                    line.discount.minor(),
                    line.total.minor()
                ])?;
            }
            written.push(RecordKey {
                register_id: record.register_id,
                seq: record.seq,
            });
        }
        Ok(written)
    }

    fn insert_promotion_uses(
        &mut self,
        uses: &[(RecordKey, PromotionUseRow)],
    ) -> Result<(), DbError> {
        let mut stmt = self.tx.prepare_cached(
            "INSERT INTO promotion_uses (register_id, seq, promotion_id, discount, funded_by, uses)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        )?;
        for (record, u) in uses {
            stmt.execute(params![
                record.register_id.get(),
                record.seq.get(),
                u.promotion_id.as_str(),
                u.discount.minor(),
                u.funded_by,
                u.uses
            ])?;
        }
        Ok(())
    }

    fn insert_ledger_entries(&mut self, entries: &[(RecordKey, LedgerRow)]) -> Result<(), DbError> {
        let mut stmt = self.tx.prepare_cached(
            "INSERT INTO ledger (register_id, seq, customer_id, points, earned, redeemed,
                 original_register_id, original_seq)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
        )?;
        for (record, entry) in entries {
            stmt.execute(params![
                record.register_id.get(),
                record.seq.get(),
                entry.customer_id.get(),
                entry.earned.saturating_sub(entry.redeemed),
                entry.earned,
                entry.redeemed,
                entry.original.map(|o| o.register_id.get()),
                entry.original.map(|o| o.seq.get()),
            ])?;
        }
        Ok(())
    }

    fn insert_birthday_bonuses(&mut self, bonuses: &[BirthdayBonusRow]) -> Result<(), DbError> {
        let mut stmt = self.tx.prepare_cached(
            "INSERT INTO birthday_bonuses (register_id, seq, customer_id, local_date)
             VALUES (?1, ?2, ?3, ?4)",
        )?;
        for bonus in bonuses {
            stmt.execute(params![
                bonus.record.register_id.get(),
                bonus.record.seq.get(),
                bonus.customer_id.get(),
                bonus.local_date.to_string()
            ])?;
        }
        Ok(())
    }

    fn sale(
        &mut self,
        merchant: MerchantId,
        key: SaleKey,
    ) -> Result<Option<(SignedRow, uuid::Uuid)>, DbError> {
        Ok(match key {
            SaleKey::Seq(register, seq) => self
                .tx
                .prepare_cached(&format!(
                    "{SIGNED_COLUMNS} WHERE r.merchant_id = ?1 AND r.kind = 'sale'
                       AND r.register_id = ?2 AND r.seq = ?3"
                ))?
                .query_row(
                    params![merchant.get(), register.get(), seq.get()],
                    signed_row,
                )
                .optional()?,
            SaleKey::Record(id) => self
                .tx
                .prepare_cached(&format!(
                    "{SIGNED_COLUMNS} WHERE r.merchant_id = ?1 AND r.kind = 'sale'
                       AND r.record_id = ?2"
                ))?
                .query_row(params![merchant.get(), id.to_string()], signed_row)
                .optional()?,
        })
    }

    fn returns_of(
        &mut self,
        merchant: MerchantId,
        sale: uuid::Uuid,
    ) -> Result<Vec<SignedRow>, DbError> {
        let mut stmt = self.tx.prepare_cached(&format!(
            "{SIGNED_COLUMNS} WHERE r.original_record_id = ?1 AND r.merchant_id = ?2
             ORDER BY r.register_id, r.seq"
        ))?;
        let rows = stmt.query_map(params![sale.to_string(), merchant.get()], signed_row)?;
        Ok(rows
            .map(|r| r.map(|(row, _)| row))
            .collect::<Result<_, _>>()?)
    }

    fn unaudited(&mut self, limit: usize) -> Result<Vec<UnauditedRecord>, DbError> {
        let mut stmt = self.tx.prepare_cached(
            "SELECT r.register_id, r.seq, r.body, r.signature, g.public_key
             FROM records r JOIN registers g ON g.id = r.register_id
             WHERE r.audit = 0 ORDER BY r.id LIMIT ?1",
        )?;
        let rows = stmt.query_map([i64::try_from(limit).unwrap_or(i64::MAX)], |row| {
            Ok(UnauditedRecord {
                key: RecordKey {
                    register_id: int(row, 0)?,
                    seq: int(row, 1)?,
                },
                body: row.get(2)?,
                signature: signature(row, 3)?,
                public_key: parsed(row, 4, PublicKey::from_base64)?,
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    fn set_audited(&mut self, record: RecordKey, verified: bool) -> Result<(), DbError> {
        self.tx
            .prepare_cached("UPDATE records SET audit = ?3 WHERE register_id = ?1 AND seq = ?2")?
            .execute(params![
                record.register_id.get(),
                record.seq.get(),
                if verified { 1 } else { -1 }
            ])?;
        Ok(())
    }

    fn audit_backlog(&mut self) -> Result<u64, DbError> {
        let n: i64 = self
            .tx
            .prepare_cached("SELECT COUNT(*) FROM records WHERE audit = 0")?
            .query_row([], |row| row.get(0))?;
        Ok(u64::try_from(n).unwrap_or(0))
    }
}
