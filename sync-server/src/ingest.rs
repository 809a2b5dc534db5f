//! Ingest of purchase records, the checks that need no storage and the
//! decision that does.
//!
//! [`check_batch`] runs before the transaction: the batch belongs to the
//! authenticated register, its seqs are contiguous ([`check_envelope`]),
//! every signature verifies over the exact bytes, every record names the
//! register's merchant and store and its own sums add up ([`check_records`], which the upload
//! handler runs on parts of the batch on every core at once).
//!
//! On the chain path (the batch carries `chain_signature`, see
//! [`shared::wire::FEATURE_CHAIN_INGEST`]) the records are parsed and
//! checked alike but their own signatures are not verified
//! ([`Authentication::Chain`]); [`check_chain`] then checks that each
//! record's `prev_hash` is its predecessor's hash and verifies the one
//! signature over the last record's hash. The records are stored as not
//! yet audited ([`CheckedRecord::verified`] false) and their own
//! signatures are verified by `services::audit` in the background, and
//! before a record is used as evidence (`services::sales`).
//!
//! [`place`] runs inside the writer transaction against the stored
//! head: records at or below the head must equal what is stored (else a
//! fork), the first new seq must be head + 1 (else a gap), and each new
//! record's `prev_hash` must link to its predecessor (else a broken chain).
//!
//! # Concurrent copies of one batch
//!
//! A register that times out and retries may have the same batch in flight
//! twice. Storage decides the batches of a register one after another
//! (SQLite: the single writer; a shared backend must lock the register's
//! row), so the first copy stores the records and the second finds them all
//! at or below the head with equal bytes: a duplicate. Both are answered
//! 200 with the same acknowledgement, and each record is stored once.
//! Different batches racing (seqs 4–6 overtaking 1–3) get the usual
//! `seq_gap` 409 with `expected_seq`, from which the register rewinds.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use shared::crypto::{Hash256, Signature};
use shared::ids::Seq;
use shared::money::Currency;
use shared::record::{
    ChainError, PurchaseRecord, RECORD_FORMAT, RecordError, SignedRecord, SumError,
    verify_record_bytes,
};

use crate::db::RegisterCredentials;
use crate::drift::ClockDrift;

/// A record whose signature verified and whose envelope fits the register.
#[derive(Debug, Clone)]
pub struct CheckedRecord {
    /// The parsed record.
    pub record: PurchaseRecord,
    /// The exact signed bytes.
    pub bytes: Vec<u8>,
    /// SHA-256 of the bytes.
    pub hash: Hash256,
    /// The register's signature over the bytes.
    pub signature: Signature,
    /// Whether that signature was verified at ingest (the per-record
    /// path); on the chain path the chain authenticated the record and its
    /// own signature awaits the audit.
    pub verified: bool,
}

/// How the records of a batch are authenticated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Authentication {
    /// Each record's own signature is verified (older agents).
    EachRecord,
    /// The hash chain and one signature over the last record's hash
    /// ([`check_chain`]); each record's own signature is audited later.
    Chain,
}

