//! Primitives of stored purchase records: the chain head, the records with
//! their lines, promotion uses, ledger entries and birthday bonuses, and
//! the facts statistics are computed from. What goes into each row is
//! decided by the ingest service.

use std::collections::{BTreeMap, HashSet};

use chrono::{DateTime, NaiveDate, Utc};
use shared::crypto::{Hash256, PublicKey};
use shared::ids::{CustomerId, MerchantId, PromotionId, RegisterId, Seq};
use shared::money::Money;
use shared::record::SignedRecord;

use super::DbError;
use crate::ingest::{CheckedRecord, StoredHead};

/// Whether a stored record is a sale or a return.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CheckKind {
    /// A sale.
    Sale,
    /// A return.
    Return,
}

impl CheckKind {
    /// The stable code used in storage and on the wire.
    #[must_use]
    pub const fn code(self) -> &'static str {
        match self {
            CheckKind::Sale => "sale",
            CheckKind::Return => "return",
        }
    }

    /// Parses [`code`](Self::code).
    pub fn from_code(code: &str) -> Result<Self, String> {
        match code {
            "sale" => Ok(CheckKind::Sale),
            "return" => Ok(CheckKind::Return),
            other => Err(format!("unknown record kind {other:?}")),
        }
    }
}

/// A stored record's identity: the register and its seq there.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RecordKey {
    /// The register.
    pub register_id: RegisterId,
    /// The seq.
    pub seq: Seq,
}

/// A record to store, with what the ingest service decided about it.
#[derive(Debug, Clone, Copy)]
pub struct RecordRow<'a> {
    /// The verified record and its bytes.
    pub checked: &'a CheckedRecord,
    /// Sale or return.
    pub kind: CheckKind,
    /// The customer, when the merchant has them; a stranger is not kept.
    pub customer: Option<CustomerId>,
    /// What the record adds to the customer's spend: the total of a sale,
    /// minus the refund of a return.
    pub spend: Money,
    /// When the server received it.
    pub received_at: DateTime<Utc>,
}

/// One promotion's part of a stored record.
#[derive(Debug, Clone)]
pub struct PromotionUseRow {
    /// Which promotion.
    pub promotion_id: PromotionId,
    /// The discount it gave on the record.
    pub discount: Money,
    /// Who funds it.
    pub funded_by: Option<String>,
    /// Uses: 1 for a sale that used it, -1 for a return giving it back.
    pub uses: i64,
}

/// A customer's points entry of one record.
#[derive(Debug, Clone, Copy)]
pub struct LedgerRow {
    /// Whose points.
    pub customer_id: CustomerId,
    /// Earned (negative when a return claws back).
    pub earned: i64,
    /// Redeemed (negative when a return gives back).
    pub redeemed: i64,
    /// The sale a return is of.
    pub original: Option<RecordKey>,
}

/// The store-local date on which a record gave its customer the birthday
/// bonus.
#[derive(Debug, Clone, Copy)]
pub struct BirthdayBonusRow {
    /// The record.
    pub record: RecordKey,
    /// Whose bonus.
    pub customer_id: CustomerId,
    /// The store's local date of the sale.
    pub local_date: NaiveDate,
}

/// How a till names the sale it takes a return of.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SaleKey {
    /// By register and seq, as printed on the receipt.
    Seq(RegisterId, Seq),
    /// By record id.
    Record(uuid::Uuid),
}

/// A stored signed record with its register's key.
#[derive(Debug, Clone)]
pub struct SignedRow {
    /// The record as the register signed it.
    pub record: SignedRecord,
    /// The exact signed bytes.
    pub body: Vec<u8>,
    /// The register's key.
    pub public_key: PublicKey,
}

/// A stored record whose own signature awaits the audit (it came by the
/// chain path), with its register's key.
#[derive(Debug, Clone)]
pub struct UnauditedRecord {
    /// Which record.
    pub key: RecordKey,
    /// The exact signed bytes.
    pub body: Vec<u8>,
    /// The register's signature over them.
    pub signature: shared::crypto::Signature,
    /// The register's key.
    pub public_key: PublicKey,
}

/// Reads and writes of stored records.
pub trait RecordsTx {
    /// The register's highest stored record.
    fn head(&mut self, register: RegisterId) -> Result<Option<StoredHead>, DbError>;
    /// The highest stored seq of each of the merchant's registers that has
    /// stored any (one read for a page many registers share).
    fn merchant_heads(&mut self, merchant: MerchantId) -> Result<Vec<(RegisterId, Seq)>, DbError>;
    /// Hashes of the register's stored records from `first` through `last`.
    fn stored_hashes(
        &mut self,
        register: RegisterId,
        first: Seq,
        last: Seq,
    ) -> Result<BTreeMap<Seq, Hash256>, DbError>;
    /// Which of `customers` the merchant has.
    fn merchant_customers(
        &mut self,
        merchant: MerchantId,
        customers: &[CustomerId],
    ) -> Result<HashSet<CustomerId>, DbError>;
    /// Stores records with their lines, each once by (register, seq): a
    /// row whose key is stored already, or came earlier in `rows`, is not
    /// written (conflicts do nothing, and its lines are not written
    /// either). Returns the keys written, in `rows`' order; records are
    /// numbered (`records.id`) in that order. Whether a row that was not
    /// written is a harmless duplicate is the caller's to decide.
    fn insert_records(&mut self, rows: &[RecordRow<'_>]) -> Result<Vec<RecordKey>, DbError>;
    /// Stores one record with its lines ([`insert_records`] of one row);
    /// a record already stored at its key is a [`DbError::Conflict`].
    ///
    /// [`insert_records`]: RecordsTx::insert_records
    fn insert_record(&mut self, row: &RecordRow<'_>) -> Result<(), DbError> {
        if self.insert_records(std::slice::from_ref(row))?.is_empty() {
            let record = &row.checked.record;
            return Err(DbError::Conflict(format!(
                "record {} of register {} is stored already",
                record.seq, record.register_id
            )));
        }
        Ok(())
    }
    /// Stores the promotions' parts of stored records.
    fn insert_promotion_uses(
        &mut self,
        uses: &[(RecordKey, PromotionUseRow)],
    ) -> Result<(), DbError>;
    /// Stores stored records' points entries.
    fn insert_ledger_entries(&mut self, entries: &[(RecordKey, LedgerRow)]) -> Result<(), DbError>;
    /// Notes the store-local dates on which records gave customers the
    /// birthday bonus.
    fn insert_birthday_bonuses(&mut self, bonuses: &[BirthdayBonusRow]) -> Result<(), DbError>;
    /// A sale of the merchant, if stored, and its record id.
    fn sale(
        &mut self,
        merchant: MerchantId,
        key: SaleKey,
    ) -> Result<Option<(SignedRow, uuid::Uuid)>, DbError>;
    /// The returns stored of the sale with this record id, in key order.
    fn returns_of(
        &mut self,
        merchant: MerchantId,
        sale: uuid::Uuid,
    ) -> Result<Vec<SignedRow>, DbError>;
    /// Up to `limit` stored records whose own signature was not verified
    /// at ingest and not yet audited, in insert order.
    fn unaudited(&mut self, limit: usize) -> Result<Vec<UnauditedRecord>, DbError>;
    /// Notes that a stored record's own signature verified (`true`) or
    /// does not (`false`).
    fn set_audited(&mut self, record: RecordKey, verified: bool) -> Result<(), DbError>;
    /// How many stored records await the audit.
    fn audit_backlog(&mut self) -> Result<u64, DbError>;
}
