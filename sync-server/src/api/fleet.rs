//! The fleet's versions: `GET /api/v1/admin/merchants/{id}/fleet` (the
//! minimum agent version and the registers below it, with their count)
//! and `GET`/`PUT …/fleet/minimum-version` (the minimum itself, parsed
//! here into an [`AgentVersion`]; bad text is a 422 naming the field).

use std::collections::HashMap;

use axum::extract::State;
use axum::response::{IntoResponse, Response};
use shared::ids::{MerchantId, StoreId};
use shared::version::AgentVersion;
use shared::wire::ErrorBody;

use super::extract::{Json, Path};
use crate::error::ApiError;
use crate::guard::AuditNote;
use crate::services::catalog::FleetReport;
use crate::state::AppState;
use crate::wire::fleet::{FleetView, LaggingRegister, MinimumAgentVersion};

/// The view of a report, with the stores' names.
fn fleet_view(report: FleetReport, stores: &HashMap<StoreId, String>) -> FleetView {
    let to_u64 = |n: usize| u64::try_from(n).unwrap_or(u64::MAX);
    FleetView {
        minimum_agent_version: report.minimum,
        registers_in_service: to_u64(report.in_service),
        lagging_count: to_u64(report.lagging.len()),
        lagging: report
            .lagging
            .into_iter()
            .map(|r| LaggingRegister {
                register_id: r.register.id,
                store_id: r.register.store_id,
                store_name: stores
                    .get(&r.register.store_id)
                    .cloned()
                    .unwrap_or_default(),
                hostname: r.register.hostname,
                agent_version: r.register.agent_version,
                last_heartbeat_at: r.heartbeat.map(|h| h.at),
            })
            .collect(),
    }
}

/// Parses the minimum as typed: blank or absent clears it.
///
/// # Errors
/// The [`shared::version::VersionError`]'s text, for a clear 422.
pub(crate) fn parse_minimum(text: Option<&str>) -> Result<Option<AgentVersion>, String> {
    match text.map(str::trim) {
        None | Some("") => Ok(None),
        Some(text) => AgentVersion::parse(text)
            .map(Some)
            .map_err(|e| e.to_string()),
    }
}

/// The audit trail's note of a change of the minimum.
pub(crate) fn audit_note(
    merchant: MerchantId,
    before: Option<&AgentVersion>,
    after: Option<&AgentVersion>,
) -> AuditNote {
    let show = |v: Option<&AgentVersion>| v.map_or_else(|| "none".to_owned(), ToString::to_string);
    AuditNote {
        merchant: Some(merchant),
        subject: Some("minimum agent version".to_owned()),
        before: show(before),
        after: show(after),
        ..AuditNote::default()
    }
}

#[utoipa::path(
    get,
    path = "/api/v1/admin/merchants/{id}/fleet",
    tag = "registers",
    summary = "The minimum agent version and the registers in service below it (store, version, last heartbeat), with their count.",
    params(("id" = MerchantId, Path, description = "The merchant.", example = 1)),
    responses(
        (status = 200, description = "The fleet's versions.", body = FleetView),
        (status = 401, description = "No admin token or API key, or a wrong or revoked one.", body = ErrorBody),
        (status = 403, description = "The key's role does not permit this, or it is another merchant's.", body = ErrorBody),
        (status = 404, description = "No such merchant.", body = ErrorBody),
        (status = 400, description = "A path parameter does not parse.", body = ErrorBody),
    ),
    security(("admin_token" = []), ("api_key" = [])),
)]
#[tracing::instrument(skip_all, fields(merchant_id = %merchant))]
pub(crate) async fn fleet(
    State(state): State<AppState>,
    Path(merchant): Path<MerchantId>,
) -> Result<Json<FleetView>, ApiError> {
    let report = state.services.catalog.fleet(merchant).await?;
    let stores: HashMap<StoreId, String> = state
        .services
        .catalog
        .stores(merchant)
        .await?
        .into_iter()
        .map(|s| (s.id, s.name))
        .collect();
    Ok(Json(fleet_view(report, &stores)))
}

#[utoipa::path(
    get,
    path = "/api/v1/admin/merchants/{id}/fleet/minimum-version",
    tag = "registers",
    summary = "The lowest agent version required of the merchant's registers (null: none).",
    params(("id" = MerchantId, Path, description = "The merchant.", example = 1)),
    responses(
        (status = 200, description = "The minimum.", body = MinimumAgentVersion),
        (status = 401, description = "No admin token or API key, or a wrong or revoked one.", body = ErrorBody),
        (status = 403, description = "The key's role does not permit this, or it is another merchant's.", body = ErrorBody),
        (status = 404, description = "No such merchant.", body = ErrorBody),
        (status = 400, description = "A path parameter does not parse.", body = ErrorBody),
    ),
    security(("admin_token" = []), ("api_key" = [])),
)]
pub(crate) async fn get_minimum(
    State(state): State<AppState>,
    Path(merchant): Path<MerchantId>,
) -> Result<Json<MinimumAgentVersion>, ApiError> {
    let report = state.services.catalog.fleet(merchant).await?;
    Ok(Json(MinimumAgentVersion {
        minimum_agent_version: report.minimum.map(|v| v.to_string()),
    }))
}

#[utoipa::path(
    put,
    path = "/api/v1/admin/merchants/{id}/fleet/minimum-version",
    tag = "registers",
    summary = "Sets the lowest agent version required of the merchant's registers (a semantic version such as `1.4.0`; null clears it). Registers below it are told in their heartbeat reply and raise an alarm; they go on selling and syncing.",
    params(("id" = MerchantId, Path, description = "The merchant.", example = 1)),
    request_body = MinimumAgentVersion,
    responses(
        (status = 200, description = "The minimum now.", body = MinimumAgentVersion),
        (status = 401, description = "No admin token or API key, or a wrong or revoked one.", body = ErrorBody),
        (status = 403, description = "The key's role does not permit this, or it is another merchant's.", body = ErrorBody),
        (status = 404, description = "No such merchant.", body = ErrorBody),
        (status = 400, description = "Malformed JSON, or a path parameter does not parse.", body = ErrorBody),
        (status = 415, description = "The body is not `application/json`.", body = ErrorBody),
        (status = 422, description = "`validation`: the text is not a semantic version; the message quotes it.", body = ErrorBody),
    ),
    security(("admin_token" = []), ("api_key" = [])),
)]
#[tracing::instrument(skip_all, fields(merchant_id = %merchant))]
pub(crate) async fn put_minimum(
    State(state): State<AppState>,
    Path(merchant): Path<MerchantId>,
    Json(body): Json<MinimumAgentVersion>,
) -> Result<Response, ApiError> {
    let minimum = match body.minimum_agent_version.as_deref() {
        None => None,
        Some(text) => Some(
            AgentVersion::parse(text)
                .map_err(|e| ApiError::validation(format!("minimum_agent_version: {e}")))?,
        ),
    };
    let before = state
        .services
        .catalog
        .set_minimum_agent_version(merchant, minimum.clone())
        .await?;
    let note = audit_note(merchant, before.as_ref(), minimum.as_ref());
    let reply = MinimumAgentVersion {
        minimum_agent_version: minimum.map(|v| v.to_string()),
    };
    Ok(note.attach(Json(reply).into_response()))
}
