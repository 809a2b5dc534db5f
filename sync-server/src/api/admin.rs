//! Merchant set-up (admin token): merchants, brands, stores, enrollment
//! tokens, rulesets and promotions, registers.

use shared::wire::ErrorBody;

use crate::wire::admin::{
    Brand, EnrollmentToken, Merchant, NewBrand, NewEnrollmentToken, NewMerchant, NewStore,
    Published, Store,
};
use axum::extract::State;
use axum::http::StatusCode;
use shared::ids::{MerchantId, RegisterId, StoreId};
use shared::ruleset::{Promotion, Ruleset};

use super::extract::{Json, Path};
use crate::db::{CurrentRuleset, RegisterStatus};
use crate::error::ApiError;
use crate::services::catalog::CatalogError;
use crate::services::publish::{PublishError, PublishRefusal, RulesetChange};
use crate::state::AppState;
use crate::wire::{ClockDriftView, HeartbeatView, RegisterView};

#[utoipa::path(
    post,
    path = "/api/v1/admin/merchants",
    tag = "merchants",
    summary = "Creates a merchant (admin token only).",
    request_body = NewMerchant,
    responses(
        (status = 201, description = "The merchant.", body = Merchant),
        (status = 401, description = "No admin token or API key, or a wrong or revoked one.", body = ErrorBody),
        (status = 403, description = "The key's role does not permit this, or it is another merchant's.", body = ErrorBody),
        (status = 400, description = "Malformed JSON.", body = ErrorBody),
        (status = 415, description = "The body is not `application/json`.", body = ErrorBody),
        (status = 422, description = "The body does not fit the schema or its content is invalid.", body = ErrorBody),
    ),
    security(("admin_token" = []), ("api_key" = [])),
)]
#[tracing::instrument(skip_all)]
pub(crate) async fn create_merchant(
    State(state): State<AppState>,
    Json(new): Json<NewMerchant>,
) -> Result<(StatusCode, Json<Merchant>), ApiError> {
    let merchant = state.services.catalog.create_merchant(new).await?;
    Ok((StatusCode::CREATED, Json(merchant)))
}

#[utoipa::path(
    get,
    path = "/api/v1/admin/merchants",
    tag = "merchants",
    summary = "Lists the merchants the caller may see.",
    responses(
        (status = 200, description = "The merchants.", body = Vec<Merchant>),
        (status = 401, description = "No admin token or API key, or a wrong or revoked one.", body = ErrorBody),
        (status = 403, description = "The key's role does not permit this, or it is another merchant's.", body = ErrorBody),
    ),
    security(("admin_token" = []), ("api_key" = [])),
)]
pub(crate) async fn list_merchants(
    State(state): State<AppState>,
) -> Result<Json<Vec<Merchant>>, ApiError> {
    Ok(Json(state.services.catalog.merchants().await?))
}

#[utoipa::path(
    post,
    path = "/api/v1/admin/merchants/{id}/brands",
    tag = "merchants",
    summary = "Creates a brand of the merchant.",
    params(("id" = MerchantId, Path, description = "The merchant.", example = 1)),
    request_body = NewBrand,
    responses(
        (status = 201, description = "The brand.", body = Brand),
        (status = 401, description = "No admin token or API key, or a wrong or revoked one.", body = ErrorBody),
        (status = 403, description = "The key's role does not permit this, or it is another merchant's.", body = ErrorBody),
        (status = 404, description = "No such merchant.", body = ErrorBody),
        (status = 400, description = "A path parameter does not parse. Malformed JSON.", body = ErrorBody),
        (status = 415, description = "The body is not `application/json`.", body = ErrorBody),
        (status = 422, description = "The body does not fit the schema or its content is invalid.", body = ErrorBody),
    ),
    security(("admin_token" = []), ("api_key" = [])),
)]
#[tracing::instrument(skip_all, fields(merchant_id = %merchant))]
pub(crate) async fn create_brand(
    State(state): State<AppState>,
    Path(merchant): Path<MerchantId>,
    Json(new): Json<NewBrand>,
) -> Result<(StatusCode, Json<Brand>), ApiError> {
    Ok((
        StatusCode::CREATED,
        Json(state.services.catalog.create_brand(merchant, new).await?),
    ))
}

