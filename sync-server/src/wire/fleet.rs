//! The fleet's versions in the admin API: the minimum agent version HQ
//! requires of a merchant's registers, and the registers below it.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use shared::ids::{RegisterId, StoreId};
use shared::version::AgentVersion;

/// `GET`/`PUT /api/v1/admin/merchants/{id}/fleet/minimum-version`: the
/// lowest agent version required. On `PUT` the text is parsed as a semantic
/// version (`1.4.0`); `null` clears the minimum.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct MinimumAgentVersion {
    /// A semantic version such as `1.4.0`, or `null` for none.
    #[schema(value_type = Option<String>, example = "1.4.0")]
    pub minimum_agent_version: Option<String>,
}

/// `GET /api/v1/admin/merchants/{id}/fleet`: who lags.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct FleetView {
    /// The minimum HQ requires, if any.
    pub minimum_agent_version: Option<AgentVersion>,
    /// Registers not revoked.
    pub registers_in_service: u64,
    /// How many of them are below the minimum.
    pub lagging_count: u64,
    /// Those registers, by id.
    pub lagging: Vec<LaggingRegister>,
}

/// A register in service below the minimum agent version.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct LaggingRegister {
    /// The register.
    pub register_id: RegisterId,
    /// Its store.
    pub store_id: StoreId,
    /// The store's name.
    pub store_name: String,
    /// Its host name.
    pub hostname: String,
    /// The version it last reported (at enrollment or in a heartbeat).
    pub agent_version: String,
    /// When its last heartbeat came, if one did.
    pub last_heartbeat_at: Option<DateTime<Utc>>,
}
