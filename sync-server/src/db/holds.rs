//! Points held while HQ checks a sale the re-pricer flagged: storage
//! primitives only. Which sales are held, and what releasing or voiding
//! means for a standing, is decided in `services::holds` and
//! `shared::points`.

use chrono::{DateTime, Utc};
use shared::ids::{CustomerId, MerchantId};
use shared::points::PointsHold;

use super::{DbError, RecordKey};
use crate::wire::MismatchedField;

/// Where a hold stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum HoldStatus {
    /// Waiting for HQ.
    Held,
    /// Released: the till's figures stand.
    Released,
    /// Voided: the sale earns nothing.
    Voided,
}

impl HoldStatus {
    /// The stored text.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            HoldStatus::Held => "held",
            HoldStatus::Released => "released",
            HoldStatus::Voided => "voided",
        }
    }

    /// What the status means for the points of the sale's ledger entry.
    #[must_use]
    pub const fn points_hold(self) -> PointsHold {
        match self {
            HoldStatus::Held => PointsHold::Held,
            HoldStatus::Released => PointsHold::Clear,
            HoldStatus::Voided => PointsHold::Voided,
        }
    }

    /// The status of its stored text.
    pub fn parse(text: &str) -> Result<Self, DbError> {
        match text {
            "held" => Ok(HoldStatus::Held),
            "released" => Ok(HoldStatus::Released),
            "voided" => Ok(HoldStatus::Voided),
            other => Err(DbError::other(format!("unknown hold status {other:?}"))),
        }
    }
}

/// A hold to store.
#[derive(Debug, Clone)]
pub struct NewHold {
    /// The sale.
    pub key: RecordKey,
    /// Whose sale.
    pub merchant_id: MerchantId,
    /// Whose points.
    pub customer_id: CustomerId,
    /// The points the till says the sale earned.
    pub points: i64,
    /// When it was flagged.
    pub at: DateTime<Utc>,
}

/// A stored hold.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HoldRow {
    /// The sale.
    pub key: RecordKey,
    /// Whose points.
    pub customer_id: CustomerId,
    /// The points the till says the sale earned.
    pub points: i64,
    /// Where it stands.
    pub status: HoldStatus,
    /// When it was flagged.
    pub held_at: DateTime<Utc>,
    /// When HQ resolved it.
    pub resolved_at: Option<DateTime<Utc>>,
    /// Who resolved it.
    pub resolved_by: Option<String>,
}

/// Reads and writes of points holds.
pub trait HoldsTx {
    /// The customer and the points a stored record's ledger entry earned,
    /// if it has one.
    fn ledger_earned(&mut self, key: RecordKey) -> Result<Option<(CustomerId, i64)>, DbError>;
    /// Stores a hold unless the record has one (held or resolved); whether
    /// it was stored.
    fn insert_hold(&mut self, hold: &NewHold) -> Result<bool, DbError>;
    /// The merchant's holds with `status` (any when `None`), newest first.
    fn holds(
        &mut self,
        merchant: MerchantId,
        status: Option<HoldStatus>,
        limit: usize,
    ) -> Result<Vec<HoldRow>, DbError>;
    /// One of the merchant's holds.
    fn hold(&mut self, merchant: MerchantId, key: RecordKey) -> Result<Option<HoldRow>, DbError>;
    /// The fields the re-pricer found different in a record.
    fn mismatched_fields(&mut self, key: RecordKey) -> Result<Vec<MismatchedField>, DbError>;
    /// Moves a `held` hold of the merchant to `status`; whether it was held.
    fn resolve_hold(
        &mut self,
        merchant: MerchantId,
        key: RecordKey,
        status: HoldStatus,
        by: &str,
        at: DateTime<Utc>,
    ) -> Result<bool, DbError>;
}
