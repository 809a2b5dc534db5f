//! `GET /v1/scanners`: each barcode scanner's state and counters.

use shared::wire::ErrorBody;

use axum::extract::State;
use shared::wire::till::ScannerView;

use super::{ApiState, Json};

/// Every configured scanner, in configuration order: connected or not (and
/// why), scans and failures since start, and when the last scan arrived.
#[utoipa::path(
    get,
    path = "/v1/scanners",
    operation_id = "list_scanners",
    tag = "agent",
    summary = "Each barcode scanner's state and counters.",
    responses(
        (status = 200, description = "The scanners.", body = Vec<ScannerView>),
        (status = 401, description = "The till's token is required and was missing or wrong.", body = ErrorBody),
        (status = 403, description = "The `Host` or `Origin` is not allowed.", body = ErrorBody),
    ),
)]
pub async fn list(State(s): State<ApiState>) -> Json<Vec<ScannerView>> {
    Json(s.scanners.views())
}
