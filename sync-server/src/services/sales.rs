//! A stored sale with every return stored of it, each with the key of the
//! register that signed it, for a till taking a return of a sale made
//! elsewhere.
//!
//! These records are evidence, so each one's own signature is verified
//! before it is sent, whether or not the background audit has come to it
//! (records of the chain path are stored before their own signatures are
//! checked). A record whose signature does not verify is never sent: it
//! is marked failed, HQ is alerted, and the request is refused.

use std::sync::Arc;

use shared::ids::{MerchantId, RegisterId, Seq};
use shared::record::verify_record_bytes;
use shared::wire::sync::{SaleWithReturns, StoredRecord};

use super::oversight::raise_in;
use crate::alerts::NewAlert;
use crate::clock::Clock;
use crate::db::{DbError, RecordKey, Repository, SaleKey, SignedRow};

/// Sales as evidence for returns.
#[derive(Clone)]
pub struct Sales {
    repo: Arc<dyn Repository>,
    clock: Arc<dyn Clock>,
}

/// Why a sale cannot be given as evidence.
#[derive(Debug, thiserror::Error)]
pub enum SalesError {
    /// A stored record of the sale (or one of its returns) carries a
    /// signature of its own that does not verify.
    #[error(
        "stored record {seq} of register {register} does not verify with its register's key; it is not used as evidence (HQ is alerted)"
    )]
    Unverified {
        /// The register that sent it.
        register: RegisterId,
        /// Its seq.
        seq: Seq,
    },
    /// Storage failed.
    #[error(transparent)]
    Db(#[from] DbError),
}

fn stored(row: SignedRow) -> StoredRecord {
    StoredRecord {
        record: row.record,
        public_key: row.public_key,
    }
}

/// The first of `rows` whose own signature does not verify.
fn first_unverified(rows: &[&SignedRow]) -> Option<RecordKey> {
    rows.iter()
        .find(|row| {
            verify_record_bytes(
                &row.public_key,
                row.record.seq,
                &row.body,
                &row.record.signature,
            )
            .is_err()
        })
        .map(|row| RecordKey {
            register_id: row.record.register_id,
            seq: row.record.seq,
        })
}

impl Sales {
    /// The service over `repo`.
    pub fn new(repo: Arc<dyn Repository>, clock: Arc<dyn Clock>) -> Self {
        Sales { repo, clock }
    }

    /// A sale of the merchant with the returns stored of it, if stored,
    /// every record's own signature verified.
    pub async fn with_returns(
        &self,
        merchant: MerchantId,
        key: SaleKey,
    ) -> Result<Option<SaleWithReturns>, SalesError> {
        let found = self
            .repo
            .read(move |tx| {
                let Some((sale, record_id)) = tx.sale(merchant, key)? else {
                    return Ok(None);
                };
                let returns = tx.returns_of(merchant, record_id)?;
                Ok(Some((sale, returns)))
            })
            .await?;
        let Some((sale, returns)) = found else {
            return Ok(None);
        };
        let rows: Vec<&SignedRow> = std::iter::once(&sale).chain(&returns).collect();
        if let Some(bad) = first_unverified(&rows) {
            let now = self.clock.now();
            self.repo
                .write(move |tx| {
                    tx.set_audited(bad, false)?;
                    let alert = NewAlert::stored_signature_fails(
                        bad.register_id,
                        bad.seq,
                        "a return at a till asking for it",
                        now,
                    );
                    raise_in(tx, &alert)?;
                    Ok(())
                })
                .await?;
            tracing::error!(register_id = %bad.register_id, seq = %bad.seq,
                "a stored record asked for as evidence does not verify");
            return Err(SalesError::Unverified {
                register: bad.register_id,
                seq: bad.seq,
            });
        }
        Ok(Some(SaleWithReturns {
            sale: stored(sale),
            returns: returns.into_iter().map(stored).collect(),
        }))
    }
}
