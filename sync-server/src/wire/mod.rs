//! Wire DTOs that only this server speaks: the admin API ([`admin`]) and
//! the oversight replies; the agent-server contract is in [`shared::wire`]. They extend the shared contract without changing it:
//! [`RegisterView`] is the shared [`Register`] with more fields, so a
//! client decoding `Register` from the same reply keeps working.

use admin::Register;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use shared::crypto::Hash256;
use shared::ids::{CustomerId, RegisterId, Seq};
use uuid::Uuid;

pub mod admin;
pub mod analytics;
pub mod content;
pub mod drafts;
pub mod fleet;
pub mod segments;

pub use crate::alerts::AlertKind;

/// `GET /api/v1/protocol`: what an agent may speak to this server.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ProtocolInfo {
    /// The sync protocol versions spoken, ascending.
    pub versions: Vec<u32>,
    /// This server's version.
    pub server_version: String,
    /// What one upload may hold; a register refuses at commit a record
    /// that would not upload alone.
    #[serde(default)]
    pub limits: Option<UploadLimits>,
    /// The optional parts of the protocol offered, as in the
    /// `x-loyalty-features` header (`quota-leases`).
    #[serde(default)]
    pub features: Vec<String>,
}

/// The limits of `POST /api/v1/records`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct UploadLimits {
    /// The most records in one batch.
    pub max_batch_records: usize,
    /// The largest batch body in bytes (413 beyond).
    pub max_batch_bytes: usize,
}

/// An entry of `GET /api/v1/admin/merchants/{id}/alerts`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Alert {
    /// Id; larger is newer.
    pub id: i64,
    /// What happened.
    pub kind: AlertKind,
    /// The register.
    pub register_id: RegisterId,
    /// The record it happened at, where one applies.
    pub seq: Option<Seq>,
    /// What happened, for a person.
    pub detail: String,
    /// When the server saw it.
    pub created_at: DateTime<Utc>,
}

/// An entry of `GET /api/v1/admin/merchants/{id}/quarantine`: a record that
/// arrived at a stored seq with other bytes (a fork), kept, never stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct QuarantinedRecord {
    /// Id; larger is newer.
    pub id: i64,
    /// The register.
    pub register_id: RegisterId,
    /// The seq.
    pub seq: Seq,
    /// The hash of the record stored at that seq.
    pub stored_hash: Option<Hash256>,
    /// The hash of the bytes that arrived instead.
    pub received_hash: Hash256,
    /// When they arrived.
    pub received_at: DateTime<Utc>,
}

/// An entry of `GET /api/v1/admin/merchants/{id}/registers`: the shared
/// [`Register`] and the register's standing.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct RegisterView {
    /// The shared fields.
    #[serde(flatten)]
    pub register: Register,
    /// Whether HQ revoked it; its stored records stay and count.
    pub revoked: bool,
    /// When HQ revoked it.
    pub revoked_at: Option<DateTime<Utc>>,
    /// The last clock drift estimate, if a batch stored records since
    /// the server began estimating.
    pub clock_drift: Option<ClockDriftView>,
    /// Its last heartbeat, if it sent one.
    #[serde(default)]
    pub heartbeat: Option<HeartbeatView>,
}

/// A register's last heartbeat.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct HeartbeatView {
    /// When the server received it: the register's last contact.
    pub at: DateTime<Utc>,
    /// Records committed there and not yet acknowledged.
    pub backlog: i64,
    /// Records refused for good.
    pub dead_letters: i64,
    /// The ruleset version it prices with.
    pub ruleset_version: Option<i64>,
    /// Its alarms.
    pub alarms: Vec<String>,
}

/// A register's last clock drift estimate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ClockDriftView {
    /// Seconds the register's clock is ahead (negative: behind).
    pub secs: i64,
    /// When the server made the estimate.
    pub measured_at: DateTime<Utc>,
    /// Whether it is beyond `clock.max_drift_secs`.
    pub exceeds_limit: bool,
}

/// The reply to `POST /api/v1/admin/customers/{id}/link`: the customer's
/// new personal page link, shown once (the server keeps only a hash of its
/// secret). Any earlier link of the customer stops working.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct CustomerLink {
    /// The customer.
    pub customer_id: shared::ids::CustomerId,
    /// The page on the server's public address (or the `Host` asked).
    pub url: String,
    /// The page's path, `/c/<secret>`.
    pub path: String,
}

/// `GET /api/v1/admin/merchants/{id}/mismatches`: how the server's own
/// pricing of the stored records compares with the tills'.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct RepriceReport {
    /// Records by outcome.
    pub counts: RepriceCounts,
    /// Records not re-priced, by reason, most first.
    pub skipped: Vec<SkipCount>,
    /// Records priced differently, newest stored first.
    pub mismatches: Vec<PriceMismatch>,
}

/// Records by re-pricing outcome.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct RepriceCounts {
    /// Priced again: matched plus mismatched.
    pub repriced: i64,
    /// Priced again to the kopeck and point.
    pub matched: i64,
    /// Priced again with a difference.
    pub mismatched: i64,
    /// Not priced again, with a reason.
    pub skipped: i64,
    /// Stored, not looked at yet.
    pub pending: i64,
}

/// Records not re-priced for one reason.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct SkipCount {
    /// Why.
    pub reason: String,
    /// How many.
    pub records: i64,
}

/// A record the server priced differently from the till.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct PriceMismatch {
    /// The register.
    pub register_id: RegisterId,
    /// The seq there.
    pub seq: Seq,
    /// The record's id.
    pub record_id: Uuid,
    /// `sale` or `return`.
    pub kind: String,
    /// The register's clock when it was made.
    pub wall_time: DateTime<Utc>,
    /// What differs.
    pub fields: Vec<MismatchedField>,
}

/// Points of a flagged sale held until HQ resolves the flag.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct PointsHoldView {
    /// The register.
    pub register_id: RegisterId,
    /// The seq there.
    pub seq: Seq,
    /// Whose points.
    pub customer_id: CustomerId,
    /// The points the till says the sale earned.
    pub points: i64,
    /// `held`, `released` or `voided`.
    pub status: String,
    /// When the re-pricer flagged the sale.
    pub held_at: DateTime<Utc>,
    /// When HQ resolved it.
    pub resolved_at: Option<DateTime<Utc>>,
    /// Who resolved it.
    pub resolved_by: Option<String>,
    /// What the server priced differently.
    pub fields: Vec<MismatchedField>,
}

/// What HQ decides about held points.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum HoldResolution {
    /// The till's figures stand: the points mature as earned.
    Release,
    /// The sale earns no points.
    Void,
}

/// `POST …/holds/{register}/{seq}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ResolveHold {
    /// Release or void.
    pub resolution: HoldResolution,
}

/// One figure that differs: kopecks for money, points for points.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct MismatchedField {
    /// `total`, `discount`, `lines[2].total`, `points_earned`, …
    pub field: String,
    /// What the till recorded.
    pub till: i64,
    /// What the server computes.
    pub server: i64,
}