/// Why a batch was refused before storage was consulted.
#[derive(Debug, thiserror::Error)]
pub enum BatchError {
    /// More records than one batch may hold.
    #[error("a batch holds at most {max} records, this one has {count}")]
    TooManyRecords {
        /// Records sent.
        count: usize,
        /// The limit.
        max: usize,
    },
    /// A record of another register.
    #[error("record {seq} belongs to another register")]
    WrongRegister {
        /// Which record.
        seq: Seq,
    },
    /// The seqs are not ascending without holes.
    #[error("records must have contiguous ascending seqs; {seq} does not follow its predecessor")]
    NotContiguous {
        /// The first out of place.
        seq: Seq,
    },
    /// A signature that does not verify, or bytes that do not parse.
    #[error(transparent)]
    Record(#[from] RecordError),
    /// On the chain path: a record not bound to the batch's signature, or
    /// a batch signature that does not verify.
    #[error(transparent)]
    Chain(#[from] ChainError),
    /// A record naming another merchant or store than the register's.
    #[error("record {seq} names merchant {merchant} and store {store}, not the register's")]
    WrongPlace {
        /// Which record.
        seq: Seq,
        /// The merchant it names.
        merchant: shared::ids::MerchantId,
        /// The store it names.
        store: shared::ids::StoreId,
    },
    /// A record in a format this server does not read.
    #[error("record {seq} has format {format}; this server reads format {RECORD_FORMAT}")]
    Format {
        /// Which record.
        seq: Seq,
        /// Its format.
        format: u32,
    },
    /// A validly signed record whose own figures do not add up
    /// ([`PurchaseRecord::check_sums`]): it is quarantined and alerted,
    /// and the batch refused.
    #[error("record {} does not add up: {error}", record.record.seq)]
    BadSums {
        /// The record, verified, to quarantine.
        record: Box<CheckedRecord>,
        /// What does not add up.
        error: SumError,
    },
    /// A record in another currency than the merchant's.
    #[error("record {seq} is in {record}, the merchant trades in {merchant}")]
    Currency {
        /// Which record.
        seq: Seq,
        /// The record's currency.
        record: Currency,
        /// The merchant's.
        merchant: Currency,
    },
}

/// Checks a batch from `register` without storage: ownership, contiguity,
/// signatures over the exact bytes, and where each record says it was made.
/// The same as [`check_envelope`] followed by [`check_records`] over the
/// whole batch on this thread.
pub fn check_batch(
    register: &RegisterCredentials,
    batch: Vec<SignedRecord>,
    max_records: usize,
) -> Result<Vec<CheckedRecord>, BatchError> {
    check_envelope(register, &batch, max_records)?;
    check_records(register, batch, Authentication::EachRecord)
}

/// The checks of a batch as a whole, which are cheap: its size, that every
/// record is the register's, and that the seqs are contiguous. The records
/// can then be checked in parts, on several threads, by [`check_records`].
pub fn check_envelope(
    register: &RegisterCredentials,
    batch: &[SignedRecord],
    max_records: usize,
) -> Result<(), BatchError> {
    if batch.len() > max_records {
        return Err(BatchError::TooManyRecords {
            count: batch.len(),
            max: max_records,
        });
    }
    if let Some(foreign) = batch.iter().find(|r| r.register_id != register.register_id) {
        return Err(BatchError::WrongRegister { seq: foreign.seq });
    }
    if let Some(pair) = batch
        .windows(2)
        .find(|pair| pair[1].seq.get() != pair[0].seq.get() + 1)
    {
        return Err(BatchError::NotContiguous { seq: pair[1].seq });
    }
    Ok(())
}

/// The checks of each record, the CPU work of ingest: the signature over
/// the exact bytes (unless the chain authenticates the batch), then the
/// parsed record's format, merchant, store and currency. Stops at the
/// first record refused.
pub fn check_records(
    register: &RegisterCredentials,
    records: Vec<SignedRecord>,
    authentication: Authentication,
) -> Result<Vec<CheckedRecord>, BatchError> {
    records
        .into_iter()
        .map(|signed| check_record(register, signed, authentication))
        .collect()
}

/// On the chain path, after [`check_records`] over the whole batch: every
/// record's `prev_hash` is its predecessor's hash and `signature` is the
/// register's over the last record's hash, so every record is the one the
/// register chained into the head it signed.
pub fn check_chain(
    register: &RegisterCredentials,
    records: &[CheckedRecord],
    signature: &Signature,
) -> Result<(), BatchError> {
    let links = records
        .iter()
        .map(|r| (r.record.seq, r.record.prev_hash, r.hash));
    Ok(shared::record::verify_chain(
        &register.public_key,
        links,
        signature,
    )?)
}

fn check_record(
    register: &RegisterCredentials,
    signed: SignedRecord,
    authentication: Authentication,
) -> Result<CheckedRecord, BatchError> {
    let (opened, verified) = match authentication {
        Authentication::EachRecord => {
            let v = signed.open(&register.public_key)?;
            (
                shared::record::UnverifiedRecord {
                    record: v.record,
                    bytes: v.bytes,
                    hash: v.hash,
                },
                true,
            )
        }
        Authentication::Chain => (signed.read_unverified()?, false),
    };
    let record = opened.record;
    let seq = record.seq;
    if record.format != RECORD_FORMAT {
        return Err(BatchError::Format {
            seq,
            format: record.format,
        });
    }
    if record.merchant_id != register.merchant_id || record.store_id != register.store_id {
        return Err(BatchError::WrongPlace {
            seq,
            merchant: record.merchant_id,
            store: record.store_id,
        });
    }
    if record.currency != register.currency {
        return Err(BatchError::Currency {
            seq,
            record: record.currency,
            merchant: register.currency,
        });
    }
    let sums = record.check_sums();
    let mut checked = CheckedRecord {
        record,
        bytes: opened.bytes,
        hash: opened.hash,
        signature: signed.signature,
        verified,
    };
    match sums {
        Ok(()) => Ok(checked),
        Err(error) => {
            // Only a record the register provably signed is quarantined:
            // on the chain path its own signature is checked here (rare).
            if !checked.verified {
                verify_record_bytes(&register.public_key, seq, &checked.bytes, &signed.signature)?;
                checked.verified = true;
            }
            Err(BatchError::BadSums {
                record: Box::new(checked),
                error,
            })
        }
    }
}

/// The newest stored record of a register.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StoredHead {
    /// Its seq.
    pub seq: Seq,
    /// The hash of its bytes.
    pub hash: Hash256,
}

/// Why a batch does not fit the stored chain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChainRefusal {
    /// Stored seqs that arrived with other bytes; they are quarantined.
    Fork {
        /// The forked seqs, ascending.
        seqs: Vec<Seq>,
    },
    /// The batch starts past head + 1.
    SeqGap {
        /// The seq the server needs next.
        expected: Seq,
    },
    /// A new record does not link to its predecessor.
    ChainBroken {
        /// The record whose `prev_hash` is wrong.
        seq: Seq,
    },
}

