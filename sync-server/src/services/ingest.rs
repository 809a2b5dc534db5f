//! The ingest use case: a verified batch of one register's records is
//! decided against the stored chain and stored exactly once, in one write
//! transaction, with everything that follows from it: the points ledger,
//! promotion uses, birthday bonuses, the customers' change cursor, the
//! register's clock drift, and the alerts a refused batch raises (a fork
//! quarantines the records, a broken chain is reported).
//!
//! The checks that need no storage and the chain decision itself are in
//! [`crate::ingest`]; the primitives that read and write rows are in
//! [`crate::db`]. Nothing about what a record means is decided in SQL.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use shared::ids::{CustomerId, MerchantId, PromotionId, RegisterId};
use shared::money::Money;
use shared::pricing::RuleRef;
use shared::record::{PurchaseRecord, RecordKind, SumError};
use shared::timezone::TimeZone;

use super::analytics::basket_queue::BasketQueue;
use super::oversight::raise_in;
use crate::alerts::NewAlert;
use crate::db::{
    Announcement, BirthdayBonusRow, CheckKind, DbError, LedgerRow, PromotionUseRow, RecordKey,
    RecordRow, Repository, Tx,
};
use crate::drift::ClockDrift;
use crate::ingest::{
    ChainRefusal, CheckedRecord, IngestContext, IngestOutcome, StoredBatch, StoredHead, place,
};

/// Stores uploads.
#[derive(Clone)]
pub struct Ingest {
    repo: Arc<dyn Repository>,
    /// Whether records are added to the analytics rollups.
    rollups: bool,
    /// Where new sales wait for their basket rows.
    baskets: BasketQueue,
}

impl Ingest {
    /// The service over `repo`, queueing new sales' basket rows on `baskets`.
    pub fn new(repo: Arc<dyn Repository>, baskets: BasketQueue) -> Self {
        Ingest {
            repo,
            rollups: true,
            baskets,
        }
    }

    /// The service keeping the analytics rollups or not (off only to
    /// measure their cost).
    #[must_use]
    pub fn with_rollups(mut self, rollups: bool) -> Self {
        if !rollups {
            tracing::warn!("analytics rollups are off: the analytics views miss new records");
        }
        self.rollups = rollups;
        self
    }

    /// Stores a verified batch of one register's records exactly once.
    ///
    /// Batches of one register are decided one after another against the
    /// head the previous one left (the write transaction), so the same
    /// batch arriving twice at once is stored once and both get the same
    /// acknowledgement.
    pub async fn store(
        &self,
        register: RegisterId,
        records: Vec<CheckedRecord>,
        context: IngestContext,
    ) -> Result<IngestOutcome, DbError> {
        let rollups = self.rollups;
        let outcome = self
            .repo
            .write(move |tx| store_batch(tx, register, &records, context, rollups))
            .await?;
        if rollups && matches!(&outcome, IngestOutcome::Stored(s) if s.new_records > 0) {
            self.baskets.queued();
        }
        Ok(outcome)
    }

    /// Keeps a validly signed record whose own sums do not add up in
    /// quarantine and alerts HQ (once per seq while it is retried); its
    /// batch is refused by the caller.
    pub async fn quarantine_bad_record(
        &self,
        register: RegisterId,
        record: CheckedRecord,
        error: &SumError,
        now: chrono::DateTime<chrono::Utc>,
    ) -> Result<(), DbError> {
        let why = error.to_string();
        self.repo
            .write(move |tx| {
                if tx.quarantine_record(&record, now)? {
                    tracing::error!(
                        register_id = %register,
                        seq = %record.record.seq,
                        hash = %record.hash,
                        error = %why,
                        "a signed record does not add up; quarantined"
                    );
                }
                let alert = NewAlert::bad_record(register, record.record.seq, &why, now);
                raise_in(tx, &alert)?;
                Ok(())
            })
            .await
    }
}

