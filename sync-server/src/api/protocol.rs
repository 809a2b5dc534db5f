//! `GET /api/v1/protocol`: the sync protocol versions this server speaks
//! and the limits of an upload, for an agent to ask before it talks. No
//! credentials needed.

use shared::wire::ErrorBody;

use axum::extract::State;

use super::extract::Json;
use crate::protocol::{SUPPORTED_VERSIONS, features};
use crate::state::AppState;
use crate::wire::{ProtocolInfo, UploadLimits};

#[utoipa::path(
    get,
    path = "/api/v1/protocol",
    tag = "sync",
    summary = "The sync protocol versions, features and upload limits of this server.",
    responses(
        (status = 200, description = "What the server speaks.", body = ProtocolInfo),
        (status = 426, description = "A sync protocol version this server does not speak.", body = ErrorBody),
    ),
    security(()),
)]
pub(crate) async fn protocol(State(state): State<AppState>) -> Json<ProtocolInfo> {
    let ingest = &state.settings.ingest;
    Json(ProtocolInfo {
        versions: SUPPORTED_VERSIONS.to_vec(),
        server_version: env!("CARGO_PKG_VERSION").to_owned(),
        limits: Some(UploadLimits {
            max_batch_records: ingest.max_batch_records,
            max_batch_bytes: ingest.max_batch_bytes,
        }),
        features: features(ingest).into_iter().map(str::to_owned).collect(),
    })
}
