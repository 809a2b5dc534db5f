//! Returns of committed purchases: a pure function of the original record,
//! the returns already made of it, and what comes back. The till computes
//! it from the original in its own outbox, so it is the same offline.
//!
//! # How a line's refund is computed
//!
//! Every figure of a returned line is the *cumulative* share of the
//! original line's figure for everything returned of it so far, minus what
//! earlier returns already gave: for a line of quantity `Q` of which `r`
//! was returned before and `q` now,
//!
//! - the refund of its total is `round_half_up(total × (r+q)/Q) −
//!   round_half_up(total × r/Q)`, and likewise its discount; the amount is
//!   their sum;
//! - the points clawed back are `round_down(points × (r+q)/Q) −
//!   round_down(points × r/Q)`;
//! - the points restored are the same for the line's share of the points
//!   spent on the check (spread over the lines by the discount points paid
//!   on each, largest remainder);
//! - the discount refunded is split over the rules that gave it in
//!   proportion to what each has not refunded yet (largest remainder).
//!
//! So the returns of a line always add up to exactly its original figures:
//! a full return, at once or in parts, refunds exactly the original total
//! and restores the customer's points balance exactly; and returning in
//! parts never gains or loses a kopeck against returning at once.
//!
//! # Uses given back
//!
//! A promotion's use is given back by the return after which every line it
//! discounted is fully returned (a promotion giving points only: every line
//! of the check). The return names it in `uses_returned`, once.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Utc};
use uuid::Uuid;

use crate::crypto::Hash256;
use crate::ids::{MerchantId, PromotionId, RegisterId, Seq, StoreId};
use crate::money::{
    AmountError, Money, Quantity, clamp_points, narrow_bounded, round_down, round_half_up,
};
use crate::pricing::{AppliedRule, RuleRef, allocate};
use crate::record::{PurchaseRecord, RECORD_FORMAT, RecordKind, RecordLine, RecordRef};

/// A line to return: the original line's position and how much of it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ReturnLine {
    /// The line's position in the original record, from 0.
    pub line_no: u32,
    /// How much comes back.
    pub quantity: Quantity,
}

/// Who writes the return record, and when.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ReturnHeader {
    /// The record's id.
    pub id: Uuid,
    /// The merchant.
    pub merchant_id: MerchantId,
    /// The store taking the return.
    pub store_id: StoreId,
    /// The register taking the return.
    pub register_id: RegisterId,
    /// Its seq there.
    pub seq: Seq,
    /// The hash of that register's previous record.
    pub prev_hash: Hash256,
    /// The register's clock.
    pub wall_time: DateTime<Utc>,
}

/// Why a return cannot be made.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReturnError {
    /// The original is itself a return.
    #[error("record {0} is a return, not a sale")]
    NotASale(Uuid),
    /// Nothing to return.
    #[error("a return needs at least one line")]
    Empty,
    /// The original has no such line.
    #[error("the sale has no line {line_no} (it has {lines})")]
    UnknownLine {
        /// The line asked for.
        line_no: u32,
        /// Lines in the sale.
        lines: usize,
    },
    /// More than is left of the line.
    #[error("line {line_no}: {asked} asked back, {left} left to return")]
    TooMuch {
        /// The line.
        line_no: u32,
        /// Quantity asked back.
        asked: Quantity,
        /// Quantity not yet returned (may be none).
        left: String,
    },
    /// An earlier return given is not a return of this sale, or is damaged.
    #[error("record {0} is not a return of this sale")]
    NotThisSale(Uuid),
    /// An amount out of range (only on corrupt input).
    #[error(transparent)]
    Amount(#[from] AmountError),
}

/// The refund of one original line.
struct LineRefund {
    line_no: u32,
    quantity: Quantity,
    total: i64,
    discount: i64,
    points: i64,
    restored: i64,
    rules: Vec<AppliedRule>,
}

