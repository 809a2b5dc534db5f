//! [`RecordsTx`] on PostgreSQL: stored records with their lines, promotion
//! uses, ledger entries and birthday bonuses, and the facts statistics
//! are computed from.

use std::collections::{BTreeMap, HashSet};

use chrono::NaiveDate;
use postgres::Row;
use shared::crypto::{Hash256, PublicKey};
use shared::ids::{CustomerId, MerchantId, RegisterId, Seq};
use shared::record::{RecordKind, SignedRecord};

use super::PgTx;
use super::columns::{all, hash, int, opt_int, parsed, signature};
use crate::db::{
    DbError, LedgerRow, PromotionUseRow, RecordKey, RecordRow, RecordsTx, SaleKey, SignedRow,
    UnauditedRecord,
};
use crate::ingest::StoredHead;

/// The columns [`signed_row`] reads, over `records r JOIN registers g`.
macro_rules! signed_columns {
    () => {
        "SELECT r.register_id, r.seq, r.body, r.signature, g.public_key, r.record_id
         FROM records r JOIN registers g ON g.id = r.register_id"
    };
}

fn signed_row(row: &Row) -> Result<(SignedRow, uuid::Uuid), DbError> {
    let body: Vec<u8> = row.try_get(2)?;
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
        row.try_get(5)?,
    ))
}

impl RecordsTx for PgTx<'_, '_> {
    fn head(&mut self, register: RegisterId) -> Result<Option<StoredHead>, DbError> {
        self.query_opt(
            "SELECT seq, hash FROM records WHERE register_id = $1 ORDER BY seq DESC LIMIT 1",
            &[&register.get()],
        )?
        .map(|row| {
            Ok(StoredHead {
                seq: int(&row, 0)?,
                hash: hash(&row, 1)?,
            })
        })
        .transpose()
    }

