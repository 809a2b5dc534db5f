//! A person's own pages: the one-time link that sets their password (an
//! invitation or a reset), and their account with the sessions they have
//! open, each of which they can end.

use askama::Template;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};
use chrono::DateTime;
use serde::Deserialize;

use crate::db::LinkPurpose;
use crate::guard::{AuditNote, Principal};
use crate::services::accounts::AccountError;
use crate::services::totp::{CodeError, SecondFactor};
use crate::state::AppState;
use crate::web::error::PageError;
use crate::web::extract::{Form, Path};
use crate::web::i18n;
use crate::web::layout::{HqHeader, role_label};
use crate::web::login::see_other;
use crate::web::security::require_same_origin;
use crate::web::session::{CsrfProtected, HqSession, ProtectedForm};

impl From<AccountError> for PageError {
    fn from(e: AccountError) -> Self {
        match e {
            AccountError::NotFound | AccountError::LinkInvalid => PageError::NotFound,
            AccountError::Invalid { .. } | AccountError::Conflict(_) => {
                PageError::BadRequest("the form's content was refused")
            }
            AccountError::Db(e) => e.into(),
        }
    }
}

/// A time as the pages write it (UTC: a person's sessions are not a
/// store's).
pub(crate) fn utc(unix: i64) -> String {
    DateTime::from_timestamp(unix, 0)
        .map(|t| t.format("%d.%m.%Y %H:%M UTC").to_string())
        .unwrap_or_default()
}

#[derive(Template)]
#[template(path = "hq/welcome.html")]
struct WelcomePage {
    title: &'static str,
    email: String,
    error: Option<&'static str>,
}

fn welcome_title(purpose: LinkPurpose) -> &'static str {
    match purpose {
        LinkPurpose::Invitation => "welcome-invitation",
        LinkPurpose::Reset => "welcome-reset",
    }
}

/// `GET /hq/welcome/{secret}`: the form that sets the password.
#[tracing::instrument(skip_all)]
pub async fn welcome(
    State(state): State<AppState>,
    Path(secret): Path<String>,
) -> Result<Response, PageError> {
    let (account, purpose) = state
        .services
        .accounts
        .link(&secret)
        .await?
        .ok_or(PageError::NotFound)?;
    let page = WelcomePage {
        title: welcome_title(purpose),
        email: account.email,
        error: None,
    };
    Ok(Html(page.render()?).into_response())
}

/// The password form.
#[derive(Debug, Deserialize)]
pub struct PasswordForm {
    #[serde(default)]
    password: String,
    #[serde(default)]
    repeat: String,
}

/// `POST /hq/welcome/{secret}`: sets the password, uses up the link, ends
/// the person's other sessions, and sends them to sign in.
#[tracing::instrument(skip_all)]
pub async fn set_password(
    State(state): State<AppState>,
    Path(secret): Path<String>,
    headers: axum::http::HeaderMap,
    Form(form): Form<PasswordForm>,
) -> Result<Response, PageError> {
    require_same_origin(&headers, &state.settings)?;
    let (account, purpose) = state
        .services
        .accounts
        .link(&secret)
        .await?
        .ok_or(PageError::NotFound)?;
    let again = |error: &'static str| -> Result<Response, PageError> {
        let page = WelcomePage {
            title: welcome_title(purpose),
            email: account.email.clone(),
            error: Some(error),
        };
        Ok((StatusCode::UNPROCESSABLE_ENTITY, Html(page.render()?)).into_response())
    };
    if form.password != form.repeat {
        return again("welcome-error-mismatch");
    }
    let account = match state
        .services
        .accounts
        .set_password(&secret, &form.password)
        .await
    {
        Ok(account) => account,
        Err(AccountError::Invalid { message, .. }) => return again(message),
        Err(other) => return Err(other.into()),
    };
    tracing::info!(account_id = %account.id, "a person set their password");
    let note = AuditNote {
        actor: Some(account.email.clone()),
        merchant: Some(account.merchant_id),
        subject: Some(format!("account {} ({})", account.id, account.email)),
        before: match purpose {
            LinkPurpose::Invitation => "invited".to_owned(),
            LinkPurpose::Reset => "password reset".to_owned(),
        },
        after: "password set".to_owned(),
    };
    Ok(note.attach(see_other("/hq")))
}

/// A session on the account page.
struct SessionRow {
    id: String,
    opened: String,
    ends: String,
}

