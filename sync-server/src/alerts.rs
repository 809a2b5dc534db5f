//! Alerts for HQ: what a register did that a person should look at. Each
//! alert names its kind, the register, the seq where one applies, and a
//! human detail; HQ reads them newest first at
//! `GET /api/v1/admin/merchants/{id}/alerts`.
//!
//! | kind | raised when |
//! | --- | --- |
//! | `fork` | a stored seq arrived with other bytes; the record is quarantined |
//! | `chain_broken` | a new record does not link to its predecessor |
//! | `bad_signature` | a record's signature does not verify |
//! | `revoked_register_upload` | a revoked register, with its right secret, tried to upload |
//! | `clock_drift` | the register's clock seems off by more than `clock.max_drift_secs` |
//! | `price_mismatch` | the server priced a stored record differently from the till (`reprice`) |
//! | `unknown_customer` | a stored record names a customer the merchant does not have; it earned no one points |
//! | `bad_record` | a validly signed record's own sums do not add up; it is quarantined and the batch refused |
//!
//! Registers retry, so an alert is not repeated while the same thing keeps
//! happening: see [`Repetition`]. A fork alerts whenever a record is newly
//! quarantined; the quarantine itself ignores a byte-identical retry.

use chrono::{DateTime, TimeDelta, Utc};
use serde::{Deserialize, Serialize};
use shared::ids::{RegisterId, Seq};

use crate::drift::ClockDrift;

/// How long an alert that may not repeat stays quiet: one hour.
pub const QUIET_PERIOD_SECS: i64 = 3600;

/// [`QUIET_PERIOD_SECS`] as a duration.
#[must_use]
pub fn quiet_period() -> TimeDelta {
    TimeDelta::seconds(QUIET_PERIOD_SECS)
}

/// What an alert is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum AlertKind {
    /// A stored seq arrived with other bytes.
    Fork,
    /// A new record does not link to its predecessor.
    ChainBroken,
    /// A record's signature does not verify.
    BadSignature,
    /// A revoked register tried to upload.
    RevokedRegisterUpload,
    /// The register's clock is off.
    ClockDrift,
    /// The server priced a stored record differently from the till.
    PriceMismatch,
    /// A stored record names a customer the merchant does not have.
    UnknownCustomer,
    /// A validly signed record's own sums do not add up.
    BadRecord,
}

/// When an alert of a kind is raised again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Repetition {
    /// Every time the caller raises it.
    Always,
    /// Once per register and seq per quiet period.
    OncePerSeq,
    /// Once per register per quiet period.
    OncePerRegister,
}

/// A stored kind code that is not an [`AlertKind`].
#[derive(Debug, Clone, thiserror::Error)]
#[error("unknown alert kind {0:?}")]
pub struct UnknownAlertKind(String);

impl AlertKind {
    /// Every kind.
    pub const ALL: [AlertKind; 8] = [
        AlertKind::Fork,
        AlertKind::ChainBroken,
        AlertKind::BadSignature,
        AlertKind::RevokedRegisterUpload,
        AlertKind::ClockDrift,
        AlertKind::PriceMismatch,
        AlertKind::UnknownCustomer,
        AlertKind::BadRecord,
    ];

    /// The stable code used in storage and on the wire.
    #[must_use]
    pub const fn code(self) -> &'static str {
        match self {
            AlertKind::Fork => "fork",
            AlertKind::ChainBroken => "chain_broken",
            AlertKind::BadSignature => "bad_signature",
            AlertKind::RevokedRegisterUpload => "revoked_register_upload",
            AlertKind::ClockDrift => "clock_drift",
            AlertKind::PriceMismatch => "price_mismatch",
            AlertKind::UnknownCustomer => "unknown_customer",
            AlertKind::BadRecord => "bad_record",
        }
    }

    /// When an alert of this kind is raised again.
    #[must_use]
    pub const fn repetition(self) -> Repetition {
        match self {
            AlertKind::Fork => Repetition::Always,
            AlertKind::ChainBroken
            | AlertKind::BadSignature
            | AlertKind::PriceMismatch
            | AlertKind::UnknownCustomer
            | AlertKind::BadRecord => Repetition::OncePerSeq,
            AlertKind::RevokedRegisterUpload | AlertKind::ClockDrift => Repetition::OncePerRegister,
        }
    }
}

