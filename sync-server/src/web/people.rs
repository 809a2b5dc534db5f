//! `/hq/merchants/{id}/people`: the owner's page of the merchant's people
//! and API keys. An invitation or a password reset shows its one-time
//! link once (sending it by e-mail is another feature's); a role is
//! changed in place; an API key is shown once, then only its name, role
//! and last use.

use askama::Template;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use serde::Deserialize;
use shared::ids::{MerchantId, StoreId};

use crate::access::Role;
use crate::db::{AccountId, ApiKeyId};
use crate::guard::{AuditNote, Principal};
use crate::services::accounts::{AccountError, IssuedLink};
use crate::state::AppState;
use crate::web::account::utc;
use crate::web::error::PageError;
use crate::web::extract::Path;
use crate::web::i18n;
use crate::web::layout::{HqHeader, role_label};
use crate::web::login::see_other;
use crate::web::session::{CsrfProtected, HqSession, ProtectedForm};

#[derive(Template)]
#[template(path = "hq/people.html")]
struct PeoplePage {
    header: HqHeader,
    merchant_id: MerchantId,
    people: Vec<PersonRow>,
    keys: Vec<KeyRow>,
    roles: Vec<(&'static str, String)>,
    stores: Vec<(StoreId, String)>,
    invite_error: Option<&'static str>,
    key_error: Option<&'static str>,
}

struct PersonRow {
    id: AccountId,
    email: String,
    role: String,
    role_code: &'static str,
    stores: String,
    active: bool,
    disabled: bool,
}

struct KeyRow {
    id: ApiKeyId,
    name: String,
    role: String,
    stores: String,
    created: String,
    last_used: String,
    revoked: Option<String>,
}

/// The page again, with the errors of a refused form.
async fn render(
    state: &AppState,
    session: &HqSession,
    merchant: MerchantId,
    invite_error: Option<&'static str>,
    key_error: Option<&'static str>,
    status: StatusCode,
) -> Result<Response, PageError> {
    let merchant_row = state.services.catalog.merchant(merchant).await?;
    let stores = state.services.catalog.stores(merchant).await?;
    let store_name = |id: &StoreId| {
        stores
            .iter()
            .find(|s| s.id == *id)
            .map_or_else(|| format!("№{id}"), |s| s.name.clone())
    };
    let store_names = |ids: &[StoreId]| ids.iter().map(store_name).collect::<Vec<_>>().join(", ");
    let people = state
        .services
        .accounts
        .members(merchant)
        .await?
        .into_iter()
        .map(|a| PersonRow {
            id: a.id,
            stores: store_names(&a.stores),
            email: a.email,
            role: role_label(a.role),
            role_code: a.role.as_str(),
            active: a.password_hash.is_some(),
            disabled: a.disabled_at_unix.is_some(),
        })
        .collect();
    let keys = state
        .services
        .accounts
        .api_keys(merchant)
        .await?
        .into_iter()
        .map(|k| KeyRow {
            id: k.id,
            name: k.name,
            role: role_label(k.role),
            stores: store_names(&k.stores),
            created: utc(k.created_at_unix),
            last_used: k.last_used_at_unix.map_or_else(|| "—".to_owned(), utc),
            revoked: k.revoked_at_unix.map(utc),
        })
        .collect();
    let page = PeoplePage {
        header: HqHeader::for_merchant(session, &merchant_row),
        merchant_id: merchant,
        people,
        keys,
        roles: Role::ALL
            .iter()
            .map(|r| (r.as_str(), role_label(*r)))
            .collect(),
        stores: stores.iter().map(|s| (s.id, s.name.clone())).collect(),
        invite_error,
        key_error,
    };
    Ok((status, Html(page.render()?)).into_response())
}

/// `GET /hq/merchants/{id}/people`.
#[tracing::instrument(skip_all, fields(merchant_id = %merchant))]
pub async fn page(
    State(state): State<AppState>,
    session: HqSession,
    Path(merchant): Path<MerchantId>,
) -> Result<Response, PageError> {
    render(&state, &session, merchant, None, None, StatusCode::OK).await
}

/// The invitation form: an address, a role and, for a store manager, the
/// ticked stores (`store` repeated).
#[derive(Debug, Default)]
pub struct InviteForm {
    csrf: String,
    email: String,
    role: String,
    stores: Vec<StoreId>,
}

impl<'de> Deserialize<'de> for InviteForm {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let pairs = Vec::<(String, String)>::deserialize(d)?;
        let mut form = InviteForm::default();
        for (key, value) in pairs {
            match key.as_str() {
                "csrf" => form.csrf = value,
                "email" => form.email = value,
                "role" => form.role = value,
                "store" => form.stores.push(store_field(&value)?),
                _ => {}
            }
        }
        Ok(form)
    }
}

