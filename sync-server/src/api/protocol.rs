//! `GET /api/v1/protocol`: the sync protocol versions this server speaks,
//! for an agent to ask before it talks. No credentials needed.

use super::extract::Json;
use crate::protocol::SUPPORTED_VERSIONS;
use crate::wire::ProtocolInfo;

pub(crate) async fn protocol() -> Json<ProtocolInfo> {
    Json(ProtocolInfo {
        versions: SUPPORTED_VERSIONS.to_vec(),
        server_version: env!("CARGO_PKG_VERSION").to_owned(),
    })
}
