//! People, API keys and the audit trail of a merchant over the admin API
//! (the CLI's `admin user …` and `admin api-key …`). Who may call them is
//! the guard's decision (`crate::access`).

use shared::wire::ErrorBody;

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use chrono::{DateTime, NaiveDate, Utc};
use serde::Deserialize;
use shared::ids::MerchantId;

use super::extract::{Json, Path, Query};
use crate::access::Role;
use crate::db::{AccountRow, ApiKeyRow, AuditFilter, AuditRow};
use crate::error::ApiError;
use crate::services::accounts::{AccountError, IssuedLink};
use crate::state::AppState;
use crate::web::links::public_base;
use crate::wire::admin::{
    AccountView, ApiKeyView, AuditView, CreatedApiKey, NewApiKey, NewInvitation, NewPasswordReset,
    OneTimeLink,
};

/// The most audit entries one call returns.
const AUDIT_LIMIT: usize = 500;

impl From<AccountError> for ApiError {
    fn from(e: AccountError) -> Self {
        match e {
            AccountError::Invalid { field, message } => {
                // The message is an id of the pages' catalogues; the API
                // writes it in Russian, as it always has.
                ApiError::validation(format!("{field}: {}", crate::web::i18n::t(message)))
            }
            AccountError::Conflict(message) => ApiError::conflict("conflict", message),
            AccountError::NotFound => ApiError::not_found("no such person or key of this merchant"),
            AccountError::LinkInvalid => {
                ApiError::not_found("the link is unknown, used or expired")
            }
            AccountError::Db(e) => e.into(),
        }
    }
}

fn time(unix: i64) -> DateTime<Utc> {
    DateTime::from_timestamp(unix, 0).unwrap_or_default()
}

fn role(text: &str) -> Result<Role, ApiError> {
    text.parse::<Role>()
        .map_err(|e| ApiError::validation(e.to_string()))
}

/// The address of a one-time link's page.
pub(crate) fn link_url(state: &AppState, headers: &HeaderMap, secret: &str) -> String {
    format!(
        "{}/hq/welcome/{secret}",
        public_base(&state.settings, headers)
    )
}

fn link_view(state: &AppState, headers: &HeaderMap, link: &IssuedLink) -> OneTimeLink {
    OneTimeLink {
        account_id: link.account.0,
        link: link_url(state, headers, &link.secret),
        expires_at: time(link.expires_at_unix),
    }
}

pub(crate) fn account_view(a: &AccountRow) -> AccountView {
    AccountView {
        id: a.id.0,
        email: a.email.clone(),
        role: a.role.as_str().to_owned(),
        stores: a.stores.clone(),
        active: a.password_hash.is_some() && a.disabled_at_unix.is_none(),
    }
}

fn key_view(k: &ApiKeyRow) -> ApiKeyView {
    ApiKeyView {
        id: k.id.0,
        name: k.name.clone(),
        role: k.role.as_str().to_owned(),
        stores: k.stores.clone(),
        created_at: time(k.created_at_unix),
        last_used_at: k.last_used_at_unix.map(time),
        revoked_at: k.revoked_at_unix.map(time),
    }
}

fn audit_view(row: &AuditRow) -> AuditView {
    AuditView {
        id: row.id,
        at: time(row.entry.at_unix),
        actor: row.entry.actor.clone(),
        action: row.entry.action.clone(),
        subject: row.entry.subject.clone(),
        before: row.entry.before.clone(),
        after: row.entry.after.clone(),
    }
}

#[utoipa::path(
    post,
    path = "/api/v1/admin/merchants/{id}/invitations",
    tag = "accounts",
    summary = "Invites a person: a one-time link to set a password.",
    params(("id" = MerchantId, Path, description = "The merchant.", example = 1)),
    request_body = NewInvitation,
    responses(
        (status = 201, description = "The link.", body = OneTimeLink),
        (status = 401, description = "No admin token or API key, or a wrong or revoked one.", body = ErrorBody),
        (status = 403, description = "The key's role does not permit this, or it is another merchant's.", body = ErrorBody),
        (status = 404, description = "No such merchant.", body = ErrorBody),
        (status = 409, description = "The e-mail is taken.", body = ErrorBody),
        (status = 400, description = "A path parameter does not parse. Malformed JSON.", body = ErrorBody),
        (status = 415, description = "The body is not `application/json`.", body = ErrorBody),
        (status = 422, description = "The body does not fit the schema or its content is invalid.", body = ErrorBody),
    ),
    security(("admin_token" = []), ("api_key" = [])),
)]
#[tracing::instrument(skip_all, fields(merchant_id = %merchant))]
pub(crate) async fn invite(
    State(state): State<AppState>,
    Path(merchant): Path<MerchantId>,
    headers: HeaderMap,
    Json(new): Json<NewInvitation>,
) -> Result<(StatusCode, Json<OneTimeLink>), ApiError> {
    let role = role(&new.role)?;
    let link = state
        .services
        .accounts
        .invite(merchant, &new.email, role, new.stores)
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(link_view(&state, &headers, &link)),
    ))
}