impl CsrfProtected for InviteForm {
    fn csrf_token(&self) -> &str {
        &self.csrf
    }
}

#[derive(Template)]
#[template(path = "hq/secret_once.html")]
struct LinkOncePage {
    header: HqHeader,
    title: &'static str,
    explanation: String,
    secret: String,
    expires: Option<String>,
    qr: Option<String>,
    back: String,
    back_label: &'static str,
}

/// A one-time link's page, shown once.
async fn link_once(
    state: &AppState,
    session: &HqSession,
    merchant: MerchantId,
    headers: &HeaderMap,
    title: &'static str,
    explanation: String,
    issued: &IssuedLink,
) -> Result<Response, PageError> {
    let merchant_row = state.services.catalog.merchant(merchant).await?;
    let page = LinkOncePage {
        header: HqHeader::for_merchant(session, &merchant_row),
        title,
        explanation,
        secret: crate::api::link_url(state, headers, &issued.secret),
        expires: Some(utc(issued.expires_at_unix)),
        qr: None,
        back: format!("/hq/merchants/{merchant}/people"),
        back_label: "back-to-people",
    };
    Ok(Html(page.render()?).into_response())
}

/// `POST /hq/merchants/{id}/people`: invites a person; shows the link once.
#[tracing::instrument(skip_all, fields(merchant_id = %merchant))]
pub async fn invite(
    State(state): State<AppState>,
    Path(merchant): Path<MerchantId>,
    headers: HeaderMap,
    ProtectedForm { session, form }: ProtectedForm<InviteForm>,
) -> Result<Response, PageError> {
    let refused = |message| {
        render(
            &state,
            &session,
            merchant,
            Some(message),
            None,
            StatusCode::UNPROCESSABLE_ENTITY,
        )
    };
    let Ok(role) = form.role.parse::<Role>() else {
        return refused("people-error-role").await;
    };
    let issued = match state
        .services
        .accounts
        .invite(merchant, &form.email, role, form.stores.clone())
        .await
    {
        Ok(issued) => issued,
        Err(AccountError::Invalid { message, .. }) => return refused(message).await,
        Err(AccountError::Conflict(_)) => {
            return refused("people-error-taken").await;
        }
        Err(other) => return Err(other.into()),
    };
    let email = form.email.trim().to_lowercase();
    let response = link_once(
        &state,
        &session,
        merchant,
        &headers,
        "people-invitation-title",
        i18n::t1("people-invitation-text", "email", &email),
        &issued,
    )
    .await?;
    let stores = form
        .stores
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(",");
    let note = AuditNote {
        subject: Some(format!("account {} ({email})", issued.account)),
        after: if role == Role::StoreManager {
            format!("invited as {role}, stores {stores}")
        } else {
            format!("invited as {role}")
        },
        ..AuditNote::default()
    };
    Ok(note.attach(response))
}

/// The role form of one person.
#[derive(Debug, Default)]
pub struct RoleForm {
    csrf: String,
    role: String,
    stores: Vec<StoreId>,
}

impl<'de> Deserialize<'de> for RoleForm {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let InviteForm {
            csrf, role, stores, ..
        } = InviteForm::deserialize(d)?;
        Ok(RoleForm { csrf, role, stores })
    }
}