/// What storing a batch came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IngestOutcome {
    /// Every record of the batch is stored (now or before).
    Stored(StoredBatch),
    /// Nothing new was stored.
    Refused(ChainRefusal),
}

/// The register's chain after a stored batch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredBatch {
    /// The head, if any record is stored.
    pub head: Option<StoredHead>,
    /// Records newly stored by this batch.
    pub new_records: usize,
    /// Whether a customer's balance or spend changed.
    pub customers_changed: bool,
    /// The register's clock drift, estimated from the newest new record.
    pub clock_drift: Option<ClockDrift>,
}

/// What storing a batch needs besides the records.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IngestContext {
    /// The server's time of receipt.
    pub now: DateTime<Utc>,
    /// Drift beyond this many seconds raises a `clock_drift` alert.
    pub max_clock_drift_secs: u64,
}

/// Decides where a contiguous batch goes against the stored head. `stored`
/// holds the hashes of the stored records the batch overlaps. Returns the
/// index of the first new record in `batch`.
pub fn place(
    head: Option<StoredHead>,
    stored: &BTreeMap<Seq, Hash256>,
    batch: &[CheckedRecord],
) -> Result<usize, ChainRefusal> {
    let head_seq = head.map_or(0, |h| h.seq.get());
    let Some(first) = batch.first() else {
        return Ok(0);
    };
    if first.record.seq.get() > head_seq + 1 {
        return Err(ChainRefusal::SeqGap {
            expected: next_seq(head),
        });
    }
    let forks: Vec<Seq> = batch
        .iter()
        .filter(|r| r.record.seq.get() <= head_seq && stored.get(&r.record.seq) != Some(&r.hash))
        .map(|r| r.record.seq)
        .collect();
    if !forks.is_empty() {
        return Err(ChainRefusal::Fork { seqs: forks });
    }
    let first_new = batch
        .iter()
        .position(|r| r.record.seq.get() > head_seq)
        .unwrap_or(batch.len());
    let mut prev = head.map_or(Hash256::GENESIS, |h| h.hash);
    for r in &batch[first_new..] {
        if r.record.prev_hash != prev {
            return Err(ChainRefusal::ChainBroken { seq: r.record.seq });
        }
        prev = r.hash;
    }
    Ok(first_new)
}

