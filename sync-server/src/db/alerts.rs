//! Primitives of alerts and the quarantine.

use chrono::{DateTime, Utc};
use shared::ids::{MerchantId, RegisterId, Seq};

use super::DbError;
use crate::alerts::{AlertKind, NewAlert};
use crate::ingest::CheckedRecord;
use crate::wire::{Alert, QuarantinedRecord};

/// Which alerts to list: newest first, older than `before` when given.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AlertPage {
    /// Only alerts with a smaller id.
    pub before: Option<i64>,
    /// The most alerts.
    pub limit: usize,
}

/// Reads and writes of alerts and quarantined records.
pub trait AlertsTx {
    /// When the register last raised an alert of `kind` (at `seq`, when
    /// given).
    fn last_alert_at(
        &mut self,
        register: RegisterId,
        kind: AlertKind,
        seq: Option<Seq>,
    ) -> Result<Option<DateTime<Utc>>, DbError>;
    /// Inserts an alert under the register's merchant; `NotFound` for an
    /// unknown register.
    fn insert_alert(&mut self, alert: &NewAlert) -> Result<(), DbError>;
    /// A merchant's alerts, newest first.
    fn alerts(&mut self, merchant: MerchantId, page: AlertPage) -> Result<Vec<Alert>, DbError>;
    /// Keeps a record that arrived at a stored seq with other bytes; false
    /// when the same bytes are in quarantine already.
    fn quarantine_record(
        &mut self,
        record: &CheckedRecord,
        now: DateTime<Utc>,
    ) -> Result<bool, DbError>;
    /// A merchant's quarantined records, newest first.
    fn quarantined(
        &mut self,
        merchant: MerchantId,
        limit: usize,
    ) -> Result<Vec<QuarantinedRecord>, DbError>;
}