impl CsrfProtected for RoleForm {
    fn csrf_token(&self) -> &str {
        &self.csrf
    }
}

/// `POST /hq/merchants/{id}/people/{account}/role`: a new role.
#[tracing::instrument(skip_all, fields(merchant_id = %merchant, account_id = account))]
pub async fn change_role(
    State(state): State<AppState>,
    Path((merchant, account)): Path<(MerchantId, i64)>,
    principal: Principal,
    ProtectedForm { session, form }: ProtectedForm<RoleForm>,
) -> Result<Response, PageError> {
    let refused = |message| {
        render(
            &state,
            &session,
            merchant,
            Some(message),
            None,
            StatusCode::UNPROCESSABLE_ENTITY,
        )
    };
    let Ok(role) = form.role.parse::<Role>() else {
        return refused("people-error-role").await;
    };
    // An owner who demoted themselves could not undo it.
    if principal
        .account()
        .is_some_and(|me| me.id == AccountId(account))
    {
        return refused("people-error-own-role").await;
    }
    let before = match state
        .services
        .accounts
        .change_role(merchant, AccountId(account), role, form.stores.clone())
        .await
    {
        Ok(before) => before,
        Err(AccountError::Invalid { message, .. }) => return refused(message).await,
        Err(other) => return Err(other.into()),
    };
    let stores = |s: &[StoreId]| {
        s.iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join(",")
    };
    let note = AuditNote {
        subject: Some(format!("account {account} ({})", before.email)),
        before: format!("{} [{}]", before.role, stores(&before.stores)),
        after: format!("{role} [{}]", stores(&form.stores)),
        ..AuditNote::default()
    };
    Ok(note.attach(see_other(&format!("/hq/merchants/{merchant}/people"))))
}

/// A form with only its token.
#[derive(Debug, Deserialize)]
pub struct TokenOnly {
    #[serde(default)]
    csrf: String,
}

impl CsrfProtected for TokenOnly {
    fn csrf_token(&self) -> &str {
        &self.csrf
    }
}

/// `POST /hq/merchants/{id}/people/{account}/reset`: a password reset link,
/// shown once.
#[tracing::instrument(skip_all, fields(merchant_id = %merchant, account_id = account))]
pub async fn reset_link(
    State(state): State<AppState>,
    Path((merchant, account)): Path<(MerchantId, i64)>,
    headers: HeaderMap,
    ProtectedForm { session, .. }: ProtectedForm<TokenOnly>,
) -> Result<Response, PageError> {
    let issued = state
        .services
        .accounts
        .reset_link(merchant, AccountId(account))
        .await?;
    let response = link_once(
        &state,
        &session,
        merchant,
        &headers,
        "people-reset-title",
        i18n::t("people-reset-text"),
        &issued,
    )
    .await?;
    let note = AuditNote {
        subject: Some(format!("account {account}")),
        after: "reset link issued".to_owned(),
        ..AuditNote::default()
    };
    Ok(note.attach(response))
}

/// `POST /hq/merchants/{id}/people/{account}/disable`: takes a person's
/// access away; their sessions end at once.
#[tracing::instrument(skip_all, fields(merchant_id = %merchant, account_id = account))]
pub async fn disable(
    State(state): State<AppState>,
    Path((merchant, account)): Path<(MerchantId, i64)>,
    principal: Principal,
    ProtectedForm { session, .. }: ProtectedForm<TokenOnly>,
) -> Result<Response, PageError> {
    if principal
        .account()
        .is_some_and(|me| me.id == AccountId(account))
    {
        return render(
            &state,
            &session,
            merchant,
            Some("people-error-disable-self"),
            None,
            StatusCode::UNPROCESSABLE_ENTITY,
        )
        .await;
    }
    let before = state
        .services
        .accounts
        .disable(merchant, AccountId(account))
        .await?;
    let note = AuditNote {
        subject: Some(format!("account {account} ({})", before.email)),
        before: if before.disabled_at_unix.is_some() {
            "disabled"
        } else {
            "active"
        }
        .to_owned(),
        after: "disabled".to_owned(),
        ..AuditNote::default()
    };
    Ok(note.attach(see_other(&format!("/hq/merchants/{merchant}/people"))))
}

