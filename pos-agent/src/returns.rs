//! Returns of sales, computed from the original and the returns already made
//! of it, so they work offline and come out the same as they would online.
//!
//! The original is this register's own (in the outbox) or one fetched from
//! the server: a sale of another till, or one pruned from this outbox. When
//! the server can be reached the till first asks it for the sale and every
//! return stored of it, wherever taken, and keeps them (see
//! [`crate::store::fetched`]); offline it goes on with what it holds, so a
//! second return of a fetched sale works offline too.
//!
//! The sale, the earlier returns and the new record are read and written in
//! one transaction, so two returns of the same line at this till can never
//! both take the last unit.

use std::sync::Arc;

use rusqlite::Connection;
use shared::money::Quantity;
use shared::record::{PurchaseRecord, RecordKind};
use shared::returns::{ReturnError, ReturnHeader, ReturnLine, return_record};
use shared::wire::till::{OriginalSale, ReturnCommitted, ReturnItem, ReturnRequest};
use uuid::Uuid;

use crate::agent::Agent;
use crate::store::{StoreError, fetched, outbox};

/// Why a return was refused.
#[derive(Debug, thiserror::Error)]
pub enum ReturnFailed {
    /// The sale is neither in this register's outbox nor known from the
    /// server.
    #[error("no sale {0} in this register's outbox or known from the server{1}")]
    OriginalNotFound(String, String),
    /// A line of the request names neither or both of `line_no` and `sku`,
    /// or a SKU the sale does not hold enough of.
    #[error("{0}")]
    Item(String),
    /// The return itself is refused (too much, unknown line, not a sale).
    #[error(transparent)]
    Refused(#[from] ReturnError),
    /// The database failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl Agent {
    /// Commits a return of lines of a sale in the outbox and answers once
    /// the signed return record is durable.
    #[tracing::instrument(skip_all)]
    pub async fn return_items(
        &self,
        request: ReturnRequest,
    ) -> Result<ReturnCommitted, ReturnFailed> {
        let key = Arc::clone(&self.key);
        let max_upload_bytes = self.config.sync.max_upload_bytes;
        let register = &self.config.register;
        let (merchant_id, store_id) = (register.merchant_id, register.store_id);
        let register_id = self.config.sync.register_id;
        let fetch_failed = self.fetch_sale(request.original).await;
        let wall_time = self.clock.now();
        let leases = Arc::clone(&self.leases);
        let committed = self
            .db
            .call_for_till(move |conn| {
                let committed =
                    outbox::commit_with(conn, &key, max_upload_bytes, |tx, seq, prev_hash| {
                        let original = find_original(tx, register_id, request.original).map_err(
                            |e| match e {
                                ReturnFailed::OriginalNotFound(sale, _) => {
                                    ReturnFailed::OriginalNotFound(
                                        sale,
                                        fetch_failed
                                            .map(|why| {
                                                format!(" (the server could not be asked: {why})")
                                            })
                                            .unwrap_or_default(),
                                    )
                                }
                                other => other,
                            },
                        )?;
                        let earlier = earlier_returns(tx, &original)?;
                        let lines = resolve(&original, &earlier, &request.lines)?;
                        let header = ReturnHeader {
                            id: Uuid::now_v7(),
                            merchant_id,
                            store_id,
                            register_id,
                            seq,
                            prev_hash,
                            wall_time,
                        };
                        Ok::<_, ReturnFailed>(return_record(&original, &earlier, &lines, header)?)
                    });
                // The leases' book mirrors the outbox's lease spend, which
                // counts what a record gives of a promotion, returns too.
                if let Ok(record) = &committed {
                    leases
                        .lock()
                        .unwrap_or_else(std::sync::PoisonError::into_inner)
                        .count(record);
                }
                Ok(committed)
            })
            .await??;
        self.count_usage(&committed);
        self.upload_wake.notify_one();
        let (original_record_id, uses_returned) = match committed.kind {
            RecordKind::Return {
                original,
                uses_returned,
                ..
            } => (original.id, uses_returned),
            RecordKind::Sale => (Uuid::nil(), Vec::new()),
        };
        tracing::info!(seq = %committed.seq, refund = %committed.total.negate(), "return committed");
        Ok(ReturnCommitted {
            record_id: committed.id,
            seq: committed.seq,
            original_record_id,
            refund: committed.total.negate(),
            points_clawed_back: -committed.points_earned,
            points_restored: -committed.points_redeemed,
            uses_returned,
            lines: committed.lines,
        })
    }
}

impl Agent {
    /// Asks the server for the sale and its stored returns and keeps them.
    /// Skipped for a sale in this outbox while the server is unreachable,
    /// so an offline return does not wait; says why the server could not
    /// be asked, if it could not.
    async fn fetch_sale(&self, original: OriginalSale) -> Option<String> {
        let register_id = self.config.sync.register_id;
        let local = self
            .db
            .call(move |conn| Ok(local_original(conn, register_id, original)?.is_some()))
            .await
            .unwrap_or(false);
        if local && !self.sync_health.snapshot().reachable {
            return None;
        }
        let fetched = match crate::sync::sales::fetch_sale(self, original).await {
            Ok(Some(records)) => records,
            Ok(None) => return None,
            Err(err) => {
                tracing::warn!(error = %err, "could not ask the server for the sale");
                return Some(err.to_string());
            }
        };
        let now = self.clock.now();
        let stored = self
            .db
            .call(move |conn| fetched::store(conn, &fetched, now))
            .await;
        stored.err().map(|err| {
            tracing::warn!(error = %err, "could not keep the fetched sale");
            err.to_string()
        })
    }
}

fn local_original(
    conn: &Connection,
    register: shared::ids::RegisterId,
    original: OriginalSale,
) -> Result<Option<PurchaseRecord>, StoreError> {
    match original {
        OriginalSale::Seq { register_id, seq } if register_id == register => {
            outbox::record_at(conn, seq)
        }
        OriginalSale::Seq { .. } => Ok(None),
        OriginalSale::Record { record_id } => outbox::record_by_id(conn, record_id),
    }
}

fn find_original(
    conn: &Connection,
    register: shared::ids::RegisterId,
    original: OriginalSale,
) -> Result<PurchaseRecord, ReturnFailed> {
    let found = match local_original(conn, register, original)? {
        Some(sale) => Some(sale),
        None => match original {
            OriginalSale::Seq { register_id, seq } => fetched::sale_at(conn, register_id, seq)?,
            OriginalSale::Record { record_id } => fetched::sale_by_id(conn, record_id)?,
        },
    };
    found.ok_or_else(|| {
        ReturnFailed::OriginalNotFound(
            match original {
                OriginalSale::Seq { register_id, seq } => format!("{register_id}/{seq}"),
                OriginalSale::Record { record_id } => record_id.to_string(),
            },
            String::new(),
        )
    })
}

/// The returns made of `sale`: this till's, and those the server had
/// stored when last asked (taken at any till), each once.
fn earlier_returns(
    conn: &Connection,
    sale: &PurchaseRecord,
) -> Result<Vec<PurchaseRecord>, StoreError> {
    let mut earlier = outbox::returns_of(conn, sale.id)?;
    for ret in fetched::returns_of(conn, sale.id)? {
        if !earlier.iter().any(|r| r.id == ret.id) {
            earlier.push(ret);
        }
    }
    Ok(earlier)
}

/// Turns the request's items into lines of the sale: a `line_no` as given,
/// a `sku` as the earliest lines of that SKU with something left.
fn resolve(
    original: &PurchaseRecord,
    earlier: &[PurchaseRecord],
    items: &[ReturnItem],
) -> Result<Vec<ReturnLine>, ReturnFailed> {
    let mut left: Vec<u64> = original.lines.iter().map(|l| l.quantity.milli()).collect();
    for e in earlier {
        if let RecordKind::Return { original_lines, .. } = &e.kind {
            for (&j, l) in original_lines.iter().zip(&e.lines) {
                if let Some(q) = left.get_mut(j as usize) {
                    *q = q.saturating_sub(l.quantity.milli());
                }
            }
        }
    }
    let mut lines = Vec::new();
    for item in items {
        match (&item.line_no, &item.sku) {
            (Some(line_no), None) => {
                if let Some(q) = left.get_mut(*line_no as usize) {
                    *q = q.saturating_sub(item.quantity.milli());
                }
                lines.push(ReturnLine {
                    line_no: *line_no,
                    quantity: item.quantity,
                });
            }
            (None, Some(sku)) => {
                let mut wanted = item.quantity.milli();
                for (j, l) in original.lines.iter().enumerate() {
                    if wanted == 0 {
                        break;
                    }
                    if &l.sku != sku || left[j] == 0 {
                        continue;
                    }
                    let take = wanted.min(left[j]);
                    left[j] -= take;
                    wanted -= take;
                    lines.push(ReturnLine {
                        line_no: j as u32,
                        quantity: Quantity::from_milli(take).map_err(ReturnError::from)?,
                    });
                }
                if wanted > 0 {
                    return Err(ReturnFailed::Item(format!(
                        "the sale does not hold {} more of {sku} to return",
                        item.quantity
                    )));
                }
            }
            _ => {
                return Err(ReturnFailed::Item(
                    "each returned line names exactly one of line_no and sku".into(),
                ));
            }
        }
    }
    Ok(lines)
}
