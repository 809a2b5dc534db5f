//! Merchant set-up (admin token): merchants, brands, stores, enrollment
//! tokens, rulesets and promotions, registers.

use axum::extract::State;
use axum::http::StatusCode;
use chrono::TimeDelta;
use shared::ids::{MerchantId, RegisterId, StoreId};
use shared::ruleset::{Promotion, Ruleset};
use shared::wire::admin::{
    Brand, EnrollmentToken, Merchant, NewBrand, NewEnrollmentToken, NewMerchant, NewStore,
    Published, Store,
};

use super::extract::{Json, Path};
use crate::auth::{ENROLLMENT_TOKEN_BYTES, hash_secret, random_hex};
use crate::db::{CurrentRuleset, NewEnrollmentToken as StoredEnrollmentToken, RegisterStatus};
use crate::error::ApiError;
use crate::publish::{PublishError, PublishRefusal, RulesetChange};
use crate::state::AppState;
use crate::wire::{ClockDriftView, RegisterView};

/// An enrollment token's lifetime when none is asked for: one day.
const DEFAULT_ENROLLMENT_TTL_SECS: u64 = 86_400;
/// The longest enrollment token lifetime: thirty days.
const MAX_ENROLLMENT_TTL_SECS: u64 = 30 * 86_400;

/// Refuses a blank name.
fn require_name(what: &str, name: &str) -> Result<(), ApiError> {
    if name.trim().is_empty() {
        return Err(ApiError::validation(format!(
            "{what} name must not be empty"
        )));
    }
    Ok(())
}

#[tracing::instrument(skip_all)]
pub(crate) async fn create_merchant(
    State(state): State<AppState>,
    Json(new): Json<NewMerchant>,
) -> Result<(StatusCode, Json<Merchant>), ApiError> {
    require_name("merchant", &new.name)?;
    let merchant = state.db.create_merchant(new).await?;
    tracing::info!(merchant_id = %merchant.id, "created a merchant");
    Ok((StatusCode::CREATED, Json(merchant)))
}

pub(crate) async fn list_merchants(
    State(state): State<AppState>,
) -> Result<Json<Vec<Merchant>>, ApiError> {
    Ok(Json(state.db.merchants().await?))
}

#[tracing::instrument(skip_all, fields(merchant_id = %merchant))]
pub(crate) async fn create_brand(
    State(state): State<AppState>,
    Path(merchant): Path<MerchantId>,
    Json(new): Json<NewBrand>,
) -> Result<(StatusCode, Json<Brand>), ApiError> {
    require_name("brand", &new.name)?;
    Ok((
        StatusCode::CREATED,
        Json(state.db.create_brand(merchant, new).await?),
    ))
}

#[tracing::instrument(skip_all, fields(merchant_id = %merchant))]
pub(crate) async fn create_store(
    State(state): State<AppState>,
    Path(merchant): Path<MerchantId>,
    Json(new): Json<NewStore>,
) -> Result<(StatusCode, Json<Store>), ApiError> {
    require_name("store", &new.name)?;
    if new.timezone.parse::<chrono_tz::Tz>().is_err() {
        return Err(ApiError::validation(format!(
            "time zone {:?} is not an IANA time zone such as \"Europe/Moscow\"",
            new.timezone
        )));
    }
    Ok((
        StatusCode::CREATED,
        Json(state.db.create_store(merchant, new).await?),
    ))
}

pub(crate) async fn list_stores(
    State(state): State<AppState>,
    Path(merchant): Path<MerchantId>,
) -> Result<Json<Vec<Store>>, ApiError> {
    Ok(Json(state.db.stores(merchant).await?))
}

#[tracing::instrument(skip_all, fields(store_id = %store))]
pub(crate) async fn create_enrollment_token(
    State(state): State<AppState>,
    Path(store): Path<StoreId>,
    Json(new): Json<NewEnrollmentToken>,
) -> Result<(StatusCode, Json<EnrollmentToken>), ApiError> {
    let ttl_secs = new.ttl_secs.unwrap_or(DEFAULT_ENROLLMENT_TTL_SECS);
    if !(1..=MAX_ENROLLMENT_TTL_SECS).contains(&ttl_secs) {
        return Err(ApiError::validation(format!(
            "ttl_secs must be 1..={MAX_ENROLLMENT_TTL_SECS}, got {ttl_secs}"
        )));
    }
    let token = random_hex(ENROLLMENT_TOKEN_BYTES)?;
    // In range by the check above, so the conversion cannot fail.
    let ttl = TimeDelta::seconds(i64::try_from(ttl_secs).unwrap_or(i64::MAX));
    let expires_at = state.clock.now() + ttl;
    state
        .db
        .create_enrollment_token(StoredEnrollmentToken {
            store_id: store,
            token_hash: hash_secret(&token),
            expires_at,
        })
        .await?;
    tracing::info!(%expires_at, "issued an enrollment token");
    Ok((
        StatusCode::CREATED,
        Json(EnrollmentToken {
            token,
            store_id: store,
            expires_at,
        }),
    ))
}

