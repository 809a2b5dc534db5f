//! `/hq`: the sign-in form, or, once signed in, the list of merchants (with
//! a form for a new one); signing in and out.

use crate::wire::admin::{Merchant, NewMerchant};
use askama::Template;
use axum::extract::State;
use axum::http::header::{LOCATION, SET_COOKIE};
use axum::http::{HeaderValue, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use secrecy::ExposeSecret as _;
use serde::Deserialize;
use shared::money::Currency;
use subtle::ConstantTimeEq as _;

use crate::auth::hash_secret;
use crate::guard::AuditNote;
use crate::state::AppState;
use crate::web::error::PageError;
use crate::web::extract::{Form, Query};
use crate::web::i18n;
use crate::web::layout::{HqHeader, merchant_nav};
use crate::web::session::{self, CsrfProtected, HqSession, ProtectedForm};
use crate::web::throttle::{ClientAddr, Door};

#[derive(Template)]
#[template(path = "hq/login.html")]
struct LoginPage {
    next: String,
    email: String,
    error: Option<&'static str>,
}

/// A merchant on the home page with the pages the session may open.
struct MerchantRow {
    merchant: Merchant,
    nav: Vec<(String, String)>,
}

#[derive(Template)]
#[template(path = "hq/merchants.html")]
struct MerchantsPage {
    header: HqHeader,
    merchants: Vec<MerchantRow>,
    /// Whether the session may create merchants (the admin token).
    can_create: bool,
    name_error: Option<&'static str>,
}

/// `GET /hq?next=…` parameters.
#[derive(Debug, Default, Deserialize)]
pub struct HomeQuery {
    /// Where to go after signing in.
    #[serde(default)]
    next: Option<String>,
}

/// `GET /hq`: the merchants when signed in, else the sign-in form.
#[tracing::instrument(skip_all)]
pub async fn home(
    State(state): State<AppState>,
    session: Option<HqSession>,
    Query(query): Query<HomeQuery>,
) -> Result<Response, PageError> {
    let Some(session) = session else {
        let next = query.next.as_deref().and_then(return_path).unwrap_or("/hq");
        let page = LoginPage {
            next: next.to_owned(),
            email: String::new(),
            error: None,
        };
        return Ok(Html(page.render()?).into_response());
    };
    merchants_page(&state, session, None, StatusCode::OK).await
}

async fn merchants_page(
    state: &AppState,
    session: HqSession,
    name_error: Option<&'static str>,
    status: StatusCode,
) -> Result<Response, PageError> {
    let all = match &session.member {
        None => state.services.catalog.merchants().await?,
        Some(member) => vec![state.services.catalog.merchant(member.merchant).await?],
    };
    let merchants = all
        .into_iter()
        .map(|merchant| MerchantRow {
            nav: merchant_nav(&session, merchant.id),
            merchant,
        })
        .collect();
    let page = MerchantsPage {
        header: HqHeader::plain(&session),
        merchants,
        can_create: session.member.is_none(),
        name_error,
    };
    Ok((status, Html(page.render()?)).into_response())
}

/// The sign-in form: an e-mail address and password, or the admin token.
#[derive(Debug, Deserialize)]
pub struct SignIn {
    #[serde(default)]
    email: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    token: String,
    /// The code from the person's authenticator app, when they turned the
    /// second factor on.
    #[serde(default)]
    code: String,
    #[serde(default)]
    next: String,
}

/// `POST /hq/login`: a person's address and password, or the admin token,
/// opens a session and the browser goes back to where it was sent from.
/// Attempts are limited per client address and per address typed; wrong
/// credentials show the form again.
#[tracing::instrument(skip_all)]
pub async fn login(
    State(state): State<AppState>,
    client: ClientAddr,
    Form(form): Form<SignIn>,
) -> Result<Response, PageError> {
    state.throttle.attempt(Door::SignIn, client)?;
    let next = return_path(&form.next).unwrap_or("/hq").to_owned();
    let refused = |email: String, error: &'static str| -> Result<Response, PageError> {
        let page = LoginPage {
            next: next.clone(),
            email,
            error: Some(error),
        };
        Ok((StatusCode::UNAUTHORIZED, Html(page.render()?)).into_response())
    };
    if form.token.is_empty() {
        let email = form.email.trim().to_lowercase();
        if email.is_empty() || form.password.is_empty() {
            return refused(email, "login-error-missing");
        }
        state.throttle.attempt_account(&email)?;
        let Some(account) = state
            .services
            .accounts
            .verify(&email, &form.password)
            .await?
        else {
            tracing::warn!("an HQ sign-in with a wrong address or password");
            return refused(email, "login-error-wrong");
        };
        let now = u64::try_from(state.clock.now().timestamp()).unwrap_or(0);
        if !state
            .services
            .accounts
            .second_factor_passes(account.id, &account.email, &form.code, now)
            .await?
        {
            tracing::warn!("an HQ sign-in without the right second-factor code");
            let why = if form.code.trim().is_empty() {
                "login-error-code-needed"
            } else {
                "login-error-code"
            };
            return refused(email, why);
        }
        let cookie = session::open(&state, Some(account.id)).await?;
        let language = state.services.accounts.settings(account.id).await?.language;
        let note = AuditNote {
            actor: Some(account.email.clone()),
            merchant: Some(account.merchant_id),
            subject: Some(format!("account {}", account.id)),
            before: String::new(),
            after: "signed in".to_owned(),
        };
        let mut response = redirect_with_cookie(&next, cookie)?;
        // The person's own language, over the browser's.
        if let Some(lang) = language.as_deref().and_then(i18n::Lang::from_tag) {
            response
                .headers_mut()
                .append(SET_COOKIE, i18n::cookie(lang)?);
        }
        return Ok(note.attach(response));
    }
    let expected = hash_secret(state.settings.admin_token.expose_secret());
    let matches: bool = hash_secret(&form.token).0.ct_eq(&expected.0).into();
    if !matches {
        tracing::warn!("an HQ sign-in with a wrong token");
        return refused(String::new(), "login-error-token");
    }
    let cookie = session::open(&state, None).await?;
    let note = AuditNote {
        actor: Some("admin-token".to_owned()),
        after: "signed in".to_owned(),
        ..AuditNote::default()
    };
    Ok(note.attach(redirect_with_cookie(&next, cookie)?))
}

