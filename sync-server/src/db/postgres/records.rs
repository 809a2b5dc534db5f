//! [`RecordsTx`] on PostgreSQL: stored records with their lines, promotion
//! uses, ledger entries and birthday bonuses, and the facts statistics
//! are computed from.

use std::collections::{BTreeMap, HashSet};

use chrono::{DateTime, NaiveDate, Utc};
use postgres::Row;
use shared::crypto::{Hash256, PublicKey};
use shared::ids::{CustomerId, MerchantId, RegisterId, Seq};
use shared::record::{RecordKind, SignedRecord};

use super::PgTx;
use super::columns::{all, hash, int, opt_int, parsed, signature};
use crate::db::{
    BirthdayBonusRow, DbError, LedgerRow, PromotionUseRow, RecordKey, RecordRow, RecordsTx,
    SaleKey, SignedRow, UnauditedRecord,
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

/// A row's key.
fn key_of(row: &RecordRow<'_>) -> RecordKey {
    RecordKey {
        register_id: row.checked.record.register_id,
        seq: row.checked.record.seq,
    }
}

/// Records as one array per column, for one `INSERT … SELECT FROM UNNEST`.
#[derive(Default)]
struct RecordColumns<'a> {
    register: Vec<i64>,
    seq: Vec<i64>,
    record_id: Vec<uuid::Uuid>,
    merchant: Vec<i64>,
    store: Vec<i64>,
    kind: Vec<&'static str>,
    customer: Vec<Option<i64>>,
    wall_time: Vec<DateTime<Utc>>,
    subtotal: Vec<i64>,
    discount: Vec<i64>,
    total: Vec<i64>,
    points_earned: Vec<i64>,
    points_redeemed: Vec<i64>,
    ruleset_version: Vec<Option<i64>>,
    hash: Vec<&'a [u8]>,
    body: Vec<&'a [u8]>,
    signature: Vec<&'a [u8]>,
    received_at: Vec<DateTime<Utc>>,
    spend: Vec<i64>,
    original: Vec<Option<uuid::Uuid>>,
    audit: Vec<i16>,
}

impl<'a> RecordColumns<'a> {
    fn with_capacity(n: usize) -> Self {
        RecordColumns {
            register: Vec::with_capacity(n),
            seq: Vec::with_capacity(n),
            record_id: Vec::with_capacity(n),
            ..RecordColumns::default()
        }
    }

    fn push(&mut self, row: &'a RecordRow<'a>) -> Result<(), DbError> {
        let checked = row.checked;
        let record = &checked.record;
        self.register.push(record.register_id.get());
        self.seq.push(record.seq.get());
        self.record_id.push(record.id);
        self.merchant.push(record.merchant_id.get());
        self.store.push(record.store_id.get());
        self.kind.push(row.kind.code());
        self.customer.push(row.customer.map(CustomerId::get));
        self.wall_time.push(record.wall_time);
        self.subtotal.push(record.subtotal.minor());
        self.discount.push(record.discount.minor());
        self.total.push(record.total.minor());
        self.points_earned.push(record.points_earned);
        self.points_redeemed.push(record.points_redeemed);
        self.ruleset_version
            .push(record.ruleset_version.map(|v| v.get()));
        self.hash.push(checked.hash.0.as_slice());
        self.body.push(&checked.bytes);
        self.signature.push(checked.signature.as_bytes().as_slice());
        self.received_at.push(row.received_at);
        self.spend.push(row.spend.minor());
        self.original.push(match &record.kind {
            RecordKind::Return { original, .. } => Some(original.id),
            RecordKind::Sale => None,
        });
        self.audit.push(i16::from(checked.verified));
        Ok(())
    }
}

/// Record lines as one array per column.
#[derive(Default)]
struct LineColumns<'a> {
    register: Vec<i64>,
    seq: Vec<i64>,
    line_no: Vec<i64>,
    sku: Vec<&'a str>,
    category: Vec<Option<&'a str>>,
    quantity_milli: Vec<i64>,
    amount: Vec<i64>,
    discount: Vec<i64>,
    total: Vec<i64>,
}