    fn merchant_heads(&mut self, merchant: MerchantId) -> Result<Vec<(RegisterId, Seq)>, DbError> {
        let rows = self.query(
            "SELECT r.id, (SELECT MAX(seq) FROM records WHERE register_id = r.id)
             FROM registers r JOIN stores s ON s.id = r.store_id
             WHERE s.merchant_id = $1",
            &[&merchant.get()],
        )?;
        let mut heads = Vec::with_capacity(rows.len());
        for row in &rows {
            if let Some(seq) = opt_int::<Seq>(row, 1)? {
                heads.push((int(row, 0)?, seq));
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
        let rows = self.query(
            "SELECT seq, hash FROM records WHERE register_id = $1 AND seq BETWEEN $2 AND $3",
            &[&register.get(), &first.get(), &last.get()],
        )?;
        rows.iter()
            .map(|row| Ok((int(row, 0)?, hash(row, 1)?)))
            .collect()
    }

    fn merchant_customers(
        &mut self,
        merchant: MerchantId,
        customers: &[CustomerId],
    ) -> Result<HashSet<CustomerId>, DbError> {
        let ids: Vec<i64> = customers.iter().map(|c| c.get()).collect();
        let rows = self.query(
            "SELECT id FROM customers WHERE id = ANY($1) AND merchant_id = $2",
            &[&ids, &merchant.get()],
        )?;
        rows.iter().map(|row| int(row, 0)).collect()
    }

    fn insert_record(&mut self, row: &RecordRow<'_>) -> Result<(), DbError> {
        let record = &row.checked.record;
        let (register, seq) = (record.register_id.get(), record.seq.get());
        let original = match &record.kind {
            RecordKind::Return { original, .. } => Some(original.id),
            RecordKind::Sale => None,
        };
        self.execute(
            "INSERT INTO records (register_id, seq, record_id, merchant_id, store_id, kind,
                 customer_id, wall_time, subtotal, discount, total, points_earned,
                 points_redeemed, ruleset_version, hash, body, signature, received_at, spend,
                 original_record_id, audit)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16,
                 $17, $18, $19, $20, $21)",
            &[
                &register,
                &seq,
                &record.id,
                &record.merchant_id.get(),
                &record.store_id.get(),
                &row.kind.code(),
                &row.customer.map(CustomerId::get),
                &record.wall_time,
                &record.subtotal.minor(),
                &record.discount.minor(),
                &record.total.minor(),
                &record.points_earned,
                &record.points_redeemed,
                &record.ruleset_version.map(|v| v.get()),
                &row.checked.hash.0.as_slice(),
                &row.checked.bytes,
                &row.checked.signature.as_bytes().as_slice(),
                &row.received_at,
                &row.spend.minor(),
                &original,
                &i16::from(row.checked.verified),
            ],
        )?;
        for (line_no, line) in record.lines.iter().enumerate() {
            self.execute(
                "INSERT INTO record_lines (register_id, seq, line_no, sku, category,
                     quantity_milli, amount, discount, total)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
                &[
                    &register,
                    &seq,
                    &i64::try_from(line_no).map_err(DbError::other)?,
                    &line.sku.as_str(),
                    &line.category.as_ref().map(|c| c.as_str()),
                    &i64::try_from(line.quantity.milli()).map_err(DbError::other)?,
                    &line.amount.minor(),
                    &line.discount.minor(),
                    &line.total.minor(),
                ],
            )?;
        }
        Ok(())
    }

    fn insert_promotion_uses(
        &mut self,
        record: RecordKey,
        uses: &[PromotionUseRow],
    ) -> Result<(), DbError> {
        for u in uses {
            self.execute(
                "INSERT INTO promotion_uses (register_id, seq, promotion_id, discount, funded_by,
                     uses)
                 VALUES ($1, $2, $3, $4, $5, $6)",
                &[
                    &record.register_id.get(),
                    &record.seq.get(),
                    &u.promotion_id.as_str(),
                    &u.discount.minor(),
                    &u.funded_by,
                    &u.uses,
                ],
            )?;
        }
        Ok(())
    }

    fn insert_ledger_entry(&mut self, record: RecordKey, entry: &LedgerRow) -> Result<(), DbError> {
        self.execute(
            "INSERT INTO ledger (register_id, seq, customer_id, points, earned, redeemed,
                 original_register_id, original_seq)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
            &[
                &record.register_id.get(),
                &record.seq.get(),
                &entry.customer_id.get(),
                &entry.earned.saturating_sub(entry.redeemed),
                &entry.earned,
                &entry.redeemed,
                &entry.original.map(|o| o.register_id.get()),
                &entry.original.map(|o| o.seq.get()),
            ],
        )?;
        Ok(())
    }

    fn insert_birthday_bonus(
        &mut self,
        record: RecordKey,
        customer: CustomerId,
        local_date: NaiveDate,
    ) -> Result<(), DbError> {
        self.execute(
            "INSERT INTO birthday_bonuses (register_id, seq, customer_id, local_date)
             VALUES ($1, $2, $3, $4)",
            &[
                &record.register_id.get(),
                &record.seq.get(),
                &customer.get(),
                &local_date,
            ],
        )?;
        Ok(())
    }

    fn sale(
        &mut self,
        merchant: MerchantId,
        key: SaleKey,
    ) -> Result<Option<(SignedRow, uuid::Uuid)>, DbError> {
        let row = match key {
            SaleKey::Seq(register, seq) => self.query_opt(
                concat!(
                    signed_columns!(),
                    " WHERE r.merchant_id = $1 AND r.kind = 'sale'
                      AND r.register_id = $2 AND r.seq = $3"
                ),
                &[&merchant.get(), &register.get(), &seq.get()],
            )?,
            SaleKey::Record(id) => self.query_opt(
                concat!(
                    signed_columns!(),
                    " WHERE r.merchant_id = $1 AND r.kind = 'sale' AND r.record_id = $2"
                ),
                &[&merchant.get(), &id],
            )?,
        };
        row.map(|row| signed_row(&row)).transpose()
    }

    fn returns_of(
        &mut self,
        merchant: MerchantId,
        sale: uuid::Uuid,
    ) -> Result<Vec<SignedRow>, DbError> {
        let rows = self.query(
            concat!(
                signed_columns!(),
                " WHERE r.original_record_id = $1 AND r.merchant_id = $2
                  ORDER BY r.register_id, r.seq"
            ),
            &[&sale, &merchant.get()],
        )?;
        all(&rows, |row| signed_row(row).map(|(row, _)| row))
    }

    fn unaudited(&mut self, limit: usize) -> Result<Vec<UnauditedRecord>, DbError> {
        let rows = self.query(
            "SELECT r.register_id, r.seq, r.body, r.signature, g.public_key
             FROM records r JOIN registers g ON g.id = r.register_id
             WHERE r.audit = 0 ORDER BY r.id LIMIT $1",
            &[&i64::try_from(limit).unwrap_or(i64::MAX)],
        )?;
        all(&rows, |row| {
            Ok(UnauditedRecord {
                key: RecordKey {
                    register_id: int(row, 0)?,
                    seq: int(row, 1)?,
                },
                body: row.try_get(2)?,
                signature: signature(row, 3)?,
                public_key: parsed(row, 4, PublicKey::from_base64)?,
            })
        })
    }

    fn set_audited(&mut self, record: RecordKey, verified: bool) -> Result<(), DbError> {
        self.execute(
            "UPDATE records SET audit = $3 WHERE register_id = $1 AND seq = $2",
            &[
                &record.register_id.get(),
                &record.seq.get(),
                &if verified { 1i16 } else { -1i16 },
            ],
        )?;
        Ok(())
    }

    fn audit_backlog(&mut self) -> Result<u64, DbError> {
        let row = self.query_one("SELECT COUNT(*) FROM records WHERE audit = 0", &[])?;
        let n: i64 = row.try_get(0)?;
        Ok(u64::try_from(n).unwrap_or(0))
    }
}