#[tracing::instrument(skip_all, fields(merchant_id = %merchant))]
pub(crate) async fn put_ruleset(
    State(state): State<AppState>,
    Path(merchant): Path<MerchantId>,
    Json(ruleset): Json<Ruleset>,
) -> Result<(StatusCode, Json<Published>), ApiError> {
    publish(&state, merchant, RulesetChange::Replace(ruleset)).await
}

#[tracing::instrument(skip_all, fields(merchant_id = %merchant))]
pub(crate) async fn post_promotion(
    State(state): State<AppState>,
    Path(merchant): Path<MerchantId>,
    Json(promotion): Json<Promotion>,
) -> Result<(StatusCode, Json<Published>), ApiError> {
    publish(&state, merchant, RulesetChange::UpsertPromotion(promotion)).await
}

async fn publish(
    state: &AppState,
    merchant: MerchantId,
    change: RulesetChange,
) -> Result<(StatusCode, Json<Published>), ApiError> {
    let published = crate::publish::publish(state, merchant, change).await?;
    Ok((StatusCode::CREATED, Json(published)))
}

impl From<PublishError> for ApiError {
    fn from(e: PublishError) -> Self {
        match e {
            PublishError::Refused(refusal) => refusal.into(),
            PublishError::Storage(e) => e.into(),
        }
    }
}

impl From<PublishRefusal> for ApiError {
    fn from(refusal: PublishRefusal) -> Self {
        match refusal {
            PublishRefusal::NoRuleset(_) => ApiError::conflict("no_ruleset", refusal.to_string()),
            PublishRefusal::Invalid(invalid) => {
                let faults = invalid.0.iter().map(ToString::to_string).collect();
                ApiError::validation(invalid.to_string()).with_faults(faults)
            }
            PublishRefusal::Currency { .. } => ApiError::validation(refusal.to_string()),
            PublishRefusal::VersionsExhausted | PublishRefusal::Seal(_) => {
                ApiError::internal(&refusal)
            }
        }
    }
}

pub(crate) async fn get_ruleset(
    State(state): State<AppState>,
    Path(merchant): Path<MerchantId>,
) -> Result<Json<CurrentRuleset>, ApiError> {
    state.db.merchant(merchant).await?;
    state
        .db
        .current_ruleset(merchant)
        .await?
        .map(Json)
        .ok_or_else(|| ApiError::not_found(format!("merchant {merchant} has no ruleset yet")))
}

/// The merchant's registers: the shared `Register` fields, whether each is
/// revoked, and its last clock drift estimate.
pub(crate) async fn list_registers(
    State(state): State<AppState>,
    Path(merchant): Path<MerchantId>,
) -> Result<Json<Vec<RegisterView>>, ApiError> {
    let max_drift_secs = state.settings.clock.max_drift_secs;
    let registers = state.db.registers(merchant).await?;
    Ok(Json(
        registers
            .into_iter()
            .map(|status| register_view(status, max_drift_secs))
            .collect(),
    ))
}

fn register_view(status: RegisterStatus, max_drift_secs: u64) -> RegisterView {
    RegisterView {
        register: status.register,
        revoked: status.revoked_at.is_some(),
        revoked_at: status.revoked_at,
        clock_drift: status.clock.map(|reading| ClockDriftView {
            secs: reading.drift.secs(),
            measured_at: reading.measured_at,
            exceeds_limit: reading.drift.exceeds(max_drift_secs),
        }),
    }
}

#[tracing::instrument(skip_all, fields(register_id = %register))]
pub(crate) async fn revoke_register(
    State(state): State<AppState>,
    Path(register): Path<RegisterId>,
) -> Result<StatusCode, ApiError> {
    state
        .db
        .revoke_register(register, state.clock.now())
        .await?;
    tracing::warn!("revoked a register");
    Ok(StatusCode::NO_CONTENT)
}
