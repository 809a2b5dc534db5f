//! Load shedding for uploads. At most `ingest.max_concurrent_batches`
//! batches are handled at once; an upload arriving when all are taken is
//! refused at the door with 429 `overloaded` and a `Retry-After` drawn from
//! `1..=ingest.retry_after_secs`, so the refused registers come back spread
//! out rather than all at once.
//!
//! The door is [`shed_ingest_load`], a middleware on the upload route: the
//! permit is taken before the body is read or the register authenticated,
//! so a refusal costs almost nothing, and it is held until the reply —
//! through signature checks and the write transaction. A register on a slow
//! link therefore holds its slot while its body arrives; batches are at most
//! `ingest.max_batch_bytes`, and shedding at the door is what keeps a burst
//! of returning registers from being read into memory. There is no queue:
//! a register that is told to wait keeps its records in its outbox, which
//! is a better queue than the server's memory.

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::Response;
use ring::rand::{SecureRandom as _, SystemRandom};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::config::IngestSettings;
use crate::error::ApiError;
use crate::state::AppState;

/// The bounded admission of upload batches.
#[derive(Debug)]
pub struct IngestAdmission {
    slots: Arc<Semaphore>,
    capacity: usize,
    retry_after_max_secs: u64,
}

impl IngestAdmission {
    /// Admission sized by `settings`.
    #[must_use]
    pub fn new(settings: &IngestSettings) -> Self {
        let capacity = settings.max_concurrent_batches.max(1);
        IngestAdmission {
            slots: Arc::new(Semaphore::new(capacity)),
            capacity,
            retry_after_max_secs: settings.retry_after_secs.max(1),
        }
    }

    /// A slot if one is free now, else the seconds to tell the client to
    /// wait before trying again.
    pub fn try_admit(&self) -> Result<OwnedSemaphorePermit, u64> {
        self.slots
            .clone()
            .try_acquire_owned()
            .map_err(|_| self.retry_after_secs())
    }

    /// Batches being handled now.
    #[must_use]
    pub fn in_flight(&self) -> usize {
        self.capacity.saturating_sub(self.slots.available_permits())
    }

    /// A wait in `1..=retry_after_max_secs`, at random.
    fn retry_after_secs(&self) -> u64 {
        let mut buf = [0u8; 8];
        match SystemRandom::new().fill(&mut buf) {
            Ok(()) => 1 + u64::from_le_bytes(buf) % self.retry_after_max_secs,
            // Without randomness, the longest wait is the safe answer.
            Err(_) => self.retry_after_max_secs,
        }
    }
}

/// Lets an upload through only while a slot is free; holds the slot until
/// the reply is ready.
pub async fn shed_ingest_load(
    State(state): State<AppState>,
    request: Request,
    next: Next,
) -> Result<Response, ApiError> {
    let permit = state.ingest_admission.try_admit().map_err(|retry_after| {
        tracing::debug!(retry_after, "ingest is at capacity; shedding an upload");
        state.metrics.shed();
        ApiError::overloaded(retry_after)
    })?;
    let response = next.run(request).await;
    drop(permit);
    Ok(response)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn admission(max_concurrent_batches: usize, retry_after_secs: u64) -> IngestAdmission {
        IngestAdmission::new(&IngestSettings {
            max_concurrent_batches,
            retry_after_secs,
            ..IngestSettings::default()
        })
    }

    #[test]
    fn slots_are_bounded_and_come_back_when_released() {
        let admission = admission(2, 3);
        let first = admission.try_admit().unwrap();
        let _second = admission.try_admit().unwrap();
        let refused = admission.try_admit().unwrap_err();
        assert!((1..=3).contains(&refused), "{refused}");
        drop(first);
        assert!(admission.try_admit().is_ok());
    }

    #[test]
    fn retry_after_is_jittered_within_the_bound() {
        let admission = admission(1, 4);
        let _held = admission.try_admit().unwrap();
        let waits: std::collections::BTreeSet<u64> = (0..200)
            .map(|_| admission.try_admit().unwrap_err())
            .collect();
        assert!(waits.iter().all(|w| (1..=4).contains(w)), "{waits:?}");
        assert!(waits.len() > 1, "the waits spread: {waits:?}");
    }
}