/// The whole use case inside one transaction.
#[tracing::instrument(skip_all, fields(register_id = %register, records = records.len()))]
fn store_batch(
    tx: &mut dyn Tx,
    register: RegisterId,
    records: &[CheckedRecord],
    context: IngestContext,
    rollups: bool,
) -> Result<IngestOutcome, DbError> {
    let now = context.now;
    tx.touch_register(register, now)?;
    let head = tx.head(register)?;
    let stored = match (head, records.first()) {
        (Some(head), Some(first)) => tx.stored_hashes(register, first.record.seq, head.seq)?,
        _ => BTreeMap::new(),
    };
    let first_new = match place(head, &stored, records) {
        Ok(first_new) => first_new,
        Err(refusal) => {
            refuse(tx, register, records, &refusal, context)?;
            return Ok(IngestOutcome::Refused(refusal));
        }
    };
    let new = &records[first_new..];
    let merchant = register_merchant(new);
    let named: Vec<CustomerId> = new
        .iter()
        .filter_map(|r| r.record.customer.map(|c| c.id))
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    let known = match merchant {
        Some(merchant) if !named.is_empty() => tx.merchant_customers(merchant, &named)?,
        _ => Default::default(),
    };
    let mut zones = std::collections::HashMap::new();
    // What the service decided for each new record, stored in a handful
    // of batched writes below.
    let mut decided = Vec::with_capacity(new.len());
    for r in new {
        // A record naming a customer the merchant does not have is stored
        // (the sale happened), but earns no ledger entry and counts as
        // unidentified: HQ is alerted, never silently.
        let customer = r.record.customer.map(|c| c.id);
        let customer = match customer {
            Some(id) if known.contains(&id) => Some(id),
            Some(id) => {
                tracing::warn!(customer_id = %id, merchant_id = %r.record.merchant_id,
                    "a record names a customer the merchant does not have");
                let alert = NewAlert::unknown_customer(register, r.record.seq, id, context.now);
                raise_in(tx, &alert)?;
                None
            }
            None => None,
        };
        let zone = match zones.get(&r.record.store_id) {
            Some(zone) => *zone,
            None => {
                let zone = tx
                    .store(r.record.store_id)?
                    .ok_or_else(|| DbError::NotFound(format!("store {}", r.record.store_id)))?
                    .timezone;
                zones.insert(r.record.store_id, zone);
                zone
            }
        };
        decided.push(Decided {
            checked: r,
            customer,
            zone,
            uses: promotion_uses(&r.record)?,
        });
    }
    // The batch's rollups, merged and added once at its end; its records'
    // line rows (products, baskets) are queued (see `analytics::basket_queue`).
    let rollups = rollups.then(super::analytics::Rollups::at_ingest);
    let changed = store_records(tx, register, &decided, rollups, context)?;
    for &(merchant, customer) in &changed {
        tx.mark_customer_changed(merchant, customer)?;
    }
    let merchants: BTreeSet<_> = changed.iter().map(|&(merchant, _)| merchant).collect();
    for merchant in merchants {
        tx.announce(Announcement::Customers { merchant })?;
    }
    let clock_drift = match new.last() {
        Some(newest) => Some(note_clock_drift(tx, register, newest, context)?),
        None => None,
    };
    Ok(IngestOutcome::Stored(StoredBatch {
        head: new
            .last()
            .map(|r| StoredHead {
                seq: r.record.seq,
                hash: r.hash,
            })
            .or(head),
        new_records: new.len(),
        customers_changed: !changed.is_empty(),
        clock_drift,
    }))
}

/// The merchant of a batch (every record names the register's; checked
/// before the transaction).
fn register_merchant(records: &[CheckedRecord]) -> Option<shared::ids::MerchantId> {
    records.first().map(|r| r.record.merchant_id)
}

/// What a refused batch leaves behind: a fork's records in quarantine and
/// an alert, a broken chain's alert. A gap needs neither: the register
/// rewinds.
fn refuse(
    tx: &mut dyn Tx,
    register: RegisterId,
    records: &[CheckedRecord],
    refusal: &ChainRefusal,
    context: IngestContext,
) -> Result<(), DbError> {
    let now = context.now;
    let alert = match refusal {
        ChainRefusal::Fork { seqs } => {
            let mut quarantined = Vec::new();
            for r in records.iter().filter(|r| seqs.contains(&r.record.seq)) {
                if tx.quarantine_record(r, now)? {
                    tracing::error!(
                        register_id = %register,
                        seq = %r.record.seq,
                        hash = %r.hash,
                        "fork: a stored seq arrived with other bytes; quarantined"
                    );
                    quarantined.push(r.record.seq);
                }
            }
            NewAlert::fork(register, &quarantined, now)
        }
        ChainRefusal::ChainBroken { seq } => Some(NewAlert::chain_broken(register, *seq, now)),
        ChainRefusal::SeqGap { .. } => None,
    };
    if let Some(alert) = alert {
        raise_in(tx, &alert)?;
    }
    Ok(())
}