#[utoipa::path(
    post,
    path = "/api/v1/admin/merchants/{id}/stores",
    tag = "merchants",
    summary = "Creates a store of the merchant.",
    params(("id" = MerchantId, Path, description = "The merchant.", example = 1)),
    request_body = NewStore,
    responses(
        (status = 201, description = "The store.", body = Store),
        (status = 401, description = "No admin token or API key, or a wrong or revoked one.", body = ErrorBody),
        (status = 403, description = "The key's role does not permit this, or it is another merchant's.", body = ErrorBody),
        (status = 404, description = "No such merchant.", body = ErrorBody),
        (status = 400, description = "A path parameter does not parse. Malformed JSON.", body = ErrorBody),
        (status = 415, description = "The body is not `application/json`.", body = ErrorBody),
        (status = 422, description = "The body does not fit the schema or its content is invalid.", body = ErrorBody),
    ),
    security(("admin_token" = []), ("api_key" = [])),
)]
#[tracing::instrument(skip_all, fields(merchant_id = %merchant))]
pub(crate) async fn create_store(
    State(state): State<AppState>,
    Path(merchant): Path<MerchantId>,
    Json(new): Json<NewStore>,
) -> Result<(StatusCode, Json<Store>), ApiError> {
    Ok((
        StatusCode::CREATED,
        Json(state.services.catalog.create_store(merchant, new).await?),
    ))
}

#[utoipa::path(
    get,
    path = "/api/v1/admin/merchants/{id}/stores",
    tag = "merchants",
    summary = "Lists the merchant's stores.",
    params(("id" = MerchantId, Path, description = "The merchant.", example = 1)),
    responses(
        (status = 200, description = "The stores.", body = Vec<Store>),
        (status = 401, description = "No admin token or API key, or a wrong or revoked one.", body = ErrorBody),
        (status = 403, description = "The key's role does not permit this, or it is another merchant's.", body = ErrorBody),
        (status = 404, description = "No such merchant.", body = ErrorBody),
        (status = 400, description = "A path parameter does not parse.", body = ErrorBody),
    ),
    security(("admin_token" = []), ("api_key" = [])),
)]
pub(crate) async fn list_stores(
    State(state): State<AppState>,
    Path(merchant): Path<MerchantId>,
) -> Result<Json<Vec<Store>>, ApiError> {
    Ok(Json(state.services.catalog.stores(merchant).await?))
}

#[utoipa::path(
    post,
    path = "/api/v1/admin/stores/{id}/enrollment-tokens",
    tag = "registers",
    summary = "Issues a one-time token that enrolls one register in the store.",
    params(("id" = StoreId, Path, description = "The store.", example = 1)),
    request_body = NewEnrollmentToken,
    responses(
        (status = 201, description = "The token.", body = EnrollmentToken),
        (status = 401, description = "No admin token or API key, or a wrong or revoked one.", body = ErrorBody),
        (status = 403, description = "The key's role does not permit this, or it is another merchant's.", body = ErrorBody),
        (status = 404, description = "No such store.", body = ErrorBody),
        (status = 400, description = "A path parameter does not parse. Malformed JSON.", body = ErrorBody),
        (status = 415, description = "The body is not `application/json`.", body = ErrorBody),
        (status = 422, description = "The body does not fit the schema or its content is invalid.", body = ErrorBody),
    ),
    security(("admin_token" = []), ("api_key" = [])),
)]
#[tracing::instrument(skip_all, fields(store_id = %store))]
pub(crate) async fn create_enrollment_token(
    State(state): State<AppState>,
    Path(store): Path<StoreId>,
    Json(new): Json<NewEnrollmentToken>,
) -> Result<(StatusCode, Json<EnrollmentToken>), ApiError> {
    let token = state
        .services
        .catalog
        .issue_enrollment_token(store, new.ttl_secs)
        .await?;
    Ok((StatusCode::CREATED, Json(token)))
}

#[utoipa::path(
    put,
    path = "/api/v1/admin/merchants/{id}/ruleset",
    tag = "rulesets",
    summary = "Publishes a new ruleset (the next version), signed for the registers.",
    params(("id" = MerchantId, Path, description = "The merchant.", example = 1)),
    request_body = Ruleset,
    responses(
        (status = 201, description = "Published.", body = Published),
        (status = 401, description = "No admin token or API key, or a wrong or revoked one.", body = ErrorBody),
        (status = 403, description = "The key's role does not permit this, or it is another merchant's.", body = ErrorBody),
        (status = 404, description = "No such merchant.", body = ErrorBody),
        (status = 400, description = "A path parameter does not parse. Malformed JSON.", body = ErrorBody),
        (status = 415, description = "The body is not `application/json`.", body = ErrorBody),
        (status = 422, description = "The body does not fit the schema or its content is invalid.", body = ErrorBody),
    ),
    security(("admin_token" = []), ("api_key" = [])),
)]
#[tracing::instrument(skip_all, fields(merchant_id = %merchant))]
pub(crate) async fn put_ruleset(
    State(state): State<AppState>,
    Path(merchant): Path<MerchantId>,
    Json(ruleset): Json<Ruleset>,
) -> Result<(StatusCode, Json<Published>), ApiError> {
    publish(&state, merchant, RulesetChange::Replace(ruleset)).await
}

