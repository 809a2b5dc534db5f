//! `POST /api/v1/records`: a register uploads a contiguous range of its
//! signed purchase records; the server stores each exactly once. The route
//! sits behind the ingest admission (see `admission`), so an overloaded
//! server answers 429 before it gets here.
//!
//! Verifying the signatures is most of the work of an upload, so a batch
//! is cut into one part per core and the parts are verified at once on the
//! blocking pool; the write transaction then runs on the writer connection
//! while other registers' batches are being verified.
//!
//! A batch that carries `chain_signature` (from an agent that saw
//! `x-loyalty-features: chain-ingest`) takes the chain path when the
//! server offers it: the parts are parsed and checked without verifying
//! each record's signature, then the links and the one signature over the
//! last record's hash are checked ([`check_chain`]). Its records are
//! stored for the background audit of their own signatures.

use shared::wire::ErrorBody;

use std::sync::OnceLock;

use axum::extract::State;
use axum::http::StatusCode;
use shared::crypto::Hash256;
use shared::record::{RecordError, SignedRecord};
use shared::wire::sync::{UploadAck, UploadBatch};

use super::extract::Json;
use crate::alerts::NewAlert;
use crate::auth::UploadingRegister;
use crate::db::RegisterCredentials;
use crate::error::ApiError;
use crate::ingest::{
    Authentication, BatchError, ChainRefusal, CheckedRecord, IngestContext, IngestOutcome,
    check_chain, check_envelope, check_records,
};
use crate::metrics::RecordOutcome;
use crate::notify::Topic;
use crate::state::AppState;

#[utoipa::path(
    post,
    path = "/api/v1/records",
    tag = "sync",
    summary = "Uploads a contiguous range of the register's signed records (exactly once).",
    request_body = UploadBatch,
    responses(
        (status = 200, description = "Stored (or already stored).", body = UploadAck),
        (status = 400, description = "A record is malformed, badly signed or not contiguous; on the chain path, a record not bound to the batch's signature or a batch signature that does not verify (`bad_signature`).", body = ErrorBody),
        (status = 403, description = "A record names another register or store.", body = ErrorBody),
        (status = 409, description = "A fork, a gap (`expected_seq`) or a broken chain.", body = ErrorBody),
        (status = 413, description = "Too many records or bytes.", body = ErrorBody),
        (status = 429, description = "The server sheds load; see `Retry-After`.", body = ErrorBody),
        (status = 401, description = "Missing or wrong register credentials, or a revoked register.", body = ErrorBody),
        (status = 426, description = "A sync protocol version this server does not speak.", body = ErrorBody),
        (status = 415, description = "The body is not `application/json`.", body = ErrorBody),
        (status = 422, description = "The body does not fit the schema or its content is invalid.", body = ErrorBody),
    ),
    security(("register" = [])),
)]
#[tracing::instrument(skip_all, fields(register_id = %register.0.register_id, records = batch.records.len()))]
pub(crate) async fn upload(
    State(state): State<AppState>,
    register: UploadingRegister,
    Json(batch): Json<UploadBatch>,
) -> Result<Json<UploadAck>, ApiError> {
    let credentials = register.0;
    let max_records = state.settings.ingest.max_batch_records;
    let register_id = credentials.register_id;
    let merchant = credentials.merchant_id;
    let uploaded = batch.records.len() as u64;
    state.metrics.batch(batch.records.len());
    let chain_signature = batch
        .chain_signature
        .filter(|_| state.settings.ingest.chain_verified);
    let authentication = match chain_signature {
        Some(_) => Authentication::Chain,
        None => Authentication::EachRecord,
    };
    state.metrics.authenticated(chain_signature.is_some());
    let verifying = std::time::Instant::now();
    let checked = match check_envelope(&credentials, &batch.records, max_records) {
        Ok(()) => {
            let key = credentials.clone();
            check_in_parallel(credentials, batch.records, authentication)
                .await?
                .and_then(|records| match &chain_signature {
                    Some(signature) => {
                        check_chain(&key, &records, signature)?;
                        Ok(records)
                    }
                    None => Ok(records),
                })
        }
        Err(refusal) => Err(refusal),
    };
    state.metrics.verified(verifying.elapsed());
    let records = match checked {
        Ok(records) => records,
        Err(refusal) => {
            state.metrics.records(RecordOutcome::Refused, uploaded);
            alert_on_bad_signature(&state, register_id, &refusal).await;
            quarantine_bad_record(&state, register_id, &refusal).await?;
            return Err(refusal.into());
        }
    };
    let context = IngestContext {
        now: state.clock.now(),
        max_clock_drift_secs: state.settings.clock.max_drift_secs,
    };
    let now = context.now;
    let storing = std::time::Instant::now();
    let outcome = state
        .services
        .ingest
        .store(register_id, records, context)
        .await?;
    state.metrics.stored(storing.elapsed());
    match outcome {
        IngestOutcome::Stored(stored) => {
            let new = stored.new_records as u64;
            state.metrics.records(RecordOutcome::Stored, new);
            state
                .metrics
                .records(RecordOutcome::Duplicate, uploaded.saturating_sub(new));
            if stored.customers_changed {
                state.notifier.notify(Topic::Customers, merchant);
            }
            if stored.new_records > 0 {
                tracing::debug!(
                    new = stored.new_records,
                    clock_drift_secs = stored.clock_drift.map(|d| d.secs()),
                    "stored records"
                );
            }
            Ok(Json(UploadAck {
                acked_through: stored.head.map(|h| h.seq),
                head_hash: stored.head.map_or(Hash256::GENESIS, |h| h.hash),
                server_time: now,
            }))
        }
        IngestOutcome::Refused(refusal) => {
            state.metrics.records(RecordOutcome::Refused, uploaded);
            Err(refusal.into())
        }
    }
}

