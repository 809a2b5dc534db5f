//! A stored sale with every return stored of it, each with the key of the
//! register that signed it, for a till taking a return of a sale made
//! elsewhere.

use std::sync::Arc;

use shared::ids::MerchantId;
use shared::wire::sync::{SaleWithReturns, StoredRecord};

use crate::db::{DbError, Repository, SaleKey, SignedRow};

/// Sales as evidence for returns.
#[derive(Clone)]
pub struct Sales {
    repo: Arc<dyn Repository>,
}

fn stored(row: SignedRow) -> StoredRecord {
    StoredRecord {
        record: row.record,
        public_key: row.public_key,
    }
}

impl Sales {
    /// The service over `repo`.
    pub fn new(repo: Arc<dyn Repository>) -> Self {
        Sales { repo }
    }

    /// A sale of the merchant with the returns stored of it, if stored.
    pub async fn with_returns(
        &self,
        merchant: MerchantId,
        key: SaleKey,
    ) -> Result<Option<SaleWithReturns>, DbError> {
        self.repo
            .read(move |tx| {
                let Some((sale, record_id)) = tx.sale(merchant, key)? else {
                    return Ok(None);
                };
                let returns = tx.returns_of(merchant, record_id)?;
                Ok(Some(SaleWithReturns {
                    sale: stored(sale),
                    returns: returns.into_iter().map(stored).collect(),
                }))
            })
            .await
    }
}
