//! Points held while HQ checks a sale the re-pricer flagged (issue 9,
//! item 9): a flagged sale that earned points puts them on hold in the
//! same transaction as its flag, so no till and no standing makes them
//! available; HQ then **releases** them (the till's figures stand: they
//! mature as earned) or **voids** them (the sale earns nothing, and a
//! return of it claws nothing back). Both wake the registers' customer
//! feed, which carries the held points as pending with
//! [`shared::points::held_until`].

use std::sync::Arc;

use chrono::{DateTime, Utc};
use shared::ids::MerchantId;

use crate::db::{Announcement, DbError, HoldRow, HoldStatus, NewHold, RecordKey, Repository, Tx};
use crate::notify::{Notifier, Topic};
use crate::wire::{HoldResolution, PointsHoldView};

/// Holds shown at most on a page or in one answer.
pub const MAX_HOLDS: usize = 200;

/// Puts the points of a flagged record on hold, in the caller's
/// transaction, when the record earned points for a customer; whether a
/// hold was stored (the customer is then marked changed, so every till
/// fetches the standing again).
pub(crate) fn hold_in(
    tx: &mut dyn Tx,
    key: RecordKey,
    merchant: MerchantId,
    at: DateTime<Utc>,
) -> Result<bool, DbError> {
    let Some((customer_id, points)) = tx.ledger_earned(key)? else {
        return Ok(false);
    };
    // A return claws back (earned ≤ 0) and a sale without points has
    // nothing to hold.
    if points <= 0 {
        return Ok(false);
    }
    let stored = tx.insert_hold(&NewHold {
        key,
        merchant_id: merchant,
        customer_id,
        points,
        at,
    })?;
    if stored {
        tx.mark_customer_changed(merchant, customer_id)?;
        tx.announce(Announcement::Customers { merchant })?;
    }
    Ok(stored)
}

/// Why a hold was not resolved.
#[derive(Debug, thiserror::Error)]
pub enum HoldError {
    /// No such hold of the merchant.
    #[error("no points are held for this record")]
    NotFound,
    /// It was resolved before.
    #[error("these points were {} already", .0.as_str())]
    AlreadyResolved(HoldStatus),
    /// Storage failed.
    #[error(transparent)]
    Storage(#[from] DbError),
}

/// The holds service.
#[derive(Clone)]
pub struct Holds {
    repo: Arc<dyn Repository>,
    notifier: Arc<Notifier>,
}

impl Holds {
    /// The service over `repo`, waking registers through `notifier`.
    pub fn new(repo: Arc<dyn Repository>, notifier: Arc<Notifier>) -> Self {
        Holds { repo, notifier }
    }

    /// The merchant's holds with `status` (all when `None`), newest first,
    /// each with the fields the server priced differently.
    pub async fn list(
        &self,
        merchant: MerchantId,
        status: Option<HoldStatus>,
        limit: usize,
    ) -> Result<Vec<PointsHoldView>, DbError> {
        let limit = limit.min(MAX_HOLDS);
        self.repo
            .read(move |tx| {
                tx.merchant_currency(merchant)?;
                let rows = tx.holds(merchant, status, limit)?;
                rows.into_iter().map(|row| view(tx, row)).collect()
            })
            .await
    }

    /// Releases or voids a held record's points.
    #[tracing::instrument(skip(self), fields(merchant_id = %merchant))]
    pub async fn resolve(
        &self,
        merchant: MerchantId,
        key: RecordKey,
        resolution: HoldResolution,
        by: String,
        at: DateTime<Utc>,
    ) -> Result<PointsHoldView, HoldError> {
        let status = match resolution {
            HoldResolution::Release => HoldStatus::Released,
            HoldResolution::Void => HoldStatus::Voided,
        };
        let resolved = self
            .repo
            .write(move |tx| {
                let Some(hold) = tx.hold(merchant, key)? else {
                    return Ok(Err(HoldError::NotFound));
                };
                if hold.status != HoldStatus::Held {
                    return Ok(Err(HoldError::AlreadyResolved(hold.status)));
                }
                tx.resolve_hold(merchant, key, status, &by, at)?;
                tx.mark_customer_changed(merchant, hold.customer_id)?;
                tx.announce(Announcement::Customers { merchant })?;
                let Some(now) = tx.hold(merchant, key)? else {
                    return Ok(Err(HoldError::NotFound));
                };
                Ok(Ok(view(tx, now)?))
            })
            .await??;
        self.notifier.notify(Topic::Customers, merchant);
        tracing::info!(register_id = %key.register_id, seq = %key.seq,
            status = status.as_str(), "points hold resolved");
        Ok(resolved)
    }
}

fn view(tx: &mut dyn Tx, row: HoldRow) -> Result<PointsHoldView, DbError> {
    let mut fields = tx.mismatched_fields(row.key)?;
    fields.sort_by_key(|f| crate::services::oversight::field_rank(&f.field));
    Ok(PointsHoldView {
        register_id: row.key.register_id,
        seq: row.key.seq,
        customer_id: row.customer_id,
        points: row.points,
        status: row.status.as_str().to_owned(),
        held_at: row.held_at,
        resolved_at: row.resolved_at,
        resolved_by: row.resolved_by,
        fields,
    })
}