#[utoipa::path(
    post,
    path = "/api/v1/admin/merchants/{id}/promotions",
    tag = "rulesets",
    summary = "Adds or replaces one promotion, publishing the next ruleset version.",
    params(("id" = MerchantId, Path, description = "The merchant.", example = 1)),
    request_body = Promotion,
    responses(
        (status = 201, description = "Published.", body = Published),
        (status = 401, description = "No admin token or API key, or a wrong or revoked one.", body = ErrorBody),
        (status = 403, description = "The key's role does not permit this, or it is another merchant's.", body = ErrorBody),
        (status = 404, description = "No such merchant.", body = ErrorBody),
        (status = 409, description = "The merchant has no ruleset to add to.", body = ErrorBody),
        (status = 400, description = "A path parameter does not parse. Malformed JSON.", body = ErrorBody),
        (status = 415, description = "The body is not `application/json`.", body = ErrorBody),
        (status = 422, description = "The body does not fit the schema or its content is invalid.", body = ErrorBody),
    ),
    security(("admin_token" = []), ("api_key" = [])),
)]
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
    let published = state.services.publisher.publish(merchant, change).await?;
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

#[utoipa::path(
    get,
    path = "/api/v1/admin/merchants/{id}/ruleset",
    tag = "rulesets",
    summary = "The merchant's current ruleset and its version.",
    params(("id" = MerchantId, Path, description = "The merchant.", example = 1)),
    responses(
        (status = 200, description = "The current ruleset.", body = CurrentRuleset),
        (status = 401, description = "No admin token or API key, or a wrong or revoked one.", body = ErrorBody),
        (status = 403, description = "The key's role does not permit this, or it is another merchant's.", body = ErrorBody),
        (status = 404, description = "No such merchant, or no ruleset published yet.", body = ErrorBody),
        (status = 400, description = "A path parameter does not parse.", body = ErrorBody),
    ),
    security(("admin_token" = []), ("api_key" = [])),
)]
pub(crate) async fn get_ruleset(
    State(state): State<AppState>,
    Path(merchant): Path<MerchantId>,
) -> Result<Json<CurrentRuleset>, ApiError> {
    state.services.catalog.merchant(merchant).await?;
    state
        .services
        .publisher
        .current(merchant)
        .await?
        .map(Json)
        .ok_or_else(|| ApiError::not_found(format!("merchant {merchant} has no ruleset yet")))
}

/// The merchant's registers: the shared `Register` fields, whether each is
/// revoked, and its last clock drift estimate.
#[utoipa::path(
    get,
    path = "/api/v1/admin/merchants/{id}/registers",
    tag = "registers",
    summary = "The merchant's registers with revocation, clock drift and last heartbeat.",
    params(("id" = MerchantId, Path, description = "The merchant.", example = 1)),
    responses(
        (status = 200, description = "The registers.", body = Vec<RegisterView>),
        (status = 401, description = "No admin token or API key, or a wrong or revoked one.", body = ErrorBody),
        (status = 403, description = "The key's role does not permit this, or it is another merchant's.", body = ErrorBody),
        (status = 404, description = "No such merchant.", body = ErrorBody),
        (status = 400, description = "A path parameter does not parse.", body = ErrorBody),
    ),
    security(("admin_token" = []), ("api_key" = [])),
)]
pub(crate) async fn list_registers(
    State(state): State<AppState>,
    Path(merchant): Path<MerchantId>,
) -> Result<Json<Vec<RegisterView>>, ApiError> {
    let max_drift_secs = state.settings.clock.max_drift_secs;
    let registers = state.services.catalog.registers(merchant).await?;
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
        heartbeat: status.heartbeat.map(|h| HeartbeatView {
            at: h.at,
            backlog: h.backlog,
            dead_letters: h.dead_letters,
            ruleset_version: h.ruleset_version,
            alarms: h.alarms,
        }),
    }
}

#[utoipa::path(
    post,
    path = "/api/v1/admin/registers/{id}/revoke",
    tag = "registers",
    summary = "Revokes a register: its credentials stop working.",
    params(("id" = RegisterId, Path, description = "The register.", example = 1)),
    responses(
        (status = 204, description = "Revoked."),
        (status = 401, description = "No admin token or API key, or a wrong or revoked one.", body = ErrorBody),
        (status = 403, description = "The key's role does not permit this, or it is another merchant's.", body = ErrorBody),
        (status = 404, description = "No such register.", body = ErrorBody),
        (status = 400, description = "A path parameter does not parse.", body = ErrorBody),
    ),
    security(("admin_token" = []), ("api_key" = [])),
)]
#[tracing::instrument(skip_all, fields(register_id = %register))]
pub(crate) async fn revoke_register(
    State(state): State<AppState>,
    Path(register): Path<RegisterId>,
) -> Result<StatusCode, ApiError> {
    state.services.catalog.revoke_register(register).await?;
    Ok(StatusCode::NO_CONTENT)
}

impl From<CatalogError> for ApiError {
    fn from(e: CatalogError) -> Self {
        match e {
            CatalogError::Invalid(message) => ApiError::validation(message),
            CatalogError::Db(e) => e.into(),
        }
    }
}