impl TryFrom<String> for AlertKind {
    type Error = UnknownAlertKind;

    fn try_from(code: String) -> Result<Self, Self::Error> {
        AlertKind::ALL
            .into_iter()
            .find(|kind| kind.code() == code)
            .ok_or(UnknownAlertKind(code))
    }
}

/// An alert to raise.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewAlert {
    /// The register it is about.
    pub register_id: RegisterId,
    /// What happened.
    pub kind: AlertKind,
    /// The record it happened at, where one applies.
    pub seq: Option<Seq>,
    /// What happened, for a person.
    pub detail: String,
    /// When the server saw it.
    pub created_at: DateTime<Utc>,
}

impl NewAlert {
    /// Stored seqs arrived with other bytes and were quarantined; `seqs`
    /// are the newly quarantined ones, ascending.
    #[must_use]
    pub fn fork(register_id: RegisterId, seqs: &[Seq], at: DateTime<Utc>) -> Option<Self> {
        let (first, last) = (*seqs.first()?, *seqs.last()?);
        let detail = if seqs.len() == 1 {
            format!("record {first} arrived with other bytes than the stored record; quarantined")
        } else {
            format!(
                "{} records between seq {first} and {last} arrived with other bytes than the stored records; quarantined",
                seqs.len()
            )
        };
        Some(NewAlert {
            register_id,
            kind: AlertKind::Fork,
            seq: Some(first),
            detail,
            created_at: at,
        })
    }

    /// Record `seq` does not link to the record before it.
    #[must_use]
    pub fn chain_broken(register_id: RegisterId, seq: Seq, at: DateTime<Utc>) -> Self {
        NewAlert {
            register_id,
            kind: AlertKind::ChainBroken,
            seq: Some(seq),
            detail: format!(
                "record {seq} does not link to the stored record before it (prev_hash); the batch was refused"
            ),
            created_at: at,
        }
    }

    /// Record `seq` carries a signature that does not verify.
    #[must_use]
    pub fn bad_signature(register_id: RegisterId, seq: Seq, at: DateTime<Utc>) -> Self {
        NewAlert {
            register_id,
            kind: AlertKind::BadSignature,
            seq: Some(seq),
            detail: format!(
                "record {seq} has a signature that does not verify with the register's key; the batch was refused"
            ),
            created_at: at,
        }
    }

    /// On the chain path: a record not bound to the batch's signature, or
    /// a batch signature that does not verify; the batch was refused.
    #[must_use]
    pub fn bad_chain(
        register_id: RegisterId,
        error: &shared::record::ChainError,
        at: DateTime<Utc>,
    ) -> Self {
        let seq = match error {
            shared::record::ChainError::Unbound { seq }
            | shared::record::ChainError::BadSignature { seq } => *seq,
        };
        NewAlert {
            register_id,
            kind: AlertKind::BadSignature,
            seq: Some(seq),
            detail: format!("{error}; the batch was refused"),
            created_at: at,
        }
    }

    /// A stored record's own signature does not verify: found by the
    /// background audit of records that came by the chain path, or when
    /// the record was about to be used as evidence (`during`).
    #[must_use]
    pub fn stored_signature_fails(
        register_id: RegisterId,
        seq: Seq,
        during: &str,
        at: DateTime<Utc>,
    ) -> Self {
        NewAlert {
            register_id,
            kind: AlertKind::BadSignature,
            seq: Some(seq),
            detail: format!(
                "stored record {seq} has a signature of its own that does not verify with the register's key (found by {during}); it was stored by the chain path and is not used as evidence"
            ),
            created_at: at,
        }
    }

