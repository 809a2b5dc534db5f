//! Promotion drafts (issue 11): a promotion saved per merchant without
//! publishing it, so it never reaches a till; its what-if
//! ([`super::whatif`]); and publishing it in one step, now or at a set
//! time, through [`Publisher::publish`] (validation, versioning, signing),
//! the one publish path.
//!
//! # Publishing exactly once
//!
//! A publish first claims the draft in a write transaction (`draft` or
//! `scheduled` or `failed` → `publishing`, with the time), then publishes,
//! then notes the outcome (`published` with the version, or `failed` with
//! the refusal naming the field). A scheduled draft is claimed by the
//! background task ([`run`]) once its time has come. A server that stops
//! between the claim and the note leaves the draft `publishing`; the task
//! takes such a draft up again after [`STALE_CLAIM`], and a draft whose
//! exact promotion is already in the current rules is noted published at
//! that version without publishing again. So a draft is published once,
//! across restarts and instances (PostgreSQL claims skip rows another
//! instance holds).

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};
use shared::ids::MerchantId;
use shared::ruleset::Promotion;
use tokio::sync::watch;

use crate::clock::Clock;
use crate::db::{DbError, DraftRow, DraftStatus, NewDraft, Repository};
use crate::services::publish::{PublishError, PublishRefusal, Publisher, RulesetChange};
use crate::services::whatif::{self, Days, WhatIfError, WhatIfSubject};
use crate::wire::drafts::{DraftView, WhatIfReport};

/// How often the task looks for drafts whose time has come.
const EVERY: Duration = Duration::from_secs(1);
/// A claim older than this whose outcome was never noted is taken again.
pub const STALE_CLAIM: TimeDelta = TimeDelta::seconds(60);
/// Drafts published per pass.
const PASS: usize = 20;