/// What a record adds to its customer's spend: a sale its total, a return
/// its refund taken off (records of returns may carry it either way).
#[must_use]
pub fn spend_of(record: &PurchaseRecord) -> Money {
    match record.kind {
        RecordKind::Sale => record.total,
        RecordKind::Return { .. } if record.total.minor() > 0 => record.total.negate(),
        RecordKind::Return { .. } => record.total,
    }
}

/// A new record with what the service decided about it.
struct Decided<'a> {
    checked: &'a CheckedRecord,
    /// The customer, when the merchant has them.
    customer: Option<CustomerId>,
    /// The store's time zone.
    zone: TimeZone,
    /// Each promotion's part of it.
    uses: Vec<PromotionUseRow>,
}

/// Stores the new records and what follows from them, a batched write per
/// table, and returns the customers whose standing changed.
///
/// Storage writes each (register, seq) once and a stored one not at all;
/// here every record is new by the chain decision taken under the
/// register's lock, so a record storage did not write means that decision
/// is stale: the transaction is refused (rolled back) rather than the
/// record's ledger entry written without it or counted twice, and the
/// register's retry is decided afresh (a duplicate, or a fork).
fn store_records(
    tx: &mut dyn Tx,
    register: RegisterId,
    decided: &[Decided<'_>],
    mut rollups: Option<super::analytics::Rollups>,
    context: IngestContext,
) -> Result<BTreeSet<(MerchantId, CustomerId)>, DbError> {
    let rows: Vec<RecordRow<'_>> = decided
        .iter()
        .map(|d| RecordRow {
            checked: d.checked,
            kind: match d.checked.record.kind {
                RecordKind::Sale => CheckKind::Sale,
                RecordKind::Return { .. } => CheckKind::Return,
            },
            customer: d.customer,
            spend: spend_of(&d.checked.record),
            received_at: context.now,
        })
        .collect();
    let written = tx.insert_records(&rows)?;
    if written.len() != rows.len() {
        tracing::error!(register_id = %register, new = rows.len(), written = written.len(),
            "records decided new were stored already; the batch is refused for a retry");
        return Err(DbError::other(format!(
            "{} of {} new records of register {register} were stored meanwhile",
            rows.len() - written.len(),
            rows.len()
        )));
    }
    let mut uses = Vec::new();
    let mut ledger = Vec::new();
    let mut birthdays = Vec::new();
    let mut changed = BTreeSet::new();
    for d in decided {
        let record = &d.checked.record;
        let key = RecordKey {
            register_id: record.register_id,
            seq: record.seq,
        };
        uses.extend(d.uses.iter().map(|u| (key, u.clone())));
        // The statistics' rollups, in the records' own transaction.
        if let Some(rollups) = rollups.as_mut() {
            rollups.add(record, d.customer, d.zone, &d.uses);
        }
        let Some(customer) = d.customer else {
            continue;
        };
        changed.insert((record.merchant_id, customer));
        let gave_birthday_bonus = record.kind == RecordKind::Sale
            && record
                .point_awards
                .iter()
                .any(|a| a.rule == RuleRef::BirthdayBonus && a.points > 0);
        if gave_birthday_bonus {
            // The bonus window is the store's, so its date is the store's.
            birthdays.push(BirthdayBonusRow {
                record: key,
                customer_id: customer,
                local_date: d.zone.local_date(record.wall_time),
            });
        }
        let original = match &record.kind {
            RecordKind::Return { original, .. } => Some(RecordKey {
                register_id: original.register_id,
                seq: original.seq,
            }),
            RecordKind::Sale => None,
        };
        ledger.push((
            key,
            LedgerRow {
                customer_id: customer,
                earned: record.points_earned,
                redeemed: record.points_redeemed,
                original,
            },
        ));
    }
    tx.insert_promotion_uses(&uses)?;
    tx.insert_birthday_bonuses(&birthdays)?;
    tx.insert_ledger_entries(&ledger)?;
    if let Some(rollups) = rollups {
        rollups.flush(tx)?;
        // Sales and returns alike: a return's product rows take its
        // items back (a return has no basket rows).
        let queued: Vec<RecordKey> = decided
            .iter()
            .map(|d| RecordKey {
                register_id: d.checked.record.register_id,
                seq: d.checked.record.seq,
            })
            .collect();
        tx.queue_baskets(&queued)?;
    }
    Ok(changed)
}

/// Each promotion's part of a record (public for the perf harness, which
/// seeds the analytics rollups through the same code as ingest): the discount it gave over the lines
/// and who funds it, and its uses: a sale uses every promotion it names
/// (points only included), a return gives back the uses it names.
pub fn promotion_uses(record: &PurchaseRecord) -> Result<Vec<PromotionUseRow>, DbError> {
    let mut parts: BTreeMap<&PromotionId, (Money, Option<&str>)> = BTreeMap::new();
    for line in &record.lines {
        for applied in &line.applied {
            if let RuleRef::Promotion(id) = &applied.rule {
                let part = parts.entry(id).or_insert((Money::ZERO, None));
                part.0 = part.0.checked_add(applied.discount).map_err(|e| {
                    DbError::other(format!("promotion {id} on record {}: {e}", record.seq))
                })?;
                part.1 = part.1.or(applied.funded_by.as_deref());
            }
        }
    }
    let deltas = record
        .usage_deltas()
        .map_err(|e| DbError::other(format!("record {}: {e}", record.seq)))?;
    for d in &deltas {
        parts.entry(&d.promotion).or_insert((Money::ZERO, None));
    }
    Ok(parts
        .into_iter()
        .map(|(id, (discount, funded_by))| PromotionUseRow {
            promotion_id: id.clone(),
            discount,
            funded_by: funded_by.map(str::to_owned),
            uses: deltas
                .iter()
                .find(|d| &d.promotion == id)
                .map_or(0, |d| d.uses),
        })
        .collect())
}

/// Estimates the register's drift from its newest new record, stores it,
/// and alerts when it is beyond the limit.
fn note_clock_drift(
    tx: &mut dyn Tx,
    register: RegisterId,
    newest: &CheckedRecord,
    context: IngestContext,
) -> Result<ClockDrift, DbError> {
    let drift = ClockDrift::estimate(newest.record.wall_time, context.now);
    tx.set_clock_drift(register, drift.secs(), context.now)?;
    if drift.exceeds(context.max_clock_drift_secs) {
        let alert = NewAlert::clock_drift(register, newest.record.seq, drift, context.now);
        if raise_in(tx, &alert)? {
            tracing::warn!(register_id = %register, drift_secs = drift.secs(), "register clock drift");
        }
    }
    Ok(drift)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_return_takes_its_refund_off_the_spend_however_it_signs_its_total() {
        let sale = PurchaseRecord {
            format: shared::record::RECORD_FORMAT,
            id: uuid::Uuid::from_u128(1),
            merchant_id: shared::ids::MerchantId::new(1).unwrap(),
            store_id: shared::ids::StoreId::new(1).unwrap(),
            register_id: RegisterId::new(1).unwrap(),
            seq: shared::ids::Seq::FIRST,
            prev_hash: shared::crypto::Hash256::GENESIS,
            wall_time: chrono::DateTime::from_timestamp(1_790_000_000, 0).unwrap(),
            ruleset_version: None,
            kind: RecordKind::Sale,
            currency: shared::money::Currency::RUB,
            customer: None,
            lines: vec![],
            subtotal: Money::from_minor(500).unwrap(),
            discount: Money::ZERO,
            total: Money::from_minor(500).unwrap(),
            points_earned: 0,
            points_redeemed: 0,
            applied: vec![],
            point_awards: vec![],
            pricing_inputs: None,
        };
        assert_eq!(spend_of(&sale).minor(), 500);
        let mut refund = sale.clone();
        refund.kind = RecordKind::Return {
            original: shared::record::RecordRef {
                register_id: sale.register_id,
                seq: sale.seq,
                id: sale.id,
            },
            original_lines: vec![],
            uses_returned: vec![],
        };
        assert_eq!(spend_of(&refund).minor(), -500);
        refund.total = Money::from_minor(-500).unwrap();
        assert_eq!(spend_of(&refund).minor(), -500);
    }
}