impl<'a> LineColumns<'a> {
    fn push(&mut self, record: &'a shared::record::PurchaseRecord) -> Result<(), DbError> {
        for (line_no, line) in record.lines.iter().enumerate() {
            self.register.push(record.register_id.get());
            self.seq.push(record.seq.get());
            self.line_no
                .push(i64::try_from(line_no).map_err(DbError::other)?);
            self.sku.push(line.sku.as_str());
            self.category
                .push(line.category.as_ref().map(|c| c.as_str()));
            self.quantity_milli
                .push(i64::try_from(line.quantity.milli()).map_err(DbError::other)?);
            self.amount.push(line.amount.minor());
            self.discount.push(line.discount.minor());
            self.total.push(line.total.minor());
        }
        Ok(())
    }
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

    fn insert_records(&mut self, rows: &[RecordRow<'_>]) -> Result<Vec<RecordKey>, DbError> {
        // One row per key, the first: a key repeated in `rows` would
        // otherwise bring its lines twice.
        let mut seen = HashSet::with_capacity(rows.len());
        let rows: Vec<&RecordRow<'_>> =
            rows.iter().filter(|row| seen.insert(key_of(row))).collect();
        if rows.is_empty() {
            return Ok(Vec::new());
        }
        let mut c = RecordColumns::with_capacity(rows.len());
        for row in &rows {
            c.push(row)?;
        }
        // Numbered (`records.id`) in the rows' order; a stored key does nothing.
        let written = self.query(
            "INSERT INTO records (register_id, seq, record_id, merchant_id, store_id, kind,
                 customer_id, wall_time, subtotal, discount, total, points_earned,
                 points_redeemed, ruleset_version, hash, body, signature, received_at, spend,
                 original_record_id, audit)
             SELECT register_id, seq, record_id, merchant_id, store_id, kind, customer_id,
                 wall_time, subtotal, discount, total, points_earned, points_redeemed,
                 ruleset_version, hash, body, signature, received_at, spend, original_record_id,
                 audit
             FROM UNNEST($1::BIGINT[], $2::BIGINT[], $3::UUID[], $4::BIGINT[], $5::BIGINT[],
                 $6::TEXT[], $7::BIGINT[], $8::TIMESTAMPTZ[], $9::BIGINT[], $10::BIGINT[],
                 $11::BIGINT[], $12::BIGINT[], $13::BIGINT[], $14::BIGINT[], $15::BYTEA[],
                 $16::BYTEA[], $17::BYTEA[], $18::TIMESTAMPTZ[], $19::BIGINT[], $20::UUID[],
                 $21::SMALLINT[])
                 WITH ORDINALITY AS u (register_id, seq, record_id, merchant_id, store_id, kind,
                     customer_id, wall_time, subtotal, discount, total, points_earned,
                     points_redeemed, ruleset_version, hash, body, signature, received_at, spend,
                     original_record_id, audit, n)
             ORDER BY n
             ON CONFLICT (register_id, seq) DO NOTHING
             RETURNING register_id, seq",
            &[
                &c.register,
                &c.seq,
                &c.record_id,
                &c.merchant,
                &c.store,
                &c.kind,
                &c.customer,
                &c.wall_time,
                &c.subtotal,
                &c.discount,
                &c.total,
                &c.points_earned,
                &c.points_redeemed,
                &c.ruleset_version,
                &c.hash,
                &c.body,
                &c.signature,
                &c.received_at,
                &c.spend,
                &c.original,
                &c.audit,
            ],
        )?;
        let written: HashSet<RecordKey> = written
            .iter()
            .map(|row| {
                Ok(RecordKey {
                    register_id: int(row, 0)?,
                    seq: int(row, 1)?,
                })
            })
            .collect::<Result<_, DbError>>()?;
        let mut lines = LineColumns::default();
        for row in rows.iter().filter(|row| written.contains(&key_of(row))) {
            lines.push(&row.checked.record)?;
        }
        if !lines.register.is_empty() {
            self.execute(
                "INSERT INTO record_lines (register_id, seq, line_no, sku, category,
                     quantity_milli, amount, discount, total)
                 SELECT * FROM UNNEST($1::BIGINT[], $2::BIGINT[], $3::BIGINT[], $4::TEXT[],
                     $5::TEXT[], $6::BIGINT[], $7::BIGINT[], $8::BIGINT[], $9::BIGINT[])",
                &[
                    &lines.register,
                    &lines.seq,
                    &lines.line_no,
                    &lines.sku,
                    &lines.category,
                    &lines.quantity_milli,
                    &lines.amount,
                    &lines.discount,
                    &lines.total,
                ],
            )?;
        }
        Ok(rows
            .iter()
            .map(|row| key_of(row))
            .filter(|key| written.contains(key))
            .collect())
    }

    fn insert_promotion_uses(
        &mut self,
        uses: &[(RecordKey, PromotionUseRow)],
    ) -> Result<(), DbError> {
        if uses.is_empty() {
            return Ok(());
        }
        let (register, seq): (Vec<i64>, Vec<i64>) = uses
            .iter()
            .map(|(key, _)| (key.register_id.get(), key.seq.get()))
            .unzip();
        let promotion: Vec<&str> = uses.iter().map(|(_, u)| u.promotion_id.as_str()).collect();
        let discount: Vec<i64> = uses.iter().map(|(_, u)| u.discount.minor()).collect();
        let funded_by: Vec<Option<&str>> =
            uses.iter().map(|(_, u)| u.funded_by.as_deref()).collect();
        let count: Vec<i64> = uses.iter().map(|(_, u)| u.uses).collect();
        self.execute(
            "INSERT INTO promotion_uses (register_id, seq, promotion_id, discount, funded_by,
                 uses)
             SELECT * FROM UNNEST($1::BIGINT[], $2::BIGINT[], $3::TEXT[], $4::BIGINT[],
                 $5::TEXT[], $6::BIGINT[])",
            &[&register, &seq, &promotion, &discount, &funded_by, &count],
        )?;
        Ok(())
    }

    fn insert_ledger_entries(&mut self, entries: &[(RecordKey, LedgerRow)]) -> Result<(), DbError> {
        if entries.is_empty() {
            return Ok(());
        }
        let (register, seq): (Vec<i64>, Vec<i64>) = entries
            .iter()
            .map(|(key, _)| (key.register_id.get(), key.seq.get()))
            .unzip();
        let customer: Vec<i64> = entries.iter().map(|(_, e)| e.customer_id.get()).collect();
        let points: Vec<i64> = entries
            .iter()
            .map(|(_, e)| e.earned.saturating_sub(e.redeemed))
            .collect();
        let earned: Vec<i64> = entries.iter().map(|(_, e)| e.earned).collect();
        let redeemed: Vec<i64> = entries.iter().map(|(_, e)| e.redeemed).collect();
        let (original_register, original_seq): (Vec<Option<i64>>, Vec<Option<i64>>) = entries
            .iter()
            .map(|(_, e)| {
                (
                    e.original.map(|o| o.register_id.get()),
                    e.original.map(|o| o.seq.get()),
                )
            })
            .unzip();
        self.execute(
            "INSERT INTO ledger (register_id, seq, customer_id, points, earned, redeemed,
                 original_register_id, original_seq)
             SELECT * FROM UNNEST($1::BIGINT[], $2::BIGINT[], $3::BIGINT[], $4::BIGINT[],
                 $5::BIGINT[], $6::BIGINT[], $7::BIGINT[], $8::BIGINT[])",
            &[
                &register,
                &seq,
                &customer,
                &points,
                &earned,
                &redeemed,
                &original_register,
                &original_seq,
            ],
        )?;
        Ok(())
    }

    fn insert_birthday_bonuses(&mut self, bonuses: &[BirthdayBonusRow]) -> Result<(), DbError> {
        if bonuses.is_empty() {
            return Ok(());
        }
        let register: Vec<i64> = bonuses.iter().map(|b| b.record.register_id.get()).collect();
        let seq: Vec<i64> = bonuses.iter().map(|b| b.record.seq.get()).collect();
        let customer: Vec<i64> = bonuses.iter().map(|b| b.customer_id.get()).collect();
        let date: Vec<NaiveDate> = bonuses.iter().map(|b| b.local_date).collect();
        self.execute(
            "INSERT INTO birthday_bonuses (register_id, seq, customer_id, local_date)
             SELECT * FROM UNNEST($1::BIGINT[], $2::BIGINT[], $3::BIGINT[], $4::DATE[])",
            &[&register, &seq, &customer, &date],
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
