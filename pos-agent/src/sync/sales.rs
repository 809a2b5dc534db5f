//! `GET /api/v1/sales`: a sale of another till (or one pruned from this
//! one) and the returns the server has stored of it, fetched for a return
//! at this till. Every record is verified with the key of the register
//! that signed it and must belong to this merchant; the caller keeps them
//! (see [`crate::store::fetched`]) so the next return of the sale works
//! offline.

use std::sync::Arc;
use std::time::Duration;

use reqwest::StatusCode;
use shared::record::{PurchaseRecord, RecordKind};
use shared::wire::sync::{SaleWithReturns, StoredRecord};
use shared::wire::till::OriginalSale;

use super::{SyncClient, SyncError};
use crate::agent::Agent;

/// How long a return waits for the server before going on with what the
/// till holds.
const LOOKUP_TIMEOUT: Duration = Duration::from_secs(3);

/// A verified record and the exact bytes it was signed over.
pub type FetchedRecord = (PurchaseRecord, Vec<u8>);

/// Asks the server for the sale and its returns; `None` when the server
/// holds no such sale of this merchant.
#[tracing::instrument(skip_all)]
pub async fn fetch_sale(
    agent: &Agent,
    original: OriginalSale,
) -> Result<Option<Vec<FetchedRecord>>, SyncError> {
    let client = SyncClient::new(
        &agent.config.sync,
        Arc::clone(&agent.clock),
        Arc::clone(&agent.sync_health),
    )?;
    let query: Vec<(&str, String)> = match original {
        OriginalSale::Seq { register_id, seq } => vec![
            ("register_id", register_id.to_string()),
            ("seq", seq.to_string()),
        ],
        OriginalSale::Record { record_id } => vec![("record_id", record_id.to_string())],
    };
    let request = client
        .get("/api/v1/sales")
        .query(&query)
        .timeout(LOOKUP_TIMEOUT);
    let found: SaleWithReturns = match client.send(request).await {
        Ok(response) => response
            .json()
            .await
            .map_err(|e| SyncError::Protocol(e.to_string()))?,
        Err(SyncError::Refused { status, .. }) if status == StatusCode::NOT_FOUND => {
            return Ok(None);
        }
        Err(err) => return Err(err),
    };
    verify(agent, found).map(Some)
}

fn verify(agent: &Agent, found: SaleWithReturns) -> Result<Vec<FetchedRecord>, SyncError> {
    let merchant = agent.config.register.merchant_id;
    let open = |stored: StoredRecord| {
        let verified = stored
            .record
            .open(&stored.public_key)
            .map_err(|e| SyncError::Protocol(format!("a fetched record does not verify: {e}")))?;
        if verified.record.merchant_id != merchant {
            return Err(SyncError::Protocol(
                "the server sent a record of another merchant".into(),
            ));
        }
        Ok((verified.record, verified.bytes))
    };
    let sale = open(found.sale)?;
    if sale.0.kind != RecordKind::Sale {
        return Err(SyncError::Protocol("the fetched sale is not a sale".into()));
    }
    let mut records = vec![sale];
    for stored in found.returns {
        let ret = open(stored)?;
        match &ret.0.kind {
            RecordKind::Return { original, .. } if original.id == records[0].0.id => {
                records.push(ret);
            }
            _ => {
                return Err(SyncError::Protocol(
                    "the server sent a return of another sale".into(),
                ));
            }
        }
    }
    Ok(records)
}