    /// A revoked register presented its secret to upload.
    #[must_use]
    pub fn revoked_register_upload(register_id: RegisterId, at: DateTime<Utc>) -> Self {
        NewAlert {
            register_id,
            kind: AlertKind::RevokedRegisterUpload,
            seq: None,
            detail: format!(
                "register {register_id} was revoked but still tries to upload; its records were refused"
            ),
            created_at: at,
        }
    }

    /// The register's clock seems off, judged by record `seq`.
    #[must_use]
    pub fn clock_drift(
        register_id: RegisterId,
        seq: Seq,
        drift: ClockDrift,
        at: DateTime<Utc>,
    ) -> Self {
        NewAlert {
            register_id,
            kind: AlertKind::ClockDrift,
            seq: Some(seq),
            detail: format!("record {seq}: {}", drift.describe()),
            created_at: at,
        }
    }
}

impl NewAlert {
    /// Record `seq`, stored, names customer `customer`, whom the merchant
    /// does not have: its points were credited to no one.
    #[must_use]
    pub fn unknown_customer(
        register_id: RegisterId,
        seq: Seq,
        customer: shared::ids::CustomerId,
        at: DateTime<Utc>,
    ) -> Self {
        NewAlert {
            register_id,
            kind: AlertKind::UnknownCustomer,
            seq: Some(seq),
            detail: format!(
                "record {seq} names customer {customer}, whom the merchant does not have; \
                 it was stored without a customer and its points were credited to no one"
            ),
            created_at: at,
        }
    }

    /// Record `seq`, validly signed, does not add up: `why`. It was
    /// quarantined and its batch refused.
    #[must_use]
    pub fn bad_record(register_id: RegisterId, seq: Seq, why: &str, at: DateTime<Utc>) -> Self {
        NewAlert {
            register_id,
            kind: AlertKind::BadRecord,
            seq: Some(seq),
            detail: format!(
                "record {seq} does not add up ({why}); quarantined, the batch was refused"
            ),
            created_at: at,
        }
    }

    /// The server priced record `seq` differently from the till; `fields`
    /// names what differs, till value against server value.
    #[must_use]
    pub fn price_mismatch(
        register_id: RegisterId,
        seq: Seq,
        fields: &[crate::wire::MismatchedField],
        at: DateTime<Utc>,
    ) -> Self {
        let shown: Vec<String> = fields
            .iter()
            .take(5)
            .map(|f| format!("{} till {} server {}", f.field, f.till, f.server))
            .collect();
        let more = fields.len().saturating_sub(shown.len());
        let mut detail = format!(
            "record {seq}: the server prices it differently: {}",
            shown.join(", ")
        );
        if more > 0 {
            detail.push_str(&format!(" and {more} more"));
        }
        NewAlert {
            register_id,
            kind: AlertKind::PriceMismatch,
            seq: Some(seq),
            detail,
            created_at: at,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_round_trip_through_their_codes() {
        for kind in AlertKind::ALL {
            assert_eq!(AlertKind::try_from(kind.code().to_owned()).unwrap(), kind);
            assert_eq!(
                serde_json::to_value(kind).unwrap(),
                serde_json::Value::from(kind.code())
            );
        }
        assert!(AlertKind::try_from("meteor".to_owned()).is_err());
    }

    #[test]
    fn a_fork_alert_names_the_quarantined_range() {
        let register = RegisterId::new(3).unwrap();
        let at = DateTime::from_timestamp(1_790_000_000, 0).unwrap();
        let seq = |n| Seq::new(n).unwrap();
        assert_eq!(NewAlert::fork(register, &[], at), None);
        let one = NewAlert::fork(register, &[seq(2)], at).unwrap();
        assert_eq!((one.kind, one.seq), (AlertKind::Fork, Some(seq(2))));
        assert!(one.detail.starts_with("record 2 "), "{}", one.detail);
        let many = NewAlert::fork(register, &[seq(2), seq(3), seq(5)], at).unwrap();
        assert!(
            many.detail.starts_with("3 records between seq 2 and 5"),
            "{}",
            many.detail
        );
    }
}
