//! Purchase records: exactly-once ingest with the points ledger, the
//! quarantine of forks, the alerts a batch raises, the register's clock
//! drift, and the facts statistics are computed from.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use chrono::{DateTime, Utc};
use rusqlite::{OptionalExtension as _, Row, Transaction, params};
use shared::crypto::{Hash256, PublicKey};
use shared::identity::Gender;
use shared::ids::{CustomerId, MerchantId, PromotionId, RegisterId, Seq};
use shared::pricing::RuleRef;
use shared::record::{RecordKind, SignedRecord};
use shared::wire::sync::{SaleWithReturns, StoredRecord};

use super::alerts::raise;
use super::catalog::merchant_currency;
use super::columns::{hash, int, opt_date, opt_int, parsed, signature, text, time, time_text};
use super::customers::mark_changed;
use crate::alerts::NewAlert;
use crate::db::{
    CheckFact, CheckKind, CustomerFact, DbError, PromotionUseFact, RecordKey, SaleKey, StatsFacts,
    StoreFact,
};
use crate::drift::ClockDrift;
use crate::ingest::{
    ChainRefusal, CheckedRecord, IngestContext, IngestOutcome, StoredBatch, StoredHead, place,
};

#[tracing::instrument(skip_all, fields(register_id = %register, records = records.len()))]
pub(super) fn ingest(
    tx: &Transaction<'_>,
    register: RegisterId,
    records: &[CheckedRecord],
    context: IngestContext,
) -> Result<IngestOutcome, DbError> {
    let now = context.now;
    tx.execute(
        "UPDATE registers SET last_seen_at = ?1 WHERE id = ?2",
        params![time_text(now), register.get()],
    )?;
    let head = head(tx, register)?;
    let stored = stored_hashes(tx, register, head, records)?;
    let first_new = match place(head, &stored, records) {
        Ok(first_new) => first_new,
        Err(refusal) => {
            let alert = match &refusal {
                ChainRefusal::Fork { seqs } => {
                    let quarantined = quarantine(tx, register, records, seqs, now)?;
                    NewAlert::fork(register, &quarantined, now)
                }
                ChainRefusal::ChainBroken { seq } => {
                    Some(NewAlert::chain_broken(register, *seq, now))
                }
                ChainRefusal::SeqGap { .. } => None,
            };
            if let Some(alert) = alert {
                raise(tx, &alert)?;
            }
            return Ok(IngestOutcome::Refused(refusal));
        }
    };
    let new = &records[first_new..];
    let mut changed = BTreeSet::new();
    let mut known = HashMap::new();
    for r in new {
        let customer = match r.record.customer {
            Some(c) => known_customer(tx, &mut known, r.record.merchant_id, c.id)?,
            None => None,
        };
        insert_record(tx, r, customer, now)?;
        if let Some(customer) = customer {
            changed.insert((r.record.merchant_id, customer));
        }
    }
    for &(merchant, customer) in &changed {
        mark_changed(tx, merchant, customer)?;
    }
    let clock_drift = match new.last() {
        Some(newest) => Some(record_clock_drift(tx, register, newest, context)?),
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

/// Estimates the register's drift from its newest new record, stores it,
/// and alerts when it is beyond the limit.
fn record_clock_drift(
    tx: &Transaction<'_>,
    register: RegisterId,
    newest: &CheckedRecord,
    context: IngestContext,
) -> Result<ClockDrift, DbError> {
    let drift = ClockDrift::estimate(newest.record.wall_time, context.now);
    tx.execute(
        "UPDATE registers SET clock_drift_secs = ?1, clock_drift_measured_at = ?2 WHERE id = ?3",
        params![drift.secs(), time_text(context.now), register.get()],
    )?;
    if drift.exceeds(context.max_clock_drift_secs) {
        let alert = NewAlert::clock_drift(register, newest.record.seq, drift, context.now);
        if raise(tx, &alert)? {
            tracing::warn!(register_id = %register, drift_secs = drift.secs(), "register clock drift");
        }
    }
    Ok(drift)
}

pub(super) fn head(
    tx: &Transaction<'_>,
    register: RegisterId,
) -> Result<Option<StoredHead>, DbError> {
    Ok(tx
        .query_row(
            "SELECT seq, hash FROM records WHERE register_id = ?1 ORDER BY seq DESC LIMIT 1",
            [register.get()],
            |row| {
                Ok(StoredHead {
                    seq: int(row, 0)?,
                    hash: hash(row, 1)?,
                })
            },
        )
        .optional()?)
}

/// Hashes of the stored records the batch overlaps.
fn stored_hashes(
    tx: &Transaction<'_>,
    register: RegisterId,
    head: Option<StoredHead>,
    records: &[CheckedRecord],
) -> Result<BTreeMap<Seq, Hash256>, DbError> {
    let (Some(head), Some(first)) = (head, records.first()) else {
        return Ok(BTreeMap::new());
    };
    let mut stmt = tx.prepare_cached(
        "SELECT seq, hash FROM records WHERE register_id = ?1 AND seq BETWEEN ?2 AND ?3",
    )?;
    let rows = stmt.query_map(
        params![register.get(), first.record.seq.get(), head.seq.get()],
        |row| Ok((int(row, 0)?, hash(row, 1)?)),
    )?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// Keeps records that arrived at a stored seq with other bytes. Returns the
/// seqs newly quarantined; bytes already in quarantine are not kept twice.
fn quarantine(
    tx: &Transaction<'_>,
    register: RegisterId,
    records: &[CheckedRecord],
    seqs: &[Seq],
    now: DateTime<Utc>,
) -> Result<Vec<Seq>, DbError> {
    let mut stmt = tx.prepare_cached(
        "INSERT OR IGNORE INTO quarantine (register_id, seq, hash, body, signature, received_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
    )?;
    let mut quarantined = Vec::new();
    for r in records.iter().filter(|r| seqs.contains(&r.record.seq)) {
        let inserted = stmt.execute(params![
            register.get(),
            r.record.seq.get(),
            r.hash.0.as_slice(),
            r.bytes,
            r.signature.as_bytes().as_slice(),
            time_text(now)
        ])?;
        if inserted > 0 {
            tracing::error!(
                register_id = %register,
                seq = %r.record.seq,
                hash = %r.hash,
                "fork: a stored seq arrived with other bytes; quarantined"
            );
            quarantined.push(r.record.seq);
        }
    }
    Ok(quarantined)
}

/// The customer if it is the merchant's; a record naming a stranger is
/// stored, but earns no ledger entry and counts as unidentified.
fn known_customer(
    tx: &Transaction<'_>,
    known: &mut HashMap<CustomerId, bool>,
    merchant: MerchantId,
    customer: CustomerId,
) -> Result<Option<CustomerId>, DbError> {
    let is_known = match known.get(&customer) {
        Some(&is_known) => is_known,
        None => {
            let is_known = tx
                .query_row(
                    "SELECT 1 FROM customers WHERE id = ?1 AND merchant_id = ?2",
                    params![customer.get(), merchant.get()],
                    |_| Ok(()),
                )
                .optional()?
                .is_some();
            if !is_known {
                tracing::warn!(customer_id = %customer, merchant_id = %merchant,
                    "a record names a customer the merchant does not have");
            }
            known.insert(customer, is_known);
            is_known
        }
    };
    Ok(is_known.then_some(customer))
}

fn insert_record(
    tx: &Transaction<'_>,
    r: &CheckedRecord,
    customer: Option<CustomerId>,
    now: DateTime<Utc>,
) -> Result<(), DbError> {
    let record = &r.record;
    let (register, seq) = (record.register_id.get(), record.seq.get());
    let kind = match record.kind {
        RecordKind::Sale => CheckKind::Sale,
        RecordKind::Return { .. } => CheckKind::Return,
    };
    tx.prepare_cached(
        "INSERT INTO records (register_id, seq, record_id, merchant_id, store_id, kind,
             customer_id, wall_time, subtotal, discount, total, points_earned, points_redeemed,
             ruleset_version, hash, body, signature, received_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18)",
    )?
    .execute(params![
        register,
        seq,
        record.id.to_string(),
        record.merchant_id.get(),
        record.store_id.get(),
        kind.code(),
        customer.map(CustomerId::get),
        time_text(record.wall_time),
        record.subtotal.minor(),
        record.discount.minor(),
        record.total.minor(),
        record.points_earned,
        record.points_redeemed,
        record.ruleset_version.map(|v| v.get()),
        r.hash.0.as_slice(),
        r.bytes,
        r.signature.as_bytes().as_slice(),
        time_text(now)
    ])?;

    let mut line_stmt = tx.prepare_cached(
        "INSERT INTO record_lines (register_id, seq, line_no, sku, category, quantity_milli,
             amount, discount, total)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
    )?;
    let mut promotions: BTreeMap<&PromotionId, (i64, Option<&str>)> = BTreeMap::new();
    for (line_no, line) in record.lines.iter().enumerate() {
        line_stmt.execute(params![
            register,
            seq,
            i64::try_from(line_no).unwrap_or(i64::MAX),
            line.sku.as_str(),
            line.category.as_ref().map(|c| c.as_str()),
            i64::try_from(line.quantity.milli()).unwrap_or(i64::MAX),
            line.amount.minor(),
            line.discount.minor(),
            line.total.minor()
        ])?;
        for applied in &line.applied {
            if let RuleRef::Promotion(id) = &applied.rule {
                let entry = promotions.entry(id).or_insert((0, None));
                entry.0 = entry.0.saturating_add(applied.discount.minor());
                entry.1 = entry.1.or(applied.funded_by.as_deref());
            }
        }
    }

    // Checks per promotion: a sale uses every promotion it names (points
    // only included), a return gives back the uses it names.
    let deltas = record.usage_deltas();
    for d in &deltas {
        promotions.entry(&d.promotion).or_insert((0, None));
    }
    let mut use_stmt = tx.prepare_cached(
        "INSERT INTO promotion_uses (register_id, seq, promotion_id, discount, funded_by, uses)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
    )?;
    for (id, (discount, funded_by)) in promotions {
        let uses = deltas
            .iter()
            .find(|d| &d.promotion == id)
            .map_or(0, |d| d.uses);
        use_stmt.execute(params![
            register,
            seq,
            id.as_str(),
            discount,
            funded_by,
            uses
        ])?;
    }
    if let Some(customer) = customer {
        record_birthday_bonus(tx, record, customer)?;
    }

    if let Some(customer) = customer {
        let original = match &record.kind {
            RecordKind::Return { original, .. } => Some(original),
            RecordKind::Sale => None,
        };
        tx.prepare_cached(
            "INSERT INTO ledger (register_id, seq, customer_id, points, earned, redeemed,
                 original_register_id, original_seq)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
        )?
        .execute(params![
            register,
            seq,
            customer.get(),
            record.points_earned.saturating_sub(record.points_redeemed),
            record.points_earned,
            record.points_redeemed,
            original.map(|o| o.register_id.get()),
            original.map(|o| o.seq.get()),
        ])?;
    }
    Ok(())
}

