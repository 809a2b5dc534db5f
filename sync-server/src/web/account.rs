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
    role: String,
    sessions: Vec<SessionRow>,
}

/// `GET /hq/account`: who is signed in, and their open sessions.
#[tracing::instrument(skip_all)]
pub async fn page(
    State(state): State<AppState>,
    session: HqSession,
    principal: Principal,
) -> Result<Response, PageError> {
    let (email, role, sessions) = match principal.account() {
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
            (
                Some(account.email.clone()),
                role_label(account.role),
                sessions,
            )
        }
        None => (None, i18n::t("account-admin-token"), Vec::new()),
    };
    let page = AccountPage {
        header: HqHeader::plain(&session),
        email,
        role,
        sessions,
    };
    Ok(Html(page.render()?).into_response())
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