#[utoipa::path(
    post,
    path = "/api/v1/admin/merchants/{id}/password-resets",
    tag = "accounts",
    summary = "A one-time link for a person of the merchant to set a new password.",
    params(("id" = MerchantId, Path, description = "The merchant.", example = 1)),
    request_body = NewPasswordReset,
    responses(
        (status = 201, description = "The link.", body = OneTimeLink),
        (status = 401, description = "No admin token or API key, or a wrong or revoked one.", body = ErrorBody),
        (status = 403, description = "The key's role does not permit this, or it is another merchant's.", body = ErrorBody),
        (status = 404, description = "No such merchant or person.", body = ErrorBody),
        (status = 400, description = "A path parameter does not parse. Malformed JSON.", body = ErrorBody),
        (status = 415, description = "The body is not `application/json`.", body = ErrorBody),
        (status = 422, description = "The body does not fit the schema or its content is invalid.", body = ErrorBody),
    ),
    security(("admin_token" = []), ("api_key" = [])),
)]
#[tracing::instrument(skip_all, fields(merchant_id = %merchant))]
pub(crate) async fn password_reset(
    State(state): State<AppState>,
    Path(merchant): Path<MerchantId>,
    headers: HeaderMap,
    Json(new): Json<NewPasswordReset>,
) -> Result<(StatusCode, Json<OneTimeLink>), ApiError> {
    let link = state
        .services
        .accounts
        .reset_link_by_email(merchant, &new.email)
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(link_view(&state, &headers, &link)),
    ))
}

#[utoipa::path(
    get,
    path = "/api/v1/admin/merchants/{id}/accounts",
    tag = "accounts",
    summary = "The merchant's people.",
    params(("id" = MerchantId, Path, description = "The merchant.", example = 1)),
    responses(
        (status = 200, description = "People.", body = Vec<AccountView>),
        (status = 401, description = "No admin token or API key, or a wrong or revoked one.", body = ErrorBody),
        (status = 403, description = "The key's role does not permit this, or it is another merchant's.", body = ErrorBody),
        (status = 404, description = "No such merchant.", body = ErrorBody),
        (status = 400, description = "A path parameter does not parse.", body = ErrorBody),
    ),
    security(("admin_token" = []), ("api_key" = [])),
)]
pub(crate) async fn accounts(
    State(state): State<AppState>,
    Path(merchant): Path<MerchantId>,
) -> Result<Json<Vec<AccountView>>, ApiError> {
    let people = state.services.accounts.members(merchant).await?;
    Ok(Json(people.iter().map(account_view).collect()))
}

#[utoipa::path(
    post,
    path = "/api/v1/admin/merchants/{id}/api-keys",
    tag = "accounts",
    summary = "Creates an API key with a role; its token is shown once.",
    params(("id" = MerchantId, Path, description = "The merchant.", example = 1)),
    request_body = NewApiKey,
    responses(
        (status = 201, description = "The key and its token.", body = CreatedApiKey),
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
pub(crate) async fn create_api_key(
    State(state): State<AppState>,
    Path(merchant): Path<MerchantId>,
    Json(new): Json<NewApiKey>,
) -> Result<(StatusCode, Json<CreatedApiKey>), ApiError> {
    let role = role(&new.role)?;
    let issued = state
        .services
        .accounts
        .create_api_key(merchant, &new.name, role, new.stores)
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(CreatedApiKey {
            key: key_view(&issued.key),
            token: issued.secret,
        }),
    ))
}

#[utoipa::path(
    get,
    path = "/api/v1/admin/merchants/{id}/api-keys",
    tag = "accounts",
    summary = "The merchant's API keys (never their tokens).",
    params(("id" = MerchantId, Path, description = "The merchant.", example = 1)),
    responses(
        (status = 200, description = "Keys.", body = Vec<ApiKeyView>),
        (status = 401, description = "No admin token or API key, or a wrong or revoked one.", body = ErrorBody),
        (status = 403, description = "The key's role does not permit this, or it is another merchant's.", body = ErrorBody),
        (status = 404, description = "No such merchant.", body = ErrorBody),
        (status = 400, description = "A path parameter does not parse.", body = ErrorBody),
    ),
    security(("admin_token" = []), ("api_key" = [])),
)]
pub(crate) async fn api_keys(
    State(state): State<AppState>,
    Path(merchant): Path<MerchantId>,
) -> Result<Json<Vec<ApiKeyView>>, ApiError> {
    let keys = state.services.accounts.api_keys(merchant).await?;
    Ok(Json(keys.iter().map(key_view).collect()))
}

/// `GET …/audit` filters.
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct AuditQuery {
    actor: Option<String>,
    action: Option<String>,
    from: Option<NaiveDate>,
    to: Option<NaiveDate>,
    limit: Option<usize>,
}

#[utoipa::path(
    get,
    path = "/api/v1/admin/merchants/{id}/audit",
    tag = "accounts",
    summary = "The merchant's audit trail, newest first.",
    params(("id" = MerchantId, Path, description = "The merchant.", example = 1), AuditQuery),
    responses(
        (status = 200, description = "Entries.", body = Vec<AuditView>),
        (status = 401, description = "No admin token or API key, or a wrong or revoked one.", body = ErrorBody),
        (status = 403, description = "The key's role does not permit this, or it is another merchant's.", body = ErrorBody),
        (status = 404, description = "No such merchant.", body = ErrorBody),
        (status = 400, description = "A query parameter does not parse.", body = ErrorBody),
    ),
    security(("admin_token" = []), ("api_key" = [])),
)]
pub(crate) async fn audit(
    State(state): State<AppState>,
    Path(merchant): Path<MerchantId>,
    Query(query): Query<AuditQuery>,
) -> Result<Json<Vec<AuditView>>, ApiError> {
    let day_start = |d: NaiveDate| d.and_hms_opt(0, 0, 0).map(|t| t.and_utc().timestamp());
    let filter = AuditFilter {
        merchant_id: Some(merchant),
        actor: query.actor.filter(|a| !a.is_empty()),
        action: query.action.filter(|a| !a.is_empty()),
        from_unix: query.from.and_then(day_start),
        until_unix: query.to.and_then(|d| d.succ_opt()).and_then(day_start),
        limit: query.limit.unwrap_or(AUDIT_LIMIT).min(AUDIT_LIMIT),
    };
    let rows = state.services.accounts.audit(filter).await?;
    Ok(Json(rows.iter().map(audit_view).collect()))
}