/// Records per part below which a batch is not cut further: a part on
/// another thread costs a hand-over, a record's checks about 40 µs.
const MIN_RECORDS_PER_PART: usize = 64;

/// The cores to verify on, read once.
fn cores() -> usize {
    static CORES: OnceLock<usize> = OnceLock::new();
    *CORES.get_or_init(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
}

/// Runs [`check_records`] over one part of `records` per core at once, off
/// the async workers, and puts the parts back in order. A refusal is the
/// first refused record's, as if the batch had been checked in order.
async fn check_in_parallel(
    credentials: RegisterCredentials,
    mut records: Vec<SignedRecord>,
    authentication: Authentication,
) -> Result<Result<Vec<CheckedRecord>, BatchError>, ApiError> {
    let parts = cores()
        .min(records.len().div_ceil(MIN_RECORDS_PER_PART))
        .max(1);
    let per_part = records.len().div_ceil(parts).max(1);
    let credentials = std::sync::Arc::new(credentials);
    let mut tasks = Vec::with_capacity(parts);
    while !records.is_empty() {
        let rest = records.split_off(per_part.min(records.len()));
        let part = std::mem::replace(&mut records, rest);
        let credentials = credentials.clone();
        // The parts log inside the upload's span.
        let span = tracing::Span::current();
        tasks.push(tokio::task::spawn_blocking(move || {
            span.in_scope(|| check_records(&credentials, part, authentication))
        }));
    }
    let mut checked = Vec::new();
    for task in tasks {
        match task.await.map_err(|e| ApiError::internal(&e))? {
            Ok(part) if checked.is_empty() => checked = part,
            Ok(part) => checked.extend(part),
            Err(refusal) => return Ok(Err(refusal)),
        }
    }
    Ok(Ok(checked))
}

/// Alerts HQ when the batch was refused for a signature that does not
/// verify; the refusal stands whether or not the alert is stored.
async fn alert_on_bad_signature(
    state: &AppState,
    register: shared::ids::RegisterId,
    refusal: &BatchError,
) {
    let alert = match refusal {
        BatchError::Record(RecordError::BadSignature { seq }) => {
            NewAlert::bad_signature(register, *seq, state.clock.now())
        }
        BatchError::Chain(chain) => NewAlert::bad_chain(register, chain, state.clock.now()),
        _ => return,
    };
    if let Err(e) = state.services.oversight.raise(alert).await {
        tracing::error!(error = %e, "could not record a bad signature alert");
    }
}

/// Quarantines and alerts a validly signed record whose sums do not add
/// up, so the refusal is never silent; a storage failure is the reply.
async fn quarantine_bad_record(
    state: &AppState,
    register: shared::ids::RegisterId,
    refusal: &BatchError,
) -> Result<(), ApiError> {
    if let BatchError::BadSums { record, error } = refusal {
        state
            .services
            .ingest
            .quarantine_bad_record(register, (**record).clone(), error, state.clock.now())
            .await?;
    }
    Ok(())
}

impl From<BatchError> for ApiError {
    fn from(e: BatchError) -> Self {
        let message = e.to_string();
        match e {
            BatchError::TooManyRecords { .. } => {
                ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, "batch_too_large", message)
            }
            BatchError::WrongRegister { .. } => ApiError::forbidden("wrong_register", message),
            BatchError::WrongPlace { .. } => ApiError::forbidden("wrong_store", message),
            BatchError::NotContiguous { .. } => ApiError::bad_request("not_contiguous", message),
            BatchError::Record(RecordError::BadSignature { .. }) => {
                ApiError::bad_request("bad_signature", message)
            }
            BatchError::Record(_) => ApiError::bad_request("bad_record", message),
            BatchError::Chain(_) => ApiError::bad_request("bad_signature", message),
            BatchError::BadSums { .. } => ApiError::bad_request("bad_record", message),
            BatchError::Format { .. } => ApiError::bad_request("unsupported_format", message),
            BatchError::Currency { .. } => ApiError::bad_request("currency_mismatch", message),
        }
    }
}

impl From<ChainRefusal> for ApiError {
    fn from(refusal: ChainRefusal) -> Self {
        match refusal {
            ChainRefusal::Fork { seqs } => {
                let listed: Vec<String> = seqs.iter().map(ToString::to_string).collect();
                ApiError::conflict(
                    "fork",
                    format!(
                        "record {} differs from the stored record at that seq; quarantined (forked seqs: {})",
                        listed.first().map_or("?", String::as_str),
                        listed.join(", ")
                    ),
                )
            }
            ChainRefusal::SeqGap { expected } => {
                ApiError::conflict("seq_gap", format!("the batch must start at seq {expected}"))
                    .with_expected_seq(expected)
            }
            ChainRefusal::ChainBroken { seq } => ApiError::conflict(
                "chain_broken",
                format!("record {seq} does not link to the record before it (prev_hash)"),
            ),
        }
    }
}