/// The sign-out form.
#[derive(Debug, Deserialize)]
pub struct SignOut {
    #[serde(default)]
    csrf: String,
}

impl CsrfProtected for SignOut {
    fn csrf_token(&self) -> &str {
        &self.csrf
    }
}

/// `POST /hq/logout`: ends the session.
#[tracing::instrument(skip_all)]
pub async fn logout(
    State(state): State<AppState>,
    ProtectedForm { session, .. }: ProtectedForm<SignOut>,
) -> Result<Response, PageError> {
    let cookie = session::close(&state, &session).await?;
    redirect_with_cookie("/hq", cookie)
}

/// The new-merchant form.
#[derive(Debug, Deserialize)]
pub struct NewMerchantForm {
    #[serde(default)]
    csrf: String,
    name: String,
    currency: String,
}

impl CsrfProtected for NewMerchantForm {
    fn csrf_token(&self) -> &str {
        &self.csrf
    }
}

/// `POST /hq/merchants`: creates a merchant and opens its set-up page.
#[tracing::instrument(skip_all)]
pub async fn create_merchant(
    State(state): State<AppState>,
    ProtectedForm { session, form }: ProtectedForm<NewMerchantForm>,
) -> Result<Response, PageError> {
    let name = form.name.trim();
    let currency = form.currency.trim().parse::<Currency>();
    let (name_error, currency) = match (name.is_empty(), currency) {
        (true, _) => (Some("merchant-error-name"), None),
        (false, Err(_)) => (Some("merchant-error-currency"), None),
        (false, Ok(currency)) => (None, Some(currency)),
    };
    let Some(currency) = currency else {
        return merchants_page(
            &state,
            session,
            name_error,
            StatusCode::UNPROCESSABLE_ENTITY,
        )
        .await;
    };
    let merchant = state
        .services
        .catalog
        .create_merchant(NewMerchant {
            name: name.to_owned(),
            currency,
        })
        .await?;
    tracing::info!(merchant_id = %merchant.id, "created a merchant");
    Ok(see_other(&format!("/hq/merchants/{}/setup", merchant.id)))
}

/// Only local HQ pages are places to return to, never another site.
fn return_path(next: &str) -> Option<&str> {
    let local = (next == "/hq" || next.starts_with("/hq/") || next.starts_with("/hq?"))
        && !next.contains("//")
        && !next.contains('\\')
        && !next.chars().any(char::is_control);
    local.then_some(next)
}

/// `303 See Other` to `location`.
pub fn see_other(location: &str) -> Response {
    let mut response = StatusCode::SEE_OTHER.into_response();
    match HeaderValue::from_str(location) {
        Ok(value) => {
            response.headers_mut().insert(LOCATION, value);
            response
        }
        Err(e) => PageError::internal(&e).into_response(),
    }
}

fn redirect_with_cookie(location: &str, cookie: HeaderValue) -> Result<Response, PageError> {
    let mut response = see_other(location);
    response.headers_mut().insert(SET_COOKIE, cookie);
    Ok(response)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_local_hq_paths_are_returned_to() {
        assert_eq!(return_path("/hq"), Some("/hq"));
        assert_eq!(
            return_path("/hq/merchants/1?from=2026-03-01"),
            Some("/hq/merchants/1?from=2026-03-01")
        );
        assert_eq!(return_path("//evil.example/hq"), None);
        assert_eq!(return_path("/hq//evil.example"), None);
        assert_eq!(return_path("https://evil.example/hq"), None);
        assert_eq!(return_path("/hq/\\evil"), None);
        assert_eq!(return_path("/c/secret"), None);
    }
}