/// Notes the store-local date of a sale that gave the birthday bonus.
fn record_birthday_bonus(
    tx: &Transaction<'_>,
    record: &shared::record::PurchaseRecord,
    customer: CustomerId,
) -> Result<(), DbError> {
    let gave = record.kind == RecordKind::Sale
        && record
            .point_awards
            .iter()
            .any(|a| a.rule == RuleRef::BirthdayBonus && a.points > 0);
    if !gave {
        return Ok(());
    }
    let timezone: String = tx.query_row(
        "SELECT timezone FROM stores WHERE id = ?1",
        [record.store_id.get()],
        |row| row.get(0),
    )?;
    let local_date = match timezone.parse::<chrono_tz::Tz>() {
        Ok(tz) => record.wall_time.with_timezone(&tz).date_naive(),
        Err(_) => record.wall_time.date_naive(),
    };
    tx.prepare_cached(
        "INSERT INTO birthday_bonuses (register_id, seq, customer_id, local_date)
         VALUES (?1, ?2, ?3, ?4)",
    )?
    .execute(params![
        record.register_id.get(),
        record.seq.get(),
        customer.get(),
        local_date.to_string()
    ])?;
    Ok(())
}

pub(super) fn stats_facts(
    tx: &Transaction<'_>,
    merchant: MerchantId,
) -> Result<StatsFacts, DbError> {
    let currency = merchant_currency(tx, merchant)?;

    let mut stmt =
        tx.prepare("SELECT id, name, timezone FROM stores WHERE merchant_id = ?1 ORDER BY id")?;
    let stores = stmt
        .query_map([merchant.get()], |row| {
            Ok(StoreFact {
                id: int(row, 0)?,
                name: row.get(1)?,
                timezone: row.get(2)?,
            })
        })?
        .collect::<Result<_, _>>()?;

    let mut stmt = tx.prepare(
        "SELECT r.register_id, r.seq, r.store_id, r.kind, r.customer_id, c.gender, c.birth_date,
                r.wall_time, r.discount, r.total, r.points_earned
         FROM records r LEFT JOIN customers c ON c.id = r.customer_id
         WHERE r.merchant_id = ?1",
    )?;
    let checks = stmt
        .query_map([merchant.get()], |row| {
            let customer = opt_int::<CustomerId>(row, 4)?
                .map(|id| -> rusqlite::Result<CustomerFact> {
                    Ok(CustomerFact {
                        id,
                        gender: Gender::from_code(&row.get::<_, String>(5)?),
                        birth_date: opt_date(row, 6)?,
                    })
                })
                .transpose()?;
            Ok(CheckFact {
                key: RecordKey {
                    register_id: int(row, 0)?,
                    seq: int(row, 1)?,
                },
                store_id: int(row, 2)?,
                kind: parsed(row, 3, check_kind)?,
                customer,
                wall_time: time(row, 7)?,
                discount: int(row, 8)?,
                total: int(row, 9)?,
                points_earned: row.get(10)?,
            })
        })?
        .collect::<Result<_, _>>()?;

    let mut stmt = tx.prepare(
        "SELECT u.register_id, u.seq, u.promotion_id, u.discount, u.funded_by
         FROM promotion_uses u
         JOIN records r ON r.register_id = u.register_id AND r.seq = u.seq
         WHERE r.merchant_id = ?1",
    )?;
    let promotion_uses = stmt
        .query_map([merchant.get()], |row| {
            Ok(PromotionUseFact {
                record: RecordKey {
                    register_id: int(row, 0)?,
                    seq: int(row, 1)?,
                },
                promotion_id: text(row, 2)?,
                discount: int(row, 3)?,
                funded_by: row.get(4)?,
            })
        })?
        .collect::<Result<_, _>>()?;

    Ok(StatsFacts {
        currency,
        stores,
        checks,
        promotion_uses,
    })
}