/// Why a draft use case did not happen.
#[derive(Debug, thiserror::Error)]
pub enum DraftError {
    /// No such draft of this merchant (or no such merchant).
    #[error("no such draft")]
    NotFound,
    /// A field is invalid; it is named.
    #[error("{field}: {message}")]
    Invalid {
        /// The field.
        field: &'static str,
        /// What is wrong.
        message: String,
    },
    /// It was published already, or is being published.
    #[error("the draft is {0} already")]
    Done(&'static str),
    /// The publish was refused (validation names the field).
    #[error(transparent)]
    Refused(PublishRefusal),
    /// The what-if could not be computed.
    #[error(transparent)]
    WhatIf(WhatIfError),
    /// Storage failed.
    #[error(transparent)]
    Db(#[from] DbError),
}

impl From<WhatIfError> for DraftError {
    fn from(e: WhatIfError) -> Self {
        match e {
            WhatIfError::Db(e) => DraftError::Db(e),
            WhatIfError::Invalid { field, message } => DraftError::Invalid { field, message },
            other => DraftError::WhatIf(other),
        }
    }
}

/// The drafts service.
#[derive(Clone)]
pub struct Drafts {
    repo: Arc<dyn Repository>,
    clock: Arc<dyn Clock>,
    publisher: Publisher,
}

/// A stored draft with its promotion parsed.
fn view(row: DraftRow) -> Result<DraftView, DbError> {
    let promotion: Promotion = serde_json::from_str(&row.promotion)
        .map_err(|e| DbError::other(format!("draft {}: the stored promotion: {e}", row.id)))?;
    Ok(DraftView {
        id: row.id,
        promotion,
        status: row.status.code().to_owned(),
        created_by: row.created_by,
        created_at: row.created_at,
        publish_at: row.publish_at,
        published_version: row.published_version,
        published_at: row.published_at,
        failure: row.failure,
    })
}

/// The text of a refusal, naming the field.
#[must_use]
pub fn refusal_text(refusal: &PublishRefusal) -> String {
    match refusal {
        PublishRefusal::Invalid(invalid) => invalid
            .0
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join("; "),
        other => other.to_string(),
    }
}

impl Drafts {
    /// The service over `repo`, publishing through `publisher`.
    pub fn new(repo: Arc<dyn Repository>, clock: Arc<dyn Clock>, publisher: Publisher) -> Self {
        Drafts {
            repo,
            clock,
            publisher,
        }
    }

    /// Saves `promotion` as a new draft of the merchant, by `actor`.
    #[tracing::instrument(skip_all, fields(merchant_id = %merchant))]
    pub async fn save(
        &self,
        merchant: MerchantId,
        promotion: Promotion,
        actor: String,
    ) -> Result<DraftView, DraftError> {
        let json = serde_json::to_string(&promotion).map_err(DbError::other)?;
        let new = NewDraft {
            promotion_id: promotion.id.as_str().to_owned(),
            promotion: json,
            created_by: actor,
            created_at: self.clock.now(),
        };
        let row = self
            .repo
            .write(move |tx| {
                if tx.merchant(merchant)?.is_none() {
                    return Ok(None);
                }
                let id = tx.insert_draft(merchant, &new)?;
                tx.draft(merchant, id)
            })
            .await?
            .ok_or(DraftError::NotFound)?;
        tracing::info!(draft_id = row.id, promotion_id = %row.promotion_id, "saved a draft");
        Ok(view(row)?)
    }

    /// The merchant's drafts, newest first.
    pub async fn list(&self, merchant: MerchantId) -> Result<Vec<DraftView>, DraftError> {
        let rows = self
            .repo
            .read(move |tx| {
                if tx.merchant(merchant)?.is_none() {
                    return Ok(None);
                }
                tx.drafts(merchant).map(Some)
            })
            .await?
            .ok_or(DraftError::NotFound)?;
        Ok(rows.into_iter().map(view).collect::<Result<_, _>>()?)
    }

    /// One draft of the merchant.
    pub async fn get(&self, merchant: MerchantId, id: i64) -> Result<DraftView, DraftError> {
        let row = self
            .repo
            .read(move |tx| tx.draft(merchant, id))
            .await?
            .ok_or(DraftError::NotFound)?;
        Ok(view(row)?)
    }

    /// Deletes a draft of the merchant.
    pub async fn delete(&self, merchant: MerchantId, id: i64) -> Result<(), DraftError> {
        if self
            .repo
            .write(move |tx| tx.delete_draft(merchant, id))
            .await?
        {
            Ok(())
        } else {
            Err(DraftError::NotFound)
        }
    }

    /// The what-if of a draft over the last `days` of stored sales.
    pub async fn what_if(
        &self,
        merchant: MerchantId,
        id: i64,
        days: Days,
    ) -> Result<WhatIfReport, DraftError> {
        let draft = self.get(merchant, id).await?;
        let subject = WhatIfSubject {
            merchant,
            draft_id: draft.id,
            promotion: draft.promotion,
        };
        Ok(whatif::what_if(&self.repo, subject, days, self.clock.now()).await?)
    }

    /// Publishes a draft now; a refusal is noted on the draft and returned.
    #[tracing::instrument(skip_all, fields(merchant_id = %merchant, draft_id = id))]
    pub async fn publish_now(
        &self,
        merchant: MerchantId,
        id: i64,
    ) -> Result<DraftView, DraftError> {
        let now = self.clock.now();
        let claimed = self
            .repo
            .write(move |tx| {
                let Some(mut row) = tx.draft(merchant, id)? else {
                    return Ok(Err(DraftError::NotFound));
                };
                if let Some(done) = finished(row.status) {
                    return Ok(Err(DraftError::Done(done)));
                }
                row.status = DraftStatus::Publishing;
                row.claimed_at = Some(now);
                row.failure = None;
                tx.set_draft_status(id, &row)?;
                Ok(Ok(row))
            })
            .await??;
        match self.publish_claimed(claimed).await? {
            Ok(row) => Ok(view(row)?),
            Err(refusal) => Err(DraftError::Refused(refusal)),
        }
    }

    /// Schedules a draft to be published at `at`, which must be later
    /// than now.
    #[tracing::instrument(skip_all, fields(merchant_id = %merchant, draft_id = id))]
    pub async fn schedule(
        &self,
        merchant: MerchantId,
        id: i64,
        at: DateTime<Utc>,
    ) -> Result<DraftView, DraftError> {
        let now = self.clock.now();
        if at <= now {
            return Err(DraftError::Invalid {
                field: "at",
                message: "the time to publish at must be in the future".to_owned(),
            });
        }
        let row = self
            .repo
            .write(move |tx| {
                let Some(mut row) = tx.draft(merchant, id)? else {
                    return Ok(Err(DraftError::NotFound));
                };
                if let Some(done) = finished(row.status) {
                    return Ok(Err(DraftError::Done(done)));
                }
                row.status = DraftStatus::Scheduled;
                row.publish_at = Some(at);
                row.failure = None;
                tx.set_draft_status(id, &row)?;
                Ok(Ok(row))
            })
            .await??;
        tracing::info!(%at, "scheduled a draft");
        Ok(view(row)?)
    }

    /// One pass of the task: claims the drafts whose time has come (and
    /// claims left stale) and publishes them; how many it handled.
    pub async fn publish_due(&self) -> Result<usize, DbError> {
        let now = self.clock.now();
        let claimed = self
            .repo
            .write(move |tx| {
                let mut due = tx.drafts_due(DraftStatus::Scheduled, now, PASS)?;
                due.extend(tx.drafts_due(DraftStatus::Publishing, now - STALE_CLAIM, PASS)?);
                for row in &mut due {
                    row.status = DraftStatus::Publishing;
                    row.claimed_at = Some(now);
                    tx.set_draft_status(row.id, row)?;
                }
                Ok(due)
            })
            .await?;
        let n = claimed.len();
        for row in claimed {
            let id = row.id;
            if let Err(refusal) = self.publish_claimed(row).await? {
                tracing::warn!(draft_id = id, reason = %refusal, "a scheduled draft was refused");
            }
        }
        Ok(n)
    }

    /// Publishes a claimed draft and notes the outcome: the draft as
    /// noted, or the refusal (noted too).
    async fn publish_claimed(
        &self,
        mut row: DraftRow,
    ) -> Result<Result<DraftRow, PublishRefusal>, DbError> {
        let merchant = row.merchant_id;
        let promotion: Promotion = serde_json::from_str(&row.promotion).map_err(DbError::other)?;
        // A retry after a stop between publish and note: already there.
        let current = self.publisher.current(merchant).await?;
        let already = current.as_ref().and_then(|c| {
            c.ruleset
                .promotions
                .contains(&promotion)
                .then_some(c.version)
        });
        let outcome = match already {
            Some(version) => Ok(version),
            None => match self
                .publisher
                .publish(merchant, RulesetChange::UpsertPromotion(promotion))
                .await
            {
                Ok(published) => Ok(published.version),
                Err(PublishError::Refused(refusal)) => Err(refusal),
                Err(PublishError::Storage(e)) => return Err(e),
            },
        };
        let now = self.clock.now();
        match &outcome {
            Ok(version) => {
                row.status = DraftStatus::Published;
                row.published_version = Some(version.get());
                row.published_at = Some(now);
                row.failure = None;
                tracing::info!(draft_id = row.id, %version, "published a draft");
            }
            Err(refusal) => {
                row.status = DraftStatus::Failed;
                row.failure = Some(refusal_text(refusal));
            }
        }
        let noted = row.clone();
        self.repo
            .write(move |tx| tx.set_draft_status(noted.id, &noted))
            .await?;
        Ok(outcome.map(|_| row))
    }
}

/// Why a draft cannot be published again, if it cannot.
fn finished(status: DraftStatus) -> Option<&'static str> {
    match status {
        DraftStatus::Published => Some("published"),
        DraftStatus::Publishing => Some("being published"),
        DraftStatus::Draft | DraftStatus::Scheduled | DraftStatus::Failed => None,
    }
}

/// Publishes scheduled drafts as their time comes, until `stop` turns
/// true. `serve` runs it; a test server with its own clock spawns it.
pub async fn run(drafts: Drafts, mut stop: watch::Receiver<bool>) {
    tracing::info!("scheduled publishing started");
    loop {
        if *stop.borrow() {
            break;
        }
        if let Err(e) = drafts.publish_due().await {
            tracing::error!(error = %e, "scheduled publishing failed; retrying");
        }
        tokio::select! {
            _ = stop.changed() => {}
            () = tokio::time::sleep(EVERY) => {}
        }
    }
    tracing::info!("scheduled publishing stopped");
}
