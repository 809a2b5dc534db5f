//! `GET /v1/scanners`: each barcode scanner's state and counters.

use axum::extract::State;
use shared::wire::till::ScannerView;

use super::{ApiState, Json};

/// Every configured scanner, in configuration order: connected or not (and
/// why), scans and failures since start, and when the last scan arrived.
pub async fn list(State(s): State<ApiState>) -> Json<Vec<ScannerView>> {
    Json(s.scanners.views())
}