/// Computes the return record of `lines` of `original`, given the returns
/// of it already made (`earlier`). Amounts of the result are negative (a
/// refund), `points_earned` is minus the points clawed back and
/// `points_redeemed` minus the points restored; see
/// [`crate::record::RecordKind::Return`].
pub fn return_record(
    original: &PurchaseRecord,
    earlier: &[PurchaseRecord],
    lines: &[ReturnLine],
    header: ReturnHeader,
) -> Result<PurchaseRecord, ReturnError> {
    if original.kind != RecordKind::Sale {
        return Err(ReturnError::NotASale(original.id));
    }
    let this = RecordRef {
        register_id: original.register_id,
        seq: original.seq,
        id: original.id,
    };
    let n = original.lines.len();
    // What earlier returns took: quantity, and discount by rule, per line.
    let mut returned = vec![0u64; n];
    let mut refunded: Vec<BTreeMap<RuleRef, i64>> = vec![BTreeMap::new(); n];
    let mut uses_given: BTreeSet<PromotionId> = BTreeSet::new();
    for e in earlier {
        let RecordKind::Return {
            original: of,
            original_lines,
            uses_returned,
        } = &e.kind
        else {
            return Err(ReturnError::NotThisSale(e.id));
        };
        if *of != this || original_lines.len() != e.lines.len() {
            return Err(ReturnError::NotThisSale(e.id));
        }
        for (&j, l) in original_lines.iter().zip(&e.lines) {
            let j = j as usize;
            if j >= n {
                return Err(ReturnError::NotThisSale(e.id));
            }
            returned[j] += l.quantity.milli();
            for a in &l.applied {
                *refunded[j].entry(a.rule.clone()).or_default() -= a.discount.minor();
            }
        }
        uses_given.extend(uses_returned.iter().cloned());
    }

    // Requested quantities per line, merged.
    if lines.is_empty() {
        return Err(ReturnError::Empty);
    }
    let mut asked: BTreeMap<u32, u64> = BTreeMap::new();
    for l in lines {
        if l.line_no as usize >= n {
            return Err(ReturnError::UnknownLine {
                line_no: l.line_no,
                lines: n,
            });
        }
        *asked.entry(l.line_no).or_default() += l.quantity.milli();
    }

    let redeemed_by_line = spread_redeemed(original);
    let mut refunds = Vec::with_capacity(asked.len());
    for (&line_no, &q) in &asked {
        let j = line_no as usize;
        let o = &original.lines[j];
        let full = o.quantity.milli();
        let before = returned[j];
        if before + q > full {
            return Err(ReturnError::TooMuch {
                line_no,
                asked: Quantity::from_milli(q)?,
                left: Quantity::from_milli(full - before.min(full))
                    .map_or_else(|_| "nothing".to_owned(), |left| left.to_string()),
            });
        }
        let after = before + q;
        let share = |value: i64, k: u64| {
            // A share `k/full ≤ 1` of a recorded figure, so it fits.
            narrow_bounded(round_half_up(
                i128::from(value) * i128::from(k),
                i128::from(full),
            ))
        };
        let down = |value: i64, k: u64| {
            clamp_points(round_down(
                i128::from(value) * i128::from(k),
                i128::from(full),
            ))
        };
        let total = share(o.total.minor(), after) - share(o.total.minor(), before);
        let discount = share(o.discount.minor(), after) - share(o.discount.minor(), before);
        let points = down(o.points, after) - down(o.points, before);
        let restored = down(redeemed_by_line[j], after) - down(redeemed_by_line[j], before);
        // The discount refunded, by rule, in proportion to what is left.
        let rules: Vec<&AppliedRule> = o.applied.iter().collect();
        let left: Vec<i64> = rules
            .iter()
            .map(|a| {
                let done = refunded[j].get(&a.rule).copied().unwrap_or(0);
                (a.discount.minor() - done).max(0)
            })
            .collect();
        let keys: Vec<usize> = (0..rules.len()).collect();
        let parts = allocate(discount, &left, &keys);
        let rules = rules
            .iter()
            .zip(parts)
            .filter(|&(_, d)| d > 0)
            .map(|(a, d)| {
                Ok(AppliedRule {
                    rule: a.rule.clone(),
                    discount: Money::from_minor(-d)?,
                    funded_by: a.funded_by.clone(),
                })
            })
            .collect::<Result<Vec<_>, AmountError>>()?;
        returned[j] = after;
        refunds.push(LineRefund {
            line_no,
            quantity: Quantity::from_milli(q)?,
            total,
            discount,
            points,
            restored,
            rules,
        });
    }

    // Uses given back: promotions whose lines are now all fully returned.
    let fully = |j: usize| returned[j] >= original.lines[j].quantity.milli();
    let all_back = (0..n).all(fully);
    let mut uses_returned = Vec::new();
    for a in &original.applied {
        let RuleRef::Promotion(id) = &a.rule else {
            continue;
        };
        if uses_given.contains(id) {
            continue;
        }
        let on: Vec<usize> = (0..n)
            .filter(|&j| original.lines[j].applied.iter().any(|x| x.rule == a.rule))
            .collect();
        let back = if on.is_empty() {
            all_back
        } else {
            on.iter().all(|&j| fully(j))
        };
        if back {
            uses_returned.push(id.clone());
        }
    }

    let mut record_lines = Vec::with_capacity(refunds.len());
    let mut by_rule: BTreeMap<RuleRef, (i64, Option<String>)> = BTreeMap::new();
    let (mut subtotal, mut discount, mut total, mut points, mut restored) = (0, 0, 0, 0, 0);
    for r in &refunds {
        let o = &original.lines[r.line_no as usize];
        for a in &r.rules {
            let e = by_rule
                .entry(a.rule.clone())
                .or_insert((0, a.funded_by.clone()));
            e.0 += a.discount.minor();
        }
        subtotal += r.total + r.discount;
        discount += r.discount;
        total += r.total;
        points += r.points;
        restored += r.restored;
        record_lines.push(RecordLine {
            sku: o.sku.clone(),
            name: o.name.clone(),
            category: o.category.clone(),
            quantity: r.quantity,
            unit_price: o.unit_price,
            amount: Money::from_minor(-(r.total + r.discount))?,
            discount: Money::from_minor(-r.discount)?,
            total: Money::from_minor(-r.total)?,
            points: -r.points,
            applied: r.rules.clone(),
        });
    }
    let applied = by_rule
        .into_iter()
        .map(|(rule, (d, funded_by))| {
            Ok(AppliedRule {
                rule,
                discount: Money::from_minor(d)?,
                funded_by,
            })
        })
        .collect::<Result<Vec<_>, AmountError>>()?;
    Ok(PurchaseRecord {
        format: RECORD_FORMAT,
        id: header.id,
        merchant_id: header.merchant_id,
        store_id: header.store_id,
        register_id: header.register_id,
        seq: header.seq,
        prev_hash: header.prev_hash,
        wall_time: header.wall_time,
        ruleset_version: original.ruleset_version,
        kind: RecordKind::Return {
            original: this,
            original_lines: refunds.iter().map(|r| r.line_no).collect(),
            uses_returned,
        },
        currency: original.currency,
        customer: original.customer,
        lines: record_lines,
        subtotal: Money::from_minor(-subtotal)?,
        discount: Money::from_minor(-discount)?,
        total: Money::from_minor(-total)?,
        points_earned: -points,
        points_redeemed: -restored,
        applied,
        point_awards: Vec::new(),
        pricing_inputs: None,
    })
}

/// The points spent on a sale, spread over its lines by the discount points
/// paid on each (else their totals, else equally), largest remainder with
/// ties by line content.
fn spread_redeemed(original: &PurchaseRecord) -> Vec<i64> {
    let lines = &original.lines;
    let paid: Vec<i64> = lines
        .iter()
        .map(|l| {
            l.applied
                .iter()
                .filter(|a| a.rule == RuleRef::Redemption)
                .map(|a| a.discount.minor().max(0))
                .sum()
        })
        .collect();
    let weights = if paid.iter().any(|&w| w > 0) {
        paid
    } else if lines.iter().any(|l| l.total > Money::ZERO) {
        lines.iter().map(|l| l.total.minor().max(0)).collect()
    } else {
        vec![1; lines.len()]
    };
    let keys: Vec<(&str, i64, u64, &str, usize)> = lines
        .iter()
        .enumerate()
        .map(|(i, l)| {
            (
                l.sku.as_str(),
                l.unit_price.minor(),
                l.quantity.milli(),
                l.name.as_str(),
                i,
            )
        })
        .collect();
    allocate(original.points_redeemed.max(0), &weights, &keys)
}

#[cfg(test)]
mod tests;