fn check_kind(code: &str) -> Result<CheckKind, String> {
    match code {
        "sale" => Ok(CheckKind::Sale),
        "return" => Ok(CheckKind::Return),
        other => Err(format!("unknown record kind {other:?}")),
    }
}

/// A sale of `merchant` and the returns stored of it, each with the key of
/// the register that signed it.
pub(super) fn sale_with_returns(
    tx: &Transaction<'_>,
    merchant: MerchantId,
    key: SaleKey,
) -> Result<Option<SaleWithReturns>, DbError> {
    const COLUMNS: &str =
        "SELECT r.register_id, r.seq, r.body, r.signature, g.public_key, r.record_id
         FROM records r JOIN registers g ON g.id = r.register_id";
    let row = |row: &Row<'_>| -> rusqlite::Result<(StoredRecord, String)> {
        let body: Vec<u8> = row.get(2)?;
        Ok((
            StoredRecord {
                record: SignedRecord {
                    register_id: int(row, 0)?,
                    seq: int(row, 1)?,
                    body: shared::crypto::to_base64(&body),
                    signature: signature(row, 3)?,
                },
                public_key: parsed(row, 4, PublicKey::from_base64)?,
            },
            row.get(5)?,
        ))
    };
    let sale = match key {
        SaleKey::Seq(register, seq) => tx
            .prepare_cached(&format!(
                "{COLUMNS} WHERE r.merchant_id = ?1 AND r.kind = 'sale'
                   AND r.register_id = ?2 AND r.seq = ?3"
            ))?
            .query_row(params![merchant.get(), register.get(), seq.get()], row)
            .optional()?,
        SaleKey::Record(id) => tx
            .prepare_cached(&format!(
                "{COLUMNS} WHERE r.merchant_id = ?1 AND r.kind = 'sale' AND r.record_id = ?2"
            ))?
            .query_row(params![merchant.get(), id.to_string()], row)
            .optional()?,
    };
    let Some((sale, record_id)) = sale else {
        return Ok(None);
    };
    let returns = tx
        .prepare_cached(&format!(
            "{COLUMNS} WHERE r.original_record_id = ?1 AND r.merchant_id = ?2
             ORDER BY r.register_id, r.seq"
        ))?
        .query_map(params![record_id, merchant.get()], row)?
        .map(|r| r.map(|(stored, _)| stored))
        .collect::<Result<_, _>>()?;
    Ok(Some(SaleWithReturns { sale, returns }))
}