#[derive(Template)]
#[template(path = "hq/account.html")]
struct AccountPage {
    header: HqHeader,
    email: Option<String>,
    /// A person (not the admin token): their settings show.
    person: bool,
    role: String,
    sessions: Vec<SessionRow>,
    totp_on: bool,
    /// A secret waiting for its first code, and its QR code.
    totp_pending: Option<(String, String)>,
    /// `ru`, `en` or empty.
    language: String,
    /// Every language: code and name in itself.
    languages: Vec<(&'static str, &'static str)>,
    error: Option<&'static str>,
}

/// `GET /hq/account`: who is signed in, their open sessions, their second
/// factor and language.
#[tracing::instrument(skip_all)]
pub async fn page(
    State(state): State<AppState>,
    session: HqSession,
    principal: Principal,
) -> Result<Response, PageError> {
    render(&state, &session, &principal, None, None).await
}

async fn render(
    state: &AppState,
    session: &HqSession,
    principal: &Principal,
    factor: Option<SecondFactor>,
    error: Option<&'static str>,
) -> Result<Response, PageError> {
    let (email, role, sessions, factor, language) = match principal.account() {
        Some(account) => {
            let sessions = state
                .services
                .accounts
                .sessions(account.id)
                .await?
                .into_iter()
                .map(|s| SessionRow {
                    id: s.public_id,
                    opened: utc(s.created_at_unix),
                    ends: utc(s.expires_at_unix),
                })
                .collect();
            let factor = match factor {
                Some(f) => f,
                None => {
                    state
                        .services
                        .accounts
                        .second_factor(account.id, &account.email)
                        .await?
                }
            };
            let language = state
                .services
                .accounts
                .settings(account.id)
                .await?
                .language
                .unwrap_or_default();
            (
                Some(account.email.clone()),
                role_label(account.role),
                sessions,
                Some(factor),
                language,
            )
        }
        None => (
            None,
            i18n::t("account-admin-token"),
            Vec::new(),
            None,
            String::new(),
        ),
    };
    let (totp_on, totp_pending) = match &factor {
        Some(SecondFactor::On) => (true, None),
        Some(SecondFactor::Pending { secret, url }) => {
            let qr = crate::web::qr::qr_svg(url, &i18n::t("account-totp-qr"))
                .map_err(|e| PageError::internal(&e))?;
            (false, Some((secret.clone(), qr)))
        }
        _ => (false, None),
    };
    let page = AccountPage {
        header: HqHeader::plain(session),
        person: email.is_some(),
        email,
        role,
        sessions,
        totp_on,
        totp_pending,
        language,
        languages: i18n::Lang::ALL
            .iter()
            .map(|l| (l.code(), l.native_name()))
            .collect(),
        error,
    };
    let status = if error.is_some() {
        StatusCode::UNPROCESSABLE_ENTITY
    } else {
        StatusCode::OK
    };
    Ok((status, Html(page.render()?)).into_response())
}

/// A code from the authenticator app.
#[derive(Debug, Deserialize)]
pub struct CodeForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    code: String,
}

impl CsrfProtected for CodeForm {
    fn csrf_token(&self) -> &str {
        &self.csrf
    }
}

fn unix_now(state: &AppState) -> u64 {
    u64::try_from(state.clock.now().timestamp()).unwrap_or(0)
}

/// `POST /hq/account/totp`: makes a secret to type or scan into an app;
/// the page shows it with a field for its first code.
#[tracing::instrument(skip_all)]
pub async fn begin_totp(
    State(state): State<AppState>,
    principal: Principal,
    ProtectedForm { session, .. }: ProtectedForm<TokenOnly>,
) -> Result<Response, PageError> {
    let account = principal.account().ok_or(PageError::NotFound)?;
    match state
        .services
        .accounts
        .begin_totp(account.id, &account.email)
        .await
    {
        Ok(factor) => render(&state, &session, &principal, Some(factor), None).await,
        Err(CodeError::Db(e)) => Err(e.into()),
        Err(_) => {
            render(
                &state,
                &session,
                &principal,
                None,
                Some("account-totp-error-state"),
            )
            .await
        }
    }
}