/// The seq a register must send next.
#[must_use]
pub fn next_seq(head: Option<StoredHead>) -> Seq {
    head.map_or(Seq::FIRST, |h| h.seq.next())
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::DateTime;
    use shared::crypto::SigningKey;
    use shared::ids::{MerchantId, RegisterId, StoreId};
    use shared::money::Money;
    use shared::record::RecordKind;
    use uuid::Uuid;

    fn key() -> SigningKey {
        SigningKey::from_seed(&[7; 32]).unwrap()
    }

    fn credentials() -> RegisterCredentials {
        RegisterCredentials {
            register_id: RegisterId::new(3).unwrap(),
            merchant_id: MerchantId::new(1).unwrap(),
            store_id: StoreId::new(2).unwrap(),
            currency: Currency::RUB,
            public_key: key().public_key(),
            secret_hash: Hash256::GENESIS,
            revoked: false,
        }
    }

    /// A chain of `n` signed records from seq 1, each total `total`.
    fn chain(n: i64, total: i64) -> Vec<SignedRecord> {
        let mut prev = Hash256::GENESIS;
        (1..=n)
            .map(|seq| {
                let record = PurchaseRecord {
                    format: RECORD_FORMAT,
                    id: Uuid::from_u128(seq as u128),
                    merchant_id: MerchantId::new(1).unwrap(),
                    store_id: StoreId::new(2).unwrap(),
                    register_id: RegisterId::new(3).unwrap(),
                    seq: Seq::new(seq).unwrap(),
                    prev_hash: prev,
                    wall_time: DateTime::from_timestamp(1_790_000_000 + seq, 0).unwrap(),
                    ruleset_version: None,
                    kind: RecordKind::Sale,
                    currency: Currency::RUB,
                    customer: None,
                    lines: vec![shared::record::RecordLine {
                        sku: shared::ids::Sku::parse("4601234567893").unwrap(),
                        name: "Молоко".into(),
                        category: None,
                        quantity: shared::money::Quantity::ONE,
                        unit_price: Money::from_minor(total).unwrap(),
                        amount: Money::from_minor(total).unwrap(),
                        discount: Money::ZERO,
                        total: Money::from_minor(total).unwrap(),
                        points: 0,
                        applied: vec![],
                    }],
                    subtotal: Money::from_minor(total).unwrap(),
                    discount: Money::ZERO,
                    total: Money::from_minor(total).unwrap(),
                    points_earned: 0,
                    points_redeemed: 0,
                    applied: vec![],
                    point_awards: vec![],
                    pricing_inputs: None,
                };
                let (signed, hash) = record.seal(&key()).unwrap();
                prev = hash;
                signed
            })
            .collect()
    }

    fn checked(n: i64, total: i64) -> Vec<CheckedRecord> {
        check_batch(&credentials(), chain(n, total), 1000).unwrap()
    }

    fn stored(records: &[CheckedRecord]) -> (Option<StoredHead>, BTreeMap<Seq, Hash256>) {
        let map: BTreeMap<Seq, Hash256> = records.iter().map(|r| (r.record.seq, r.hash)).collect();
        let head = records.last().map(|r| StoredHead {
            seq: r.record.seq,
            hash: r.hash,
        });
        (head, map)
    }

    #[test]
    fn a_fresh_chain_is_all_new_and_a_replay_is_all_duplicate() {
        let batch = checked(3, 100);
        assert_eq!(place(None, &BTreeMap::new(), &batch), Ok(0));
        let (head, map) = stored(&batch);
        assert_eq!(place(head, &map, &batch), Ok(3));
        let (head, map) = stored(&batch[..2]);
        assert_eq!(place(head, &map, &batch), Ok(2));
    }

    #[test]
    fn gaps_forks_and_broken_links_are_refused() {
        let batch = checked(4, 100);
        let (head, map) = stored(&batch[..1]);
        assert_eq!(
            place(head, &map, &batch[2..]),
            Err(ChainRefusal::SeqGap {
                expected: Seq::new(2).unwrap()
            })
        );

        let other = checked(2, 999);
        let (head, map) = stored(&batch[..2]);
        assert_eq!(
            place(head, &map, &other),
            Err(ChainRefusal::Fork {
                seqs: vec![Seq::new(1).unwrap(), Seq::new(2).unwrap()]
            })
        );

        // Record 3 of another chain does not link to the stored record 2.
        let foreign = checked(3, 999);
        assert_eq!(
            place(head, &map, &foreign[2..]),
            Err(ChainRefusal::ChainBroken {
                seq: Seq::new(3).unwrap()
            })
        );
    }

    fn chained(batch: Vec<SignedRecord>) -> Result<Vec<CheckedRecord>, BatchError> {
        let last = batch.last().unwrap();
        let head = shared::crypto::sha256(&shared::crypto::from_base64(&last.body).unwrap());
        let signature = shared::record::sign_chain_head(&key(), &head);
        let checked = check_records(&credentials(), batch, Authentication::Chain)?;
        check_chain(&credentials(), &checked, &signature)?;
        Ok(checked)
    }

    #[test]
    fn the_chain_path_binds_records_without_verifying_each() {
        let checked = chained(chain(3, 100)).unwrap();
        assert!(checked.iter().all(|r| !r.verified));
        assert_eq!(place(None, &BTreeMap::new(), &checked), Ok(0));

        // A record's own signature is not what the chain path checks…
        let mut batch = chain(3, 100);
        batch[1].signature = batch[0].signature;
        assert!(chained(batch).is_ok());
        // …but its bytes are: an edited middle record is unbound.
        let mut batch = chain(3, 100);
        let other = chain(3, 999);
        batch[1] = other[1].clone();
        assert!(matches!(
            chained(batch),
            Err(BatchError::Chain(ChainError::Unbound { seq })) if seq.get() == 2
        ));
        // A head signed by another key does not verify.
        let batch = chain(2, 100);
        let checked = check_records(&credentials(), batch, Authentication::Chain).unwrap();
        let forged = shared::record::sign_chain_head(
            &SigningKey::from_seed(&[8; 32]).unwrap(),
            &checked[1].hash,
        );
        assert!(matches!(
            check_chain(&credentials(), &checked, &forged),
            Err(BatchError::Chain(ChainError::BadSignature { .. }))
        ));
    }

    #[test]
    fn batches_must_be_contiguous_signed_and_the_registers_own() {
        let mut batch = chain(3, 100);
        batch.remove(1);
        assert!(matches!(
            check_batch(&credentials(), batch, 1000),
            Err(BatchError::NotContiguous { .. })
        ));

        let mut batch = chain(2, 100);
        batch[1].signature = batch[0].signature;
        assert!(matches!(
            check_batch(&credentials(), batch, 1000),
            Err(BatchError::Record(RecordError::BadSignature { .. }))
        ));

        let mut batch = chain(1, 100);
        batch[0].register_id = RegisterId::new(4).unwrap();
        assert!(matches!(
            check_batch(&credentials(), batch, 1000),
            Err(BatchError::WrongRegister { .. })
        ));

        assert!(matches!(
            check_batch(&credentials(), chain(3, 100), 2),
            Err(BatchError::TooManyRecords { count: 3, max: 2 })
        ));
    }
}