/// The new-key form: a name, a role and, for a store manager's key, the
/// ticked stores (`store` repeated).
#[derive(Debug, Default)]
pub struct KeyForm {
    csrf: String,
    name: String,
    role: String,
    stores: Vec<StoreId>,
}

impl<'de> Deserialize<'de> for KeyForm {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let mut form = KeyForm::default();
        for (key, value) in Vec::<(String, String)>::deserialize(d)? {
            match key.as_str() {
                "csrf" => form.csrf = value,
                "name" => form.name = value,
                "role" => form.role = value,
                "store" => form.stores.push(store_field(&value)?),
                _ => {}
            }
        }
        Ok(form)
    }
}

/// A ticked store's id, or the form's error.
fn store_field<E: serde::de::Error>(value: &str) -> Result<StoreId, E> {
    value
        .parse::<i64>()
        .ok()
        .and_then(|id| StoreId::new(id).ok())
        .ok_or_else(|| E::custom("a store is not a number"))
}

impl CsrfProtected for KeyForm {
    fn csrf_token(&self) -> &str {
        &self.csrf
    }
}

/// `POST /hq/merchants/{id}/api-keys`: a new key, shown once.
#[tracing::instrument(skip_all, fields(merchant_id = %merchant))]
pub async fn create_api_key(
    State(state): State<AppState>,
    Path(merchant): Path<MerchantId>,
    ProtectedForm { session, form }: ProtectedForm<KeyForm>,
) -> Result<Response, PageError> {
    let refused = |message| {
        render(
            &state,
            &session,
            merchant,
            None,
            Some(message),
            StatusCode::UNPROCESSABLE_ENTITY,
        )
    };
    let Ok(role) = form.role.parse::<Role>() else {
        return refused("people-error-role").await;
    };
    let issued = match state
        .services
        .accounts
        .create_api_key(merchant, &form.name, role, form.stores.clone())
        .await
    {
        Ok(issued) => issued,
        Err(AccountError::Invalid { message, .. }) => return refused(message).await,
        Err(other) => return Err(other.into()),
    };
    let merchant_row = state.services.catalog.merchant(merchant).await?;
    let page = LinkOncePage {
        header: HqHeader::for_merchant(&session, &merchant_row),
        title: "secret-api-key-title",
        explanation: i18n::t2(
            "secret-api-key-text",
            "name",
            &issued.key.name,
            "role",
            role_label(role),
        ),
        secret: issued.secret,
        expires: None,
        qr: None,
        back: format!("/hq/merchants/{merchant}/people"),
        back_label: "back-to-people",
    };
    let note = AuditNote {
        subject: Some(format!("API key {} ({})", issued.key.id, issued.key.name)),
        after: if issued.key.stores.is_empty() {
            format!("created as {role}")
        } else {
            let stores: Vec<String> = issued.key.stores.iter().map(ToString::to_string).collect();
            format!("created as {role}, stores {}", stores.join(","))
        },
        ..AuditNote::default()
    };
    Ok(note.attach(Html(page.render()?).into_response()))
}

/// `POST /hq/merchants/{id}/api-keys/{key}/revoke`.
#[tracing::instrument(skip_all, fields(merchant_id = %merchant, key_id = key))]
pub async fn revoke_api_key(
    State(state): State<AppState>,
    Path((merchant, key)): Path<(MerchantId, i64)>,
    ProtectedForm { .. }: ProtectedForm<TokenOnly>,
) -> Result<Response, PageError> {
    let revoked = state
        .services
        .accounts
        .revoke_api_key(merchant, ApiKeyId(key))
        .await?;
    let note = AuditNote {
        subject: Some(format!("API key {key} ({})", revoked.name)),
        before: "active".to_owned(),
        after: "revoked".to_owned(),
        ..AuditNote::default()
    };
    Ok(note.attach(see_other(&format!("/hq/merchants/{merchant}/people"))))
}