/// The page after a code was given: back to the account with the change
/// in the audit trail (`before` → `after`), or the page again saying the
/// code was not taken.
async fn after_code(
    state: &AppState,
    session: &HqSession,
    principal: &Principal,
    used: Result<(), CodeError>,
    before: &str,
    after: &str,
) -> Result<Response, PageError> {
    let account = principal.account().ok_or(PageError::NotFound)?;
    match used {
        Ok(()) => {
            let note = AuditNote {
                merchant: Some(account.merchant_id),
                subject: Some(format!("account {}", account.id)),
                before: before.to_owned(),
                after: after.to_owned(),
                ..AuditNote::default()
            };
            Ok(note.attach(see_other("/hq/account")))
        }
        Err(CodeError::Db(e)) => Err(e.into()),
        Err(_) => {
            render(
                state,
                session,
                principal,
                None,
                Some("account-totp-error-code"),
            )
            .await
        }
    }
}

/// `POST /hq/account/totp/confirm`: the first code turns the second factor on.
#[tracing::instrument(skip_all)]
pub async fn confirm_totp(
    State(state): State<AppState>,
    principal: Principal,
    ProtectedForm { session, form }: ProtectedForm<CodeForm>,
) -> Result<Response, PageError> {
    let account = principal.account().ok_or(PageError::NotFound)?;
    let used = state
        .services
        .accounts
        .confirm_totp(account.id, &account.email, &form.code, unix_now(&state))
        .await;
    let (before, after) = ("password", "password and TOTP code");
    after_code(&state, &session, &principal, used, before, after).await
}

/// `POST /hq/account/totp/disable`: a current code turns it off.
#[tracing::instrument(skip_all)]
pub async fn disable_totp(
    State(state): State<AppState>,
    principal: Principal,
    ProtectedForm { session, form }: ProtectedForm<CodeForm>,
) -> Result<Response, PageError> {
    let account = principal.account().ok_or(PageError::NotFound)?;
    let used = state
        .services
        .accounts
        .disable_totp(account.id, &account.email, &form.code, unix_now(&state))
        .await;
    let (before, after) = ("password and TOTP code", "password");
    after_code(&state, &session, &principal, used, before, after).await
}

/// The language form.
#[derive(Debug, Deserialize)]
pub struct LanguageForm {
    #[serde(default)]
    csrf: String,
    /// `ru`, `en`, or empty for the browser's.
    #[serde(default)]
    language: String,
}

impl CsrfProtected for LanguageForm {
    fn csrf_token(&self) -> &str {
        &self.csrf
    }
}

/// `POST /hq/account/language`: keeps the person's language, which every
/// sign-in of theirs then sets (over the browser's); the pages switch at once.
#[tracing::instrument(skip_all)]
pub async fn set_language(
    State(state): State<AppState>,
    principal: Principal,
    ProtectedForm { form, .. }: ProtectedForm<LanguageForm>,
) -> Result<Response, PageError> {
    let account = principal.account().ok_or(PageError::NotFound)?;
    let language = match form.language.as_str() {
        "" => None,
        code => Some(
            i18n::Lang::ALL
                .into_iter()
                .find(|l| l.code() == code)
                .ok_or(PageError::BadRequest("language: ru, en or none"))?,
        ),
    };
    state
        .services
        .accounts
        .set_language(account.id, language.map(i18n::Lang::code))
        .await?;
    let mut response = see_other("/hq/account");
    if let Some(lang) = language {
        response
            .headers_mut()
            .append(axum::http::header::SET_COOKIE, i18n::cookie(lang)?);
    }
    let note = AuditNote {
        merchant: Some(account.merchant_id),
        subject: Some(format!("account {}", account.id)),
        after: format!(
            "language {}",
            language.map_or("of the browser", i18n::Lang::code)
        ),
        ..AuditNote::default()
    };
    Ok(note.attach(response))
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

/// `POST /hq/account/sessions/{session}/revoke`: ends one of the
/// person's own sessions (anyone else's is not found).
#[tracing::instrument(skip_all)]
pub async fn revoke_session(
    State(state): State<AppState>,
    Path(public_id): Path<String>,
    principal: Principal,
    ProtectedForm { .. }: ProtectedForm<TokenOnly>,
) -> Result<Response, PageError> {
    let account = principal.account().ok_or(PageError::NotFound)?;
    if !state
        .services
        .accounts
        .end_session(account.id, public_id.clone())
        .await?
    {
        return Err(PageError::NotFound);
    }
    let note = AuditNote {
        merchant: Some(account.merchant_id),
        subject: Some(format!("session {public_id} of {}", account.email)),
        before: "open".to_owned(),
        after: "ended".to_owned(),
        ..AuditNote::default()
    };
    Ok(note.attach(see_other("/hq/account")))
}
